//! Messages over Graph's 4 MB request limit against the stand-in (issue 15): a draft in JSON
//! form, upload sessions in chunks of 320 KiB multiples, a dropped chunk resumed from
//! `nextExpectedRanges`, Bcc only in Graph's recipients, the library's Message-ID, and a cancel
//! from the progress callback that delivers nothing and leaves no draft.

use std::sync::{Arc, Mutex};

use oauthmail::message::MessageDocument;
use oauthmail::token::TokenDocument;
use oauthmail::{Client, Config, Status};
use oauthmail_standin::{Options, Standin, MS_PUBLIC_CLIENT_ID};
use serde_json::{json, Value};

const WORK: &str = "erp.test@contoso.onmicrosoft.com";
const MB25: usize = 25 * 1024 * 1024;

fn standin() -> Standin {
    Standin::start(Options::default()).expect("start the stand-in")
}

fn control(s: &Standin, method: &str, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", s.control_url());
    let mut r = match body {
        Some(b) => ureq::post(url)
            .header("Content-Type", "application/json")
            .send(b.to_string().as_bytes())
            .expect("control plane"),
        None if method == "GET" => ureq::get(url).call().expect("control plane"),
        None => unreachable!(),
    };
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

fn graph_client(s: &Standin) -> Client {
    let ms = &s.info().microsoft;
    let config = json!({
        "provider": "microsoft",
        "client_id": MS_PUBLIC_CLIENT_ID,
        "tenant": "organizations",
        "transport": "graph",
        "endpoints": {
            "authorization": format!("{}/{{tenant}}/oauth2/v2.0/authorize", ms.authority),
            "token": format!("{}/{{tenant}}/oauth2/v2.0/token", ms.authority),
            "graph": ms.graph,
        },
        "timeouts": {"connect_s": 5, "io_s": 20},
        "tls": {"extra_ca_file": s.info().ca_file},
    });
    Client::new(serde_json::from_value::<Config>(config).unwrap()).unwrap()
}

/// A Graph token with Mail.Send and Mail.ReadWrite, minted through the control plane.
fn token(s: &Standin) -> TokenDocument {
    let t = control(
        s,
        "POST",
        "/microsoft/tokens",
        Some(json!({"email": WORK, "scope": "openid email offline_access Mail.Send Mail.ReadWrite"})),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    serde_json::from_value(json!({
        "provider": "microsoft", "email": WORK, "scope": t["scope"], "token_type": "Bearer",
        "access_token": t["access_token"], "refresh_token": t["refresh_token"],
        "expires_at": now + t["expires_in"].as_i64().unwrap(),
    }))
    .unwrap()
}

/// Bytes that are not a repeating pattern at any chunk boundary (a misplaced chunk changes the hash).
fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256(b: &[u8]) -> String {
    use std::fmt::Write;
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    d.as_ref().iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn big_message(dir: &std::path::Path, bytes: &[u8]) -> MessageDocument {
    let path = dir.join("raport-25mb.bin");
    std::fs::write(&path, bytes).unwrap();
    serde_json::from_value(json!({
        "from": WORK, "to": ["friend@example.com"], "cc": ["copy@example.com"],
        "bcc": ["hidden@example.com"], "subject": "Raport lunar", "html": "<p>Raportul e atașat.</p>",
        "text": "Raportul e atașat.", "headers": {"X-ERP-Document": "FAC-2026-0042"},
        "attachments": [
            {"path": path.to_str().unwrap(), "content_type": "application/octet-stream"},
            {"filename": "nota.txt", "content_base64": "Tm90xIMgbWljxIMu"},
        ],
    }))
    .unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("oauthmail-graph-upload-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn counters(s: &Standin) -> Value {
    control(s, "GET", "/microsoft/counters", None)
}

#[test]
fn a_25_mb_attachment_goes_through_an_upload_session_intact_with_bcc_only_in_recipients() {
    let s = standin();
    let client = graph_client(&s);
    let dir = temp_dir("intact");
    let bytes = data(MB25);
    let seen: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let log = seen.clone();
    client.set_progress(Some(Arc::new(move |d: u64, t: u64| {
        log.lock().unwrap().push((d, t));
        true
    })));
    let r = client
        .send(&token(&s), &big_message(&dir, &bytes))
        .expect("send 25 MB through Graph");
    assert_eq!(r.transport.name(), "graph");
    let m = &s.messages()[0];
    let g = &m["microsoft"]["graph"];
    assert_eq!(g["form"], "draft", "{g}");
    assert_eq!(
        g["message_id"], r.message_id,
        "the result's message_id is the library's"
    );
    assert_eq!(g["recipients"]["bcc"], json!(["hidden@example.com"]));
    assert_eq!(g["bcc_header_present"], false);
    let atts = g["attachments"].as_array().unwrap();
    let big = atts
        .iter()
        .find(|a| a["name"] == "raport-25mb.bin")
        .expect("the big attachment");
    assert_eq!(big["via"], "upload_session");
    assert_eq!(big["size"], MB25);
    assert_eq!(big["sha256"], sha256(&bytes), "delivered byte for byte");
    let small = atts
        .iter()
        .find(|a| a["name"] == "nota.txt")
        .expect("the small attachment");
    assert_eq!(small["via"], "message_json");
    assert_eq!(small["sha256"], sha256("Notă mică.".as_bytes()));
    // 25 MiB in chunks of 3.125 MiB: 8 PUTs, nothing resumed.
    assert_eq!(counters(&s)["upload_chunks"], 8);
    let eml = String::from_utf8_lossy(&s.message_bytes(m["id"].as_str().unwrap()).unwrap()).into_owned();
    let head = &eml[..eml.find("\r\n\r\n").unwrap()];
    assert!(!head.to_ascii_lowercase().contains("bcc") && !eml.contains("hidden@example.com"));
    assert!(head.contains("X-ERP-Document: FAC-2026-0042"), "{head}");
    assert!(head.contains(&format!("Message-ID: {}", r.message_id)), "{head}");
    assert_eq!(m["envelope"]["to"].as_array().unwrap().len(), 3);
    // Progress: one report per request at most (throttled), never decreasing, ending at the total.
    let calls = seen.lock().unwrap().clone();
    let total = calls[0].1;
    assert!(total > MB25 as u64, "{total}");
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
    assert_eq!(calls.last().unwrap(), &(total, total));
    assert_eq!(
        control(&s, "GET", "/microsoft/drafts", None),
        json!([]),
        "the draft was sent"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_dropped_chunk_is_resumed_from_next_expected_ranges() {
    let s = standin();
    let client = graph_client(&s);
    let dir = temp_dir("resume");
    let bytes = data(MB25);
    // The third chunk is lost on the way (not stored, the connection cut), the fifth is stored
    // but its answer is lost: both are resumed from what the session says it has.
    control(
        &s,
        "POST",
        "/microsoft/faults",
        Some(json!({"target": "upload", "kind": "drop", "processed": false, "skip": 2})),
    );
    control(
        &s,
        "POST",
        "/microsoft/faults",
        Some(json!({"target": "upload", "kind": "drop", "processed": true, "skip": 4})),
    );
    client
        .send(&token(&s), &big_message(&dir, &bytes))
        .expect("send with a dropped chunk");
    let m = &s.messages()[0];
    let big = m["microsoft"]["graph"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["via"] == "upload_session")
        .cloned()
        .unwrap();
    assert_eq!(big["sha256"], sha256(&bytes), "resumed without a gap or a duplicate");
    // 8 chunks + the lost one sent again (the stored-but-unanswered one is not re-sent).
    assert_eq!(counters(&s)["upload_chunks"], 9);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_session_that_keeps_failing_gives_up_delivers_nothing_and_deletes_the_draft() {
    let s = standin();
    let client = graph_client(&s);
    let dir = temp_dir("giveup");
    control(
        &s,
        "POST",
        "/microsoft/faults",
        Some(json!({"target": "upload", "kind": "drop", "processed": false, "skip": 1, "count": 50})),
    );
    let e = client.send(&token(&s), &big_message(&dir, &data(MB25))).unwrap_err();
    assert!(matches!(e.status, Status::Network | Status::Timeout), "{e:?}");
    assert!(e.message.contains("nothing was sent"), "{}", e.message);
    assert!(s.messages().is_empty());
    assert_eq!(control(&s, "GET", "/microsoft/drafts", None), json!([]));
    assert_eq!(counters(&s)["graph_drafts_deleted"], 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stop_from_the_progress_callback_between_chunks_delivers_nothing_and_leaves_no_draft() {
    let s = standin();
    let client = graph_client(&s);
    let dir = temp_dir("cancel");
    client.set_progress(Some(Arc::new(|done: u64, total: u64| done < total / 2)));
    let e = client.send(&token(&s), &big_message(&dir, &data(MB25))).unwrap_err();
    assert_eq!(e.status, Status::Cancelled, "{e:?}");
    assert!(s.messages().is_empty(), "nothing delivered");
    assert_eq!(
        control(&s, "GET", "/microsoft/drafts", None),
        json!([]),
        "no draft left"
    );
    let c = counters(&s);
    assert_eq!(c["graph_drafts_deleted"], 1);
    let chunks = c["upload_chunks"].as_u64().unwrap();
    assert!((1..8).contains(&chunks), "stopped between chunks: {chunks}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_raw_message_over_4_mb_is_refused_before_anything_is_sent() {
    let s = standin();
    let client = graph_client(&s);
    let mut raw = b"From: erp.test@contoso.onmicrosoft.com\r\nTo: a@example.com\r\nSubject: r\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b"0123456789abcdef0123456789abcdef\r\n".as_slice(), 120_000).flatten());
    let doc: MessageDocument = serde_json::from_value(
        json!({"raw_base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw)}),
    )
    .unwrap();
    let e = client.send(&token(&s), &doc).unwrap_err();
    assert_eq!(e.status, Status::Rejected);
    assert_eq!(e.field.as_deref(), Some("message.raw_base64"));
    assert!(s.messages().is_empty());
    assert_eq!(counters(&s)["graph_requests"], 0);
}

#[test]
fn small_attachments_ride_in_the_draft_while_it_fits_and_the_rest_are_posted_one_by_one() {
    let s = standin();
    let client = graph_client(&s);
    let dir = temp_dir("small");
    let (a, b) = (data(2_500_000), data(2_400_000));
    std::fs::write(dir.join("a.bin"), &a).unwrap();
    std::fs::write(dir.join("b.bin"), &b).unwrap();
    let doc: MessageDocument = serde_json::from_value(json!({
        "from": WORK, "to": ["friend@example.com"], "subject": "două", "text": "t",
        "attachments": [{"path": dir.join("a.bin").to_str().unwrap()}, {"path": dir.join("b.bin").to_str().unwrap()}],
    }))
    .unwrap();
    client
        .send(&token(&s), &doc)
        .expect("send 4.9 MB in two small attachments");
    let g = &s.messages()[0]["microsoft"]["graph"];
    assert_eq!(g["form"], "draft");
    let atts = g["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    assert_eq!(
        (atts[0]["name"].as_str(), atts[0]["via"].as_str()),
        (Some("a.bin"), Some("message_json"))
    );
    assert_eq!(
        (atts[1]["name"].as_str(), atts[1]["via"].as_str()),
        (Some("b.bin"), Some("attachment_post"))
    );
    assert_eq!(atts[0]["sha256"], sha256(&a));
    assert_eq!(atts[1]["sha256"], sha256(&b));
    assert_eq!(counters(&s)["upload_chunks"], 0, "no upload session under 3 MB");
    let _ = std::fs::remove_dir_all(dir);
}
