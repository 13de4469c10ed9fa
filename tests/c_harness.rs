//! The C harness (`tests/c/`), driven by `cargo test`: real C compiled with
//! `-std=c11 -Wall -Wextra -Werror` against `include/oauthmail.h`, run against the local Google
//! stand-in, plus the ABI checks that need no C compiler (symbols, header version macros).
//!
//! How it is built (the robust way we found; see README "Tests"):
//! - `cargo test` itself builds this crate's cdylib into `<target>/debug/deps/liboauthmail.so`:
//!   that is the real library, whose exported symbols are checked here.
//! - The harness links a second build of the library made with the `test-hooks` feature (one
//!   extra export, `oauthmail_test_panic`, to reach OAUTHMAIL_INTERNAL), together with the
//!   stand-in binary, by a nested `cargo build` into `<target>/c-harness`. A separate target dir
//!   keeps the two library variants from overwriting each other's `liboauthmail.so`, and its own
//!   lock means the nested cargo never waits for the outer one.
//! - The harness is linked with an rpath to that library, so no LD_LIBRARY_PATH is needed.
//!
//! `OAUTHMAIL_C_CHECK` picks how the harness runs: unset or `plain`, `asan` (compiled with
//! `-fsanitize=address`, leak detection on) or `valgrind` (memcheck, definite leaks are errors).
//! scripts/test.d/30-c-sanitizers.sh runs the last two.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>`: this test binary lives in `<target>/debug/deps/`.
fn target_dir() -> PathBuf {
    let exe = env::current_exe().expect("the test binary knows its path");
    exe.ancestors().nth(3).expect("<target>/debug/deps/<exe>").to_path_buf()
}

fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs `cmd` to completion within `limit`, returning (success, stdout+stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default()
    );
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("{text}\n*** killed after {limit:?}")),
    }
}

/// The library with `test-hooks` and the stand-in, built into `<target>/c-harness`.
fn build_harness_deps() -> PathBuf {
    let dir = target_dir().join("c-harness");
    let (ok, log) = run_bounded(
        Command::new(cargo())
            .current_dir(root())
            .env("CARGO_TARGET_DIR", &dir)
            .args([
                "build",
                "-p",
                "oauthmail",
                "-p",
                "oauthmail-standin",
                "--features",
                "oauthmail/test-hooks",
            ]),
        Duration::from_secs(900),
    );
    assert!(ok, "building the test-hooks library and the stand-in failed:\n{log}");
    dir.join("debug")
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Plain,
    Asan,
    Valgrind,
}

fn mode() -> Mode {
    match env::var("OAUTHMAIL_C_CHECK").as_deref() {
        Err(_) | Ok("") | Ok("plain") => Mode::Plain,
        Ok("asan") => Mode::Asan,
        Ok("valgrind") => Mode::Valgrind,
        Ok(other) => panic!("OAUTHMAIL_C_CHECK={other}: want plain, asan or valgrind"),
    }
}

