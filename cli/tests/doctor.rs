//! `oauthmail doctor` against the stand-in: a healthy set-up gives ✓ on every step and delivers
//! nothing; each planted fault fails its step with its hint, and the exit status is the library's
//! status for it.

mod support;

use serde_json::{json, Value};
use support::*;

fn config(e: &Env) -> Value {
    serde_json::from_slice(&std::fs::read(&e.config).unwrap()).unwrap()
}

/// The lines of the checklist that start with `mark` and name `step`.
fn lines<'a>(r: &'a Run, mark: &str, step: &str) -> Vec<&'a str> {
    r.stdout
        .lines()
        .filter(|l| l.starts_with(&format!("{mark} {step} ")) || *l == format!("{mark} {step}"))
        .collect()
}

/// The step that failed (the only ✗ line), its hint and the exit status.
#[track_caller]
fn fails_at(r: &Run, step: &str, hint: &oauthmail::hint::Hint, status: oauthmail::Status) {
    assert_eq!(r.code, status.code() as i32, "{r:?}");
    let failed: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(failed.len(), 1, "{r:?}");
    assert!(failed[0].starts_with(&format!("✗ {step}")), "{r:?}");
    assert!(r.stdout.contains(&format!("What to do: {}", hint.text)), "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("More: docs/troubleshooting.en.md#{}", hint.id)),
        "{r:?}"
    );
    let verdict = r.stdout.lines().last().unwrap();
    assert!(
        verdict.starts_with(&format!("Not ready: the {step} check failed (OAUTHMAIL_")),
        "{verdict}"
    );
}

#[test]
fn a_healthy_gmail_api_set_up_is_all_ticks_and_sends_nothing() {
    let e = env();
    e.mint(SEND_SCOPE);
    let r = e.run(&["doctor"]);
    r.assert_ok();
    for step in [
        "config",
        "dns",
        "tcp",
        "tls",
        "client",
        "refresh",
        "scopes",
        "gmail_api",
    ] {
        assert_eq!(lines(&r, "✓", step).len(), 1, "{step}: {r:?}");
    }
    assert!(!r.stdout.contains('✗'), "{r:?}");
    // The stand-in's CA is trusted through tls.extra_ca_file, and the check says it is not public.
    assert!(lines(&r, "✓", "tls")[0].contains("NOT a public root"), "{r:?}");
    assert!(lines(&r, "✓", "gmail_api")[0].contains("nothing was sent"), "{r:?}");
    assert!(
        r.stdout.lines().last().unwrap().starts_with(&format!(
            "All 8 checks passed: this computer can send mail as {USER} through gmail_api"
        )),
        "{r:?}"
    );
    assert!(e.s.messages().is_empty(), "the check delivered a message");
    r.assert_no_secret(&e.secrets());

    let j = e.run(&["doctor", "--json"]);
    j.assert_ok();
    let doc = j.json();
    assert_eq!(doc["ok"], true);
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "config",
            "dns",
            "tcp",
            "tls",
            "client",
            "refresh",
            "scopes",
            "gmail_api"
        ]
    );
    assert!(doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["ok"] == true && s["ms"].is_u64()));
    assert!(e.s.messages().is_empty());
}

#[test]
fn a_healthy_smtp_set_up_logs_in_and_quits_before_mail() {
    let e = env();
    e.mint(MAIL_SCOPE);
    let r = e.run(&["doctor", "--transport", "smtp"]);
    r.assert_ok();
    for step in ["tcp", "tls", "client", "refresh", "scopes", "smtp_ehlo", "smtp_auth"] {
        assert!(!lines(&r, "✓", step).is_empty(), "{step}: {r:?}");
    }
    assert!(!r.stdout.contains('✗'), "{r:?}");
    assert!(e.s.messages().is_empty());
    assert_eq!(e.s.counters()["smtp_auth_ok"], 1);
    assert_eq!(e.s.counters()["smtp_messages"], 0);
}

#[test]
fn without_a_token_document_the_network_and_the_client_are_still_checked() {
    let e = env();
    let r = e.run(&["doctor"]);
    r.assert_ok();
    assert!(r.stderr.contains("No token document"), "{r:?}");
    assert_eq!(lines(&r, "✓", "client").len(), 1, "{r:?}");
    assert!(lines(&r, "✓", "refresh").is_empty());
}

#[test]
fn a_certificate_from_an_untrusted_ca_fails_tls_with_the_tls_inspection_hint() {
    let e = env();
    e.mint(SEND_SCOPE);
    let mut c = config(&e);
    c.as_object_mut().unwrap().remove("tls");
    write_json(&e.config, &c);
    let r = e.run(&["doctor"]);
    fails_at(&r, "tls", &oauthmail::hint::TLS_INSPECTION, oauthmail::Status::Tls);
    assert!(r.stdout.contains("oauthmail-standin"), "the issuer is named: {r:?}");
}

