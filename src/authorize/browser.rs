//! Opening the authorization URL in the system browser: `ShellExecuteW` on Windows, `open` on
//! macOS, `$BROWSER` then `xdg-open` elsewhere.
//!
//! The browser is started detached: we never wait for it to exit, its stdio goes to the null
//! device (the library writes nothing to the host's console), and on Unix it gets its own process
//! group so a Ctrl-C in the host's terminal does not close it. A launcher that fails at once
//! (not installed, or exits non-zero within [`unix::SETTLE`]) counts as "not started" and the next
//! candidate is tried; one still running after that, or one that exited 0, counts as started.

use crate::error::{Error, Result, Status};
use crate::hint;

/// Opens `url` in the user's browser; INVALID_ARGUMENT with the no-browser hint when none starts.
pub fn open(url: &str) -> Result<()> {
    check_url(url)?;
    platform::open(url)
}

/// Only an absolute http(s) URL without whitespace or control characters is handed to the OS:
/// `ShellExecuteW` would run a program given a path, and a launcher must never see an option.
fn check_url(url: &str) -> Result<()> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::new(
            Status::InvalidArgument,
            "the authorization URL is not an absolute http(s) URL, so it was not handed to the system browser",
        ));
    }
    Ok(())
}

fn no_browser(tried: &str) -> Error {
    Error::new(
        Status::InvalidArgument,
        format!("no system browser could be started (tried {tried}); give the library a url_opener callback"),
    )
    .with_hint(&hint::NO_BROWSER)
}

#[cfg(unix)]
mod platform {
    use super::unix::{candidates, launch, Launch};
    use crate::error::Result;

    pub fn open(url: &str) -> Result<()> {
        let mut tried = Vec::new();
        for argv in candidates(url, std::env::var("BROWSER").ok().as_deref()) {
            match launch(&argv) {
                Launch::Started => return Ok(()),
                Launch::Failed => tried.push(argv[0].clone()),
            }
        }
        Err(super::no_browser(&if tried.is_empty() {
            "nothing".to_string()
        } else {
            tried.join(", ")
        }))
    }
}

#[cfg(unix)]
mod unix {
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How long a launcher gets to fail before we call it started. `xdg-open` and `open` hand
    /// the URL to a running browser and exit 0 well within this; a missing helper exits non-zero.
    pub const SETTLE: Duration = Duration::from_millis(1500);

    /// Launchers still running when `open` returned; reaped on later calls so no zombie piles up,
    /// without a thread that would outlive the call.
    static RUNNING: Mutex<Vec<Child>> = Mutex::new(Vec::new());

    pub enum Launch {
        Started,
        Failed,
    }

    /// The command lines to try, in order. macOS: `open URL`. Elsewhere: each entry of the
    /// colon-separated `$BROWSER` (an entry holding `%s` gets the URL there, `%%` is a literal `%`;
    /// otherwise the URL is appended, as Python's `webbrowser` and xdg-utils do), then `xdg-open URL`.
    pub fn candidates(url: &str, browser_var: Option<&str>) -> Vec<Vec<String>> {
        if cfg!(target_os = "macos") {
            return vec![vec!["open".to_string(), url.to_string()]];
        }
        let mut out = Vec::new();
        for entry in browser_var.unwrap_or("").split(':') {
            let words = split_words(entry);
            if words.is_empty() {
                continue;
            }
            let has_placeholder = words.iter().any(|w| w.contains("%s"));
            let mut argv: Vec<String> = words.iter().map(|w| substitute(w, url)).collect();
            if !has_placeholder {
                argv.push(url.to_string());
            }
            out.push(argv);
        }
        out.push(vec!["xdg-open".to_string(), url.to_string()]);
        out
    }

