//! Upload progress for the host (`oauthmail_client_set_progress`): a callback told how many bytes
//! of the message went out, at most about ten times a second, on the thread that called send.
//!
//! The [`Reporter`] asks the callback once more just before the last piece of the data (the end
//! of the HTTP body, the SMTP data's final `.`): a "stop" then cancels the send while the provider
//! cannot have the whole message yet, so nothing is delivered.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// `(bytes_done, bytes_total)`; returns `true` to go on, `false` to cancel the send.
pub type Progress = dyn Fn(u64, u64) -> bool + Send + Sync;

/// The least time between two calls, except the one before the final piece and the last one.
const EVERY: Duration = Duration::from_millis(100);

/// One upload's reporting.
pub(crate) struct Reporter<'a> {
    callback: Option<&'a Progress>,
    total: u64,
    last: Option<Instant>,
    stopped: bool,
}

impl<'a> Reporter<'a> {
    pub fn new(callback: Option<&'a Progress>, total: u64) -> Reporter<'a> {
        Reporter {
            callback,
            total,
            last: None,
            stopped: false,
        }
    }

    /// Before sending the bytes after `done`; `last_piece` when they end the data. Returns
    /// `false` when the callback asked to stop (and from then on).
    pub fn before(&mut self, done: u64, last_piece: bool) -> bool {
        if self.stopped {
            return false;
        }
        let Some(cb) = self.callback else { return true };
        let due = last_piece || self.last.is_none_or(|t| t.elapsed() >= EVERY);
        if !due {
            return true;
        }
        self.last = Some(Instant::now());
        if !cb(done, self.total) {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Whether the callback asked to stop.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// After the last byte went out: `(total, total)`. Too late to cancel; the answer is ignored.
    pub fn finished(&mut self) {
        if let (Some(cb), false) = (self.callback, self.stopped) {
            let _ = cb(self.total, self.total);
        }
    }
}

/// The size of the pieces an upload is read in: small enough for a smooth progress bar, large
/// enough not to matter for speed.
pub(crate) const PIECE: usize = 64 * 1024;

/// A request body that reports progress as the HTTP client reads it, and fails (so the request
/// is abandoned before its end) when the callback asks to stop or the data cannot be read to
/// its end; the data's own failure is kept for the caller ([`ProgressReader::failure`]).
pub(crate) struct ProgressReader<'d, 'r, 'a> {
    data: &'d mut dyn Read,
    len: u64,
    sent: u64,
    reporter: &'r mut Reporter<'a>,
    failure: Option<io::Error>,
}

impl<'d, 'r, 'a> ProgressReader<'d, 'r, 'a> {
    /// `data` must give exactly `len` bytes.
    pub fn new(data: &'d mut dyn Read, len: u64, reporter: &'r mut Reporter<'a>) -> Self {
        ProgressReader {
            data,
            len,
            sent: 0,
            reporter,
            failure: None,
        }
    }

    /// Why the data could not be read to its end, if it could not.
    pub fn failure(&mut self) -> Option<io::Error> {
        self.failure.take()
    }
}

impl Read for ProgressReader<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.sent;
        if left == 0 {
            return Ok(0);
        }
        let want = (left.min(PIECE as u64) as usize).min(buf.len());
        let mut n = 0;
        while n < want {
            match self.data.read(&mut buf[n..want]) {
                Ok(0) => {
                    let e = io::Error::other("the message ended before its announced length");
                    self.failure = Some(io::Error::other(e.to_string()));
                    return Err(e);
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    self.failure = Some(e);
                    return Err(copy);
                }
            }
        }
        if !self.reporter.before(self.sent, n as u64 == left) {
            // Not `Interrupted`: readers retry that.
            return Err(io::Error::other("the progress callback cancelled the send"));
        }
        self.sent += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn calls_are_throttled_the_last_piece_is_always_asked_and_a_stop_sticks() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let cb = move |d: u64, t: u64| {
            log.lock().unwrap().push((d, t));
            true
        };
        let mut r = Reporter::new(Some(&cb), 300);
        assert!(r.before(0, false));
        assert!(r.before(100, false), "throttled, still going on");
        assert!(r.before(200, true));
        r.finished();
        assert_eq!(*seen.lock().unwrap(), [(0, 300), (200, 300), (300, 300)]);

        let stop = |d: u64, _t: u64| d < 200;
        let mut r = Reporter::new(Some(&stop), 300);
        assert!(r.before(0, false));
        assert!(!r.before(200, true));
        assert!(r.stopped() && !r.before(250, true));
        let mut none = Reporter::new(None, 10);
        assert!(none.before(0, true));
    }

    #[test]
    fn the_reader_gives_every_byte_and_fails_before_the_last_piece_on_stop() {
        let data = vec![7u8; PIECE * 2 + 10];
        let ok = |_d: u64, _t: u64| true;
        let mut r = Reporter::new(Some(&ok), data.len() as u64);
        let mut out = Vec::new();
        ProgressReader::new(&mut &data[..], data.len() as u64, &mut r)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);

        let stop_at_end = |d: u64, t: u64| d + 10 < t;
        let mut r = Reporter::new(Some(&stop_at_end), data.len() as u64);
        let mut out = Vec::new();
        let e = ProgressReader::new(&mut &data[..], data.len() as u64, &mut r)
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert_eq!(out.len(), PIECE * 2, "the last piece was never handed over");
    }
}
