//! The stand-in's shared state: settings, accounts, the clock, codes, tokens, grants, faults and
//! counters. One mutex guards it all; no handler holds it across I/O.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use crate::jwt::Signer;
use crate::Info;

/// Every knob the control plane can turn (README "Settings").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub publishing_status: String,
    pub auto_approve: bool,
    pub auto_approve_decision: String,
    pub access_token_lifetime_s: i64,
    pub code_lifetime_s: i64,
    pub testing_refresh_lifetime_s: i64,
    pub refresh_token_cap: usize,
    pub reissue_refresh_token_without_consent: bool,
    /// Rotate refresh tokens like Microsoft: a refresh answers with a new refresh token and the
    /// one it used dies. Google does not do this; it is here to test single-flight refreshes.
    pub rotate_refresh_tokens: bool,
    pub client_deleted: bool,
    pub require_client_secret: bool,
    pub require_pkce: bool,
    pub gmail_api_enabled: bool,
    pub xoauth2_error_status: String,
    pub smtp_more_info_text: String,
    pub smtp_max_message_bytes: usize,
    pub api_json_limit_bytes: usize,
    pub api_upload_limit_bytes: usize,
    pub max_recipients: usize,
    /// Whether the SMTP EHLO reply offers `PIPELINING` (RFC 2920); Gmail does.
    #[serde(default = "yes")]
    pub smtp_pipelining: bool,
}

fn yes() -> bool {
    true
}

impl Settings {
    pub fn defaults() -> Settings {
        Settings {
            publishing_status: "testing".into(),
            auto_approve: false,
            auto_approve_decision: "allow".into(),
            access_token_lifetime_s: 3599,
            code_lifetime_s: 600,
            testing_refresh_lifetime_s: 7 * 24 * 3600,
            refresh_token_cap: 100,
            reissue_refresh_token_without_consent: false,
            rotate_refresh_tokens: false,
            client_deleted: false,
            require_client_secret: true,
            require_pkce: false,
            gmail_api_enabled: true,
            xoauth2_error_status: "400".into(),
            smtp_more_info_text: "For more information, go to".into(),
            smtp_max_message_bytes: 35_882_577,
            api_json_limit_bytes: 1_048_576,
            api_upload_limit_bytes: 36_700_160,
            max_recipients: 100,
            smtp_pipelining: true,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.publishing_status.as_str(), "testing" | "production") {
            return Err("publishing_status must be \"testing\" or \"production\"".into());
        }
        if !matches!(self.auto_approve_decision.as_str(), "allow" | "deny") {
            return Err("auto_approve_decision must be \"allow\" or \"deny\"".into());
        }
        if !matches!(self.xoauth2_error_status.as_str(), "400" | "401") {
            return Err("xoauth2_error_status must be \"400\" or \"401\"".into());
        }
        if self.access_token_lifetime_s < 0 || self.code_lifetime_s < 0 {
            return Err("lifetimes must not be negative".into());
        }
        if self.refresh_token_cap == 0 {
            return Err("refresh_token_cap must be at least 1".into());
        }
        Ok(())
    }

    pub fn testing(&self) -> bool {
        self.publishing_status == "testing"
    }
}

/// The accounts Google knows about.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    pub test_users: Vec<String>,
    pub other_users: Vec<String>,
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
}

impl Users {
    pub fn find(&self, email: &str) -> Option<String> {
        self.test_users
            .iter()
            .chain(self.other_users.iter())
            .find(|u| u.eq_ignore_ascii_case(email))
            .cloned()
    }
    pub fn is_test_user(&self, email: &str) -> bool {
        self.test_users.iter().any(|u| u.eq_ignore_ascii_case(email))
    }
    pub fn may_send_as(&self, account: &str, from: &str) -> bool {
        account.eq_ignore_ascii_case(from)
            || self
                .aliases
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(account))
                .flat_map(|(_, v)| v.iter())
                .any(|a| a.eq_ignore_ascii_case(from))
    }
}

#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// A browser session between the authorize request and the redirect.
#[derive(Clone, Debug)]
pub struct Flow {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub offline: bool,
    pub prompt_consent: bool,
    pub select_account: bool,
    pub login_hint: Option<String>,
    pub account: Option<String>,
    pub created: i64,
}

#[derive(Clone, Debug)]
pub struct Code {
    pub user: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub offline: bool,
    pub consent_shown: bool,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub seq: u64,
}

#[derive(Clone, Debug)]
pub struct AccessToken {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub revoked: bool,
}

