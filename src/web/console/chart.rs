//! The per-day chart of the attention and events pages: an SVG drawn on the server (no
//! script), events per day and those needing attention, at most a minute old.

use std::fmt::Write as _;

use super::Web;
use super::html::esc;
use crate::store::views::domains as views;

/// The last `days` days as a bar chart (at most a minute old): events per day, and those needing attention
/// in the attention colour; each bar says its figures (`<title>`), the axis its dates.
/// The chart as last drawn, for a minute: pages show it without counting 30 days of
/// events each time.
static CHART: std::sync::Mutex<Option<(std::time::Instant, i64, String)>> =
    std::sync::Mutex::new(None);
const CHART_FOR: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) fn chart(web: &Web, days: i64) -> String {
    {
        let cached = CHART.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, d, svg)) = cached.as_ref()
            && *d == days
            && at.elapsed() < CHART_FOR
        {
            return svg.clone();
        }
    }
    let svg = draw_chart(web, days);
    if !svg.is_empty() {
        *CHART.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), days, svg.clone()));
    }
    svg
}

fn draw_chart(web: &Web, days: i64) -> String {
    let today = crate::clock::now().date_naive();
    let first = today - chrono::Duration::days(days - 1);
    let since = format!("{first}T00:00:00");
    let counts = match web.reader().and_then(|c| views::per_day(&c, &since)) {
        Ok(c) => c,
        Err(_) => return String::new(),
    };
    let mut series: Vec<(String, i64, i64)> = (0..days)
        .map(|i| ((first + chrono::Duration::days(i)).to_string(), 0, 0))
        .collect();
    for (day, n, a) in counts {
        if let Some(slot) = series.iter_mut().find(|(d, _, _)| *d == day) {
            slot.1 = n;
            slot.2 = a;
        }
    }
    let most = series.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let (w, h, bar) = (days * 10, 60i64, 8i64);
    let total: i64 = series.iter().map(|s| s.1).sum();
    let attention: i64 = series.iter().map(|s| s.2).sum();
    let mut svg = format!(
        "<figure class=\"chart\"><svg role=\"img\" viewBox=\"0 0 {w} {}\" preserveAspectRatio=\"none\" \
         aria-labelledby=\"chart-title\"><title id=\"chart-title\">Events per day, last {days} days: {total} events, {attention} needing attention</title>",
        h + 12
    );
    for (i, (day, n, a)) in series.iter().enumerate() {
        let x = i as i64 * 10 + 1;
        let bh = (n * h) / most;
        let ah = (a * h) / most;
        let _ = write!(
            svg,
            "<g><title>{day}: {n} event(s), {a} needing attention</title>\
             <rect class=\"all\" x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{bh}\"/>\
             <rect class=\"attention\" x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{ah}\"/></g>",
            h - bh,
            h - ah
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" class=\"axis\"/></svg>\
         <figcaption><span>{}</span><span><span class=\"key all\"></span>events \
         <span class=\"key attention\"></span>needing attention (busiest day {most})</span><span>{}</span></figcaption></figure>",
        esc(&series[0].0),
        esc(&series[series.len() - 1].0)
    );
    svg
}
