//! The stand-in's PKI: a fresh CA per start and one server certificate for 127.0.0.1,
//! localhost and ::1, served by rustls with the ring provider. The server certificate names a
//! CRL distribution point on the control plane (plain HTTP on loopback), where the stand-in serves
//! an empty CRL signed by its CA: Windows' chain engine (and Wine's, which unlike Windows does not
//! tolerate an unknown revocation status) then finds the certificate "not revoked".

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Pki {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    /// The CA's empty CRL (DER), served at the server certificate's CRL distribution point.
    pub crl_der: Vec<u8>,
}

/// The control plane's path of the CRL (README "Control plane").
pub const CRL_PATH: &str = "/crl/standin.crl";

/// Days since 1970-01-01 -> (year, month, day) (Howard Hinnant's civil_from_days).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn ymd(days_from_now: i64) -> (i32, u8, u8) {
    let today = crate::state::real_now().div_euclid(86_400);
    let (y, m, d) = civil_from_days(today + days_from_now);
    (y as i32, m as u8, d as u8)
}

macro_rules! date {
    ($days:expr) => {{
        let (y, m, d) = ymd($days);
        rcgen::date_time_ymd(y, m, d)
    }};
}

/// `crl_url`: the CRL distribution point written into the server certificate.
pub fn generate(crl_url: &str) -> Result<Pki, String> {
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "oauthmail-standin test CA (not Google)");
    ca.distinguished_name
        .push(DnType::OrganizationName, "oauthmail-standin");
    ca.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    ca.not_before = date!(-1);
    ca.not_after = date!(3650);
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);

    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let mut leaf = CertificateParams::new(names).map_err(err)?;
    leaf.distinguished_name.push(DnType::CommonName, "oauthmail-standin");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = date!(-1);
    leaf.not_after = date!(365);
    leaf.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![crl_url.to_string()],
    }];
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;
    // Nothing is ever revoked; the next update lies past the CA's end, so a cached copy stays valid.
    let crl = CertificateRevocationListParams {
        this_update: date!(-1),
        next_update: date!(3650),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .map_err(err)?;

    let chain = vec![
        CertificateDer::from(leaf_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
        crl_der: crl.der().to_vec(),
    })
}
