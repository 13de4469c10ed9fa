//! Shared set-up for the send integration tests (`tests/send_*.rs`): an in-process Google
//! stand-in, a client configured against it, tokens minted without a browser, and the control
//! plane for faults, expiry and counters.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use oauthmail::secret::Secret;
use oauthmail::token::TokenDocument;
use oauthmail::{Client, Config};
use oauthmail_standin::{Options, Standin};
use serde_json::{json, Value};

pub const USER: &str = "erp.test@gmail.com";
pub const MAIL_SCOPE: &str = "openid email https://mail.google.com/";
pub const SEND_SCOPE: &str = "openid email https://www.googleapis.com/auth/gmail.send";

pub fn standin() -> Standin {
    Standin::start(Options::default()).expect("the stand-in starts")
}

/// Which endpoint a client sends through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    GmailApi,
    Smtps,
    StartTls,
}

pub fn config(s: &Standin, via: Via, extra: Value) -> Config {
    let info = s.info();
    let (transport, smtp) = match via {
        Via::GmailApi => ("gmail_api", info.smtps.clone()),
        Via::Smtps => ("smtp", info.smtps.clone()),
        Via::StartTls => ("smtp", info.smtp_starttls.clone()),
    };
    let mut c = json!({
        "provider": "google",
        "client_id": info.client_id,
        "client_secret": info.client_secret,
        "transport": transport,
        "endpoints": {
            "authorization": info.authorization_endpoint,
            "token": info.token_endpoint,
            "revocation": info.revocation_endpoint,
            "userinfo": info.userinfo_endpoint,
            "gmail_api": info.gmail_api,
            "smtp": smtp,
        },
        "timeouts": {"connect_s": 5, "io_s": 20},
        "tls": {"extra_ca_file": info.ca_file},
    });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    serde_json::from_value(c).expect("a valid configuration")
}

pub fn client(s: &Standin, via: Via) -> Client {
    Client::new(config(s, via, json!({}))).expect("client")
}

/// A token document for `USER` with `scope`, as authorize would have returned it.
pub fn token(s: &Standin, scope: &str) -> TokenDocument {
    let t = s.mint_token(USER, scope, true).expect("mint");
    TokenDocument {
        provider: oauthmail::provider::ProviderKind::Google,
        email: Some(USER.into()),
        scope: t["scope"].as_str().unwrap().to_string(),
        token_type: "Bearer".into(),
        access_token: Some(Secret::new(t["access_token"].as_str().unwrap())),
        expires_at: t["expires_at"].as_i64(),
        refresh_token: Some(Secret::new(t["refresh_token"].as_str().unwrap())),
        authorized_at: Some(now()),
    }
}

/// The same token, as a host would hold it an hour later: the access token has expired.
pub fn expired(mut t: TokenDocument, s: &Standin) -> TokenDocument {
    control(
        s,
        "POST",
        "/tokens/expire",
        Some(json!({"token": t.access_token.as_ref().unwrap().expose()})),
    );
    t.expires_at = Some(now() - 10);
    t
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A plain HTTP/1.1 request to the control plane; returns the JSON answer.
pub fn control(s: &Standin, method: &str, path: &str, body: Option<Value>) -> Value {
    let url = url::Url::parse(s.control_url()).unwrap();
    let mut tcp = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 2"),
        "control {method} {path}: {head}\n{body}"
    );
    serde_json::from_str(body).unwrap_or(Value::Null)
}

pub fn fault(s: &Standin, f: Value) {
    s.add_fault(&f).expect("fault accepted");
}

pub fn counter(s: &Standin, path: &str) -> i64 {
    let c = s.counters();
    path.split('.')
        .fold(&c, |v, k| &v[k])
        .as_i64()
        .unwrap_or_else(|| panic!("counter {path} in {c}"))
}

pub fn refreshes(s: &Standin) -> i64 {
    counter(s, "token.refresh_token")
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A one-line message from `USER` to one recipient.
pub fn simple() -> oauthmail::message::MessageDocument {
    message(json!({"from": USER, "to": ["ion@example.ro"], "text": "x"}))
}

/// Cancels every call in flight on `c` after `ms` milliseconds, from another thread.
pub fn cancel_after(c: &std::sync::Arc<Client>, ms: u64) -> std::thread::JoinHandle<()> {
    let c = std::sync::Arc::clone(c);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        c.cancel();
    })
}

/// Sends [`simple`] with `t` on `c`, cancelled from another thread after 300 ms; asserts the send
/// ends `Cancelled` within `within_ms` and returns its error.
#[track_caller]
pub fn simple_send_cancelled_after_300_ms(
    c: &std::sync::Arc<Client>,
    t: &TokenDocument,
    within_ms: u64,
) -> oauthmail::Error {
    let canceller = cancel_after(c, 300);
    let started = std::time::Instant::now();
    let e = c.send(t, &simple()).unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.status, oauthmail::Status::Cancelled, "{e:?}");
    assert!(
        started.elapsed() < Duration::from_millis(within_ms),
        "{:?}",
        started.elapsed()
    );
    e
}

