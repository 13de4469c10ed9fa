//! Service accounts with domain-wide delegation (issue 16; README "Service accounts").
//!
//! Google Cloud's side: service accounts (an e-mail, a numeric client id, RSA key pairs whose
//! public halves Google keeps; a created key is handed out once as the JSON key file). Google
//! Workspace's side: the domain's users and the administrator's domain-wide delegation table
//! (client id -> allowed scopes). The token endpoint's JWT-bearer grant (RFC 7523) checks an
//! assertion against both and issues an access token *for the subject*, which the Gmail API and
//! SMTP accept like a user's token (the same scope rules).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use serde_json::{json, Map, Value};

use crate::http::{percent_decode, percent_encode, Request, Response};
use crate::oauth::oauth_error;
use crate::state::{parse_scopes, random_string, Inner, Shared, HEX, KNOWN_SCOPES};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The longest assertion Google accepts: `exp - iat` at most one hour.
pub const MAX_LIFETIME_S: i64 = 3600;
/// How far in the future `iat` may be (the client's clock ahead of Google's). Google does not
/// publish its tolerance; the stand-in allows five minutes (README "Where the stand-in guesses").
pub const MAX_SKEW_S: i64 = 300;

pub const DEFAULT_DOMAIN_USERS: &[&str] = &["facturi@firma.ro", "contabilitate@firma.ro", "vanzari@firma.ro"];
pub const DEFAULT_SUSPENDED_USERS: &[&str] = &["fost.angajat@firma.ro"];

pub const UNAUTHORIZED_CLIENT: &str = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.";
pub const INVALID_SUBJECT: &str = "Invalid email or User ID";
pub const INVALID_SIGNATURE: &str = "Invalid JWT Signature.";
pub const BAD_TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
pub const ACCOUNT_NOT_FOUND: &str = "Invalid grant: account not found";
pub const EMPTY_SCOPE: &str = "Empty or missing scope not allowed.";
pub const INVALID_SCOPE: &str = "Invalid OAuth scope or ID token audience provided.";

/// One key of a service account: Google keeps only the public half (PKCS#1 DER).
#[derive(Clone, Debug)]
pub struct Key {
    pub id: String,
    pub public_pkcs1: Vec<u8>,
    /// `generated` (Google made the pair) or `uploaded` (the public key was registered).
    pub origin: &'static str,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub email: String,
    pub client_id: String,
    pub project_id: String,
    pub keys: Vec<Key>,
}

/// Everything of issue 16 that the stand-in keeps; part of `Inner`, so `/reset` forgets it.
#[derive(Clone, Debug)]
pub struct Registry {
    pub accounts: Vec<Account>,
    /// Admin console > Security > API controls > Domain-wide delegation: client id -> scopes.
    pub delegation: BTreeMap<String, Vec<String>>,
    /// The Workspace domain's users (subjects a delegated token may be issued for).
    pub domain_users: Vec<String>,
    /// Users that exist but are suspended: Google answers as for an unknown user.
    pub suspended_users: Vec<String>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            accounts: Vec::new(),
            delegation: BTreeMap::new(),
            domain_users: DEFAULT_DOMAIN_USERS.iter().map(|s| s.to_string()).collect(),
            suspended_users: DEFAULT_SUSPENDED_USERS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Registry {
    pub fn account(&self, email: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.email.eq_ignore_ascii_case(email))
    }

    fn account_mut(&mut self, email: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.email.eq_ignore_ascii_case(email))
    }

    /// The canonical address of an active (not suspended) domain user.
    pub fn active_user(&self, email: &str) -> Option<String> {
        if self.suspended_users.iter().any(|u| u.eq_ignore_ascii_case(email)) {
            return None;
        }
        self.domain_users
            .iter()
            .find(|u| u.eq_ignore_ascii_case(email))
            .cloned()
    }

    /// Is `email` a service account (its own tokens are not a mailbox's)?
    pub fn is_service_account(&self, email: &str) -> bool {
        self.account(email).is_some()
    }
}

