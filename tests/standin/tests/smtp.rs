//! Gmail SMTP over real sockets with a hand-written client: greeting, EHLO lists, STARTTLS
//! refusal, XOAUTH2/OAUTHBEARER success and failure bytes, envelope, DATA/BDAT, limits, faults
//! (providers.md §2).

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use serde_json::json;

fn token(s: &oauthmail_standin::Standin, scope: &str) -> String {
    mint(s, scope)["access_token"].as_str().unwrap().to_string()
}

fn reply_lines(r: &str) -> Vec<&str> {
    r.split_inclusive("\r\n").collect()
}

#[test]
fn greeting_and_ehlo_before_and_after_starttls_match_gmail() {
    let s = start();
    let mut c = Smtp::plain(&s);
    let g = c.reply();
    assert!(g.starts_with("220 smtp.gmail.com ESMTP ") && ends_gsmtp(&g), "{g}");
    assert_eq!(
        c.cmd("EHLO [127.0.0.1]"),
        "250-smtp.gmail.com at your service, [127.0.0.1]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
    );
    c.starttls(&s);
    assert_eq!(
        c.cmd("EHLO [127.0.0.1]"),
        "250-smtp.gmail.com at your service, [127.0.0.1]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"
    );
}

#[test]
fn auth_and_mail_before_starttls_get_gmails_three_line_530() {
    let s = start();
    let mut c = Smtp::plain_after_ehlo(&s);
    let t = token(&s, MAIL);
    for cmd in [
        format!("AUTH XOAUTH2 {}", xoauth2(USER, &t)),
        "MAIL FROM:<a@b.example>".into(),
    ] {
        let r = c.cmd(&cmd);
        let l = reply_lines(&r);
        assert_eq!(l.len(), 3, "{r}");
        assert_eq!(
            l[0],
            "530-5.7.0 Must issue a STARTTLS command first. For more information, go to\r\n"
        );
        assert_eq!(
            l[1],
            "530-5.7.0  https://support.google.com/a/answer/3221692 and review RFC 3207\r\n"
        );
        assert!(
            l[2].starts_with("530 5.7.0 specifications. ") && ends_gsmtp(l[2]),
            "{r}"
        );
    }
}

#[test]
fn xoauth2_with_initial_response_is_accepted_with_235() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::plain_after_ehlo(&s);
    c.starttls(&s);
    c.cmd("EHLO x");
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &t))),
        "235 2.7.0 Accepted\r\n"
    );
    assert_eq!(s.counters()["smtp_auth_ok"], 1);
}

#[test]
fn xoauth2_without_initial_response_gets_an_empty_334_first() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::smtps_after_ehlo(&s);
    assert_eq!(c.cmd("AUTH XOAUTH2"), "334 \r\n");
    assert_eq!(c.cmd(&xoauth2(USER, &t)), "235 2.7.0 Accepted\r\n");
}

/// The exact failure dance: 334 + base64 JSON, the client's empty line, the two-line 535.
fn assert_xoauth2_failure(s: &oauthmail_standin::Standin, user: &str, tok: &str) {
    let mut c = Smtp::smtps_after_ehlo(s);
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(user, tok)));
    assert_eq!(
        r,
        "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"
    );
    let r = c.cmd("");
    let l = reply_lines(&r);
    assert_eq!(l.len(), 2, "{r}");
    assert_eq!(
        l[0],
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    );
    assert!(
        l[1].starts_with("535 5.7.8  https://support.google.com/mail/?p=BadCredentials ") && ends_gsmtp(l[1]),
        "{r}"
    );
}

#[test]
fn xoauth2_failure_sequence_for_unknown_token_is_334_json_then_two_line_535() {
    let s = start();
    assert_xoauth2_failure(&s, USER, "ya29.nope");
    let json = STANDARD
        .decode("eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==")
        .unwrap();
    assert_eq!(
        json,
        br#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#
    );
    assert_eq!(s.counters()["smtp_auth_failed"], 1);
}

#[test]
fn gmail_send_scoped_token_cannot_authenticate_to_smtp() {
    let s = start();
    let t = token(&s, SEND);
    assert_xoauth2_failure(&s, USER, &t);
}

