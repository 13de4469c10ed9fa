//! Issue 11, defects 2-5: what a hostile or careless host can hand the library, over real
//! sockets against the stand-in where a socket is involved.

mod send_common;

use std::ffi::{CStr, CString};
use std::ptr;

use oauthmail::secret::Secret;
use oauthmail::Status;
use send_common::*;
use serde_json::{json, Value};

/// The stand-in client's configuration as the JSON text a C host passes.
fn config_json(s: &oauthmail_standin::Standin, transport: &str) -> String {
    let info = s.info();
    json!({
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
            "smtp": info.smtps,
        },
        "timeouts": {"connect_s": 5, "io_s": 20},
        "tls": {"extra_ca_file": info.ca_file},
    })
    .to_string()
}

/// `oauthmail_send` through the C API: (status, the out document).
fn c_send(config: &str, token: &Value, message: &Value) -> (u32, Value) {
    let config = CString::new(config).unwrap();
    let mut client = ptr::null_mut();
    // SAFETY: valid strings and out pointers.
    let st = unsafe { oauthmail::ffi::oauthmail_client_new(config.as_ptr(), &mut client, ptr::null_mut()) };
    assert_eq!(st, 0, "client_new");
    let token = CString::new(token.to_string()).unwrap();
    let message = CString::new(message.to_string()).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: a live client and valid strings.
    let status = unsafe { oauthmail::ffi::oauthmail_send(client, token.as_ptr(), message.as_ptr(), &mut out) };
    let doc = if out.is_null() {
        Value::Null
    } else {
        // SAFETY: `out` is a NUL-terminated string from the library.
        let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
        // SAFETY: freed once.
        unsafe { oauthmail::ffi::oauthmail_string_free(out) };
        serde_json::from_str(&text).unwrap()
    };
    // SAFETY: freed once, no call in flight.
    unsafe { oauthmail::ffi::oauthmail_client_free(client) };
    (status, doc)
}

fn simple_json() -> Value {
    json!({"from": USER, "to": ["ion@example.ro"], "subject": "x", "text": "x"})
}

#[test]
fn a_line_break_or_nul_in_a_token_field_is_invalid_argument_naming_it_not_internal() {
    let s = standin();
    let good = token(&s, MAIL_SCOPE);
    let access = good.access_token.as_ref().unwrap().expose().to_string();
    let refresh = good.refresh_token.as_ref().unwrap().expose().to_string();
    let config = config_json(&s, "gmail_api");
    for (field, bad) in [
        ("access_token", format!("{access}\r\nX-Injected: 1")),
        ("access_token", format!("{access}\0")),
        ("refresh_token", format!("{refresh}\n")),
    ] {
        let mut doc = json!({
            "provider": "google", "email": USER, "scope": MAIL_SCOPE, "token_type": "Bearer",
            "access_token": access, "expires_at": now() + 3600, "refresh_token": refresh,
        });
        doc[field] = json!(bad);
        let (status, out) = c_send(&config, &doc, &simple_json());
        assert_eq!(status, Status::InvalidArgument.code(), "{field}: {out}");
        assert_eq!(out["error"]["field"], format!("token.{field}"), "{out}");
        assert!(!out.to_string().contains(&access), "the error must not carry the token");
    }
    // The Rust API refuses the same before connecting.
    let c = client(&s, Via::GmailApi);
    let mut t = good.clone();
    t.access_token = Some(Secret::new(format!("{access}\r\n")));
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("token.access_token"));
    assert!(s.messages().is_empty());
    assert_eq!(counter(&s, "gmail_send"), 0);
}

#[test]
fn a_clear_text_endpoint_is_refused_unless_its_host_is_loopback() {
    let s = standin();
    for field in ["token", "revocation", "userinfo", "gmail_api", "authorization"] {
        for url in [
            "http://oauth2.example.com/x",
            "http://10.0.0.1/x",
            "http://127.0.0.1.example.com/x",
            "http://localhost.example.com/x",
        ] {
            let mut v: Value = serde_json::from_str(&config_json(&s, "gmail_api")).unwrap();
            v["endpoints"][field] = json!(url);
            let parsed: oauthmail::Config = serde_json::from_value(v).unwrap();
            let e = oauthmail::Client::new(parsed).unwrap_err();
            assert_eq!(e.status, Status::InvalidArgument, "{field} {url}: {e:?}");
            assert_eq!(
                e.field.as_deref(),
                Some(format!("config.endpoints.{field}").as_str()),
                "{url}"
            );
        }
        for url in [
            "http://127.0.0.1:9/x",
            "http://127.8.9.10:9/x",
            "http://[::1]:9/x",
            "http://localhost:9/x",
        ] {
            let mut v: Value = serde_json::from_str(&config_json(&s, "gmail_api")).unwrap();
            v["endpoints"][field] = json!(url);
            let parsed: oauthmail::Config = serde_json::from_value(v).unwrap();
            assert!(oauthmail::Client::new(parsed).is_ok(), "{field} {url} is loopback");
        }
    }
}

