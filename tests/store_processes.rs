//! The token store across processes. This binary is its own child: run with
//! `OAUTHMAIL_STORE_CHILD=<role>` it plays one of the processes, otherwise it runs the scenarios
//! (which is what `cargo test --test store_processes` does).
//!
//! - `crash_safety_kill_9_while_writing_200_times_leaves_old_or_new`: a child saves the store in
//!   a loop (one counter, 120 padding accounts so that a write takes a while); the parent kills it
//!   with SIGKILL 200 times: in even rounds at a random instant, in odd rounds a random 0-300 us
//!   after the write's new file appeared (inside the write, flush, fsync or rename). After every
//!   kill the store parses and holds either the last value the child reported as written or the
//!   one it was writing; the lock of the killed process is released by the system (the next
//!   child gets it); and at least 20 kills must have landed inside a write (a temporary file was
//!   left), or the test proves nothing.
//! - `four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens`: 4
//!   processes x 25 refresh attempts under the store's lock on one account; every refresh is
//!   appended to a shared log. Each generation is refreshed exactly once, by exactly one process,
//!   always with the live refresh token, and no update is lost.
//! - `four_processes_send_25_each_…`: against the Google stand-in, 4 processes x 25 sends through
//!   `{"account": …}` on one store file; three times during the run the access token is expired at
//!   the stand-in (so the next send is rejected and must refresh). Every message is delivered
//!   exactly once and the stand-in's token endpoint counts exactly one refresh per expiry. Run
//!   again with the stand-in rotating refresh tokens: the store ends with the one live refresh
//!   token, which still works.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthmail::provider::ProviderKind;
use oauthmail::secret::Secret;
use oauthmail::store::{self, Protect, Refreshed, Store, TokenRef, Wait};
use oauthmail::token::TokenDocument;
use oauthmail_standin::{Options as StandinOptions, Standin};
use serde_json::{json, Value};

const ROLE: &str = "OAUTHMAIL_STORE_CHILD";
const STORE: &str = "OAUTHMAIL_STORE_PATH";
const CONFIG: &str = "OAUTHMAIL_STORE_CONFIG";
const PROCESS: &str = "OAUTHMAIL_STORE_PROCESS";
const ACCOUNT: &str = "office@firma.ro";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let path = PathBuf::from(std::env::var(STORE).expect("store path"));
        match role.as_str() {
            "writer" => child_writer(&path),
            "refresher" => child_refresher(&path),
            "sender" => child_sender(
                &std::env::var(CONFIG).expect("config"),
                &std::env::var(PROCESS).expect("process"),
            ),
            other => panic!("unknown child role {other}"),
        }
        return;
    }
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let tests: [(&str, fn()); 4] = [
        (
            "crash_safety_kill_9_while_writing_200_times_leaves_old_or_new",
            crash_safety_kill_9_while_writing_200_times_leaves_old_or_new,
        ),
        (
            "four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens",
            four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens,
        ),
        (
            "four_processes_send_25_each_through_one_store_with_one_refresh_per_expiry",
            || four_processes_send_25_each_with_one_refresh_per_expiry(false),
        ),
        (
            "four_processes_send_25_each_with_rotating_refresh_tokens_and_none_ends_up_dead",
            || four_processes_send_25_each_with_one_refresh_per_expiry(true),
        ),
    ];
    let mut ran = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let started = Instant::now();
        test();
        println!("test {name} ... ok ({} ms)", started.elapsed().as_millis());
        ran += 1;
    }
    println!("test result: ok. {ran} passed");
}

fn no_cancel() -> oauthmail::Result<()> {
    Ok(())
}

fn wait() -> Wait<'static> {
    Wait::new(Duration::from_secs(30), &no_cancel)
}

fn token(access: &str, refresh: &str) -> TokenDocument {
    TokenDocument {
        provider: ProviderKind::Google,
        email: Some(ACCOUNT.into()),
        scope: "https://mail.google.com/".into(),
        token_type: "Bearer".into(),
        access_token: Some(Secret::new(access)),
        expires_at: Some(1_900_000_000),
        refresh_token: Some(Secret::new(refresh)),
        authorized_at: Some(1_764_000_000),
    }
}

/// The number in an access token `gen-N`.
fn generation(t: &TokenDocument) -> u64 {
    t.access_token.as_ref().unwrap().expose()["gen-".len()..]
        .parse()
        .unwrap()
}

