//! The bodies of liboauthmail's fuzz targets (`fuzz_targets/*.rs` are one line each), so the same
//! code runs under libFuzzer (`cargo fuzz`) and in the stable replay (`src/bin/replay.rs`).
//!
//! Every target feeds bytes to a place a host's (or a server's) bytes reach, through the C API
//! wherever the C API gets there without Google: the configuration (`oauthmail_client_new`), the
//! authorize options, token and message documents and raw messages (`oauthmail_authorize`,
//! `oauthmail_send`), the token endpoint's and the Gmail API's HTTP answers and the SMTP server's
//! replies (served verbatim by the loopback stubs below). Two targets call internal parsers
//! directly through `oauthmail::fuzzing` (feature `fuzzing`) to reach them at full speed.
//!
//! Beyond "no crash, no leak, no hang" (libFuzzer + AddressSanitizer), every target checks the
//! promises a host relies on: the status is a known one and never `OAUTHMAIL_INTERNAL` ("a bug in
//! liboauthmail"), the error document is JSON whose `status` names the returned code, and no
//! secret of the input (client secret, access or refresh token) appears in an error document or a
//! log line.

use std::ffi::{c_char, c_void, CStr, CString};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use oauthmail::ffi::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The targets

/// `oauthmail_client_new` with arbitrary configuration bytes.
pub fn config(data: &[u8]) {
    let text = c_text(data);
    let mut client: *mut oauthmail_client = std::ptr::null_mut();
    let mut out: *mut c_char = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated input and writable out-pointers, as the header asks.
    let status = unsafe { oauthmail_client_new(text.as_ptr(), &mut client, &mut out) };
    let doc = take_string(out);
    if status == OAUTHMAIL_OK {
        assert!(!client.is_null(), "OK without a client");
        assert!(doc.is_none(), "OK with an error document");
        assert_no_cleartext_endpoint(data);
    } else {
        assert!(client.is_null(), "a failed oauthmail_client_new left a handle");
    }
    check_outcome(
        "oauthmail_client_new",
        status,
        doc.as_deref(),
        &secrets_of(data, &["client_secret"]),
    );
    // SAFETY: NULL or the live handle just created; nothing else uses it.
    unsafe { oauthmail_client_free(client) };
}

/// A configuration that was accepted sends nothing in clear text beyond this machine: every
/// `http://` endpoint names a loopback host (127.0.0.0/8, ::1, localhost), issue 11 item 3.
fn assert_no_cleartext_endpoint(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(endpoints) = v.get("endpoints").and_then(Value::as_object) else {
        return;
    };
    for (name, value) in endpoints {
        let Some(text) = value.as_str() else { continue };
        let Ok(u) = url::Url::parse(text) else { continue };
        if u.scheme() != "http" {
            continue;
        }
        let loopback = match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        assert!(
            loopback,
            "a clear-text endpoint was accepted: endpoints.{name} = {text}"
        );
    }
}

/// `oauthmail_authorize` with arbitrary options; the `url_opener` declines, so no browser opens
/// and no network is used (the loopback listener is bound and closed).
pub fn authorize_options(data: &[u8]) {
    let c = CClient::shared(Transport::GmailApi);
    let options = c_text(data);
    let mut out: *mut c_char = std::ptr::null_mut();
    // SAFETY: a live handle, NUL-terminated input, a writable out-pointer.
    let status = unsafe { oauthmail_authorize(c.ptr, options.as_ptr(), &mut out) };
    let doc = take_string(out);
    assert!(
        status == OAUTHMAIL_INVALID_ARGUMENT || status == OAUTHMAIL_CANCELLED,
        "authorize with a declining opener returned {status}: {doc:?}"
    );
    check_outcome("oauthmail_authorize", status, doc.as_deref(), &[]);
    c.check_logs(&[]);
}

