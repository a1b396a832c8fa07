//! UTC calendar arithmetic on Unix seconds (no chrono needed).

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub const fn ts(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d) * 86_400
}

pub const DAY: i64 = 86_400;
/// First second of the interaction window: 2024-11-01 00:00:00 UTC.
pub const START: i64 = ts(2024, 11, 1);
/// Last second of the interaction window: 2026-10-31 23:59:59 UTC.
pub const END: i64 = ts(2026, 11, 1) - 1;

/// Writes `YYYY-MM-DD HH:MM:SS+00` (22 bytes) into `out`.
pub fn format_ts(secs: i64, out: &mut [u8; 22]) {
    let days = secs.div_euclid(DAY);
    let sod = secs.rem_euclid(DAY) as u32;
    write_day(days, (&mut out[..11]).try_into().unwrap());
    write_time(sod, (&mut out[11..]).try_into().unwrap());
}

/// `YYYY-MM-DD ` (11 bytes).
pub fn write_day(days: i64, out: &mut [u8; 11]) {
    let (y, m, d) = civil_from_days(days);
    let y = y as u32;
    out[0] = b'0' + (y / 1000 % 10) as u8;
    out[1] = b'0' + (y / 100 % 10) as u8;
    out[2] = b'0' + (y / 10 % 10) as u8;
    out[3] = b'0' + (y % 10) as u8;
    out[4] = b'-';
    out[5] = b'0' + (m / 10) as u8;
    out[6] = b'0' + (m % 10) as u8;
    out[7] = b'-';
    out[8] = b'0' + (d / 10) as u8;
    out[9] = b'0' + (d % 10) as u8;
    out[10] = b' ';
}

/// `HH:MM:SS+00` (11 bytes) for seconds of the day.
#[inline]
pub fn write_time(sod: u32, out: &mut [u8; 11]) {
    let h = sod / 3600;
    let mi = sod / 60 % 60;
    let s = sod % 60;
    out[0] = b'0' + (h / 10) as u8;
    out[1] = b'0' + (h % 10) as u8;
    out[2] = b':';
    out[3] = b'0' + (mi / 10) as u8;
    out[4] = b'0' + (mi % 10) as u8;
    out[5] = b':';
    out[6] = b'0' + (s / 10) as u8;
    out[7] = b'0' + (s % 10) as u8;
    out[8] = b'+';
    out[9] = b'0';
    out[10] = b'0';
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_format() {
        for z in [-1000i64, 0, 1, 19_000, 20_393, 20_758, 30_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m as i64, d as i64), z);
        }
        let mut b = [0u8; 22];
        format_ts(ts(2025, 3, 14) + 9 * 3600 + 26 * 60 + 53, &mut b);
        assert_eq!(&b, b"2025-03-14 09:26:53+00");
        format_ts(START, &mut b);
        assert_eq!(&b, b"2024-11-01 00:00:00+00");
        format_ts(END, &mut b);
        assert_eq!(&b, b"2026-10-31 23:59:59+00");
        format_ts(ts(2024, 2, 29) + 86_399, &mut b);
        assert_eq!(&b, b"2024-02-29 23:59:59+00");
        assert_eq!(START, 1_730_419_200);
    }
}
