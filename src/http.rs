//! The HTTPS client every HTTP call goes through: the proxy, the timeouts, keep-alive,
//! cancellation, and mapping transport failures to NETWORK / TLS / TIMEOUT / CANCELLED.
//!
//! Built on ureq 3 with our own connector chain (`CONNECT proxy -> TCP -> TLS`):
//! - **One agent per client**: ureq pools keep-alive connections inside the agent, so calls on
//!   one [`Http`] (from any thread) reuse HTTPS connections.
//! - **TLS**: [`TlsConnector`] runs rustls with the client's configuration from [`crate::tls`]
//!   (platform verifier plus `tls.extra_ca_file`, the same one the SMTP transport uses); a
//!   rejected certificate's issuer is captured there and named in the TLS error.
//! - **Cancellation**: ureq runs a request entirely on the calling thread, so [`Http::request`]
//!   puts the call's [`Call`] in a thread-local for its duration, and our TCP transport
//!   ([`crate::net`]) looks at it at least every [`crate::cancel::POLL`] while it waits.
//!   `oauthmail_cancel` therefore stops a TLS handshake, an upload or a download within about
//!   that long (a TCP connect attempt within about a second). No thread is started.
//! - **DNS** is resolved on the calling thread ([`SyncResolver`]): ureq's resolver starts a
//!   detached thread to enforce its timeout, which could outlive the call (API.md forbids
//!   that). The OS resolver's own timeout bounds the lookup; cancel is seen right after it.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration as UDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};
use url::Url;

use crate::cancel::Call;
use crate::config::Settings;
use crate::error::{Error, Result, Status};
use crate::hint;
use crate::log::Log;
use crate::net::{self, Interest, Waited};
use crate::progress::{ProgressReader, Reporter};
use crate::tls;

