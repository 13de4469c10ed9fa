//! Plain clients for the stand-in's tests: a one-request HTTP(S) client and an SMTP client over
//! rustls, written here so the tests do not depend on the code under test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use oauthmail_standin::{Options, Standin};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};

pub const USER: &str = "erp.test@gmail.com";
pub const USER2: &str = "second.test@gmail.com";
pub const OUTSIDER: &str = "not.a.tester@gmail.com";
pub const MAIL: &str = "https://mail.google.com/";
pub const SEND: &str = "https://www.googleapis.com/auth/gmail.send";
pub const REDIRECT: &str = "http://127.0.0.1:49152/";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const TIMEOUT: Duration = Duration::from_secs(10);

pub fn start() -> Standin {
    start_with(Options::default())
}

pub fn start_auto() -> Standin {
    start_with(Options {
        auto_approve: true,
        ..Default::default()
    })
}

pub fn start_with(o: Options) -> Standin {
    Standin::start(o).expect("the stand-in starts")
}

pub fn tls_config(s: &Standin) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&s.info().ca_file).expect("ca.pem") {
        roots.add(c.expect("a certificate")).expect("add the CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    pub fn connect(s: &Standin, port: u16, tls: bool) -> Conn {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
        if tls {
            Conn::wrap(s, tcp)
        } else {
            Conn::Plain(tcp)
        }
    }
    pub fn wrap(s: &Standin, tcp: TcpStream) -> Conn {
        let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
        let c = rustls::ClientConnection::new(tls_config(s), name).expect("client connection");
        Conn::Tls(Box::new(rustls::StreamOwned::new(c, tcp)))
    }
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(t) => t,
            Conn::Tls(t) => &t.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(b),
            Conn::Tls(s) => s.read(b),
        }
    }
}
impl Write for Conn {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(b),
            Conn::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

pub fn port_of(url: &str) -> u16 {
    let rest = url.split("://").nth(1).unwrap();
    let hostport = rest.split('/').next().unwrap();
    hostport.rsplit(':').next().unwrap().parse().unwrap()
}

fn path_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap();
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".into(),
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, n: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from a connection (Content-Length bodies).
pub fn read_response(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Resp {
        status,
        head,
        headers,
        body,
    })
}

