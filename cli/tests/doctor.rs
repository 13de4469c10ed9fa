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
        "token_age",
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
            "All 9 checks passed: this computer can send mail as {USER} through gmail_api"
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
            "token_age",
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

/// The domain's users in the stand-in (tests/standin/README.md, "Workspace").
const SUBJECT: &str = "facturi@firma.ro";
const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";

#[test]
fn a_service_account_is_checked_by_the_jwt_exchange_as_the_subject() {
    let e = env();
    let (key_file, key) = e.service_account(Some(GMAIL_SEND));
    let sa = key_file.to_str().unwrap();
    let r = e.run(&["doctor", "--service-account", sa, "--as", SUBJECT]);
    r.assert_ok();
    for step in ["config", "dns", "tcp", "tls", "refresh", "scopes", "gmail_api"] {
        assert_eq!(lines(&r, "✓", step).len(), 1, "{step}: {r:?}");
    }
    // No OAuth client to check, and no refresh token whose age would matter.
    assert!(lines(&r, "✓", "client").is_empty(), "{r:?}");
    assert!(lines(&r, "✓", "token_age").is_empty(), "{r:?}");
    let client_email = key["client_email"].as_str().unwrap();
    assert!(lines(&r, "✓", "config")[0].contains(client_email), "{r:?}");
    let refresh = lines(&r, "✓", "refresh")[0];
    assert!(
        refresh.contains(SUBJECT) && refresh.contains("domain-wide delegation"),
        "{r:?}"
    );
    assert!(
        r.stdout.lines().last().unwrap().starts_with(&format!(
            "All 7 checks passed: this computer can send mail as {SUBJECT} through gmail_api"
        )),
        "{r:?}"
    );
    assert_eq!(e.s.counters()["jwt_bearer_by_subject"][SUBJECT], 1);
    assert!(e.s.messages().is_empty(), "the check delivered a message");
    let mut secrets = e.secrets();
    secrets.push(key["private_key"].as_str().unwrap().lines().nth(1).unwrap().to_string());
    r.assert_no_secret(&secrets);

    // Over SMTP the token needs the full-mail scope, which this delegation does not grant:
    // Google refuses the exchange (unauthorized_client) and the hint names the Admin console.
    let r = e.run(&[
        "doctor",
        "--service-account",
        sa,
        "--as",
        SUBJECT,
        "--transport",
        "smtp",
    ]);
    fails_at(
        &r,
        "refresh",
        &oauthmail::hint::SERVICE_ACCOUNT_DELEGATION,
        oauthmail::Status::AuthFailed,
    );
    // With the delegation for it, SMTP logs in as the subject and quits before MAIL.
    e.control(
        "/delegation",
        &json!({"client_id": key["client_id"], "scope": "https://mail.google.com/"}),
    );
    let r = e.run(&[
        "doctor",
        "--service-account",
        sa,
        "--as",
        SUBJECT,
        "--transport",
        "smtp",
    ]);
    r.assert_ok();
    assert_eq!(lines(&r, "✓", "smtp_auth").len(), 1, "{r:?}");
    assert!(lines(&r, "✓", "smtp_auth")[0].contains(SUBJECT), "{r:?}");
    assert_eq!(e.s.counters()["smtp_messages"], 0);

    // A user who is not in the domain: invalid_grant, with its hint; JSON names the step.
    let j = e.run(&["doctor", "--service-account", sa, "--as", "nobody@firma.ro", "--json"]);
    let doc = j.json();
    let steps = doc["steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(
        (last["step"].as_str(), last["ok"].as_bool()),
        (Some("refresh"), Some(false)),
        "{doc}"
    );
    assert_eq!(
        last["error"]["hint_id"],
        oauthmail::hint::SERVICE_ACCOUNT_SUBJECT.id,
        "{doc}"
    );
    assert_eq!(j.code as u64, last["error"]["code"].as_u64().unwrap(), "{doc}");

    // Without --as: the configuration and the network only, and it says how to check the rest.
    let r = e.run(&["doctor", "--service-account", sa]);
    r.assert_ok();
    assert!(r.stderr.contains("No --as"), "{r:?}");
    assert!(lines(&r, "✓", "refresh").is_empty(), "{r:?}");
}