/// One injected fault (README "Faults").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(default)]
    pub id: u64,
    pub endpoint: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Stage `rcpt` only: the fault fires for this recipient address alone (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

pub const HTTP_ENDPOINTS: &[&str] = &["authorize", "token", "revoke", "userinfo", "gmail_send", "any_http"];
pub const SMTP_STAGES: &[&str] = &[
    "connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data_end", "rset",
];

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoint == "smtp" {
            let stage = self.stage.as_deref().unwrap_or("");
            if !SMTP_STAGES.contains(&stage) {
                return Err(format!("smtp faults need \"stage\", one of {SMTP_STAGES:?}"));
            }
            if !matches!(self.kind.as_str(), "reply" | "drop" | "hang" | "delay") {
                return Err("smtp fault kind must be reply, drop, hang or delay".into());
            }
            if self.kind == "reply" && self.code.is_none() {
                return Err("a reply fault needs \"code\"".into());
            }
            if self.address.is_some() && stage != "rcpt" {
                return Err("\"address\" is for stage rcpt only".into());
            }
        } else {
            if self.address.is_some() {
                return Err("\"address\" is for smtp faults at stage rcpt only".into());
            }
            if !HTTP_ENDPOINTS.contains(&self.endpoint.as_str()) {
                return Err(format!(
                    "unknown endpoint {:?}: one of {HTTP_ENDPOINTS:?} or \"smtp\"",
                    self.endpoint
                ));
            }
            if !matches!(self.kind.as_str(), "status" | "rate_limit" | "delay" | "drop" | "hang") {
                return Err("http fault kind must be status, rate_limit, delay, drop or hang".into());
            }
            if self.kind == "status" && self.status.is_none() {
                return Err("a status fault needs \"status\"".into());
            }
        }
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenCounters {
    pub authorization_code: u64,
    pub refresh_token: u64,
    pub jwt_bearer: u64,
    pub other: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    pub token: TokenCounters,
    pub authorize: u64,
    pub revoke: u64,
    pub userinfo: u64,
    pub gmail_send: u64,
    pub smtp_connections: u64,
    pub smtp_auth_ok: u64,
    pub smtp_auth_failed: u64,
    pub smtp_messages: u64,
    /// TLS handshakes completed on the HTTPS listeners and Gmail SMTP (SMTPS, STARTTLS), and how many
    /// of them resumed an earlier session (no certificate sent: one round trip less with TLS 1.2,
    /// no chain to verify with either version).
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
    /// JWT-bearer requests per subject (service accounts, issue 16).
    pub jwt_bearer_by_subject: BTreeMap<String, u64>,
}

/// What one SMTP session looked like on the wire (README "SMTP sessions"): how often the server
/// had to wait for new client input after it had flushed its replies (a flight, one round trip
/// of the client), and which commands each flight carried.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SmtpSessionRecord {
    pub seq: u64,
    pub id: String,
    pub port: &'static str,
    /// Flights so far (the first is the one carrying the first command after the greeting).
    pub flights: u64,
    /// Commands so far (a message's data counts as one `"<data>"` entry).
    pub commands: u64,
    /// The commands of the last [`SMTP_FLIGHTS_KEPT`] flights, oldest first: verbs in upper case
    /// (`"RSET"`, `"MAIL"`, ...), `"<data>"` for the lines after `354` up to the final `.`,
    /// `"<bdat>"` for a `BDAT` chunk's bytes (the `BDAT` verb itself is listed too).
    pub recent_flights: Vec<Vec<String>>,
    pub closed: bool,
}

/// How many flights a session record keeps in detail (the counts cover all of them).
pub const SMTP_FLIGHTS_KEPT: usize = 64;

/// A resumable upload session (Gmail API `uploadType=resumable`).
pub struct Upload {
    /// The bearer token of the initiating request; it must still be live when the bytes arrive.
    pub token: String,
    pub thread_id: Option<String>,
    pub bytes: Vec<u8>,
    pub created: i64,
}

pub struct Inner {
    pub settings: Settings,
    pub users: Users,
    pub clock_offset: i64,
    pub flows: HashMap<String, Flow>,
    pub codes: HashMap<String, Code>,
    /// Consent records: (user, client_id) -> granted scopes.
    pub grants: HashMap<(String, String), Vec<String>>,
    pub refresh: HashMap<String, RefreshToken>,
    pub access: HashMap<String, AccessToken>,
    pub refresh_seq: u64,
    pub faults: Vec<Fault>,
    pub next_fault_id: u64,
    pub counters: Counters,
    pub mail_seq: u64,
    pub uploads: HashMap<String, Upload>,
    /// Microsoft 365 / Outlook.com (src/microsoft).
    pub ms: crate::microsoft::MsState,
    pub service_accounts: crate::service_account::Registry,
    /// SMTP sessions since the start or the last reset, by `seq` (the last 1000 are kept).
    pub smtp_sessions: BTreeMap<u64, SmtpSessionRecord>,
    pub smtp_session_seq: u64,
}