pub fn request_bytes(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", path_of(url));
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn request(s: &Standin, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut c = Conn::connect(s, port_of(url), url.starts_with("https"));
    c.write_all(&request_bytes(method, url, headers, body)).unwrap();
    c.flush().unwrap();
    read_response(&mut BufReader::new(c)).expect("a response")
}

pub fn get(s: &Standin, url: &str) -> Resp {
    request(s, "GET", url, &[], b"")
}

pub fn enc(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

pub fn post_form(s: &Standin, url: &str, pairs: &[(&str, &str)]) -> Resp {
    request(
        s,
        "POST",
        url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form(pairs).as_bytes(),
    )
}

pub fn control(s: &Standin, method: &str, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", s.info().control);
    let b = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let r = request(s, method, &url, &[("Content-Type", "application/json")], &b);
    assert!(r.status == 200, "control {method} {path}: {} {}", r.status, r.text());
    r.json()
}

/// The query parameters of a redirect's Location (decoded once).
pub fn location_params(r: &Resp) -> Vec<(String, String)> {
    let loc = r.header("location").expect("a Location header");
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

pub fn param(p: &[(String, String)], k: &str) -> Option<String> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// GET the authorization endpoint with the usual desktop-app parameters plus `extra`.
pub fn authorize(s: &Standin, scope: &str, extra: &[(&str, &str)]) -> Resp {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", &s.info().client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-123"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("login_hint", USER),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    get(s, &format!("{}?{}", s.info().authorization_endpoint, form(&p)))
}

/// An auto-approved code for USER (the stand-in must run with auto_approve).
pub fn code(s: &Standin, scope: &str, extra: &[(&str, &str)]) -> String {
    let r = authorize(s, scope, extra);
    assert_eq!(r.status, 302, "{}", r.text());
    param(&location_params(&r), "code").expect("a code")
}

pub fn exchange(s: &Standin, code: &str, extra: &[(&str, &str)]) -> Resp {
    let mut p: Vec<(&str, &str)> = vec![
        ("code", code),
        ("client_id", &s.info().client_id),
        ("client_secret", &s.info().client_secret),
        ("redirect_uri", REDIRECT),
        ("grant_type", "authorization_code"),
        ("code_verifier", VERIFIER),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    post_form(s, &s.info().token_endpoint, &p)
}

pub fn refresh(s: &Standin, rt: &str) -> Resp {
    post_form(
        s,
        &s.info().token_endpoint,
        &[
            ("client_id", &s.info().client_id),
            ("client_secret", &s.info().client_secret),
            ("refresh_token", rt),
            ("grant_type", "refresh_token"),
        ],
    )
}

/// A token document for USER from the control plane.
pub fn mint(s: &Standin, scope: &str) -> Value {
    s.mint_token(USER, scope, true).expect("mint")
}

pub fn xoauth2(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

pub fn b64url(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn google_error(error: &str, description: &str) -> String {
    serde_json::to_string_pretty(&json!({"error": error, "error_description": description})).unwrap()
}

/// A line-oriented SMTP client that returns replies byte-exact.
pub struct Smtp {
    pub conn: BufReader<Conn>,
}

impl Smtp {
    pub fn smtps(s: &Standin) -> Smtp {
        Smtp {
            conn: BufReader::new(Conn::connect(s, port_of(&s.info().smtps), true)),
        }
    }
    pub fn plain(s: &Standin) -> Smtp {
        Smtp {
            conn: BufReader::new(Conn::connect(s, port_of(&s.info().smtp_starttls), false)),
        }
    }
    /// [`Smtp::smtps`] past the greeting and `EHLO x`.
    pub fn smtps_after_ehlo(s: &Standin) -> Smtp {
        let mut c = Smtp::smtps(s);
        c.reply();
        c.cmd("EHLO x");
        c
    }
    /// [`Smtp::plain`] past the greeting and `EHLO x` (before any STARTTLS).
    pub fn plain_after_ehlo(s: &Standin) -> Smtp {
        let mut c = Smtp::plain(s);
        c.reply();
        c.cmd("EHLO x");
        c
    }
    /// One complete reply (all its lines), CRLFs included.
    pub fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut l = String::new();
            let n = self.conn.read_line(&mut l).expect("read a reply line");
            assert!(n > 0, "connection closed; got so far: {out:?}");
            out.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return out;
            }
        }
    }
    pub fn try_reply(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        let n = self.conn.read_line(&mut l)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(l)
    }
    pub fn send(&mut self, line: &str) {
        let c = self.conn.get_mut();
        c.write_all(line.as_bytes()).unwrap();
        c.write_all(b"\r\n").unwrap();
        c.flush().unwrap();
    }
    pub fn raw(&mut self, bytes: &[u8]) {
        let c = self.conn.get_mut();
        c.write_all(bytes).unwrap();
        c.flush().unwrap();
    }
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }
    pub fn starttls(&mut self, s: &Standin) {
        assert!(self.cmd("STARTTLS").starts_with("220 2.0.0 Ready to start TLS\r\n"));
        let placeholder = BufReader::new(Conn::Plain(self.conn.get_ref().tcp().try_clone().unwrap()));
        let old = std::mem::replace(&mut self.conn, placeholder);
        let Conn::Plain(tcp) = old.into_inner() else {
            panic!("already TLS")
        };
        self.conn = BufReader::new(Conn::wrap(s, tcp));
    }
    /// Greeting + EHLO + AUTH XOAUTH2 with initial response; panics unless 235.
    pub fn login(s: &Standin, token: &str) -> Smtp {
        let mut c = Smtp::smtps(s);
        c.reply();
        c.cmd("EHLO client.example");
        let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, token)));
        assert_eq!(r, "235 2.7.0 Accepted\r\n");
        c
    }
}

/// The gsmtp trailer: `<id> - gsmtp`.
pub fn ends_gsmtp(line: &str) -> bool {
    line.trim_end().ends_with(" - gsmtp")
}

pub fn api_send_url(s: &Standin) -> String {
    format!("{}/gmail/v1/users/me/messages/send", s.info().gmail_api)
}

pub fn api_send_raw(s: &Standin, token: &str, msg: &[u8]) -> Resp {
    let body = json!({"raw": b64url(msg)}).to_string();
    let auth = format!("Bearer {token}");
    request(
        s,
        "POST",
        &api_send_url(s),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Runs `tests/py/SCRIPT CASE` (a Python client that is not ours) against the stand-in and
/// returns the one JSON object it prints. The wait is bounded by `timeout` (the scripts' own
/// sockets time out after 10 s); a failing or hanging case panics with its stderr.
pub fn run_python(s: &Standin, script: &str, case: &str, timeout: Duration) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let mut child = std::process::Command::new("python3")
        .arg(path)
        .arg(s.state_dir().join("standin.json"))
        .arg(case)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let deadline = std::time::Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("python case {case} of {script} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python case {case} of {script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}
