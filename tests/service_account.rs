//! Service accounts with domain-wide delegation (issue 16) end to end against the stand-in:
//! `service_account_file` in the configuration, `{"subject": …}` sends on both transports, the
//! per-subject token cache (single-flight across threads), every refusal's status and hint, and
//! the key never in a log line.

mod send_common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oauthmail::log::Level;
use oauthmail::token::TokenRef;
use oauthmail::{Client, Status};
use oauthmail_standin::Standin;
use send_common::*;
use serde_json::{json, Value};

const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
const MAIL: &str = "https://mail.google.com/";
const FACTURI: &str = "facturi@firma.ro";
const CONTABILITATE: &str = "contabilitate@firma.ro";
const VANZARI: &str = "vanzari@firma.ro";

/// A service account on the stand-in, its key file written to disk, delegated `scopes`.
struct Account {
    key_file: Value,
    path: PathBuf,
}

fn account(s: &Standin, name: &str, scopes: &[&str]) -> Account {
    let key_file = s.create_service_account(name).expect("service account created");
    if !scopes.is_empty() {
        s.delegate(key_file["client_id"].as_str().unwrap(), scopes)
            .expect("delegated");
    }
    let path = temp_dir(&format!("sa-{name}")).join("key.json");
    std::fs::write(&path, key_file.to_string()).expect("write the key file");
    Account { key_file, path }
}

impl Account {
    fn email(&self) -> &str {
        self.key_file["client_email"].as_str().unwrap()
    }
}

/// A client for `via` with the service account instead of a client id and secret.
fn sa_client(s: &Standin, via: Via, a: &Account) -> Client {
    let mut c = serde_json::to_value(config_json(s, via)).unwrap();
    let o = c.as_object_mut().unwrap();
    o.remove("client_id");
    o.remove("client_secret");
    o.insert("service_account_file".into(), json!(a.path.to_str().unwrap()));
    Client::new(serde_json::from_value(c).expect("a valid configuration")).expect("client")
}

/// `send_common::config`'s document, before it becomes a `Config`.
fn config_json(s: &Standin, via: Via) -> Value {
    let info = s.info();
    let (transport, smtp) = match via {
        Via::GmailApi => ("gmail_api", info.smtps.clone()),
        Via::Smtps => ("smtp", info.smtps.clone()),
        Via::StartTls => ("smtp", info.smtp_starttls.clone()),
    };
    json!({
        "provider": "google",
        "client_id": info.client_id,
        "client_secret": info.client_secret,
        "transport": transport,
        "endpoints": {"gmail_api": info.gmail_api, "smtp": smtp},
        "timeouts": {"connect_s": 5, "io_s": 20},
        "tls": {"extra_ca_file": info.ca_file},
    })
}

fn mail_from(from: &str, to: &str) -> oauthmail::message::MessageDocument {
    message(json!({"from": from, "to": [to], "subject": "Factura", "text": "Plată la termen."}))
}

fn exchanges(s: &Standin, subject: &str) -> i64 {
    s.counters()["jwt_bearer_by_subject"][subject].as_i64().unwrap_or(0)
}

