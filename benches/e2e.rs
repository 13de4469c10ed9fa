//! End to end against the Google stand-in, in-process on loopback (HTTPS and SMTP over TLS with
//! the stand-in's CA): sends per second and latency percentiles for the Gmail API and SMTP
//! (implicit TLS), sequentially on one client and from 4 threads on one client; refresh
//! latency; one headless authorize round trip; a send through the C API.
//!
//! The stand-in runs in the same process and shares the machine's cores: the figures are the
//! library's cost plus a fast local server's, not Google's latency.
//!
//! Run: `cargo bench --bench e2e` (or `scripts/bench.sh`).

mod support;

use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthmail::authorize::AuthorizeOptions;
use oauthmail::message::MessageDocument;
use oauthmail::token::TokenDocument;
use oauthmail::{Client, Config};
use oauthmail_standin::{Options, Standin};
use serde_json::{json, Value};
use support::*;

const USER: &str = "erp.test@gmail.com";
/// Sends through both transports (the Gmail API accepts it too).
const SCOPE: &str = "openid email https://mail.google.com/";
/// The late reply of the "slow server" table: a plausible Internet round trip plus server time.
const DELAY_MS: u64 = 30;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    GmailApi,
    Smtps,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::GmailApi => "Gmail API",
            Via::Smtps => "SMTP (implicit TLS)",
        }
    }
}

fn config_json(s: &Standin, via: Via) -> Value {
    let i = s.info();
    json!({
        "provider": "google",
        "client_id": i.client_id,
        "client_secret": i.client_secret,
        "transport": if via == Via::GmailApi { "gmail_api" } else { "smtp" },
        "endpoints": {
            "authorization": i.authorization_endpoint,
            "token": i.token_endpoint,
            "revocation": i.revocation_endpoint,
            "userinfo": i.userinfo_endpoint,
            "gmail_api": i.gmail_api,
            "smtp": i.smtps,
        },
        "timeouts": {"authorize_s": 20, "connect_s": 5, "io_s": 20},
        "tls": {"extra_ca_file": i.ca_file},
    })
}

fn client(s: &Standin, via: Via) -> Client {
    let config: Config = serde_json::from_value(config_json(s, via)).expect("a valid config");
    Client::new(config).expect("client")
}

fn token(s: &Standin) -> TokenDocument {
    let t = s.mint_token(USER, SCOPE, true).expect("mint a token");
    serde_json::from_value(json!({
        "provider": "google",
        "email": t["email"],
        "scope": t["scope"],
        "token_type": "Bearer",
        "access_token": t["access_token"],
        "expires_at": t["expires_at"],
        "refresh_token": t["refresh_token"],
    }))
    .expect("a token document")
}

fn control(s: &Standin, method: &str, path: &str) -> Value {
    let url = format!("{}{path}", s.control_url());
    let mut r = match method {
        "DELETE" => ureq::delete(&url).call(),
        "POST" => ureq::post(&url).send_empty(),
        _ => ureq::get(&url).call(),
    }
    .expect("control plane");
    serde_json::from_str(&r.body_mut().read_to_string().expect("body")).unwrap_or(Value::Null)
}

fn smtp_connections(s: &Standin) -> i64 {
    s.counters()["smtp_connections"].as_i64().expect("counter")
}

fn send_one(c: &Client, t: &TokenDocument, m: &MessageDocument) -> Duration {
    let at = Instant::now();
    let r = c.send(t, m).unwrap_or_else(|e| panic!("send failed: {}", e.message));
    assert!(r.token.is_none(), "no refresh expected during the benchmark");
    at.elapsed()
}

/// `total` sends split over `threads` threads on one client; (latencies, wall time).
fn run_sends(
    c: &Client,
    t: &TokenDocument,
    m: &MessageDocument,
    threads: usize,
    total: usize,
) -> (Latencies, Duration) {
    let at = Instant::now();
    let lat = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut l = Latencies::default();
                    for _ in 0..total / threads {
                        l.push(send_one(c, t, m));
                    }
                    l
                })
            })
            .collect();
        let mut all = Latencies::default();
        for h in handles {
            all.extend(h.join().expect("a sending thread panicked"));
        }
        all
    });
    (lat, at.elapsed())
}