/// Counts one JWT-bearer request: `token.jwt_bearer`, and `jwt_bearer_by_subject` under the
/// assertion's `sub` (lower-cased; its `iss` when it has none), before any check.
pub fn count(st: &mut Inner, form: &[(String, String)]) {
    st.counters.token.jwt_bearer += 1;
    let claims = form
        .iter()
        .find(|(k, _)| k == "assertion")
        .and_then(|(_, a)| decode_part(a.split('.').nth(1)?));
    let who = claims
        .as_ref()
        .and_then(|c| c.get("sub").or_else(|| c.get("iss")))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    *st.counters.jwt_bearer_by_subject.entry(who).or_insert(0) += 1;
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

// ---------------------------------------------------------------------------------------------
// Keys

/// A fresh RSA-2048 pair (Google's key size): the PKCS#8 PEM private key and the PKCS#1 DER
/// public key. Takes a fraction of a second (the workspace profile optimises the bignum crates).
fn generate_pair() -> Result<(String, Vec<u8>), String> {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| format!("RSA key generation: {e}"))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("PKCS#8 encoding: {e}"))?;
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| format!("PKCS#1 encoding: {e}"))?;
    Ok((pem.to_string(), public.as_bytes().to_vec()))
}

/// A registered public key: SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`) PEM.
fn parse_public_pem(pem: &str) -> Result<Vec<u8>, String> {
    let key = rsa::PublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| rsa::PublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| "public_key_pem is not an RSA public key in PEM (SPKI or PKCS#1)".to_string())?;
    let der = key.to_pkcs1_der().map_err(|e| format!("PKCS#1 encoding: {e}"))?;
    Ok(der.as_bytes().to_vec())
}

fn new_key_id() -> String {
    random_string(40, HEX)
}

/// Google's key file for `account` with a newly generated key, in Google's field order.
fn key_file(shared: &Shared, account: &Account, key_id: &str, private_pem: &str) -> Value {
    let info = shared.info.get();
    let token_uri = info.map(|i| i.token_endpoint.clone()).unwrap_or_default();
    let base = info.map(|i| i.gmail_api.clone()).unwrap_or_default();
    let mut m = Map::new();
    m.insert("type".into(), json!("service_account"));
    m.insert("project_id".into(), json!(account.project_id));
    m.insert("private_key_id".into(), json!(key_id));
    m.insert("private_key".into(), json!(private_pem));
    m.insert("client_email".into(), json!(account.email));
    m.insert("client_id".into(), json!(account.client_id));
    m.insert("auth_uri".into(), json!(format!("{base}/o/oauth2/auth")));
    m.insert("token_uri".into(), json!(token_uri));
    m.insert(
        "auth_provider_x509_cert_url".into(),
        json!(format!("{base}/oauth2/v1/certs")),
    );
    m.insert(
        "client_x509_cert_url".into(),
        json!(format!(
            "{base}/robot/v1/metadata/x509/{}",
            percent_encode(&account.email)
        )),
    );
    m.insert("universe_domain".into(), json!("googleapis.com"));
    Value::Object(m)
}

fn account_json(a: &Account) -> Value {
    json!({
        "email": a.email,
        "client_id": a.client_id,
        "project_id": a.project_id,
        "keys": a.keys.iter().map(|k| json!({"private_key_id": k.id, "origin": k.origin})).collect::<Vec<_>>(),
    })
}

/// A 21-digit numeric client id, like Google's service-account unique ids.
fn new_client_id() -> String {
    let digits = random_string(20, b"0123456789");
    format!("1{digits}")
}

fn valid_name(name: &str) -> bool {
    (6..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

// ---------------------------------------------------------------------------------------------
// Control plane

fn ok(v: Value) -> Response {
    Response::json(200, &v)
}

fn err(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({ "error": msg }))
}

fn body(req: &Request) -> Result<Value, Response> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body).map_err(|e| err(400, &format!("invalid JSON body: {e}")))
}