#[test]
fn expired_and_revoked_tokens_and_wrong_user_fail_xoauth2() {
    let s = start();
    let t = token(&s, MAIL);
    assert_xoauth2_failure(&s, USER2, &t);
    control(&s, "POST", "/tokens/expire", json!({"token": t}));
    assert_xoauth2_failure(&s, USER, &t);
    let t2 = token(&s, MAIL);
    control(&s, "POST", "/revoke", json!({"email": USER}));
    assert_xoauth2_failure(&s, USER, &t2);
}

#[test]
fn learn_more_at_text_and_401_status_are_configurable() {
    let s = start();
    s.set_settings(&json!({"smtp_more_info_text": "Learn more at", "xoauth2_error_status": "401"}))
        .unwrap();
    let mut c = Smtp::smtps_after_ehlo(&s);
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, "bad")));
    let j = STANDARD.decode(&r.trim_end().as_bytes()[4..]).unwrap();
    assert_eq!(
        j,
        br#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#
    );
    assert!(c
        .cmd("")
        .starts_with("535-5.7.8 Username and Password not accepted. Learn more at\r\n"));
}

#[test]
fn oauthbearer_succeeds_and_its_failure_takes_a_0x01_answer() {
    let s = start();
    let t = token(&s, MAIL);
    let ir = STANDARD.encode(format!(
        "n,a={USER},\x01host=127.0.0.1\x01port=465\x01auth=Bearer {t}\x01\x01"
    ));
    let mut c = Smtp::smtps_after_ehlo(&s);
    assert_eq!(c.cmd(&format!("AUTH OAUTHBEARER {ir}")), "235 2.7.0 Accepted\r\n");

    let bad = STANDARD.encode(format!("n,a={USER},\x01auth=Bearer nope\x01\x01"));
    let mut c = Smtp::smtps_after_ehlo(&s);
    let r = c.cmd(&format!("AUTH OAUTHBEARER {bad}"));
    assert!(r.starts_with("334 "), "{r}");
    let j: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(&r.trim_end().as_bytes()[4..]).unwrap()).unwrap();
    assert_eq!(j["status"], "invalid_token");
    assert!(c.cmd("AQ==").starts_with("535-5.7.8 "));
}

#[test]
fn undecodable_auth_data_is_501_cannot_decode() {
    let s = start();
    let mut c = Smtp::smtps_after_ehlo(&s);
    assert!(c
        .cmd("AUTH XOAUTH2 !!!")
        .starts_with("501 5.5.2 Cannot Decode response "));
}

#[test]
fn mail_without_auth_is_530_authentication_required() {
    let s = start();
    let mut c = Smtp::smtps_after_ehlo(&s);
    let r = c.cmd("MAIL FROM:<erp.test@gmail.com>");
    let l = reply_lines(&r);
    assert_eq!(
        l[0],
        "530-5.7.0 Authentication Required. For more information, go to\r\n"
    );
    assert!(l[1].starts_with("530 5.7.0  https://support.google.com/mail/?p=WantAuthError "));
}

#[test]
fn message_is_delivered_dot_unstuffed_and_byte_exact_with_gmail_replies() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    let r = c.cmd("MAIL FROM:<erp.test@gmail.com> SIZE=100 BODY=8BITMIME SMTPUTF8");
    assert!(r.starts_with("250 2.1.0 OK ") && ends_gsmtp(&r), "{r}");
    let r = c.cmd("RCPT TO:<a@example.com>");
    assert!(r.starts_with("250 2.1.5 OK ") && ends_gsmtp(&r), "{r}");
    c.cmd("RCPT TO:<b@example.com>");
    let r = c.cmd("DATA");
    assert!(r.starts_with("354  Go ahead ") && ends_gsmtp(&r), "{r}");
    c.raw(b"From: erp.test@gmail.com\r\nTo: a@example.com\r\nSubject: \xc8\x98 test\r\n\r\n..leading dot\r\nbare\nlf\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("250 2.0.0 OK  ") && ends_gsmtp(&r), "{r}");
    assert!(c.cmd("QUIT").starts_with("221 2.0.0 closing connection "));
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "smtp");
    assert_eq!(m["account"], USER);
    assert_eq!(
        m["envelope"],
        json!({"from": USER, "to": ["a@example.com", "b@example.com"]})
    );
    assert_eq!(m["smtp"]["body"], "8BITMIME");
    assert_eq!(m["smtp"]["smtputf8"], true);
    assert_eq!(m["smtp"]["port"], "smtps");
    assert_eq!(m["from_rewritten"], serde_json::Value::Null);
    assert_eq!(
        s.message_bytes(m["id"].as_str().unwrap()).unwrap(),
        b"From: erp.test@gmail.com\r\nTo: a@example.com\r\nSubject: \xc8\x98 test\r\n\r\n.leading dot\r\nbare\nlf\r\n"
    );
}