    /// `%s` -> the URL, `%%` -> `%`, in one pass (so a `%` inside the URL is left alone).
    fn substitute(word: &str, url: &str) -> String {
        let mut out = String::with_capacity(word.len() + url.len());
        let mut chars = word.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.peek() {
                    Some('s') => {
                        chars.next();
                        out.push_str(url);
                        continue;
                    }
                    Some('%') => {
                        chars.next();
                        out.push('%');
                        continue;
                    }
                    _ => {}
                }
            }
            out.push(c);
        }
        out
    }

    /// Splits a `$BROWSER` entry into words like a POSIX shell would (no expansions): blanks
    /// separate, '…' is literal, "…" allows \" and \\, a backslash outside quotes escapes.
    fn split_words(entry: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut chars = entry.chars();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                '\'' => {
                    in_word = true;
                    for q in chars.by_ref() {
                        if q == '\'' {
                            break;
                        }
                        word.push(q);
                    }
                }
                '"' => {
                    in_word = true;
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => break,
                            '\\' => match chars.next() {
                                Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                                Some(e) => {
                                    word.push('\\');
                                    word.push(e);
                                }
                                None => word.push('\\'),
                            },
                            q => word.push(q),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    if let Some(e) = chars.next() {
                        word.push(e);
                    }
                }
                c => {
                    in_word = true;
                    word.push(c);
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    pub fn launch(argv: &[String]) -> Launch {
        reap();
        let mut child = match Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
        {
            Ok(child) => child,
            Err(_) => return Launch::Failed,
        };
        let deadline = Instant::now() + SETTLE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Launch::Started,
                Ok(Some(_)) | Err(_) => return Launch::Failed,
                Ok(None) if Instant::now() >= deadline => {
                    if let Ok(mut running) = RUNNING.lock() {
                        running.push(child);
                    }
                    return Launch::Started;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn reap() {
        if let Ok(mut running) = RUNNING.lock() {
            running.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn split_words_follows_shell_quoting() {
            assert_eq!(split_words("  firefox  "), vec!["firefox"]);
            assert_eq!(
                split_words("a 'b c' \"d \\\"e\\\"\" f\\ g"),
                vec!["a", "b c", "d \"e\"", "f g"]
            );
            assert_eq!(split_words("''"), vec![""]);
            assert!(split_words("   ").is_empty());
        }

        fn temp_dir(name: &str) -> std::path::PathBuf {
            let dir = std::env::temp_dir().join(format!("oauthmail-browser-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        }

        #[test]
        fn launcher_that_exits_zero_is_started_and_gets_the_url_as_one_argument() {
            let dir = temp_dir("ok");
            let out = dir.join("args");
            let argv = vec![
                "sh".to_string(),
                "-c".to_string(),
                format!("printf '%s|' \"$@\" > '{}'", out.display()),
                "sh".to_string(),
                "http://127.0.0.1:1/?a=1&b=two words".to_string(),
            ];
            assert!(matches!(launch(&argv), Launch::Started));
            assert_eq!(
                std::fs::read_to_string(&out).unwrap(),
                "http://127.0.0.1:1/?a=1&b=two words|"
            );
            let _ = std::fs::remove_dir_all(&dir);
        }

        #[test]
        fn missing_or_failing_launcher_is_not_started() {
            assert!(matches!(
                launch(&["/nonexistent/oauthmail-no-browser".to_string()]),
                Launch::Failed
            ));
            assert!(matches!(
                launch(&["sh".to_string(), "-c".to_string(), "exit 3".to_string()]),
                Launch::Failed
            ));
        }

        #[test]
        fn launcher_still_running_is_started_without_waiting_for_it_to_exit() {
            let t0 = Instant::now();
            let argv = vec!["sleep".to_string(), "30".to_string()];
            assert!(matches!(launch(&argv), Launch::Started));
            let waited = t0.elapsed();
            assert!(
                waited >= SETTLE && waited < SETTLE + Duration::from_secs(5),
                "{waited:?}"
            );
            // Clean up the child we left running (it is in RUNNING).
            let mut running = RUNNING.lock().unwrap();
            for child in running.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            running.clear();
        }

        #[test]
        fn substitute_replaces_placeholder_once_and_keeps_percent_in_url() {
            assert_eq!(substitute("--url=%s", "http://x/?a=%2F"), "--url=http://x/?a=%2F");
            assert_eq!(substitute("100%%", "u"), "100%");
            assert_eq!(substitute("%d", "u"), "%d");
        }
    }
}

#[cfg(windows)]
mod platform {
    use crate::error::Result;

    /// `ShellExecuteW(NULL, "open", url, NULL, NULL, SW_SHOWNORMAL)`, on a short-lived thread of
    /// our own with COM initialised (ShellExecute may delegate to COM shell extensions, and the
    /// host's thread may already be in another apartment); the thread is joined before we return.
    pub fn open(url: &str) -> Result<()> {
        let wide: Vec<u16> = url.encode_utf16().chain(std::iter::once(0)).collect();
        let opened = std::thread::Builder::new()
            .name("oauthmail-browser".into())
            .spawn(move || shell_execute(&wide))
            .ok()
            .and_then(|t| t.join().ok())
            .unwrap_or(false);
        if opened {
            Ok(())
        } else {
            Err(super::no_browser("ShellExecuteW"))
        }
    }

    fn shell_execute(wide_url: &[u16]) -> bool {
        use windows_sys::Win32::System::Com::{
            CoInitializeEx, CoUninitialize, COINIT_APARTMENTTHREADED, COINIT_DISABLE_OLE1DDE,
        };
        use windows_sys::Win32::UI::Shell::ShellExecuteW;
        use windows_sys::Win32::UI::WindowsAndMessaging::SW_SHOWNORMAL;

        const OPEN: [u16; 5] = [b'o' as u16, b'p' as u16, b'e' as u16, b'n' as u16, 0];
        debug_assert_eq!(wide_url.last(), Some(&0));
        // SAFETY: CoInitializeEx takes a reserved NULL pointer and flags; it is balanced by
        // CoUninitialize below on this same thread when it succeeded (S_OK or S_FALSE).
        let com = unsafe {
            CoInitializeEx(
                std::ptr::null(),
                (COINIT_APARTMENTTHREADED | COINIT_DISABLE_OLE1DDE) as _,
            )
        };
        // SAFETY: both strings are NUL-terminated UTF-16 buffers that outlive the call; the other
        // pointers may be NULL per the ShellExecuteW documentation.
        let result = unsafe {
            ShellExecuteW(
                std::ptr::null_mut(),
                OPEN.as_ptr(),
                wide_url.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                SW_SHOWNORMAL,
            )
        };
        if com >= 0 {
            // SAFETY: pairs with the successful CoInitializeEx above, on the same thread.
            unsafe { CoUninitialize() };
        }
        // Documented: a value greater than 32 means success.
        result as usize > 32
    }
}

#[cfg(not(any(unix, windows)))]
mod platform {
    use crate::error::Result;

    pub fn open(_url: &str) -> Result<()> {
        Err(super::no_browser("nothing: no launcher is known on this platform"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_anything_but_an_http_url_without_starting_anything() {
        for bad in [
            "",
            "file:///etc/passwd",
            "C:\\Windows\\notepad.exe",
            "--help",
            "https://x/ y",
            "https://x/\n",
        ] {
            let err = open(bad).unwrap_err();
            assert_eq!(err.status, Status::InvalidArgument, "{bad:?}");
            assert!(!err.message.contains(bad) || bad.is_empty());
        }
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    mod unix_candidates {
        use super::super::unix::candidates;

        const URL: &str = "http://127.0.0.1:9/auth?a=1&b=%2F";

        #[test]
        fn browser_entries_come_first_in_order_then_xdg_open() {
            let c = candidates(URL, Some("firefox:chromium --new-window"));
            assert_eq!(
                c,
                vec![
                    vec!["firefox".to_string(), URL.to_string()],
                    vec!["chromium".to_string(), "--new-window".to_string(), URL.to_string()],
                    vec!["xdg-open".to_string(), URL.to_string()],
                ]
            );
        }

        #[test]
        fn browser_entry_with_placeholder_gets_the_url_there_and_no_extra_argument() {
            let c = candidates(URL, Some("my-browser --open=%s --x=100%%"));
            assert_eq!(
                c[0],
                vec![
                    "my-browser".to_string(),
                    format!("--open={URL}"),
                    "--x=100%".to_string()
                ]
            );
        }

        #[test]
        fn empty_browser_entries_are_skipped_and_unset_means_xdg_open_only() {
            assert_eq!(
                candidates(URL, Some("::  :")),
                vec![vec!["xdg-open".to_string(), URL.to_string()]]
            );
            assert_eq!(
                candidates(URL, None),
                vec![vec!["xdg-open".to_string(), URL.to_string()]]
            );
        }
    }
}
