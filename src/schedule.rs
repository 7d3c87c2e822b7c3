//! When a digest closes a period: daily at a local time in a time zone, or at the times
//! of a cron expression (seconds first: `0 0 8 * * Mon`). Pure: the caller passes now.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub enum Schedule {
    Daily {
        at: NaiveTime,
        tz: Tz,
    },
    Cron {
        expr: Box<cron::Schedule>,
        source: String,
        tz: Tz,
    },
}

impl Schedule {
    pub fn daily(at: &str, tz: &str) -> Result<Schedule, String> {
        let at = NaiveTime::parse_from_str(at, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(at, "%H:%M:%S"))
            .map_err(|_| format!("bad time {at:?}: use HH:MM"))?;
        Ok(Schedule::Daily {
            at,
            tz: parse_tz(tz)?,
        })
    }

    pub fn cron(expr: &str, tz: &str) -> Result<Schedule, String> {
        // Five fields (no seconds) are accepted too, as in crontab.
        let full = if expr.split_whitespace().count() == 5 {
            format!("0 {expr}")
        } else {
            expr.to_string()
        };
        let parsed = cron::Schedule::from_str(&full)
            .map_err(|e| format!("bad cron expression {expr:?}: {e}"))?;
        Ok(Schedule::Cron {
            expr: Box::new(parsed),
            source: expr.to_string(),
            tz: parse_tz(tz)?,
        })
    }

    /// The latest period end at or before `now`.
    pub fn last_boundary(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Daily { at, tz } => {
                let local_now = now.with_timezone(tz);
                let mut day = local_now.date_naive();
                for _ in 0..3 {
                    if let Some(t) = tz.from_local_datetime(&day.and_time(*at)).earliest() {
                        let t = t.with_timezone(&Utc);
                        if t <= now {
                            return Some(t);
                        }
                    }
                    day = day.pred_opt()?;
                }
                None
            }
            Schedule::Cron { expr, tz, .. } => {
                // The iterator walks back from just after now.
                let after = (now + Duration::seconds(1)).with_timezone(tz);
                expr.after(&after)
                    .next_back()
                    .map(|t| t.with_timezone(&Utc))
                    .filter(|t| *t <= now)
            }
        }
    }

    /// The first period end after `now`.
    pub fn next_boundary(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Daily { at, tz } => {
                let mut day = now.with_timezone(tz).date_naive();
                for _ in 0..3 {
                    if let Some(t) = tz.from_local_datetime(&day.and_time(*at)).earliest() {
                        let t = t.with_timezone(&Utc);
                        if t > now {
                            return Some(t);
                        }
                    }
                    day = day.succ_opt()?;
                }
                None
            }
            Schedule::Cron { expr, tz, .. } => expr
                .after(&now.with_timezone(tz))
                .next()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The time zone the schedule runs in, which the digest's times are shown in.
    pub fn tz(&self) -> Tz {
        match self {
            Schedule::Daily { tz, .. } | Schedule::Cron { tz, .. } => *tz,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Schedule::Daily { at, tz } => format!("daily at {} {}", at.format("%H:%M"), tz.name()),
            Schedule::Cron { source, tz, .. } => format!("cron {source} {}", tz.name()),
        }
    }
}

fn parse_tz(tz: &str) -> Result<Tz, String> {
    tz.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {tz:?} (use an IANA name like Europe/Berlin)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_in_a_time_zone() {
        let s = Schedule::daily("08:00", "Europe/Berlin").unwrap();
        // 08:00 in Berlin is 07:00 UTC in winter.
        assert_eq!(
            s.last_boundary(t("2026-11-22T07:30:00Z")),
            Some(t("2026-11-22T07:00:00Z"))
        );
        assert_eq!(
            s.last_boundary(t("2026-11-22T06:59:59Z")),
            Some(t("2026-11-21T07:00:00Z"))
        );
        assert_eq!(
            s.next_boundary(t("2026-11-22T07:00:00Z")),
            Some(t("2026-11-23T07:00:00Z"))
        );
        // and 06:00 UTC in summer.
        assert_eq!(
            s.last_boundary(t("2026-07-01T12:00:00Z")),
            Some(t("2026-07-01T06:00:00Z"))
        );
    }

    #[test]
    fn cron_weekly() {
        let s = Schedule::cron("0 0 8 * * Mon", "UTC").unwrap();
        // 2026-11-23 is a Monday.
        assert_eq!(
            s.last_boundary(t("2026-11-25T00:00:00Z")),
            Some(t("2026-11-23T08:00:00Z"))
        );
        assert_eq!(
            s.next_boundary(t("2026-11-23T08:00:00Z")),
            Some(t("2026-11-30T08:00:00Z"))
        );
        let five = Schedule::cron("30 6 * * *", "UTC").unwrap();
        assert_eq!(
            five.last_boundary(t("2026-11-25T07:00:00Z")),
            Some(t("2026-11-25T06:30:00Z"))
        );
        assert!(Schedule::cron("every day", "UTC").is_err());
        assert!(Schedule::daily("8am", "UTC").is_err());
        assert!(Schedule::daily("08:00", "Mars/Olympus").is_err());
    }
}
