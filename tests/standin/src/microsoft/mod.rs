//! Microsoft 365 / Outlook.com (README "Microsoft"): the identity platform v2 (`identity`),
//! Microsoft Graph mail (`graph`) and Outlook SMTP submission (`smtp`). Everything Microsoft keeps
//! its state in [`MsState`] (one field of the shared `Inner`, so `POST /reset` and the clock apply)
//! and its control plane under `/microsoft/...` of the control port.

pub mod graph;
pub mod identity;
pub mod smtp;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::state::{random_string, Inner, Shared, HEX};

/// The directory tenant of the work accounts.
pub const TENANT_ID: &str = "6f1c8a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// Microsoft's fixed tenant id of personal accounts (MSA).
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The "Mobile and desktop applications" registration with "Allow public client flows": no secret.
pub const PUBLIC_CLIENT_ID: &str = "0d3b7c4e-2f6a-4b8e-9c1d-5a7e3f9b2c61";
/// A "Web" (confidential) registration: must send its secret.
pub const CONFIDENTIAL_CLIENT_ID: &str = "a7c94e12-5b3d-4f8a-b6e0-2d1c9f7a3e58";
/// A test value, published on purpose.
pub const CONFIDENTIAL_CLIENT_SECRET: &str = "Stn8Q~standin.test-only.secret.value";
pub const APP_NAME: &str = "oauthmail test app (Microsoft)";
pub const WORK_USERS: &[&str] = &[
    "erp.test@contoso.onmicrosoft.com",
    "second.test@contoso.onmicrosoft.com",
];
pub const PERSONAL_USERS: &[&str] = &["erp.test@outlook.com"];
/// A shared mailbox; `erp.test@contoso.onmicrosoft.com` holds Full Access + Send As on it.
pub const SHARED_MAILBOX: &str = "office@contoso.onmicrosoft.com";

pub const OUTLOOK_RESOURCE: &str = "https://outlook.office.com";
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// The `aud` of Graph access tokens (Microsoft Graph's application id).
pub const GRAPH_AUDIENCE: &str = "00000003-0000-0000-c000-000000000000";
pub const SMTP_SEND: &str = "https://outlook.office.com/SMTP.Send";
pub const MAIL_SEND: &str = "https://graph.microsoft.com/Mail.Send";
pub const MAIL_READWRITE: &str = "https://graph.microsoft.com/Mail.ReadWrite";

/// The `standin.json` entry `microsoft`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MsInfo {
    /// `{authority}/{tenant}/oauth2/v2.0/authorize` and `.../token`.
    pub authority: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// `POST {graph}/v1.0/me/sendMail`.
    pub graph: String,
    /// Outlook SMTP submission (plain, then STARTTLS).
    pub smtp_starttls: String,
    pub tenant_id: String,
    pub tenant_domain: String,
    pub public_client_id: String,
    pub confidential_client_id: String,
    pub confidential_client_secret: String,
    pub work_users: Vec<String>,
    pub personal_users: Vec<String>,
    pub shared_mailbox: String,
}

impl MsInfo {
    pub fn new(base: &str, smtp_port: u16) -> MsInfo {
        MsInfo {
            authority: base.to_string(),
            authorization_endpoint: format!("{base}/common/oauth2/v2.0/authorize"),
            token_endpoint: format!("{base}/common/oauth2/v2.0/token"),
            graph: base.to_string(),
            smtp_starttls: format!("smtp://127.0.0.1:{smtp_port}"),
            tenant_id: TENANT_ID.into(),
            tenant_domain: TENANT_DOMAIN.into(),
            public_client_id: PUBLIC_CLIENT_ID.into(),
            confidential_client_id: CONFIDENTIAL_CLIENT_ID.into(),
            confidential_client_secret: CONFIDENTIAL_CLIENT_SECRET.into(),
            work_users: WORK_USERS.iter().map(|s| s.to_string()).collect(),
            personal_users: PERSONAL_USERS.iter().map(|s| s.to_string()).collect(),
            shared_mailbox: SHARED_MAILBOX.into(),
        }
    }
}

/// The Microsoft switches of the control plane (README "Microsoft settings").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsSettings {
    pub auto_approve: bool,
    pub access_token_lifetime_s: i64,
    pub code_lifetime_s: i64,
    pub refresh_inactivity_s: i64,
    pub require_pkce: bool,
    pub smtp_auth_disabled_tenant: bool,
    pub smtp_auth_disabled_mailboxes: Vec<String>,
    pub mfa_required: bool,
    pub mfa_expired: bool,
    pub conditional_access_blocked: bool,
    pub consent_missing: bool,
    pub graph_request_limit_bytes: usize,
    pub max_message_bytes: usize,
    pub upload_chunk_multiple: usize,
    pub upload_session_min_bytes: usize,
    pub inline_attachment_max_bytes: usize,
}

