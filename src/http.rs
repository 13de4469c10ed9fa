//! The HTTPS client every HTTP call goes through: rustls with the system trust store plus
//! `tls.extra_ca_file`, the proxy, the timeouts, keep-alive, cancellation, and mapping transport
//! failures to NETWORK / TLS / TIMEOUT / CANCELLED.
//!
//! Built on ureq 3 with our own connector chain (`CONNECT proxy -> TCP -> TLS`):
//! - **One agent per client**: ureq pools keep-alive connections inside the agent, so calls on
//!   one [`Http`] (from any thread) reuse HTTPS connections.
//! - **TLS**: ureq's own rustls connector can only use the platform verifier *or* a fixed root
//!   set, not both, so [`TlsConnector`] wraps `rustls_platform_verifier::Verifier` built with
//!   the extra roots (Windows certificate store, macOS keychain, Linux CA bundle, plus the PEM
//!   file). A wrapper around the verifier remembers the issuer of a rejected certificate, so the
//!   TLS error names it: that is how a user recognises TLS inspection by a proxy or antivirus.
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

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
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
pub struct Http {
    agent: ureq::Agent,
    /// The TLS configuration (our verifier), shared with the SMTP transport.
    tls: Arc<ClientConfig>,
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
    pub fn new(settings: &Settings) -> Result<Http> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let extra = match &settings.extra_ca_file {
            Some(path) => load_extra_roots(path)?,
            None => Vec::new(),
        };
        // A machine without any CA certificate (a bare container, say) still gets a client: plain
        // http:// endpoints work, and an HTTPS call fails with a TLS error that says why.
        let platform = if extra.is_empty() {
            rustls_platform_verifier::Verifier::new(provider.clone())
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
        }
        .map(Arc::new)
        .map_err(|e| format!("no trusted CA certificates could be loaded ({e})"));
        let verifier = IssuerReportingVerifier {
            platform,
            provider: provider.clone(),
        };
        let tls = Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::internal(format!("TLS configuration: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth(),
        );

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
            tls,
            timeouts: t,
            proxy: settings.proxy.as_ref().map(redact_userinfo),
            log: Log::default(),
        })
    }

    /// The TLS client configuration: the system trust store plus `tls.extra_ca_file`, with the
    /// verifier that names the issuer of a rejected certificate ([`tls_rejection`]).
    pub(crate) fn tls_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.tls)
    }

    /// Logs through `log` (the client's logger) from now on.
    pub fn with_log(mut self, log: Log) -> Http {
        self.log = log;
        self
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
        call.check()?;
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
                let error = self.map_error(call, &host, e);
                self.log.debug(|| {
                    format!(
                        "HTTP {method} {}{} failed after {} ms: {}",
                        host,
                        url.path(),
                        started.elapsed().as_millis(),
                        error.message
                    )
                });
                Err(error)
            }
        }
    }

    fn run(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, ureq::Error> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url.as_str());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = match body {
            Some(body) => self.agent.run(builder.body(body)?)?,
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
        if let Some(rejection) = take_tls_rejection() {
            return rejection.into_error(host);
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
                let message = match reason {
                    ureq::Timeout::Resolve | ureq::Timeout::Connect => format!(
                        "connecting to {host} took longer than timeouts.connect_s ({} s)",
                        self.timeouts.connect.as_secs()
                    ),
                    _ => format!(
                        "{host} did not answer within timeouts.io_s ({} s)",
                        self.timeouts.io.as_secs()
                    ),
                };
                Error::new(Status::Timeout, message)
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

/// The proxy URL for messages: without a user name or password.
fn redact_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

fn load_extra_roots(path: &str) -> Result<Vec<CertificateDer<'static>>> {
    const FIELD: &str = "config.tls.extra_ca_file";
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(Status::Io, format!("tls.extra_ca_file '{path}' could not be read: {e}")).with_field(FIELD)
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::new(
                Status::Io,
                format!("tls.extra_ca_file '{path}' is not a valid PEM file: {e}"),
            )
            .with_field(FIELD)
        })?;
    if certs.is_empty() {
        return Err(Error::new(
            Status::Io,
            format!("tls.extra_ca_file '{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        )
        .with_field(FIELD));
    }
    Ok(certs)
}

// ---------------------------------------------------------------------------------------------
// The current call (for cancellation) and the last rejected certificate, per thread.

thread_local! {
    static CURRENT_CALL: RefCell<Option<Call>> = const { RefCell::new(None) };
    static TLS_REJECTION: RefCell<Option<TlsRejection>> = const { RefCell::new(None) };
}

/// Makes `call` the current call of this thread until dropped: our ureq transport gives up when
/// it is cancelled. Also forgets any earlier [`tls_rejection`].
pub(crate) struct CallScope {
    previous: Option<Call>,
}

impl CallScope {
    pub(crate) fn enter(call: &Call) -> CallScope {
        TLS_REJECTION.with(|r| r.borrow_mut().take());
        let previous = CURRENT_CALL.with(|c| c.borrow_mut().replace(call.clone()));
        CallScope { previous }
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_CALL.with(|c| *c.borrow_mut() = previous);
        TLS_REJECTION.with(|r| r.borrow_mut().take());
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

/// Why a server certificate was rejected, recorded by the verifier on the handshaking thread.
#[derive(Debug)]
struct TlsRejection {
    issuer: Option<String>,
    subject: Option<String>,
    unknown_issuer: bool,
    reason: String,
}

impl TlsRejection {
    fn into_error(self, host: &str) -> Error {
        let issuer = self.issuer.as_deref().unwrap_or("(unreadable)");
        let subject = self.subject.as_deref().unwrap_or("(unreadable)");
        if self.unknown_issuer {
            Error::new(
                Status::Tls,
                format!(
                    "the certificate presented for {host} ({subject}) was issued by \"{issuer}\", which is not trusted here{}",
                    if self.reason.contains("no trusted CA certificates") {
                        format!(": {}", self.reason)
                    } else {
                        String::new()
                    }
                ),
            )
            .with_hint(&hint::TLS_INSPECTION)
        } else {
            Error::new(
                Status::Tls,
                format!(
                    "the certificate presented for {host} ({subject}, issued by \"{issuer}\") was rejected: {}",
                    self.reason
                ),
            )
        }
    }
}

fn take_tls_rejection() -> Option<TlsRejection> {
    TLS_REJECTION.with(|r| r.borrow_mut().take())
}

/// The TLS error for the certificate of `host` that [`Http::tls_config`]'s verifier rejected last
/// on this thread (within the current [`CallScope`]), naming its subject and issuer.
pub(crate) fn tls_rejection(host: &str) -> Option<Error> {
    take_tls_rejection().map(|r| r.into_error(host))
}

/// Delegates to the platform verifier and remembers the issuer of a certificate it rejects.
#[derive(Debug)]
struct IssuerReportingVerifier {
    /// The platform verifier, or why there is none (no CA certificates on this machine).
    platform: std::result::Result<Arc<rustls_platform_verifier::Verifier>, String>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for IssuerReportingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let result = match &self.platform {
            Ok(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            Err(why) => Err(rustls::Error::General(why.clone())),
        };
        if let Err(e) = &result {
            let (issuer, subject) = x509_names(end_entity.as_ref()).unzip();
            let rejection = TlsRejection {
                issuer,
                subject,
                unknown_issuer: self.platform.is_err()
                    || matches!(
                        e,
                        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
                    ),
                reason: e.to_string(),
            };
            TLS_REJECTION.with(|r| *r.borrow_mut() = Some(rejection));
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match &self.platform {
            Ok(v) => v.verify_tls12_signature(message, cert, dss),
            Err(_) => rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match &self.platform {
            Ok(v) => v.verify_tls13_signature(message, cert, dss),
            Err(_) => rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.platform {
            Ok(v) => v.supported_verify_schemes(),
            Err(_) => self.provider.signature_verification_algorithms.supported_schemes(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Just enough DER to name a certificate's issuer and subject in an error message.

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// (issuer, subject) of a certificate as `CN=…, O=…` strings.
fn x509_names(cert: &[u8]) -> Option<(String, String)> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = der(rest)?;
    if tag == 0xa0 {
        rest = after; // version
    }
    let (_, _, rest) = der(rest)?; // serial number
    let (_, _, rest) = der(rest)?; // signature algorithm
    let (_, issuer, rest) = der(rest)?;
    let (_, _, rest) = der(rest)?; // validity
    let (_, subject, _) = der(rest)?;
    Some((x509_name(issuer), x509_name(subject)))
}

fn x509_name(mut rdns: &[u8]) -> String {
    let mut parts = Vec::new();
    while let Some((_, set, rest)) = der(rdns) {
        rdns = rest;
        let mut attrs = set;
        while let Some((_, attr, rest)) = der(attrs) {
            attrs = rest;
            let Some((0x06, oid, value)) = der(attr) else { continue };
            let Some((tag, value, _)) = der(value) else { continue };
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            let text = if tag == 0x1e {
                // BMPString: UTF-16BE.
                let units: Vec<u16> = value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            parts.push(format!("{key}={text}"));
        }
    }
    parts.join(", ")
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

    #[test]
    fn missing_extra_ca_file_is_io_naming_the_field() {
        let e = Http::new(&settings(r#","tls":{"extra_ca_file":"/nonexistent/ca.pem"}"#)).unwrap_err();
        assert_eq!(e.status, Status::Io);
        assert_eq!(e.field.as_deref(), Some("config.tls.extra_ca_file"));
    }

    #[test]
    fn extra_ca_file_without_certificates_is_io() {
        let dir = std::env::temp_dir().join(format!("oauthmail-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = Http::new(&settings(&format!(
            r#","tls":{{"extra_ca_file":{}}}"#,
            serde_json::to_string(path.to_str().unwrap()).unwrap()
        )))
        .unwrap_err();
        assert_eq!(e.status, Status::Io);
        assert_eq!(e.field.as_deref(), Some("config.tls.extra_ca_file"));
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
        let http = Http::new(&settings("")).unwrap();
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
        let http = Http::new(&settings(r#","timeouts":{"io_s":1}"#)).unwrap();
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
        let http = Http::new(&settings(r#","timeouts":{"connect_s":1,"io_s":30}"#)).unwrap();
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
        let http = Http::new(&settings("")).unwrap();
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
        let http = Http::new(&settings("")).unwrap();
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
        let e = Http::new(&settings(""))
            .unwrap()
            .request(&Call::detached(), "GET", &url, &[], None)
            .unwrap_err();
        assert_eq!(e.status, Status::Network, "{e:?}");
    }

    #[test]
    fn an_unreachable_proxy_is_network_with_the_proxy_hint() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let http = Http::new(&settings(&format!(r#","proxy":"http://127.0.0.1:{port}""#))).unwrap();
        let url = Url::parse("https://oauth2.googleapis.com/token").unwrap();
        let e = http.request(&Call::detached(), "GET", &url, &[], None).unwrap_err();
        assert_eq!(e.status, Status::Network, "{e:?}");
        assert_eq!(e.hint, hint::PROXY.text);
    }

    #[test]
    fn x509_names_reads_issuer_and_subject() {
        // A minimal TBS: version, serial, alg, issuer(CN=Corp CA, O=Corp), validity, subject(CN=x).
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut v = vec![tag, content.len() as u8];
            v.extend_from_slice(content);
            v
        }
        let attr = |oid: u8, text: &str| {
            tlv(
                0x31,
                &tlv(
                    0x30,
                    &[tlv(0x06, &[0x55, 0x04, oid]), tlv(0x0c, text.as_bytes())].concat(),
                ),
            )
        };
        let issuer = tlv(0x30, &[attr(0x03, "Corp CA"), attr(0x0a, "Corp")].concat());
        let subject = tlv(0x30, &attr(0x03, "oauth2.googleapis.com"));
        let tbs = tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x02, &[2])),
                tlv(0x02, &[1]),
                tlv(0x30, &[]),
                issuer,
                tlv(0x30, &[]),
                subject,
            ]
            .concat(),
        );
        let cert = tlv(0x30, &[tbs, tlv(0x30, &[]), tlv(0x03, &[0])].concat());
        assert_eq!(
            x509_names(&cert),
            Some(("CN=Corp CA, O=Corp".to_string(), "CN=oauth2.googleapis.com".to_string()))
        );
        assert_eq!(x509_names(b"\x30\x05garbage"), None);
    }
}
