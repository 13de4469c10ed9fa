//! The `oauthmail` binary end to end against the Google stand-in: authorize (browser played by
//! the test), send (Gmail API and SMTP, attachments, refresh), revoke, the error output in English
//! and Romanian with the library's status as exit code, and no secret on the screen.

mod support;

use serde_json::{json, Value};
use support::*;

#[test]
fn version_and_help_for_every_command() {
    let e = env();
    let v = e.run(&["--version"]);
    v.assert_ok();
    assert_eq!(v.stdout.trim(), format!("oauthmail {}", env!("CARGO_PKG_VERSION")));
    for (cmd, needle) in [
        ("authorize", "--login-hint"),
        ("send", "--attach"),
        ("revoke", "token document"),
    ] {
        let h = e.run(&[cmd, "--help"]);
        h.assert_ok();
        assert!(h.stdout.contains(needle), "{cmd} --help: {}", h.stdout);
        assert!(
            h.stdout.contains("--json") && h.stdout.contains("--lang"),
            "{}",
            h.stdout
        );
    }
    // A bad command line is INVALID_ARGUMENT (1), never a status the library gives another meaning.
    let bad = e.run(&["bogus"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    let missing = e.run(&["send", "--subject", "x"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("--to"), "{missing:?}");
}

#[test]
fn authorize_prints_the_account_and_scopes_and_saves_an_owner_only_token() {
    let e = env();
    let r = authorize(&e, &[]);
    r.assert_ok();
    assert!(r.stdout.contains(&format!("Authorized: {USER}")), "{r:?}");
    assert!(r.stdout.contains("Granted scopes:"), "{r:?}");
    assert!(r.stdout.contains("https://www.googleapis.com/auth/gmail.send"), "{r:?}");
    assert!(r.stdout.contains(&e.token.display().to_string()), "{r:?}");
    assert!(r.stderr.contains("Open this address in a browser"), "{r:?}");
    let t = e.token_doc();
    assert_eq!(t["email"], USER);
    assert!(t["refresh_token"].as_str().is_some_and(|s| !s.is_empty()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&e.token).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token file mode {mode:o}");
    }
    r.assert_no_secret(&e.secrets());
    // The consent was for the stand-in's client from the client file.
    assert_eq!(e.s.counters()["token"]["authorization_code"], 1);
}

#[test]
fn authorize_for_smtp_asks_for_the_full_mail_scope_and_json_hides_tokens_unless_asked() {
    let e = env();
    let r = authorize(&e, &["--transport", "smtp", "--json"]);
    r.assert_ok();
    let doc = r.json();
    assert_eq!(doc["email"], USER);
    let scopes: Vec<&str> = doc["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"https://mail.google.com/"), "{doc}");
    assert_eq!(doc["refresh_token"], true);
    assert!(doc.get("token").is_none(), "{doc}");
    r.assert_no_secret(&e.secrets());

    let shown = authorize(&e, &["--json", "--show-secrets"]);
    shown.assert_ok();
    let doc = shown.json();
    assert_eq!(doc["token"], e.token_doc(), "--show-secrets prints the saved document");
}

#[test]
fn send_through_the_gmail_api_with_attachment_and_html_prints_the_message_id() {
    let e = env();
    e.mint(SEND_SCOPE);
    let pdf = e.dir.join("Factură 1.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 test").unwrap();
    let html = e.dir.join("body.html");
    std::fs::write(&html, "<p>Bună ziua</p>").unwrap();
    let r = e.run(&[
        "send",
        "--to",
        "Ion Popescu <ion@example.ro>",
        "--cc",
        "contabil@example.ro",
        "--subject",
        "Factura nr. 1 — scadență",
        "--text",
        "Bună ziua",
        "--html-file",
        html.to_str().unwrap(),
        "--attach",
        pdf.to_str().unwrap(),
    ]);
    r.assert_ok();
    let list = e.s.messages();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["transport"], "gmail_api");
    assert_eq!(
        list[0]["envelope"]["to"],
        json!(["ion@example.ro", "contabil@example.ro"])
    );
    let eml = String::from_utf8_lossy(&e.s.message_bytes(list[0]["id"].as_str().unwrap()).unwrap()).into_owned();
    let id = eml
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .expect("a Message-ID header")
        .trim()
        .to_string();
    assert_eq!(r.stdout.trim(), format!("Sent. Message-ID: {id}"), "{r:?}");
    assert!(eml.contains("Factur"), "the attachment is in the message");
    assert!(eml.contains("text/html"));
    r.assert_no_secret(&e.secrets());
}

#[test]
fn send_over_smtp_with_json_output() {
    let e = env();
    e.mint(MAIL_SCOPE);
    let r = e.run(&[
        "send",
        "--transport",
        "smtp",
        "--to",
        "ion@example.ro",
        "--subject",
        "s",
        "--text",
        "t",
        "--json",
    ]);
    r.assert_ok();
    let doc = r.json();
    assert_eq!(doc["transport"], "smtp");
    assert_eq!(doc["token_refreshed"], false);
    assert!(doc["message_id"].as_str().unwrap().starts_with('<'));
    let list = e.s.messages();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["transport"], "smtp");
}

#[test]
fn send_with_an_expired_access_token_refreshes_and_saves_the_new_document() {
    let e = env();
    let mut t = e.mint(SEND_SCOPE);
    let old = t["access_token"].as_str().unwrap().to_string();
    t["expires_at"] = json!(0);
    write_json(&e.token, &t);
    let r = e.run(&["send", "--to", "ion@example.ro", "--text", "x"]);
    r.assert_ok();
    assert!(r.stderr.contains("refreshed"), "{r:?}");
    let now = e.token_doc();
    assert_ne!(now["access_token"].as_str().unwrap(), old);
    assert!(now["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(now["refresh_token"], t["refresh_token"]);
    assert_eq!(e.s.messages().len(), 1);
    r.assert_no_secret(&e.secrets());
}

#[test]
fn revoke_revokes_the_grant_and_deletes_the_token_document() {
    let e = env();
    e.mint(SEND_SCOPE);
    let secrets = e.secrets();
    let r = e.run(&["revoke"]);
    r.assert_ok();
    assert!(r.stdout.contains(&format!("Access revoked for {USER}.")), "{r:?}");
    assert!(!e.token.exists());
    assert_eq!(e.s.counters()["revoke"], 1);
    r.assert_no_secret(&secrets);
    // Nothing left to revoke: the missing document is a file error (13) with what to do.
    let again = e.run(&["revoke"]);
    assert_eq!(again.code, 13, "{again:?}");
    assert!(again.stderr.contains("oauthmail authorize"), "{again:?}");
}

#[test]
fn library_errors_exit_with_their_status_and_show_the_hint() {
    let e = env();
    e.mint(SEND_SCOPE);
    e.s.set_settings(&json!({"gmail_api_enabled": false})).unwrap();
    let r = e.run(&["send", "--to", "ion@example.ro", "--text", "x"]);
    assert_eq!(r.code, oauthmail::Status::AuthFailed.code() as i32, "{r:?}");
    assert!(r.stderr.starts_with("Error: the Gmail API is not enabled"), "{r:?}");
    assert!(
        r.stderr
            .contains("What to do: The Gmail API is not enabled in the Google Cloud project"),
        "{r:?}"
    );
    assert!(r.stdout.is_empty(), "{r:?}");

    let j = e.run(&["send", "--to", "ion@example.ro", "--text", "x", "--json"]);
    assert_eq!(j.code, 7);
    let doc: Value = j.json();
    assert_eq!(doc["error"]["status"], "auth_failed");
    assert_eq!(doc["error"]["provider"]["http_status"], 403);
    assert_eq!(doc["error"]["hint_id"], "gmail-api-disabled");
    assert!(e.s.messages().is_empty());
    j.assert_no_secret(&e.secrets());

    // In Romanian the library's hint is the Romanian text of the same entry; the message stays English.
    let ro = e.run(&["send", "--to", "ion@example.ro", "--text", "x", "--lang", "ro"]);
    assert_eq!(ro.code, 7);
    assert!(ro.stderr.starts_with("Eroare: the Gmail API is not enabled"), "{ro:?}");
    assert!(
        ro.stderr
            .contains(&format!("Ce puteți face: {}", oauthmail::hint::GMAIL_API_DISABLED.ro)),
        "{ro:?}"
    );
}

#[test]
fn romanian_output_from_the_flag_and_from_the_environment() {
    let e = env();
    let r = e.run(&["send", "--to", "ion@example.ro", "--lang", "ro"]);
    assert_eq!(r.code, 13, "{r:?}");
    assert!(
        r.stderr.starts_with("Eroare: nu se poate citi documentul de token"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("Ce puteți face: Rulați mai întâi `oauthmail authorize`"),
        "{r:?}"
    );

    e.mint(SEND_SCOPE);
    let out = e
        .cmd(&["send", "--to", "ion@example.ro", "--text", "x"])
        .env("LANG", "ro_RO.UTF-8")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Trimis. Message-ID: <"),
        "{out:?}"
    );
    // --lang wins over the environment.
    let en = e
        .cmd(&["revoke", "--lang", "en"])
        .env("LC_ALL", "ro_RO.UTF-8")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&en.stdout).starts_with("Access revoked"),
        "{en:?}"
    );
}

#[test]
fn a_web_client_file_is_refused_with_the_desktop_app_hint() {
    let e = env();
    let i = e.s.info();
    write_json(
        &e.client,
        &json!({"web": {"client_id": i.client_id, "client_secret": i.client_secret,
            "auth_uri": i.authorization_endpoint, "token_uri": i.token_endpoint,
            "redirect_uris": ["https://erp.example.ro/oauth2callback"]}}),
    );
    let r = e.run(&["authorize", "--no-browser"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("Web application"), "{r:?}");
    assert!(r.stderr.contains("Desktop app"), "{r:?}");
    assert_eq!(e.s.counters()["authorize"], 0);
    r.assert_no_secret(std::slice::from_ref(&i.client_secret));
}

#[test]
fn a_service_account_sends_as_users_of_the_domain_over_both_transports_and_never_authorizes() {
    let e = env();
    let (key_file, key) = e.service_account(Some(
        "https://www.googleapis.com/auth/gmail.send https://mail.google.com/",
    ));
    let sa = key_file.to_str().unwrap();
    for (subject, transport) in [("facturi@firma.ro", "gmail_api"), ("contabilitate@firma.ro", "smtp")] {
        let r = e.run(&[
            "send",
            "--service-account",
            sa,
            "--as",
            subject,
            "--transport",
            transport,
            "--to",
            "ion@example.ro",
            "--subject",
            "Factura 7",
            "--text",
            "Bună ziua",
        ]);
        r.assert_ok();
        assert!(r.stdout.starts_with("Sent. Message-ID: <"), "{r:?}");
        // No token document: nothing to keep for a service account.
        assert!(!e.token.exists());
        let list = e.s.messages();
        let m = list.last().unwrap();
        assert_eq!(m["transport"], transport, "{m}");
        let eml = String::from_utf8_lossy(&e.s.message_bytes(m["id"].as_str().unwrap()).unwrap()).into_owned();
        assert!(
            eml.contains(&format!("From: {subject}")),
            "the sender is the subject: {eml}"
        );
        let mut secrets = vec![e.s.info().client_secret.clone()];
        secrets.push(key["private_key"].as_str().unwrap().lines().nth(1).unwrap().to_string());
        r.assert_no_secret(&secrets);
    }
    assert_eq!(e.s.messages().len(), 2);
    let by_subject = &e.s.counters()["jwt_bearer_by_subject"];
    assert_eq!(
        (
            by_subject["facturi@firma.ro"].as_u64(),
            by_subject["contabilitate@firma.ro"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // A send needs the user to act as; the message's --subject is not it.
    let r = e.run(&[
        "send",
        "--service-account",
        sa,
        "--to",
        "ion@example.ro",
        "--subject",
        "x",
        "--text",
        "x",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("pass --as"), "{r:?}");
    // Authorize is refused with the library's hint: the administrator has consented already.
    let r = e.run(&["authorize", "--service-account", sa, "--no-browser"]);
    assert_eq!(r.code, oauthmail::Status::InvalidArgument.code() as i32, "{r:?}");
    assert!(
        r.stderr.contains(oauthmail::hint::SERVICE_ACCOUNT_NO_CONSENT.text),
        "{r:?}"
    );
    assert_eq!(e.s.counters()["token"]["authorization_code"], 0);
}

#[test]
fn authorize_into_a_store_then_send_and_refresh_through_it() {
    let e = env();
    let store = e.dir.join("store.json");
    let st = store.to_str().unwrap();
    let a = authorize(&e, &["--store", st, "--protect", "none", "--transport", "smtp"]);
    a.assert_ok();
    let j = |args: &[&str]| {
        let mut v = vec!["--store", st, "--protect", "none"];
        v.extend_from_slice(args);
        e.run(&v)
    };
    let r = j(&[
        "send",
        "--account",
        USER,
        "--transport",
        "smtp",
        "--to",
        "ion@example.ro",
        "--text",
        "x",
    ]);
    r.assert_ok();
    // The access token expires: the send refreshes it under the store's lock and writes it back.
    let before: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    e.s.advance_clock(3700);
    let r = j(&["send", "--to", "ion@example.ro", "--text", "y", "--json"]);
    r.assert_ok();
    assert_eq!(
        r.json()["token_refreshed"],
        false,
        "a store's token is never handed back"
    );
    let after: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_ne!(before, after, "the refreshed token was written to the store");
    let transports: Vec<Value> = e.s.messages().iter().map(|m| m["transport"].clone()).collect();
    assert_eq!(
        transports,
        [json!("smtp"), json!("gmail_api")],
        "the full-mail scope serves both"
    );
    // --account and --as are two different sources.
    let r = j(&[
        "send",
        "--account",
        USER,
        "--as",
        "facturi@firma.ro",
        "--to",
        "ion@example.ro",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn help_in_romanian_from_the_flag_and_from_lang() {
    let e = env();
    let r = e.run(&["send", "--help", "--lang", "ro"]);
    r.assert_ok();
    assert!(r.stdout.contains("Utilizare: oauthmail send"), "{r:?}");
    assert!(
        r.stdout.contains("--to <ADRESĂ>") && r.stdout.contains("Un destinatar"),
        "{r:?}"
    );
    assert!(r.stdout.contains("Opțiuni generale:"), "{r:?}");
    assert!(
        !r.stdout.contains("A recipient") && !r.stdout.contains("Usage:"),
        "{r:?}"
    );
    for cmd in ["authorize", "revoke", "doctor"] {
        let mut c = e.cmd(&[cmd, "--help"]);
        c.env("LANG", "ro_RO.UTF-8");
        let r = Run::wait(
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            std::time::Duration::from_secs(30),
        );
        r.assert_ok();
        assert!(r.stdout.contains("Afișează ajutorul"), "{cmd}: {r:?}");
        assert!(!r.stdout.contains("Print help"), "{cmd}: {r:?}");
    }
    // --lang wins over the environment, both ways.
    let mut c = e.cmd(&["--lang", "en", "--help"]);
    c.env("LANG", "ro_RO.UTF-8");
    let r = Run::wait(
        c.stdout(std::process::Stdio::piped()).spawn().unwrap(),
        std::time::Duration::from_secs(30),
    );
    assert!(r.stdout.contains("Usage: oauthmail"), "{r:?}");
}