/// An HTTP response. Any status (also 4xx/5xx) is a response; only transport failures are errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The largest response body read into memory (the Gmail API answers with small JSON).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The HTTP client of one [`crate::Client`].
/// A request body: bytes at once, or read piece by piece (an upload with progress).
enum Body<'b> {
    Bytes(&'b [u8]),
    Reader(&'b mut dyn Read),
}

pub struct Http {
    agent: ureq::Agent,
    timeouts: crate::config::Timeouts,
    proxy: Option<String>,
    log: Log,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// The agent for `settings` (proxy, timeouts), making TLS connections with `tls` and logging
    /// to `log`.
    pub(crate) fn new(settings: &Settings, tls: Arc<ClientConfig>, log: Log) -> Result<Http> {
        let proxy = match &settings.proxy {
            Some(url) => Some(
                ureq::Proxy::new(url.as_str())
                    .map_err(|e| Error::invalid("config.proxy", format!("the proxy URL is not usable: {e}")))?,
            ),
            None => None,
        };
        let t = settings.timeouts;
        let config = ureq::Agent::config_builder()
            // Environment proxies (HTTPS_PROXY) are not used: the configuration says which proxy.
            .proxy(proxy)
            .http_status_as_error(false)
            // The token endpoint and the Gmail API do not redirect; following one could send a
            // form body with secrets somewhere else.
            .max_redirects(0)
            .user_agent(concat!("liboauthmail/", env!("CARGO_PKG_VERSION")))
            .timeout_resolve(Some(t.connect))
            .timeout_connect(Some(t.connect))
            .timeout_per_read(Some(t.io))
            .timeout_per_write(Some(t.io))
            .build();
        let connector =
            ().chain(ConnectProxyConnector::default())
                .chain(CancellableTcpConnector)
                .chain(TlsConnector {
                    config: Arc::clone(&tls),
                });
        let agent = ureq::Agent::with_parts(config, connector, SyncResolver);
        Ok(Http {
            agent,
            timeouts: t,
            proxy: settings.proxy.as_ref().map(redact_userinfo),
            log,
        })
    }

    /// Sends one request and reads the whole response.
    ///
    /// Any HTTP status is `Ok(Response)`; transport failures are NETWORK (proxy failures with the
    /// proxy hint), TLS (naming the certificate's issuer when verification failed), TIMEOUT or
    /// CANCELLED.
    pub fn request(
        &self,
        call: &Call,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response> {
        self.request_once(call, method, url, headers, body).map_err(|f| f.error)
    }

    /// Like [`Http::request_once`] with `body` read piece by piece through `reporter` (upload
    /// progress): `len` bytes, sent as the `Content-Length`, never held in memory here. When
    /// the progress callback asks to stop, the request is abandoned before its last piece and the
    /// error is CANCELLED: the server never had the whole body. When `body` fails (an attachment
    /// could not be read to its end), the body ends short of its `Content-Length` and the
    /// connection is dropped, so the server never had it either: the error says why (IO).
    pub(crate) fn upload(
        &self,
        call: &Call,
        url: &Url,
        headers: &[(&str, &str)],
        body: &mut dyn Read,
        len: u64,
        reporter: &mut Reporter<'_>,
    ) -> std::result::Result<Response, Failed> {
        let length = len.to_string();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("Content-Length", &length));
        let (result, failure) = {
            let mut reader = ProgressReader::new(body, len, reporter);
            let result = self.request_once_body(call, "POST", url, &all, Some(Body::Reader(&mut reader)));
            (result, reader.failure())
        };
        if reporter.stopped() {
            return Err(Failed {
                error: Error::new(
                    Status::Cancelled,
                    "the progress callback cancelled the send before the end of the upload; nothing was delivered",
                ),
                may_have_reached: false,
            });
        }
        if let (Some(e), Err(_)) = (failure, &result) {
            return Err(Failed {
                error: Error::new(Status::Io, e.to_string()),
                may_have_reached: false,
            });
        }
        if result.is_ok() {
            reporter.finished();
        }
        result
    }

    /// [`Http::request`], and when it fails, whether the request may have reached the server:
    /// not when it failed resolving, connecting, at the proxy, in the TLS handshake or before
    /// it was built. The Gmail API transport says "may have been delivered" only when it may.
    pub(crate) fn request_once(
        &self,
        call: &Call,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> std::result::Result<Response, Failed> {
        self.request_once_body(call, method, url, headers, body.map(Body::Bytes))
    }

    fn request_once_body(
        &self,
        call: &Call,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<Body<'_>>,
    ) -> std::result::Result<Response, Failed> {
        call.check().map_err(|error| Failed {
            error,
            may_have_reached: false,
        })?;
        let started = Instant::now();
        let _scope = CallScope::enter(call);
        let result = self.run(method, url, headers, body);
        let host = url.host_str().unwrap_or("?").to_string();
        match result {
            Ok(response) => {
                self.log.debug(|| {
                    format!(
                        "HTTP {method} {}{} -> {} ({} ms)",
                        host,
                        url.path(),
                        response.status,
                        started.elapsed().as_millis()
                    )
                });
                Ok(response)
            }
            Err(e) => {
                let may_have_reached = may_have_reached(&e);
                let error = self.map_error(call, &host, e);
                let may_have_reached = may_have_reached && !call_failed_in_handshake(&error);
                self.log.debug(|| {
                    format!(
                        "HTTP {method} {}{} failed after {} ms: {}",
                        host,
                        url.path(),
                        started.elapsed().as_millis(),
                        error.message
                    )
                });
                Err(Failed {
                    error,
                    may_have_reached,
                })
            }
        }
    }

    fn run(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<Body<'_>>,
    ) -> Result<Response, ureq::Error> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url.as_str());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = match body {
            Some(Body::Bytes(body)) => self.agent.run(builder.body(body)?)?,
            Some(Body::Reader(reader)) => self.agent.run(builder.body(ureq::SendBody::from_reader(reader))?)?,
            None => self.agent.run(builder.body(())?)?,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.into_body().into_with_config().limit(MAX_BODY).read_to_vec()?;
        Ok(Response { status, headers, body })
    }

    fn map_error(&self, call: &Call, host: &str, e: ureq::Error) -> Error {
        if call.is_cancelled() {
            return Error::cancelled();
        }
        if let Some(rejection) = tls::rejection(host) {
            return rejection;
        }
        let io_kind = match &e {
            ureq::Error::Io(io) => {
                if let Some(failure) = io.get_ref().and_then(|i| i.downcast_ref::<TlsFailure>()) {
                    return Error::new(
                        Status::Tls,
                        format!("the TLS handshake with {host} failed: {}", failure.0),
                    );
                }
                Some(io.kind())
            }
            _ => None,
        };
        let via_proxy = self.proxy.is_some();
        match e {
            ureq::Error::Timeout(reason) => {
                match reason {
                    // No answer at all to the connection attempt: a firewall dropping it, first.
                    ureq::Timeout::Resolve | ureq::Timeout::Connect => Error::new(
                        Status::Timeout,
                        format!(
                            "connecting to {host} took longer than timeouts.connect_s ({} s)",
                            self.timeouts.connect.as_secs()
                        ),
                    )
                    .with_hint(&hint::CONNECT_DROPPED),
                    _ => Error::new(
                        Status::Timeout,
                        format!(
                            "{host} did not answer within timeouts.io_s ({} s)",
                            self.timeouts.io.as_secs()
                        ),
                    ),
                }
            }
            _ if io_kind == Some(io::ErrorKind::TimedOut) => Error::new(
                Status::Timeout,
                format!("{host} did not answer in time (timeouts.connect_s / timeouts.io_s)"),
            ),
            ureq::Error::ConnectProxyFailed(reason) => Error::new(
                Status::Network,
                format!(
                    "the proxy {} refused the tunnel to {host}: {reason}",
                    self.proxy.as_deref().unwrap_or("")
                ),
            )
            .with_hint(&hint::PROXY),
            ureq::Error::HostNotFound if via_proxy => Error::new(
                Status::Network,
                format!("the proxy host {} was not found", self.proxy.as_deref().unwrap_or("")),
            )
            .with_hint(&hint::PROXY),
            ureq::Error::HostNotFound => Error::new(Status::Network, format!("the host {host} was not found (DNS)")),
            ureq::Error::Io(io)
                if via_proxy
                    && matches!(
                        io.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::HostUnreachable
                            | io::ErrorKind::NetworkUnreachable
                            | io::ErrorKind::AddrNotAvailable
                    ) =>
            {
                Error::new(
                    Status::Network,
                    format!(
                        "the proxy {} could not be reached: {io}",
                        self.proxy.as_deref().unwrap_or("")
                    ),
                )
                .with_hint(&hint::PROXY)
            }
            ureq::Error::Io(io) => Error::new(Status::Network, format!("the connection to {host} failed: {io}")),
            ureq::Error::Tls(what) => Error::new(Status::Tls, format!("TLS with {host} failed: {what}")),
            ureq::Error::Rustls(err) => Error::new(Status::Tls, format!("TLS with {host} failed: {err}")),
            ureq::Error::Protocol(err) => {
                Error::new(Status::Provider, format!("{host} answered with invalid HTTP: {err}"))
            }
            ureq::Error::BodyExceedsLimit(n) => Error::new(
                Status::Provider,
                format!("the answer of {host} is larger than {n} bytes"),
            ),
            ureq::Error::Http(err) => Error::internal(format!("an HTTP request could not be built: {err}")),
            ureq::Error::BadUri(err) => Error::internal(format!("bad URL: {err}")),
            other => Error::new(Status::Network, format!("the request to {host} failed: {other}")),
        }
    }
}

/// A failed request: the error, and whether the server may have received the request.
#[derive(Debug)]
pub(crate) struct Failed {
    pub error: Error,
    pub may_have_reached: bool,
}

/// Whether a request that failed with `e` may have been received: everything but failures
/// while resolving, connecting, tunnelling, shaking hands or building it.
fn may_have_reached(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => false,
        ureq::Error::HostNotFound
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::Http(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => false,
        ureq::Error::Io(io) => {
            let handshake = io.get_ref().is_some_and(|i| i.is::<TlsFailure>());
            let connect = matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::AddrNotAvailable
            );
            !(handshake || connect)
        }
        _ => true,
    }
}

