//! Putting a new store file in place so that a crash at any instant leaves the old file or the new
//! one, never a torn mix.
//!
//! The new contents go into a fresh file in the same folder (same file system, so the final step
//! is a rename, not a copy), which is flushed to disk before it replaces the store in one step:
//! `rename(2)` and then an fsync of the folder on Unix (so the rename itself survives a power
//! cut), `MoveFileExW` with `MOVEFILE_WRITE_THROUGH` on Windows. Only a writer holding the store's
//! lock (`lock.rs`) writes, so a temporary file found while holding it is a leftover of a writer
//! that was killed, and [`remove_leftovers`] deletes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files are `.<store file name>.<pid>-<n>.tmp` beside the store.
const TEMP_SUFFIX: &str = ".tmp";

fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    format!(".{name}.")
}

fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    folder(path).join(format!(
        "{}{}-{n}-{nanos}{TEMP_SUFFIX}",
        temp_prefix(path),
        std::process::id()
    ))
}

/// Opens a new file readable and writable by its owner only (0600 on Unix; on Windows the folder's
/// inherited ACL applies, and the contents are DPAPI-protected unless `none` was asked for).
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces the file at `path` with `bytes`, durably and atomically.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let written = (|| {
        let mut file = create_private(&temp)?;
        file.write_all(bytes)?;
        file.flush()?;
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| put_in_place(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(())
}

/// Deletes the temporary files a killed writer left beside `path`. Call only while holding the
/// store's lock: then no live writer owns one. Failures are ignored (a leftover is harmless).
pub(crate) fn remove_leftovers(path: &Path) -> usize {
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(folder(path)) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The temporary files beside `path` (for tests and diagnostics).
pub fn leftovers(path: &Path) -> Vec<PathBuf> {
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(folder(path)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX)
        })
        .map(|e| e.path())
        .collect()
}

#[cfg(unix)]
fn put_in_place(temp: &Path, path: &Path) -> io::Result<()> {
    fs::rename(temp, path)?;
    // The rename is a change to the folder; without this fsync a power cut could bring back the
    // old name (or neither). Opening a folder read-only for fsync is allowed on Linux and macOS.
    File::open(folder(path))?.sync_all()
}

#[cfg(windows)]
fn put_in_place(temp: &Path, path: &Path) -> io::Result<()> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION};
    use windows_sys::Win32::Storage::FileSystem::{MoveFileExW, MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH};

    let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain(Some(0)).collect() };
    let (from, to) = (wide(temp), wide(path));
    // A reader that opened the store without FILE_SHARE_DELETE (a virus scanner, a backup tool)
    // makes the replace fail for a moment: retry briefly, then report it.
    let mut attempt = 0;
    loop {
        // SAFETY: `from` and `to` are NUL-terminated UTF-16 strings that live until the call
        // returns; MoveFileExW only reads them.
        let ok = unsafe {
            MoveFileExW(
                from.as_ptr(),
                to.as_ptr(),
                MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH,
            )
        };
        if ok != 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        let busy = matches!(e.raw_os_error(), Some(c) if c as u32 == ERROR_SHARING_VIOLATION || c as u32 == ERROR_ACCESS_DENIED);
        attempt += 1;
        if !busy || attempt >= 20 {
            return Err(e);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oauthmail-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replace_writes_the_whole_file_and_leaves_no_temporary_file() {
        let d = dir("replace");
        let p = d.join("tokens.json");
        replace(&p, b"first").unwrap();
        replace(&p, b"second, longer").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second, longer");
        assert!(leftovers(&p).is_empty());
        let _ = fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn the_store_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("mode");
        let p = d.join("tokens.json");
        replace(&p, b"{}").unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn leftovers_of_a_killed_writer_are_found_and_removed_but_nothing_else() {
        let d = dir("leftovers");
        let p = d.join("tokens.json");
        replace(&p, b"{}").unwrap();
        fs::write(d.join(".tokens.json.1234-0-0.tmp"), b"torn").unwrap();
        fs::write(d.join(".other.json.1234-0-0.tmp"), b"not ours").unwrap();
        assert_eq!(leftovers(&p).len(), 1);
        assert_eq!(remove_leftovers(&p), 1);
        assert!(leftovers(&p).is_empty());
        assert!(d.join(".other.json.1234-0-0.tmp").exists());
        assert_eq!(fs::read(&p).unwrap(), b"{}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_folder_fails_and_creates_nothing() {
        let d = dir("nofolder");
        let p = d.join("absent").join("tokens.json");
        assert_eq!(replace(&p, b"{}").unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(!d.join("absent").exists());
        let _ = fs::remove_dir_all(&d);
    }
}