impl Inner {
    pub fn new(settings: Settings, users: Users) -> Inner {
        Inner {
            settings,
            users,
            clock_offset: 0,
            flows: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            refresh_seq: 0,
            faults: Vec::new(),
            next_fault_id: 1,
            counters: Counters::default(),
            mail_seq: 0,
            uploads: HashMap::new(),
            ms: Default::default(),
            service_accounts: Default::default(),
            smtp_sessions: BTreeMap::new(),
            smtp_session_seq: 0,
        }
    }

    pub fn now(&self) -> i64 {
        real_now() + self.clock_offset
    }

    /// Takes one use of the first fault that matches `endpoint` (and `stage` for SMTP).
    pub fn take_fault(&mut self, endpoint: &str, stage: Option<&str>) -> Option<Fault> {
        self.take_fault_for(endpoint, stage, None)
    }

    /// [`Inner::take_fault`] for a recipient: a fault with an `address` matches only that
    /// address; one without matches every recipient.
    pub fn take_fault_for(&mut self, endpoint: &str, stage: Option<&str>, address: Option<&str>) -> Option<Fault> {
        let pos = self.faults.iter().position(|f| {
            (f.endpoint == endpoint || (f.endpoint == "any_http" && endpoint != "smtp"))
                && (stage.is_none() || f.stage.as_deref() == stage)
                && f.address
                    .as_deref()
                    .is_none_or(|a| address.is_some_and(|x| x.eq_ignore_ascii_case(a)))
        })?;
        let f = self.faults[pos].clone();
        self.faults[pos].count -= 1;
        if self.faults[pos].count == 0 {
            self.faults.remove(pos);
        }
        Some(f)
    }

    /// A live access token (not revoked, not expired on the stand-in clock).
    pub fn live_access(&self, token: &str) -> Option<AccessToken> {
        let now = self.now();
        self.access
            .get(token)
            .filter(|a| !a.revoked && a.expires_at > now)
            .cloned()
    }

    pub fn refresh_live(&self, r: &RefreshToken) -> bool {
        !r.revoked && r.expires_at.is_none_or(|e| self.now() < e)
    }

    pub fn issue_access(&mut self, user: &str, client_id: &str, scopes: &[String]) -> (String, i64) {
        let token = format!("ya29.a0{}", random_string(150, URLSAFE));
        let lifetime = self.settings.access_token_lifetime_s;
        self.access.insert(
            token.clone(),
            AccessToken {
                user: user.into(),
                client_id: client_id.into(),
                scopes: scopes.to_vec(),
                expires_at: self.now() + lifetime,
                revoked: false,
            },
        );
        (token, lifetime)
    }

    /// Issues a refresh token, dropping the oldest live ones above the cap.
    pub fn issue_refresh(&mut self, user: &str, client_id: &str, scopes: &[String]) -> String {
        let now = self.now();
        let mut live: Vec<(u64, String)> = self
            .refresh
            .iter()
            .filter(|(_, r)| r.user == user && r.client_id == client_id && self.refresh_live(r))
            .map(|(k, r)| (r.seq, k.clone()))
            .collect();
        live.sort();
        let cap = self.settings.refresh_token_cap;
        while live.len() >= cap {
            let (_, k) = live.remove(0);
            if let Some(r) = self.refresh.get_mut(&k) {
                r.revoked = true;
            }
        }
        let identity_only = scopes.iter().all(|s| is_identity_scope(s));
        let expires_at =
            (self.settings.testing() && !identity_only).then(|| now + self.settings.testing_refresh_lifetime_s);
        self.refresh_seq += 1;
        let token = format!("1//0{}", random_string(99, URLSAFE));
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                user: user.into(),
                client_id: client_id.into(),
                scopes: scopes.to_vec(),
                expires_at,
                revoked: false,
                seq: self.refresh_seq,
            },
        );
        token
    }

    /// Records consent: the union of what the user granted to this client so far.
    pub fn record_grant(&mut self, user: &str, client_id: &str, scopes: &[String]) {
        let g = self
            .grants
            .entry((user.to_string(), client_id.to_string()))
            .or_default();
        for s in scopes {
            if !g.contains(s) {
                g.push(s.clone());
            }
        }
    }

    pub fn has_grant(&self, user: &str, client_id: &str, scopes: &[String]) -> bool {
        match self.grants.get(&(user.to_string(), client_id.to_string())) {
            Some(g) => scopes.iter().all(|s| g.contains(s)),
            None => false,
        }
    }

    /// Revokes everything this user granted this client (Google: revoking one token revokes
    /// the grant). Returns how many tokens were invalidated.
    pub fn revoke_grant(&mut self, user: &str, client_id: &str) -> usize {
        self.grants.remove(&(user.to_string(), client_id.to_string()));
        let mut n = 0;
        for r in self.refresh.values_mut() {
            if r.user == user && r.client_id == client_id && !r.revoked {
                r.revoked = true;
                n += 1;
            }
        }
        for a in self.access.values_mut() {
            if a.user == user && a.client_id == client_id && !a.revoked {
                a.revoked = true;
                n += 1;
            }
        }
        n
    }
}