#[test]
fn three_subjects_from_one_handle_on_both_transports_cost_one_exchange_each() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND, MAIL]);
    for (round, via) in [(1, Via::GmailApi), (2, Via::Smtps)] {
        let c = sa_client(&s, via, &a);
        for _ in 0..2 {
            for subject in [FACTURI, CONTABILITATE, VANZARI] {
                let r = c
                    .send_as(subject, &mail_from(subject, "client@example.ro"))
                    .unwrap_or_else(|e| panic!("{via:?} as {subject}: {e:?}"));
                assert!(r.token.is_none(), "a subject's send result carries no token");
            }
        }
        for subject in [FACTURI, CONTABILITATE, VANZARI] {
            assert_eq!(
                exchanges(&s, subject),
                round,
                "{via:?}: one exchange per subject and client"
            );
        }
    }
    let delivered: Vec<(String, String)> = s
        .messages()
        .iter()
        .map(|m| {
            (
                m["transport"].as_str().unwrap().into(),
                m["account"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(delivered.len(), 12);
    for (i, subject) in [FACTURI, CONTABILITATE, VANZARI].iter().cycle().take(12).enumerate() {
        let transport = if i < 6 { "gmail_api" } else { "smtp" };
        assert_eq!(delivered[i], (transport.to_string(), subject.to_string()));
    }
    assert_eq!(s.counters()["token"]["refresh_token"], 0);
}

#[test]
fn eight_threads_of_25_sends_as_one_subject_make_one_exchange() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND]);
    let c = Arc::new(sa_client(&s, Via::GmailApi, &a));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                (0..25)
                    .map(|n| {
                        c.send_as(FACTURI, &mail_from(FACTURI, &format!("t{t}.{n}@example.ro")))
                            .map(|r| r.token.is_none())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(results.len(), 200);
    assert!(
        results.iter().all(|r| matches!(r, Ok(true))),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert_eq!(s.messages().len(), 200);
    assert_eq!(exchanges(&s, FACTURI), 1);
    assert_eq!(s.counters()["token"]["jwt_bearer"], 1);
}

#[test]
fn refresh_with_a_subject_returns_its_token_and_shares_the_cache_with_send() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND]);
    let c = sa_client(&s, Via::GmailApi, &a);
    let doc = c.refresh_ref(&TokenRef::Subject(FACTURI)).expect("refresh");
    assert_eq!(doc.email.as_deref(), Some(FACTURI));
    assert_eq!(
        doc.scope, GMAIL_SEND,
        "identity scopes are not asked for on a user's behalf"
    );
    assert!(doc.refresh_token.is_none());
    assert!(doc.expires_at.unwrap() > now() + 3000);
    c.send_as(FACTURI, &mail_from(FACTURI, "a@example.ro")).expect("send");
    assert_eq!(exchanges(&s, FACTURI), 1);
}

#[test]
fn a_rejected_subject_token_is_exchanged_once_more_and_the_send_succeeds() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND]);
    let c = sa_client(&s, Via::GmailApi, &a);
    c.send_as(FACTURI, &mail_from(FACTURI, "a@example.ro"))
        .expect("first send");
    // Google drops the access token early (the cached one still looks fresh to the client).
    control(&s, "POST", "/tokens/expire", Some(json!({"email": FACTURI})));
    c.send_as(FACTURI, &mail_from(FACTURI, "b@example.ro"))
        .expect("second send");
    assert_eq!(exchanges(&s, FACTURI), 2);
    assert_eq!(s.messages().len(), 2);
}

fn refused(c: &Client, subject: &str) -> oauthmail::Error {
    c.send_as(subject, &mail_from(subject, "a@example.ro"))
        .expect_err("refused")
}

#[test]
fn each_refusal_has_its_status_and_hint() {
    let s = standin();
    // No delegation for the transport's scope.
    let a = account(&s, "erp-mailer", &[MAIL]);
    let c = sa_client(&s, Via::GmailApi, &a);
    let e = refused(&c, FACTURI);
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_DELEGATION.text);
    let p = e.provider.as_ref().unwrap();
    assert_eq!(p.http_status, Some(401));
    assert_eq!(p.error.as_deref(), Some("unauthorized_client"));

    let b = account(&s, "erp-sender", &[GMAIL_SEND]);
    let c = sa_client(&s, Via::GmailApi, &b);
    // Not a user of the domain; suspended.
    for subject in ["nimeni@firma.ro", "fost.angajat@firma.ro"] {
        let e = refused(&c, subject);
        assert_eq!(e.status, Status::AccessDenied, "{e:?}");
        assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_SUBJECT.text);
        assert_eq!(e.field.as_deref(), Some("token.subject"));
        assert_eq!(
            e.provider.as_ref().unwrap().error_description.as_deref(),
            Some("Invalid email or User ID")
        );
    }
    // The system clock 15 minutes ahead of Google's.
    s.advance_clock(-900);
    let e = refused(&c, FACTURI);
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_CLOCK.text);
    assert!(e.hint.contains("system clock"));
    s.advance_clock(900);
    // The key deleted in the console.
    let kid = b.key_file["private_key_id"].as_str().unwrap();
    s.delete_service_account_key(b.email(), kid).expect("key deleted");
    let e = refused(&c, FACTURI);
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_KEY.text);
    assert_eq!(
        e.provider.as_ref().unwrap().error_description.as_deref(),
        Some("Invalid JWT Signature.")
    );
    // The service account deleted.
    control(&s, "DELETE", &format!("/service_accounts/{}", b.email()), None);
    let e = refused(&c, FACTURI);
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_NOT_FOUND.text);
    // Nothing was sent, and no refusal was retried.
    assert!(s.messages().is_empty());
    assert_eq!(s.counters()["token"]["jwt_bearer"], 6);
}