#[test]
fn pipelined_envelope_commands_are_answered_in_order() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    c.raw(b"MAIL FROM:<erp.test@gmail.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n");
    assert!(c.reply().starts_with("250 2.1.0"));
    assert!(c.reply().starts_with("250 2.1.5"));
    assert!(c.reply().starts_with("354 "));
    c.raw(b"Subject: p\r\n\r\nx\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 OK"));
    assert_eq!(s.messages().len(), 1);
}

#[test]
fn bdat_chunks_are_delivered_as_one_message() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    c.cmd("RCPT TO:<a@example.com>");
    c.raw(b"BDAT 10\r\nSubject: b");
    assert!(c.reply().starts_with("250 2.0.0 OK"));
    c.raw(b"BDAT 10 LAST\r\n\r\n\r\nbody\r\n");
    assert!(c.reply().starts_with("250 2.0.0 OK  "));
    let id = s.messages()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.message_bytes(&id).unwrap(), b"Subject: b\r\n\r\nbody\r\n");
}

#[test]
fn size_over_the_limit_is_refused_with_gmails_552() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    let r = c.cmd("MAIL FROM:<erp.test@gmail.com> SIZE=35882578");
    assert!(r.starts_with("552-5.2.3 Your message exceeded Google's message size limits. Please visit\r\n552-5.2.3  https://support.google.com/mail/?p=MaxSizeError to view our size\r\n552 5.2.3 guidelines. "), "{r}");
    s.set_settings(&json!({"smtp_max_message_bytes": 100})).unwrap();
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    c.cmd("RCPT TO:<a@example.com>");
    c.cmd("DATA");
    c.raw(format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(200)).as_bytes());
    assert!(c.reply().starts_with("552-5.2.3 "));
    assert!(s.messages().is_empty());
}

#[test]
fn recipients_above_the_limit_get_452() {
    let s = start();
    s.set_settings(&json!({"max_recipients": 2})).unwrap();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    assert!(c.cmd("RCPT TO:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@example.com>").starts_with("250"));
    assert!(c
        .cmd("RCPT TO:<c@example.com>")
        .starts_with("452-4.5.3 Your message has too many recipients."));
}

#[test]
fn command_order_errors_are_503() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    assert!(c.cmd("RCPT TO:<a@example.com>").starts_with("503 5.5.1 MAIL first."));
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    assert!(c.cmd("DATA").starts_with("503 5.5.1 RCPT first."));
    assert!(c.cmd("FOO").starts_with("502 5.5.1 Unrecognized command."));
    assert!(c.cmd("RSET").starts_with("250 2.1.5 Flushed"));
}

#[test]
fn fault_421_at_mail_stage_closes_the_connection() {
    let s = start();
    let t = token(&s, MAIL);
    s.add_fault(&json!({"endpoint": "smtp", "kind": "reply", "stage": "mail", "code": 421}))
        .unwrap();
    let mut c = Smtp::login(&s, &t);
    let r = c.cmd("MAIL FROM:<erp.test@gmail.com>");
    assert!(r.starts_with("421 4.7.0 "), "{r}");
    assert!(c.try_reply().is_err(), "the connection is closed after 421");
}

#[test]
fn fault_451_after_data_rejects_the_message_and_keeps_the_session() {
    let s = start();
    let t = token(&s, MAIL);
    s.add_fault(&json!({"endpoint": "smtp", "kind": "reply", "stage": "data_end", "code": 451}))
        .unwrap();
    let mut c = Smtp::login(&s, &t);
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    c.cmd("RCPT TO:<a@example.com>");
    c.cmd("DATA");
    c.raw(b"Subject: x\r\n\r\nx\r\n.\r\n");
    assert!(c
        .reply()
        .starts_with("451 4.3.0 Mail server temporarily rejected message."));
    assert!(s.messages().is_empty());
    // The fault fired once: the retry is accepted.
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    c.cmd("RCPT TO:<a@example.com>");
    c.cmd("DATA");
    c.raw(b"Subject: x\r\n\r\nx\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 OK"));
}

