//! One SMTP client connection over a socket this crate owns, so that every blocking step can be
//! cancelled: the socket is non-blocking, and reads and writes wait through
//! [`crate::net::when_ready`], which waits for the socket to be ready and looks at the call's
//! cancel flag at least every [`crate::cancel::POLL`]. (lettre's `SmtpConnection` owns its
//! socket; a read it is blocked in ends only when its timeout does, so a cancel could take up to
//! `timeouts.io_s`.)
//!
//! It speaks what a submission client needs and no more: connect, TLS (from the first byte or
//! after STARTTLS), EHLO, one command line and its reply, and the message data with its dots
//! doubled (RFC 5321 §4.5.2). What the replies mean is for [`super`] to decide.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::cancel::Call;
use crate::net::{self, Interest, Pollable, Waited};
use crate::tls;

/// The longest reply line and reply accepted (RFC 5321 §4.5.3.1.5 allows 512 octets a line;
/// EHLO replies run longer in practice). A server that sends more is not speaking SMTP.
const MAX_LINE: usize = 8 * 1024;
const MAX_REPLY: usize = 64 * 1024;
/// The message data goes out through a buffer of this size (dots doubled on the way).
const DATA_CHUNK: usize = 64 * 1024;

/// A server reply: its code and the text of each line, without the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The lines joined with spaces: `5.7.8 Username and Password not accepted. ...`.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The first word of the first line (a 334 challenge's base64).
    pub fn first_word(&self) -> Option<&str> {
        self.lines.first()?.split_whitespace().next()
    }
}

