//! TLS for every connection the library makes, HTTPS and SMTP alike: one rustls client
//! configuration (ring) whose verifier is the platform's (Windows certificate store, macOS
//! keychain, Linux CA bundle) plus the certificates of `tls.extra_ca_file`.
//!
//! The verifier also remembers, per thread, the issuer and subject of a certificate it rejects
//! ([`Capture`], [`rejection`]), so the TLS error names them: that is how a user recognises TLS
//! inspection by a proxy or antivirus. ureq's own rustls connector can only use the platform
//! verifier *or* a fixed root set, not both, which is why the configuration is built here.

use std::cell::RefCell;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result, Status};
use crate::hint;

/// The client configuration: the system trust store plus the PEM file `extra_ca_file`, with the
/// verifier that names the issuer of a rejected certificate ([`rejection`]).
pub(crate) fn client_config(extra_ca_file: Option<&str>) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match extra_ca_file {
        Some(path) => load_extra_roots(path)?,
        None => Vec::new(),
    };
    // A machine without any CA certificate (a bare container, say) still gets a client: plain
    // http:// endpoints work, and an HTTPS call fails with a TLS error that says why.
    let platform = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
    }
    .map(Arc::new)
    .map_err(|e| format!("no trusted CA certificates could be loaded ({e})"));
    let verifier = IssuerReportingVerifier {
        platform,
        provider: provider.clone(),
    };
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    ))
}

thread_local! {
    static REJECTION: RefCell<Option<TlsRejection>> = const { RefCell::new(None) };
}

/// While it lives, a certificate rejected on this thread is remembered for [`rejection`]; any
/// earlier one is forgotten when it starts and when it ends, so an error never names the
/// certificate of another call.
pub(crate) struct Capture(());