#[test]
fn a_closed_smtp_port_fails_tcp_with_the_firewall_hint() {
    let e = env();
    e.mint(MAIL_SCOPE);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = config(&e);
    c["endpoints"]["smtp"] = json!(format!("smtps://127.0.0.1:{closed}"));
    write_json(&e.config, &c);
    let r = e.run(&["doctor", "--transport", "smtp"]);
    fails_at(
        &r,
        "tcp",
        &oauthmail::hint::SMTP_PORT_BLOCKED,
        oauthmail::Status::Network,
    );
    assert!(
        r.stdout.contains(&format!("✗ tcp        127.0.0.1:{closed}"))
            || r.stdout.contains(&format!("127.0.0.1:{closed}"))
    );
}

#[test]
fn the_gmail_api_not_enabled_fails_the_probe_with_its_hint() {
    let e = env();
    e.mint(SEND_SCOPE);
    e.s.set_settings(&json!({"gmail_api_enabled": false})).unwrap();
    let r = e.run(&["doctor"]);
    fails_at(
        &r,
        "gmail_api",
        &oauthmail::hint::GMAIL_API_DISABLED,
        oauthmail::Status::AuthFailed,
    );
    assert!(e.s.messages().is_empty());
}

#[test]
fn a_revoked_token_fails_the_refresh() {
    let e = env();
    e.mint(SEND_SCOPE);
    e.control("/revoke", &json!({"email": USER}));
    let r = e.run(&["doctor"]);
    assert_eq!(r.code, oauthmail::Status::Reauthorize.code() as i32, "{r:?}");
    let failed: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(failed.len() == 1 && failed[0].starts_with("✗ refresh"), "{r:?}");
    assert!(r.stdout.contains("What to do: "), "{r:?}");
    r.assert_no_secret(&e.secrets());
}

#[test]
fn a_token_without_the_transports_scope_fails_scopes() {
    let e = env();
    e.mint(SEND_SCOPE);
    let r = e.run(&["doctor", "--transport", "smtp"]);
    fails_at(
        &r,
        "scopes",
        &oauthmail::hint::INSUFFICIENT_SCOPE_SMTP,
        oauthmail::Status::InsufficientScope,
    );
    assert_eq!(e.s.counters()["smtp_auth_ok"], 0);
}

#[test]
fn a_wrong_client_secret_fails_client_and_says_to_add_a_new_secret() {
    let e = env();
    let mut file: Value = serde_json::from_slice(&std::fs::read(&e.client).unwrap()).unwrap();
    file["installed"]["client_secret"] = json!("GOCSPX-wrong-secret-0000");
    write_json(&e.client, &file);
    let r = e.run(&["doctor"]);
    fails_at(
        &r,
        "client",
        &oauthmail::hint::INVALID_CLIENT,
        oauthmail::Status::AuthFailed,
    );
    assert!(oauthmail::hint::INVALID_CLIENT.text.contains("add a new secret"));
    r.assert_no_secret(&["GOCSPX-wrong-secret-0000".to_string()]);
}

#[test]
fn a_web_client_file_fails_config_with_the_desktop_app_hint() {
    let e = env();
    let i = e.s.info();
    write_json(
        &e.client,
        &json!({"web": {"client_id": i.client_id, "client_secret": i.client_secret,
            "auth_uri": i.authorization_endpoint, "token_uri": i.token_endpoint}}),
    );
    let r = e.run(&["doctor"]);
    fails_at(
        &r,
        "config",
        &oauthmail::hint::DESKTOP_CLIENT_FILE,
        oauthmail::Status::InvalidArgument,
    );
    let j = e.run(&["doctor", "--json"]);
    assert_eq!(j.code, 1);
    assert_eq!(j.json()["steps"][0]["error"]["hint_id"], "desktop-client-file");
}

#[test]
fn doctor_speaks_romanian_with_the_romanian_hint() {
    let e = env();
    e.mint(SEND_SCOPE);
    e.s.set_settings(&json!({"gmail_api_enabled": false})).unwrap();
    let r = e.run(&["doctor", "--lang", "ro"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("Ce puteți face: {}", oauthmail::hint::GMAIL_API_DISABLED.ro)),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("Detalii: docs/troubleshooting.ro.md#gmail-api-disabled"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("Nu este gata: verificarea gmail_api a eșuat"),
        "{r:?}"
    );
}