fn compile_harness(lib_dir: &Path, mode: Mode) -> PathBuf {
    let out_dir = target_dir().join("c-harness").join(format!("{mode:?}").to_lowercase());
    fs::create_dir_all(&out_dir).expect("create the harness build dir");
    let exe = out_dir.join("harness");
    let c = root().join("tests/c");
    let mut cmd = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        // What the version test compares with, from Cargo.toml read here: not from the header
        // build.rs has just written from the same values.
        .arg(format!("-DOAUTHMAIL_EXPECTED_VERSION=\"{}\"", manifest_version()))
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(&c)
        .arg(c.join("harness.c"))
        .arg(c.join("support.c"))
        .arg("-o")
        .arg(&exe);
    if mode == Mode::Asan {
        cmd.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    cmd.arg("-L")
        .arg(lib_dir)
        .arg("-loauthmail")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lpthread");
    let (ok, log) = run_bounded(&mut cmd, Duration::from_secs(120));
    assert!(
        ok,
        "the C harness does not compile cleanly with -Wall -Wextra -Werror:\n{log}"
    );
    exe
}

/// The stand-in as a child process; killed on drop.
struct Standin {
    child: Child,
    json_path: PathBuf,
}

impl Standin {
    fn start(bin: &Path, state_dir: &Path) -> Standin {
        let _ = fs::remove_dir_all(state_dir);
        fs::create_dir_all(state_dir).expect("create the stand-in state dir");
        let mut child = Command::new(bin)
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--auto-approve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut standin = Standin {
            child,
            json_path: state_dir.join("standin.json"),
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.trim_start().starts_with('{') => standin,
            Ok(line) => {
                let _ = standin.child.kill();
                panic!("the stand-in printed {line:?} instead of its JSON line");
            }
            Err(_) => {
                let _ = standin.child.kill();
                panic!("the stand-in did not print its JSON line within 60 s");
            }
        }
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn c_harness_passes_every_check_against_the_standin() {
    let mode = mode();
    let lib_dir = build_harness_deps();
    let exe = compile_harness(&lib_dir, mode);
    let run_dir = target_dir()
        .join("c-harness")
        .join(format!("run-{}", format!("{mode:?}").to_lowercase()));
    let standin = Standin::start(&lib_dir.join("oauthmail-standin"), &run_dir.join("standin"));
    let work = run_dir.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("create the work dir");

    let mut cmd = match mode {
        Mode::Plain | Mode::Asan => Command::new(&exe),
        Mode::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--quiet",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite",
                "--error-exitcode=99",
                "--num-callers=30",
            ])
            .arg(format!(
                "--suppressions={}",
                root().join("tests/c/valgrind.supp").display()
            ))
            .arg(&exe);
            c
        }
    };
    cmd.arg(&standin.json_path).arg(&work);
    // cargo test puts <target>/debug/deps on LD_LIBRARY_PATH, which outranks the harness's
    // RUNPATH: without this the harness would load the real library (no test hook) instead.
    cmd.env_remove("LD_LIBRARY_PATH");
    if mode == Mode::Asan {
        // detect_leaks: LeakSanitizer at exit covers the library's allocations too (the Rust
        // code's malloc/free go through ASan's interceptors even though the .so is not
        // instrumented). abort_on_error=0 + exitcode: a clean non-zero exit we can report.
        cmd.env(
            "ASAN_OPTIONS",
            "detect_leaks=1:exitcode=98:abort_on_error=0:strict_string_checks=1",
        );
    }
    if mode == Mode::Valgrind {
        // The 25 MB Graph upload is about a minute under memcheck; 4 MB takes the same path
        // (a JSON draft and an upload session of two chunks, one resumed) in a few seconds.
        cmd.env("OAUTHMAIL_C_BIG_MB", "4");
    }
    let limit = if mode == Mode::Valgrind { 600 } else { 300 };
    let started = Instant::now();
    let (ok, output) = run_bounded(&mut cmd, Duration::from_secs(limit));
    println!("{output}");
    println!("C harness ({mode:?}) took {:.1} s", started.elapsed().as_secs_f64());
    drop(standin);
    let summary = output
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed") && l.contains(" passed, "))
        .unwrap_or("(no summary line)");
    assert!(ok, "the C harness ({mode:?}) failed: {summary}\n{output}");
    assert!(summary.ends_with(" 0 failed"), "C harness summary: {summary}");
    let passed: u32 = summary.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(passed >= 30, "only {passed} C tests ran: {summary}");
}

