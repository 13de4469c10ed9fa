//! Sending through the Gmail API, against the in-process Google stand-in.

mod send_common;

use std::sync::Arc;

use oauthmail::{hint, Status};
use send_common::*;
use serde_json::json;

#[test]
fn api_send_with_attachment_and_diacritics_arrives_intact_with_bcc_for_the_api_only() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let dir = temp_dir("api-invoice");
    let (doc, pdf) = invoice(&dir);
    let t = token(&s, SEND_SCOPE);

    let r = c.send(&t, &doc).expect("sent");
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(r.transport, oauthmail::provider::TransportKind::GmailApi);
    assert!(r.token.is_none(), "no refresh happened, so no token in the result");
    let (side, eml) = only_message(&s);
    assert_eq!(side["transport"], "gmail_api");
    assert_eq!(side["gmail_api"]["upload_type"], "media");
    assert_eq!(r.provider_id.as_deref(), side["id"].as_str());
    assert_eq!(header(&eml, "Message-ID").as_deref(), Some(r.message_id.as_str()));
    assert_invoice_subject_and_from(&eml);
    // The API learns Bcc recipients only from the header (providers.md §3.5).
    assert_eq!(
        decode_2047(&header(&eml, "Bcc").unwrap()),
        "Șef Ascuns <sef@example.ro>"
    );
    assert_eq!(
        envelope_to(&side),
        ["ion@example.ro", "contabil@example.ro", "sef@example.ro"]
    );
    assert_eq!(part_body(&eml, "Content-Disposition: attachment"), pdf);
    assert!(String::from_utf8_lossy(&eml).contains("filename*0*=utf-8''Factur%C4%83%20123%20"));
    assert_eq!(refreshes(&s), 0);
}

#[test]
fn api_raw_message_arrives_byte_for_byte_with_a_message_id_added() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let raw = format!(
        "From: {USER}\r\nTo: ion@example.ro\r\nSubject: =?utf-8?b?yJhpIMiaYXLEgw==?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nȘi Țară ăâî\r\n"
    );
    let r = c
        .send(
            &token(&s, SEND_SCOPE),
            &message(json!({"raw_base64": b64(raw.as_bytes())})),
        )
        .unwrap();
    let (_, eml) = only_message(&s);
    let head_end = raw.find("\r\n\r\n").unwrap() + 2;
    let expected = format!(
        "{}Message-ID: {}\r\n{}",
        &raw[..head_end],
        r.message_id,
        &raw[head_end..]
    );
    assert_eq!(String::from_utf8(eml).unwrap(), expected);
}

#[test]
fn api_expired_token_is_refreshed_once_first_and_the_new_token_returned() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let old = expired(token(&s, SEND_SCOPE), &s);
    let doc = simple();

    let r = c.send(&old, &doc).unwrap();
    let new = r.token.expect("the refreshed token is returned");
    assert_ne!(new.access_token, old.access_token);
    assert_eq!(new.refresh_token, old.refresh_token, "Google keeps the refresh token");
    assert!(new.expires_at.unwrap() > now() + 3000);
    assert_eq!(refreshes(&s), 1);
    assert_eq!(counter(&s, "gmail_send"), 1, "no attempt with the expired token");

    // With the new token: no refresh, no token in the result.
    let r = c.send(&new, &doc).unwrap();
    assert!(r.token.is_none());
    assert_eq!(refreshes(&s), 1);
}

#[test]
fn api_401_refreshes_once_and_retries_once() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let mut t = expired(token(&s, SEND_SCOPE), &s);
    t.expires_at = Some(now() + 1800); // the host believes it is still valid
    let r = c.send(&t, &simple()).unwrap();
    assert!(r.token.is_some());
    assert_eq!(refreshes(&s), 1);
    assert_eq!(counter(&s, "gmail_send"), 2);
    assert_eq!(s.messages().len(), 1);
}

