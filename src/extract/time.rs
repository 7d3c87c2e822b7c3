//! Registrar timestamps to RFC 3339 UTC. Offsets are honoured; AutoDNS and Gandi send
//! zone-less local times, which are the registrar's own local time (Berlin, Paris).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Where a zone-less timestamp was written.
#[derive(Debug, Clone, Copy)]
pub enum LocalZone {
    Berlin,
    Paris,
    Utc,
}

impl LocalZone {
    fn tz(self) -> Tz {
        match self {
            LocalZone::Berlin => chrono_tz::Europe::Berlin,
            LocalZone::Paris => chrono_tz::Europe::Paris,
            LocalZone::Utc => chrono_tz::UTC,
        }
    }
}

/// Parses the timestamp shapes the registrars use and renders `YYYY-MM-DDTHH:MM:SSZ`.
/// Returns None for anything that is not a timestamp.
pub fn normalize(raw: &str, zone: LocalZone) -> Option<String> {
    let raw = raw.trim();
    if raw.len() < 16 || raw.len() > 40 {
        return None;
    }
    let (naive, offset) = parse(raw)?;
    let utc = match offset {
        Some(seconds) => naive - chrono::Duration::seconds(seconds as i64),
        // In the autumn hour that happens twice, take the earlier reading.
        None => zone
            .tz()
            .from_local_datetime(&naive)
            .earliest()?
            .with_timezone(&Utc)
            .naive_utc(),
    };
    Some(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `YYYY-MM-DD[T ]HH:MM[:SS[.fff]][ ][Z|±HH[:]MM]`: the local time and the offset in
/// seconds east of UTC when one is given.
fn parse(s: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let mut i = 16;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = num(17..19)?;
        i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second.min(59))?;
    let naive = NaiveDateTime::new(date, time);
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let offset = match b.get(i) {
        None => None,
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(0),
        Some(&sign @ (b'+' | b'-')) => {
            let hh = num(i + 1..i + 3)?;
            let rest = &b[i + 3..];
            let mm = match rest {
                [] => 0,
                [b':', ..] if rest.len() == 3 => num(i + 4..i + 6)?,
                _ if rest.len() == 2 => num(i + 3..i + 5)?,
                _ => return None,
            };
            let secs = (hh * 3600 + mm * 60) as i32;
            Some(if sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    Some((naive, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_from_the_documentation() {
        let n = |s| normalize(s, LocalZone::Berlin);
        assert_eq!(
            n("2014-09-09T21:16:22Z").as_deref(),
            Some("2014-09-09T21:16:22Z")
        );
        assert_eq!(
            n("2018-09-26T15:11:21.000+0200").as_deref(),
            Some("2018-09-26T13:11:21Z")
        );
        assert_eq!(
            n("2018-10-15 14:03:02").as_deref(),
            Some("2018-10-15T12:03:02Z")
        );
        assert_eq!(
            n("2021-01-15 14:03:02").as_deref(),
            Some("2021-01-15T13:03:02Z")
        );
        assert_eq!(
            normalize("2015-12-17 08:39:06", LocalZone::Paris).as_deref(),
            Some("2015-12-17T07:39:06Z")
        );
        assert_eq!(
            n("2017-07-14T13:46:33.000Z").as_deref(),
            Some("2017-07-14T13:46:33Z")
        );
        assert_eq!(
            n("2026-11-22 08:00:00 +0100").as_deref(),
            Some("2026-11-22T07:00:00Z")
        );
        assert_eq!(
            n("2026-11-22T08:00-05:00").as_deref(),
            Some("2026-11-22T13:00:00Z")
        );
        assert_eq!(n("2026-13-01 00:00:00"), None);
        assert_eq!(
            n("2026-11-22T08:00:00+01"),
            Some("2026-11-22T07:00:00Z".into())
        );
        assert_eq!(n("yesterday"), None);
        assert_eq!(n(""), None);
    }
}
