//! Python's urllib, ssl and smtplib against the stand-in's Microsoft side: clients that are not
//! ours. Each case runs tests/py/microsoft_clients.py and asserts on what it saw.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn run(s: &oauthmail_standin::Standin, case: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/microsoft_clients.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(s.state_dir().join("standin.json"))
        .arg(case)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Bounded wait: the script's own sockets time out after 10 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("python case {case} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python case {case} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
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
