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