/// Everything the threads share.
pub struct Shared {
    pub inner: Mutex<Inner>,
    pub stop: AtomicBool,
    pub info: OnceLock<Info>,
    /// The CA's empty CRL (DER), `GET /crl/standin.crl` on the control plane.
    pub crl: OnceLock<Vec<u8>>,
    pub clients: Vec<Client>,
    pub signer: Signer,
    pub tls: Arc<rustls::ServerConfig>,
    pub mailbox_dir: PathBuf,
    pub initial_settings: Settings,
    pub initial_users: Users,
    log_file: Mutex<Option<File>>,
    verbose: bool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Settings,
        users: Users,
        clients: Vec<Client>,
        tls: Arc<rustls::ServerConfig>,
        mailbox_dir: PathBuf,
        log_file: Option<File>,
        verbose: bool,
    ) -> Shared {
        Shared {
            inner: Mutex::new(Inner::new(settings.clone(), users.clone())),
            stop: AtomicBool::new(false),
            info: OnceLock::new(),
            crl: OnceLock::new(),
            clients,
            signer: Signer::test_key(),
            tls,
            mailbox_dir,
            initial_settings: settings,
            initial_users: users,
            log_file: Mutex::new(log_file),
            verbose,
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// A log line (never a token or secret: callers pass only names and outcomes).
    pub fn log(&self, line: &str) {
        let t = real_now();
        let text = format!("{t} {line}\n");
        if let Some(f) = self.log_file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = f.write_all(text.as_bytes());
        }
        if self.verbose {
            eprint!("oauthmail-standin: {text}");
        }
    }

    /// Registers a live connection so `stop` can shut it down.
    pub fn track(&self, s: &TcpStream) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(c) = s.try_clone() {
            self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, c);
        }
        id
    }

    pub fn untrack(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    pub fn shutdown_connections(&self) {
        for (_, c) in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Sleeps `ms`, waking early when the stand-in stops.
    pub fn sleep(&self, ms: u64) {
        let end = std::time::Instant::now() + Duration::from_millis(ms);
        while !self.stopping() {
            let now = std::time::Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(25)));
        }
    }

    /// "Accept and never answer": blocks until the stand-in stops (at most 10 minutes).
    pub fn hang(&self) {
        self.sleep(600_000);
    }
}

pub fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const HEX: &[u8] = b"0123456789abcdef";

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut v)
        .expect("the system random generator works");
    v
}

pub fn random_string(n: usize, alphabet: &[u8]) -> String {
    random_bytes(n)
        .into_iter()
        .map(|b| alphabet[b as usize % alphabet.len()] as char)
        .collect()
}

pub const MAIL_SCOPE: &str = "https://mail.google.com/";
pub const EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";
pub const PROFILE_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// Scopes Google knows (the subset that matters here).
pub const KNOWN_SCOPES: &[&str] = &[
    "openid",
    EMAIL_SCOPE,
    PROFILE_SCOPE,
    MAIL_SCOPE,
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.insert",
    "https://www.googleapis.com/auth/gmail.metadata",
    "https://www.googleapis.com/auth/gmail.labels",
    "https://www.googleapis.com/auth/gmail.settings.basic",
    "https://www.googleapis.com/auth/gmail.settings.sharing",
    "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
];

/// Scopes that may call `users.messages.send` (discovery document).
pub const SEND_SCOPES: &[&str] = &[
    MAIL_SCOPE,
    "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.send",
];

/// Scopes that may call `users.getProfile`.
pub const PROFILE_READ_SCOPES: &[&str] = &[
    MAIL_SCOPE,
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.metadata",
];

/// `email` and `profile` come back as their URL forms, like Google's `scope` fields.
pub fn normalize_scope(s: &str) -> String {
    match s {
        "email" => EMAIL_SCOPE.into(),
        "profile" => PROFILE_SCOPE.into(),
        other => other.into(),
    }
}

/// Splits a space-separated scope parameter, normalizes and de-duplicates it.
pub fn parse_scopes(s: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for part in s.split([' ', '+']).filter(|p| !p.is_empty()) {
        let n = normalize_scope(part);
        if !v.contains(&n) {
            v.push(n);
        }
    }
    v
}

pub fn is_identity_scope(s: &str) -> bool {
    s == "openid" || s == EMAIL_SCOPE || s == PROFILE_SCOPE
}

/// A stable numeric `sub` per address, like Google's 21-digit account ids.
pub fn sub_for(email: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, email.to_ascii_lowercase().as_bytes());
    let mut s = String::from("1");
    for b in d.as_ref().iter().take(20) {
        s.push(char::from(b'0' + b % 10));
    }
    s
}