#[test]
fn api_401_again_after_the_refresh_is_auth_failed() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    // Three 401s in store: exactly two are used (the attempt and the one retry).
    fault(
        &s,
        json!({"endpoint": "gmail_send", "kind": "status", "status": 401, "count": 3}),
    );
    let e = c.send(&token(&s, SEND_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    assert_eq!(e.provider.as_ref().unwrap().http_status, Some(401));
    assert_eq!(refreshes(&s), 1, "exactly one refresh");
    let pending = control(&s, "GET", "/faults", None);
    assert_eq!(pending["faults"][0]["count"], 1, "exactly one retry: {pending}");
    assert!(s.messages().is_empty());
}

#[test]
fn api_invalid_grant_during_send_is_reauthorize() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let mut t = token(&s, SEND_SCOPE);
    control(
        &s,
        "POST",
        "/tokens/expire",
        Some(json!({"email": USER, "which": "both"})),
    );
    t.expires_at = Some(now() - 1);
    let e = c.send(&t, &simple()).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize, "{e:?}");
    assert_eq!(e.provider.as_ref().unwrap().error.as_deref(), Some("invalid_grant"));
    assert_eq!(counter(&s, "gmail_send"), 0);
}

#[test]
fn api_rate_limit_429_is_rate_limited_with_retry_after_and_nothing_sent() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    fault(
        &s,
        json!({"endpoint": "gmail_send", "kind": "rate_limit", "retry_after_s": 42}),
    );
    let e = c.send(&token(&s, SEND_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::RateLimited);
    assert_eq!(e.retry_after_s, Some(42));
    assert_eq!(e.provider.as_ref().unwrap().http_status, Some(429));
    assert!(s.messages().is_empty());
}

#[test]
fn api_disabled_in_the_cloud_project_is_auth_failed_with_the_enable_hint() {
    let s = standin();
    s.set_settings(&json!({"gmail_api_enabled": false})).unwrap();
    let c = client(&s, Via::GmailApi);
    let e = c.send(&token(&s, SEND_SCOPE), &simple()).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::GMAIL_API_DISABLED.text);
    assert_eq!(
        e.provider.as_ref().unwrap().error.as_deref(),
        Some("accessNotConfigured")
    );
    assert_eq!(refreshes(&s), 0, "a 403 is not a rejected token");
}

#[test]
fn api_token_without_a_send_scope_is_insufficient_scope() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let doc = simple();
    // Known scope: refused before any request.
    let t = token(&s, "openid email");
    let e = c.send(&t, &doc).unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (Status::InsufficientScope, Some("token.scope"))
    );
    assert_eq!(e.hint, hint::INSUFFICIENT_SCOPE_API.text);
    assert_eq!(counter(&s, "gmail_send"), 0);
    // Unknown scope: Google's 403 insufficientPermissions says it.
    let mut t = t;
    t.scope = String::new();
    let e = c.send(&t, &doc).unwrap_err();
    assert_eq!(e.status, Status::InsufficientScope);
    assert_eq!(
        e.provider.as_ref().unwrap().error.as_deref(),
        Some("insufficientPermissions")
    );
}

#[test]
fn api_bad_input_is_refused_before_any_network_io_even_with_an_expired_token() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let t = expired(token(&s, SEND_SCOPE), &s);
    let e = c
        .send(
            &t,
            &message(json!({"from": USER, "to": ["ion@example.ro"], "attachments": [{"path": "/nonexistent/f.pdf"}]})),
        )
        .unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (Status::Io, Some("message.attachments[0].path"))
    );
    let e = c
        .send(
            &t,
            &message(json!({"from": USER, "to": ["a@x.ro", "b@x.ro\r\nBcc: c@x.ro"]})),
        )
        .unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (Status::InvalidArgument, Some("message.to[1]"))
    );
    assert_eq!(refreshes(&s), 0);
    assert_eq!(counter(&s, "gmail_send"), 0);
}

#[test]
fn api_upload_endpoint_takes_a_20_mb_attachment() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    let big: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let doc = message(json!({
        "from": USER, "to": ["ion@example.ro"], "text": "mare",
        "attachments": [{"filename": "arhivă.bin", "content_base64": b64(&big)}]
    }));
    let r = c.send(&token(&s, SEND_SCOPE), &doc).unwrap();
    let (side, eml) = only_message(&s);
    assert_eq!(r.provider_id.as_deref(), side["id"].as_str());
    assert!(eml.len() > 27_000_000, "{}", eml.len());
    assert_eq!(side["size"].as_u64(), Some(eml.len() as u64));
    assert_eq!(part_body(&eml, "Content-Disposition: attachment"), big);
}

