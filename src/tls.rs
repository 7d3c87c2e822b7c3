//! TLS for IMAP and SMTP: rustls with the system's root certificates plus an optional
//! CA file; certificates and host names are always verified, unless the server's own
//! certificate is pinned by its SHA-256 fingerprint (`cert_fingerprint`, as fetchmail's
//! `sslfingerprint`), which then is the whole check (so a self-signed server works).
//! Failures are sorted into what a person does about them.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as RustlsError, RootCertStore,
    SignatureScheme,
};

use crate::text::to_hex;

/// A client configuration and what its verifier saw of the server.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    verifier: Arc<Verifier>,
}

/// Why a TLS connection failed, each with its own advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The certificate chain does not lead to a trusted CA.
    Untrusted {
        fingerprint: Option<String>,
    },
    /// The certificate is for another name.
    WrongName {
        fingerprint: Option<String>,
    },
    /// Expired or not yet valid.
    Expired,
    /// `cert_fingerprint` is set and the server showed another certificate.
    PinMismatch {
        fingerprint: Option<String>,
    },
    /// The server answered in plain text: this port does not start with TLS.
    NotTls,
    Other(String),
}

impl TlsFailure {
    /// One line for a person: what is wrong with `host` and which setting fixes it.
    pub fn explain(&self, host: &str) -> String {
        let pin = |fp: &Option<String>| match fp {
            Some(fp) => format!("cert_fingerprint = \"{fp}\""),
            None => "cert_fingerprint = \"sha256:…\"".into(),
        };
        match self {
            TlsFailure::Untrusted { fingerprint } => format!(
                "certificate of {host} is not trusted: set ca_file = \"…\" to the CA that signed it, or pin it with {}",
                pin(fingerprint)
            ),
            TlsFailure::WrongName { fingerprint } => format!(
                "certificate of {host} is not valid for the name {host}: connect by a name it holds, or pin it with {}",
                pin(fingerprint)
            ),
            TlsFailure::Expired => {
                format!("certificate of {host} has expired or is not valid yet")
            }
            TlsFailure::PinMismatch { fingerprint } => format!(
                "certificate of {host} does not match cert_fingerprint (the server shows {})",
                fingerprint.as_deref().unwrap_or("another certificate")
            ),
            TlsFailure::NotTls => format!(
                "{host} answered in plain text, not TLS: on this port set tls = \"starttls\" (or \"none\"), or use the server's implicit-TLS port"
            ),
            TlsFailure::Other(e) => format!("TLS with {host}: {e}"),
        }
    }
}

/// `sha256:` + lowercase hex of the certificate's DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", to_hex(&Sha256::digest(der)))
}

/// Parses `sha256:AB:CD…`, `sha256:abcd…` or bare hex.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let body = s.trim();
    let body = body
        .strip_prefix("sha256:")
        .or_else(|| body.strip_prefix("SHA256:"))
        .unwrap_or(body);
    let hex: String = body.chars().filter(|c| *c != ':').collect();
    let bad = || format!("cert_fingerprint {s:?}: expected sha256: and 64 hex digits");
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// A client trusting the system roots and the certificates of `ca_file`, or only the
/// certificate whose fingerprint is `pin`.
pub fn client(ca_file: Option<&Path>, pin: Option<&str>) -> Result<Client, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let pin = pin.map(parse_fingerprint).transpose()?;
    let chain = if pin.is_some() {
        None
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            let mut n = 0;
            for cert in certs {
                let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("ca_file {}: no certificate in it", path.display()));
            }
        }
        if roots.is_empty() {
            return Err(
                "no trusted certificate authority: the system has none; set ca_file or cert_fingerprint"
                    .into(),
            );
        }
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| e.to_string())?,
        )
    };
    let verifier = Arc::new(Verifier {
        chain,
        pin,
        seen: Mutex::new(None),
        provider: Arc::clone(&provider),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    Ok(Client {
        config: Arc::new(config),
        verifier,
    })
}

impl Client {
    /// The rustls configuration (for connectors of other crates: PostgreSQL's).
    pub fn rustls_config(&self) -> tokio_rustls::rustls::ClientConfig {
        (*self.config).clone()
    }
}

/// The TLS handshake with `host` over `tcp` (a TCP stream, or one wrapped to watch it).
pub async fn connect<S>(tcp: S, host: &str, client: &Client) -> Result<TlsStream<S>, TlsFailure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| TlsFailure::Other(format!("{host}: {e}")))?;
    let result = tokio_rustls::TlsConnector::from(Arc::clone(&client.config))
        .connect(name, tcp)
        .await;
    result.map_err(|e| {
        let seen = client
            .verifier
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        classify(&e, seen)
    })
}

fn classify(e: &std::io::Error, fingerprint: Option<String>) -> TlsFailure {
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<RustlsError>())
        .cloned();
    match inner {
        Some(RustlsError::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsFailure::Untrusted { fingerprint }
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::WrongName { fingerprint }
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
            CertificateError::ApplicationVerificationFailure => {
                TlsFailure::PinMismatch { fingerprint }
            }
            _ => TlsFailure::Untrusted { fingerprint },
        },
        Some(RustlsError::InvalidMessage(_)) => TlsFailure::NotTls,
        Some(other) => TlsFailure::Other(other.to_string()),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            TlsFailure::Other("the server closed the connection during the TLS handshake".into())
        }
        None => TlsFailure::Other(crate::reason::io(e)),
    }
}

/// Chain and name verification by webpki, or the pinned fingerprint alone; either way
/// it remembers the certificate it was shown, for the error message.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<[u8; 32]>,
    seen: Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(fingerprint(end_entity.as_ref()));
        match (&self.pin, &self.chain) {
            (Some(pin), _) if *pin == digest => Ok(ServerCertVerified::assertion()),
            (Some(_), _) => Err(RustlsError::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            (None, Some(chain)) => {
                chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            (None, None) => Err(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_common_spelling() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&format!("sha256:{hex}")), Ok([0xab; 32]));
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{colons}")),
            Ok([0xab; 32])
        );
        assert_eq!(parse_fingerprint(&hex), Ok([0xab; 32]));
        assert!(parse_fingerprint("sha256:abcd").is_err());
        assert!(parse_fingerprint(&format!("sha256:{}", "zz".repeat(32))).is_err());
    }
}