/// `threads` threads each send `sends` messages with token `t` on client `c`; per send, whether
/// its result carried a (refreshed) token.
pub fn parallel_sends(
    c: &std::sync::Arc<Client>,
    t: &std::sync::Arc<TokenDocument>,
    threads: usize,
    sends: usize,
) -> Vec<oauthmail::Result<bool>> {
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (c, t) = (std::sync::Arc::clone(c), std::sync::Arc::clone(t));
            std::thread::spawn(move || {
                (0..sends)
                    .map(|n| {
                        let doc = message(json!({"from": USER, "to": [format!("t{i}.{n}@example.ro")], "text": "x"}));
                        c.send(&*t, &doc).map(|r| r.token.is_some())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

pub fn message(json: Value) -> oauthmail::message::MessageDocument {
    serde_json::from_value(json).expect("a valid message document")
}

/// The one stored message's sidecar and bytes.
pub fn only_message(s: &Standin) -> (Value, Vec<u8>) {
    let list = s.messages();
    assert_eq!(list.len(), 1, "exactly one message in the mailbox: {list:?}");
    let side = list[0].clone();
    let bytes = s.message_bytes(side["id"].as_str().unwrap()).unwrap();
    (side, bytes)
}

/// The envelope recipients recorded in a message's sidecar, in order.
pub fn envelope_to(side: &Value) -> Vec<&str> {
    side["envelope"]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// The [`invoice`]'s Subject and From arrive with their diacritics intact (RFC 2047 decoded).
#[track_caller]
pub fn assert_invoice_subject_and_from(eml: &[u8]) {
    assert_eq!(
        decode_2047(&header(eml, "Subject").unwrap()),
        format!("Factura nr. 123 — scadență {DIACRITICS}")
    );
    assert_eq!(
        decode_2047(&header(eml, "From").unwrap()),
        format!("Firmă SRL {DIACRITICS} <{USER}>")
    );
}

/// The unfolded value of header `name` in the top-level header block.
pub fn header(eml: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(eml);
    let head = text
        .split("\r\n\r\n")
        .next()?
        .replace("\r\n ", " ")
        .replace("\r\n\t", "\t");
    head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// Decodes RFC 2047 encoded words (B and Q) as a mail reader does.
pub fn decode_2047(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut after_word = false;
    while let Some(i) = rest.find("=?") {
        if !(after_word && rest[..i].trim().is_empty()) {
            out.push_str(&rest[..i]);
        }
        let mut it = rest[i + 2..].splitn(3, '?');
        let (_cs, enc, tail) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let end = tail.find("?=").unwrap();
        let bytes = if enc.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD.decode(&tail[..end]).unwrap()
        } else {
            let t = &tail.as_bytes()[..end];
            let mut v = Vec::new();
            let mut j = 0;
            while j < t.len() {
                match t[j] {
                    b'_' => v.push(b' '),
                    b'=' => {
                        v.push(u8::from_str_radix(std::str::from_utf8(&t[j + 1..j + 3]).unwrap(), 16).unwrap());
                        j += 2;
                    }
                    c => v.push(c),
                }
                j += 1;
            }
            v
        };
        out.push_str(&String::from_utf8(bytes).unwrap());
        rest = &tail[end + 2..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// The decoded body of the MIME part whose headers contain `needle` (base64 parts only).
pub fn part_body(eml: &[u8], needle: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(eml);
    let part = text
        .split("\r\n--")
        .find(|p| p.split("\r\n\r\n").next().is_some_and(|h| h.contains(needle)))
        .unwrap_or_else(|| panic!("a part with {needle}"));
    assert!(part.contains("Content-Transfer-Encoding: base64"));
    let body: String = part.split_once("\r\n\r\n").unwrap().1.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

pub const DIACRITICS: &str = "ă â î ș ț Ă Â Î Ș Ț";

/// A structured message with a diacritics subject and name, a path attachment and a Bcc.
pub fn invoice(dir: &std::path::Path) -> (oauthmail::message::MessageDocument, Vec<u8>) {
    let pdf: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n.\n..\r\nend"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(70_000))
        .collect();
    let path = dir.join("Factură 123 ăâîșț.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let doc = message(json!({
        "from": format!("Firmă SRL {DIACRITICS} <{USER}>"),
        "to": ["Ion Popescu <ion@example.ro>"],
        "cc": ["contabil@example.ro"],
        "bcc": ["Șef Ascuns <sef@example.ro>"],
        "subject": format!("Factura nr. 123 — scadență {DIACRITICS}"),
        "text": format!("Bună ziua,\nvă trimitem factura. {DIACRITICS}\n.\n"),
        "html": format!("<p>Bună ziua, {DIACRITICS}</p>"),
        "attachments": [{"path": path.to_str().unwrap()}],
        "headers": {"X-Document-Id": "123"}
    }));
    (doc, pdf)
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    // A sequence number too: two tests of one binary asking for the same name within one second
    // (send_smtp's smtps and STARTTLS invoices) must not share, and delete, one directory.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("oauthmail-{name}-{}-{}-{seq}", std::process::id(), now()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
