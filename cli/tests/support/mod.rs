//! Running the `oauthmail` binary against an in-process Google stand-in: a configuration
//! document and a Google client file that point at it, token documents minted without a browser,
//! and a "browser" that follows the authorization URL the binary prints.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oauthmail_standin::{Options, Standin};
use serde_json::{json, Value};

pub const USER: &str = "erp.test@gmail.com";
pub const MAIL_SCOPE: &str = "openid email https://mail.google.com/";
pub const SEND_SCOPE: &str = "openid email https://www.googleapis.com/auth/gmail.send";

pub struct Env {
    pub s: Standin,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub client: PathBuf,
    pub token: PathBuf,
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A stand-in (auto-approve) and, in a fresh directory, `config.json` (endpoints, the stand-in's
/// CA, short timeouts; no client) and `client_secret.json` (Google's Desktop app file for the
/// stand-in's client). `token.json` is where the token document goes.
pub fn env() -> Env {
    let s = Standin::start(Options {
        auto_approve: true,
        ..Default::default()
    })
    .expect("the stand-in starts");
    let i = s.info().clone();
    let dir = std::env::temp_dir().join(format!(
        "oauthmail-cli-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    write_json(
        &config,
        &json!({
            "endpoints": {
                "revocation": i.revocation_endpoint,
                "userinfo": i.userinfo_endpoint,
                "gmail_api": i.gmail_api,
                "smtp": i.smtps,
            },
            "timeouts": {"authorize_s": 30, "connect_s": 5, "io_s": 20},
            "tls": {"extra_ca_file": i.ca_file},
        }),
    );
    let client = dir.join("client_secret.json");
    write_json(
        &client,
        &json!({"installed": {
            "client_id": i.client_id,
            "project_id": "erp-mail-1072429875",
            "auth_uri": i.authorization_endpoint,
            "token_uri": i.token_endpoint,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": i.client_secret,
            "redirect_uris": ["http://localhost"]
        }}),
    );
    let token = dir.join("token.json");
    Env {
        s,
        dir,
        config,
        client,
        token,
    }
}

pub fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

impl Env {
    /// The binary with this environment's `--config`, `--client` and `--token-file`, English, and
    /// no OAUTHMAIL_* variables from the caller.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_oauthmail"));
        for v in [
            "OAUTHMAIL_LANG",
            "OAUTHMAIL_CLIENT",
            "OAUTHMAIL_CONFIG",
            "OAUTHMAIL_TOKEN_FILE",
            "LC_ALL",
            "LC_MESSAGES",
            "LANGUAGE",
        ] {
            c.env_remove(v);
        }
        c.env("LANG", "C");
        c.args(args);
        c.arg("--config").arg(&self.config);
        c.arg("--client").arg(&self.client);
        c.arg("--token-file").arg(&self.token);
        c.stdin(Stdio::null());
        c
    }

    /// Runs the binary to the end (at most 60 s).
    pub fn run(&self, args: &[&str]) -> Run {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Run::wait(child, Duration::from_secs(60))
    }

    /// Writes a token document for `USER` with `scope`, as `authorize` would have saved it.
    pub fn mint(&self, scope: &str) -> Value {
        let t = self.s.mint_token(USER, scope, true).expect("mint");
        let doc = json!({
            "provider": "google",
            "email": USER,
            "scope": t["scope"],
            "token_type": "Bearer",
            "access_token": t["access_token"],
            "expires_at": t["expires_at"],
            "refresh_token": t["refresh_token"],
        });
        write_json(&self.token, &doc);
        doc
    }

    /// The secrets that must never reach the screen: the client secret and the token's tokens.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![self.s.info().client_secret.clone()];
        if let Ok(b) = std::fs::read(&self.token) {
            let t: Value = serde_json::from_slice(&b).unwrap();
            for k in ["access_token", "refresh_token"] {
                if let Some(s) = t[k].as_str() {
                    v.push(s.to_string());
                }
            }
        }
        v
    }

    /// POSTs `body` to the stand-in's control plane; the JSON answer.
    pub fn control(&self, path: &str, body: &Value) -> Value {
        let mut r = ureq::post(format!("{}{path}", self.s.control_url()))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .expect("control plane");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// A service account of the stand-in, delegated `scope` (space-separated; None: no
    /// delegation), its key file written to `sa-key.json`; the path and the key file.
    pub fn service_account(&self, scope: Option<&str>) -> (PathBuf, Value) {
        let key = self.control("/service_accounts", &json!({"name": "erp-mailer"}));
        if let Some(scope) = scope {
            self.control("/delegation", &json!({"client_id": key["client_id"], "scope": scope}));
        }
        let path = self.dir.join("sa-key.json");
        write_json(&path, &key);
        (path, key)
    }

    pub fn token_doc(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.token).unwrap()).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Waits for `child` at most `limit`, then kills it (and fails the test).
    pub fn wait(mut child: Child, limit: Duration) -> Run {
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take();
        let o = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let e = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(err) = err.as_mut() {
                let _ = err.read_to_string(&mut s);
            }
            s
        });
        let end = Instant::now() + limit;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                panic!("oauthmail did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: o.join().unwrap(),
            stderr: e.join().unwrap(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    #[track_caller]
    pub fn assert_no_secret(&self, secrets: &[String]) {
        for s in secrets {
            assert!(s.len() >= 6);
            assert!(!self.stdout.contains(s.as_str()), "a secret on stdout: {}", self.stdout);
            assert!(!self.stderr.contains(s.as_str()), "a secret on stderr: {}", self.stderr);
        }
    }
}

/// Runs `authorize` with `--no-browser` and plays the browser: reads the authorization URL from
/// stderr, follows it at the stand-in (auto-approve redirects at once) and delivers the redirect
/// to the binary's loopback listener. Returns the finished run and the stderr lines read so far.
pub fn authorize(env: &Env, extra: &[&str]) -> Run {
    let mut args = vec!["authorize", "--no-browser", "--login-hint", USER];
    args.extend_from_slice(extra);
    let mut child = env
        .cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let auth = env.s.info().authorization_endpoint.clone();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with(&auth) {
                let _ = tx.send(line.clone());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary printed the authorization URL");
    let location = follow(env, &url);
    std::thread::spawn(move || {
        let _ = oauth_support_get(&location);
    });
    let mut run = Run::wait(child, Duration::from_secs(60));
    run.stderr = reader.join().unwrap();
    run
}

/// GET `url` at the stand-in over HTTPS with its CA, without following redirects; the Location.
pub fn follow(env: &Env, url: &str) -> String {
    let pem = std::fs::read(&env.s.info().ca_file).unwrap();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        )
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let r = agent.get(url).call().expect("authorization endpoint");
    assert_eq!(r.status().as_u16(), 302, "auto-approve redirects at once");
    r.headers().get("location").unwrap().to_str().unwrap().to_string()
}

/// GET a plain-http loopback URL (the binary's redirect listener) like a browser; the body.
fn oauth_support_get(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    agent
        .get(url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}