#[test]
fn authorize_and_a_subject_without_a_key_file_are_invalid_arguments_with_hints() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND]);
    let c = sa_client(&s, Via::GmailApi, &a);
    let e = c.authorize(&Default::default()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("config.service_account_file"));
    assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_NO_CONSENT.text);

    let plain = client(&s, Via::GmailApi);
    let e = refused(&plain, FACTURI);
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("token.subject"));
    assert_eq!(e.hint, oauthmail::hint::SERVICE_ACCOUNT_NOT_CONFIGURED.text);

    for bad in ["", "facturi", "facturi @firma.ro", "@firma.ro"] {
        let e = refused(&c, bad);
        assert_eq!(e.status, Status::InvalidArgument, "{bad:?}");
        assert_eq!(e.field.as_deref(), Some("token.subject"));
    }
    assert_eq!(s.counters()["token"]["jwt_bearer"], 0);
}

#[test]
fn the_key_file_is_read_once_at_client_new_and_bad_files_name_the_field() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND]);
    let c = sa_client(&s, Via::GmailApi, &a);
    // Removing the file after client_new changes nothing: it was read once.
    std::fs::remove_file(&a.path).unwrap();
    c.send_as(FACTURI, &mail_from(FACTURI, "a@example.ro")).expect("send");

    let new = |path: &str, extra: Value| {
        let mut c = config_json(&s, Via::GmailApi);
        let o = c.as_object_mut().unwrap();
        o.remove("client_id");
        o.remove("client_secret");
        o.insert("service_account_file".into(), json!(path));
        if let Value::Object(x) = extra {
            o.extend(x);
        }
        Client::new(serde_json::from_value(c).unwrap()).unwrap_err()
    };
    let e = new(a.path.to_str().unwrap(), json!({}));
    assert_eq!(e.status, Status::Io);
    assert_eq!(e.field.as_deref(), Some("config.service_account_file"));

    let dir = temp_dir("sa-bad");
    let client_secret_file = dir.join("client_secret.json");
    std::fs::write(&client_secret_file, r#"{"installed": {"client_id": "x"}}"#).unwrap();
    let e = new(client_secret_file.to_str().unwrap(), json!({}));
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("config.service_account_file"));
    assert!(e.message.contains("OAuth client file"), "{}", e.message);

    let mut wrong = a.key_file.clone();
    wrong["type"] = json!("authorized_user");
    let wrong_type = dir.join("wrong-type.json");
    std::fs::write(&wrong_type, wrong.to_string()).unwrap();
    let e = new(wrong_type.to_str().unwrap(), json!({}));
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("config.service_account_file"));
    assert!(!e.message.contains("PRIVATE KEY"), "{}", e.message);

    let mut plain_http = a.key_file.clone();
    plain_http["token_uri"] = json!("http://oauth2.example.com/token");
    let http = dir.join("http.json");
    std::fs::write(&http, plain_http.to_string()).unwrap();
    let e = new(http.to_str().unwrap(), json!({}));
    assert!(e.message.contains("https"), "{}", e.message);

    let e = new(a.path.to_str().unwrap(), json!({"provider": "microsoft"}));
    assert_eq!(e.field.as_deref(), Some("config.service_account_file"));
}

