//! Python's urllib, ssl and smtplib against the stand-in: the "clients that are not ours" of
//! issue 2's Done-when. Each case runs tests/py/clients.py and asserts on what it saw.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn run(s: &oauthmail_standin::Standin, case: &str) -> Value {
    run_python(s, "clients.py", case, Duration::from_secs(60))
}

#[test]
fn python_smtplib_smtps_xoauth2_with_a_token_from_the_token_endpoint_delivers_byte_exact() {
    let s = start_auto();
    let v = run(&s, "smtps_xoauth2_delivers_byte_exact");
    assert_eq!(v["auth_code"], 235);
    assert_eq!(v["refused"], json!({}));
    assert_eq!(v["count"], 1);
    assert_eq!(v["byte_exact"], true);
    assert_eq!(v["transport"], "smtp");
    assert_eq!(v["account"], USER);
    assert_eq!(v["auth_mechanism"], "XOAUTH2");
    assert_eq!(v["envelope"], json!({"from": USER, "to": ["friend@example.com"]}));
}

#[test]
fn python_smtplib_starttls_sees_auth_only_after_tls_and_delivers() {
    let s = start_auto();
    let v = run(&s, "starttls_xoauth2_delivers_byte_exact");
    assert_eq!(v["auth_before_tls"], false);
    assert_eq!(v["starttls_before_tls"], true);
    assert_eq!(v["auth_after_tls"], true);
    assert_eq!(
        v["auth_mechanisms"],
        "LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH"
    );
    assert_eq!(v["byte_exact"], true);
    assert_eq!(v["port"], "starttls");
}

#[test]
fn python_smtplib_auth_before_starttls_gets_the_530() {
    let s = start_auto();
    let v = run(&s, "auth_before_starttls_is_refused");
    assert_eq!(v["code"], 530);
    let m = v["message"].as_str().unwrap();
    assert!(
        m.starts_with("5.7.0 Must issue a STARTTLS command first. For more information, go to\n5.7.0  https://support.google.com/a/answer/3221692 and review RFC 3207\n5.7.0 specifications. "),
        "{m}"
    );
}

#[test]
fn python_smtplib_xoauth2_failure_is_the_json_challenge_then_535() {
    let s = start_auto();
    let v = run(&s, "xoauth2_failure_is_535_after_the_empty_response");
    assert_eq!(v["code"], 535);
    assert_eq!(
        v["challenges"],
        json!([r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#])
    );
    let m = v["message"].as_str().unwrap();
    assert!(
        m.starts_with("5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials "),
        "{m}"
    );
}

#[test]
fn python_urllib_sees_googles_token_endpoint_errors() {
    let s = start_auto();
    let v = run(&s, "token_endpoint_errors");
    let pair = |status: u16, e: &str, d: &str| json!([status, google_error(e, d)]);
    assert_eq!(v["wrong_secret"], pair(401, "invalid_client", "Unauthorized"));
    assert_eq!(
        v["missing_secret"],
        pair(400, "invalid_request", "client_secret is missing.")
    );
    assert_eq!(
        v["missing_verifier"],
        pair(400, "invalid_grant", "Missing code verifier.")
    );
    assert_eq!(v["reused_code"], pair(400, "invalid_grant", "Bad Request"));
    assert_eq!(
        v["revoked_refresh"],
        pair(400, "invalid_grant", "Token has been expired or revoked.")
    );
    assert_eq!(v["refresh_before_7_days"], 200);
    assert_eq!(
        v["refresh_after_7_days"],
        pair(400, "invalid_grant", "Token has been expired or revoked.")
    );
    assert_eq!(
        v["error_headers"],
        json!({
            "content-type": "application/json; charset=utf-8",
            "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
            "pragma": "no-cache",
            "expires": "Mon, 01 Jan 1990 00:00:00 GMT",
            "server": "ESF"
        })
    );
}

#[test]
fn python_urllib_gmail_api_send_is_stored_byte_exact() {
    let s = start_auto();
    let v = run(&s, "gmail_api_send");
    assert_eq!(v["status"], 200);
    assert_eq!(v["labelIds"], json!(["SENT"]));
    assert_eq!(v["byte_exact"], true);
    assert_eq!(v["transport"], "gmail_api");
}