/// `oauthmail_send` with an arbitrary token document and a fixed message, against loopback
/// stubs that answer the token endpoint and the Gmail API as Google does on success.
pub fn token_document(data: &[u8]) {
    let http = HttpStub::get();
    http.script(&good_token_answer(), &good_send_answer());
    let c = CClient::shared(Transport::GmailApi);
    let secrets = secrets_of(data, &["access_token", "refresh_token"]);
    let (status, doc) = c.send(&c_text(data), &c_text(SIMPLE_MESSAGE.as_bytes()));
    check_outcome("oauthmail_send", status, doc.as_deref(), &secrets);
    c.check_logs(&secrets);
}

/// `oauthmail_send` with a fixed, valid token and an arbitrary message document; the Gmail API
/// stub accepts whatever arrives.
pub fn message_document(data: &[u8]) {
    send_message(&c_text(data));
}

/// `oauthmail_send` of arbitrary bytes as a raw RFC 5322 message (`raw_base64`).
pub fn raw_message(data: &[u8]) {
    let doc = json!({ "raw_base64": base64::engine::general_purpose::STANDARD.encode(data) });
    send_message(&c_text(doc.to_string().as_bytes()));
}

/// The SMTP reply parser and reply mapping: `oauthmail_send` by SMTP (STARTTLS port) to a stub
/// that answers the connection with these bytes and then closes. The stub never speaks TLS, so a
/// send can never succeed: success would mean mail went out in clear text.
pub fn smtp_reply(data: &[u8]) {
    let smtp = SmtpStub::get();
    smtp.script(data);
    let c = CClient::shared(Transport::Smtp);
    let (status, doc) = c.send(&c_text(good_token().as_bytes()), &c_text(SIMPLE_MESSAGE.as_bytes()));
    assert_ne!(status, OAUTHMAIL_OK, "SMTP send succeeded without TLS: {doc:?}");
    check_outcome("oauthmail_send", status, doc.as_deref(), &fixed_secrets());
    c.check_logs(&fixed_secrets());
}

/// The token endpoint's answer (status line, headers, body, as bytes on the wire) to a refresh.
/// Uses the Rust API so the logger may cancel the call when it announces a retry: the retry
/// back-off (250 ms, 1 s) would otherwise make each 5xx input take over a second.
/// (The C API's logger must not call back into the library; the Rust sink has no such rule.)
pub fn token_response(data: &[u8]) {
    let http = HttpStub::get();
    http.script(data, &good_send_answer());
    let (client, lines) = rust_client();
    lines.lock().unwrap().clear();
    let token: oauthmail::token::TokenDocument =
        serde_json::from_str(&good_token()).expect("the fixed token document is valid");
    let mut secrets = fixed_secrets();
    let answer_token = answer_access_token(data);
    match client.refresh(&token) {
        Ok(fresh) => {
            let access = fresh.access_token.as_ref().map(|s| s.expose().to_string());
            assert!(
                access.as_deref().is_some_and(|a| !a.is_empty()),
                "a refresh returned no access token"
            );
            let v = serde_json::to_value(&fresh).expect("a token document serializes");
            // Kept, or replaced by a rotated one (Microsoft), but never lost.
            assert!(
                v["refresh_token"].as_str().is_some_and(|r| !r.is_empty()),
                "the refresh token was lost: {}",
                v["refresh_token"]
            );
        }
        Err(e) => {
            let status = e.status.code();
            secrets.extend(answer_token.clone());
            check_outcome("refresh", status, Some(&e.to_document().to_string()), &secrets);
        }
    }
    secrets.extend(answer_token);
    check_lines(&lines.lock().unwrap(), &secrets);
}

/// The Gmail API's answer (as bytes on the wire) to a send.
pub fn gmail_response(data: &[u8]) {
    let http = HttpStub::get();
    http.script(&good_token_answer(), data);
    let c = CClient::shared(Transport::GmailApi);
    let (status, doc) = c.send(&c_text(good_token().as_bytes()), &c_text(SIMPLE_MESSAGE.as_bytes()));
    check_outcome("oauthmail_send", status, doc.as_deref(), &fixed_secrets());
    c.check_logs(&fixed_secrets());
}

