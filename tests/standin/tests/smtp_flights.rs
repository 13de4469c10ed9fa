//! The stand-in's SMTP session records (flights = the client's round trips as the server saw
//! them), the `smtp_pipelining` setting and the per-recipient `rcpt` fault, driven by a
//! hand-written client on real sockets (not the library), so the library's tests can trust them.

mod common;

use common::*;
use oauthmail_standin::Standin;
use serde_json::{json, Value};

fn token(s: &Standin) -> String {
    mint(s, MAIL)["access_token"].as_str().unwrap().to_string()
}

/// Past greeting, EHLO and AUTH on the implicit-TLS port.
fn authenticated(s: &Standin) -> Smtp {
    let mut c = Smtp::smtps_after_ehlo(s);
    let t = token(s);
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &t)));
    assert!(r.starts_with("235 "), "{r}");
    c
}

fn flights(v: &Value) -> Vec<Vec<String>> {
    serde_json::from_value(v["recent_flights"].clone()).unwrap()
}

fn strs(f: &[&[&str]]) -> Vec<Vec<String>> {
    f.iter().map(|c| c.iter().map(|s| s.to_string()).collect()).collect()
}

/// The only session record, once its last flight (`QUIT`) is in.
fn only_session(s: &Standin) -> Value {
    let all = s.smtp_sessions();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

#[test]
fn a_pipelined_group_is_one_flight_and_the_data_another() {
    let s = start();
    let mut c = authenticated(&s);
    // One write: RSET + MAIL + two RCPT + DATA (RFC 2920), then the replies in order.
    c.raw(b"RSET\r\nMAIL FROM:<erp.test@gmail.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    for want in [
        "250 2.1.5 Flushed",
        "250 2.1.0 OK",
        "250 2.1.5 OK",
        "250 2.1.5 OK",
        "354 ",
    ] {
        let r = c.reply();
        assert!(r.starts_with(want), "{want}: {r}");
    }
    c.raw(b"Subject: x\r\n\r\nbody\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 OK"));
    assert!(c.cmd("QUIT").starts_with("221 "));
    let rec = only_session(&s);
    assert_eq!(rec["port"], "smtps");
    assert_eq!(
        flights(&rec),
        strs(&[
            &["EHLO"],
            &["AUTH"],
            &["RSET", "MAIL", "RCPT", "RCPT", "DATA"],
            &["<data>"],
            &["QUIT"]
        ])
    );
    assert_eq!(rec["flights"], 5);
    assert_eq!(rec["commands"], 9);
    assert_eq!(s.messages().len(), 1);
    // The control plane serves the same record.
    let v = control(&s, "GET", "/smtp/sessions", Value::Null);
    assert_eq!(v["sessions"][0]["recent_flights"], rec["recent_flights"]);
}

#[test]
fn one_command_per_write_is_one_flight_per_command() {
    let s = start();
    let mut c = authenticated(&s);
    for cmd in ["MAIL FROM:<erp.test@gmail.com>", "RCPT TO:<a@example.com>", "DATA"] {
        c.cmd(cmd);
    }
    c.raw(b"Subject: x\r\n\r\nbody\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 OK"));
    assert!(c.cmd("QUIT").starts_with("221 "));
    let rec = only_session(&s);
    assert_eq!(
        flights(&rec),
        strs(&[
            &["EHLO"],
            &["AUTH"],
            &["MAIL"],
            &["RCPT"],
            &["DATA"],
            &["<data>"],
            &["QUIT"]
        ])
    );
    assert_eq!(rec["flights"], 7);
    // A second connection is a second record; reset forgets them.
    let mut d = Smtp::smtps(&s);
    d.reply();
    assert_eq!(s.smtp_sessions().len(), 2);
    s.reset();
    assert!(s.smtp_sessions().is_empty());
}

