//! The token store through the client, against the Google stand-in (`protect: none`; DPAPI is
//! tested under Wine): authorize saves under the email, `{"account": …}` references for send,
//! refresh and revoke, list and remove, the precise `invalid_grant` diagnosis from
//! `authorized_at`, and a store that cannot be read is never overwritten.

mod send_common;

use std::path::PathBuf;
use std::sync::Arc;

use oauthmail::authorize::AuthorizeOptions;
use oauthmail::hint;
use oauthmail::message::MessageDocument;
use oauthmail::store::{Protect, Store, TokenRef, Wait};
use oauthmail::token::TokenDocument;
use oauthmail::{Client, Status};
use oauthmail_standin::{Options, Standin};
use send_common::*;
use serde_json::{json, Value};

fn folder(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oauthmail-store-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn store_client(s: &Standin, path: &std::path::Path) -> Client {
    Client::new(config(
        s,
        Via::GmailApi,
        json!({"store": {"path": path, "protect": "none"}}),
    ))
    .expect("client")
}

fn no_cancel() -> oauthmail::Result<()> {
    Ok(())
}

fn save(path: &std::path::Path, token: &TokenDocument) {
    let wait = Wait::new(std::time::Duration::from_secs(5), &no_cancel);
    Store::new(path, Protect::None).save(USER, token, &wait).unwrap();
}

fn stored(path: &std::path::Path) -> oauthmail::store::Entry {
    Store::new(path, Protect::None).load(USER).unwrap().expect("the entry")
}

fn message(subject: &str) -> MessageDocument {
    serde_json::from_value(json!({"from": USER, "to": ["ion@example.ro"], "subject": subject, "text": "x"})).unwrap()
}

/// Follows the stand-in's auto-approve redirect to the client's loopback listener, as a browser.
fn browse(ca_file: String) -> impl Fn(&str) -> bool + Send + Sync + 'static {
    move |url: &str| {
        let url = url.to_string();
        let ca = ca_file.clone();
        std::thread::spawn(move || {
            let pem = std::fs::read(&ca).unwrap();
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
                .build()
                .into();
            let r = agent.get(&url).call().expect("authorization endpoint");
            let location = r.headers().get("location").unwrap().to_str().unwrap().to_string();
            let _ = agent.get(&location).call();
        });
        true
    }
}

#[test]
fn authorize_with_a_store_saves_the_token_under_its_email_and_list_shows_no_secret() {
    let s = Standin::start(Options {
        auto_approve: true,
        ..Default::default()
    })
    .unwrap();
    let path = folder("authorize").join("tokens.json");
    let client = store_client(&s, &path);
    client.set_url_opener(Some(Arc::new(browse(s.info().ca_file.clone()))));
    let options = AuthorizeOptions {
        login_hint: Some(USER.into()),
        open_browser: None,
    };
    let doc = client.authorize(&options).expect("authorize");
    let at = doc.authorized_at.expect("authorized_at");
    assert!((now() - at).abs() < 60, "authorized_at {at}");
    assert_eq!(stored(&path).token, doc, "the store holds what authorize returned");

    let list = client.store_list().unwrap();
    assert_eq!(list.len(), 1);
    let listed = serde_json::to_value(&list[0]).unwrap();
    assert_eq!(
        listed.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "account",
            "provider",
            "scope",
            "authorized_at",
            "expires_at",
            "refreshed_at"
        ]
    );
    assert_eq!(listed["account"], USER);
    assert_eq!(listed["authorized_at"], at);
    assert_eq!(listed["refreshed_at"], Value::Null);
    let text = listed.to_string();
    for secret in [&doc.access_token, &doc.refresh_token] {
        assert!(!text.contains(secret.as_ref().unwrap().expose()));
    }

    // Authorizing again replaces the entry (one account, the new token).
    let again = client.authorize(&options).expect("authorize again");
    assert_eq!(client.store_list().unwrap().len(), 1);
    assert_eq!(stored(&path).token, again);
}

#[test]
fn a_send_through_a_reference_refreshes_once_writes_back_and_returns_no_token() {
    let s = standin();
    let path = folder("send").join("tokens.json");
    let minted = token(&s, SEND_SCOPE);
    let expired = expired(minted.clone(), &s);
    save(&path, &expired);
    let client = store_client(&s, &path);

    let sent = client.send(TokenRef::Account(USER), &message("store 1")).expect("send");
    assert!(sent.token.is_none(), "the store holds the token");
    assert_eq!(refreshes(&s), 1);
    let entry = stored(&path);
    assert_ne!(
        entry.token.access_token, expired.access_token,
        "the fresh token was written back"
    );
    assert_eq!(entry.token.refresh_token, expired.refresh_token);
    assert_eq!(
        entry.token.authorized_at, minted.authorized_at,
        "authorized_at survives a refresh"
    );
    assert!(entry.refreshed_at.is_some());

    // The next send (another client, as another process would) uses the stored token as it is.
    let other = store_client(&s, &path);
    other
        .send(TokenRef::Account(&USER.to_uppercase()), &message("store 2"))
        .expect("send again");
    assert_eq!(refreshes(&s), 1);
    assert_eq!(s.messages().len(), 2);

    // A rejected access token (expired at the provider only) is refreshed once and stored.
    control(&s, "POST", "/tokens/expire", Some(json!({"email": USER})));
    client
        .send(TokenRef::Account(USER), &message("store 3"))
        .expect("send after 401");
    assert_eq!(refreshes(&s), 2);
    assert_eq!(s.messages().len(), 3);

    // A full token document still works with a store, and its refresh comes back in the result.
    let doc_sent = client
        .send(&expired, &message("store 4"))
        .expect("send with a document");
    assert!(doc_sent.token.is_some());
}

