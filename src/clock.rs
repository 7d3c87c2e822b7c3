//! The one clock. Everything that needs the time (retries, digests, timestamps in the
//! store) asks here, so tests can set it: `MAILROOM_NOW=2026-01-05T07:59:00Z` fixes the
//! time, `MAILROOM_NOW=+3600` runs the clock an hour ahead, and
//! `MAILROOM_CLOCK_SPEED=500` makes it run 500 times as fast from
//! `MAILROOM_CLOCK_ANCHOR` (an RFC 3339 time, default: when the process started), so a
//! soak lives through a week in twenty minutes and a restarted process goes on in the
//! same simulated week. (Waits and timeouts stay in real time.)

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};

enum Setting {
    Real,
    Fixed(DateTime<Utc>),
    Offset(Duration),
}

/// A clock running `speed` times as fast from `anchor` (real time).
struct Speed {
    anchor: DateTime<Utc>,
    speed: f64,
}

#[allow(clippy::disallowed_methods)] // the real clock, scaled
fn speed() -> Option<&'static Speed> {
    static SPEED: OnceLock<Option<Speed>> = OnceLock::new();
    SPEED
        .get_or_init(|| {
            let speed: f64 = std::env::var("MAILROOM_CLOCK_SPEED").ok()?.parse().ok()?;
            if !(speed.is_finite() && speed > 1.0) {
                return None;
            }
            let anchor = std::env::var("MAILROOM_CLOCK_ANCHOR")
                .ok()
                .and_then(|a| DateTime::parse_from_rfc3339(&a).ok())
                .map_or_else(Utc::now, |a| a.with_timezone(&Utc));
            Some(Speed { anchor, speed })
        })
        .as_ref()
}

/// Real time `real` as the clock shows it: scaled when a speed is set.
fn scaled(real: DateTime<Utc>) -> DateTime<Utc> {
    match speed() {
        Some(s) => {
            let ms = (real - s.anchor).num_milliseconds() as f64 * s.speed;
            s.anchor + Duration::milliseconds(ms as i64)
        }
        None => real,
    }
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
        Setting::Real => scaled(Utc::now()),
        Setting::Fixed(t) => *t,
        Setting::Offset(d) => scaled(Utc::now()) + *d,
    }
}

/// Now as stored in the database: RFC 3339 UTC with milliseconds, so it sorts as text.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_stamp() -> String {
    stamp(now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sped_up_clock_runs_from_its_anchor() {
        let anchor = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = Speed {
            anchor,
            speed: 500.0,
        };
        let real = anchor + Duration::seconds(60);
        let ms = (real - s.anchor).num_milliseconds() as f64 * s.speed;
        assert_eq!(
            s.anchor + Duration::milliseconds(ms as i64),
            anchor + Duration::seconds(30_000)
        );
    }
}