fn main() {
    let s = Standin::start(Options {
        auto_approve: true,
        ..Default::default()
    })
    .expect("the stand-in starts");
    let scratch = Scratch::new("e2e");
    let (pdf, logo) = invoice_files(&scratch);
    let small = doc(&small_json());
    let invoice = doc(&invoice_json(&pdf, &logo));
    let tok = token(&s);

    section("End to end against the local stand-in (loopback, TLS)");

    let mut t = Table::new(
        "Sends on one client (after 5 warm-up sends; latency per send)",
        &[
            "transport",
            "message",
            "threads",
            "sends",
            "sends/s",
            "p50",
            "p95",
            "max",
            "new SMTP connections",
        ],
    );
    for via in [Via::GmailApi, Via::Smtps] {
        let c = client(&s, via);
        for (name, m, count) in [("short text + HTML", &small, 200), ("invoice, 150 KB", &invoice, 100)] {
            for threads in [1, 4] {
                let count = n(count).div_ceil(threads) * threads;
                for _ in 0..n(5) {
                    send_one(&c, &tok, m);
                }
                control(&s, "DELETE", "/mailbox");
                let conns = smtp_connections(&s);
                let (lat, wall) = run_sends(&c, &tok, m, threads, count);
                let conns = smtp_connections(&s) - conns;
                let stored = s.messages().len();
                assert_eq!(stored, count, "every send reached the mailbox");
                t.row(&[
                    via.name().into(),
                    name.into(),
                    threads.to_string(),
                    count.to_string(),
                    rate(count as f64 / wall.as_secs_f64()),
                    dur(lat.pct(50.0)),
                    dur(lat.pct(95.0)),
                    dur(lat.max()),
                    if via == Via::Smtps {
                        conns.to_string()
                    } else {
                        "–".into()
                    },
                ]);
                control(&s, "DELETE", "/mailbox");
            }
        }
    }
    t.note(
        "One client per transport, one token; `sends/s` = sends / wall time of the loop. The stand-in \
         (in the same process) stores every message as an .eml file plus a JSON sidecar.",
    );
    t.print();

    // A first send on a new client: TLS handshake + (SMTP) greeting, EHLO, AUTH.
    let mut f = Table::new(
        "First send on a new client (connection set-up included)",
        &["transport", "runs", "p50", "p95", "max"],
    );
    for via in [Via::GmailApi, Via::Smtps] {
        let mut lat = Latencies::default();
        for _ in 0..n(20) {
            let c = client(&s, via);
            lat.push(send_one(&c, &tok, &small));
        }
        control(&s, "DELETE", "/mailbox");
        f.row(&[
            via.name().into(),
            lat.len().to_string(),
            dur(lat.pct(50.0)),
            dur(lat.pct(95.0)),
            dur(lat.max()),
        ]);
    }
    f.print();

    // A server that takes a while to answer, as Google does over the Internet: how much later than
    // the answer does the call return? (Waits on the socket are what this measures.)
    let mut w = Table::new(
        &format!(
            "Wait added after a reply that comes {DELAY_MS} ms late (stand-in `delay` fault on one reply per call)"
        ),
        &["call", "runs", "p50", "p50 − delay", "p95 − delay"],
    );
    let runs = n(20);
    for (name, via, fault) in [
        (
            "Gmail API send (delayed HTTP response)",
            Via::GmailApi,
            json!({"endpoint": "gmail_send", "kind": "delay", "delay_ms": DELAY_MS, "count": runs}),
        ),
        (
            "SMTP send (delayed reply to the end of data)",
            Via::Smtps,
            json!({"endpoint": "smtp", "stage": "data_end", "kind": "delay", "delay_ms": DELAY_MS, "count": runs}),
        ),
        (
            "refresh (delayed token response)",
            Via::GmailApi,
            json!({"endpoint": "token", "kind": "delay", "delay_ms": DELAY_MS, "count": runs}),
        ),
    ] {
        let c = client(&s, via);
        send_one(&c, &tok, &small); // connected and warm
        s.add_fault(&fault).expect("the delay fault");
        let mut lat = Latencies::default();
        for _ in 0..runs {
            let at = Instant::now();
            if name.starts_with("refresh") {
                c.refresh(&tok).expect("refresh");
            } else {
                send_one(&c, &tok, &small);
            }
            lat.push(at.elapsed());
        }
        control(&s, "DELETE", "/faults");
        control(&s, "DELETE", "/mailbox");
        let delay = Duration::from_millis(DELAY_MS);
        w.row(&[
            name.into(),
            lat.len().to_string(),
            dur(lat.pct(50.0)),
            dur(lat.pct(50.0).saturating_sub(delay)),
            dur(lat.pct(95.0).saturating_sub(delay)),
        ]);
    }
    w.note(
        "Without a delay the same calls take the times in the tables above; the difference between \
         `p50 − delay` here and there is the time between the reply's arrival and the caller seeing it.",
    );
    w.print();

    // Refresh and authorize.
    let mut o = Table::new(
        "OAuth calls (sequential, one client)",
        &["call", "runs", "p50", "p95", "max"],
    );
    let c = client(&s, Via::GmailApi);
    for _ in 0..n(5) {
        c.refresh(&tok).expect("refresh");
    }
    let mut lat = Latencies::default();
    for _ in 0..n(100) {
        let at = Instant::now();
        let fresh = c.refresh(&tok).expect("refresh");
        lat.push(at.elapsed());
        assert!(fresh.access_token.is_some());
    }
    o.row(&[
        "refresh (token endpoint, warm connection)".into(),
        lat.len().to_string(),
        dur(lat.pct(50.0)),
        dur(lat.pct(95.0)),
        dur(lat.max()),
    ]);
    let (page, done) = authorize_round_trips(&s, &c, n(20));
    for (name, lat) in [
        ("authorize, headless: until the browser has the result page", page),
        ("authorize, headless: until `authorize` returns", done),
    ] {
        o.row(&[
            name.into(),
            lat.len().to_string(),
            dur(lat.pct(50.0)),
            dur(lat.pct(95.0)),
            dur(lat.max()),
        ]);
    }
    o.note(
        "Authorize: `url_opener` hands the URL to a \"browser\" thread that follows it at the \
         stand-in (auto-approve: an immediate 302) and requests the redirect from the loopback \
         listener; the listener answers after the code exchange (+ id_token check). The call then \
         keeps answering late requests for `DRAIN` = 150 ms (src/authorize.rs) before it returns.",
    );
    o.print();

    // The same short send through the C API, for the boundary's share of a real call: rounds of
    // 20 sends each way, interleaved, so both see the same machine.
    let mut b = Table::new(
        "Gmail API send, Rust API vs C API (sequential, one client each, short message, interleaved rounds)",
        &["API", "sends", "sends/s", "p50", "p95"],
    );
    let c = client(&s, Via::GmailApi);
    let ffi = FfiClient::new(&s, &tok);
    for _ in 0..n(5) {
        send_one(&c, &tok, &small);
        ffi.send();
    }
    let (mut rust_lat, mut ffi_lat) = (Latencies::default(), Latencies::default());
    let (mut rust_wall, mut ffi_wall) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n(10) {
        let at = Instant::now();
        for _ in 0..20 {
            rust_lat.push(send_one(&c, &tok, &small));
        }
        rust_wall += at.elapsed();
        let at = Instant::now();
        for _ in 0..20 {
            ffi_lat.push(ffi.send());
        }
        ffi_wall += at.elapsed();
        control(&s, "DELETE", "/mailbox");
    }
    for (name, lat, wall) in [
        ("`Client::send`", rust_lat, rust_wall),
        ("`oauthmail_send` (JSON in and out)", ffi_lat, ffi_wall),
    ] {
        b.row(&[
            name.into(),
            lat.len().to_string(),
            rate(lat.len() as f64 / wall.as_secs_f64()),
            dur(lat.pct(50.0)),
            dur(lat.pct(95.0)),
        ]);
    }
    b.print();
    drop(ffi);
}

