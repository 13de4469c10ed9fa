//! The CRL distribution point (README "Control plane"): the server certificate names
//! `http://127.0.0.1:<control>/crl/standin.crl`, where the control plane serves the CA's empty CRL.
//! Checked with a verifier that requires a revocation status (rustls' webpki verifier with the CRL
//! and unknown status refused), which is what Windows' chain engine asks for under Wine.

mod common;

use std::io::{BufReader, Write};
use std::sync::Arc;

use common::*;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName};

/// A TLS client for the web port that needs the certificate's revocation status from `crls`.
fn strict_client(
    s: &oauthmail_standin::Standin,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&s.info().ca_file).expect("ca.pem") {
        roots.add(c.expect("a certificate")).expect("add the CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .build()
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let port = port_of(&s.info().gmail_api);
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap().to_owned();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /oauth2/v3/certs HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    let r = read_response(&mut BufReader::new(tls)).map_err(|e| e.to_string())?;
    (r.status == 200).then_some(()).ok_or(format!("HTTP {}", r.status))
}

#[test]
fn server_certificate_is_not_revoked_by_the_served_crl() {
    let s = start();
    let url = format!("{}/crl/standin.crl", s.control_url());
    let r = get(&s, &url);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/pkix-crl"));
    // DER: a SEQUENCE.
    assert_eq!(r.body.first(), Some(&0x30));

    // The certificate names exactly that URL (a plain HTTP control-plane address).
    let leaf = {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&s.info().ca_file).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port_of(&s.info().gmail_api))).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut conn =
            rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap().to_owned())
                .unwrap();
        let mut tcp = tcp;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).expect("handshake");
        }
        conn.peer_certificates().unwrap()[0].to_vec()
    };
    assert!(
        leaf.windows(url.len()).any(|w| w == url.as_bytes()),
        "the server certificate names {url}"
    );

    // With the CRL, a verifier that requires a revocation status accepts the certificate...
    strict_client(&s, vec![CertificateRevocationListDer::from(r.body.clone())]).expect("not revoked");
    // ...and refuses another stand-in's CRL: the same issuer name, but signed by another CA's key
    // (so the check above really verified this CA's signature on the CRL).
    let other = start();
    let other_crl = get(&other, &format!("{}/crl/standin.crl", other.control_url())).body;
    let e = strict_client(&s, vec![CertificateRevocationListDer::from(other_crl)])
        .expect_err("another CA's CRL is refused");
    assert!(e.contains("revocation list") && e.contains("BadSignature"), "{e}");
}
