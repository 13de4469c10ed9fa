//! SMTP round trips (issue 17), counted by the stand-in (its per-session flight records): a warm
//! send is one pipelined flight (RSET + MAIL + every RCPT + DATA, RFC 2920) plus the data when
//! the server offers PIPELINING; all or nothing still holds inside a flight; a dead kept
//! connection is replaced before the data; a server without PIPELINING gets one command at a
//! time; parallel sends each get a connection of their own. Behaviour, not timing.

mod send_common;

use std::sync::{Arc, Barrier};

use oauthmail::{hint, Status};
use send_common::*;
use serde_json::json;

/// Every session's flights, in the order the sessions started.
fn flights(s: &oauthmail_standin::Standin) -> Vec<Vec<Vec<String>>> {
    s.smtp_sessions()
        .iter()
        .map(|r| serde_json::from_value(r["recent_flights"].clone()).unwrap())
        .collect()
}

fn f(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter().map(|c| c.iter().map(|s| s.to_string()).collect()).collect()
}

fn two_recipients() -> oauthmail::message::MessageDocument {
    message(json!({"from": USER, "to": ["ion@example.ro"], "cc": ["ana@example.ro"], "text": "x"}))
}

#[test]
fn a_warm_send_is_one_pipelined_flight_plus_the_data() {
    for via in [Via::Smtps, Via::StartTls] {
        let s = standin();
        let c = client(&s, via);
        let t = token(&s, MAIL_SCOPE);
        for _ in 0..3 {
            c.send(&t, &two_recipients()).unwrap();
        }
        let mut want: Vec<&[&str]> = match via {
            Via::StartTls => vec![&["EHLO"], &["STARTTLS"], &["EHLO"]],
            _ => vec![&["EHLO"]],
        };
        // The first send on a new connection needs no RSET, and its AUTH (with the initial
        // response) rides in the envelope's flight (RFC 4954 §4); the kept connection's probe
        // rides in the flight of the next ones.
        want.extend([&["AUTH", "MAIL", "RCPT", "RCPT", "DATA"][..], &["<data>"]]);
        for _ in 0..2 {
            want.extend([&["RSET", "MAIL", "RCPT", "RCPT", "DATA"][..], &["<data>"]]);
        }
        assert_eq!(flights(&s), vec![f(&want)], "{via:?}");
        assert_eq!(s.messages().len(), 3);
        for m in s.messages() {
            assert_eq!(envelope_to(&m), ["ion@example.ro", "ana@example.ro"]);
        }
    }
}

#[test]
fn a_refused_rcpt_in_a_pipelined_flight_delivers_nothing() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    c.send(&t, &simple()).unwrap();
    // The second of three recipients does not exist; the others are accepted, so the server
    // answers DATA with 354 and waits for data that never comes.
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "rcpt", "kind": "reply", "code": 550, "address": "nobody@example.ro"}),
    );
    let doc = message(json!({"from": USER, "to": ["ion@example.ro", "nobody@example.ro"],
                             "bcc": ["ana@example.ro"], "text": "x"}));
    let e = c.send(&t, &doc).unwrap_err();
    assert_eq!(e.status, Status::Rejected, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("message.to[1]"));
    assert_eq!(e.hint, hint::RECIPIENT_REFUSED.text);
    assert!(e.provider.clone().unwrap().smtp_reply.unwrap().starts_with("550 5.1.1"));
    assert_eq!(s.messages().len(), 1);
    assert_eq!(counter(&s, "smtp_messages"), 1);
    // A new connection: the old one was abandoned inside DATA, without the final dot.
    c.send(&t, &simple()).unwrap();
    assert_eq!(s.messages().len(), 2);
    let sessions = flights(&s);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(
        sessions[0].last().unwrap(),
        &["RSET", "MAIL", "RCPT", "RCPT", "RCPT", "DATA"]
    );
    assert_eq!(sessions[1].last().unwrap(), &["<data>"]);
}

#[test]
fn a_pipelined_flight_whose_only_recipient_is_refused_keeps_the_connection() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "rcpt", "kind": "reply", "code": 550, "address": "nobody@example.ro"}),
    );
    let e = c
        .send(
            &t,
            &message(json!({"from": USER, "to": ["nobody@example.ro"], "text": "x"})),
        )
        .unwrap_err();
    assert_eq!(e.status, Status::Rejected);
    assert_eq!(e.field.as_deref(), Some("message.to[0]"));
    // DATA was refused (503: no valid recipient), so the connection is still in step: reused.
    c.send(&t, &simple()).unwrap();
    assert_eq!(counter(&s, "smtp_connections"), 1);
    assert_eq!(s.messages().len(), 1);
    let flights = &flights(&s)[0];
    assert_eq!(flights[1], ["AUTH", "MAIL", "RCPT", "DATA"]);
    assert_eq!(flights[flights.len() - 2], ["RSET", "MAIL", "RCPT", "DATA"]);
}