#[test]
fn refresh_and_revoke_through_a_reference_update_and_then_remove_the_entry() {
    let s = standin();
    let path = folder("revoke").join("tokens.json");
    let minted = token(&s, SEND_SCOPE);
    save(&path, &minted);
    let client = store_client(&s, &path);

    let fresh = client.refresh(TokenRef::Account(USER)).expect("refresh");
    assert_ne!(fresh.access_token, minted.access_token);
    assert_eq!(stored(&path).token, fresh);
    assert_eq!(fresh.authorized_at, minted.authorized_at);

    client.revoke(TokenRef::Account(USER)).expect("revoke");
    assert!(
        Store::new(&path, Protect::None).load(USER).unwrap().is_none(),
        "removed"
    );
    let grants = control(&s, "GET", "/grants", None);
    assert_eq!(grants[0]["refresh_tokens_live"], 0, "revoked at the provider: {grants}");

    for e in [
        client.send(TokenRef::Account(USER), &message("x")).unwrap_err(),
        client.refresh(TokenRef::Account(USER)).unwrap_err(),
        client.revoke(TokenRef::Account(USER)).unwrap_err(),
    ] {
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.field.as_deref(), Some("token.account"));
        assert_eq!(e.hint, hint::STORE_NO_ACCOUNT.text);
    }
    assert!(!client.store_remove(USER).unwrap(), "nothing left to remove");
    assert!(s.messages().is_empty());
}

#[test]
fn store_remove_removes_one_account_without_revoking() {
    let s = standin();
    let path = folder("remove").join("tokens.json");
    save(&path, &token(&s, SEND_SCOPE));
    let client = store_client(&s, &path);
    assert!(client.store_remove(USER).unwrap());
    assert!(client.store_list().unwrap().is_empty());
    let grants = control(&s, "GET", "/grants", None);
    assert_eq!(grants[0]["refresh_tokens_live"], 1, "not revoked: {grants}");
}

#[test]
fn a_reference_or_the_store_calls_without_a_store_are_invalid_argument() {
    let s = standin();
    let client = client(&s, Via::GmailApi);
    let e = client.send(TokenRef::Account(USER), &message("x")).unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (Status::InvalidArgument, Some("token.account"))
    );
    let e = client.store_list().unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (Status::InvalidArgument, Some("config.store"))
    );
    let e = client.store_remove(USER).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("config.store"));
}

#[test]
fn a_store_that_cannot_be_read_fails_every_call_with_io_and_is_left_untouched() {
    let s = standin();
    let path = folder("corrupt").join("tokens.json");
    let bytes = br#"{"format": "liboauthmail token store", "version": 1, "protect": "none", "accounts": {"#;
    std::fs::write(&path, bytes).unwrap();
    let client = store_client(&s, &path);
    let errors = [
        client.send(TokenRef::Account(USER), &message("x")).unwrap_err(),
        client.refresh(TokenRef::Account(USER)).unwrap_err(),
        client.revoke(TokenRef::Account(USER)).unwrap_err(),
        client.store_list().unwrap_err(),
        client.store_remove(USER).unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.status, Status::Io, "{e}");
        assert_eq!(e.field.as_deref(), Some("config.store.path"));
        assert_eq!(e.hint, hint::STORE_UNREADABLE.text);
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(s.messages().is_empty());
}

/// Google's `invalid_grant` "Token has been expired or revoked." with `authorized_at` known.
fn dead_refresh_token_authorized_days_ago(days: f64) -> oauthmail::Error {
    let s = standin();
    let path = folder(&format!("diagnosis-{days}")).join("tokens.json");
    let mut t = token(&s, SEND_SCOPE);
    t.authorized_at = Some(now() - (days * 86_400.0) as i64);
    let t = expired(t, &s);
    control(
        &s,
        "POST",
        "/tokens/expire",
        Some(json!({"email": USER, "which": "refresh"})),
    );
    save(&path, &t);
    let client = store_client(&s, &path);
    let e = client.send(TokenRef::Account(USER), &message("x")).unwrap_err();
    // The same diagnosis for a token document without the store.
    let direct = client.refresh(&t).unwrap_err();
    assert_eq!(direct.hint, e.hint);
    assert_eq!(stored(&path).token, t, "a failed refresh writes nothing");
    e
}

#[test]
fn invalid_grant_seven_days_after_the_authorization_says_the_app_is_in_testing() {
    let e = dead_refresh_token_authorized_days_ago(7.0);
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(e.hint, hint::REAUTHORIZE_TESTING_STATUS.text);
    assert!(e.message.contains("authorized 7.0 days ago"), "{}", e.message);
}

#[test]
fn invalid_grant_two_days_after_the_authorization_says_revoked_or_expired() {
    let e = dead_refresh_token_authorized_days_ago(2.0);
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(e.hint, hint::REAUTHORIZE_REVOKED.text);
}