impl Default for MsSettings {
    fn default() -> Self {
        MsSettings {
            auto_approve: false,
            access_token_lifetime_s: 3599,
            code_lifetime_s: 600,
            refresh_inactivity_s: 90 * 86_400,
            require_pkce: false,
            smtp_auth_disabled_tenant: false,
            smtp_auth_disabled_mailboxes: Vec::new(),
            mfa_required: false,
            mfa_expired: false,
            conditional_access_blocked: false,
            consent_missing: false,
            graph_request_limit_bytes: 4 * 1024 * 1024,
            max_message_bytes: 35 * 1024 * 1024,
            upload_chunk_multiple: 327_680,
            upload_session_min_bytes: 3 * 1024 * 1024,
            inline_attachment_max_bytes: 3 * 1024 * 1024,
        }
    }
}

/// One pending Microsoft fault (README "Microsoft faults").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsFault {
    #[serde(default)]
    pub id: u64,
    /// `graph` (any Graph call), `upload` (a PUT of an upload session), `token`, `smtp`.
    pub target: String,
    /// `throttle` (429/503 + Retry-After; SMTP: 432) or `drop` (close without answering).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// For `drop`: process the request first (true) or lose it unprocessed (false, default).
    #[serde(default)]
    pub processed: bool,
    /// Matching requests let through before the fault fires.
    #[serde(default)]
    pub skip: u32,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl MsFault {
    fn validate(&self) -> Result<(), String> {
        if !matches!(self.target.as_str(), "graph" | "upload" | "token" | "smtp") {
            return Err("target is graph, upload, token or smtp".into());
        }
        if !matches!(self.kind.as_str(), "throttle" | "drop") {
            return Err("kind is throttle or drop".into());
        }
        if let Some(s) = self.status {
            if s != 429 && s != 503 {
                return Err("a throttle status is 429 or 503".into());
            }
        }
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct MsFlow {
    pub tenant: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub nonce: Option<String>,
    pub prompt: String,
    pub account: Option<String>,
    pub created: i64,
}

#[derive(Clone, Debug)]
pub struct MsCode {
    pub user: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub nonce: Option<String>,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Clone, Debug)]
pub struct MsRefresh {
    pub user: String,
    pub client_id: String,
    pub issued_at: i64,
    pub last_used: i64,
    /// Replaced by a newer refresh token of the same chain (rotation).
    pub replaced: bool,
    /// Revoked by `POST /microsoft/revoke_sessions` (answers AADSTS50173).
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub struct MsAccess {
    pub user: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub is_inline: bool,
    pub content_id: Option<String>,
    pub via: &'static str,
}

#[derive(Clone, Debug)]
pub struct Draft {
    pub id: String,
    pub mailbox: String,
    pub message: Value,
    /// A draft created from MIME keeps the bytes.
    pub mime: Option<Vec<u8>>,
    pub attachments: Vec<Attachment>,
    pub created: i64,
}

#[derive(Clone, Debug)]
pub struct MsUpload {
    pub authtoken: String,
    pub mailbox: String,
    pub draft_id: String,
    pub name: String,
    pub content_type: String,
    pub is_inline: bool,
    pub content_id: Option<String>,
    pub size: usize,
    pub bytes: Vec<u8>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MsCounters {
    pub authorize: u64,
    pub token_authorization_code: u64,
    pub token_refresh_token: u64,
    pub token_errors: u64,
    pub graph_requests: u64,
    pub graph_messages: u64,
    pub graph_drafts_deleted: u64,
    pub upload_chunks: u64,
    pub smtp_connections: u64,
    pub smtp_auth_ok: u64,
    pub smtp_auth_failed: u64,
    pub smtp_messages: u64,
}

#[derive(Default)]
pub struct MsState {
    pub settings: MsSettings,
    pub flows: HashMap<String, MsFlow>,
    pub codes: HashMap<String, MsCode>,
    /// (user, client_id) -> consented scopes.
    pub grants: HashMap<(String, String), Vec<String>>,
    pub refresh: HashMap<String, MsRefresh>,
    pub access: HashMap<String, MsAccess>,
    /// user -> when its sessions were last revoked (the TokensValidFrom of AADSTS50173).
    pub valid_from: HashMap<String, i64>,
    pub drafts: HashMap<String, Draft>,
    pub uploads: HashMap<String, MsUpload>,
    pub faults: Vec<MsFault>,
    pub next_fault_id: u64,
    pub counters: MsCounters,
}

impl MsState {
    /// Takes one use of the first fault for `target` (after its `skip`).
    pub fn take_fault(&mut self, target: &str) -> Option<MsFault> {
        let pos = self.faults.iter().position(|f| f.target == target)?;
        if self.faults[pos].skip > 0 {
            self.faults[pos].skip -= 1;
            return None;
        }
        let f = self.faults[pos].clone();
        self.faults[pos].count -= 1;
        if self.faults[pos].count == 0 {
            self.faults.remove(pos);
        }
        Some(f)
    }

    /// The live access token (not expired on the stand-in clock, not revoked by `valid_from`).
    pub fn live_access(&self, token: &str, now: i64) -> Option<MsAccess> {
        let a = self.access.get(token)?;
        (a.expires_at > now && !a.revoked).then(|| a.clone())
    }

    pub fn record_grant(&mut self, user: &str, client_id: &str, scopes: &[String]) {
        let g = self.grants.entry((user.into(), client_id.into())).or_default();
        for s in scopes {
            if !g.contains(s) {
                g.push(s.clone());
            }
        }
    }

    pub fn has_grant(&self, user: &str, client_id: &str, scopes: &[String]) -> bool {
        self.grants
            .get(&(user.to_string(), client_id.to_string()))
            .is_some_and(|g| scopes.iter().all(|s| g.contains(s)))
    }

    /// Full Access / Send As of `user` on `mailbox` (itself, or the shared mailbox's delegate).
    pub fn may_act_for(user: &str, mailbox: &str) -> bool {
        user.eq_ignore_ascii_case(mailbox)
            || (mailbox.eq_ignore_ascii_case(SHARED_MAILBOX) && user.eq_ignore_ascii_case(WORK_USERS[0]))
    }
}

pub fn is_personal(user: &str) -> bool {
    PERSONAL_USERS.iter().any(|u| u.eq_ignore_ascii_case(user))
}

/// The canonical spelling of a known account (work, personal, or the shared mailbox).
pub fn find_account(email: &str) -> Option<&'static str> {
    WORK_USERS
        .iter()
        .chain(PERSONAL_USERS.iter())
        .find(|u| u.eq_ignore_ascii_case(email))
        .copied()
}

pub fn find_mailbox(email: &str) -> Option<&'static str> {
    find_account(email).or_else(|| SHARED_MAILBOX.eq_ignore_ascii_case(email).then_some(SHARED_MAILBOX))
}

/// A stable object id per account.
pub fn oid_for(email: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, email.to_ascii_lowercase().as_bytes());
    let h: String = d.as_ref().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn tenant_of(email: &str) -> &'static str {
    if is_personal(email) {
        CONSUMERS_TENANT_ID
    } else {
        TENANT_ID
    }
}