/// The Gmail API error mapping and Retry-After reading, directly: the first two bytes are the
/// HTTP status, then header lines (`name: value`) up to an empty line, then the body.
pub fn gmail_error(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]) % 1000;
    let rest = String::from_utf8_lossy(&data[2..]);
    let (head, body) = rest.split_once("\n\n").unwrap_or((&rest, ""));
    let headers: Vec<(String, String)> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let retry_header = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.clone());
    let (mapped, retry) = oauthmail::fuzzing::gmail_error(status, headers, body.as_bytes().to_vec());
    assert_ne!(mapped, oauthmail::Status::Ok, "an HTTP {status} answer mapped to OK");
    assert_ne!(
        mapped,
        oauthmail::Status::Internal,
        "an HTTP {status} answer mapped to INTERNAL"
    );
    if retry.is_some() {
        assert!(
            matches!(mapped, oauthmail::Status::RateLimited | oauthmail::Status::Provider),
            "retry_after_s on a {mapped:?} answer"
        );
    }
    // Reading the same header at the same instant gives the same answer (no hidden state).
    let now = 1_764_000_000;
    let a = oauthmail::fuzzing::retry_after(retry_header.as_deref(), body, now);
    let b = oauthmail::fuzzing::retry_after(retry_header.as_deref(), body, now);
    assert_eq!(a, b);
}