#[test]
fn smtp_pipelining_false_drops_pipelining_from_both_ehlo_lists() {
    let s = start();
    s.set_settings(&json!({"smtp_pipelining": false})).unwrap();
    assert_eq!(control(&s, "GET", "/settings", Value::Null)["smtp_pipelining"], false);
    let mut c = Smtp::plain(&s);
    c.reply();
    let before = c.cmd("EHLO x");
    assert!(
        before.contains("250-STARTTLS\r\n") && !before.contains("PIPELINING"),
        "{before}"
    );
    let mut c = Smtp::smtps(&s);
    c.reply();
    let after = c.cmd("EHLO x");
    assert!(
        after.contains("250-CHUNKING\r\n") && !after.contains("PIPELINING"),
        "{after}"
    );
    s.set_settings(&json!({"smtp_pipelining": true})).unwrap();
    assert!(c.cmd("EHLO x").contains("250-PIPELINING\r\n"));
}

#[test]
fn an_rcpt_fault_with_an_address_refuses_only_that_recipient_with_gmails_550_5_1_1() {
    let s = start();
    s.add_fault(
        &json!({"endpoint": "smtp", "stage": "rcpt", "kind": "reply", "code": 550,
                        "address": "Nobody@Example.com"}),
    )
    .unwrap();
    let mut c = authenticated(&s);
    c.cmd("MAIL FROM:<erp.test@gmail.com>");
    // Another recipient first: the fault waits for its address.
    assert!(c.cmd("RCPT TO:<a@example.com>").starts_with("250 2.1.5 OK"));
    let r = c.cmd("RCPT TO:<nobody@example.com>");
    let lines: Vec<&str> = r.split_inclusive("\r\n").collect();
    assert_eq!(lines.len(), 4, "{r}");
    assert_eq!(
        lines[0],
        "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
    );
    assert!(lines[3].starts_with("550 5.1.1  https://support.google.com/mail/?p=NoSuchUser ") && ends_gsmtp(lines[3]));
    // Used up (count 1): the same address passes now.
    assert!(c.cmd("RCPT TO:<nobody@example.com>").starts_with("250 2.1.5 OK"));
    // `address` belongs to stage rcpt only.
    assert!(s
        .add_fault(&json!({"endpoint": "smtp", "stage": "mail", "kind": "reply", "code": 550, "address": "x@y.z"}))
        .is_err());
    assert!(s
        .add_fault(&json!({"endpoint": "token", "kind": "status", "status": 503, "address": "x@y.z"}))
        .is_err());
}

#[test]
fn python_smtplib_sees_the_refused_recipient_and_the_other_one_is_delivered() {
    let s = start();
    s.add_fault(
        &json!({"endpoint": "smtp", "stage": "rcpt", "kind": "reply", "code": 550,
                        "address": "nobody@example.com"}),
    )
    .unwrap();
    let t = token(&s);
    let script = r#"
import smtplib, ssl, sys, base64, json
port, ca, user, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=10) as c:
    c.ehlo("x")
    auth = base64.b64encode(f"user={user}\x01auth=Bearer {tok}\x01\x01".encode()).decode()
    code, _ = c.docmd("AUTH", "XOAUTH2 " + auth)
    refused = c.sendmail(user, ["a@example.com", "nobody@example.com"], "Subject: x\r\n\r\nbody\r\n")
    print(json.dumps({"auth": code, "refused": {k: [v[0], v[1].decode()] for k, v in refused.items()}}))
"#;
    let out = std::process::Command::new("timeout")
        .args(["30", "python3", "-c", script])
        .arg(port_of(&s.info().smtps).to_string())
        .arg(&s.info().ca_file)
        .arg(USER)
        .arg(&t)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["auth"], 235);
    assert_eq!(v["refused"]["nobody@example.com"][0], 550);
    assert!(v["refused"]["nobody@example.com"][1]
        .as_str()
        .unwrap()
        .starts_with("5.1.1 The email account"));
    let m = s.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["envelope"]["to"], json!(["a@example.com"]));
}
