//! Cold-start user segments.

/// Age bands used for segments; chosen so each band holds a meaningful share of shoppers.
pub fn age_band(age: Option<i32>) -> Option<&'static str> {
    match age? {
        a if a < 25 => Some("under-25"),
        a if a < 35 => Some("25-34"),
        a if a < 50 => Some("35-49"),
        _ => Some("50-plus"),
    }
}

/// Segment keys of a user, most specific first. A user without a primary usage has none and is
/// served global popularity.
pub fn segment_keys(age: Option<i32>, gender: Option<&str>, usage: Option<&str>) -> Vec<String> {
    let Some(usage) = usage.map(str::trim).filter(|u| !u.is_empty()) else {
        return Vec::new();
    };
    let usage = usage.to_lowercase();
    let mut keys = Vec::with_capacity(2);
    if let (Some(g), Some(band)) = (gender, age_band(age)) {
        keys.push(format!("usage={usage}/gender={g}/age={band}"));
    }
    keys.push(format!("usage={usage}"));
    keys
}

/// How a segment is named in a reason: "popular with trail runners".
pub fn usage_audience(usage: &str) -> String {
    match usage.trim().to_lowercase().as_str() {
        "running" => "runners".into(),
        "trail" | "trail-running" | "trail running" => "trail runners".into(),
        "hiking" => "hikers".into(),
        "basketball" => "basketball players".into(),
        "casual" => "casual wearers".into(),
        "formal" => "formal dressers".into(),
        other => format!("{other} shoppers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_most_specific_first() {
        assert_eq!(
            segment_keys(Some(30), Some("female"), Some("Running")),
            vec![
                "usage=running/gender=female/age=25-34".to_string(),
                "usage=running".to_string()
            ]
        );
        assert_eq!(
            segment_keys(None, Some("male"), Some("hiking")),
            vec!["usage=hiking".to_string()]
        );
        assert!(segment_keys(Some(30), Some("male"), None).is_empty());
        assert_eq!(age_band(Some(24)), Some("under-25"));
        assert_eq!(age_band(Some(50)), Some("50-plus"));
        assert_eq!(usage_audience("hiking"), "hikers");
    }
}
