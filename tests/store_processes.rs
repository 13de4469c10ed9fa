//! The token store across processes. This binary is its own child: run with
//! `OAUTHMAIL_STORE_CHILD=<role>` it plays one of the processes, otherwise it runs the scenarios
//! (which is what `cargo test --test store_processes` does).
//!
//! - `crash_safety_kill_9_while_writing_200_times_leaves_old_or_new`: a child saves the store in
//!   a loop (one counter, 120 padding accounts so that a write takes a while); the parent kills it
//!   with SIGKILL at a random instant, 200 times. After every kill the store parses and holds
//!   either the last value the child reported as written or the one it was writing; the lock of
//!   the killed process is released by the system (the next child gets it); and some kills must
//!   have landed inside a write (a temporary file was left), or the test proves nothing.
//! - `four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens`: 4
//!   processes x 25 refresh attempts under the store's lock on one account; every refresh is
//!   appended to a shared log. Each generation is refreshed exactly once, by exactly one process,
//!   always with the live refresh token, and no update is lost.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthmail::provider::ProviderKind;
use oauthmail::secret::Secret;
use oauthmail::store::{self, Protect, Refreshed, Store, Wait};
use oauthmail::token::TokenDocument;

const ROLE: &str = "OAUTHMAIL_STORE_CHILD";
const STORE: &str = "OAUTHMAIL_STORE_PATH";
const ACCOUNT: &str = "office@firma.ro";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let path = PathBuf::from(std::env::var(STORE).expect("store path"));
        match role.as_str() {
            "writer" => child_writer(&path),
            "refresher" => child_refresher(&path),
            other => panic!("unknown child role {other}"),
        }
        return;
    }
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let tests: [(&str, fn()); 2] = [
        (
            "crash_safety_kill_9_while_writing_200_times_leaves_old_or_new",
            crash_safety_kill_9_while_writing_200_times_leaves_old_or_new,
        ),
        (
            "four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens",
            four_processes_refresh_each_generation_exactly_once_with_rotating_refresh_tokens,
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
        // Wait for the first write (the child is running and past start-up), then a random
        // 0-8 ms more, and kill it wherever it is.
        let deadline = Instant::now() + Duration::from_secs(30);
        while lines.lock().unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "round {round}: the writer never wrote (seed {seed})"
            );
            if let Some(status) = c.try_wait().unwrap() {
                panic!("round {round}: the writer exited with {status} (seed {seed})");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 8000));
        c.kill().unwrap(); // SIGKILL on Unix, TerminateProcess on Windows: no clean-up runs
        c.wait().unwrap();
        reader.join().unwrap();
        let reported = lines.lock().unwrap().last().copied().unwrap_or(before);
        if !store::atomic::leftovers(&path).is_empty() {
            mid_write += 1;
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
        mid_write >= 5,
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
