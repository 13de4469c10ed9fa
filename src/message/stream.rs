//! A message written as it is read: the headers and small parts from memory, the base64 of every
//! path attachment encoded from its file in chunks while the transport sends it. So a 25 MB
//! attachment is never held in memory (not as file bytes, not as base64, not inside the finished
//! message); a send holds one chunk of it (about 64 KiB of file, 87 KiB of base64).
//!
//! All or nothing: [`super::prepare`] opens every file, checks it is a regular file and takes its
//! size (the encoded length, and so the `Content-Length` of an upload, is computed from it) before
//! anything touches the network. While the file is read, it must give exactly that many bytes and
//! still have the size and modification time it had then; otherwise the read fails, and the
//! transports abandon the data before its end (SMTP: the connection is dropped without the final
//! `.`; HTTP: the body ends short of its `Content-Length`), so nothing is delivered. A file
//! attachment is never the end of a message (the closing MIME boundary follows it), so the check
//! at its end always comes before the message's last byte.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::time::SystemTime;

use base64::Engine as _;

/// Base64 body lines: 76 characters (57 bytes), CRLF between them, none after the last: what
/// lettre writes for a base64 body (RFC 2045 §6.8).
const LINE_BYTES: usize = 57;
const LINE_CHARS: usize = 76;
/// File bytes encoded at a time: whole lines, about 64 KiB.
const CHUNK_LINES: usize = 1150;

/// One path attachment: the open file, checked when the message was prepared.
#[derive(Debug)]
pub(crate) struct FileBody {
    file: File,
    path: String,
    size: u64,
    modified: Option<SystemTime>,
}

impl FileBody {
    /// Takes an open regular file whose size was checked.
    pub(super) fn new(file: File, path: &str) -> io::Result<FileBody> {
        let meta = file.metadata()?;
        Ok(FileBody {
            modified: meta.modified().ok(),
            size: meta.len(),
            file,
            path: path.to_string(),
        })
    }

    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// The length of the base64 lines for this file.
    pub(super) fn encoded_len(&self) -> u64 {
        encoded_len(self.size)
    }

    fn changed(&self, what: &str) -> io::Error {
        io::Error::other(format!(
            "the attachment '{}' {what} while it was being sent; the send was abandoned before the end of the message, so nothing was delivered",
            self.path
        ))
    }
}

/// What email_encoding's base64 body encoder writes for `n` bytes.
pub(super) fn encoded_len(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let chars = n.div_ceil(3) * 4;
    let lines = n.div_ceil(LINE_BYTES as u64);
    chars + (lines - 1) * 2
}

/// A borrowed piece, in the order a reader gives them.
#[derive(Clone, Copy)]
pub(super) enum Source<'m> {
    Bytes(&'m [u8]),
    File(&'m FileBody),
}

/// The bytes of a prepared message for one transport, in order, encoding file attachments as
/// they are read. A read error (the file failed, shrank, grew or changed) ends the message short:
/// the transport must then not finish the data.
pub struct MessageReader<'m> {
    sources: Vec<Source<'m>>,
    at: usize,
    offset: usize,
    file: Option<FileStream>,
    len: u64,
    /// Set by the first failure: the message can only end short from then on.
    failed: bool,
}

impl std::fmt::Debug for MessageReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'m> MessageReader<'m> {
    pub(super) fn new(sources: Vec<Source<'m>>) -> MessageReader<'m> {
        let len = sources
            .iter()
            .map(|s| match s {
                Source::Bytes(b) => b.len() as u64,
                Source::File(f) => f.encoded_len(),
            })
            .sum();
        MessageReader {
            sources,
            at: 0,
            offset: 0,
            file: None,
            len,
            failed: false,
        }
    }

    /// How many bytes the whole message is: the `Content-Length` of an upload.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The state of the file being encoded.
struct FileStream {
    raw: Vec<u8>,
    out: Vec<u8>,
    out_at: usize,
    read: u64,
    first_line: bool,
    finished: bool,
}

impl FileStream {
    fn start(body: &FileBody) -> io::Result<FileStream> {
        (&body.file).seek(SeekFrom::Start(0))?;
        Ok(FileStream {
            raw: vec![0; LINE_BYTES * CHUNK_LINES],
            out: Vec::with_capacity((LINE_CHARS + 2) * CHUNK_LINES),
            out_at: 0,
            read: 0,
            first_line: true,
            finished: false,
        })
    }

    /// Reads and encodes the next chunk; at the end of the file, checks it is still what it was.
    fn refill(&mut self, body: &FileBody) -> io::Result<()> {
        self.out.clear();
        self.out_at = 0;
        let want = (body.size - self.read).min(self.raw.len() as u64) as usize;
        if want == 0 {
            let mut extra = [0u8; 1];
            let grew = loop {
                match (&body.file).read(&mut extra) {
                    Ok(n) => break n > 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_failed(body, e)),
                }
            };
            let meta = body.file.metadata().map_err(|e| read_failed(body, e))?;
            if grew || meta.len() != body.size {
                return Err(body.changed("changed its size"));
            }
            if meta.modified().ok() != body.modified {
                return Err(body.changed("was modified"));
            }
            self.finished = true;
            return Ok(());
        }
        let mut filled = 0;
        while filled < want {
            match (&body.file).read(&mut self.raw[filled..want]) {
                Ok(0) => return Err(body.changed("became shorter")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_failed(body, e)),
            }
        }
        self.read += want as u64;
        let mut line = [0u8; LINE_CHARS];
        for chunk in self.raw[..want].chunks(LINE_BYTES) {
            if !self.first_line {
                self.out.extend_from_slice(b"\r\n");
            }
            self.first_line = false;
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(chunk, &mut line)
                .map_err(io::Error::other)?;
            self.out.extend_from_slice(&line[..n]);
        }
        Ok(())
    }
}

fn read_failed(body: &FileBody, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot read the attachment '{}' ({e}); the send was abandoned before the end of the message, so nothing was delivered",
            body.path
        ),
    )
}

impl Read for MessageReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("the message could not be read to its end"));
        }
        let result = self.read_on(buf);
        self.failed = result.is_err();
        result
    }
}

impl MessageReader<'_> {
    fn read_on(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(source) = self.sources.get(self.at).copied() else {
                return Ok(0);
            };
            match source {
                Source::Bytes(bytes) => {
                    let left = &bytes[self.offset..];
                    if left.is_empty() {
                        self.at += 1;
                        self.offset = 0;
                        continue;
                    }
                    let n = left.len().min(buf.len());
                    buf[..n].copy_from_slice(&left[..n]);
                    self.offset += n;
                    return Ok(n);
                }
                Source::File(body) => {
                    let stream = match &mut self.file {
                        Some(s) => s,
                        None => self
                            .file
                            .insert(FileStream::start(body).map_err(|e| read_failed(body, e))?),
                    };
                    if stream.out_at < stream.out.len() {
                        let left = &stream.out[stream.out_at..];
                        let n = left.len().min(buf.len());
                        buf[..n].copy_from_slice(&left[..n]);
                        stream.out_at += n;
                        return Ok(n);
                    }
                    if stream.finished {
                        self.file = None;
                        self.at += 1;
                        continue;
                    }
                    stream.refill(body)?;
                }
            }
        }
    }
}
