//! Memory of a host process: peak RSS (`VmHWM` in /proc/self/status) of a process that sends 200
//! messages with a 1 MB attachment on one client, per transport.
//!
//! Three roles of this one binary, so the stand-in's memory is not counted: the orchestrator
//! (default) starts `--serve-standin DIR` (the stand-in, in a child process) and then one
//! `--host TRANSPORT DIR` child per transport, which measures itself and prints one JSON line.
//!
//! Run: `cargo bench --bench memory` (or `scripts/bench.sh`). Linux only (/proc).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use oauthmail::{Client, Config};
use serde_json::{json, Value};
use support::*;

const USER: &str = "erp.test@gmail.com";
const SCOPE: &str = "openid email https://mail.google.com/";
const ATTACHMENT: usize = 1024 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve-standin") => serve_standin(Path::new(&args[2])),
        Some("--host") => host(&args[2], Path::new(&args[3])),
        _ => orchestrate(),
    }
}

/// Runs the stand-in until stdin closes.
fn serve_standin(dir: &Path) {
    let s = oauthmail_standin::Standin::start(oauthmail_standin::Options {
        state_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .expect("the stand-in starts");
    println!("{}", s.info_json());
    std::io::stdout().flush().expect("stdout");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(s);
}

fn mb(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1024.0 / 1024.0)
}

fn orchestrate() {
    let scratch = Scratch::new("memory");
    let state = scratch.path().join("standin");
    let exe = std::env::current_exe().expect("own path");
    let mut standin = Command::new(&exe)
        .arg("--serve-standin")
        .arg(&state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the stand-in process");
    let mut line = String::new();
    BufReader::new(standin.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the stand-in's info line");
    assert!(line.starts_with('{'), "the stand-in did not start");

    let sends = n(200);
    section("Memory of a host process");
    let mut t = Table::new(
        &format!("Peak RSS (VmHWM) of a process sending {sends} messages with a 1 MB attachment on one client"),
        &[
            "transport",
            "at start",
            "after client_new",
            "after 1st send",
            "after all sends",
            "RSS at the end",
            "library heap peak",
            "heap after the sends",
            "time per send (mean)",
        ],
    );
    for transport in ["gmail_api", "smtp"] {
        let out = Command::new(&exe)
            .arg("--host")
            .arg(transport)
            .arg(&state)
            .env("OAUTHMAIL_BENCH_SENDS", sends.to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("run the host process");
        assert!(out.status.success(), "the {transport} host process failed");
        let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON line from the host process");
        let g = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
        t.row(&[
            if transport == "smtp" {
                "SMTP (implicit TLS)"
            } else {
                "Gmail API"
            }
            .into(),
            mb(g("hwm_start")),
            mb(g("hwm_client")),
            mb(g("hwm_first")),
            mb(g("hwm_end")),
            mb(g("rss_end")),
            mb(g("heap_peak")),
            mb(g("heap_after")),
            format!("{:.1} ms", r["ms_per_send"].as_f64().unwrap_or(0.0)),
        ]);
    }
    t.note(&format!(
        "Each transport runs in a fresh process (this bench binary, which also links the stand-in's \
         code, so `at start` is larger than a C host's). The stand-in runs in another process. The \
         attachment is read from a file; the encoded message is about 1.37 MB. \
         `library heap peak`: the highest live heap (counting allocator) during the {sends} sends; \
         `heap after`: live heap after them, with the client still open."
    ));
    t.print();
    drop(standin.stdin.take()); // EOF: the stand-in process stops
    let _ = standin.wait();
}

/// One host process: one client, `OAUTHMAIL_BENCH_SENDS` sends; prints a JSON line.
fn host(transport: &str, state: &Path) {
    let hwm_start = rss().expect("/proc/self/status").0;
    let info: Value = serde_json::from_str(&std::fs::read_to_string(state.join("standin.json")).expect("standin.json"))
        .expect("standin.json is JSON");
    let s = |k: &str| {
        info[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in standin.json"))
            .to_string()
    };
    let sends: usize = std::env::var("OAUTHMAIL_BENCH_SENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let scratch = Scratch::new(&format!("memory-host-{transport}"));
    let path = scratch.file("Raport_anual_2026.pdf", PDF_HEAD, ATTACHMENT);
    let message = doc(&attachment_json(&path));

    let control = s("control");
    let minted: Value = {
        let mut r = ureq::post(format!("{control}/tokens"))
            .header("Content-Type", "application/json")
            .send(
                json!({"email": USER, "scope": SCOPE, "offline": true})
                    .to_string()
                    .as_bytes(),
            )
            .expect("mint a token");
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON")
    };
    let token: oauthmail::token::TokenDocument = serde_json::from_value(json!({
        "provider": "google", "email": minted["email"], "scope": minted["scope"], "token_type": "Bearer",
        "access_token": minted["access_token"], "expires_at": minted["expires_at"],
        "refresh_token": minted["refresh_token"],
    }))
    .expect("token document");
    let clear_mailbox = || {
        ureq::delete(format!("{control}/mailbox"))
            .call()
            .expect("clear the mailbox");
    };

    let config: Config = serde_json::from_value(json!({
        "provider": "google",
        "client_id": s("client_id"),
        "client_secret": s("client_secret"),
        "transport": transport,
        "endpoints": {
            "authorization": s("authorization_endpoint"), "token": s("token_endpoint"),
            "revocation": s("revocation_endpoint"), "userinfo": s("userinfo_endpoint"),
            "gmail_api": s("gmail_api"), "smtp": s("smtps"),
        },
        "timeouts": {"connect_s": 5, "io_s": 30},
        "tls": {"extra_ca_file": s("ca_file")},
    }))
    .expect("config");
    let client = Client::new(config).expect("client");
    let hwm_client = rss().unwrap().0;

    let probe = AllocProbe::start();
    let send = || {
        let r = client
            .send(&token, &message)
            .unwrap_or_else(|e| panic!("send failed: {}", e.message));
        assert!(r.token.is_none());
    };
    send();
    let hwm_first = rss().unwrap().0;
    let at = Instant::now();
    for i in 1..sends {
        send();
        if i % 50 == 0 {
            clear_mailbox();
        }
    }
    let ms_per_send = at.elapsed().as_secs_f64() * 1000.0 / (sends - 1).max(1) as f64;
    let heap = probe.stop();
    let (hwm_end, rss_end) = rss().unwrap();
    clear_mailbox();
    println!(
        "{}",
        json!({
            "hwm_start": hwm_start, "hwm_client": hwm_client, "hwm_first": hwm_first,
            "hwm_end": hwm_end, "rss_end": rss_end, "heap_peak": heap.peak,
            "heap_after": heap.retained.max(0), "ms_per_send": ms_per_send,
        })
    );
    drop(client);
}
