//! What a pre-flight check (`oauthmail_check`, `oauthmail doctor`) and the From-rewrite warning
//! rely on, over raw sockets: the Gmail API switched off answers every request with Google's 403
//! `accessNotConfigured`; a send without a message is refused like Gmail refuses it and delivers
//! nothing; `users.settings.sendAs.list` tells the verified aliases; a From that is neither the
//! account nor an alias is rewritten on both paths (providers.md §3.4, §3.5).

mod common;

use common::*;
use serde_json::{json, Value};

fn token(s: &oauthmail_standin::Standin, scope: &str) -> String {
    mint(s, scope)["access_token"].as_str().unwrap().to_string()
}

fn post_json(s: &oauthmail_standin::Standin, t: &str, url: &str, body: &str) -> Resp {
    let auth = format!("Bearer {t}");
    request(
        s,
        "POST",
        url,
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn send_as(s: &oauthmail_standin::Standin, t: &str) -> Resp {
    let url = format!("{}/gmail/v1/users/me/settings/sendAs", s.info().gmail_api);
    let auth = format!("Bearer {t}");
    request(s, "GET", &url, &[("Authorization", &auth)], b"")
}

#[test]
fn a_send_without_a_message_is_refused_with_gmails_400_and_delivers_nothing() {
    let s = start();
    let t = token(&s, SEND);
    for body in ["{}", r#"{"raw": ""}"#] {
        let r = post_json(&s, &t, &api_send_url(&s), body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(
            e["message"],
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
        );
        assert_eq!(e["errors"][0]["reason"], "badRequest");
        assert_eq!(e["status"], "INVALID_ARGUMENT");
    }
    assert!(s.messages().is_empty());
    assert_eq!(s.counters()["smtp_messages"], 0);
    // Without a send scope the same probe is the scope error, before the body is looked at.
    let r = post_json(&s, &token(&s, "openid email"), &api_send_url(&s), "{}");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["errors"][0]["reason"], "insufficientPermissions");
}

#[test]
fn the_api_switched_off_answers_every_gmail_request_with_access_not_configured() {
    let s = start();
    let t = token(&s, MAIL);
    // A resumable session opened while the API was on.
    let start_url = format!(
        "{}/upload/gmail/v1/users/me/messages/send?uploadType=resumable",
        s.info().gmail_api
    );
    let started = post_json(&s, &t, &start_url, "{}");
    assert_eq!(started.status, 200);
    let session = started.header("location").unwrap().to_string();

    control(&s, "POST", "/settings", json!({"gmail_api_enabled": false}));
    let auth = format!("Bearer {t}");
    let base = s.info().gmail_api.clone();
    let answers = [
        post_json(&s, &t, &api_send_url(&s), "{}"),
        post_json(
            &s,
            &t,
            &api_send_url(&s),
            &json!({"raw": b64url(b"To: a@example.com\r\n\r\nx")}).to_string(),
        ),
        request(
            &s,
            "POST",
            &format!("{base}/upload/gmail/v1/users/me/messages/send?uploadType=media"),
            &[("Authorization", &auth), ("Content-Type", "message/rfc822")],
            b"To: a@example.com\r\n\r\nx",
        ),
        request(
            &s,
            "PUT",
            &session,
            &[("Authorization", &auth)],
            b"To: a@example.com\r\n\r\nx",
        ),
        request(
            &s,
            "GET",
            &format!("{base}/gmail/v1/users/me/profile"),
            &[("Authorization", &auth)],
            b"",
        ),
        send_as(&s, &t),
    ];
    for r in &answers {
        assert_eq!(r.status, 403, "{}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["status"], "PERMISSION_DENIED");
        assert_eq!(e["errors"][0]["reason"], "accessNotConfigured");
        assert_eq!(e["errors"][0]["domain"], "usageLimits");
        assert!(e["message"]
            .as_str()
            .unwrap()
            .starts_with("Gmail API has not been used in project"));
    }
    assert!(s.messages().is_empty());
    // Switched on again, the same probe is the 400 of a healthy project.
    control(&s, "POST", "/settings", json!({"gmail_api_enabled": true}));
    assert_eq!(post_json(&s, &t, &api_send_url(&s), "{}").status, 400);
}

#[test]
fn send_as_list_gives_the_primary_address_and_the_verified_aliases() {
    let s = start();
    let t = token(&s, MAIL);
    let r = send_as(&s, &t);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json; charset=UTF-8"));
    let list = r.json()["sendAs"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["sendAsEmail"], USER);
    assert_eq!(list[0]["isPrimary"], true);
    assert_eq!(list[0]["isDefault"], true);

    control(&s, "POST", "/users", json!({"aliases": {USER: ["office@firma.ro"]}}));
    let list = send_as(&s, &t).json()["sendAs"].as_array().unwrap().clone();
    let emails: Vec<&str> = list.iter().map(|a| a["sendAsEmail"].as_str().unwrap()).collect();
    assert_eq!(emails, [USER, "office@firma.ro"]);
    assert_eq!(list[1]["verificationStatus"], "accepted");
    assert_eq!(list[1]["treatAsAlias"], true);
    assert_eq!(list[1].get("isPrimary"), None);

    // gmail.send alone may not read settings: Google's scope error.
    let r = send_as(&s, &token(&s, SEND));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["errors"][0]["reason"], "insufficientPermissions");
}

#[test]
fn smtp_rewrites_a_from_that_is_not_the_account_or_an_alias() {
    let s = start();
    let t = token(&s, MAIL);
    let send = |from: &str| {
        let mut c = Smtp::login(&s, &t);
        c.cmd(&format!("MAIL FROM:<{USER}>"));
        c.cmd("RCPT TO:<a@example.com>");
        c.cmd("DATA");
        c.raw(format!("From: Office <{from}>\r\nTo: a@example.com\r\n\r\nx\r\n.\r\n").as_bytes());
        let r = c.reply();
        assert!(r.starts_with("250 2.0.0 OK"), "{r}");
        c.cmd("QUIT");
    };
    send("office@firma.ro");
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "smtp");
    assert_eq!(m["from_rewritten"]["original"], "Office <office@firma.ro>");
    assert_eq!(m["from_rewritten"]["delivered"], USER);
    let delivered = std::fs::read(
        std::path::Path::new(&s.info().mailbox_dir).join(m["from_rewritten"]["delivered_eml"].as_str().unwrap()),
    )
    .unwrap();
    assert!(delivered.starts_with(format!("From: {USER}\r\n").as_bytes()));

    control(&s, "POST", "/users", json!({"aliases": {USER: ["office@firma.ro"]}}));
    send("office@firma.ro");
    assert_eq!(s.messages()[1]["from_rewritten"], Value::Null);
}