/// Why a step ended without a reply. The connection is unusable afterwards.
#[derive(Debug)]
pub(crate) enum Broken {
    Cancelled,
    /// `timeouts.connect_s` (while connecting) or `timeouts.io_s` (a read or write) ran out.
    Timeout,
    /// The server closed the connection.
    Closed,
    /// Bytes that are not an SMTP reply.
    Garbage(&'static str),
    /// A socket or TLS failure (a rustls error comes as `InvalidData` with it inside).
    Io(io::Error),
    /// The server's certificate was rejected; the error names its subject and issuer.
    Certificate(crate::error::Error),
    /// The progress callback stopped the data before its final `.`.
    Stopped,
    /// The message could not be read to its end (an attachment failed or changed): the data
    /// was broken off before its final `.`.
    Source(io::Error),
}

impl From<Waited> for Broken {
    fn from(w: Waited) -> Self {
        match w {
            Waited::Cancelled => Broken::Cancelled,
            Waited::TimedOut => Broken::Timeout,
            Waited::Failed(e) => Broken::Io(e),
        }
    }
}

/// How long a step may wait: until a fixed instant (the whole connect phase), or `io` from the
/// last progress (each read or write after that).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Limit {
    Until(Instant),
    Each(Duration),
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

pub(crate) struct Session {
    /// `None` only while STARTTLS swaps the plain stream for the TLS one.
    stream: Option<Stream>,
    /// Bytes read but not yet part of a reply.
    inbox: Vec<u8>,
    /// EHLO keywords, upper case (`STARTTLS`, `SMTPUTF8`, `8BITMIME`, `AUTH`, ...).
    extensions: Vec<String>,
    broken: bool,
}

impl Pollable for Stream {
    /// Under TLS, whatever the caller does, rustls first sends the records it has queued
    /// (`complete_io`, and `StreamOwned` before each read, write and flush), so an attempt that
    /// would block with records queued is stuck on writing; with none queued it is stuck on
    /// reading (a handshake waiting for the server, a read waiting for a record).
    fn wait_on(&self, asked: Interest) -> (&TcpStream, Interest) {
        match self {
            Stream::Plain(s) => (s, asked),
            Stream::Tls(t) if t.conn.wants_write() => (&t.sock, Interest::Writable),
            Stream::Tls(t) => (&t.sock, Interest::Readable),
        }
    }
}

/// Runs the non-blocking `op` until it makes progress, `deadline` passes or the call is
/// cancelled ([`crate::net`] says why non-blocking); `asked` is what `op` needs of a plain
/// socket. rustls keeps a partly read or written record and carries on with the next attempt,
/// so nothing is lost between attempts.
fn when_ready<T>(
    stream: &mut Stream,
    asked: Interest,
    call: &Call,
    deadline: Instant,
    op: impl FnMut(&mut Stream) -> io::Result<T>,
) -> Result<T, Broken> {
    net::when_ready(stream, asked, Some(deadline), || call.is_cancelled(), op).map_err(Broken::from)
}

impl Limit {
    fn deadline(self) -> Instant {
        match self {
            Limit::Until(at) => at,
            Limit::Each(d) => Instant::now() + d,
        }
    }
}

impl Session {
    /// A TCP connection to `host:port` by `deadline` (DNS by the OS resolver, then each address
    /// with an equal share of what is left).
    pub fn connect(call: &Call, host: &str, port: u16, deadline: Instant) -> Result<Session, Broken> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| {
                Broken::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} was not found (DNS): {e}"),
                ))
            })?
            .take(16)
            .collect();
        let tcp = net::connect(&addrs, Some(deadline), &|| call.is_cancelled())?;
        Ok(Session {
            stream: Some(Stream::Plain(tcp)),
            inbox: Vec::new(),
            extensions: Vec::new(),
            broken: false,
        })
    }

    /// The TLS handshake, with `host`'s certificate checked by `config`'s verifier.
    pub fn start_tls(
        &mut self,
        call: &Call,
        config: &Arc<ClientConfig>,
        host: &str,
        deadline: Instant,
    ) -> Result<(), Broken> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            Broken::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the host is not a valid TLS server name",
            ))
        })?;
        let conn = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| Broken::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            self.broken = true;
            return Err(Broken::Garbage("STARTTLS on a connection that is already encrypted"));
        };
        let mut stream = Stream::Tls(Box::new(StreamOwned::new(conn, tcp)));
        // The verifier records a rejected certificate for this thread; the scope starts afresh.
        let _capture = tls::Capture::begin();
        let result = when_ready(&mut stream, Interest::Readable, call, deadline, |s| match s {
            Stream::Tls(t) => {
                while t.conn.is_handshaking() {
                    t.conn.complete_io(&mut t.sock)?;
                }
                Ok(())
            }
            Stream::Plain(_) => Ok(()),
        })
        .map_err(|e| match tls::rejection(host) {
            Some(named) => Broken::Certificate(named),
            None => e,
        });
        self.stream = Some(stream);
        self.fail_on_error(result)
    }

    /// Whether the TLS handshake resumed a session from the client's TLS configuration's cache
    /// (rustls' in-memory session store, shared by every connection of the client, HTTPS and
    /// SMTP alike): no certificate chain was sent or verified.
    pub fn tls_resumed(&self) -> bool {
        match &self.stream {
            Some(Stream::Tls(t)) => t.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            _ => false,
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    /// Whether a step failed in transport; such a connection is not used again.
    pub fn has_broken(&self) -> bool {
        self.broken
    }

    /// Whether the last EHLO announced `keyword` (upper case).
    pub fn supports(&self, keyword: &str) -> bool {
        self.extensions.iter().any(|e| e == keyword)
    }

    /// `EHLO`; a 250 reply's keywords become what [`Session::supports`] knows.
    pub fn ehlo(&mut self, call: &Call, hello: &str, limit: Limit) -> Result<Reply, Broken> {
        let reply = self.command(call, &format!("EHLO {hello}\r\n"), limit)?;
        if reply.code == 250 {
            self.extensions = reply
                .lines
                .iter()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_ascii_uppercase)
                .collect();
        }
        Ok(reply)
    }

    /// Writes one command line (with its CRLF) and reads the reply.
    pub fn command(&mut self, call: &Call, line: &str, limit: Limit) -> Result<Reply, Broken> {
        self.write_all(call, line.as_bytes(), limit)?;
        self.read_reply(call, limit)
    }

    /// Writes command lines (each with its CRLF) in one go, without reading: a pipelined group
    /// (RFC 2920) whose replies the caller then reads with [`Session::read_reply`].
    pub fn write_commands(&mut self, call: &Call, lines: &str, limit: Limit) -> Result<(), Broken> {
        self.write_all(call, lines.as_bytes(), limit)
    }

    /// Writes the message data, dots doubled at line starts, and the final `.`: once this returns
    /// `Ok`, the server may deliver the message. `data` has CRLF line endings and is read as it
    /// goes out, in pieces of [`DATA_CHUNK`] through one buffer, never as a copy of the message;
    /// `shape` says what it holds (for the progress total). When `data` fails, or gives other
    /// than `shape.len` bytes, the connection is broken off before the final `.`
    /// ([`Broken::Source`]): the server never delivers a message cut short.
    ///
    /// With `progress`, the callback is told how far (at most about ten times a second) and asked
    /// once more before the last piece, the one with the final `.`; a stop then ends the data
    /// there ([`Broken::Stopped`]) and the server never delivers it.
    pub fn send_data(
        &mut self,
        call: &Call,
        data: &mut dyn Read,
        shape: DataShape,
        limit: Limit,
        progress: Option<&crate::progress::Progress>,
    ) -> Result<(), Broken> {
        let total = shape.len + shape.dots + if shape.needs_crlf { 2 } else { 0 } + 3;
        let mut reporter = crate::progress::Reporter::new(progress, total);
        let mut out = Vec::with_capacity(DATA_CHUNK + 8);
        let mut input = vec![0u8; DATA_CHUNK];
        let mut done = 0u64;
        let mut read = 0u64;
        let mut line_start = true;
        loop {
            let n = match data.read(&mut input) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.broken = true;
                    return Err(Broken::Source(e));
                }
            };
            read += n as u64;
            for &b in &input[..n] {
                if line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                line_start = b == b'\n';
                if out.len() >= DATA_CHUNK {
                    if !reporter.before(done, false) {
                        self.broken = true;
                        return Err(Broken::Stopped);
                    }
                    self.write_some(call, &out, limit)?;
                    done += out.len() as u64;
                    out.clear();
                }
            }
        }
        if read != shape.len {
            self.broken = true;
            return Err(Broken::Source(io::Error::other(format!(
                "the message gave {read} bytes where {} were prepared; nothing was delivered",
                shape.len
            ))));
        }
        if shape.needs_crlf {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        if !reporter.before(done, true) {
            self.broken = true;
            return Err(Broken::Stopped);
        }
        self.write_all(call, &out, limit)?;
        reporter.finished();
        Ok(())
    }

    /// Reads one (possibly multi-line) reply.
    pub fn read_reply(&mut self, call: &Call, limit: Limit) -> Result<Reply, Broken> {
        let mut lines = Vec::new();
        let mut code = 0;
        let mut size = 0;
        loop {
            let line = self.read_line(call, limit)?;
            size += line.len();
            let (c, last, text) = parse_line(&line).ok_or_else(|| self.garbage("not an SMTP reply"))?;
            if !lines.is_empty() && c != code {
                return Err(self.garbage("the lines of a reply disagree on the code"));
            }
            if size > MAX_REPLY {
                return Err(self.garbage("the reply is too long"));
            }
            code = c;
            lines.push(text);
            if last {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// `QUIT`, waiting for its reply until `until` at the latest, then closes: for connections
    /// whose last exchange worked.
    pub fn quit(mut self, until: Instant) {
        let _ = self.command(&Call::detached(), "QUIT\r\n", Limit::Until(until));
    }

    fn garbage(&mut self, what: &'static str) -> Broken {
        self.broken = true;
        Broken::Garbage(what)
    }

    fn fail_on_error<T>(&mut self, result: Result<T, Broken>) -> Result<T, Broken> {
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn read_line(&mut self, call: &Call, limit: Limit) -> Result<String, Broken> {
        loop {
            if let Some(end) = self.inbox.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.inbox.drain(..end + 2).take(end).collect();
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.inbox.len() > MAX_LINE {
                return Err(self.garbage("a reply line is too long"));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(self.garbage("no connection"));
            };
            let mut chunk = [0u8; 4096];
            let result = when_ready(stream, Interest::Readable, call, limit.deadline(), |s| {
                s.read(&mut chunk)
            });
            match self.fail_on_error(result)? {
                0 => {
                    self.broken = true;
                    return Err(Broken::Closed);
                }
                n => self.inbox.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Writes all of `data` without the final flush (more follows).
    fn write_some(&mut self, call: &Call, mut data: &[u8], limit: Limit) -> Result<(), Broken> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(self.garbage("no connection"));
        };
        let mut result = Ok(());
        while !data.is_empty() {
            match when_ready(stream, Interest::Writable, call, limit.deadline(), |s| s.write(data)) {
                Ok(0) => result = Err(Broken::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => data = &data[n..],
                Err(e) => result = Err(e),
            }
            if result.is_err() {
                break;
            }
        }
        self.fail_on_error(result)
    }

    fn write_all(&mut self, call: &Call, data: &[u8], limit: Limit) -> Result<(), Broken> {
        self.write_some(call, data, limit)?;
        let Some(stream) = self.stream.as_mut() else {
            return Err(self.garbage("no connection"));
        };
        let result = when_ready(stream, Interest::Writable, call, limit.deadline(), |s| s.flush());
        self.fail_on_error(result)
    }
}

/// What [`Session::send_data`] is about to read: its length, how many of its lines start with a
/// dot (doubled on the wire), and whether it needs a CRLF before the final `.`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DataShape {
    pub len: u64,
    pub dots: u64,
    pub needs_crlf: bool,
}

impl DataShape {
    #[cfg(test)]
    pub fn of(data: &[u8]) -> DataShape {
        DataShape {
            len: data.len() as u64,
            dots: dots_to_double(data) as u64,
            needs_crlf: !data.is_empty() && !data.ends_with(b"\r\n"),
        }
    }
}

/// How many dots [`Session::send_data`] doubles: one for each line that starts with `.`.
#[cfg(test)]
fn dots_to_double(data: &[u8]) -> usize {
    let mut count = 0;
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            count += 1;
        }
        line_start = b == b'\n';
    }
    count
}

/// `250-8BITMIME` -> (250, false, "8BITMIME"); `250 OK` -> (250, true, "OK"); `354` -> last.
fn parse_line(line: &str) -> Option<(u16, bool, String)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&b[0]) {
        return None;
    }
    let code = line[..3].parse().ok()?;
    match b.get(3) {
        None => Some((code, true, String::new())),
        Some(b' ') => Some((code, true, line[4..].to_string())),
        Some(b'-') => Some((code, false, line[4..].to_string())),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A plain session with a scripted server on the other end.
    fn pair(script: impl FnOnce(TcpStream) + Send + 'static) -> (Session, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || script(l.accept().unwrap().0));
        let s = Session::connect(
            &Call::detached(),
            "127.0.0.1",
            port,
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
        (s, server)
    }

    const SHORT: Limit = Limit::Each(Duration::from_secs(5));

    #[test]
    fn replies_are_parsed_across_reads_and_lines() {
        let (mut s, server) = pair(|mut t| {
            t.write_all(b"220 hi\r\n250-first\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(120));
            t.write_all(b"250-8bitmime\r\n250 SMTP").unwrap();
            std::thread::sleep(Duration::from_millis(120));
            t.write_all(b"UTF8\r\n354\r\n").unwrap();
            let mut sink = [0u8; 64];
            let _ = t.read(&mut sink);
        });
        let call = Call::detached();
        assert_eq!(
            s.read_reply(&call, SHORT).unwrap(),
            Reply {
                code: 220,
                lines: vec!["hi".into()]
            }
        );
        let ehlo = s.read_reply(&call, SHORT).unwrap();
        assert_eq!(ehlo.code, 250);
        assert_eq!(ehlo.lines, ["first", "8bitmime", "SMTPUTF8"]);
        assert_eq!(
            s.read_reply(&call, SHORT).unwrap(),
            Reply {
                code: 354,
                lines: vec![String::new()]
            }
        );
        drop(s);
        server.join().unwrap();
    }

    #[test]
    fn garbage_and_mixed_codes_break_the_connection() {
        for bytes in [&b"hello\r\n"[..], b"250-a\r\n550 b\r\n", b"2500 x\r\n"] {
            let (mut s, server) = pair(move |mut t| {
                t.write_all(bytes).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            });
            assert!(matches!(
                s.read_reply(&Call::detached(), SHORT),
                Err(Broken::Garbage(_))
            ));
            assert!(s.has_broken());
            server.join().unwrap();
        }
    }

    #[test]
    fn data_has_its_leading_dots_doubled_and_ends_with_a_lone_dot() {
        let (mut s, server) = pair(|mut t| {
            let mut got = Vec::new();
            t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while !got.ends_with(b"\r\n.\r\n") {
                let mut chunk = [0u8; 256];
                let n = t.read(&mut chunk).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(got, b"..one\r\ntwo.\r\n...three\r\nlast\r\n.\r\n");
        });
        let data = b".one\r\ntwo.\r\n..three\r\nlast";
        s.send_data(&Call::detached(), &mut &data[..], DataShape::of(data), SHORT, None)
            .unwrap();
        server.join().unwrap();
    }

    #[test]
    fn cancel_ends_a_read_from_a_silent_server_within_a_poll_slice() {
        let (mut s, server) = pair(|t| {
            std::thread::sleep(Duration::from_millis(800));
            drop(t);
        });
        let canceller = crate::cancel::Canceller::default();
        let call = canceller.begin();
        let started = Instant::now();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                canceller.cancel();
            });
            assert!(matches!(
                s.read_reply(&call, Limit::Each(Duration::from_secs(30))),
                Err(Broken::Cancelled)
            ));
        });
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        server.join().unwrap();
    }

    #[test]
    fn a_silent_server_times_out_by_the_limit() {
        let (mut s, server) = pair(|t| {
            std::thread::sleep(Duration::from_millis(600));
            drop(t);
        });
        let started = Instant::now();
        let r = s.read_reply(&Call::detached(), Limit::Each(Duration::from_millis(200)));
        assert!(matches!(r, Err(Broken::Timeout)), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        server.join().unwrap();
    }
}
