//! What people type to choose events, read the same way by `mailroom events` and the
//! web console: a point in time (an age, a date, a local time, RFC 3339) and a domain
//! name or suffix in any spelling.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::clock;
use crate::config::parse_duration;

/// A point in time as stored (RFC 3339 UTC). Dates and times without a zone are local
/// time, as a person at this terminal means them; ages count back from the one clock.
pub fn parse_when(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(clock::stamp(t.with_timezone(&Utc)));
    }
    let naive = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    if let Some(naive) = naive {
        // A time skipped by a daylight-saving change means the moment after the gap.
        let t = Local
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                Local
                    .from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })
            .ok_or_else(|| format!("{s} does not exist in the local time zone"))?;
        return Ok(clock::stamp(t.with_timezone(&Utc)));
    }
    let not_a_time = || {
        format!(
            "{s} is not a date (2026-11-20), a local time (2026-11-20 14:30), \
             RFC 3339, or an age like 36h, 7d, 1w"
        )
    };
    let age = parse_age(s).ok_or_else(not_a_time)?;
    // An age reaching before the calendar's start (1000000000w) is an error, not a panic.
    let too_far = || format!("{s} reaches further back than any date: give a shorter age");
    let at = age
        .ok_or_else(too_far)
        .and_then(|age| clock::now().checked_sub_signed(age).ok_or_else(too_far))?;
    Ok(clock::stamp(at))
}

/// `90m`, `36h`, `7d`, `2w`: how far back. `Some(None)` for an age written right but too
/// long to count (`99999999999999999999d`).
fn parse_age(s: &str) -> Option<Option<chrono::Duration>> {
    if let Some(weeks) = s.strip_suffix('w') {
        let weeks = weeks.trim();
        if weeks.is_empty() || !weeks.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(
            weeks
                .parse::<i64>()
                .ok()
                .and_then(chrono::Duration::try_weeks),
        );
    }
    match parse_duration(s) {
        Ok(age) => Some(chrono::Duration::from_std(age).ok()),
        Err(e) if e.ends_with("is too long") => Some(None),
        Err(_) => None,
    }
}

/// The spellings under which a domain filter finds events: the name as given, lower
/// case, in Unicode and in punycode (registrars send either). A leading dot makes it a
/// suffix.
pub fn domain_forms(input: &str) -> (Vec<String>, bool) {
    let input = input.trim().to_lowercase();
    let (dot, name) = match input.strip_prefix('.') {
        Some(rest) => (".", rest),
        None => ("", input.as_str()),
    };
    let mut forms = vec![format!("{dot}{name}")];
    if let Ok(ascii) = idna::domain_to_ascii(name) {
        forms.push(format!("{dot}{ascii}"));
    }
    let (unicode, ok) = idna::domain_to_unicode(name);
    if ok.is_ok() {
        forms.push(format!("{dot}{unicode}"));
    }
    forms.sort();
    forms.dedup();
    (forms, !dot.is_empty())
}

/// The names a domain is looked up under, in order: itself (lower case, Unicode and
/// punycode), then each parent down to two labels.
pub fn candidates(domain: &str) -> Vec<String> {
    let domain = domain.trim().trim_end_matches('.').to_lowercase();
    let mut out: Vec<String> = Vec::new();
    let mut name = domain.as_str();
    loop {
        let (forms, _) = domain_forms(name);
        for f in forms {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        match name.split_once('.') {
            Some((_, parent)) if parent.contains('.') => name = parent,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_spellings() {
        let (forms, suffix) = domain_forms("Müller.DE");
        assert!(!suffix);
        assert_eq!(forms, ["müller.de", "xn--mller-kva.de"]);
        assert_eq!(domain_forms("xn--mller-kva.de").0, forms);
        assert_eq!(domain_forms(".de"), (vec![".de".to_string()], true));
    }

    #[test]
    fn ages_and_local_times() {
        assert_eq!(parse_age("1w"), Some(Some(chrono::Duration::days(7))));
        assert_eq!(parse_age("7d"), Some(Some(chrono::Duration::days(7))));
        assert!(parse_when("2026-11-20 14:30").is_ok());
        assert!(parse_when("2026-11-20T14:30").is_ok());
        assert!(parse_when("last tuesday").is_err());
        for huge in [
            "99999999999999999999d",
            "1000000000w",
            "99999999999999999999w",
        ] {
            let e = parse_when(huge).unwrap_err();
            assert!(e.contains("further back than any date"), "{huge}: {e}");
        }
        assert_eq!(
            parse_when("2026-11-20T14:30:00+01:00").unwrap(),
            "2026-11-20T13:30:00.000Z"
        );
    }
}
