//! Sending through Gmail SMTP (implicit TLS and STARTTLS, XOAUTH2 and OAUTHBEARER), against the
//! in-process Google stand-in.

mod send_common;

use std::sync::Arc;

use oauthmail::{hint, Client, Status};
use send_common::*;
use serde_json::json;

fn structured_send_arrives_intact_without_bcc(via: Via) {
    let s = standin();
    let c = client(&s, via);
    let dir = temp_dir("smtp-invoice");
    let (doc, pdf) = invoice(&dir);
    let r = c.send(&token(&s, MAIL_SCOPE), &doc).expect("sent");
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(r.transport, oauthmail::provider::TransportKind::Smtp);
    assert!(r.token.is_none());
    let (side, eml) = only_message(&s);
    assert_eq!(side["transport"], "smtp");
    assert_eq!(
        side["smtp"]["port"],
        if via == Via::Smtps { "smtps" } else { "starttls" }
    );
    assert_eq!(side["smtp"]["auth_mechanism"], "XOAUTH2");
    assert_eq!(side["account"], USER);
    assert_eq!(header(&eml, "Message-ID").as_deref(), Some(r.message_id.as_str()));
    assert_invoice_subject_and_from(&eml);
    // Bcc only in the envelope, never in the data (providers.md §2.7).
    assert!(header(&eml, "Bcc").is_none());
    assert!(!String::from_utf8_lossy(&eml).contains("sef@example.ro"));
    assert_eq!(
        envelope_to(&side),
        ["ion@example.ro", "contabil@example.ro", "sef@example.ro"]
    );
    assert_eq!(side["envelope"]["from"], USER);
    assert_eq!(part_body(&eml, "Content-Disposition: attachment"), pdf);
    assert!(
        String::from_utf8_lossy(&eml).ends_with("--\r\n"),
        "no extra line after the message"
    );
}

#[test]
fn smtps_send_with_attachment_and_diacritics_arrives_intact_without_bcc() {
    structured_send_arrives_intact_without_bcc(Via::Smtps);
}

#[test]
fn starttls_send_with_attachment_and_diacritics_arrives_intact_without_bcc() {
    structured_send_arrives_intact_without_bcc(Via::StartTls);
}

#[test]
fn smtp_raw_message_arrives_byte_for_byte_minus_its_bcc_field() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let raw = format!(
        "Message-ID: <raw-1@firma.ro>\r\nFrom: {USER}\r\nTo: ion@example.ro\r\nBcc: ascuns@example.ro\r\nSubject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nȘi 8bit ăâî\r\n"
    );
    let r = c
        .send(
            &token(&s, MAIL_SCOPE),
            &message(json!({"raw_base64": b64(raw.as_bytes())})),
        )
        .unwrap();
    assert_eq!(r.message_id, "<raw-1@firma.ro>");
    let (side, eml) = only_message(&s);
    assert_eq!(
        String::from_utf8(eml).unwrap(),
        raw.replace("Bcc: ascuns@example.ro\r\n", "")
    );
    assert_eq!(side["envelope"]["to"], json!(["ion@example.ro", "ascuns@example.ro"]));
    assert_eq!(side["smtp"]["body"], "8BITMIME");
}

#[test]
fn smtp_expired_token_is_refreshed_once_first_and_returned() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let old = expired(token(&s, MAIL_SCOPE), &s);
    let r = c.send(&old, &simple()).unwrap();
    let new = r.token.expect("refreshed token returned");
    assert_ne!(new.access_token, old.access_token);
    assert_eq!(refreshes(&s), 1);
    assert_eq!(counter(&s, "smtp_auth_failed"), 0, "no AUTH with the expired token");
    assert_eq!(counter(&s, "smtp_auth_ok"), 1);
}

#[test]
fn smtp_535_after_the_xoauth2_challenge_refreshes_once_and_retries_once() {
    let s = standin();
    let c = client(&s, Via::StartTls);
    let mut t = expired(token(&s, MAIL_SCOPE), &s);
    t.expires_at = Some(now() + 1800);
    let r = c.send(&t, &simple()).unwrap();
    assert!(r.token.is_some());
    assert_eq!(refreshes(&s), 1);
    assert_eq!(counter(&s, "smtp_auth_failed"), 1);
    assert_eq!(counter(&s, "smtp_auth_ok"), 1);
    assert_eq!(s.messages().len(), 1);
}

