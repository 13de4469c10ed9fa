//! Python's urllib, ssl and smtplib against the stand-in's Microsoft side: clients that are not
//! ours. Each case runs tests/py/microsoft_clients.py and asserts on what it saw.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn run(s: &oauthmail_standin::Standin, case: &str) -> Value {
    run_python(s, "microsoft_clients.py", case, Duration::from_secs(60))
}

#[test]
fn python_signs_in_without_a_secret_sends_over_outlook_smtp_rotates_and_sends_through_graph() {
    let s = start();
    let v = run(&s, "sign_in_smtp_rotate_graph");
    assert_eq!(v["redirect_path"], "/");
    assert_eq!(v["state"], "py-state");
    assert_eq!(v["has_session_state"], true);
    assert_eq!(
        v["token_keys"],
        json!([
            "token_type",
            "scope",
            "expires_in",
            "ext_expires_in",
            "access_token",
            "refresh_token",
            "id_token"
        ])
    );
    assert_eq!(v["preferred_username"], "erp.test@contoso.onmicrosoft.com");
    assert_eq!(v["smtp_aud"], "https://outlook.office.com");
    assert_eq!(v["auth_before_tls"], false);
    assert_eq!(v["auth_after_tls"], "LOGIN XOAUTH2");
    assert_eq!(v["auth_code"], 235);
    assert_eq!(v["refused"], json!({}));
    assert_eq!(v["refresh_status"], 200);
    assert_eq!(v["rotated"], true);
    assert_eq!(v["graph_aud"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(v["old_refresh"], json!([400, "invalid_grant", [70000]]));
    assert_eq!(v["graph_status"], 202);
    assert_eq!(v["graph_body_empty"], true);
    assert_eq!(v["transports"], json!(["outlook_smtp", "graph"]));
    assert_eq!(v["byte_exact"], true);
}

#[test]
fn python_sees_535_5_7_139_and_aadsts700025() {
    let s = start();
    let v = run(&s, "smtp_auth_disabled_and_public_secret");
    assert_eq!(
        v["auth"],
        json!([535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."])
    );
    assert_eq!(
        v["public_secret"],
        json!([
            401,
            "invalid_client",
            [700025],
            "AADSTS700025: Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
        ])
    );
}
