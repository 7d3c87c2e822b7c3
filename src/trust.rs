//! Whether a notification really comes from its registrar (DESIGN §8). Anyone can mail
//! a reseller's notification address a "transfer completed"; what vouches for a message
//! is the reseller's own mail server: its `Authentication-Results` header (RFC 8601),
//! trusted only under the `authserv_id` that server writes, saying DKIM or DMARC passed
//! for one of the registrar's sending domains. Pure: headers and settings in, a verdict
//! with its reason out.

use serde::Deserialize;

use crate::event::Registrar;

/// `[trust]` in the config.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// The authserv-id the reseller's own mail server writes into
    /// `Authentication-Results` (e.g. `mx.reseller.example`). Unset: no message is
    /// authenticated (events record why).
    pub authserv_id: Option<String>,
    /// Quarantine notifications that are not authenticated instead of acting on them.
    /// Default false.
    #[serde(default)]
    pub require: bool,
    /// The domains each registrar signs its mail with (DKIM `d=`, DMARC `header.from`);
    /// subdomains count. Defaults: see [`default_domains`].
    #[serde(default)]
    pub opensrs: Option<Vec<String>>,
    #[serde(default)]
    pub autodns: Option<Vec<String>>,
    #[serde(default)]
    pub gandi: Option<Vec<String>>,
}

/// The sending domains the registrars' own documentation and mail show.
pub fn default_domains(registrar: Registrar) -> &'static [&'static str] {
    match registrar {
        Registrar::Opensrs => &["opensrs.net", "opensrs.com", "tucows.com"],
        Registrar::Autodns => &["internetx.com", "internetx.de", "autodns.com", "autodns.de"],
        Registrar::Gandi => &["gandi.net"],
        Registrar::Mailroom | Registrar::Unknown => &[],
    }
}

impl TrustConfig {
    /// The domains `registrar`'s notifications are sent from (configured, else its
    /// documented ones).
    pub fn sending_domains(&self, registrar: Registrar) -> Vec<String> {
        self.domains(registrar)
    }

    fn domains(&self, registrar: Registrar) -> Vec<String> {
        let own = match registrar {
            Registrar::Opensrs => &self.opensrs,
            Registrar::Autodns => &self.autodns,
            Registrar::Gandi => &self.gandi,
            Registrar::Mailroom | Registrar::Unknown => &None,
        };
        match own {
            Some(list) => list.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            None => default_domains(registrar)
                .iter()
                .map(|d| d.to_string())
                .collect(),
        }
    }
}

/// Whether a message vouches for a registrar's event, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub authenticated: bool,
    pub reason: String,
}

impl Verdict {
    fn no(reason: String) -> Verdict {
        Verdict {
            authenticated: false,
            reason,
        }
    }
}

/// The verdict on `raw` (the message, or only its header section) for an event of
/// `registrar`.
/// The reason of every verdict while `[trust]` is not configured. Stored as NULL (it
/// would otherwise be the longest text of most event rows) and read back as this.
pub const NOT_SET_UP: &str = "sender authentication is not set up ([trust] authserv_id)";

pub fn verdict(config: &TrustConfig, raw: &[u8], registrar: Registrar) -> Verdict {
    let Some(authserv) = config.authserv_id.as_deref() else {
        return Verdict::no(NOT_SET_UP.into());
    };
    let domains = config.domains(registrar);
    if domains.is_empty() {
        return Verdict::no(format!("no sending domains known for {registrar}"));
    }
    // The topmost header from our own server is the one it wrote: a copy further down
    // came with the message and proves nothing.
    let Some(results) = headers(raw, "authentication-results")
        .into_iter()
        .map(|h| parse(&h))
        .find(|r| r.authserv_id.eq_ignore_ascii_case(authserv))
    else {
        return Verdict::no(format!("no Authentication-Results header from {authserv}"));
    };
    let mut seen = Vec::new();
    for m in &results.methods {
        if !matches!(m.method.as_str(), "dkim" | "dmarc") {
            continue;
        }
        let domain = m.domain.clone().unwrap_or_default();
        if m.result == "pass" && domain_matches(&domain, &domains) {
            return Verdict {
                authenticated: true,
                reason: format!(
                    "{}=pass for {domain} (Authentication-Results from {authserv})",
                    m.method
                ),
            };
        }
        seen.push(if domain.is_empty() {
            format!("{}={}", m.method, m.result)
        } else {
            format!("{}={} for {domain}", m.method, m.result)
        });
    }
    if seen.is_empty() {
        return Verdict::no(format!("{authserv} reports no DKIM or DMARC result"));
    }
    Verdict::no(format!(
        "{authserv} reports {}; {registrar} signs as {}",
        seen.join(", "),
        domains.join(", ")
    ))
}

fn domain_matches(domain: &str, allowed: &[String]) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    !d.is_empty()
        && allowed
            .iter()
            .any(|a| d == *a || d.ends_with(&format!(".{a}")))
}