fn scope_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(parse_scopes(s)),
        Value::Array(a) => Some(parse_scopes(
            &a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        )),
        _ => None,
    }
}

fn string_list(v: Option<&Value>, field: &str) -> Result<Option<Vec<String>>, Response> {
    match v {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| err(400, &format!("\"{field}\" must be an array of strings"))),
        Some(_) => Err(err(400, &format!("\"{field}\" must be an array of strings"))),
    }
}

/// The control-plane routes of this module; `None` when the path is not one of them.
pub fn control(shared: &Shared, req: &Request) -> Option<Response> {
    let path = req.path.trim_end_matches('/');
    let parts: Vec<String> = path.trim_start_matches('/').split('/').map(percent_decode).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    route(shared, &req.method, &parts, body(req))
}

fn route(shared: &Shared, method: &str, parts: &[&str], body: Result<Value, Response>) -> Option<Response> {
    let r = match (method, parts) {
        ("GET", ["service_accounts"]) => {
            let st = shared.lock();
            ok(Value::Array(
                st.service_accounts.accounts.iter().map(account_json).collect(),
            ))
        }
        ("POST", ["service_accounts"]) => create_account(shared, body),
        ("GET", ["service_accounts", email]) => match shared.lock().service_accounts.account(email) {
            Some(a) => ok(account_json(a)),
            None => err(404, "no such service account"),
        },
        ("POST", ["service_accounts", email, "keys"]) => add_key(shared, body, email),
        ("DELETE", ["service_accounts", email, "keys", kid]) => {
            let mut st = shared.lock();
            let Some(a) = st.service_accounts.account_mut(email) else {
                return Some(err(404, "no such service account"));
            };
            let before = a.keys.len();
            a.keys.retain(|k| k.id != *kid);
            if a.keys.len() == before {
                err(404, "no such key")
            } else {
                ok(json!({}))
            }
        }
        ("DELETE", ["service_accounts", email]) => {
            let mut st = shared.lock();
            let before = st.service_accounts.accounts.len();
            st.service_accounts
                .accounts
                .retain(|a| !a.email.eq_ignore_ascii_case(email));
            if st.service_accounts.accounts.len() == before {
                err(404, "no such service account")
            } else {
                ok(json!({}))
            }
        }
        ("GET", ["delegation"]) => ok(json!(shared.lock().service_accounts.delegation)),
        ("POST", ["delegation"]) => set_delegation(shared, body),
        ("DELETE", ["delegation", client_id]) => {
            let removed = shared.lock().service_accounts.delegation.remove(*client_id);
            match removed {
                Some(_) => ok(json!({})),
                None => err(404, "no delegation for that client id"),
            }
        }
        ("GET", ["workspace"]) => ok(workspace_json(&shared.lock())),
        ("POST", ["workspace"]) => {
            let b = match body {
                Ok(b) => b,
                Err(r) => return Some(r),
            };
            if let Some(k) = b.as_object().and_then(|o| {
                o.keys()
                    .find(|k| !matches!(k.as_str(), "domain_users" | "suspended_users"))
                    .cloned()
            }) {
                return Some(err(400, &format!("unknown field {k:?}")));
            }
            let users = match string_list(b.get("domain_users"), "domain_users") {
                Ok(u) => u,
                Err(r) => return Some(r),
            };
            let suspended = match string_list(b.get("suspended_users"), "suspended_users") {
                Ok(u) => u,
                Err(r) => return Some(r),
            };
            let mut st = shared.lock();
            if let Some(u) = users {
                st.service_accounts.domain_users = u;
            }
            if let Some(u) = suspended {
                st.service_accounts.suspended_users = u;
            }
            ok(workspace_json(&st))
        }
        _ => return None,
    };
    Some(r)
}

fn workspace_json(st: &Inner) -> Value {
    json!({
        "domain_users": st.service_accounts.domain_users,
        "suspended_users": st.service_accounts.suspended_users,
    })
}