#[test]
fn fault_554_at_rcpt_with_custom_text() {
    let s = start();
    let t = token(&s, MAIL);
    s.add_fault(&json!({"endpoint": "smtp", "kind": "reply", "stage": "rcpt", "code": 554, "text": "5.7.1 first\n5.7.1 second"})).unwrap();
    let mut c = Smtp::login(&s, &t);
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    assert_eq!(
        c.cmd("RCPT TO:<a@example.com>"),
        "554-5.7.1 first\r\n554 5.7.1 second\r\n"
    );
}

#[test]
fn fault_drop_at_ehlo_closes_without_reply() {
    let s = start();
    s.add_fault(&json!({"endpoint": "smtp", "kind": "drop", "stage": "ehlo"}))
        .unwrap();
    let mut c = Smtp::smtps(&s);
    c.reply();
    c.send("EHLO x");
    assert!(c.try_reply().is_err());
}

#[test]
fn fault_hang_at_connect_never_greets() {
    let s = start();
    s.add_fault(&json!({"endpoint": "smtp", "kind": "hang", "stage": "connect"}))
        .unwrap();
    let c = Conn::connect(&s, port_of(&s.info().smtp_starttls), false);
    c.tcp()
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut c = Smtp {
        conn: std::io::BufReader::new(c),
    };
    let e = c.try_reply().unwrap_err();
    assert!(
        matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        "{e}"
    );
}

#[test]
fn starttls_port_delivers_after_upgrade() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::plain_after_ehlo(&s);
    c.starttls(&s);
    c.cmd("EHLO x");
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &t))),
        "235 2.7.0 Accepted\r\n"
    );
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    c.cmd("RCPT TO:<a@example.com>");
    c.cmd("DATA");
    c.raw(b"Subject: s\r\n\r\nx\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 OK"));
    assert_eq!(s.messages()[0]["smtp"]["port"], "starttls");
}

#[test]
fn fault_535_at_auth_stage_is_gmails_two_line_bad_credentials() {
    let s = start();
    let t = token(&s, MAIL);
    s.add_fault(&json!({"endpoint": "smtp", "kind": "reply", "stage": "auth", "code": 535}))
        .unwrap();
    let mut c = Smtp::smtps_after_ehlo(&s);
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &t)));
    let l = reply_lines(&r);
    assert_eq!(
        l[0],
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    );
    assert!(l[1].starts_with("535 5.7.8  https://support.google.com/mail/?p=BadCredentials "));
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &t))),
        "235 2.7.0 Accepted\r\n"
    );
}

#[test]
fn non_ascii_command_arguments_do_not_break_the_session() {
    let s = start();
    let t = token(&s, MAIL);
    let mut c = Smtp::login(&s, &t);
    assert!(c.cmd("MAIL FRéM:<x@y.example>").starts_with("555 5.5.2 Syntax error."));
    assert!(c.cmd("NOOP").starts_with("250 2.0.0 OK"));
}

#[test]
fn a_restart_on_the_same_state_dir_keeps_the_mailbox_in_order() {
    let dir = std::env::temp_dir().join(format!("standin-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || oauthmail_standin::Options {
        state_dir: Some(dir.clone()),
        ..Default::default()
    };
    for round in 0..2 {
        let s = start_with(opts());
        let t = token(&s, MAIL);
        let mut c = Smtp::login(&s, &t);
        c.cmd("MAIL FROM:<erp.test@gmail.com>");
        c.cmd("RCPT TO:<a@example.com>");
        c.cmd("DATA");
        c.raw(format!("Subject: {round}\r\n\r\nx\r\n.\r\n").as_bytes());
        assert!(c.reply().starts_with("250 2.0.0 OK"));
    }
    let s = start_with(opts());
    let seqs: Vec<u64> = s.messages().iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2]);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
