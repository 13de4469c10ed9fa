//! oauthmail-standin: a local stand-in for Google's OAuth 2.0 server, the Gmail API and Gmail
//! SMTP, answering with Google's wire formats (`shared/providers.md`). Used by liboauthmail's
//! tests, examples and demo; see `tests/standin/README.md`.
//!
//! ```no_run
//! let s = oauthmail_standin::Standin::start(oauthmail_standin::Options {
//!     auto_approve: true,
//!     ..Default::default()
//! })?;
//! println!("{}", s.info().token_endpoint);
//! # Ok::<(), std::io::Error>(())
//! ```

mod control;
mod gmail;
mod http;
mod jwt;
mod mailbox;
mod microsoft;
mod mime;
mod oauth;
mod pages;
mod routes;
mod service_account;
mod smtp;
mod state;
mod tls;

use std::fs;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use microsoft::{
    MsInfo, CONFIDENTIAL_CLIENT_ID as MS_CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET as MS_CONFIDENTIAL_CLIENT_SECRET, MAIL_READWRITE as MS_MAIL_READWRITE,
    MAIL_SEND as MS_MAIL_SEND, PUBLIC_CLIENT_ID as MS_PUBLIC_CLIENT_ID, SHARED_MAILBOX as MS_SHARED_MAILBOX,
    SMTP_SEND as MS_SMTP_SEND,
};
use state::{Client, Settings, Shared, Users};

pub use oauth::s256 as pkce_s256;

pub const DEFAULT_CLIENT_ID: &str = "1072429875-standin0test0client.apps.googleusercontent.com";
/// A test value, published on purpose.
pub const DEFAULT_CLIENT_SECRET: &str = "GOCSPX-standin-test-only-secret";
/// A second registered client (same project), for "refresh token of another client" tests.
pub const OTHER_CLIENT_ID: &str = "1072429875-standin0other0client.apps.googleusercontent.com";
pub const OTHER_CLIENT_SECRET: &str = "GOCSPX-standin-other-client-secret";
pub const DEFAULT_TEST_USERS: &[&str] = &["erp.test@gmail.com", "second.test@gmail.com"];
pub const DEFAULT_OTHER_USERS: &[&str] = &["not.a.tester@gmail.com"];

/// How to start the stand-in (the CLI options, README "Command line").
#[derive(Clone, Debug)]
pub struct Options {
    /// `None`: a fresh directory under the system temp dir, removed when the stand-in stops.
    pub state_dir: Option<PathBuf>,
    pub auto_approve: bool,
    /// Plain HTTP instead of HTTPS for the OAuth and Gmail API endpoints.
    pub http: bool,
    pub http_port: u16,
    pub smtps_port: u16,
    pub smtp_port: u16,
    pub control_port: u16,
    pub client_id: String,
    pub client_secret: String,
    pub test_users: Vec<String>,
    pub other_users: Vec<String>,
    pub production: bool,
    pub access_token_lifetime_s: i64,
    /// Log lines to stderr too (they always go to `state_dir/standin.log`).
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            state_dir: None,
            auto_approve: false,
            http: false,
            http_port: 0,
            smtps_port: 0,
            smtp_port: 0,
            control_port: 0,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            test_users: DEFAULT_TEST_USERS.iter().map(|s| s.to_string()).collect(),
            other_users: DEFAULT_OTHER_USERS.iter().map(|s| s.to_string()).collect(),
            production: false,
            access_token_lifetime_s: 3599,
            verbose: false,
        }
    }
}

/// The `standin.json` document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Info {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub userinfo_endpoint: String,
    pub gmail_api: String,
    pub smtps: String,
    pub smtp_starttls: String,
    pub ca_file: String,
    pub client_id: String,
    pub client_secret: String,
    pub users: Vec<String>,
    pub mailbox_dir: String,
    pub control: String,
    pub pid: u32,
    pub other_users: Vec<String>,
    pub issuer: String,
    pub jwks_uri: String,
    pub state_dir: String,
    /// Microsoft 365 / Outlook.com endpoints and accounts (README "Microsoft").
    pub microsoft: MsInfo,
}