/// procfs files report size 0 and hold gigabytes (`/proc/self/pagemap`): every file the library
/// reads is read through its limit, and the error says which limit.
#[cfg(target_os = "linux")]
#[test]
fn a_file_that_reports_size_zero_is_read_only_up_to_its_limit() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let t = token(&s, MAIL_SCOPE);
    let started = std::time::Instant::now();
    let attachment = message(json!({"from": USER, "to": ["ion@example.ro"], "text": "x",
                                    "attachments": [{"path": "/proc/self/pagemap"}]}));
    let e = c.send(&t, &attachment).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("message.attachments[0].path"));
    assert!(e.message.contains("limit"), "{}", e.message);
    let raw = message(json!({"raw_path": "/proc/self/pagemap"}));
    let e = c.send(&t, &raw).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("message.raw_path"), "{e:?}");
    assert!(e.message.contains("limit"), "{}", e.message);
    assert!(s.messages().is_empty());
    assert_eq!(counter(&s, "gmail_send"), 0);

    let mut v: Value = serde_json::from_str(&config_json(&s, "gmail_api")).unwrap();
    v["tls"]["extra_ca_file"] = json!("/proc/self/pagemap");
    let e = oauthmail::Client::new(serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(e.status, Status::Io, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("config.tls.extra_ca_file"));
    assert!(e.message.contains("limit"), "{}", e.message);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A FIFO or a device is not a file to read: refused before it is opened (opening a FIFO
/// would wait for a writer).
#[cfg(unix)]
#[test]
fn a_fifo_as_a_ca_file_or_attachment_is_refused_not_waited_on() {
    let dir = temp_dir("hardening-fifo");
    let fifo = dir.join("ca.pem");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let s = standin();
    let mut v: Value = serde_json::from_str(&config_json(&s, "gmail_api")).unwrap();
    v["tls"]["extra_ca_file"] = json!(fifo.to_str().unwrap());
    let e = oauthmail::Client::new(serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(e.status, Status::Io, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("config.tls.extra_ca_file"));
    let c = client(&s, Via::GmailApi);
    let doc = message(json!({"from": USER, "to": ["ion@example.ro"], "text": "x",
                             "attachments": [{"path": fifo.to_str().unwrap()}]}));
    let e = c.send(&token(&s, MAIL_SCOPE), &doc).unwrap_err();
    assert_eq!(e.status, Status::Io, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("message.attachments[0].path"));
    let e = oauthmail::Client::new(config(
        &s,
        Via::GmailApi,
        json!({"tls": {"extra_ca_file": "/dev/zero"}}),
    ))
    .unwrap_err();
    assert_eq!(e.status, Status::Io, "{e:?}");
    let _ = std::fs::remove_file(&fifo);
}

/// Defect 5: statuses and messages that say what happened and nothing else.
#[test]
fn a_refused_gmail_api_connection_does_not_say_the_message_may_have_been_delivered() {
    let s = standin();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = oauthmail::Client::new(config(
        &s,
        Via::GmailApi,
        json!({"endpoints": {
            "authorization": s.info().authorization_endpoint,
            "token": s.info().token_endpoint,
            "gmail_api": format!("https://127.0.0.1:{closed}"),
        }}),
    ))
    .unwrap();
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::Network, "{e:?}");
    assert!(!e.message.contains("may have"), "{}", e.message);
}

#[test]
fn a_454_starttls_refusal_is_not_rate_limited() {
    let s = standin();
    let c = client(&s, Via::StartTls);
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "starttls", "kind": "reply", "code": 454,
               "text": "4.7.0 TLS not available due to temporary reason"}),
    );
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_ne!(e.status, Status::RateLimited, "{e:?}");
    assert_eq!(e.status, Status::Provider, "{e:?}");
    assert_ne!(e.hint, oauthmail::hint::RATE_LIMITED.text);
    assert!(s.messages().is_empty());
}

#[test]
fn an_smtp_connection_cut_without_close_notify_says_so_without_tls_library_text() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    fault(&s, json!({"endpoint": "smtp", "stage": "mail", "kind": "drop"}));
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::Network, "{e:?}");
    assert!(
        !e.message.contains("docs.rs") && !e.message.contains("close_notify"),
        "{}",
        e.message
    );
    assert!(e.message.contains("closed the connection"), "{}", e.message);
}