/// The email claim of an id_token from the token endpoint.
pub fn id_token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(email) = oauthmail::fuzzing::id_token_email(&text) {
        assert!(!email.is_empty(), "an empty email was taken from an id_token");
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed inputs

const REFRESH_TOKEN: &str = "1//0fuzz-refresh-token-Zq8xW3vR7tY2uI9oP4aS6dF1gH5jK0";
const ACCESS_TOKEN: &str = "ya29.fuzz-access-token-Lm3Nb7Vc1Xz9Qw5Er2Ty8Ui4Op6As0Df";
const CLIENT_SECRET: &str = "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Cv";
const SIMPLE_MESSAGE: &str = r#"{"from": "erp.test@gmail.com", "to": ["ion@example.ro"], "subject": "x", "text": "x"}"#;
/// The token endpoint's answer to a refresh, as Google sends it.
/// An HTTP/1.1 200 answer with a JSON body, as Google sends it.
fn ok_json(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The token endpoint's answer to a refresh. It lives 30 s, less than the refresh margin, so no
/// later input is served this token from the client's cache.
fn good_token_answer() -> Vec<u8> {
    ok_json(
        r#"{"access_token": "ya29.fuzz-refreshed-access-token-0123456789", "expires_in": 30, "scope": "https://mail.google.com/", "token_type": "Bearer"}"#,
    )
}

/// The Gmail API's answer to a send.
fn good_send_answer() -> Vec<u8> {
    ok_json(r#"{"id": "18c9f0a1b2c3d4e5", "threadId": "18c9f0a1b2c3d4e5", "labelIds": ["SENT"]}"#)
}

fn fixed_secrets() -> Vec<String> {
    vec![REFRESH_TOKEN.into(), ACCESS_TOKEN.into(), CLIENT_SECRET.into()]
}

/// A token document that needs no refresh: it expires in a day.
fn good_token() -> String {
    json!({
        "provider": "google",
        "email": "erp.test@gmail.com",
        "scope": "openid email https://mail.google.com/",
        "token_type": "Bearer",
        "access_token": ACCESS_TOKEN,
        "expires_at": now() + 86_400,
        "refresh_token": REFRESH_TOKEN,
    })
    .to_string()
}

/// The configuration of every C-API target: the loopback stubs (plain HTTP is accepted for
/// loopback hosts), short timeouts so nothing a stub does can stall a run.
fn config_json(transport: &str, smtp_port: Option<u16>) -> String {
    let http = HttpStub::get().port;
    let base = format!("http://127.0.0.1:{http}");
    let smtp = format!("smtp://127.0.0.1:{}", smtp_port.unwrap_or(1));
    json!({
        "provider": "google",
        "client_id": "1072429875-fuzz.apps.googleusercontent.com",
        "client_secret": CLIENT_SECRET,
        "transport": transport,
        "endpoints": {
            "authorization": format!("{base}/o/oauth2/v2/auth"),
            "token": format!("{base}/token"),
            "revocation": format!("{base}/revoke"),
            "userinfo": format!("{base}/v1/userinfo"),
            "gmail_api": base,
            "smtp": smtp,
        },
        "timeouts": {"connect_s": 2, "io_s": 2, "authorize_s": 2},
    })
    .to_string()
}

fn send_message(message: &CString) {
    let http = HttpStub::get();
    http.script(&good_token_answer(), &good_send_answer());
    let c = CClient::shared(Transport::GmailApi);
    let (status, doc) = c.send(&c_text(good_token().as_bytes()), message);
    check_outcome("oauthmail_send", status, doc.as_deref(), &fixed_secrets());
    c.check_logs(&fixed_secrets());
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ---------------------------------------------------------------------------------------------
// The oracles

/// The checks every C API outcome must pass: a known status other than INTERNAL; on failure an
/// error document that is JSON, whose `status` is the returned code's name and whose `message` is
/// not empty; no secret in it.
fn check_outcome(function: &str, status: u32, doc: Option<&str>, secrets: &[String]) {
    // SAFETY: oauthmail_status_name returns a static NUL-terminated string for any value.
    let name = unsafe { CStr::from_ptr(oauthmail_status_name(status)) }
        .to_str()
        .unwrap();
    assert_ne!(name, "unknown", "{function} returned an unknown status {status}");
    assert_ne!(
        status, OAUTHMAIL_INTERNAL,
        "{function} returned INTERNAL (a bug): {doc:?}"
    );
    if status == OAUTHMAIL_OK {
        return;
    }
    let doc = doc.unwrap_or_else(|| panic!("{function} failed with {name} but wrote no error document"));
    let v: Value = serde_json::from_str(doc).unwrap_or_else(|e| panic!("error document is not JSON ({e}): {doc}"));
    let e = &v["error"];
    assert_eq!(e["status"], name, "error document's status: {doc}");
    assert_eq!(e["code"], status, "error document's code: {doc}");
    for key in ["message", "hint"] {
        assert!(e[key].as_str().is_some_and(|m| !m.is_empty()), "no {key}: {doc}");
    }
    for s in secrets {
        assert!(
            !doc.contains(s.as_str()),
            "{function}: a secret is in the error document: {doc}"
        );
    }
}

fn check_lines(lines: &[String], secrets: &[String]) {
    for line in lines {
        for s in secrets {
            assert!(!line.contains(s.as_str()), "a secret is in a log line: {line}");
        }
    }
}

/// The string values of `keys` in a JSON input (anywhere in it) that count as secrets for the
/// leak check: long enough (12+ characters) not to occur by chance, and not also used as the
/// value of some other field (the error may rightly quote that one).
fn secrets_of(data: &[u8], keys: &[&str]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return Vec::new();
    };
    let mut secret = Vec::new();
    let mut other = Vec::new();
    walk(&v, keys, &mut secret, &mut other);
    secret
        .into_iter()
        .filter(|s| s.len() >= 12 && !other.iter().any(|o| o.contains(s.as_str())))
        .collect()
}

fn walk(v: &Value, keys: &[&str], secret: &mut Vec<String>, other: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                other.push(k.clone());
                match x {
                    Value::String(s) if keys.contains(&k.as_str()) => secret.push(s.clone()),
                    _ => walk(x, keys, secret, other),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, keys, secret, other)),
        Value::String(s) => other.push(s.clone()),
        _ => {}
    }
}

/// The access token in a token-endpoint answer, when it is one and long enough to count.
fn answer_access_token(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let Some((_, body)) = text.split_once("\r\n\r\n") else {
        return Vec::new();
    };
    let found = secrets_of(body.as_bytes(), &["access_token", "refresh_token", "id_token"]);
    found
        .into_iter()
        .filter(|s| s.len() >= 20 && !s.contains(char::is_whitespace))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The C API, held safely

/// Bytes as a C string: the host's view ends at the first NUL.
fn c_text(data: &[u8]) -> CString {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    CString::new(&data[..end]).expect("no NUL before `end`")
}

/// Takes (and frees) a string the library returned through `out_json`.
fn take_string(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string from the library, not yet freed; freed once here.
    let s = unsafe { CStr::from_ptr(p) }.to_str().map(str::to_string);
    // SAFETY: as above.
    unsafe { oauthmail_string_free(p) };
    Some(s.expect("the library returned invalid UTF-8"))
}

/// A client handle with a logger that keeps every line, freed on drop.
struct CClient {
    ptr: *mut oauthmail_client,
    lines: Box<Mutex<Vec<String>>>,
}

// SAFETY: a client handle may be used from any thread (the header's promise); `lines` is a Mutex.
unsafe impl Send for CClient {}
// SAFETY: as above.
unsafe impl Sync for CClient {}

#[derive(Clone, Copy)]
enum Transport {
    GmailApi,
    Smtp,
}

/// The Rust API client of `token_response` and the lines its logger kept.
fn rust_client() -> &'static (Arc<oauthmail::Client>, Arc<Mutex<Vec<String>>>) {
    static CLIENT: OnceLock<(Arc<oauthmail::Client>, Arc<Mutex<Vec<String>>>)> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let config: oauthmail::Config =
            serde_json::from_str(&config_json("gmail_api", None)).expect("the fixed configuration is valid");
        let client = Arc::new(oauthmail::Client::new(config).expect("the fixed configuration is valid"));
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let (weak, sink_lines) = (Arc::downgrade(&client), Arc::clone(&lines));
        client.set_logger(
            Some(Arc::new(move |_level, line: &str| {
                if line.contains("retrying") {
                    if let Some(c) = weak.upgrade() {
                        c.cancel();
                    }
                }
                sink_lines.lock().unwrap().push(line.to_string());
            })),
            oauthmail::log::Level::Trace,
        );
        (client, lines)
    })
}