/// A running stand-in. Dropping it stops every listener and joins their threads.
pub struct Standin {
    shared: Arc<Shared>,
    info: Info,
    threads: Vec<JoinHandle<()>>,
    ports: Vec<u16>,
    temp_dir: Option<PathBuf>,
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Standin {
    /// Starts everything on 127.0.0.1 and writes `state_dir/standin.json` once every port listens.
    pub fn start(options: Options) -> io::Result<Standin> {
        let (state_dir, temp_dir) = match &options.state_dir {
            Some(d) => (d.clone(), None),
            None => {
                let d = std::env::temp_dir().join(format!(
                    "oauthmail-standin-{}-{}-{}",
                    std::process::id(),
                    TEMP_SEQ.fetch_add(1, Ordering::SeqCst),
                    state::random_string(6, state::HEX)
                ));
                (d.clone(), Some(d))
            }
        };
        fs::create_dir_all(&state_dir)?;
        let state_dir = fs::canonicalize(&state_dir)?;
        let mailbox_dir = state_dir.join("mailbox");
        fs::create_dir_all(&mailbox_dir)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state_dir.join("standin.log"))
            .ok();

        // Bound first: the server certificate names the control plane's CRL URL.
        let web = http::bind_loopback(options.http_port)?;
        let smtps = http::bind_loopback(options.smtps_port)?;
        let smtp = http::bind_loopback(options.smtp_port)?;
        let control = http::bind_loopback(options.control_port)?;
        let ms_smtp = http::bind_loopback(0)?;
        let port = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port());
        let (pw, ps, pp, pc) = (port(&web)?, port(&smtps)?, port(&smtp)?, port(&control)?);
        let pki = tls::generate(&format!("http://127.0.0.1:{pc}{}", tls::CRL_PATH)).map_err(io_err)?;
        let ca_file = state_dir.join("ca.pem");
        fs::write(&ca_file, &pki.ca_pem)?;

        let mut settings = Settings::defaults();
        settings.auto_approve = options.auto_approve;
        settings.access_token_lifetime_s = options.access_token_lifetime_s;
        if options.production {
            settings.publishing_status = "production".into();
        }
        settings.validate().map_err(io_err)?;
        let users = Users {
            test_users: options.test_users.clone(),
            other_users: options.other_users.clone(),
            aliases: Default::default(),
        };
        let clients = vec![
            Client {
                id: options.client_id.clone(),
                secret: options.client_secret.clone(),
            },
            Client {
                id: OTHER_CLIENT_ID.into(),
                secret: OTHER_CLIENT_SECRET.into(),
            },
        ];
        let shared = Arc::new(Shared::new(
            settings,
            users,
            clients,
            pki.server.clone(),
            mailbox_dir.clone(),
            log,
            options.verbose,
        ));

        // A reused state dir keeps its mailbox; new messages sort after the old ones.
        shared.lock().mail_seq = mailbox::list(&mailbox_dir)
            .iter()
            .filter_map(|m| m["seq"].as_u64())
            .max()
            .unwrap_or(0);

        let scheme = if options.http { "http" } else { "https" };
        let base = format!("{scheme}://127.0.0.1:{pw}");
        let info = Info {
            authorization_endpoint: format!("{base}/o/oauth2/v2/auth"),
            token_endpoint: format!("{base}/token"),
            revocation_endpoint: format!("{base}/revoke"),
            userinfo_endpoint: format!("{base}/v1/userinfo"),
            gmail_api: base.clone(),
            smtps: format!("smtps://127.0.0.1:{ps}"),
            smtp_starttls: format!("smtp://127.0.0.1:{pp}"),
            ca_file: ca_file.to_string_lossy().into_owned(),
            client_id: options.client_id.clone(),
            client_secret: options.client_secret.clone(),
            users: options.test_users.clone(),
            mailbox_dir: mailbox_dir.to_string_lossy().into_owned(),
            control: format!("http://127.0.0.1:{pc}"),
            pid: std::process::id(),
            other_users: options.other_users.clone(),
            issuer: oauth::ISSUER.into(),
            jwks_uri: format!("{base}/oauth2/v3/certs"),
            state_dir: state_dir.to_string_lossy().into_owned(),
            microsoft: MsInfo::new(&base, port(&ms_smtp)?),
        };
        let _ = shared.info.set(info.clone());
        let _ = shared.crl.set(pki.crl_der.clone());

