//! Hand-written SVG line charts: titled axes with units, a legend, one colour per series.
//! Hand-written rather than a plotting crate because the charts are small and fixed, and the
//! SVG must be inline in pages that work without JavaScript.

use std::fmt::Write;

pub struct Series {
    pub name: String,
    /// (x, y), x increasing.
    pub points: Vec<(f64, f64)>,
}

pub struct LineChart<'a> {
    /// The id attribute of the <svg> (tests find the chart by it).
    pub id: &'a str,
    pub title: &'a str,
    pub x_title: &'a str,
    pub y_title: &'a str,
    pub series: Vec<Series>,
    /// Labels of x ticks: (x, text).
    pub x_ticks: Vec<(f64, String)>,
    /// Formats a y tick value (e.g. as a percentage).
    pub y_format: fn(f64) -> String,
}

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];
const W: f64 = 800.0;
const H: f64 = 380.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 70.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" step (1, 2, 2.5 or 5 times a power of ten) giving about `n` ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

pub fn percent(v: f64) -> String {
    let p = v * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

pub fn plain3(v: f64) -> String {
    format!("{v:.3}")
}

impl LineChart<'_> {
    pub fn render(&self) -> String {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg id="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-labelledby="{}-title" font-family="sans-serif" font-size="12">"#,
            esc(self.id),
            esc(self.id)
        );
        let _ = write!(
            svg,
            r#"<title id="{}-title">{}</title>"#,
            esc(self.id),
            esc(self.title)
        );
        let _ = write!(svg, r##"<rect width="{W}" height="{H}" fill="#fff"/>"##);
        let _ = write!(
            svg,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
            W / 2.0,
            esc(self.title)
        );
        if pts.is_empty() {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#666">no data yet</text></svg>"##,
                W / 2.0,
                H / 2.0
            );
            return svg;
        }
        let (mut x0, mut x1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        if x1 - x0 < 1e-12 {
            x0 -= 1.0;
            x1 += 1.0;
        }
        let ymax = pts.iter().fold(0f64, |a, p| a.max(p.1));
        let ymin = pts.iter().fold(0f64, |a, p| a.min(p.1));
        let step = nice_step((ymax - ymin).max(1e-9), 5.0);
        let y0 = (ymin / step).floor() * step;
        let y1 = ((ymax / step).ceil() * step).max(y0 + step);
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| TOP + ph - (y - y0) / (y1 - y0) * ph;
        // Grid and y ticks.
        let mut y = y0;
        while y <= y1 + step * 1e-6 {
            let py = sy(y);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e5e5e5"/>"##,
                LEFT + pw
            );
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                py + 4.0,
                esc(&(self.y_format)(y))
            );
            y += step;
        }
        // x ticks: at most about 10 labels, evenly picked.
        let every = self.x_ticks.len().div_ceil(10).max(1);
        for (i, (x, label)) in self.x_ticks.iter().enumerate() {
            if i % every != 0 && i + 1 != self.x_ticks.len() {
                continue;
            }
            let px = sx(*x);
            let _ = write!(
                svg,
                r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#333"/>"##,
                TOP + ph,
                TOP + ph + 5.0
            );
            let _ = write!(
                svg,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                TOP + ph + 18.0,
                esc(label)
            );
        }
        // Axes and their titles.
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/>"##,
            TOP + ph
        );
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
            TOP + ph,
            LEFT + pw,
            TOP + ph
        );
        let _ = write!(
            svg,
            r#"<text class="x-title" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{}</text>"#,
            LEFT + pw / 2.0,
            H - 20.0,
            esc(self.x_title)
        );
        let _ = write!(
            svg,
            r#"<text class="y-title" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
            18.0,
            TOP + ph / 2.0,
            18.0,
            TOP + ph / 2.0,
            esc(self.y_title)
        );
        // Series and legend.
        for (i, s) in self.series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let path: Vec<String> = s
                .points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            let _ = write!(
                svg,
                r#"<g class="series" data-name="{}"><polyline fill="none" stroke="{c}" stroke-width="2.5" points="{}"/>"#,
                esc(&s.name),
                path.join(" ")
            );
            for &(x, y) in s.points.iter().filter(|p| p.1.is_finite()) {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"><title>{}: {}</title></circle>"#,
                    sx(x),
                    sy(y),
                    esc(&s.name),
                    esc(&(self.y_format)(y))
                );
            }
            svg.push_str("</g>");
            let ly = TOP + 10.0 + i as f64 * 22.0;
            let lx = LEFT + pw + 18.0;
            let _ = write!(
                svg,
                r#"<g class="legend"><rect x="{lx:.1}" y="{:.1}" width="14" height="14" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                ly - 11.0,
                lx + 20.0,
                ly,
                esc(&s.name)
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_titles_legend_and_lines() {
        let c = LineChart {
            id: "t",
            title: "Cumulative conversion",
            x_title: "Day (UTC)",
            y_title: "Users who bought (%)",
            series: vec![
                Series {
                    name: "control".into(),
                    points: vec![(0.0, 0.1), (1.0, 0.12)],
                },
                Series {
                    name: "treatment <b>".into(),
                    points: vec![(0.0, 0.2), (1.0, 0.3)],
                },
            ],
            x_ticks: vec![(0.0, "2026-01-01".into()), (1.0, "2026-01-02".into())],
            y_format: percent,
        };
        let s = c.render();
        assert!(s.starts_with("<svg id=\"t\""));
        assert!(s.contains("Day (UTC)") && s.contains("Users who bought (%)"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert_eq!(s.matches("class=\"legend\"").count(), 2);
        assert!(s.contains("treatment &lt;b&gt;"));
        assert!(s.contains("30%"));
        assert!(s.ends_with("</svg>"));
    }

    #[test]
    fn empty_chart_says_so() {
        let c = LineChart {
            id: "e",
            title: "x",
            x_title: "a",
            y_title: "b",
            series: vec![],
            x_ticks: vec![],
            y_format: plain3,
        };
        assert!(c.render().contains("no data yet"));
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(1.0, 5.0), 0.2);
        assert_eq!(nice_step(0.33, 5.0), 0.1);
        assert_eq!(nice_step(12.0, 5.0), 2.5);
    }
}
