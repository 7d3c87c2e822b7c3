//! The one clock. Everything that needs the time (retries, digests, timestamps in the
//! store) asks here, so tests can set it: `MAILROOM_NOW=2026-01-05T07:59:00Z` fixes the
//! time, `MAILROOM_NOW=+3600` runs the clock an hour ahead.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};

enum Setting {
    Real,
    Fixed(DateTime<Utc>),
    Offset(Duration),
}

fn setting() -> &'static Setting {
    static SETTING: OnceLock<Setting> = OnceLock::new();
    SETTING.get_or_init(|| match std::env::var("MAILROOM_NOW") {
        Ok(v) if v.starts_with('+') || v.starts_with('-') => v
            .parse::<i64>()
            .map(|s| Setting::Offset(Duration::seconds(s)))
            .unwrap_or(Setting::Real),
        Ok(v) => DateTime::parse_from_rfc3339(&v)
            .map(|t| Setting::Fixed(t.with_timezone(&Utc)))
            .unwrap_or(Setting::Real),
        Err(_) => Setting::Real,
    })
}

/// Now, as the program sees it.
#[allow(clippy::disallowed_methods)] // the one place the real clock is read
pub fn now() -> DateTime<Utc> {
    match setting() {
        Setting::Real => Utc::now(),
        Setting::Fixed(t) => *t,
        Setting::Offset(d) => Utc::now() + *d,
    }
}

/// Now as stored in the database: RFC 3339 UTC with milliseconds, so it sorts as text.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_stamp() -> String {
    stamp(now())
}