#[test]
fn smtp_oauthbearer_sends_and_answers_its_failure_challenge() {
    let s = standin();
    let c = Client::new(config(&s, Via::Smtps, json!({"smtp_auth": "oauthbearer"}))).unwrap();
    let mut t = expired(token(&s, MAIL_SCOPE), &s);
    t.expires_at = Some(now() + 1800);
    c.send(&t, &simple()).unwrap();
    let (side, _) = only_message(&s);
    assert_eq!(side["smtp"]["auth_mechanism"], "OAUTHBEARER");
    assert_eq!(counter(&s, "smtp_auth_failed"), 1);
    assert_eq!(refreshes(&s), 1);
}

#[test]
fn smtp_token_rejected_again_after_the_refresh_is_auth_failed() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "auth", "kind": "reply", "code": 535, "count": 3,
               "text": "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp"}),
    );
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    let reply = e.provider.as_ref().unwrap().smtp_reply.clone().unwrap();
    assert!(
        reply.starts_with("535 5.7.8 Username and Password not accepted"),
        "{reply}"
    );
    assert_eq!(refreshes(&s), 1);
    let pending = control(&s, "GET", "/faults", None);
    assert_eq!(pending["faults"][0]["count"], 1, "exactly one retry: {pending}");
    assert!(s.messages().is_empty());
}

#[test]
fn smtp_invalid_grant_during_send_is_reauthorize() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let mut t = token(&s, MAIL_SCOPE);
    control(&s, "POST", "/revoke", Some(json!({"email": USER})));
    t.expires_at = Some(now() + 1800);
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize, "{e:?}");
    assert_eq!(counter(&s, "smtp_auth_failed"), 1);
    assert!(s.messages().is_empty());
}

#[test]
fn smtp_with_a_gmail_send_token_is_insufficient_scope() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    // Scope known: refused before connecting.
    let t = token(&s, SEND_SCOPE);
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (Status::InsufficientScope, Some("token.scope"))
    );
    assert_eq!(e.hint, hint::INSUFFICIENT_SCOPE_SMTP.text);
    assert_eq!(counter(&s, "smtp_connections"), 0);
    // Scope unknown: Gmail's 334 + 535, a refresh that reveals the scope, then the same answer.
    let mut t = t;
    t.scope = String::new();
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!(e.status, Status::InsufficientScope, "{e:?}");
    assert_eq!(e.hint, hint::INSUFFICIENT_SCOPE_SMTP.text);
    assert_eq!(counter(&s, "smtp_auth_failed"), 1);
    assert!(s.messages().is_empty());
}

#[test]
fn smtp_refused_recipient_is_rejected_naming_it_and_nobody_gets_the_mail() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    // The first RCPT passes, the second (the Bcc) is refused permanently.
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "rcpt", "kind": "delay", "delay_ms": 1}),
    );
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "rcpt", "kind": "reply", "code": 550,
               "text": "5.1.1 The email account that you tried to reach does not exist. x - gsmtp"}),
    );
    let doc = message(json!({"from": USER, "to": ["ion@example.ro"], "bcc": ["nobody@example.ro"], "text": "x"}));
    let t = token(&s, MAIL_SCOPE);
    let e = c.send(&t, &doc).unwrap_err();
    assert_eq!(e.status, Status::Rejected);
    assert_eq!(e.field.as_deref(), Some("message.bcc[0]"));
    assert_eq!(e.hint, hint::RECIPIENT_REFUSED.text);
    assert!(e.provider.clone().unwrap().smtp_reply.unwrap().starts_with("550 5.1.1"));
    assert!(s.messages().is_empty());
    assert_eq!(counter(&s, "smtp_messages"), 0);
    // The next send works. (With PIPELINING the server had answered the DATA in the same
    // flight with 354, so the refused connection was dropped without the final dot and the next
    // send opened a new one; tests/smtp_pipelining.rs pins that.)
    c.send(&t, &simple()).unwrap();
    assert_eq!(s.messages().len(), 1);
    assert_eq!(counter(&s, "smtp_connections"), 2);
}

#[test]
fn smtp_421_at_mail_from_on_a_kept_connection_is_rate_limited_not_retried_and_the_next_send_reconnects() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    c.send(&t, &simple()).unwrap();
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "mail", "kind": "reply", "code": 421}),
    );
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!(e.status, Status::RateLimited);
    assert!(e.provider.clone().unwrap().smtp_reply.unwrap().starts_with("421 4.7.0"));
    assert_eq!(s.messages().len(), 1);
    assert_eq!(
        counter(&s, "smtp_connections"),
        1,
        "a 421 is an answer, not a stale connection"
    );
    c.send(&t, &simple()).unwrap();
    assert_eq!(counter(&s, "smtp_connections"), 2);
    assert_eq!(s.messages().len(), 2);
}

