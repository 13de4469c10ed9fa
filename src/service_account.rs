//! Google service-account keys and the RFC 7523 assertion they sign (issue 16): the pure part.
//!
//! A Google Workspace administrator grants a service account *domain-wide delegation* for chosen
//! scopes; the library then signs a short JWT with the account's key (`iss` = the account,
//! `sub` = the mailbox to send as) and trades it at `token_uri` with the JWT-bearer grant for an
//! access token of that mailbox. No browser, no refresh token.
//!
//! [`ServiceAccountKey`] is Google's JSON key file, parsed and checked once; its RSA key lives
//! in ring's [`RsaKeyPair`] (ring is already in the build through rustls, builds for
//! i686-pc-windows-gnu with MinGW alone, and signs RSASSA-PKCS1-v1_5 SHA-256 = RS256). The PEM is
//! decoded by `rustls-pki-types` (also already in the build). The key is never printed: `Debug`
//! shows `<redacted>`, no error message quotes the file's content, and a signed assertion is a
//! [`Secret`].

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result, Status};
use crate::secret::Secret;

/// The config field that names the key file; every error about the file carries it.
pub const FIELD: &str = "config.service_account_file";

/// RFC 7523 §2.1: the grant type of an assertion exchange.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Google's token endpoint, for a key file without `token_uri` (every current file has one).
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Google refuses an assertion whose `exp` is more than one hour after its `iat`.
pub const MAX_LIFETIME_S: u64 = 3600;

/// A parsed, usable service-account key file.
pub struct ServiceAccountKey {
    /// The service account (`iss` of every assertion), e.g. `erp@firma-erp.iam.gserviceaccount.com`.
    pub client_email: String,
    /// The numeric client id: what the administrator enters for domain-wide delegation.
    pub client_id: Option<String>,
    pub project_id: Option<String>,
    /// Which of the account's keys this is (the JWT header's `kid`).
    pub private_key_id: String,
    /// Where assertions are exchanged; also their `aud`.
    pub token_uri: String,
    key: RsaKeyPair,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("client_id", &self.client_id)
            .field("project_id", &self.project_id)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid(FIELD, message)
}

/// A required string member of the key file (its value is never quoted in the error).
fn string_field<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    match doc.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) | None => Err(invalid(format!(
            "the service-account key file has no \"{name}\"; download a new JSON key (Google Cloud console > IAM & Admin > Service accounts > Keys > Add key)"
        ))),
        Some(_) => Err(invalid(format!(
            "\"{name}\" in the service-account key file is not a string"
        ))),
    }
}

fn optional_string(doc: &Map<String, Value>, name: &str) -> Option<String> {
    doc.get(name)
        .and_then(Value::as_str)
        .map(String::from)
        .filter(|s| !s.is_empty())
}

impl ServiceAccountKey {
    /// Reads and parses the key file at `path` (once, at `client_new`). An unreadable file is
    /// `IO`, anything else wrong `INVALID_ARGUMENT`; both name [`FIELD`].
    pub fn from_file(path: &Path) -> Result<ServiceAccountKey> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                Status::Io,
                format!("cannot read the service-account key file {}: {e}", path.display()),
            )
            .with_field(FIELD)
        })?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("the service-account key file is not UTF-8 text"))?;
        ServiceAccountKey::from_json(&text)
    }

    /// Parses the text of a key file.
    pub fn from_json(text: &str) -> Result<ServiceAccountKey> {
        // serde_json's own messages may quote input; only its position is reported.
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "the service-account key file is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(doc) = doc else {
            return Err(invalid("the service-account key file is not a JSON object"));
        };
        if doc.contains_key("installed") || doc.contains_key("web") {
            return Err(invalid(
                "this is an OAuth client file (client_secret_….json), not a service-account key; create a JSON key for the service account (IAM & Admin > Service accounts > Keys)",
            ));
        }
        match doc.get("type").and_then(Value::as_str) {
            Some("service_account") => {}
            Some(other) if other.len() <= 40 && other.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                return Err(invalid(format!(
                    "the key file's \"type\" is \"{other}\", not \"service_account\""
                )))
            }
            _ => return Err(invalid("the key file has no \"type\": \"service_account\"")),
        }
        let client_email = string_field(&doc, "client_email")?.trim().to_string();
        if !client_email.contains('@') {
            return Err(invalid(
                "\"client_email\" in the service-account key file is not an e-mail address",
            ));
        }
        let private_key_id = string_field(&doc, "private_key_id")?.trim().to_string();
        let token_uri = optional_string(&doc, "token_uri").unwrap_or_else(|| GOOGLE_TOKEN_URI.into());
        let pem = string_field(&doc, "private_key")?;
        let key = parse_private_key(pem)?;
        Ok(ServiceAccountKey {
            client_email,
            client_id: optional_string(&doc, "client_id"),
            project_id: optional_string(&doc, "project_id"),
            private_key_id,
            token_uri,
            key,
        })
    }

    /// The signed assertion (`header.claims.signature`) for `assertion`'s claims.
    pub fn sign(&self, assertion: &Assertion<'_>) -> Result<Secret> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let lifetime = assertion.lifetime_s.clamp(1, MAX_LIFETIME_S);
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.client_email));
        claims.insert("scope".into(), json!(assertion.scopes.join(" ")));
        claims.insert("aud".into(), json!(self.token_uri));
        claims.insert("iat".into(), json!(assertion.issued_at));
        claims.insert("exp".into(), json!(assertion.issued_at + lifetime));
        if let Some(sub) = assertion.subject {
            claims.insert("sub".into(), json!(sub));
        }
        let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string()));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), jwt.as_bytes(), &mut signature)
            .map_err(|_| Error::internal("RS256 signing with the service-account key failed"))?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(Secret::new(jwt))
    }

    /// The public key (PKCS#1 `RSAPublicKey` DER), for verifying what [`sign`](Self::sign) made.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.public().as_ref()
    }
}

