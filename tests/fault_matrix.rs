//! The fault matrix: how a send fails when the provider or the network does, as a table.
//!
//! Each row is one fault the stand-in injects (tests/standin/README.md, "Faults") into one send,
//! and what the library promises for it (README "Sending exactly once", API.md "Behaviour the
//! contract pins down", docs/reliability.md):
//! - the **status** (and its name in the error document);
//! - the call **returns within** the configured limit that applies, plus a small margin
//!   (`connect_s` bounds connect, TLS, the SMTP greeting, EHLO and STARTTLS; `io_s` each read and
//!   write after that; the token endpoint's two retries add their 250 ms + 1 s back-off);
//! - whether the error **says the mail may have been delivered**: exactly when the provider may
//!   already hold the whole message and no answer came back;
//! - the **mailbox** afterwards: never 2 (nothing is sent twice), and 0 wherever the library did
//!   not say "may have been delivered";
//! - where it matters, the number of **token-endpoint calls** (retries are bounded);
//! - and for every row: the error document's `status` and `code` agree with the status, and the
//!   message carries no TLS-library internals (a docs.rs link).
//!
//! Every row runs against its own client; rows run in parallel on a few stand-ins (faults are
//! per stand-in) and the test lists every row that broke its promise.

mod send_common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use oauthmail::{Client, Status};
use send_common::*;
use serde_json::{json, Value};

/// The limits every row runs with: small, so the whole matrix takes seconds.
const CONNECT_S: u64 = 1;
const IO_S: u64 = 2;
/// What "returned within the limit" allows beyond it: thread start-up, loopback TLS, a loaded
/// two-core CI machine.
const MARGIN: Duration = Duration::from_millis(1500);
/// The token endpoint's retry back-off (src/token.rs: 250 ms, then 1 s).
const TOKEN_BACKOFF: Duration = Duration::from_millis(1250);
/// Delays "beyond the limit" outlast it by this much.
const BEYOND: u64 = 1500;

/// Where the fault is injected.
#[derive(Clone, Copy, Debug)]
enum At {
    /// The token endpoint, reached by a send whose access token has expired (refresh first).
    TokenEndpoint,
    /// The Gmail API upload, with a fresh token.
    GmailSend,
    /// One SMTP stage (STARTTLS port, fresh token).
    Smtp(&'static str),
}

/// What goes wrong.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// HTTP status with Google's body, on `count` requests in a row.
    Http(u16, u32),
    /// HTTP 429 with `Retry-After: 7`.
    RateLimit,
    /// SMTP reply with this code (and, optionally, this text) instead of the normal one.
    Reply(u16, Option<&'static str>),
    /// The answer comes this many milliseconds late (`Beyond`: the applicable limit + 1.5 s).
    Delay(u64),
    DelayBeyond,
    /// HTTP: the request is processed, half the answer sent, the connection closed.
    /// SMTP: the connection is closed instead of the reply.
    Drop,
    /// No answer at all.
    Hang,
    /// Nothing listens on the endpoint's port.
    Refused,
}

/// Which limit bounds the call.
#[derive(Clone, Copy, Debug)]
enum Within {
    /// An answer comes at once: the margin alone.
    Prompt,
    /// The token endpoint's two retries.
    Backoff,
    ConnectS,
    IoS,
}

/// The mailbox after the call (and after any late action of the stand-in).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mailbox {
    Empty,
    One,
}

struct Row {
    at: At,
    fault: Fault,
    status: Status,
    name: &'static str,
    within: Within,
    /// The error says the mail may have been delivered.
    maybe_delivered: bool,
    mailbox: Mailbox,
    /// Token-endpoint calls (refresh_token grants) during the call, where the row pins them.
    token_calls: Option<i64>,
}

use At::*;
use Fault::*;
use Mailbox::*;
use Within::*;

const fn row(
    at: At,
    fault: Fault,
    status: Status,
    name: &'static str,
    within: Within,
    maybe: bool,
    mailbox: Mailbox,
) -> Row {
    Row {
        at,
        fault,
        status,
        name,
        within,
        maybe_delivered: maybe,
        mailbox,
        token_calls: None,
    }
}

const fn calls(mut r: Row, n: i64) -> Row {
    r.token_calls = Some(n);
    r
}

const MAYBE: bool = true;
const NO: bool = false;