/// Headless authorize: the url_opener starts a "browser" thread that follows the authorization
/// URL (the stand-in redirects at once) and requests the redirect from the loopback listener.
fn authorize_round_trips(s: &Standin, c: &Client, count: usize) -> (Latencies, Latencies) {
    let pem = std::fs::read(&s.info().ca_file).expect("the stand-in's CA");
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let browser: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        )
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>> = Arc::default();
    let started: Arc<Mutex<Instant>> = Arc::new(Mutex::new(Instant::now()));
    let page_at: Arc<Mutex<Latencies>> = Arc::default();
    let (b, th, st, pa) = (browser.clone(), threads.clone(), started.clone(), page_at.clone());
    c.set_url_opener(Some(Arc::new(move |url: &str| {
        let (b, url, st, pa) = (b.clone(), url.to_string(), st.clone(), pa.clone());
        th.lock().unwrap().push(std::thread::spawn(move || {
            let r = b.get(&url).call().expect("authorization endpoint");
            assert_eq!(r.status().as_u16(), 302, "auto-approve redirects at once");
            let location = r.headers()["location"].to_str().expect("Location").to_string();
            let mut page = b.get(&location).call().expect("loopback listener");
            assert_eq!(page.status().as_u16(), 200, "the page after consent");
            let _ = page.body_mut().read_to_vec().expect("the page");
            let took = st.lock().unwrap().elapsed();
            pa.lock().unwrap().push(took);
        }));
        true
    })));
    let options = AuthorizeOptions {
        login_hint: Some(USER.into()),
        open_browser: None,
    };
    let mut done = Latencies::default();
    for i in 0..count + 2 {
        *started.lock().unwrap() = Instant::now();
        let at = Instant::now();
        let doc = c.authorize(&options).expect("authorize");
        let took = at.elapsed();
        assert_eq!(doc.email.as_deref(), Some(USER));
        for h in threads.lock().unwrap().drain(..) {
            h.join().expect("the browser thread panicked");
        }
        if i < 2 {
            page_at.lock().unwrap().0.clear(); // the first two are warm-up
        } else {
            done.push(took);
        }
    }
    c.set_url_opener(None);
    let page = std::mem::take(&mut *page_at.lock().unwrap());
    assert_eq!(page.len(), done.len(), "every browser thread got its page");
    (page, done)
}