        let tls = (!options.http).then(|| pki.server.clone());
        let threads = vec![
            http::serve(web, shared.clone(), tls, routes::handle, "web"),
            smtp::serve(smtps, shared.clone(), true),
            smtp::serve(smtp, shared.clone(), false),
            http::serve(control, shared.clone(), None, control::handle, "control"),
        ];
        let ms_port = port(&ms_smtp)?;
        let mut threads = threads;
        threads.push(microsoft::smtp::serve(ms_smtp, shared.clone()));
        let json = serde_json::to_string(&info).map_err(io_err)?;
        let tmp = state_dir.join(".standin.json.tmp");
        fs::write(&tmp, format!("{json}\n"))?;
        fs::rename(&tmp, state_dir.join("standin.json"))?;
        shared.log(&format!("started: web {pw}, smtps {ps}, smtp {pp}, control {pc}"));
        Ok(Standin {
            shared,
            info,
            threads,
            ports: vec![pw, ps, pp, pc, ms_port],
            temp_dir,
        })
    }

    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The one-line JSON the binary prints.
    pub fn info_json(&self) -> String {
        serde_json::to_string(&self.info).unwrap_or_default()
    }

    pub fn control_url(&self) -> &str {
        &self.info.control
    }

    pub fn state_dir(&self) -> &Path {
        Path::new(&self.info.state_dir)
    }

    /// Like `POST /tokens`: a token response for `email` without the browser.
    pub fn mint_token(&self, email: &str, scope: &str, offline: bool) -> Result<Value, String> {
        oauth::mint(&self.shared, email, scope, offline, None)
    }

    /// The mailbox sidecars in arrival order (`GET /mailbox`).
    pub fn messages(&self) -> Vec<Value> {
        mailbox::list(&self.shared.mailbox_dir)
    }

    /// The `.eml` bytes of a message by its id.
    pub fn message_bytes(&self, id: &str) -> Option<Vec<u8>> {
        let side = mailbox::find(&self.shared.mailbox_dir, id)?;
        fs::read(self.shared.mailbox_dir.join(side["eml"].as_str()?)).ok()
    }

    /// Moves the stand-in's clock forward (`POST /clock {"advance_s": N}`).
    pub fn advance_clock(&self, seconds: i64) {
        self.shared.lock().clock_offset += seconds;
    }

    /// Changes settings like `POST /settings` (a JSON object with any subset of the settings).
    pub fn set_settings(&self, patch: &Value) -> Result<(), String> {
        let mut st = self.shared.lock();
        let mut v = serde_json::to_value(&st.settings).map_err(|e| e.to_string())?;
        let Value::Object(p) = patch else {
            return Err("settings must be a JSON object".into());
        };
        for (k, val) in p {
            if v.get(k).is_none() {
                return Err(format!("unknown setting {k:?}"));
            }
            v[k] = val.clone();
        }
        let new: Settings = serde_json::from_value(v).map_err(|e| e.to_string())?;
        new.validate()?;
        st.settings = new;
        Ok(())
    }

    /// Adds a fault like `POST /faults`; returns its id.
    pub fn add_fault(&self, fault: &Value) -> Result<u64, String> {
        let mut f: state::Fault = serde_json::from_value(fault.clone()).map_err(|e| e.to_string())?;
        f.validate()?;
        let mut st = self.shared.lock();
        f.id = st.next_fault_id;
        st.next_fault_id += 1;
        let id = f.id;
        st.faults.push(f);
        Ok(id)
    }

    /// The counters (`GET /counters`).
    pub fn counters(&self) -> Value {
        serde_json::to_value(&self.shared.lock().counters).unwrap_or_default()
    }

    /// The SMTP session records in start order (`GET /smtp/sessions`): flights (the client's
    /// round trips as the server saw them) and the commands each flight carried.
    pub fn smtp_sessions(&self) -> Vec<Value> {
        let st = self.shared.lock();
        st.smtp_sessions
            .values()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect()
    }

    /// Forgets everything (`POST /reset`).
    pub fn reset(&self) {
        control::reset(&self.shared);
    }

    /// Stops the listeners, shuts every open connection and joins the listener threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake each accept() so its loop sees the stop flag.
        for p in &self.ports {
            let _ = TcpStream::connect(("127.0.0.1", *p));
        }
        self.shared.shutdown_connections();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(d) = self.temp_dir.take() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The stand-in's id_token key as JWKS, and a verifier, for tests that check signatures.
pub fn verify_id_token(token: &str) -> Option<Value> {
    jwt::Signer::test_key().verify(token)
}

/// Parses `user=..^Aauth=Bearer ..^A^A`; exposed for tests of SASL builders.
pub fn parse_xoauth2(decoded: &[u8]) -> Option<(String, String)> {
    smtp::parse_xoauth2(decoded)
}