/// Every header called `name` in the header section, unfolded, in order.
fn headers(raw: &[u8], name: &str) -> Vec<String> {
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(raw, b"\n\n"))
        .unwrap_or(raw.len())
        .min(1 << 20);
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = current.take() {
            out.push(c);
        }
        if let Some((field, value)) = line.split_once(':')
            && field.trim().eq_ignore_ascii_case(name)
        {
            current = Some(value.trim().to_string());
        }
    }
    out.extend(current);
    out
}

#[derive(Debug, Default)]
struct Results {
    authserv_id: String,
    methods: Vec<MethodResult>,
}

#[derive(Debug)]
struct MethodResult {
    method: String,
    result: String,
    /// `header.d` / `header.i` (DKIM) or `header.from` (DMARC), lower case.
    domain: Option<String>,
}

/// `authserv-id [version]; method=result prop=value …; …` with comments removed.
fn parse(value: &str) -> Results {
    let text = strip_comments(value);
    let mut parts = text.split(';');
    let authserv_id = parts
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut methods = Vec::new();
    for part in parts {
        let mut tokens = part.split_whitespace();
        let Some((method, result)) = tokens.next().and_then(|t| t.split_once('=')) else {
            continue;
        };
        let method = method
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut domain = None;
        for t in tokens {
            let Some((prop, v)) = t.split_once('=') else {
                continue;
            };
            let v = v.trim_matches('"').to_ascii_lowercase();
            match prop.to_ascii_lowercase().as_str() {
                "header.d" | "header.from" => domain = Some(v),
                "header.i" if domain.is_none() => {
                    domain = Some(v.rsplit('@').next().unwrap_or_default().to_string())
                }
                _ => {}
            }
        }
        methods.push(MethodResult {
            method,
            result: result.to_ascii_lowercase(),
            domain,
        });
    }
    Results {
        authserv_id,
        methods,
    }
}

/// RFC 5322 comments `( … )`, nested, outside quoted strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TrustConfig {
        TrustConfig {
            authserv_id: Some("mx.reseller.example".into()),
            ..TrustConfig::default()
        }
    }

    fn mail(headers: &str) -> Vec<u8> {
        format!("{headers}From: x@opensrs.net\r\nSubject: s\r\n\r\nbody\r\n").into_bytes()
    }

    #[test]
    fn dkim_pass_for_the_registrars_domain_from_our_server() {
        let raw = mail(
            "Authentication-Results: mx.reseller.example;\r\n\tdkim=pass (2048-bit key) header.d=opensrs.net header.s=s1;\r\n\tspf=pass smtp.mailfrom=opensrs.net\r\n",
        );
        let v = verdict(&config(), &raw, Registrar::Opensrs);
        assert!(v.authenticated, "{v:?}");
        assert!(v.reason.contains("dkim=pass for opensrs.net"), "{v:?}");
        // The same mail does not vouch for another registrar.
        assert!(!verdict(&config(), &raw, Registrar::Gandi).authenticated);
    }

    #[test]
    fn forged_or_foreign_results_do_not_count() {
        // From another server's id: ignored.
        let raw =
            mail("Authentication-Results: attacker.example; dkim=pass header.d=opensrs.net\r\n");
        let v = verdict(&config(), &raw, Registrar::Opensrs);
        assert!(!v.authenticated);
        assert!(
            v.reason
                .contains("no Authentication-Results header from mx.reseller.example")
        );
        // Our server says fail; a forged pass below it (came with the message) is ignored.
        let raw = mail(
            "Authentication-Results: mx.reseller.example; dkim=fail header.d=opensrs.net; dmarc=fail header.from=opensrs.net\r\nAuthentication-Results: mx.reseller.example; dkim=pass header.d=opensrs.net\r\n",
        );
        let v = verdict(&config(), &raw, Registrar::Opensrs);
        assert!(!v.authenticated, "{v:?}");
        assert!(v.reason.contains("dkim=fail for opensrs.net"), "{v:?}");
        // A pass for a look-alike domain.
        let raw = mail(
            "Authentication-Results: mx.reseller.example; dkim=pass header.d=opensrs.net.evil.example\r\n",
        );
        assert!(!verdict(&config(), &raw, Registrar::Opensrs).authenticated);
        let raw = mail(
            "Authentication-Results: mx.reseller.example; dkim=pass header.d=notopensrs.net\r\n",
        );
        assert!(!verdict(&config(), &raw, Registrar::Opensrs).authenticated);
    }

    #[test]
    fn dmarc_subdomains_comments_and_no_setup() {
        let raw = mail(
            "Authentication-Results: mx.reseller.example 1; (a comment; dkim=pass header.d=opensrs.net) dmarc=pass (p=reject) header.from=mail.gandi.net\r\n",
        );
        let v = verdict(&config(), &raw, Registrar::Gandi);
        assert!(v.authenticated, "{v:?}");
        assert!(!verdict(&config(), &raw, Registrar::Opensrs).authenticated);
        let v = verdict(&TrustConfig::default(), &raw, Registrar::Gandi);
        assert!(
            !v.authenticated && v.reason.contains("authserv_id"),
            "{v:?}"
        );
    }
}