/// A client made and used through the C API.
struct FfiClient {
    client: *mut oauthmail::ffi::oauthmail_client,
    token: CString,
    message: CString,
}

impl FfiClient {
    fn new(s: &Standin, tok: &TokenDocument) -> FfiClient {
        let config = CString::new(config_json(s, Via::GmailApi).to_string()).unwrap();
        let mut client = ptr::null_mut();
        // SAFETY: NUL-terminated config that outlives the call; writable out pointer; out_json
        // NULL (allowed: the result is dropped).
        let status = unsafe { oauthmail::ffi::oauthmail_client_new(config.as_ptr(), &mut client, ptr::null_mut()) };
        assert_eq!(status, 0, "oauthmail_client_new");
        FfiClient {
            client,
            token: CString::new(serde_json::to_string(tok).expect("token JSON")).unwrap(),
            message: CString::new(small_json().to_string()).unwrap(),
        }
    }

    fn send(&self) -> Duration {
        let mut out: *mut c_char = ptr::null_mut();
        let at = Instant::now();
        // SAFETY: a live handle; NUL-terminated strings that outlive the call; writable out pointer.
        let status = unsafe {
            oauthmail::ffi::oauthmail_send(self.client, self.token.as_ptr(), self.message.as_ptr(), &mut out)
        };
        // SAFETY: the library's string, freed once with its function.
        unsafe { oauthmail::ffi::oauthmail_string_free(out) };
        let took = at.elapsed();
        assert_eq!(status, 0, "oauthmail_send");
        took
    }
}

impl Drop for FfiClient {
    fn drop(&mut self) {
        // SAFETY: the handle from `new`, freed once, no call in flight.
        unsafe { oauthmail::ffi::oauthmail_client_free(self.client) };
    }
}
