//! A small HTTP/1.1 server over std::net (+ rustls): one thread per connection, keep-alive,
//! Content-Length and chunked request bodies. Enough for browsers, ureq, urllib and curl.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::state::Shared;

/// A connection, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Wraps a TCP stream in TLS and finishes the handshake.
    pub fn accept_tls(tcp: TcpStream, config: Arc<rustls::ServerConfig>) -> io::Result<Stream> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(Stream::Tls(Box::new(s)))
    }

    /// [`Stream::accept_tls`], counted in `tls_handshakes` / `tls_resumed`.
    pub fn accept_tls_counted(
        shared: &Shared,
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<Stream> {
        let stream = Stream::accept_tls(tcp, config)?;
        let resumed =
            matches!(&stream, Stream::Tls(t) if t.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
        let mut st = shared.lock();
        st.counters.tls_handshakes += 1;
        st.counters.tls_resumed += u64::from(resumed);
        Ok(stream)
    }
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

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
    pub http10: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self) -> Vec<(String, String)> {
        parse_form(&self.raw_query)
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn form(&self) -> Vec<(String, String)> {
        parse_form(&String::from_utf8_lossy(&self.body))
    }

    /// The bearer token of the Authorization header.
    pub fn bearer(&self) -> Option<String> {
        let h = self.header("authorization")?;
        let (scheme, rest) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_string())
    }

    pub fn keep_alive(&self) -> bool {
        match self.header("connection") {
            Some(v) if v.eq_ignore_ascii_case("close") => false,
            Some(v) if v.eq_ignore_ascii_case("keep-alive") => true,
            _ => !self.http10,
        }
    }
}

/// What happens after the response is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Normal,
    /// Send the head and half the body, then close.
    Drop,
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub action: Action,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            action: Action::Normal,
        }
    }
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        Response::new(status, "application/json", v.to_string())
    }
    pub fn html(status: u16, body: String) -> Response {
        Response::new(status, "text/html; charset=utf-8", body)
    }
    pub fn redirect(location: &str) -> Response {
        let mut r = Response::html(302, format!("<HTML><HEAD><TITLE>Moved Temporarily</TITLE></HEAD><BODY>The document has moved <A HREF=\"{}\">here</A>.</BODY></HTML>\n", crate::pages::esc(location)));
        r.headers.push(("Location".into(), location.into()));
        r
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        308 => "Resume Incomplete",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

pub type Handler = fn(&Shared, &Request) -> Response;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 80 * 1024 * 1024;
const IDLE: Duration = Duration::from_secs(120);

/// Accepts connections until the stand-in stops.
pub fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
    name: &'static str,
) -> JoinHandle<()> {
    accept_loop(
        listener,
        shared,
        format!("standin-{name}"),
        format!("standin-{name}-conn"),
        move |shared, tcp| connection(shared, tcp, tls.clone(), handler),
    )
}

/// Accepts connections on a thread named `name` until the stand-in stops; each connection runs
/// `each` on its own thread named `conn_name`, tracked (so a stop can close it) while it runs.
pub fn accept_loop<F>(
    listener: TcpListener,
    shared: Arc<Shared>,
    name: String,
    conn_name: String,
    each: F,
) -> JoinHandle<()>
where
    F: Fn(&Shared, TcpStream) + Clone + Send + 'static,
{
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            for conn in listener.incoming() {
                if shared.stopping() {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let shared = shared.clone();
                let each = each.clone();
                let _ = std::thread::Builder::new().name(conn_name.clone()).spawn(move || {
                    let id = shared.track(&tcp);
                    each(&shared, tcp);
                    shared.untrack(id);
                });
            }
        })
        .expect("spawn a listener thread")
}