#[test]
fn a_dead_kept_connection_is_replaced_before_the_data() {
    for kind in [json!({"kind": "drop"}), json!({"kind": "reply", "code": 421})] {
        let s = standin();
        let c = client(&s, Via::Smtps);
        let t = token(&s, MAIL_SCOPE);
        c.send(&t, &simple()).unwrap();
        // The kept connection dies when its pipelined RSET arrives.
        let mut fault_doc = json!({"endpoint": "smtp", "stage": "rset"});
        fault_doc
            .as_object_mut()
            .unwrap()
            .extend(kind.as_object().unwrap().clone());
        fault(&s, fault_doc);
        c.send(&t, &two_recipients()).unwrap();
        assert_eq!(s.messages().len(), 2, "{kind}");
        assert_eq!(counter(&s, "smtp_connections"), 2);
        let sessions = flights(&s);
        // The old connection died at its RSET and never saw the data; the new one carried the
        // message.
        assert_eq!(sessions[0].last().unwrap(), &["RSET"], "{kind}");
        assert_eq!(
            sessions[1],
            f(&[&["EHLO"], &["AUTH", "MAIL", "RCPT", "RCPT", "DATA"], &["<data>"]]),
            "{kind}"
        );
    }
}

#[test]
fn a_server_without_pipelining_gets_one_command_per_flight_and_still_works() {
    let s = standin();
    s.set_settings(&json!({"smtp_pipelining": false})).unwrap();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    c.send(&t, &two_recipients()).unwrap();
    c.send(&t, &simple()).unwrap();
    assert_eq!(
        flights(&s),
        vec![f(&[
            &["EHLO"],
            &["AUTH"],
            &["MAIL"],
            &["RCPT"],
            &["RCPT"],
            &["DATA"],
            &["<data>"],
            &["RSET"],
            &["MAIL"],
            &["RCPT"],
            &["DATA"],
            &["<data>"]
        ])]
    );
    assert_eq!(s.messages().len(), 2);
    // All or nothing without pipelining too.
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "rcpt", "kind": "reply", "code": 550, "address": "nobody@example.ro"}),
    );
    let e = c
        .send(
            &t,
            &message(json!({"from": USER, "to": ["ion@example.ro", "nobody@example.ro"], "text": "x"})),
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("message.to[1]"));
    assert_eq!(s.messages().len(), 2);
}

#[test]
fn eight_parallel_sends_get_eight_connections_which_the_next_eight_reuse() {
    let s = standin();
    let c = Arc::new(client(&s, Via::Smtps));
    let t = Arc::new(token(&s, MAIL_SCOPE));
    // Each message waits at the server, so all eight are in flight at once.
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "data_end", "kind": "delay", "delay_ms": 1500, "count": 16}),
    );
    for _round in 0..2 {
        let gate = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (c, t, gate) = (Arc::clone(&c), Arc::clone(&t), Arc::clone(&gate));
                std::thread::spawn(move || {
                    gate.wait();
                    c.send(&*t, &simple())
                })
            })
            .collect();
        for h in threads {
            h.join().unwrap().unwrap();
        }
    }
    assert_eq!(s.messages().len(), 16);
    assert_eq!(counter(&s, "smtp_connections"), 8);
    // Every connection carried two messages: the second one pipelined with its RSET probe.
    for session in flights(&s) {
        let data = session.iter().filter(|f| f.as_slice() == ["<data>"]).count();
        assert_eq!(data, 2, "{session:?}");
        assert!(session.contains(&vec!["RSET".into(), "MAIL".into(), "RCPT".into(), "DATA".into()]));
    }
}