fn folder(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oauthmail-store-processes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn child(role: &str, path: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env(ROLE, role).env(STORE, path).stdin(Stdio::null());
    c
}

/// A small xorshift: the kill instants must vary, and the seed is printed so a failure replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Saves `gen-N+1` over `gen-N` forever, printing `wrote N` after each save returns.
fn child_writer(path: &Path) {
    let store = Store::new(path, Protect::None);
    let mut n = store.load(ACCOUNT).unwrap().map(|e| generation(&e.token)).unwrap_or(0);
    let mut out = std::io::stdout();
    loop {
        n += 1;
        store
            .save(ACCOUNT, &token(&format!("gen-{n}"), &format!("rt-{n}")), &wait())
            .unwrap();
        writeln!(out, "wrote {n}").unwrap();
        out.flush().unwrap();
    }
}

fn crash_safety_kill_9_while_writing_200_times_leaves_old_or_new() {
    let dir = folder("crash");
    let path = dir.join("tokens.json");
    let store = Store::new(&path, Protect::None);
    // Padding accounts make the file ~60 KB, so that a good share of the time goes into writing it.
    for i in 0..120 {
        let t = token(
            &format!("pad-access-{i}-{}", "x".repeat(300)),
            &format!("pad-refresh-{i}"),
        );
        store.save(&format!("pad{i}@firma.ro"), &t, &wait()).unwrap();
    }
    store.save(ACCOUNT, &token("gen-0", "rt-0"), &wait()).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash safety: seed {seed}");
    let mut rng = Rng(seed);
    let (mut mid_write, mut before) = (0, 0u64);
    for round in 0..200 {
        let mut c = child("writer", &path).stdout(Stdio::piped()).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<u64>::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            let stdout = c.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(n) = line.strip_prefix("wrote ") {
                        lines.lock().unwrap().push(n.parse().unwrap());
                    }
                }
            })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let alive = |c: &mut std::process::Child| {
            assert!(
                Instant::now() < deadline,
                "round {round}: the writer made no progress (seed {seed})"
            );
            if let Some(status) = c.try_wait().unwrap() {
                panic!("round {round}: the writer exited with {status} (seed {seed})");
            }
        };
        if round % 2 == 0 {
            // Anywhere: after the first write (past start-up), a random 0-8 ms more.
            while lines.lock().unwrap().is_empty() {
                alive(&mut c);
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_micros(rng.next() % 8000));
        } else {
            // Inside a write: as soon as its new file exists beside the store, then 0-300 us
            // (the write, the flush, the fsync or the rename may be under way).
            while store::atomic::leftovers(&path).is_empty() {
                alive(&mut c);
                std::hint::spin_loop();
            }
            std::thread::sleep(Duration::from_micros(rng.next() % 300));
        }
        c.kill().unwrap(); // SIGKILL on Unix, TerminateProcess on Windows: no clean-up runs
        c.wait().unwrap();
        reader.join().unwrap();
        let reported = lines.lock().unwrap().last().copied().unwrap_or(before);
        let left = store::atomic::leftovers(&path);
        if !left.is_empty() {
            mid_write += 1;
            // The next writer would remove them under the lock (checked at the end and in the
            // unit tests); before a round that waits for a new file, they must go first.
            if round % 2 == 0 && round < 199 {
                for f in left {
                    std::fs::remove_file(f).unwrap();
                }
            }
        }
        let entry = store
            .load(ACCOUNT)
            .unwrap_or_else(|e| panic!("round {round}: the store does not parse after kill -9: {e} (seed {seed})"))
            .expect("the account is still there");
        let now = generation(&entry.token);
        assert!(
            now == reported || now == reported + 1,
            "round {round}: the store holds gen-{now}, the child last reported gen-{reported} (seed {seed})"
        );
        assert_eq!(
            entry.token.refresh_token.as_ref().unwrap().expose(),
            format!("rt-{now}")
        );
        assert_eq!(
            store.entries().unwrap().len(),
            121,
            "round {round}: entries lost (seed {seed})"
        );
        before = now;
    }
    println!("crash safety: 200 kills, {mid_write} inside a write (a temporary file was left), last gen-{before}");
    assert!(
        mid_write >= 20,
        "only {mid_write} of 200 kills landed inside a write: the test did not exercise the window (seed {seed})"
    );
    // The next writer clears what the killed ones left.
    store.save(ACCOUNT, &token("gen-final", "rt-final"), &wait()).unwrap();
    assert!(store::atomic::leftovers(&path).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// 25 times: load the entry, and refresh it under the lock as if it had expired. A refresh
/// appends `pid N->N+1` to the log beside the store (one write to an O_APPEND file).
fn child_refresher(path: &Path) {
    let store = Store::new(path, Protect::None);
    let log_path = path.with_file_name("refreshes.log");
    let (mut ours, mut theirs) = (0, 0);
    for _ in 0..25 {
        let seen = store.load(ACCOUNT).unwrap().unwrap().token;
        let result = store
            .refresh_locked(ACCOUNT, &seen, &wait(), |stored| {
                let n = generation(stored);
                // The token endpoint's view with rotation: only rt-N is alive.
                assert_eq!(stored.refresh_token.as_ref().unwrap().expose(), format!("rt-{n}"));
                let mut log = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&log_path)
                    .unwrap();
                log.write_all(format!("{} {n}->{}\n", std::process::id(), n + 1).as_bytes())
                    .unwrap();
                // A refresh takes a moment (the token endpoint); others must wait, not refresh too.
                std::thread::sleep(Duration::from_millis(3));
                Ok(token(&format!("gen-{}", n + 1), &format!("rt-{}", n + 1)))
            })
            .unwrap();
        match result {
            Refreshed::ByUs(_) => ours += 1,
            Refreshed::ByAnother(_) => theirs += 1,
        }
    }
    println!("ours {ours} theirs {theirs}");
}