/// A certificate rejected in the handshake (the error names its issuer): nothing was sent.
fn call_failed_in_handshake(error: &Error) -> bool {
    error.status == Status::Tls
}

/// The proxy URL for messages: without a user name or password.
fn redact_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

// ---------------------------------------------------------------------------------------------
// The current call (for cancellation) and the last rejected certificate, per thread.

thread_local! {
    static CURRENT_CALL: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// Makes `call` the current call of this thread until dropped: our ureq transport gives up when
/// it is cancelled. Also captures a rejected certificate for the error ([`tls::Capture`]).
struct CallScope {
    previous: Option<Call>,
    _tls: tls::Capture,
}

impl CallScope {
    fn enter(call: &Call) -> CallScope {
        let _tls = tls::Capture::begin();
        let previous = CURRENT_CALL.with(|c| c.borrow_mut().replace(call.clone()));
        CallScope { previous, _tls }
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_CALL.with(|c| *c.borrow_mut() = previous);
    }
}

fn current_call_cancelled() -> bool {
    CURRENT_CALL.with(|c| c.borrow().as_ref().is_some_and(Call::is_cancelled))
}

/// The marker inside the `io::Error` our transport returns when the call was cancelled.
#[derive(Debug)]
struct CancelledIo;

impl std::fmt::Display for CancelledIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for CancelledIo {}

fn cancelled_io() -> io::Error {
    io::Error::other(CancelledIo)
}

// ---------------------------------------------------------------------------------------------
// DNS on the calling thread.

#[derive(Debug)]
struct SyncResolver;

impl Resolver for SyncResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or_else(|| ureq::Error::BadUri(uri.to_string()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        if current_call_cancelled() {
            return Err(ureq::Error::Io(cancelled_io()));
        }
        let mut out = self.empty();
        for addr in (host, port).to_socket_addrs()?.take(16) {
            out.push(addr);
        }
        if current_call_cancelled() {
            return Err(ureq::Error::Io(cancelled_io()));
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// TCP that can be cancelled.

#[derive(Debug)]
struct CancellableTcpConnector;

impl<In: Transport> Connector<In> for CancellableTcpConnector {
    type Out = Either<In, CancellableTcp>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let addrs: Vec<SocketAddr> = details.addrs.iter().copied().collect();
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        let stream = net::connect(&addrs, deadline_of(&details.timeout), &current_call_cancelled)
            .map_err(|w| ureq_error(w, details.timeout))?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(CancellableTcp { stream, buffers })))
    }
}

fn deadline_of(timeout: &NextTimeout) -> Option<Instant> {
    match timeout.after {
        UDuration::Exact(d) => Instant::now().checked_add(d),
        UDuration::NotHappening => None,
    }
}

#[derive(Debug)]
struct CancellableTcp {
    stream: TcpStream,
    buffers: LazyBuffers,
}

/// [`net::when_ready`] for ureq: cancelled by the current call, errors as ureq's. rustls (in
/// [`TlsTransport`]) sits on top of this transport and calls it like a blocking socket, a write
/// when it has records to send and a read when it needs one, so `asked` is always right here.
fn ready_for_ureq<T>(
    stream: &mut TcpStream,
    asked: Interest,
    timeout: NextTimeout,
    op: impl FnMut(&mut TcpStream) -> io::Result<T>,
) -> std::result::Result<T, ureq::Error> {
    net::when_ready(stream, asked, deadline_of(&timeout), current_call_cancelled, op)
        .map_err(|w| ureq_error(w, timeout))
}

fn ureq_error(w: Waited, timeout: NextTimeout) -> ureq::Error {
    match w {
        Waited::Cancelled => ureq::Error::Io(cancelled_io()),
        Waited::TimedOut => ureq::Error::Timeout(timeout.reason),
        Waited::Failed(e) => ureq::Error::Io(e),
    }
}

impl Transport for CancellableTcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> std::result::Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let output = &self.buffers.output()[..amount];
        let mut sent = 0;
        while sent < amount {
            // Each write that makes progress gets the whole per-write budget again.
            match ready_for_ureq(&mut self.stream, Interest::Writable, timeout, |s| {
                s.write(&output[sent..])
            })? {
                0 => return Err(ureq::Error::Io(io::ErrorKind::WriteZero.into())),
                n => sent += n,
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let input = self.buffers.input_append_buf();
        let n = ready_for_ureq(&mut self.stream, Interest::Readable, timeout, |s| s.read(input))?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled connection is reusable when a (non-blocking) read finds nothing to read.
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

// ---------------------------------------------------------------------------------------------
// TLS with our verifier.

struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnector")
    }
}

/// A handshake failure that is not about the certificate (protocol, alert), for the error mapping.
#[derive(Debug)]
struct TlsFailure(String);

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        if let Err(e) = conn.complete_io(&mut sock) {
            // Cancelled, timed out or reset: the transport's error says so. A rustls error
            // (bad certificate, alert) comes back as InvalidData.
            if e.kind() == io::ErrorKind::InvalidData {
                return Err(ureq::Error::Io(io::Error::other(TlsFailure(e.to_string()))));
            }
            if e.kind() == io::ErrorKind::TimedOut {
                return Err(ureq::Error::Timeout(details.timeout.reason));
            }
            // From, not Error::Io: our transport's own errors (its timeout) come back wrapped in
            // the io::Error, and must come out as themselves, not as a network failure.
            return Err(e.into());
        }
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> std::result::Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        self.stream.flush()?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::net::TcpListener;
    use std::time::Duration;

    fn settings(extra: &str) -> Settings {
        let json = format!(r#"{{"provider":"google","client_id":"id","client_secret":"s"{extra}}}"#);
        serde_json::from_str::<Config>(&json).unwrap().resolve().unwrap()
    }

    /// The agent as a client makes it, with its own TLS configuration and no logger.
    fn http(settings: &Settings) -> Result<Http> {
        Http::new(settings, tls::client_config(None)?, Log::default())
    }

    #[test]
    fn header_lookup_ignores_case_and_json_parses_the_body() {
        let r = Response {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"a":1}"#.to_vec(),
        };
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-missing"), None);
        assert_eq!(r.json().unwrap()["a"], 1);
        let not_json = Response {
            body: b"<html>".to_vec(),
            ..r
        };
        assert!(not_json.json().is_none());
    }

    /// A one-shot plain-HTTP server: answers every request on one connection with `reply`.
    fn serve(reply: &'static str, requests: usize) -> (Url, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/path?q=1", l.local_addr().unwrap())).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            for _ in 0..requests {
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            seen.push(format!(
                                "{head}\r\n\r\n{}",
                                String::from_utf8_lossy(&buf[end + 4..end + 4 + len])
                            ));
                            buf.drain(..end + 4 + len);
                            break;
                        }
                    }
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).unwrap();
                    assert!(n > 0, "client closed early");
                    buf.extend_from_slice(&chunk[..n]);
                }
                s.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        (url, h)
    }

    #[test]
    fn any_status_is_a_response_and_connections_are_reused() {
        let reply = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}";
        let (url, server) = serve(reply, 2);
        let http = http(&settings("")).unwrap();
        let call = Call::detached();
        for _ in 0..2 {
            let r = http
                .request(&call, "POST", &url, &[("Content-Type", "text/plain")], Some(b"hello"))
                .unwrap();
            assert_eq!(r.status, 429);
            assert_eq!(r.header("retry-after"), Some("7"));
            assert_eq!(r.body, b"{}");
        }
        // Both requests arrived on the one connection the server accepted: keep-alive works.
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with("POST /path?q=1 HTTP/1.1"));
        assert!(seen[0].ends_with("hello"));
    }

    #[test]
    fn a_silent_server_times_out_with_timeout_status() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap();
        let http = http(&settings(r#","timeouts":{"io_s":1}"#)).unwrap();
        let started = Instant::now();
        let e = http.request(&Call::detached(), "GET", &url, &[], None).unwrap_err();
        assert_eq!(e.status, Status::Timeout, "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(l);
    }

    /// API.md: connect_s covers the TLS handshake too, so a server that accepts the connection
    /// and never answers the ClientHello is a connect timeout, not an io_s one.
    #[test]
    fn a_tls_handshake_that_never_completes_times_out_by_connect_s() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("https://127.0.0.1:{}/", l.local_addr().unwrap().port())).unwrap();
        let http = http(&settings(r#","timeouts":{"connect_s":1,"io_s":30}"#)).unwrap();
        let started = Instant::now();
        let e = http.request(&Call::detached(), "GET", &url, &[], None).unwrap_err();
        assert_eq!(e.status, Status::Timeout, "{e:?}");
        assert!(e.message.contains("connect_s"), "{}", e.message);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        drop(l);
    }

    #[test]
    fn cancel_from_another_thread_stops_a_waiting_request_promptly() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap();
        let http = http(&settings("")).unwrap();
        let canceller = crate::cancel::Canceller::default();
        let call = canceller.begin();
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                canceller.cancel();
            });
            let e = http.request(&call, "GET", &url, &[], None).unwrap_err();
            assert_eq!(e.status, Status::Cancelled, "{e:?}");
        });
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        drop(l);
    }

    /// A keep-alive connection the server closed while it sat in the pool (Google's front ends
    /// drop idle ones) is noticed before it is used: a POST, which is never retried, must not be
    /// written into it and fail.
    #[test]
    fn a_keep_alive_connection_the_server_closed_while_idle_is_not_reused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/send", l.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut seen = Vec::new();
                while !seen.windows(9).any(|w| w == b"\r\n\r\nhello") {
                    let mut chunk = [0u8; 1024];
                    let n = s.read(&mut chunk).unwrap();
                    assert!(n > 0, "client closed early");
                    seen.extend_from_slice(&chunk[..n]);
                }
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
                // Dropping `s` closes the connection while the client keeps it as idle.
            }
        });
        let http = http(&settings("")).unwrap();
        for _ in 0..2 {
            let r = http
                .request(&Call::detached(), "POST", &url, &[], Some(b"hello"))
                .expect("the second POST goes out on a new connection");
            assert_eq!(r.status, 200);
            std::thread::sleep(Duration::from_millis(200));
        }
        server.join().unwrap();
    }

    #[test]
    fn a_refused_connection_is_network() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let e = http(&settings(""))
            .unwrap()
            .request(&Call::detached(), "GET", &url, &[], None)
            .unwrap_err();
        assert_eq!(e.status, Status::Network, "{e:?}");
    }

    #[test]
    fn an_unreachable_proxy_is_network_with_the_proxy_hint() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let http = http(&settings(&format!(r#","proxy":"http://127.0.0.1:{port}""#))).unwrap();
        let url = Url::parse("https://oauth2.googleapis.com/token").unwrap();
        let e = http.request(&Call::detached(), "GET", &url, &[], None).unwrap_err();
        assert_eq!(e.status, Status::Network, "{e:?}");
        assert_eq!(e.hint, hint::PROXY.text);
    }
}