/// The HTTP endpoints. A token-endpoint failure stops the send before anything is uploaded.
#[rustfmt::skip]
const HTTP_ROWS: &[Row] = &[
    // where          fault              status                 name            within    "may have been delivered"  mailbox
    calls(row(TokenEndpoint, Http(500, 1),   Status::Ok,          "ok",           Backoff,  NO,    One),   2),
    calls(row(TokenEndpoint, Http(500, 9),   Status::Provider,    "provider",     Backoff,  NO,    Empty), 3),
    calls(row(TokenEndpoint, Http(503, 9),   Status::Provider,    "provider",     Backoff,  NO,    Empty), 3),
    calls(row(TokenEndpoint, RateLimit,        Status::RateLimited, "rate_limited", Prompt,   NO,    Empty), 1),
    calls(row(TokenEndpoint, Delay(500),       Status::Ok,          "ok",           Prompt,   NO,    One),   1),
    calls(row(TokenEndpoint, DelayBeyond,      Status::Timeout,     "timeout",      IoS,      NO,    Empty), 1),
    calls(row(TokenEndpoint, Drop,             Status::Network,     "network",      Prompt,   NO,    Empty), 1),
    // (The stand-in counts a token request when it answers it, so a hung one is not counted.)
    row(TokenEndpoint,       Hang,             Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    calls(row(TokenEndpoint, Refused,          Status::Network,     "network",      Prompt,   NO,    Empty), 0),
    calls(row(GmailSend,     Http(500, 1),   Status::Provider,    "provider",     Prompt,   NO,    Empty), 0),
    calls(row(GmailSend,     Http(503, 1),   Status::Provider,    "provider",     Prompt,   NO,    Empty), 0),
    calls(row(GmailSend,     RateLimit,        Status::RateLimited, "rate_limited", Prompt,   NO,    Empty), 0),
    calls(row(GmailSend,     Delay(500),       Status::Ok,          "ok",           Prompt,   NO,    One),   0),
    calls(row(GmailSend,     DelayBeyond,      Status::Timeout,     "timeout",      IoS,      MAYBE, One),   0),
    calls(row(GmailSend,     Drop,             Status::Network,     "network",      Prompt,   MAYBE, One),   0),
    calls(row(GmailSend,     Hang,             Status::Timeout,     "timeout",      IoS,      MAYBE, Empty), 0),
    calls(row(GmailSend,     Refused,          Status::Network,     "network",      Prompt,   NO,    Empty), 0),
];

/// Gmail SMTP, stage by stage. A refusal is the server's answer: nothing was delivered. Only
/// after the final "." has gone out, with no answer, may the mail have been delivered.
#[rustfmt::skip]
const SMTP_ROWS: &[Row] = &[
    row(Smtp("connect"),  Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("connect"),  Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("connect"),  Reply(554, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("connect"),  Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("connect"),  Hang,             Status::Timeout,     "timeout",      ConnectS, NO,    Empty),
    row(Smtp("connect"),  DelayBeyond,      Status::Timeout,     "timeout",      ConnectS, NO,    Empty),
    row(Smtp("connect"),  Refused,          Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("ehlo"),     Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("ehlo"),     Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("ehlo"),     Reply(554, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("ehlo"),     Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("ehlo"),     Hang,             Status::Timeout,     "timeout",      ConnectS, NO,    Empty),
    row(Smtp("ehlo"),     DelayBeyond,      Status::Timeout,     "timeout",      ConnectS, NO,    Empty),
    row(Smtp("starttls"), Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("starttls"), Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("starttls"), Reply(554, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    // A server that cannot start TLS now is not a sending limit (issue 11, item 5).
    row(Smtp("starttls"), Reply(454, Some("4.7.0 TLS not available due to temporary reason")),
                                            Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("starttls"), Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("starttls"), Hang,             Status::Timeout,     "timeout",      ConnectS, NO,    Empty),
    row(Smtp("starttls"), DelayBeyond,      Status::Timeout,     "timeout",      ConnectS, NO,    Empty),
    row(Smtp("auth"),     Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("auth"),     Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("auth"),     Reply(554, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("auth"),     Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("auth"),     Hang,             Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("auth"),     DelayBeyond,      Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("mail"),     Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("mail"),     Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("mail"),     Reply(554, None), Status::Rejected,    "rejected",     Prompt,   NO,    Empty),
    row(Smtp("mail"),     Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("mail"),     Hang,             Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("mail"),     DelayBeyond,      Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("rcpt"),     Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("rcpt"),     Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("rcpt"),     Reply(554, None), Status::Rejected,    "rejected",     Prompt,   NO,    Empty),
    row(Smtp("rcpt"),     Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("rcpt"),     Hang,             Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("rcpt"),     DelayBeyond,      Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("data"),     Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("data"),     Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("data"),     Reply(554, None), Status::Rejected,    "rejected",     Prompt,   NO,    Empty),
    row(Smtp("data"),     Drop,             Status::Network,     "network",      Prompt,   NO,    Empty),
    row(Smtp("data"),     Hang,             Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("data"),     DelayBeyond,      Status::Timeout,     "timeout",      IoS,      NO,    Empty),
    row(Smtp("data_end"), Reply(421, None), Status::RateLimited, "rate_limited", Prompt,   NO,    Empty),
    row(Smtp("data_end"), Reply(451, None), Status::Provider,    "provider",     Prompt,   NO,    Empty),
    row(Smtp("data_end"), Reply(554, None), Status::Rejected,    "rejected",     Prompt,   NO,    Empty),
    row(Smtp("data_end"), Drop,             Status::Network,     "network",      Prompt,   MAYBE, Empty),
    row(Smtp("data_end"), Hang,             Status::Timeout,     "timeout",      IoS,      MAYBE, Empty),
    // The server stores the message after its late "250": the one case where the mail arrives
    // although the call failed, and the error said it might.
    row(Smtp("data_end"), DelayBeyond,      Status::Timeout,     "timeout",      IoS,      MAYBE, One),
    row(Smtp("data_end"), Delay(500),       Status::Ok,          "ok",           Prompt,   NO,    One),
];

#[test]
fn every_http_fault_returns_its_status_within_the_limits_and_never_delivers_twice() {
    run_matrix("HTTP", HTTP_ROWS);
}

#[test]
fn every_smtp_fault_returns_its_status_within_the_limits_and_never_delivers_twice() {
    run_matrix("SMTP", SMTP_ROWS);
}

/// Stand-ins that run rows in parallel: the rows mostly wait for a limit to run out.
const SHARDS: usize = 4;

fn run_matrix(what: &str, rows: &'static [Row]) {
    let started = Instant::now();
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for shard in 0..SHARDS {
            let results = &results;
            scope.spawn(move || {
                let s = standin();
                for (i, r) in rows.iter().enumerate().filter(|(i, _)| i % SHARDS == shard) {
                    s.reset();
                    let outcome = run_row(&s, r);
                    results.lock().unwrap().push((i, describe(r), outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _, _)| *i);
    let mut failed = Vec::new();
    for (_, row, outcome) in &results {
        match outcome {
            Ok(got) => println!("ok    {row:<48} {got}"),
            Err(why) => {
                println!("FAIL  {row:<48} {why}");
                failed.push(format!("{row}: {why}"));
            }
        }
    }
    println!("{what} fault matrix: {} rows in {:?}", results.len(), started.elapsed());
    assert!(
        failed.is_empty(),
        "{} of {} {what} rows broke their promise:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

fn describe(r: &Row) -> String {
    let at = match r.at {
        TokenEndpoint => "token endpoint (refresh)".to_string(),
        GmailSend => "Gmail API send".to_string(),
        Smtp(stage) => format!("SMTP {stage}"),
    };
    let fault = match r.fault {
        Http(code, 1) => format!("HTTP {code} once"),
        Http(code, _) => format!("HTTP {code} every time"),
        RateLimit => "HTTP 429 + Retry-After: 7".into(),
        Reply(code, _) => format!("reply {code}"),
        Delay(ms) => format!("delay {ms} ms"),
        DelayBeyond => "delay beyond the limit".into(),
        Drop => "drop".into(),
        Hang => "hang".into(),
        Refused => "connection refused".into(),
    };
    format!("{at} × {fault} -> {}", r.name)
}

/// The limit that applies to a row, in seconds.
fn limit_ms(r: &Row) -> u64 {
    match r.within {
        ConnectS => CONNECT_S * 1000,
        _ => IO_S * 1000,
    }
}

fn inject(s: &oauthmail_standin::Standin, r: &Row) {
    let endpoint = match r.at {
        TokenEndpoint => "token",
        GmailSend => "gmail_send",
        Smtp(_) => "smtp",
    };
    let mut f = match r.fault {
        Http(code, count) => json!({"kind": "status", "status": code, "count": count}),
        RateLimit => json!({"kind": "rate_limit", "retry_after_s": 7}),
        Reply(code, text) => match text {
            Some(t) => json!({"kind": "reply", "code": code, "text": t}),
            None => json!({"kind": "reply", "code": code}),
        },
        Delay(ms) => json!({"kind": "delay", "delay_ms": ms}),
        DelayBeyond => json!({"kind": "delay", "delay_ms": limit_ms(r) + BEYOND}),
        Drop => json!({"kind": "drop"}),
        Hang => json!({"kind": "hang"}),
        Refused => return,
    };
    f["endpoint"] = json!(endpoint);
    if let Smtp(stage) = r.at {
        f["stage"] = json!(stage);
    }
    fault(s, f);
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn row_client(s: &oauthmail_standin::Standin, r: &Row) -> Client {
    let via = match r.at {
        Smtp(_) => Via::StartTls,
        _ => Via::GmailApi,
    };
    let mut extra = json!({"timeouts": {"connect_s": CONNECT_S, "io_s": IO_S}});
    if let Refused = r.fault {
        let info = s.info();
        let dead = closed_port();
        let mut endpoints = json!({
            "authorization": info.authorization_endpoint,
            "token": info.token_endpoint,
            "revocation": info.revocation_endpoint,
            "userinfo": info.userinfo_endpoint,
            "gmail_api": info.gmail_api,
            "smtp": info.smtp_starttls,
        });
        match r.at {
            TokenEndpoint => endpoints["token"] = json!(format!("https://127.0.0.1:{dead}/token")),
            GmailSend => endpoints["gmail_api"] = json!(format!("https://127.0.0.1:{dead}")),
            Smtp(_) => endpoints["smtp"] = json!(format!("smtp://127.0.0.1:{dead}")),
        }
        extra["endpoints"] = endpoints;
    }
    Client::new(config(s, via, extra)).expect("client")
}

fn says_maybe_delivered(message: &str) -> bool {
    message.contains("may have been delivered") || message.contains("may have accepted")
}

/// Runs one row; `Ok` describes what happened, `Err` which promise broke.
fn run_row(s: &oauthmail_standin::Standin, r: &Row) -> Result<String, String> {
    let scope = match r.at {
        Smtp(_) => MAIL_SCOPE,
        _ => SEND_SCOPE,
    };
    let fresh = token(s, scope);
    let doc = match r.at {
        TokenEndpoint => expired(fresh, s),
        _ => fresh,
    };
    let client = row_client(s, r);
    inject(s, r);
    let refreshes_before = refreshes(s);
    let started = Instant::now();
    let outcome = client.send(&doc, &simple());
    let took = started.elapsed();
    // Let a late stand-in finish what it does after a delay before counting the mailbox.
    if let Delay(_) | DelayBeyond = r.fault {
        let late = Duration::from_millis(limit_ms(r) + BEYOND + 500);
        std::thread::sleep(late.saturating_sub(started.elapsed()));
    }
    let token_calls = refreshes(s) - refreshes_before;
    let delivered = s.messages().len();

    let bound = MARGIN
        + match r.within {
            Prompt => Duration::ZERO,
            Backoff => TOKEN_BACKOFF,
            ConnectS => Duration::from_secs(CONNECT_S),
            IoS => Duration::from_secs(IO_S),
        };
    let (status, name, message, document) = match &outcome {
        Ok(_) => (Status::Ok, "ok".to_string(), String::new(), Value::Null),
        Err(e) => {
            let d = e.to_document()["error"].clone();
            if d["code"] != json!(e.status.code()) {
                return Err(format!("error document code {} for {:?}", d["code"], e.status));
            }
            (
                e.status,
                d["status"].as_str().unwrap_or("").to_string(),
                e.message.clone(),
                d,
            )
        }
    };
    let maybe = says_maybe_delivered(&message);
    let got = format!(
        "{name} in {} ms, mailbox {delivered}, token calls {token_calls}{}",
        took.as_millis(),
        if maybe { ", says it may have been delivered" } else { "" }
    );
    let mut broken = Vec::new();
    if status != r.status || name != r.name {
        broken.push(format!(
            "status {name} ({status:?}), want {} ({:?}): {message}",
            r.name, r.status
        ));
    }
    // An error message is for the host's log and its user: no TLS library's internals or links.
    if message.contains("docs.rs") {
        broken.push(format!("the message carries a library's documentation link: {message}"));
    }
    if took > bound {
        broken.push(format!(
            "took {} ms, more than {} ms",
            took.as_millis(),
            bound.as_millis()
        ));
    }
    if maybe != r.maybe_delivered {
        broken.push(if maybe {
            format!("says it may have been delivered, where nothing can have been: {message}")
        } else {
            format!("does not say it may have been delivered: {message}")
        });
    }
    if delivered > 1 {
        broken.push(format!("delivered {delivered} times"));
    }
    if delivered > 0 && status != Status::Ok && !maybe {
        broken.push("delivered although the error did not say it may have been".into());
    }
    let want = match r.mailbox {
        Empty => 0,
        One => 1,
    };
    if delivered != want {
        broken.push(format!("mailbox {delivered}, want {want}"));
    }
    if let Some(n) = r.token_calls {
        if token_calls != n {
            broken.push(format!("{token_calls} token-endpoint calls, want {n}"));
        }
    }
    if r.fault_is_rate_limit() && document["retry_after_s"] != json!(7) {
        broken.push(format!("retry_after_s {}, want 7", document["retry_after_s"]));
    }
    if broken.is_empty() {
        Ok(got)
    } else {
        Err(format!("{} [{got}]", broken.join("; ")))
    }
}

impl Row {
    fn fault_is_rate_limit(&self) -> bool {
        matches!(self.fault, RateLimit)
    }
}