fn four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens() {
    let dir = folder("refresh");
    let path = dir.join("tokens.json");
    let store = Store::new(&path, Protect::None);
    store.save(ACCOUNT, &token("gen-0", "rt-0"), &wait()).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| child("refresher", &path).stdout(Stdio::piped()).spawn().unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ours_total = 0;
    for mut c in children {
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                assert!(status.success(), "a refresher failed: {status}");
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("a refresher did not finish in 120 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut out = String::new();
        std::io::Read::read_to_string(c.stdout.as_mut().unwrap(), &mut out).unwrap();
        let ours: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        ours_total += ours;
    }
    let log = std::fs::read_to_string(dir.join("refreshes.log")).unwrap();
    let mut steps: Vec<u64> = log
        .lines()
        .map(|l| {
            l.split(' ')
                .nth(1)
                .unwrap()
                .split("->")
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let writers: std::collections::BTreeSet<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    steps.sort_unstable();
    let last = generation(&store.load(ACCOUNT).unwrap().unwrap().token);
    // Each generation 0..last was refreshed once: no two processes spent one refresh token, and
    // every refresh's result was kept (the final generation counts them all).
    assert_eq!(steps, (0..last).collect::<Vec<_>>(), "refresh log: {log}");
    assert_eq!(last, ours_total);
    assert!(last >= 25, "at least one process's worth of refreshes: {last}");
    println!(
        "4 processes x 25 attempts: {last} refreshes by {} processes, {} found another's",
        writers.len(),
        100 - last
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// 4 processes x 25 sends through {"account": ...} against the stand-in

const USER: &str = "erp.test@gmail.com";

/// The configuration for the stand-in at `info`, with the store at `store`.
fn config_json(info: &Value, store: &Path) -> Value {
    json!({
        "provider": "google",
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "transport": "gmail_api",
        "endpoints": {
            "authorization": info["authorization_endpoint"],
            "token": info["token_endpoint"],
            "revocation": info["revocation_endpoint"],
            "userinfo": info["userinfo_endpoint"],
            "gmail_api": info["gmail_api"],
            "smtp": info["smtps"],
        },
        "timeouts": {"connect_s": 5, "io_s": 30},
        "tls": {"extra_ca_file": info["ca_file"]},
        "store": {"path": store, "protect": "none"},
    })
}

/// 25 sends through `{"account": USER}`, 15 ms apart; prints `sent P M <message_id>` for each.
fn child_sender(config: &str, process: &str) {
    let config: oauthmail::Config = serde_json::from_str(config).expect("config");
    let client = oauthmail::Client::new(config).expect("client");
    let mut out = std::io::stdout();
    for m in 0..25 {
        let message: oauthmail::message::MessageDocument = serde_json::from_value(json!({
            "from": USER,
            "to": ["ion@example.ro"],
            "subject": format!("store p{process} m{m}"),
            "text": "sent by tests/store_processes.rs",
        }))
        .unwrap();
        let result = client
            .send(TokenRef::Account(USER), &message)
            .unwrap_or_else(|e| panic!("p{process} m{m}: {e}"));
        assert!(result.token.is_none(), "a send through a reference returns no token");
        writeln!(out, "sent {process} {m} {}", result.message_id).unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn four_processes_send_25_each_with_one_refresh_per_expiry(rotate: bool) {
    let s = Standin::start(StandinOptions::default()).expect("the stand-in starts");
    if rotate {
        s.set_settings(&json!({"rotate_refresh_tokens": true})).unwrap();
    }
    let dir = folder(if rotate { "sends-rotating" } else { "sends" });
    let path = dir.join("tokens.json");
    let minted = s
        .mint_token(USER, "openid email https://mail.google.com/", true)
        .unwrap();
    let token = TokenDocument {
        provider: ProviderKind::Google,
        email: Some(USER.into()),
        scope: minted["scope"].as_str().unwrap().into(),
        token_type: "Bearer".into(),
        access_token: Some(Secret::new(minted["access_token"].as_str().unwrap())),
        expires_at: minted["expires_at"].as_i64(),
        refresh_token: Some(Secret::new(minted["refresh_token"].as_str().unwrap())),
        authorized_at: Some(now_unix()),
    };
    Store::new(&path, Protect::None).save(USER, &token, &wait()).unwrap();
    let info: Value = serde_json::from_str(&s.info_json()).unwrap();
    let config = config_json(&info, &path).to_string();
    let refreshes = || s.counters()["token"]["refresh_token"].as_i64().unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            child("sender", &path)
                .env(CONFIG, &config)
                .env(PROCESS, p.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Three expiries while the processes send: after about 20, 45 and 70 of the 100 messages the
    // access token is expired at the stand-in (the store still thinks it is valid, so the next
    // send is rejected with 401 and must refresh), and each must be followed by exactly one refresh.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut expiries = 0;
    for (k, after) in [20usize, 45, 70].into_iter().enumerate() {
        while s.messages().len() < after {
            assert!(
                Instant::now() < deadline,
                "only {} messages arrived",
                s.messages().len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let expired = control_post(&s, "/tokens/expire", json!({"email": USER}));
        assert_eq!(
            expired["expired"], 1,
            "exactly the current access token expires: {expired}"
        );
        expiries += 1;
        while refreshes() < k as i64 + 1 {
            assert!(Instant::now() < deadline, "no refresh after expiry {}", k + 1);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let mut sent = Vec::new();
    for mut c in children {
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                let mut out = String::new();
                std::io::Read::read_to_string(c.stdout.as_mut().unwrap(), &mut out).unwrap();
                assert!(status.success(), "a sender failed ({status}); it printed:\n{out}");
                sent.extend(out.lines().map(str::to_string));
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("a sender did not finish in 120 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Exactly once: 100 sends reported, 100 messages delivered, each subject once.
    assert_eq!(sent.len(), 100);
    let messages = s.messages();
    let mut subjects: Vec<String> = messages
        .iter()
        .map(|m| {
            let eml = s.message_bytes(m["id"].as_str().unwrap()).unwrap();
            let text = String::from_utf8_lossy(&eml).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                .unwrap()
        })
        .collect();
    subjects.sort();
    let mut want: Vec<String> = (0..4)
        .flat_map(|p| (0..25).map(move |m| format!("store p{p} m{m}")))
        .collect();
    want.sort();
    assert_eq!(subjects, want, "every message delivered exactly once");
    // One refresh per expiry, not one per process.
    assert_eq!(refreshes(), expiries, "token endpoint refreshes");
    // The store holds a live refresh token: a refresh through the reference works (with
    // rotation this spends it and stores the next one), and the grant has exactly one live token.
    let client = oauthmail::Client::new(serde_json::from_str(&config).unwrap()).unwrap();
    client
        .refresh(TokenRef::Account(USER))
        .expect("the stored refresh token is alive");
    let grants = control_get(&s, "/grants");
    assert_eq!(grants[0]["refresh_tokens_live"], 1, "{grants}");
    let entry = Store::new(&path, Protect::None).load(USER).unwrap().unwrap();
    assert_eq!(
        entry.token.authorized_at, token.authorized_at,
        "authorized_at survives refreshes"
    );
    if rotate {
        assert_ne!(
            entry.token.refresh_token, token.refresh_token,
            "the refresh token rotated"
        );
    }
    println!(
        "4 processes x 25 sends{}: 100 delivered once, {expiries} expiries, {} refreshes",
        if rotate { " (rotating refresh tokens)" } else { "" },
        refreshes() - 1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A plain HTTP/1.1 request to the stand-in's control plane; the JSON answer.
fn control(s: &Standin, method: &str, path: &str, body: Option<Value>) -> Value {
    let url = url::Url::parse(s.control_url()).unwrap();
    let mut tcp = std::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = Vec::new();
    std::io::Read::read_to_end(&mut tcp, &mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 2"),
        "control {method} {path}: {head}\n{body}"
    );
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn control_post(s: &Standin, path: &str, body: Value) -> Value {
    control(s, "POST", path, Some(body))
}

fn control_get(s: &Standin, path: &str) -> Value {
    control(s, "GET", path, None)
}
