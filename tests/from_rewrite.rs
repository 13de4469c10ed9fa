//! A `from` Gmail replaces (providers.md §3.5): the send still succeeds, its result carries a
//! `warnings` entry with the from-rewritten hint and a level-2 log line says so; a verified
//! "Send mail as" alias or the account itself gives no warning.

mod send_common;

use std::sync::{Arc, Mutex};

use oauthmail::log::Level;
use send_common::*;
use serde_json::json;

fn from_office() -> oauthmail::message::MessageDocument {
    message(json!({"from": "Office <office@firma.ro>", "to": ["ion@example.ro"], "text": "x"}))
}

fn warnings_logged(c: &oauthmail::Client) -> Arc<Mutex<Vec<String>>> {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = lines.clone();
    c.set_logger(
        Some(Arc::new(move |level: Level, m: &str| {
            if level == Level::Warn {
                l.lock().unwrap().push(m.to_string());
            }
        })),
        Level::Warn,
    );
    lines
}

#[test]
fn smtp_with_the_full_scope_knows_the_sender_was_replaced_and_an_alias_is_not() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let logged = warnings_logged(&c);
    let t = token(&s, MAIL_SCOPE);
    let r = c.send(&t, &from_office()).unwrap();
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    let w = &r.warnings[0];
    assert_eq!(w.code, "from_rewritten");
    assert!(
        w.message.contains("office@firma.ro") && w.message.contains(USER),
        "{}",
        w.message
    );
    assert_eq!(w.hint_id, oauthmail::hint::FROM_REWRITTEN.id);
    assert_eq!(w.hint, oauthmail::hint::FROM_REWRITTEN.text);
    assert!(logged
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("Gmail replaced the sender")));
    // The stand-in did rewrite it, as Gmail does.
    assert_eq!(s.messages()[0]["from_rewritten"]["delivered"], USER);
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["warnings"][0]["code"], "from_rewritten");
    assert_eq!(doc["warnings"][0]["hint_id"], "from-rewritten");

    control(
        &s,
        "POST",
        "/users",
        Some(json!({"aliases": {USER: ["office@firma.ro"]}})),
    );
    let r = c.send(&t, &from_office()).unwrap();
    assert!(r.warnings.is_empty(), "{r:?}");
    assert_eq!(s.messages()[1]["from_rewritten"], serde_json::Value::Null);
    let doc = serde_json::to_value(&r).unwrap();
    assert!(
        doc.get("warnings").is_none(),
        "no warnings member when there is none: {doc}"
    );
}

#[test]
fn gmail_api_with_gmail_send_only_warns_that_the_sender_was_probably_replaced_in_romanian_too() {
    let s = standin();
    let c = Client::new(config(&s, Via::GmailApi, json!({"ui_language": "ro"}))).unwrap();
    let t = token(&s, SEND_SCOPE);
    let r = c.send(&t, &from_office()).unwrap();
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    assert_eq!(r.warnings[0].code, "from_not_account");
    assert_eq!(r.warnings[0].hint, oauthmail::hint::FROM_REWRITTEN.ro);
    assert_eq!(s.messages().len(), 1);
}

#[test]
fn the_accounts_own_address_and_a_verified_alias_give_no_warning() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let t = token(&s, MAIL_SCOPE);
    let r = c.send(&t, &simple()).unwrap();
    assert!(r.warnings.is_empty());
    // A verified alias over the Gmail API with a scope that may read the settings: no warning.
    control(
        &s,
        "POST",
        "/users",
        Some(json!({"aliases": {USER: ["office@firma.ro"]}})),
    );
    assert!(c.send(&t, &from_office()).unwrap().warnings.is_empty());
}

use oauthmail::Client;