#[test]
fn the_token_age_says_when_a_testing_status_authorization_ends() {
    let e = env();
    let mut doc = e.mint(SEND_SCOPE);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Six days ago: the 7-day limit of Testing status is a day away.
    doc["authorized_at"] = json!(now - 6 * 86_400);
    write_json(&e.token, &doc);
    let r = e.run(&["doctor"]);
    r.assert_ok();
    let age = lines(&r, "✓", "token_age");
    assert_eq!(age.len(), 1, "{r:?}");
    assert!(age[0].contains("(6.0 days ago)") && age[0].contains("SOON"), "{r:?}");
    assert!(age[0].contains("in 24 h") && age[0].contains("Publish app"), "{r:?}");
    // The refreshed document keeps authorized_at.
    assert_eq!(e.token_doc()["authorized_at"], json!(now - 6 * 86_400));

    // Two days old: only the date on which a Testing-status app would end it.
    doc["authorized_at"] = json!(now - 2 * 86_400);
    write_json(&e.token, &doc);
    let r = e.run(&["doctor"]);
    let age = lines(&r, "✓", "token_age");
    assert!(age[0].contains("(2.0 days ago)") && !age[0].contains("SOON"), "{r:?}");
    assert!(
        age[0].contains("if the Google Cloud app is in Testing status, Google ends it on"),
        "{r:?}"
    );
    // Ten days old and still refreshing: the app is not in Testing status.
    doc["authorized_at"] = json!(now - 10 * 86_400);
    write_json(&e.token, &doc);
    let r = e.run(&["doctor"]);
    assert!(lines(&r, "✓", "token_age")[0].contains("outlived the 7 days"), "{r:?}");
    // Unknown: the step says so.
    doc.as_object_mut().unwrap().remove("authorized_at");
    write_json(&e.token, &doc);
    let r = e.run(&["doctor"]);
    assert!(lines(&r, "✓", "token_age")[0].contains("not recorded"), "{r:?}");
}

#[test]
fn a_store_account_is_checked_refreshed_through_the_store_and_revoked_there() {
    let e = env();
    let store = e.dir.join("tokens.json");
    let st = store.to_str().unwrap();
    let a = authorize(&e, &["--store", st, "--protect", "none"]);
    a.assert_ok();
    assert!(a.stdout.contains(&format!("Saved in the token store {st}")), "{a:?}");
    assert!(!e.token.exists(), "with --store no token document is written");
    let before = e.s.counters()["token"]["refresh_token"].as_u64().unwrap_or(0);
    // The store's only account is the default; --account names it.
    for extra in [&[][..], &["--account", USER][..]] {
        let mut args = vec!["doctor", "--store", st, "--protect", "none"];
        args.extend_from_slice(extra);
        let r = e.run(&args);
        r.assert_ok();
        let refresh = lines(&r, "✓", "refresh");
        assert!(refresh[0].contains(USER) && refresh[0].contains("token store"), "{r:?}");
        // Authorized just now, by this version: authorized_at is known.
        assert!(lines(&r, "✓", "token_age")[0].contains("(0.0 days ago)"), "{r:?}");
        assert!(
            r.stdout.lines().last().unwrap().starts_with("All 9 checks passed"),
            "{r:?}"
        );
    }
    // Per run: the client step's probe (a refresh token that cannot exist) and the real refresh.
    assert_eq!(e.s.counters()["token"]["refresh_token"].as_u64().unwrap(), before + 4);
    let stored: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert!(
        stored.to_string().contains(USER),
        "the store keeps the account: {stored}"
    );
    // An account the store does not hold.
    let r = e.run(&[
        "doctor",
        "--store",
        st,
        "--protect",
        "none",
        "--account",
        "other@gmail.com",
    ]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(lines(&r, "✗", "refresh").len() == 1, "{r:?}");
    let secrets = [e.s.info().client_secret.clone()];
    r.assert_no_secret(&secrets);

    // Revoke with the store: the grant is revoked and the entry removed; then the store is empty.
    let r = e.run(&["revoke", "--store", st, "--protect", "none"]);
    r.assert_ok();
    assert!(r.stdout.contains(&format!("Access revoked for {USER}.")), "{r:?}");
    assert!(r.stdout.contains("Removed the account from the token store"), "{r:?}");
    let r = e.run(&[
        "send",
        "--store",
        st,
        "--protect",
        "none",
        "--to",
        "a@example.com",
        "--text",
        "x",
    ]);
    assert_eq!(r.code, oauthmail::Status::Reauthorize.code() as i32, "{r:?}");
    assert!(r.stderr.contains("the token store holds no account"), "{r:?}");
}