#[test]
fn a_second_connection_of_a_client_resumes_its_tls_session() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    c.set_logger(
        Some(Arc::new(move |_level, m: &str| {
            if m.contains("TLS") {
                sink.lock().unwrap().push(m.to_string());
            }
        })),
        oauthmail::log::Level::Debug,
    );
    let tls = |s: &oauthmail_standin::Standin| (counter(s, "tls_handshakes"), counter(s, "tls_resumed"));
    let before = tls(&s);
    c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap();
    let first = tls(&s);
    // Another access token is another pooled connection, so this send opens a new one.
    c.send(&token(&s, MAIL_SCOPE), &simple()).unwrap();
    let second = tls(&s);
    assert_eq!(counter(&s, "smtp_connections"), 2);
    // Counted by the server too: the first handshake was full, the second resumed.
    assert_eq!((first.0 - before.0, first.1 - before.1), (1, 0), "{before:?} {first:?}");
    assert_eq!((second.0 - first.0, second.1 - first.1), (1, 1), "{first:?} {second:?}");
    let tls: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("handshake") || l.contains("resumed"))
        .cloned()
        .collect();
    assert_eq!(tls, ["SMTP: full TLS handshake", "SMTP: TLS session resumed"]);
}

/// The TLS session cache is the client's, shared by all its connections: after the refresh (a
/// full handshake with the token endpoint over HTTPS) the SMTP connection to the same host
/// resumes that session. Another client has its own cache and starts with a full handshake.
/// Counted by the stand-in.
#[test]
fn the_smtp_connection_resumes_the_session_of_the_token_endpoint_of_the_same_client() {
    let s = standin();
    let tls = |s: &oauthmail_standin::Standin| (counter(s, "tls_handshakes"), counter(s, "tls_resumed"));
    let c = client(&s, Via::Smtps);
    let t = expired(token(&s, MAIL_SCOPE), &s);
    let before = tls(&s);
    c.send(&t, &simple()).unwrap();
    let after = tls(&s);
    assert_eq!(refreshes(&s), 1);
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 1), "{before:?} {after:?}");
    // A new client has its own (empty) cache: a full handshake again.
    let other = client(&s, Via::Smtps);
    other.send(&token(&s, MAIL_SCOPE), &simple()).unwrap();
    let last = tls(&s);
    assert_eq!((last.0 - after.0, last.1 - after.1), (1, 0), "{after:?} {last:?}");
}

/// The AUTH pipelined with the envelope on a new connection, with a token the server rejects:
/// Gmail's `334 <error JSON>`, then the `MAIL FROM` line is taken as the SASL answer (535), the
/// `RCPT`s and `DATA` are refused for want of authentication, no data goes out and the connection
/// is dropped. The one refresh and retry then sends on a new connection, pipelined again, and the
/// message arrives once. When the fresh token is rejected too, nothing is delivered at all.
#[test]
fn a_rejected_token_in_a_pipelined_auth_delivers_nothing_and_is_refreshed_once() {
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    // The server forgets the token, the client's clock still says it is valid.
    control(
        &s,
        "POST",
        "/tokens/expire",
        Some(json!({"token": t.access_token.as_ref().unwrap().expose()})),
    );
    let sent = c.send(&t, &two_recipients()).expect("sent after one refresh");
    assert!(sent.token.is_some(), "the send refreshed");
    assert_eq!(refreshes(&s), 1);
    assert_eq!(counter(&s, "smtp_auth_failed"), 1);
    assert_eq!(counter(&s, "smtp_connections"), 2);
    assert_eq!(s.messages().len(), 1);
    let sessions = flights(&s);
    // The server took the MAIL line as the SASL answer (`<sasl>`); whether it got to the rest of
    // the flight before the connection was dropped depends on timing. No data, in any case.
    assert_eq!(sessions[0].len(), 2, "{sessions:?}");
    assert_eq!(sessions[0][1][..2], ["AUTH", "<sasl>"], "{sessions:?}");
    assert!(!sessions[0].iter().flatten().any(|c| c == "<data>"), "{sessions:?}");
    assert_eq!(
        sessions[1],
        f(&[&["EHLO"], &["AUTH", "MAIL", "RCPT", "RCPT", "DATA"], &["<data>"]])
    );

    // Every token rejected (the user revoked the app and the token endpoint still hands out
    // tokens the SMTP server refuses is not Google's behaviour; a 535 fault on AUTH stands in):
    // an AUTH_FAILED error, nothing delivered, no data in any session.
    let s = standin();
    let c = client(&s, Via::Smtps);
    let t = token(&s, MAIL_SCOPE);
    fault(
        &s,
        json!({"endpoint": "smtp", "stage": "auth", "kind": "reply", "code": 535, "count": 5}),
    );
    let e = c.send(&t, &two_recipients()).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed, "{e:?}");
    assert_eq!(s.messages().len(), 0);
    assert_eq!(counter(&s, "smtp_messages"), 0);
    for session in flights(&s) {
        assert!(
            !session.iter().any(|fl| fl.iter().any(|c| c == "<data>")),
            "{session:?}"
        );
    }
}
