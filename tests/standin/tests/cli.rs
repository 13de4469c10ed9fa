//! The binary: one JSON line on stdout (= standin.json) within a second, nothing on stderr,
//! `--help` documents every option of the README.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oauthmail-standin");

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("standin-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn binary_starts_within_a_second_and_prints_one_json_line_equal_to_standin_json() {
    let dir = temp_dir("start");
    let t0 = Instant::now();
    let mut child = Command::new(BIN)
        .args(["--state-dir", dir.to_str().unwrap(), "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        let _ = r.read_to_string(&mut rest);
        let _ = tx.send(rest);
    });
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("a JSON line");
    let elapsed = t0.elapsed();
    assert!(elapsed < Duration::from_secs(1), "started in {elapsed:?}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "gmail_api",
        "smtps",
        "smtp_starttls",
        "ca_file",
        "client_id",
        "client_secret",
        "users",
        "mailbox_dir",
        "control",
        "pid",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["pid"], child.id());
    assert!(v["smtps"].as_str().unwrap().starts_with("smtps://127.0.0.1:"));
    assert!(v["smtp_starttls"].as_str().unwrap().starts_with("smtp://127.0.0.1:"));
    assert!(v["token_endpoint"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    assert_eq!(v["users"][0], "erp.test@gmail.com");
    let file = std::fs::read_to_string(dir.join("standin.json")).unwrap();
    assert_eq!(file, line);
    assert!(std::fs::read_to_string(v["ca_file"].as_str().unwrap())
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    // The ports listen.
    let port: u16 = v["smtps"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("smtps listens");

    child.kill().unwrap();
    child.wait().unwrap();
    let rest = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, "", "nothing on stderr without --verbose");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_documents_every_option_of_the_readme() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Command line")
        .nth(1)
        .unwrap()
        .split("### ")
        .next()
        .unwrap();
    let mut n = 0;
    for word in section.split(['`', ' ', '|']) {
        if word.starts_with("--") && word.len() > 2 && word.as_bytes()[2].is_ascii_lowercase() {
            assert!(help.contains(word), "--help lacks {word}");
            n += 1;
        }
    }
    assert!(n >= 14, "found {n} options in the README");
}

#[test]
fn unknown_option_and_missing_state_dir_exit_2_with_a_message() {
    let out = Command::new(BIN)
        .args(["--state-dir", "/tmp/x", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option --bogus"));
    let out = Command::new(BIN).arg("--auto-approve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state-dir"));
}

#[test]
fn readme_settings_table_lists_exactly_the_settings() {
    let s = oauthmail_standin::Standin::start(Default::default()).unwrap();
    let url = format!("{}/settings", s.info().control);
    let port: u16 = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::Write;
    c.write_all(b"GET /settings HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut live: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    live.sort();
    let readme = include_str!("../README.md");
    let table = readme
        .split("### Settings")
        .nth(1)
        .unwrap()
        .split("###")
        .next()
        .unwrap();
    let mut documented: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    documented.sort();
    assert_eq!(documented, live);
}