fn create_account(shared: &Shared, body: Result<Value, Response>) -> Response {
    let b = match body {
        Ok(b) => b,
        Err(r) => return r,
    };
    let name = b.get("name").and_then(Value::as_str).unwrap_or("oauthmail-sender");
    let project = b.get("project_id").and_then(Value::as_str).unwrap_or("standin-project");
    if !valid_name(name) {
        return err(
            400,
            "\"name\" must be 6-30 characters: lowercase letters, digits, hyphens, starting with a letter",
        );
    }
    if !valid_name(project) {
        return err(
            400,
            "\"project_id\" must be 6-30 characters: lowercase letters, digits, hyphens, starting with a letter",
        );
    }
    let email = format!("{name}@{project}.iam.gserviceaccount.com");
    if shared.lock().service_accounts.account(&email).is_some() {
        return err(400, &format!("service account {email} already exists"));
    }
    let (private_pem, public) = match generate_pair() {
        Ok(p) => p,
        Err(e) => return err(500, &e),
    };
    let key = Key {
        id: new_key_id(),
        public_pkcs1: public,
        origin: "generated",
    };
    let account = Account {
        email: email.clone(),
        client_id: new_client_id(),
        project_id: project.to_string(),
        keys: vec![key.clone()],
    };
    let file = key_file(shared, &account, &key.id, &private_pem);
    let mut st = shared.lock();
    if st.service_accounts.account(&email).is_some() {
        return err(400, &format!("service account {email} already exists"));
    }
    st.service_accounts.accounts.push(account);
    drop(st);
    shared.log(&format!("control: service account {email} created"));
    ok(file)
}

fn add_key(shared: &Shared, body: Result<Value, Response>, email: &str) -> Response {
    let b = match body {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(account) = shared.lock().service_accounts.account(email).cloned() else {
        return err(404, "no such service account");
    };
    let (key, answer) = match b.get("public_key_pem") {
        Some(Value::String(pem)) => match parse_public_pem(pem) {
            Ok(public) => {
                let id = new_key_id();
                let answer =
                    json!({"private_key_id": id, "client_email": account.email, "client_id": account.client_id});
                (
                    Key {
                        id,
                        public_pkcs1: public,
                        origin: "uploaded",
                    },
                    answer,
                )
            }
            Err(e) => return err(400, &e),
        },
        Some(_) => return err(400, "\"public_key_pem\" must be a string"),
        None => match generate_pair() {
            Ok((private_pem, public)) => {
                let id = new_key_id();
                let file = key_file(shared, &account, &id, &private_pem);
                (
                    Key {
                        id,
                        public_pkcs1: public,
                        origin: "generated",
                    },
                    file,
                )
            }
            Err(e) => return err(500, &e),
        },
    };
    let mut st = shared.lock();
    let Some(a) = st.service_accounts.account_mut(email) else {
        return err(404, "no such service account");
    };
    // Google allows at most 10 keys per service account.
    if a.keys.len() >= 10 {
        return err(400, "a service account has at most 10 keys");
    }
    a.keys.push(key);
    ok(answer)
}

fn set_delegation(shared: &Shared, body: Result<Value, Response>) -> Response {
    let b = match body {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(client_id) = b.get("client_id").and_then(Value::as_str) else {
        return err(400, "\"client_id\" is required");
    };
    let Some(scopes) = b.get("scope").and_then(scope_list) else {
        return err(400, "\"scope\" is required (string or array)");
    };
    if let Some(bad) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return err(400, &format!("unknown scope {bad}"));
    }
    // The Admin console takes any numeric client id (the account may live in another project).
    if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_digit()) {
        return err(
            400,
            "\"client_id\" must be the service account's numeric client id (not its e-mail)",
        );
    }
    let mut st = shared.lock();
    st.service_accounts
        .delegation
        .insert(client_id.to_string(), scopes.clone());
    ok(json!({"client_id": client_id, "scope": scopes.join(" ")}))
}

// ---------------------------------------------------------------------------------------------
// The token endpoint's JWT-bearer grant

