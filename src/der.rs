//! Just enough DER to read an X.509 certificate's RSA public key and validity (what
//! verifying an Amazon SNS signature needs; the certificate itself is trusted for having
//! come over verified TLS from an allowed host). Every length is checked against what
//! remains; nothing here can read past its input.

use chrono::{DateTime, NaiveDateTime, Utc};

/// What a certificate says that a signature check needs.
#[derive(Debug)]
pub struct Certificate<'a> {
    /// The `RSAPublicKey` (PKCS#1) inside the subject public key info.
    pub rsa_public_key: &'a [u8],
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
}

/// The rsaEncryption algorithm, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// One element: `(tag, contents, rest)`.
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let (&tag, rest) = input.split_first().ok_or("truncated")?;
    let (&first, rest) = rest.split_first().ok_or("truncated")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad length");
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err("truncated");
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect<'a>(
    input: &'a [u8],
    want: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), &'static str> {
    let (tag, contents, rest) = element(input)?;
    if tag != want {
        return Err(what);
    }
    Ok((contents, rest))
}

const SEQUENCE: u8 = 0x30;

/// Reads a certificate (DER).
pub fn certificate(der: &[u8]) -> Result<Certificate<'_>, &'static str> {
    let (cert, _) = expect(der, SEQUENCE, "not a certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "no tbsCertificate")?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = element(rest)?.2;
    }
    let (_serial, r) = expect(rest, 0x02, "no serial number")?;
    let (_signature, r) = expect(r, SEQUENCE, "no signature algorithm")?;
    let (_issuer, r) = expect(r, SEQUENCE, "no issuer")?;
    let (validity, r) = expect(r, SEQUENCE, "no validity")?;
    let (_subject, r) = expect(r, SEQUENCE, "no subject")?;
    let (spki, _) = expect(r, SEQUENCE, "no public key")?;
    let (before_tag, before, v) = element(validity)?;
    let (after_tag, after, _) = element(v)?;
    let (algorithm, r) = expect(spki, SEQUENCE, "no public key algorithm")?;
    let (oid, _) = expect(algorithm, 0x06, "no public key algorithm")?;
    if oid != RSA_ENCRYPTION {
        return Err("the public key is not RSA");
    }
    let (bits, _) = expect(r, 0x03, "no public key")?;
    let (&unused, key) = bits.split_first().ok_or("empty public key")?;
    if unused != 0 || key.is_empty() {
        return Err("bad public key");
    }
    Ok(Certificate {
        rsa_public_key: key,
        not_before: time(before_tag, before),
        not_after: time(after_tag, after),
    })
}

/// A UTCTime (0x17, `YYMMDDHHMMSSZ`) or GeneralizedTime (0x18, `YYYYMMDDHHMMSSZ`).
fn time(tag: u8, contents: &[u8]) -> Option<DateTime<Utc>> {
    // Digits only (finding der-1): a multi-byte character would put the year's end
    // inside it, and a sign or a space is no time either.
    let text = std::str::from_utf8(contents).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match tag {
        0x17 if text.len() == 12 => {
            let yy: u32 = text[..2].parse().ok()?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        0x18 if text.len() == 14 => text.to_string(),
        _ => return None,
    };
    NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_certificate_without_reading_past_it() {
        for bad in [
            &b""[..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x03, 0x30, 0x01, 0x00],
            &[0x30, 0x02, 0x30, 0x00],
        ] {
            assert!(certificate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_both_time_forms() {
        assert_eq!(
            time(0x17, b"260102030405Z").unwrap().to_rfc3339(),
            "2026-01-02T03:04:05+00:00"
        );
        assert_eq!(
            time(0x17, b"991231235959Z").unwrap().to_rfc3339(),
            "1999-12-31T23:59:59+00:00"
        );
        assert_eq!(
            time(0x18, b"20500101000000Z").unwrap().to_rfc3339(),
            "2050-01-01T00:00:00+00:00"
        );
        assert!(time(0x17, b"2601020304Z").is_none());
    }
}
