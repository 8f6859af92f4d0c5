//! Hand-written SVG line plots: categorical x axis (the scenario's points),
//! linear y axis from 0, one polyline per strategy, error bars for the spread.

use std::fmt::Write;

/// One line of a plot: name, colour, and per point (median, min, max).
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<Option<(f64, f64, f64)>>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" axis maximum and tick step for data up to `max`.
fn nice(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

/// Render a plot.
pub fn plot(title: &str, xlabel: &str, ylabel: &str, xs: &[String], series: &[Series]) -> String {
    let (w, h) = (720.0, 420.0);
    let (l, r, t, b) = (70.0, 150.0, 40.0, 60.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let ymax_data = series
        .iter()
        .flat_map(|s| s.points.iter().flatten().map(|p| p.2.max(p.0)))
        .fold(0.0f64, f64::max);
    let (ymax, step) = nice(ymax_data);
    let n = xs.len().max(1);
    let xpos = |i: usize| {
        if n == 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let ypos = |v: f64| t + ph - ph * (v / ymax).clamp(0.0, 1.05);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        l + pw / 2.0,
        esc(title)
    );
    // Grid and y ticks.
    let mut v = 0.0;
    while v <= ymax + step * 0.01 {
        let y = ypos(v);
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            l + pw,
            l - 6.0,
            y + 4.0,
            fmt_tick(v)
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{l}" y1="{t}" x2="{l}" y2="{}" stroke="#000"/><line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="#000"/>"##,
        t + ph,
        t + ph,
        l + pw,
        t + ph
    );
    for (i, x) in xs.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            xpos(i),
            t + ph + 18.0,
            esc(x)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        l + pw / 2.0,
        h - 12.0,
        esc(xlabel)
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        t + ph / 2.0,
        t + ph / 2.0,
        esc(ylabel)
    );
    for (si, se) in series.iter().enumerate() {
        let mut path = String::new();
        for (i, p) in se.points.iter().enumerate() {
            let Some((med, lo, hi)) = p else { continue };
            let (x, y) = (xpos(i), ypos(*med));
            let _ = write!(
                path,
                "{}{x:.1},{y:.1} ",
                if path.is_empty() { "M" } else { "L" }
            );
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{}" stroke-width="1"/><circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}"><title>{}: {}</title></circle>"#,
                ypos(*lo),
                ypos(*hi),
                se.color,
                se.color,
                esc(&se.name),
                fmt_tick(*med)
            );
        }
        if !path.is_empty() {
            let _ = writeln!(
                s,
                r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                path.trim_end(),
                se.color
            );
        }
        let ly = t + 10.0 + 20.0 * si as f64;
        let lx = l + pw + 15.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 20.0,
            se.color,
            lx + 26.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis() {
        assert_eq!(nice(4.3), (5.0, 1.0));
        assert_eq!(nice(0.0), (1.0, 0.2));
        let (m, s) = nice(123.0);
        assert!(m >= 123.0 && s > 0.0);
    }

    #[test]
    fn plot_has_one_path_per_series() {
        let xs = vec!["a".to_string(), "b<".to_string()];
        let series = vec![
            Series {
                name: "sel".into(),
                color: "#1f77b4",
                points: vec![Some((1.0, 0.9, 1.1)), Some((2.0, 1.8, 2.2))],
            },
            Series {
                name: "off".into(),
                color: "#d62728",
                points: vec![Some((0.5, 0.5, 0.5)), None],
            },
        ];
        let svg = plot("t", "x", "Mpps", &xs, &series);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<path").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("b&lt;"));
    }
}