/// A response cut off after its head and half its body (a dropped connection).
pub fn dropped() -> Response {
    let mut r = Response::new(200, "application/json", vec![b' '; 256]);
    r.action = crate::http::Action::Drop;
    r
}

pub fn guid() -> String {
    let h = random_string(32, HEX);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `2026-12-03 08:14:08Z` (the AADSTS `timestamp` form).
pub fn aad_timestamp(t: i64) -> String {
    let (y, m, d) = crate::tls::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `2026-12-03T08:14:08` (Graph's innerError `date`).
pub fn iso_seconds(t: i64) -> String {
    aad_timestamp(t).replace(' ', "T").trim_end_matches('Z').to_string()
}

/// `2026-12-03T08:14:08.0000000Z` (Graph DateTimeOffset values).
pub fn iso_graph(t: i64) -> String {
    format!("{}.0000000Z", iso_seconds(t))
}

/// Routes the Microsoft paths of the web port; `None` for anything else.
pub fn route(shared: &Shared, req: &Request) -> Option<Response> {
    let path = crate::http::percent_decode(&req.path);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [tenant, "oauth2", "v2.0", rest @ ..] => identity::handle(shared, req, tenant, rest),
        [tenant, "v2.0", ".well-known", "openid-configuration"] => Some(identity::discovery(shared, tenant)),
        [_, "discovery", "v2.0", "keys"] => Some(identity::keys(shared)),
        ["v1.0", rest @ ..] => Some(graph::handle(shared, req, rest)),
        ["api", "v2.0", ..] if path.contains("/AttachmentSessions('") => Some(graph::upload(shared, req, &path)),
        _ => None,
    }
}

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

fn merge_settings(cur: &MsSettings, patch: &Value) -> Result<MsSettings, String> {
    let mut v = serde_json::to_value(cur).map_err(|e| e.to_string())?;
    let Value::Object(p) = patch else {
        return Err("the body must be a JSON object".into());
    };
    for (k, val) in p {
        if v.get(k).is_none() {
            return Err(format!("unknown setting {k:?}"));
        }
        v[k] = val.clone();
    }
    let s: MsSettings = serde_json::from_value(v).map_err(|e| e.to_string())?;
    if s.upload_chunk_multiple == 0 {
        return Err("upload_chunk_multiple must be at least 1".into());
    }
    Ok(s)
}

/// The control plane's `/microsoft/...` endpoints; `None` for other paths.
pub fn control(shared: &Shared, req: &Request) -> Option<Response> {
    let path = req.path.trim_end_matches('/');
    let rest = path.strip_prefix("/microsoft")?;
    let r = match control_inner(shared, req, rest) {
        Ok(r) | Err(r) => r,
    };
    Some(r)
}

fn control_inner(shared: &Shared, req: &Request, rest: &str) -> Result<Response, Response> {
    let m = req.method.as_str();
    Ok(match (m, rest) {
        ("GET", "/settings") => ok(serde_json::to_value(&shared.lock().ms.settings).unwrap_or_default()),
        ("POST", "/settings") => {
            let patch = body(req)?;
            let mut st = shared.lock();
            st.ms.settings = merge_settings(&st.ms.settings, &patch).map_err(|e| err(400, &e))?;
            ok(serde_json::to_value(&st.ms.settings).unwrap_or_default())
        }
        ("POST", "/tokens") => {
            let b = body(req)?;
            let email = b["email"].as_str().ok_or_else(|| err(400, "\"email\" is required"))?;
            let scope = b["scope"].as_str().ok_or_else(|| err(400, "\"scope\" is required"))?;
            let client = b["client_id"].as_str().unwrap_or(PUBLIC_CLIENT_ID);
            ok(identity::mint(shared, email, scope, client).map_err(|e| err(400, &e))?)
        }
        ("POST", "/revoke_sessions") => {
            // Like "Revoke sessions" / a password reset: every token issued until now fails.
            let b = body(req)?;
            let email = b["email"].as_str().ok_or_else(|| err(400, "\"email\" is required"))?;
            let user = find_account(email).ok_or_else(|| err(400, "unknown account"))?;
            let mut st = shared.lock();
            let now = st.now();
            st.ms.valid_from.insert(user.to_string(), now);
            let mut n = 0;
            for r in st.ms.refresh.values_mut().filter(|r| r.user == user && !r.revoked) {
                r.revoked = true;
                n += 1;
            }
            for a in st.ms.access.values_mut().filter(|a| a.user == user && !a.revoked) {
                a.revoked = true;
                n += 1;
            }
            ok(json!({"email": user, "revoked": n}))
        }
        ("POST", "/consent/remove") => {
            let b = body(req)?;
            let email = b["email"].as_str().ok_or_else(|| err(400, "\"email\" is required"))?;
            let user = find_account(email).ok_or_else(|| err(400, "unknown account"))?;
            let client = b["client_id"].as_str().unwrap_or(PUBLIC_CLIENT_ID).to_string();
            let mut st = shared.lock();
            let had = st.ms.grants.remove(&(user.to_string(), client)).is_some();
            ok(json!({"removed": had}))
        }
        ("GET", "/grants") => {
            let st = shared.lock();
            let mut out: Vec<Value> = st
                .ms
                .grants
                .iter()
                .map(|((u, c), s)| {
                    let live = st
                        .ms
                        .refresh
                        .values()
                        .filter(|r| &r.user == u && &r.client_id == c && !r.replaced)
                        .count();
                    json!({"email": u, "client_id": c, "scope": s.join(" "), "refresh_tokens_live": live})
                })
                .collect();
            out.sort_by_key(|v| v.to_string());
            ok(Value::Array(out))
        }
        ("GET", "/faults") => ok(json!({"faults": shared.lock().ms.faults})),
        ("POST", "/faults") => {
            let b = body(req)?;
            let mut f: MsFault = serde_json::from_value(b).map_err(|e| err(400, &format!("invalid fault: {e}")))?;
            f.validate().map_err(|e| err(400, &e))?;
            let mut st = shared.lock();
            st.ms.next_fault_id += 1;
            f.id = st.ms.next_fault_id;
            let id = f.id;
            st.ms.faults.push(f);
            ok(json!({"id": id}))
        }
        ("DELETE", "/faults") => {
            shared.lock().ms.faults.clear();
            ok(json!({}))
        }
        ("GET", "/counters") => ok(serde_json::to_value(&shared.lock().ms.counters).unwrap_or_default()),
        ("GET", "/drafts") => {
            let st = shared.lock();
            let mut v: Vec<Value> = st
                .ms
                .drafts
                .values()
                .map(|d| json!({"id": d.id, "mailbox": d.mailbox, "attachments": d.attachments.len()}))
                .collect();
            v.sort_by_key(|x| x.to_string());
            ok(Value::Array(v))
        }
        _ => err(404, &format!("no control endpoint {m} /microsoft{rest}")),
    })
}