/// PKCS#8 (`BEGIN PRIVATE KEY`, Google's format) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
fn parse_private_key(pem: &str) -> Result<RsaKeyPair> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        invalid(
            "\"private_key\" in the service-account key file is not a PEM private key (-----BEGIN PRIVATE KEY-----)",
        )
    })?;
    let pair = match &der {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => {
            return Err(invalid(
                "\"private_key\" in the service-account key file is not an RSA key",
            ))
        }
    };
    pair.map_err(|e| {
        invalid(format!(
            "\"private_key\" in the service-account key file is not a usable RSA key ({e})"
        ))
    })
}

/// The claims of one assertion; `iss`, `aud` and `kid` come from the key.
#[derive(Debug, Clone, Copy)]
pub struct Assertion<'a> {
    /// The mailbox to act as (`sub`); `None` for the service account's own token.
    pub subject: Option<&'a str>,
    pub scopes: &'a [&'a str],
    /// `iat`, seconds since the epoch (the system clock: Google checks it against its own).
    pub issued_at: u64,
    /// `exp - iat`, at most [`MAX_LIFETIME_S`].
    pub lifetime_s: u64,
}

/// The token request's form body.
pub fn token_form(assertion: &Secret) -> [(&'static str, &str); 2] {
    [("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.expose())]
}

/// What a refused exchange means, from Google's `error` and `error_description`
/// (tests/standin/README.md "Service accounts" lists the bodies and their sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `unauthorized_client`: no domain-wide delegation for this client id, or not for every scope.
    Delegation,
    /// `invalid_grant` "Invalid email or User ID": the subject is no (active) user of the domain.
    UnknownSubject,
    /// `invalid_grant` "Invalid JWT Signature.": the key was deleted or belongs to another account.
    BadSignature,
    /// `invalid_grant` "Invalid JWT: Token must be a short-lived token …": the clock is off.
    ClockSkew,
    /// `invalid_grant` "Invalid grant: account not found": the service account was deleted.
    AccountNotFound,
    /// Anything else.
    Other,
}

impl Refusal {
    pub fn classify(error: Option<&str>, description: Option<&str>) -> Refusal {
        let d = description.unwrap_or_default();
        match error.unwrap_or_default() {
            "unauthorized_client" => Refusal::Delegation,
            "invalid_grant" if d.starts_with("Invalid email or User ID") || d.starts_with("Not a valid email") => {
                Refusal::UnknownSubject
            }
            "invalid_grant" if d.starts_with("Invalid JWT Signature") => Refusal::BadSignature,
            "invalid_grant" if d.contains("short-lived token") || d.contains("reasonable timeframe") => {
                Refusal::ClockSkew
            }
            "invalid_grant" if d.contains("account not found") => Refusal::AccountNotFound,
            _ => Refusal::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    /// The stand-in's TEST-ONLY RSA-2048 PKCS#8 key (public in this repository).
    const TEST_KEY: &str = include_str!("../tests/standin/src/id_token_test_key.pem");

    fn key_file(overrides: Value) -> String {
        let mut doc = json!({
            "type": "service_account",
            "project_id": "firma-erp",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": TEST_KEY,
            "client_email": "erp-mailer@firma-erp.iam.gserviceaccount.com",
            "client_id": "104020304050607080901",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "universe_domain": "googleapis.com"
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                doc.as_object_mut().unwrap().remove(k);
            } else {
                doc[k] = v.clone();
            }
        }
        doc.to_string()
    }

    fn parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
        let p: Vec<&str> = jwt.split('.').collect();
        assert_eq!(p.len(), 3);
        let dec = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
        (
            serde_json::from_slice(&dec(p[0])).unwrap(),
            serde_json::from_slice(&dec(p[1])).unwrap(),
            dec(p[2]),
            format!("{}.{}", p[0], p[1]),
        )
    }

    #[test]
    fn signs_an_rs256_assertion_with_kid_that_the_public_key_verifies() {
        let key = ServiceAccountKey::from_json(&key_file(json!({}))).unwrap();
        let scopes = ["https://mail.google.com/"];
        let jwt = key
            .sign(&Assertion {
                subject: Some("facturi@firma.ro"),
                scopes: &scopes,
                issued_at: 1_800_000_000,
                lifetime_s: 3600,
            })
            .unwrap();
        let (header, claims, sig, input) = parts(jwt.expose());
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"})
        );
        assert_eq!(
            claims,
            json!({
                "iss": "erp-mailer@firma-erp.iam.gserviceaccount.com",
                "scope": "https://mail.google.com/",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_800_000_000u64,
                "exp": 1_800_003_600u64,
                "sub": "facturi@firma.ro"
            })
        );
        assert_eq!(sig.len(), 256);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key_der())
            .verify(input.as_bytes(), &sig)
            .expect("the signature verifies");
        // And a tampered claim set does not.
        let forged = input.replacen('.', ".e", 1);
        assert!(
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key_der())
                .verify(forged.as_bytes(), &sig)
                .is_err()
        );
    }

    #[test]
    fn the_standin_verifier_accepts_the_signature() {
        // The stand-in's id_token verifier holds the same test key: an independent RS256 check.
        let key = ServiceAccountKey::from_json(&key_file(json!({}))).unwrap();
        let scopes = ["https://www.googleapis.com/auth/gmail.send", "https://mail.google.com/"];
        let jwt = key
            .sign(&Assertion {
                subject: None,
                scopes: &scopes,
                issued_at: 1_800_000_000,
                lifetime_s: 7200,
            })
            .unwrap();
        let claims = oauthmail_standin::verify_id_token(jwt.expose()).expect("verified");
        assert_eq!(
            claims["scope"],
            "https://www.googleapis.com/auth/gmail.send https://mail.google.com/"
        );
        assert!(claims.get("sub").is_none());
        assert_eq!(claims["exp"], 1_800_003_600u64, "the lifetime is capped at one hour");
    }

    #[test]
    fn pkcs1_pem_keys_are_accepted_too() {
        // PKCS#8 wraps the PKCS#1 RSAPrivateKey: SEQUENCE { 0, AlgorithmIdentifier (15 bytes),
        // OCTET STRING (04 82 len len) { RSAPrivateKey } } for a 2048-bit key.
        let der = PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).unwrap();
        let der = der.secret_der();
        assert_eq!(&der[22..24], &[0x04, 0x82]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der[26..]);
        let mut pem = String::from("-----BEGIN RSA PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END RSA PRIVATE KEY-----\n");
        let pkcs1 = ServiceAccountKey::from_json(&key_file(json!({"private_key": pem}))).unwrap();
        let pkcs8 = ServiceAccountKey::from_json(&key_file(json!({}))).unwrap();
        assert_eq!(pkcs1.public_key_der(), pkcs8.public_key_der());
    }

    #[test]
    fn token_uri_defaults_to_googles_and_optional_fields_may_be_missing() {
        let key = ServiceAccountKey::from_json(&key_file(json!({"token_uri": null, "client_id": null}))).unwrap();
        assert_eq!(key.token_uri, GOOGLE_TOKEN_URI);
        assert_eq!(key.client_id, None);
        assert_eq!(key.project_id.as_deref(), Some("firma-erp"));
    }

    fn refused(text: &str) -> Error {
        ServiceAccountKey::from_json(text).expect_err("refused")
    }

    #[test]
    fn wrong_files_are_invalid_argument_with_the_field_and_never_quote_the_key() {
        let secret_marker = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        let cases = [
            ("not json", "not valid JSON".to_string()),
            ("[1, 2]", "not a JSON object".into()),
            (r#"{"installed": {"client_id": "x"}}"#, "OAuth client file".into()),
            (
                &key_file(json!({"type": "authorized_user"})),
                "\"authorized_user\", not \"service_account\"".into(),
            ),
            (&key_file(json!({"type": null})), "no \"type\"".into()),
            (&key_file(json!({"client_email": null})), "no \"client_email\"".into()),
            (&key_file(json!({"client_email": "nobody"})), "not an e-mail".into()),
            (&key_file(json!({"private_key_id": ""})), "no \"private_key_id\"".into()),
            (&key_file(json!({"private_key": null})), "no \"private_key\"".into()),
            (&key_file(json!({"private_key": 5})), "not a string".into()),
            (
                &key_file(
                    json!({"private_key": format!("-----BEGIN PRIVATE KEY-----\n{secret_marker}\n-----END PRIVATE KEY-----\n")}),
                ),
                "not a usable RSA key".into(),
            ),
            (
                &key_file(json!({"private_key": "garbage"})),
                "not a PEM private key".into(),
            ),
        ];
        for (text, expect) in &cases {
            let e = refused(text);
            assert_eq!(e.status, Status::InvalidArgument, "{text}");
            assert_eq!(e.field.as_deref(), Some(FIELD));
            assert!(e.message.contains(expect.as_str()), "{:?} lacks {expect:?}", e.message);
            assert!(
                !e.message.contains(secret_marker) && !e.message.contains("MII"),
                "{}",
                e.message
            );
        }
        // A truncated file: serde_json would quote it; only the position is reported.
        let text = key_file(json!({}));
        let e = refused(&text[..text.len() / 2]);
        assert!(e
            .message
            .starts_with("the service-account key file is not valid JSON (line 1, column"));
        assert!(!e.message.contains("MII"));
    }

    #[test]
    fn an_unreadable_file_is_io_with_the_field() {
        let e = ServiceAccountKey::from_file(Path::new("/nonexistent/oauthmail-sa.json")).unwrap_err();
        assert_eq!(e.status, Status::Io);
        assert_eq!(e.field.as_deref(), Some(FIELD));
        assert!(e.message.contains("/nonexistent/oauthmail-sa.json"));
    }

    #[test]
    fn debug_never_shows_the_key_and_the_assertion_is_a_secret() {
        let key = ServiceAccountKey::from_json(&key_file(json!({}))).unwrap();
        let d = format!("{key:?}");
        assert!(d.contains("erp-mailer@firma-erp.iam.gserviceaccount.com"));
        assert!(d.contains("<redacted>"));
        assert!(!d.contains("MII") && !d.contains("BEGIN"), "{d}");
        let scopes = ["https://mail.google.com/"];
        let jwt = key
            .sign(&Assertion {
                subject: Some("a@b.ro"),
                scopes: &scopes,
                issued_at: 1,
                lifetime_s: 60,
            })
            .unwrap();
        assert_eq!(format!("{jwt:?} {jwt}"), "<redacted> <redacted>");
        assert_eq!(token_form(&jwt)[0], ("grant_type", JWT_BEARER_GRANT));
        assert_eq!(token_form(&jwt)[1].1, jwt.expose());
    }

    #[test]
    fn refusals_are_classified_by_googles_error_and_description() {
        let c = |e: &str, d: &str| Refusal::classify(Some(e), Some(d));
        assert_eq!(
            c(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
            ),
            Refusal::Delegation
        );
        assert_eq!(c("invalid_grant", "Invalid email or User ID"), Refusal::UnknownSubject);
        assert_eq!(c("invalid_grant", "Invalid JWT Signature."), Refusal::BadSignature);
        assert_eq!(
            c("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."),
            Refusal::ClockSkew
        );
        assert_eq!(
            c("invalid_grant", "Invalid grant: account not found"),
            Refusal::AccountNotFound
        );
        assert_eq!(c("invalid_grant", "Bad Request"), Refusal::Other);
        assert_eq!(Refusal::classify(None, None), Refusal::Other);
    }
}
