//! RS256 id_tokens, signed with a fixed TEST-ONLY key (ring cannot generate RSA keys and
//! generating one per start would cost seconds in a debug build). The key is public in this
//! repository: nothing may ever trust it.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

/// TEST-ONLY RSA-2048 key in PKCS#8 PEM. Never use outside the stand-in.
const TEST_KEY_PEM: &str = include_str!("id_token_test_key.pem");
pub const KEY_ID: &str = "standin-test-key-1";

pub struct Signer {
    key: RsaKeyPair,
}

impl Signer {
    pub fn test_key() -> Signer {
        let b64: String = TEST_KEY_PEM
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        let der = STANDARD.decode(b64).expect("the embedded test key is valid base64");
        let key = RsaKeyPair::from_pkcs8(&der).expect("the embedded test key is a valid RSA key");
        Signer { key }
    }

    /// `header.claims.signature`, base64url without padding.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": KEY_ID, "typ": "JWT"});
        let mut input = URL_SAFE_NO_PAD.encode(header.to_string());
        input.push('.');
        input.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("RSA signing works");
        input.push('.');
        input.push_str(&URL_SAFE_NO_PAD.encode(sig));
        input
    }

    /// The JWKS document (`/oauth2/v3/certs`).
    pub fn jwks(&self) -> Value {
        let c: RsaPublicKeyComponents<Vec<u8>> = self.key.public().into();
        json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": KEY_ID,
            "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)
        }]})
    }

    /// Verifies a token signed by this key (used by the stand-in's own tests).
    pub fn verify(&self, token: &str) -> Option<Value> {
        let (input, sig) = token.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let c: RsaPublicKeyComponents<Vec<u8>> = self.key.public().into();
        c.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
            .ok()?;
        let claims = input.split('.').nth(1)?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}