impl CClient {
    /// One client per transport for the whole process: creating one loads the system trust
    /// store, which under AddressSanitizer costs more than the call being fuzzed. Nothing a call
    /// leaves behind changes the next one: no SMTP session is ever kept (the stub has no TLS), and
    /// refreshed tokens expire within the refresh margin, so the single-flight cache never hands
    /// one out again. The log is emptied for each input.
    fn shared(transport: Transport) -> &'static CClient {
        static GMAIL: OnceLock<CClient> = OnceLock::new();
        static SMTP: OnceLock<CClient> = OnceLock::new();
        let (cell, config) = match transport {
            Transport::GmailApi => (&GMAIL, config_json("gmail_api", None)),
            Transport::Smtp => (&SMTP, config_json("smtp", Some(SmtpStub::get().port))),
        };
        let c = cell.get_or_init(|| {
            let c = CClient::new(&config);
            // SAFETY: a live handle; the opener is a plain function that ignores `user_data`.
            let set = unsafe { oauthmail_client_set_url_opener(c.ptr, Some(decline_url), std::ptr::null_mut()) };
            assert_eq!(set, OAUTHMAIL_OK);
            c
        });
        c.lines.lock().unwrap().clear();
        c
    }

    fn new(config: &str) -> CClient {
        let text = CString::new(config).unwrap();
        let mut ptr: *mut oauthmail_client = std::ptr::null_mut();
        // SAFETY: valid input and out-pointer; out_json may be NULL.
        let status = unsafe { oauthmail_client_new(text.as_ptr(), &mut ptr, std::ptr::null_mut()) };
        assert_eq!(status, OAUTHMAIL_OK, "the fixed configuration is valid");
        let lines = Box::new(Mutex::new(Vec::new()));
        let user_data = &*lines as *const Mutex<Vec<String>> as *mut c_void;
        // SAFETY: a live handle; `user_data` points into `lines`, which outlives the handle
        // (Drop frees the handle first).
        let set = unsafe { oauthmail_client_set_logger(ptr, Some(keep_line), user_data, 5) };
        assert_eq!(set, OAUTHMAIL_OK);
        CClient { ptr, lines }
    }

    fn send(&self, token: &CString, message: &CString) -> (u32, Option<String>) {
        let mut out: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live handle, NUL-terminated inputs, a writable out-pointer.
        let status = unsafe { oauthmail_send(self.ptr, token.as_ptr(), message.as_ptr(), &mut out) };
        (status, take_string(out))
    }

    fn check_logs(&self, secrets: &[String]) {
        let mut all = fixed_secrets();
        all.extend_from_slice(secrets);
        check_lines(&self.lines.lock().unwrap(), &all);
    }
}