#[test]
fn smtp_daily_limit_and_oversize_replies_map_to_their_hints() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "mail", "kind": "reply", "code": 550}),
    );
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!((e.status, e.hint), (Status::RateLimited, hint::DAILY_LIMIT.text));
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "data_end", "kind": "reply", "code": 552,
               "text": "5.2.3 Your message exceeded Google's message size limits."}),
    );
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!((e.status, e.hint), (Status::Rejected, hint::MESSAGE_TOO_LARGE.text));
    assert!(s.messages().is_empty());
}

#[test]
fn smtp_connection_is_reused_across_sends_on_one_client() {
    let s = standin();
    let c = client(&s, Via::StartTls);
    let t = token(&s, MAIL_SCOPE);
    for i in 0..5 {
        let doc = message(json!({"from": USER, "to": [format!("r{i}@example.ro")], "text": format!("{i}")}));
        c.send(&t, &doc).unwrap();
    }
    assert_eq!(counter(&s, "smtp_connections"), 1);
    assert_eq!(counter(&s, "smtp_auth_ok"), 1);
    assert_eq!(counter(&s, "smtp_messages"), 5);
}

#[test]
fn smtp_kept_connection_that_breaks_before_data_is_replaced_transparently() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    c.send(&t, &simple()).unwrap();
    fault(&s, json!({"endpoint": "smtp", "stage": "mail", "kind": "drop"}));
    c.send(&t, &simple()).unwrap();
    assert_eq!(counter(&s, "smtp_connections"), 2);
    assert_eq!(s.messages().len(), 2);
}

#[test]
fn smtp_kept_connection_that_went_silent_is_replaced_within_seconds_not_io_s() {
    // io_s is 20 s in these tests; a connection dropped silently (NAT, firewall) answers nothing.
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    c.send(&t, &simple()).unwrap();
    fault(&s, json!({"endpoint": "smtp", "stage": "rset", "kind": "hang"}));
    let started = std::time::Instant::now();
    c.send(&t, &simple()).unwrap();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    assert_eq!(counter(&s, "smtp_connections"), 2);
    assert_eq!(s.messages().len(), 2);
}

#[test]
fn smtp_connection_lost_after_the_data_is_reported_and_never_resent() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    fault(&s, json!({"endpoint": "smtp", "stage": "data_end", "kind": "drop"}));
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert!(matches!(e.status, Status::Network | Status::Provider), "{e:?}");
    assert!(e.message.contains("not sent again"), "{}", e.message);
    assert_eq!(counter(&s, "smtp_connections"), 1, "no second attempt");
}

#[test]
fn smtp_parallel_sends_with_an_expired_token_refresh_exactly_once() {
    const THREADS: usize = 8;
    const SENDS: usize = 3;
    let s = standin();
    let c = Arc::new(client(&s, Via::Smtps));
    let t = Arc::new(expired(token(&s, MAIL_SCOPE), &s));
    for r in parallel_sends(&c, &t, THREADS, SENDS) {
        assert!(r.expect("every send succeeds"));
    }
    assert_eq!(refreshes(&s), 1, "one refresh for all threads");
    assert_eq!(counter(&s, "smtp_messages"), (THREADS * SENDS) as i64);
    assert_eq!(counter(&s, "smtp_auth_failed"), 0);
    assert!(
        counter(&s, "smtp_connections") <= THREADS as i64,
        "connections are reused"
    );
}

#[test]
fn smtp_server_silent_after_the_data_is_timeout_and_the_message_is_not_resent() {
    let s = standin();
    let c = Client::new(config(&s, Via::Smtps, json!({"timeouts": {"connect_s": 5, "io_s": 1}}))).unwrap();
    fault(&s, json!({"endpoint": "smtp", "stage": "data_end", "kind": "hang"}));
    let started = std::time::Instant::now();
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{e:?}");
    assert!(e.message.contains("not sent again"), "{}", e.message);
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(counter(&s, "smtp_connections"), 1);
}

#[test]
fn smtp_server_silent_at_the_greeting_is_timeout() {
    let s = standin();
    let c = Client::new(config(
        &s,
        Via::StartTls,
        json!({"timeouts": {"connect_s": 1, "io_s": 5}}),
    ))
    .unwrap();
    fault(&s, json!({"endpoint": "smtp", "stage": "connect", "kind": "hang"}));
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{e:?}");
    assert!(s.messages().is_empty());
}