impl Capture {
    pub(crate) fn begin() -> Capture {
        REJECTION.with(|r| r.borrow_mut().take());
        Capture(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        REJECTION.with(|r| r.borrow_mut().take());
    }
}

fn load_extra_roots(path: &str) -> Result<Vec<CertificateDer<'static>>> {
    const FIELD: &str = "config.tls.extra_ca_file";
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(Status::Io, format!("tls.extra_ca_file '{path}' could not be read: {e}")).with_field(FIELD)
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::new(
                Status::Io,
                format!("tls.extra_ca_file '{path}' is not a valid PEM file: {e}"),
            )
            .with_field(FIELD)
        })?;
    if certs.is_empty() {
        return Err(Error::new(
            Status::Io,
            format!("tls.extra_ca_file '{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        )
        .with_field(FIELD));
    }
    Ok(certs)
}

/// Why a server certificate was rejected, recorded by the verifier on the handshaking thread.
#[derive(Debug)]
struct TlsRejection {
    issuer: Option<String>,
    subject: Option<String>,
    unknown_issuer: bool,
    reason: String,
}

impl TlsRejection {
    fn into_error(self, host: &str) -> Error {
        let issuer = self.issuer.as_deref().unwrap_or("(unreadable)");
        let subject = self.subject.as_deref().unwrap_or("(unreadable)");
        if self.unknown_issuer {
            Error::new(
                Status::Tls,
                format!(
                    "the certificate presented for {host} ({subject}) was issued by \"{issuer}\", which is not trusted here{}",
                    if self.reason.contains("no trusted CA certificates") {
                        format!(": {}", self.reason)
                    } else {
                        String::new()
                    }
                ),
            )
            .with_hint(&hint::TLS_INSPECTION)
        } else {
            Error::new(
                Status::Tls,
                format!(
                    "the certificate presented for {host} ({subject}, issued by \"{issuer}\") was rejected: {}",
                    self.reason
                ),
            )
        }
    }
}

/// The TLS error for the certificate of `host` that [`client_config`]'s verifier rejected last
/// on this thread (within the current [`Capture`]), naming its subject and issuer.
pub(crate) fn rejection(host: &str) -> Option<Error> {
    REJECTION.with(|r| r.borrow_mut().take()).map(|r| r.into_error(host))
}

/// Delegates to the platform verifier and remembers the issuer of a certificate it rejects.
#[derive(Debug)]
struct IssuerReportingVerifier {
    /// The platform verifier, or why there is none (no CA certificates on this machine).
    platform: std::result::Result<Arc<rustls_platform_verifier::Verifier>, String>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for IssuerReportingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let result = match &self.platform {
            Ok(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            Err(why) => Err(rustls::Error::General(why.clone())),
        };
        if let Err(e) = &result {
            let (issuer, subject) = x509_names(end_entity.as_ref()).unzip();
            let rejection = TlsRejection {
                issuer,
                subject,
                unknown_issuer: self.platform.is_err()
                    || matches!(
                        e,
                        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
                    ),
                reason: e.to_string(),
            };
            REJECTION.with(|r| *r.borrow_mut() = Some(rejection));
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match &self.platform {
            Ok(v) => v.verify_tls12_signature(message, cert, dss),
            Err(_) => rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match &self.platform {
            Ok(v) => v.verify_tls13_signature(message, cert, dss),
            Err(_) => rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.platform {
            Ok(v) => v.supported_verify_schemes(),
            Err(_) => self.provider.signature_verification_algorithms.supported_schemes(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Just enough DER to name a certificate's issuer and subject in an error message.

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// (issuer, subject) of a certificate as `CN=…, O=…` strings.
fn x509_names(cert: &[u8]) -> Option<(String, String)> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = der(rest)?;
    if tag == 0xa0 {
        rest = after; // version
    }
    let (_, _, rest) = der(rest)?; // serial number
    let (_, _, rest) = der(rest)?; // signature algorithm
    let (_, issuer, rest) = der(rest)?;
    let (_, _, rest) = der(rest)?; // validity
    let (_, subject, _) = der(rest)?;
    Some((x509_name(issuer), x509_name(subject)))
}

fn x509_name(mut rdns: &[u8]) -> String {
    let mut parts = Vec::new();
    while let Some((_, set, rest)) = der(rdns) {
        rdns = rest;
        let mut attrs = set;
        while let Some((_, attr, rest)) = der(attrs) {
            attrs = rest;
            let Some((0x06, oid, value)) = der(attr) else { continue };
            let Some((tag, value, _)) = der(value) else { continue };
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            let text = if tag == 0x1e {
                // BMPString: UTF-16BE.
                let units: Vec<u16> = value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            parts.push(format!("{key}={text}"));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Settings};

    fn settings(extra: &str) -> Settings {
        let json = format!(r#"{{"provider":"google","client_id":"id","client_secret":"s"{extra}}}"#);
        serde_json::from_str::<Config>(&json).unwrap().resolve().unwrap()
    }

    /// The TLS configuration a client with these settings gets.
    fn config_for(settings: &Settings) -> Result<Arc<ClientConfig>> {
        client_config(settings.extra_ca_file.as_deref())
    }

    #[test]
    fn missing_extra_ca_file_is_io_naming_the_field() {
        let e = config_for(&settings(r#","tls":{"extra_ca_file":"/nonexistent/ca.pem"}"#)).unwrap_err();
        assert_eq!(e.status, Status::Io);
        assert_eq!(e.field.as_deref(), Some("config.tls.extra_ca_file"));
    }

    #[test]
    fn extra_ca_file_without_certificates_is_io() {
        let dir = std::env::temp_dir().join(format!("oauthmail-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = config_for(&settings(&format!(
            r#","tls":{{"extra_ca_file":{}}}"#,
            serde_json::to_string(path.to_str().unwrap()).unwrap()
        )))
        .unwrap_err();
        assert_eq!(e.status, Status::Io);
        assert_eq!(e.field.as_deref(), Some("config.tls.extra_ca_file"));
    }

    #[test]
    fn x509_names_reads_issuer_and_subject() {
        // A minimal TBS: version, serial, alg, issuer(CN=Corp CA, O=Corp), validity, subject(CN=x).
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut v = vec![tag, content.len() as u8];
            v.extend_from_slice(content);
            v
        }
        let attr = |oid: u8, text: &str| {
            tlv(
                0x31,
                &tlv(
                    0x30,
                    &[tlv(0x06, &[0x55, 0x04, oid]), tlv(0x0c, text.as_bytes())].concat(),
                ),
            )
        };
        let issuer = tlv(0x30, &[attr(0x03, "Corp CA"), attr(0x0a, "Corp")].concat());
        let subject = tlv(0x30, &attr(0x03, "oauth2.googleapis.com"));
        let tbs = tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x02, &[2])),
                tlv(0x02, &[1]),
                tlv(0x30, &[]),
                issuer,
                tlv(0x30, &[]),
                subject,
            ]
            .concat(),
        );
        let cert = tlv(0x30, &[tbs, tlv(0x30, &[]), tlv(0x03, &[0])].concat());
        assert_eq!(
            x509_names(&cert),
            Some(("CN=Corp CA, O=Corp".to_string(), "CN=oauth2.googleapis.com".to_string()))
        );
        assert_eq!(x509_names(b"\x30\x05garbage"), None);
    }
}