fn invalid_grant(description: &str) -> Response {
    oauth_error(400, "invalid_grant", description)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`, checked in this order:
/// the assertion's form, the issuer (a service account), the signature (by `kid`, else any key
/// of the account), `aud`, `iat`/`exp`, `scope`, then for a `sub` the domain user and the
/// delegation of every requested scope.
pub fn token(shared: &Shared, form: &[(String, String)]) -> Response {
    let Some(assertion) = form
        .iter()
        .find(|(k, _)| k == "assertion")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
    else {
        return oauth_error(400, "invalid_request", "Missing required parameter: assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let (Some(header), Some(claims), Some(signature), 3) = (
        parts.first().and_then(|p| decode_part(p)),
        parts.get(1).and_then(|p| decode_part(p)),
        parts.get(2).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()),
        parts.len(),
    ) else {
        return invalid_grant("Invalid JWT format.");
    };
    let Some(iss) = claims.get("iss").and_then(Value::as_str) else {
        return invalid_grant(ACCOUNT_NOT_FOUND);
    };
    let st = shared.lock();
    let Some(account) = st.service_accounts.account(iss).cloned() else {
        drop(st);
        shared.log("token: jwt-bearer for an unknown service account");
        return invalid_grant(ACCOUNT_NOT_FOUND);
    };
    let now = st.now();
    let domain = st.service_accounts.clone();
    drop(st);

    let signed = &assertion[..parts[0].len() + 1 + parts[1].len()];
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Key> = account
        .keys
        .iter()
        .filter(|k| kid.is_none_or(|id| id == k.id))
        .collect();
    let verified = header.get("alg").and_then(Value::as_str) == Some("RS256")
        && candidates.iter().any(|k| {
            ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &k.public_pkcs1)
                .verify(signed.as_bytes(), &signature)
                .is_ok()
        });
    if !verified {
        shared.log(&format!("token: jwt-bearer signature refused for {}", account.email));
        return invalid_grant(INVALID_SIGNATURE);
    }

    let token_endpoint = shared.info.get().map(|i| i.token_endpoint.clone()).unwrap_or_default();
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default();
    if !audience_ok(aud, &token_endpoint) {
        return invalid_grant(&format!(
            "Invalid JWT: Failed audience check. The right audience is {token_endpoint}"
        ));
    }

    let iat = claims.get("iat").and_then(Value::as_i64);
    let exp = claims.get("exp").and_then(Value::as_i64);
    let timely = match (iat, exp) {
        (Some(iat), Some(exp)) => exp > iat && exp - iat <= MAX_LIFETIME_S && iat <= now + MAX_SKEW_S && exp > now,
        _ => false,
    };
    if !timely {
        shared.log(&format!("token: jwt-bearer iat/exp out of range for {}", account.email));
        return invalid_grant(BAD_TIMEFRAME);
    }

    let scopes = parse_scopes(claims.get("scope").and_then(Value::as_str).unwrap_or_default());
    if scopes.is_empty() {
        return oauth_error(400, "invalid_scope", EMPTY_SCOPE);
    }
    if scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return oauth_error(400, "invalid_scope", INVALID_SCOPE);
    }

    let user = match claims.get("sub").and_then(Value::as_str) {
        Some(sub) => {
            let Some(user) = domain.active_user(sub) else {
                shared.log(&format!(
                    "token: jwt-bearer subject not an active domain user ({})",
                    account.email
                ));
                return invalid_grant(INVALID_SUBJECT);
            };
            let allowed = domain.delegation.get(&account.client_id);
            if !allowed.is_some_and(|a| scopes.iter().all(|s| a.contains(s))) {
                shared.log(&format!(
                    "token: jwt-bearer without delegation for client {}",
                    account.client_id
                ));
                return oauth_error(401, "unauthorized_client", UNAUTHORIZED_CLIENT);
            }
            user
        }
        // The service account's own token: no mailbox behind it.
        None => account.email.clone(),
    };

    let mut st = shared.lock();
    let (access, lifetime) = st.issue_access(&user, &account.client_id, &scopes);
    drop(st);
    shared.log(&format!("token: jwt-bearer ok for client {}", account.client_id));
    let mut m = Map::new();
    m.insert("access_token".into(), json!(access));
    m.insert("expires_in".into(), json!(lifetime));
    m.insert("token_type".into(), json!("Bearer"));
    crate::oauth::google_json(200, &Value::Object(m))
}

/// The stand-in's token URLs (what its key files name as `token_uri`; `localhost` for
/// `127.0.0.1` too, as Wine clients need) and Google's own audience, which some client libraries
/// always send.
fn audience_ok(aud: &str, token_endpoint: &str) -> bool {
    let aud = aud.replacen("://localhost:", "://127.0.0.1:", 1);
    let aud = aud.as_str();
    if aud == "https://oauth2.googleapis.com/token" || aud == token_endpoint {
        return true;
    }
    let base = token_endpoint.trim_end_matches("/token");
    ["/o/oauth2/token", "/oauth2/v4/token", "/oauth2/v3/token"]
        .iter()
        .any(|p| aud == format!("{base}{p}"))
}

// ---------------------------------------------------------------------------------------------
// The same from Rust (tests that start the stand-in in-process)

impl crate::Standin {
    /// Like `POST /service_accounts {"name": name}`: the key file of a new service account.
    pub fn create_service_account(&self, name: &str) -> Result<Value, String> {
        self.service_account_call("POST", &["service_accounts"], json!({ "name": name }))
    }

    /// Like `POST /delegation`: allows `client_id` the `scopes` for every user of the domain.
    pub fn delegate(&self, client_id: &str, scopes: &[&str]) -> Result<(), String> {
        let body = json!({"client_id": client_id, "scope": scopes});
        self.service_account_call("POST", &["delegation"], body).map(drop)
    }

    /// Like `POST /service_accounts/EMAIL/keys` (no body): a new generated key, as its key file.
    pub fn add_service_account_key(&self, email: &str) -> Result<Value, String> {
        self.service_account_call("POST", &["service_accounts", email, "keys"], json!({}))
    }

    /// Like `DELETE /service_accounts/EMAIL/keys/KID`.
    pub fn delete_service_account_key(&self, email: &str, kid: &str) -> Result<(), String> {
        self.service_account_call("DELETE", &["service_accounts", email, "keys", kid], json!({}))
            .map(drop)
    }

    fn service_account_call(&self, method: &str, parts: &[&str], body: Value) -> Result<Value, String> {
        let r = route(&self.shared, method, parts, Ok(body)).ok_or("not a service-account control route")?;
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        if r.status == 200 {
            Ok(v)
        } else {
            Err(v["error"].as_str().unwrap_or("control-plane error").to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pairs_are_2048_bit_pkcs8_that_ring_signs_and_verifies() {
        let (pem, public) = generate_pair().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", &pem[..30]);
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
        assert_eq!(pair.public().modulus_len(), 256);
        let mut sig = vec![0u8; 256];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            b"x.y",
            &mut sig,
        )
        .unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &public)
            .verify(b"x.y", &sig)
            .unwrap();
    }

    #[test]
    fn audiences_are_the_standin_token_urls_and_googles() {
        let t = "https://127.0.0.1:4000/token";
        assert!(audience_ok(t, t));
        assert!(audience_ok("https://127.0.0.1:4000/oauth2/v4/token", t));
        assert!(audience_ok("https://oauth2.googleapis.com/token", t));
        assert!(audience_ok("https://localhost:4000/token", t));
        assert!(!audience_ok("https://127.0.0.1:4001/token", t));
        assert!(!audience_ok("", t));
    }

    #[test]
    fn names_follow_googles_account_id_rule() {
        assert!(valid_name("erp-mailer"));
        assert!(!valid_name("erp"));
        assert!(!valid_name("Erp-mailer"));
        assert!(!valid_name("erp-mailer-"));
        assert!(!valid_name("1erp-mailer"));
    }
}