fn connection(shared: &Shared, tcp: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) {
    let Ok(peer) = tcp.peer_addr() else { return };
    let _ = tcp.set_read_timeout(Some(IDLE));
    let _ = tcp.set_write_timeout(Some(IDLE));
    let _ = tcp.set_nodelay(true);
    let stream = match tls {
        Some(cfg) => match Stream::accept_tls_counted(shared, tcp, cfg) {
            Ok(s) => s,
            Err(e) => {
                shared.log(&format!("tls handshake from {peer} failed: {e}"));
                return;
            }
        },
        None => Stream::Plain(tcp),
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stopping() {
            return;
        }
        let req = match read_request(&mut reader, peer) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(ReadError::TooLarge) => {
                let r = Response::new(
                    413,
                    "text/html; charset=UTF-8",
                    "<h1>413. That’s an error.</h1>\n<p>Your client issued a request that was too large.</p>\n",
                );
                let _ = write_response(reader.get_mut(), &r, false);
                return;
            }
            Err(ReadError::Bad) => {
                let r = Response::new(
                    400,
                    "text/html; charset=UTF-8",
                    "<h1>400. That’s an error.</h1>\n<p>Your client has issued a malformed or illegal request.</p>\n",
                );
                let _ = write_response(reader.get_mut(), &r, false);
                return;
            }
            Err(ReadError::Io) => return,
        };
        let keep = req.keep_alive();
        let resp = handler(shared, &req);
        shared.log(&format!("{} {} {} -> {}", req.peer, req.method, req.path, resp.status));
        match resp.action {
            Action::Hang => {
                shared.hang();
                return;
            }
            Action::Drop => {
                let _ = write_truncated(reader.get_mut(), &resp);
                let _ = reader.get_ref().tcp().shutdown(std::net::Shutdown::Both);
                return;
            }
            Action::Normal => {
                if write_response(reader.get_mut(), &resp, keep).is_err() || !keep {
                    if let Stream::Tls(s) = reader.get_mut() {
                        s.conn.send_close_notify();
                        let _ = s.flush();
                    }
                    return;
                }
            }
        }
    }
}

enum ReadError {
    Io,
    Bad,
    TooLarge,
}

fn read_line(r: &mut BufReader<Stream>, total: &mut usize) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take((MAX_HEAD - *total) as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|_| ReadError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    *total += n;
    if *total > MAX_HEAD {
        return Err(ReadError::TooLarge);
    }
    if !line.ends_with(b"\n") {
        return Err(ReadError::Io);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| ReadError::Bad)
}

fn read_request(r: &mut BufReader<Stream>, peer: SocketAddr) -> Result<Option<Request>, ReadError> {
    let mut total = 0;
    let mut first = match read_line(r, &mut total)? {
        Some(l) => l,
        None => return Ok(None),
    };
    // Tolerate stray CRLFs between requests (RFC 9112 §2.2).
    while first.is_empty() {
        first = match read_line(r, &mut total)? {
            Some(l) => l,
            None => return Ok(None),
        };
    }
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad);
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut total)?.ok_or(ReadError::Io)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or(ReadError::Bad)?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        let s = r.get_mut();
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| ReadError::Io)?;
        s.flush().map_err(|_| ReadError::Io)?;
    }
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut t = 0;
            let size_line = read_line(r, &mut t)?.ok_or(ReadError::Io)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| ReadError::Bad)?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = 0;
                    let l = read_line(r, &mut t)?.ok_or(ReadError::Io)?;
                    if l.is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(ReadError::TooLarge);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).map_err(|_| ReadError::Io)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).map_err(|_| ReadError::Io)?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| ReadError::Bad)?;
        if len > MAX_BODY {
            return Err(ReadError::TooLarge);
        }
        body.resize(len, 0);
        r.read_exact(&mut body).map_err(|_| ReadError::Io)?;
    }
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    Ok(Some(Request {
        method: method.to_string(),
        path,
        raw_query,
        headers,
        body,
        peer,
        http10: version == "HTTP/1.0",
    }))
}

fn head(resp: &Response, keep: bool) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    if !resp.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("date")) {
        h.push_str(&format!("Date: {}\r\n", http_date(crate::state::real_now())));
    }
    h.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    if !keep {
        h.push_str("Connection: close\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn write_response(s: &mut Stream, resp: &Response, keep: bool) -> io::Result<()> {
    let mut out = head(resp, keep);
    out.extend_from_slice(&resp.body);
    s.write_all(&out)?;
    s.flush()
}

fn write_truncated(s: &mut Stream, resp: &Response) -> io::Result<()> {
    let mut out = head(resp, true);
    out.extend_from_slice(&resp.body[..resp.body.len() / 2]);
    s.write_all(&out)?;
    s.flush()
}

/// RFC 9110 IMF-fixdate.
pub fn http_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = crate::tls::civil_from_days(days);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|v| v as u8)
}

pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Listens on 127.0.0.1 (`port` 0: ephemeral).
pub fn bind_loopback(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}
