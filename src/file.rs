//! Reading a file the host names (an attachment, a raw message, a CA file) without trusting what
//! the file system says about it: only regular files (a FIFO would block, a device never
//! ends), checked before opening and again on the open handle, and never more than a limit:
//! procfs files report size 0 and hold gigabytes. The reads are whole 64 KiB chunks rather than
//! `take(limit + 1)`, whose odd last read `/proc/self/pagemap` refuses (it reads in 8-byte
//! entries), so at most one chunk past the limit is read before it is refused.

use std::fs::File;
use std::io::{self, Read};

/// Why a bounded read failed.
#[derive(Debug)]
pub(crate) enum FileError {
    /// A FIFO, a device, a directory or a socket.
    NotRegular,
    /// More than the limit: the size the file system reported, or (for files that report less
    /// than they hold) at least `limit + 1`.
    TooLarge(u64),
    Io(io::Error),
}

const CHUNK: usize = 64 * 1024;

/// The whole file at `path`, if it is a regular file of at most `limit` bytes.
pub(crate) fn read_bounded(path: &str, limit: u64) -> Result<Vec<u8>, FileError> {
    let (file, meta) = open_bounded(path, limit)?;
    read_open(file, meta.len(), limit)
}

/// The open file at `path` and what its handle says about it, if it is a regular file that
/// reports at most `limit` bytes (it may hold more: see [`read_open`]).
pub(crate) fn open_bounded(path: &str, limit: u64) -> Result<(File, std::fs::Metadata), FileError> {
    let meta = std::fs::metadata(path).map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular);
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge(meta.len()));
    }
    let file = File::open(path).map_err(FileError::Io)?;
    // The path may have been replaced between the two looks: ask the handle too.
    let meta = file.metadata().map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular);
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge(meta.len()));
    }
    Ok((file, meta))
}

/// The rest of an open file, at most `limit` bytes; `reported` is the size it claims.
pub(crate) fn read_open(file: File, reported: u64, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut file = file;
    let mut bytes = Vec::with_capacity(reported.min(limit) as usize);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::Io(e)),
        };
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() as u64 > limit {
            return Err(FileError::TooLarge(bytes.len() as u64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_or_not_a_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("oauthmail-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ten.bin");
        std::fs::write(&path, [7u8; 10]).unwrap();
        let p = path.to_str().unwrap();
        assert_eq!(read_bounded(p, 10).unwrap(), [7u8; 10]);
        assert!(matches!(read_bounded(p, 9), Err(FileError::TooLarge(10))));
        assert!(matches!(
            read_bounded(dir.to_str().unwrap(), 10),
            Err(FileError::NotRegular)
        ));
        assert!(matches!(read_bounded("/nonexistent/x", 10), Err(FileError::Io(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