#[test]
fn api_parallel_sends_with_an_expired_token_refresh_exactly_once() {
    const THREADS: usize = 8;
    const SENDS: usize = 3;
    let s = standin();
    let c = Arc::new(client(&s, Via::GmailApi));
    let t = Arc::new(expired(token(&s, SEND_SCOPE), &s));
    for r in parallel_sends(&c, &t, THREADS, SENDS) {
        assert!(
            r.expect("every send succeeds"),
            "every send used (and returned) the refreshed token"
        );
    }
    assert_eq!(refreshes(&s), 1, "one refresh for all threads");
    assert_eq!(s.messages().len(), THREADS * SENDS);
    assert_eq!(
        counter(&s, "gmail_send"),
        (THREADS * SENDS) as i64,
        "no send with the expired token"
    );
}

#[test]
fn cancel_during_the_refresh_before_a_send_returns_cancelled_promptly_and_sends_nothing() {
    let s = standin();
    let c = Arc::new(client(&s, Via::GmailApi));
    let t = expired(token(&s, SEND_SCOPE), &s);
    fault(&s, json!({"endpoint": "token", "kind": "delay", "delay_ms": 3000}));
    simple_send_cancelled_after_300_ms(&c, &t, 2000);
    assert_eq!(counter(&s, "gmail_send"), 0);
    // Later calls are unaffected.
    c.send(&t, &simple()).unwrap();
}

#[test]
fn no_token_appears_in_log_lines_or_error_documents_of_sends() {
    let s = standin();
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut secrets = Vec::new();
    let mut errors = Vec::new();
    for via in [Via::GmailApi, Via::Smtps] {
        let c = client(&s, via);
        let sink = Arc::clone(&lines);
        c.set_logger(
            Some(Arc::new(move |_, m: &str| sink.lock().unwrap().push(m.to_string()))),
            oauthmail::log::Level::Trace,
        );
        let scope = if via == Via::GmailApi { SEND_SCOPE } else { MAIL_SCOPE };
        let t = token(&s, scope);
        secrets.push(t.access_token.clone().unwrap().expose().to_string());
        secrets.push(t.refresh_token.clone().unwrap().expose().to_string());
        let doc = simple();
        // Success, a rejected token that is refreshed, and a final failure.
        c.send(&t, &doc).unwrap();
        let mut stale = expired(token(&s, scope), &s);
        secrets.push(stale.access_token.clone().unwrap().expose().to_string());
        stale.expires_at = Some(now() + 1800);
        let r = c.send(&stale, &doc).unwrap();
        secrets.push(r.token.expect("refreshed").access_token.unwrap().expose().to_string());
        if via == Via::GmailApi {
            fault(
                &s,
                json!({"endpoint": "gmail_send", "kind": "status", "status": 401, "count": 2}),
            );
        } else {
            fault(
                &s,
                json!({"endpoint": "smtp", "stage": "auth", "kind": "reply", "code": 535, "count": 2}),
            );
        }
        let mut stale = expired(token(&s, scope), &s);
        secrets.push(stale.access_token.clone().unwrap().expose().to_string());
        stale.expires_at = Some(now() + 1800);
        errors.push(c.send(&stale, &doc).unwrap_err().to_document().to_string());
    }
    let lines = lines.lock().unwrap();
    assert!(lines.len() > 5, "the sends logged something: {lines:?}");
    for secret in &secrets {
        for l in lines.iter().chain(errors.iter()) {
            assert!(!l.contains(secret.as_str()), "a token leaked into: {l}");
        }
    }
}

#[test]
fn api_cancel_while_gmail_is_silent_is_cancelled_at_once_and_says_it_may_have_been_accepted() {
    let s = standin();
    let c = Arc::new(client(&s, Via::GmailApi));
    let t = token(&s, SEND_SCOPE);
    fault(&s, json!({"endpoint": "gmail_send", "kind": "hang"}));
    let e = simple_send_cancelled_after_300_ms(&c, &t, 1000);
    assert!(e.message.contains("may have accepted the message"), "{}", e.message);
}

#[test]
fn api_connection_lost_after_the_upload_is_reported_and_never_resent() {
    let s = standin();
    let c = client(&s, Via::GmailApi);
    fault(&s, json!({"endpoint": "gmail_send", "kind": "drop"}));
    let e = c.send(&token(&s, SEND_SCOPE), &simple()).unwrap_err();
    assert!(matches!(e.status, Status::Network | Status::Provider), "{e:?}");
    assert!(e.message.contains("not sent again"), "{}", e.message);
    assert_eq!(s.messages().len(), 1, "stored once, never sent again");
}
