//! The store's exclusive lock: a lock file beside the store (`<store>.lock`), locked with `flock`
//! on Unix and `LockFileEx` on Windows (both through the `fs4` crate).
//!
//! The lock guards every read-modify-write of the store, across threads, processes and (on a
//! network share) workstations: `flock` and `LockFileEx` locks belong to an open file, so two
//! opens in one process exclude each other as well as two processes do. The lock file is never
//! deleted: removing it while another process waits on it would let two writers in at once.
//! Waiting is a poll with a short sleep, bounded by a deadline and the call's cancel check, so a
//! process that hangs while holding the lock can never hang its peers for longer than their own
//! timeouts; the operating system releases the lock of a process that dies.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Status};
use crate::hint;

/// How long a waiting call may wait for the lock, and how it learns that it was cancelled.
pub struct Wait<'a> {
    pub deadline: Instant,
    pub check: &'a dyn Fn() -> Result<()>,
}

impl<'a> Wait<'a> {
    pub fn new(timeout: Duration, check: &'a dyn Fn() -> Result<()>) -> Wait<'a> {
        Wait {
            deadline: Instant::now() + timeout,
            check,
        }
    }
}

/// First and longest pause between two tries: short at first (a refresh under the lock takes a
/// few hundred milliseconds; a save a few), never longer than the cancel poll.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const LONGEST_PAUSE: Duration = crate::cancel::POLL;

/// Holds the lock until dropped (closing the file releases it).
#[derive(Debug)]
pub(crate) struct Held {
    file: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

pub(crate) fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    store.with_file_name(name)
}

/// Takes the store's lock, waiting at most until `wait.deadline`.
pub(crate) fn acquire(store: &Path, wait: &Wait) -> Result<Held> {
    let path = lock_path(store);
    let file =
        open_lock_file(&path).map_err(|e| super::io_error(&path, "open the lock file", &e, &hint::STORE_WRITE))?;
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        (wait.check)()?;
        // Called as fs4's, not std's `File::try_lock` (Rust 1.89+, newer than our rust-version).
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => return Ok(Held { file }),
            Err(fs4::TryLockError::WouldBlock) => {}
            Err(fs4::TryLockError::Error(e)) => {
                return Err(super::io_error(&path, "lock the lock file", &e, &hint::STORE_WRITE))
            }
        }
        let now = Instant::now();
        if now >= wait.deadline {
            return Err(Error::new(
                Status::Timeout,
                format!(
                    "another process held the token store's lock ({}) for more than {} ms",
                    path.display(),
                    now.duration_since(started).as_millis()
                ),
            )
            .with_hint(&hint::STORE_LOCKED));
        }
        std::thread::sleep(pause.min(wait.deadline - now));
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    // Write access: LockFileEx needs GENERIC_READ or GENERIC_WRITE, and some NFS clients only
    // grant an exclusive flock on a file opened for writing.
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn store_in(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oauthmail-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("tokens.json")
    }

    fn never(_: ()) -> Result<()> {
        Ok(())
    }

    #[test]
    fn a_second_holder_waits_until_the_deadline_then_times_out() {
        let store = store_in("timeout");
        let ok = || never(());
        let held = acquire(&store, &Wait::new(Duration::from_secs(1), &ok)).unwrap();
        let started = Instant::now();
        let e = acquire(&store, &Wait::new(Duration::from_millis(200), &ok)).unwrap_err();
        let waited = started.elapsed();
        assert_eq!(e.status, Status::Timeout);
        assert_eq!(e.hint, hint::STORE_LOCKED.text);
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        drop(held);
        acquire(&store, &Wait::new(Duration::from_millis(200), &ok)).unwrap();
        assert!(lock_path(&store).ends_with("tokens.json.lock"));
    }

    #[test]
    fn a_waiting_call_stops_when_cancelled() {
        let store = store_in("cancel");
        let ok = || never(());
        let _held = acquire(&store, &Wait::new(Duration::from_secs(1), &ok)).unwrap();
        let cancelled = AtomicBool::new(false);
        let check = || {
            if cancelled.load(Ordering::SeqCst) {
                Err(Error::cancelled())
            } else {
                Ok(())
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(150));
                cancelled.store(true, Ordering::SeqCst);
            });
            let started = Instant::now();
            let e = acquire(&store, &Wait::new(Duration::from_secs(10), &check)).unwrap_err();
            assert_eq!(e.status, Status::Cancelled);
            assert!(started.elapsed() < Duration::from_secs(2));
        });
    }

    #[test]
    fn the_lock_passes_to_a_waiter_when_released() {
        let store = store_in("handover");
        let ok = || never(());
        let held = acquire(&store, &Wait::new(Duration::from_secs(1), &ok)).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| acquire(&store, &Wait::new(Duration::from_secs(5), &ok)).map(|_| Instant::now()));
            std::thread::sleep(Duration::from_millis(100));
            let released = Instant::now();
            drop(held);
            let got = waiter.join().unwrap().unwrap();
            assert!(got >= released);
        });
    }
}