impl Drop for CClient {
    fn drop(&mut self) {
        // SAFETY: the live handle made in `new`, freed once; no other thread uses it.
        unsafe { oauthmail_client_free(self.ptr) };
    }
}

unsafe extern "C" fn keep_line(user_data: *mut c_void, _level: u32, message: *const c_char) {
    // SAFETY: `user_data` is the `Mutex` of a live CClient; `message` is valid for this call.
    let (lines, text) = unsafe { (&*(user_data as *const Mutex<Vec<String>>), CStr::from_ptr(message)) };
    let text = text.to_str().expect("log lines are UTF-8").to_string();
    lines.lock().unwrap().push(text);
}

unsafe extern "C" fn decline_url(_user_data: *mut c_void, url: *const c_char) -> i32 {
    // SAFETY: `url` is a NUL-terminated string valid for this call.
    let url = unsafe { CStr::from_ptr(url) }.to_str().expect("the URL is UTF-8");
    assert!(
        !url.bytes().any(|b| b <= b' ' || b == 0x7f),
        "the authorization URL has a space or control byte: {url}"
    );
    1
}

// ---------------------------------------------------------------------------------------------
// Loopback stubs that answer with the fuzz input

/// One HTTP server for the process: every connection reads one request and gets the scripted
/// answer for its path (`/token` or the Gmail API), verbatim, and is closed.
struct HttpStub {
    port: u16,
    answers: Arc<Mutex<(Vec<u8>, Vec<u8>)>>,
}

impl HttpStub {
    fn get() -> &'static HttpStub {
        static STUB: OnceLock<HttpStub> = OnceLock::new();
        STUB.get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            let port = listener.local_addr().unwrap().port();
            let answers = Arc::new(Mutex::new((Vec::new(), Vec::new())));
            let shared = Arc::clone(&answers);
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let answers = Arc::clone(&shared);
                    std::thread::spawn(move || serve_http(conn, &answers));
                }
            });
            HttpStub { port, answers }
        })
    }

    fn script(&self, token: &[u8], gmail: &[u8]) {
        *self.answers.lock().unwrap() = (token.to_vec(), gmail.to_vec());
    }
}

fn serve_http(mut conn: TcpStream, answers: &Mutex<(Vec<u8>, Vec<u8>)>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = conn.set_nodelay(true);
    // Read the whole request (head, then Content-Length bytes) so closing never resets it.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let answer = {
        let a = answers.lock().unwrap();
        if path.starts_with("/token") {
            a.0.clone()
        } else {
            a.1.clone()
        }
    };
    let _ = conn.write_all(&answer);
    let _ = conn.shutdown(Shutdown::Both);
}

/// One SMTP server for the process: each connection gets the scripted bytes at once, then the
/// write side is closed and whatever the client sends is read until it closes.
struct SmtpStub {
    port: u16,
    script: Arc<Mutex<Vec<u8>>>,
}

impl SmtpStub {
    fn get() -> &'static SmtpStub {
        static STUB: OnceLock<SmtpStub> = OnceLock::new();
        STUB.get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            let port = listener.local_addr().unwrap().port();
            let script = Arc::new(Mutex::new(Vec::new()));
            let shared = Arc::clone(&script);
            std::thread::spawn(move || {
                for mut conn in listener.incoming().flatten() {
                    let bytes = shared.lock().unwrap().clone();
                    std::thread::spawn(move || {
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
                        let _ = conn.write_all(&bytes);
                        let _ = conn.shutdown(Shutdown::Write);
                        let mut sink = [0u8; 4096];
                        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                    });
                }
            });
            SmtpStub { port, script }
        })
    }

    fn script(&self, bytes: &[u8]) {
        *self.script.lock().unwrap() = bytes.to_vec();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