#[test]
fn smtp_server_certificate_from_an_unknown_authority_is_tls_naming_the_issuer() {
    for via in [Via::Smtps, Via::StartTls] {
        let s = standin();
        let mut cfg = config(&s, via, json!({}));
        cfg.tls.extra_ca_file = None;
        let c = Client::new(cfg).unwrap();
        let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
        assert_eq!(e.status, Status::Tls, "{via:?}: {e:?}");
        assert_eq!(e.hint, hint::TLS_INSPECTION.text);
        assert!(
            e.message
                .contains("issued by \"CN=oauthmail-standin test CA (not Google)"),
            "the message names the issuer: {}",
            e.message
        );
        let auths = counter(&s, "smtp_auth_ok") + counter(&s, "smtp_auth_failed");
        assert_eq!(auths, 0, "no AUTH without TLS");
    }
}

#[test]
fn smtp_auth_disabled_for_the_mailbox_is_auth_failed_without_a_refresh() {
    let s = standin();
    let c = client(&s, Via::StartTls);
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "auth", "kind": "reply", "code": 535,
               "text": "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}),
    );
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!((e.status, e.hint), (Status::AuthFailed, hint::SMTP_AUTH_DISABLED.text));
    assert_eq!(refreshes(&s), 0);
}

/// A silent server is noticed when the step's `io_s` runs out, once: a broken connection is
/// dropped, not sent a QUIT that would wait `io_s` again.
#[test]
fn smtp_server_silent_at_auth_or_rcpt_times_out_after_io_s_once() {
    for stage in ["auth", "rcpt"] {
        let s = standin();
        let c = Client::new(config(&s, Via::Smtps, json!({"timeouts": {"connect_s": 5, "io_s": 1}}))).unwrap();
        fault(&s, json!({"endpoint": "smtp", "stage": stage, "kind": "hang"}));
        let started = std::time::Instant::now();
        let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.status, Status::Timeout, "{stage}: {e:?}");
        assert!(took < std::time::Duration::from_millis(1700), "{stage}: {took:?}");
        assert_eq!(counter(&s, "smtp_messages"), 0);
    }
}

#[test]
fn smtp_cancel_while_the_server_is_silent_before_the_data_ends_is_cancelled_at_once_and_sends_nothing() {
    for stage in ["connect", "auth", "rcpt", "data"] {
        let s = standin();
        let c = Arc::new(
            Client::new(config(
                &s,
                Via::StartTls,
                json!({"timeouts": {"connect_s": 20, "io_s": 20}}),
            ))
            .unwrap(),
        );
        let t = token(&s, MAIL_SCOPE);
        fault(&s, json!({"endpoint": "smtp", "stage": stage, "kind": "hang"}));
        let canceller = cancel_after(&c, 200);
        let started = std::time::Instant::now();
        let e = c.send(&t, &simple()).unwrap_err();
        let took = started.elapsed();
        canceller.join().unwrap();
        assert_eq!(e.status, Status::Cancelled, "{stage}: {e:?}");
        assert!(took < std::time::Duration::from_millis(1000), "{stage}: {took:?}");
        assert_eq!(counter(&s, "smtp_messages"), 0, "{stage}");
        // Later calls are unaffected.
        c.send(&t, &simple()).expect("a send after the cancel works");
        assert_eq!(counter(&s, "smtp_messages"), 1, "{stage}");
    }
}

#[test]
fn smtp_cancel_after_the_data_ended_says_the_message_may_have_been_delivered() {
    let s = standin();
    let c = Arc::new(
        Client::new(config(
            &s,
            Via::Smtps,
            json!({"timeouts": {"connect_s": 20, "io_s": 20}}),
        ))
        .unwrap(),
    );
    fault(&s, json!({"endpoint": "smtp", "stage": "data_end", "kind": "hang"}));
    let canceller = cancel_after(&c, 300);
    let started = std::time::Instant::now();
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    canceller.join().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(1000));
    assert_eq!(e.status, Status::Cancelled, "{e:?}");
    assert!(e.message.contains("may have been delivered"), "{}", e.message);
    assert_eq!(counter(&s, "smtp_connections"), 1, "never sent again");
}

#[test]
fn smtp_that_cannot_connect_with_a_proxy_configured_says_smtp_does_not_use_the_proxy() {
    let s = standin();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::new(config(
        &s,
        Via::Smtps,
        json!({"proxy": "http://127.0.0.1:9", "endpoints": {
            "authorization": s.info().authorization_endpoint, "token": s.info().token_endpoint,
            "smtp": format!("smtps://127.0.0.1:{closed}")}}),
    ))
    .unwrap();
    let e = c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::Network, "{e:?}");
    assert!(e.message.contains("SMTP connects directly"), "{}", e.message);
}