/// The functions include/oauthmail.h declares.
fn header_functions() -> Vec<String> {
    let header = fs::read_to_string(root().join("include/oauthmail.h")).expect("read the header");
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| !l.trim_start().starts_with('*') && !l.trim_start().starts_with("/*"))
        .filter_map(|l| {
            let open = l.find('(')?;
            let before = l[..open].trim_end();
            let name = before.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
            name.starts_with("oauthmail_").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn exported_symbols(lib: &Path) -> Vec<String> {
    let (ok, out) = run_bounded(
        Command::new("nm").args(["-D", "--defined-only"]).arg(lib),
        Duration::from_secs(60),
    );
    assert!(ok, "nm -D {} failed: {out}", lib.display());
    let mut syms: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    syms.sort();
    syms
}

#[test]
fn real_library_exports_exactly_the_header_functions_all_prefixed() {
    // `cargo test` builds this crate's cdylib for the test run into <target>/debug/deps (it uplifts
    // it to <target>/debug only on `cargo build`), so that is the fresh copy.
    let lib = target_dir().join("debug").join("deps").join("liboauthmail.so");
    assert!(
        lib.exists(),
        "{} is missing: cargo test builds it with this crate",
        lib.display()
    );
    let syms = exported_symbols(&lib);
    let bad: Vec<&String> = syms.iter().filter(|s| !s.starts_with("oauthmail_")).collect();
    assert!(
        bad.is_empty(),
        "exported symbols without the oauthmail_ prefix: {bad:?}"
    );
    let header = header_functions();
    assert!(header.len() >= 12, "the header parse found only {header:?}");
    assert_eq!(syms, header, "exported symbols differ from the header's functions");
    assert!(
        !syms.iter().any(|s| s == "oauthmail_test_panic"),
        "the test hook leaked into the real library"
    );
}

/// `[package] version` of Cargo.toml, read from the file itself.
fn manifest_version() -> String {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    manifest
        .split("[package]")
        .nth(1)
        .and_then(|pkg| pkg.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .expect("Cargo.toml has a package version")
        .trim_matches('"')
        .to_string()
}

/// The header as committed (`git show HEAD:include/oauthmail.h`), which build.rs cannot have
/// written in this build: its version macros must be Cargo.toml's too, so a version bump
/// without the regenerated header committed fails here (and the header diff of 10-rust.sh
/// catches any other change).
#[test]
fn committed_header_version_macros_equal_cargo_toml_version() {
    let out = Command::new("git")
        .current_dir(root())
        .args(["show", "HEAD:include/oauthmail.h"])
        .output()
        .expect("git runs (the tests run in a git checkout)");
    assert!(
        out.status.success(),
        "git show HEAD:include/oauthmail.h failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = String::from_utf8(out.stdout).expect("the header is UTF-8");
    let define = |name: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} is not defined in the committed header"))
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let version = manifest_version();
    let mut parts = version.split('.');
    assert_eq!(define("OAUTHMAIL_VERSION_MAJOR"), parts.next().unwrap_or_default());
    assert_eq!(define("OAUTHMAIL_VERSION_MINOR"), parts.next().unwrap_or_default());
    assert_eq!(define("OAUTHMAIL_VERSION_PATCH"), parts.next().unwrap_or_default());
    assert_eq!(define("OAUTHMAIL_VERSION_STRING"), version);
}

#[test]
fn header_version_macros_equal_cargo_toml_version() {
    let header = fs::read_to_string(root().join("include/oauthmail.h")).expect("read the header");
    let define = |name: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} is not defined in the header"))
            .trim()
            .trim_matches('"')
            .to_string()
    };
    // Read Cargo.toml itself rather than trusting env!() alone: the header must follow the file.
    let manifest = fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let version = manifest
        .split("[package]")
        .nth(1)
        .and_then(|pkg| pkg.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .expect("Cargo.toml has a package version")
        .trim_matches('"')
        .to_string();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let mut parts = version.split('.');
    assert_eq!(define("OAUTHMAIL_VERSION_MAJOR"), parts.next().unwrap_or_default());
    assert_eq!(define("OAUTHMAIL_VERSION_MINOR"), parts.next().unwrap_or_default());
    assert_eq!(define("OAUTHMAIL_VERSION_PATCH"), parts.next().unwrap_or_default());
    assert_eq!(define("OAUTHMAIL_VERSION_STRING"), version);
}