#[test]
fn the_key_the_assertion_and_the_token_never_appear_in_a_level_5_log() {
    let s = standin();
    let a = account(&s, "erp-mailer", &[GMAIL_SEND, MAIL]);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut everything = String::new();
    for via in [Via::GmailApi, Via::Smtps] {
        let c = sa_client(&s, via, &a);
        let sink = Arc::clone(&lines);
        c.set_logger(
            Some(Arc::new(move |_: Level, line: &str| {
                sink.lock().unwrap().push(line.to_string())
            })),
            Level::Trace,
        );
        c.send_as(FACTURI, &mail_from(FACTURI, "a@example.ro")).expect("send");
        let doc = c.refresh_ref(&TokenRef::Subject(FACTURI)).expect("refresh");
        everything.push_str(doc.access_token.as_ref().unwrap().expose());
        let e = refused(&c, "nimeni@firma.ro");
        everything.push_str(&format!("{e:?} {e}"));
    }
    let lines = lines.lock().unwrap();
    assert!(lines.len() > 10, "level 5 logs the calls: {lines:?}");
    let log = lines.join("\n");
    assert!(
        log.contains(a.email()) && log.contains(FACTURI),
        "who acted as whom is logged"
    );
    let pem = a.key_file["private_key"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for needle in ["PRIVATE KEY", "ya29.", "eyJ", "assertion="] {
        assert!(!log.contains(needle), "{needle:?} in the log");
    }
    for chunk in body.as_bytes().chunks(24) {
        let chunk = std::str::from_utf8(chunk).unwrap();
        assert!(!log.contains(chunk), "a piece of the key in the log");
        assert!(!everything.contains(chunk), "a piece of the key in an error");
    }
}

/// `oauthmail_check` through the C ABI with `{"subject": …}`: the refresh step is the JWT
/// exchange (one per check: it proves the delegation as it is now), no `client` or `token_age`
/// step, and a subject outside the domain fails the refresh step with its hint.
#[test]
fn oauthmail_check_takes_a_subject_reference() {
    use std::ffi::{CStr, CString};
    let s = standin();
    let a = account(&s, "erp-checker", &[GMAIL_SEND]);
    let mut config = config_json(&s, Via::GmailApi);
    let o = config.as_object_mut().unwrap();
    o.remove("client_id");
    o.remove("client_secret");
    o.insert("service_account_file".into(), json!(a.path.to_str().unwrap()));
    let config = CString::new(config.to_string()).unwrap();
    let mut client = std::ptr::null_mut();
    // SAFETY: valid C strings and out-pointers, as the C API asks.
    let st = unsafe { oauthmail::ffi::oauthmail_client_new(config.as_ptr(), &mut client, std::ptr::null_mut()) };
    assert_eq!(st, 0);
    let check = |token: &str| -> (u32, Value) {
        let token = CString::new(token).unwrap();
        let mut out = std::ptr::null_mut();
        // SAFETY: as above; `out` is freed with oauthmail_string_free.
        let st = unsafe { oauthmail::ffi::oauthmail_check(client, token.as_ptr(), &mut out) };
        // SAFETY: the library wrote a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
        // SAFETY: `out` came from the library.
        unsafe { oauthmail::ffi::oauthmail_string_free(out) };
        (st, serde_json::from_str(&text).unwrap())
    };
    let (st, report) = check(&json!({"subject": FACTURI}).to_string());
    assert_eq!(st, 0, "{report}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["config", "dns", "tcp", "tls", "refresh", "scopes", "gmail_api"],
        "{report}"
    );
    assert!(
        report["steps"][0]["detail"].as_str().unwrap().contains(a.email()),
        "{report}"
    );
    assert_eq!(report["steps"][4]["target"], FACTURI);
    assert_eq!(exchanges(&s, FACTURI), 1);
    assert!(!report
        .to_string()
        .contains(a.key_file["private_key"].as_str().unwrap().lines().nth(1).unwrap()));

    let (st, report) = check(&json!({"subject": "nobody@firma.ro"}).to_string());
    let last = report["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["step"], "refresh", "{report}");
    assert_eq!(
        last["error"]["hint_id"],
        oauthmail::hint::SERVICE_ACCOUNT_SUBJECT.id,
        "{report}"
    );
    assert_eq!(st, last["error"]["code"].as_u64().unwrap() as u32);
    // {"account": …} without a token store: the refresh step says the store is missing.
    let (st, report) = check(&json!({"account": FACTURI}).to_string());
    assert_eq!(st, Status::InvalidArgument.code(), "{report}");
    let last = report["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["step"].as_str(), last["error"]["field"].as_str()),
        (Some("refresh"), Some("token.account")),
        "{report}"
    );
    // SAFETY: the client from oauthmail_client_new, freed once.
    unsafe { oauthmail::ffi::oauthmail_client_free(client) };
}
