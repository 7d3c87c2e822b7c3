//! Registrar timestamps to RFC 3339 UTC. Offsets are honoured; AutoDNS and Gandi send
//! zone-less local times, which are the registrar's own local time (Berlin, Paris).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
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
    if raw.len() < 10 || raw.len() > 40 {
        return None;
    }
    let utc = parse_with_offset(raw).or_else(|| parse_local(raw, zone))?;
    Some(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn parse_with_offset(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    // `2018-09-26T15:11:21.000+0200`, `2018-09-26 15:11:21 +0200`
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S %z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(raw, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

fn parse_local(raw: &str, zone: LocalZone) -> Option<DateTime<Utc>> {
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(raw, fmt).ok())?;
    // In the autumn hour that happens twice, take the earlier reading.
    let local = zone.tz().from_local_datetime(&naive).earliest()?;
    Some(local.with_timezone(&Utc))
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
        assert_eq!(n("yesterday"), None);
        assert_eq!(n(""), None);
    }
}
