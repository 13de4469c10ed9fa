//! Interactive authorization: loopback listener, PKCE S256, state, the browser, the code exchange.
//!
//! The flow: bind the loopback listener (127.0.0.1, ::1, or both for `localhost`), build the
//! authorization URL with the `oauth2` crate (PKCE S256 challenge, random `state`, the provider's
//! extra parameters such as `access_type=offline&prompt=consent`, `login_hint`), hand it to the
//! host's `url_opener` or the system browser, then serve the browser until the redirect with our
//! `state` arrives, the user denies, `timeouts.authorize_s` runs out or the call is cancelled.
//!
//! The listener is a single-threaded, non-blocking loop over every open connection, so a browser's
//! speculative pre-connections, a favicon request or a client that connects and never sends
//! cannot hold up the real redirect. Every request gets a page and `Connection: close`; the
//! success page is served once, to the request that carried the code; anything after that gets
//! the "already finished" page. The listener sockets close (and the port is free) when `run`
//! returns, whatever the outcome.

mod browser;
mod page;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use serde::Deserialize;

use crate::config::{Redirect, UiLanguage};
use crate::context::Ctx;
use crate::error::{Error, ProviderReply, Result, Status};
use crate::hint;
use crate::secret::Secret;
use crate::token::{self, TokenDocument};

use page::Outcome;

/// `options_json` of `oauthmail_authorize`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeOptions {
    #[serde(default)]
    pub login_hint: Option<String>,
    #[serde(default)]
    pub open_browser: Option<bool>,
}

/// Opens the authorization URL; returns `true` when it did. Called on the authorizing thread.
pub type UrlOpener = dyn Fn(&str) -> bool + Send + Sync;

/// How often the loop looks at its sockets and the cancel flag when idle.
const TICK: Duration = Duration::from_millis(20);
/// A connection that has not sent a complete request head by then is closed.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// The largest request head accepted (a redirect URL with a code is well under 2 KB).
const MAX_HEAD: usize = 16 * 1024;
/// At most this many connections are kept waiting at once; the oldest is dropped beyond it.
const MAX_PENDING: usize = 64;
/// After the flow ends, requests already on their way (a duplicate, a reload) still get an answer
/// for this long before the listener closes.
const DRAIN: Duration = Duration::from_millis(150);

/// The whole flow; `opener` is the host's replacement for the system browser, if it set one.
pub(crate) fn run(ctx: Ctx<'_>, opener: Option<Arc<UrlOpener>>, options: &AuthorizeOptions) -> Result<TokenDocument> {
    let settings = ctx.settings;
    let call = ctx.call;
    let login_hint = check_login_hint(options.login_hint.as_deref())?;
    if opener.is_none() && options.open_browser == Some(false) {
        return Err(Error::invalid(
            "options.open_browser",
            "open_browser is false and no url_opener is set: nobody would open the authorization URL",
        )
        .with_hint(&hint::NO_BROWSER));
    }
    call.check()?;

    let listener = Listener::bind(&settings.redirect)?;
    let redirect_uri = listener.redirect_uri(&settings.redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let verifier = Secret::new(verifier.secret().as_str());

    let oauth = BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(settings.endpoints.authorization.clone()))
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.clone())
                .map_err(|e| Error::internal(format!("redirect URI {redirect_uri}: {e}")))?,
        );
    let mut request = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scopes(settings.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    for (name, value) in settings.provider.authorization_params {
        request = request.add_extra_param(*name, *value);
    }
    if let Some(hint) = login_hint {
        request = request.add_extra_param("login_hint", hint);
    }
    let (url, state) = request.url();
    let state = Secret::new(state.secret().as_str());

    ctx.log.info(|| {
        format!(
            "authorize: waiting up to {} s for the browser on {redirect_uri} (authorization endpoint {}{})",
            settings.timeouts.authorize.as_secs(),
            settings.endpoints.authorization.host_str().unwrap_or(""),
            settings.endpoints.authorization.path()
        )
    });

    // The opener runs on this (the caller's) thread, as the header promises: hosts may need it
    // there (COM for ShellExecuteW, a UI toolkit). It must return before the browser can be
    // served, so a host that wants to follow the redirect itself does so on another thread.
    match opener {
        Some(open) => {
            if !open(url.as_str()) {
                return Err(Error::new(
                    Status::Cancelled,
                    "the url_opener declined to open the authorization URL",
                ));
            }
        }
        None => browser::open(url.as_str())?,
    }
    ctx.log
        .debug(|| "authorize: the authorization URL was handed over".into());

    let deadline = Instant::now() + settings.timeouts.authorize;
    let flow = Flow {
        ctx,
        listener: &listener,
        state: &state,
        verifier: &verifier,
        redirect_uri: &redirect_uri,
        language: settings.ui_language,
    };
    let result = flow.wait(deadline);
    drop(listener);
    match &result {
        Ok(doc) => ctx
            .log
            .info(|| format!("authorize: connected {}", doc.email.as_deref().unwrap_or("an account"))),
        Err(e) => ctx
            .log
            .info(|| format!("authorize ended: {} ({})", e.status.name(), e.message)),
    }
    result
}

fn check_login_hint(hint: Option<&str>) -> Result<Option<&str>> {
    match hint {
        None | Some("") => Ok(None),
        Some(h) if h.len() > 320 || h.chars().any(|c| c.is_control() || c.is_whitespace()) => Err(Error::invalid(
            "options.login_hint",
            "login_hint must be an email address (no spaces or control characters)",
        )),
        Some(h) => Ok(Some(h)),
    }
}

/// One authorization's state while the browser is out.
struct Flow<'a> {
    ctx: Ctx<'a>,
    listener: &'a Listener,
    state: &'a Secret,
    verifier: &'a Secret,
    redirect_uri: &'a str,
    language: UiLanguage,
}

/// What a request to the listener turned out to be.
enum Request {
    /// Our redirect with a code (decoded once).
    Code(Secret),
    /// Our redirect with `error=…`.
    ProviderError { error: String, description: Option<String> },
    /// The redirect path, but `state` missing or wrong.
    StateMismatch,
    /// Another path, another method, or the redirect path without code or error.
    Stray,
}

impl Flow<'_> {
    fn wait(&self, deadline: Instant) -> Result<TokenDocument> {
        let mut pending: Vec<Pending> = Vec::new();
        let outcome = loop {
            if self.ctx.call.is_cancelled() {
                break Err(Error::cancelled());
            }
            if Instant::now() >= deadline {
                break Err(Error::new(
                    Status::Timeout,
                    format!(
                        "the browser did not come back within timeouts.authorize_s ({} s)",
                        self.ctx.settings.timeouts.authorize.as_secs()
                    ),
                ));
            }
            let mut progressed = self.listener.accept_into(&mut pending);
            let mut finished = None;
            let mut i = 0;
            while i < pending.len() {
                match pending[i].poll() {
                    Poll::Waiting => i += 1,
                    Poll::Progress => {
                        progressed = true;
                        i += 1;
                    }
                    Poll::Dead => {
                        pending.swap_remove(i);
                    }
                    Poll::Head(head) => {
                        progressed = true;
                        let conn = pending.swap_remove(i);
                        if let Some(done) = self.handle(conn, &head) {
                            finished = Some(done);
                            break;
                        }
                    }
                }
            }
            if let Some(done) = finished {
                break done;
            }
            if !progressed {
                std::thread::sleep(TICK);
            }
        };
        // Requests already under way (a prefetch and the real navigation, a reload) get the
        // "already finished" page instead of a reset connection.
        self.drain(&mut pending);
        outcome
    }

    /// Answers one request; `Some` when it ended the flow.
    fn handle(&self, mut conn: Pending, head: &str) -> Option<Result<TokenDocument>> {
        let (method, target) = request_line(head);
        let path = target.split('?').next().unwrap_or("");
        let log_path: String = path.chars().take(64).collect();
        match self.classify(method, target) {
            Request::Stray => {
                self.ctx
                    .log
                    .debug(|| format!("authorize: {method} {log_path} is not the redirect; ignored"));
                conn.respond(404, method, &page::render(&Outcome::NotFound, self.language));
                None
            }
            Request::StateMismatch => {
                self.ctx
                    .log
                    .warn(|| "authorize: a redirect with a missing or wrong state was refused".into());
                conn.respond(400, method, &page::render(&Outcome::StateMismatch, self.language));
                None
            }
            Request::ProviderError { error, description } => {
                let (outcome, result) = if error == "access_denied" {
                    (
                        Outcome::Denied,
                        Error::new(Status::AccessDenied, "the user declined access (error=access_denied)"),
                    )
                } else {
                    (
                        Outcome::ProviderError {
                            error: &error,
                            description: description.as_deref(),
                        },
                        redirect_error(&error, description.as_deref()),
                    )
                };
                conn.respond(200, method, &page::render(&outcome, self.language));
                Some(Err(result.with_provider(ProviderReply {
                    error: Some(error.clone()),
                    error_description: description.clone(),
                    ..Default::default()
                })))
            }
            Request::Code(code) => {
                self.ctx
                    .log
                    .debug(|| "authorize: the redirect with the code arrived; exchanging it".into());
                let result = token::exchange_code(self.ctx, &code, self.verifier, self.redirect_uri);
                match &result {
                    Ok(doc) => conn.respond(
                        200,
                        method,
                        &page::render(
                            &Outcome::Connected {
                                email: doc.email.as_deref(),
                            },
                            self.language,
                        ),
                    ),
                    Err(e) => {
                        let outcome = if e.status == Status::Cancelled {
                            Outcome::Cancelled
                        } else {
                            Outcome::ExchangeFailed { message: &e.message }
                        };
                        conn.respond(502, method, &page::render(&outcome, self.language))
                    }
                }
                Some(result)
            }
        }
    }

    fn classify(&self, method: &str, target: &str) -> Request {
        if method != "GET" && method != "HEAD" {
            return Request::Stray;
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != self.ctx.settings.redirect.path {
            return Request::Stray;
        }
        // form_urlencoded::parse percent-decodes each value exactly once: the code `4%2F0A…`
        // becomes `4/0A…` (decoding twice, or not at all, gives `Malformed auth code.`).
        let mut state = Vec::new();
        let mut code = Vec::new();
        let mut error = None;
        let mut description = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "state" => state.push(v.into_owned()),
                "code" => code.push(v.into_owned()),
                "error" => error = Some(v.into_owned()),
                "error_description" => description = Some(v.into_owned()),
                _ => {}
            }
        }
        if code.is_empty() && error.is_none() {
            return Request::Stray;
        }
        if state.len() != 1 || !constant_time_eq(state[0].as_bytes(), self.state.expose().as_bytes()) {
            return Request::StateMismatch;
        }
        if let Some(error) = error {
            return Request::ProviderError { error, description };
        }
        match code.as_slice() {
            [one] if !one.is_empty() => Request::Code(Secret::new(one.as_str())),
            _ => Request::StateMismatch,
        }
    }

    /// Answers what is already on its way with the "already finished" page, then gives up.
    fn drain(&self, pending: &mut Vec<Pending>) {
        let until = Instant::now() + DRAIN;
        let page = page::render(&Outcome::AlreadyFinished, self.language);
        let not_found = page::render(&Outcome::NotFound, self.language);
        loop {
            self.listener.accept_into(pending);
            let mut i = 0;
            while i < pending.len() {
                match pending[i].poll() {
                    Poll::Head(head) => {
                        let mut conn = pending.swap_remove(i);
                        let (method, target) = request_line(&head);
                        let path = target.split('?').next().unwrap_or("");
                        if path == self.ctx.settings.redirect.path {
                            conn.respond(200, method, &page);
                        } else {
                            conn.respond(404, method, &not_found);
                        }
                    }
                    Poll::Dead => {
                        pending.swap_remove(i);
                    }
                    _ => i += 1,
                }
            }
            if Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The error for a redirect with `error=` other than `access_denied`.
fn redirect_error(error: &str, description: Option<&str>) -> Error {
    let said = match description {
        Some(d) => format!("{error}: {d}"),
        None => error.to_string(),
    };
    match error {
        "invalid_scope" => Error::invalid(
            "config.scopes",
            format!("the provider refused the requested scopes ({said})"),
        ),
        "unauthorized_client" | "invalid_client" => {
            Error::new(Status::AuthFailed, format!("the provider refused the client ({said})"))
                .with_hint(&hint::INVALID_CLIENT)
        }
        "redirect_uri_mismatch" => Error::new(
            Status::AuthFailed,
            format!("the provider refused the redirect address ({said})"),
        )
        .with_hint(&hint::REDIRECT_URI_MISMATCH),
        _ => Error::new(
            Status::Provider,
            format!("the provider ended the authorization with an error ({said})"),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `(method, target)` of a request head.
fn request_line(head: &str) -> (&str, &str) {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

// ---------------------------------------------------------------------------------------------
// The loopback listener.

struct Listener {
    sockets: Vec<TcpListener>,
    port: u16,
    /// The host written into the redirect URI.
    uri_host: String,
}

impl Listener {
    /// Binds the configured loopback address. `127.0.0.1` falls back to `::1` when IPv4
    /// loopback is unavailable; `localhost` listens on both, on the same port, because the
    /// browser may resolve it to either.
    fn bind(redirect: &Redirect) -> Result<Listener> {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let port = redirect.port;
        match redirect.host.as_str() {
            "localhost" => {
                // With an ephemeral port, the v6 side may find the v4 port taken: try a few.
                let mut last = None;
                for _ in 0..8 {
                    let first = match bind_one(SocketAddr::new(v4, port)) {
                        Ok(l) => l,
                        Err(e) => {
                            // No IPv4 loopback: IPv6 alone.
                            let only = bind_one(SocketAddr::new(v6, port)).map_err(|_| e)?;
                            return Listener::from(vec![only], "localhost");
                        }
                    };
                    let p = first.local_addr().map_err(bind_error)?.port();
                    match TcpListener::bind(SocketAddr::new(v6, p)) {
                        Ok(second) => return Listener::from(vec![first, second], "localhost"),
                        Err(e) if e.kind() == io::ErrorKind::AddrInUse && port == 0 => last = Some(e),
                        // No IPv6 on this machine, or the fixed port is taken on ::1 only.
                        Err(_) => return Listener::from(vec![first], "localhost"),
                    }
                }
                Err(bind_error(last.unwrap_or_else(|| io::ErrorKind::AddrInUse.into())))
            }
            "::1" | "[::1]" => Listener::from(vec![bind_one(SocketAddr::new(v6, port))?], "[::1]"),
            _ => match bind_one(SocketAddr::new(v4, port)) {
                Ok(l) => Listener::from(vec![l], "127.0.0.1"),
                // A taken port stays an error; only a machine without IPv4 loopback falls back.
                Err(e) if e.field.is_some() => Err(e),
                Err(e) => match TcpListener::bind(SocketAddr::new(v6, port)) {
                    Ok(l) => Listener::from(vec![l], "[::1]"),
                    Err(_) => Err(e),
                },
            },
        }
    }

    fn from(sockets: Vec<TcpListener>, uri_host: &str) -> Result<Listener> {
        let port = sockets[0].local_addr().map_err(bind_error)?.port();
        for s in &sockets {
            s.set_nonblocking(true).map_err(bind_error)?;
        }
        Ok(Listener {
            sockets,
            port,
            uri_host: uri_host.to_string(),
        })
    }

    fn redirect_uri(&self, redirect: &Redirect) -> String {
        format!("http://{}:{}{}", self.uri_host, self.port, redirect.path)
    }

    /// Accepts every waiting connection; true when there was one.
    fn accept_into(&self, pending: &mut Vec<Pending>) -> bool {
        let mut any = false;
        for socket in &self.sockets {
            while let Ok((stream, _)) = socket.accept() {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                if pending.len() >= MAX_PENDING {
                    // Oldest first out: it is the likeliest to be an idle pre-connection.
                    let oldest = pending
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, p)| p.since)
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    pending.swap_remove(oldest);
                }
                pending.push(Pending {
                    stream,
                    head: Vec::new(),
                    since: Instant::now(),
                });
                any = true;
            }
        }
        any
    }
}

fn bind_one(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            Error::invalid(
                "config.redirect.port",
                format!(
                    "port {} on {} is in use; choose another redirect.port, or 0 for any free port",
                    addr.port(),
                    addr.ip()
                ),
            )
        } else {
            bind_error(e)
        }
    })
}

fn bind_error(e: io::Error) -> Error {
    Error::new(
        Status::Network,
        format!("the loopback listener for the browser's redirect could not be opened: {e}"),
    )
}

/// A connection whose request head is still arriving.
struct Pending {
    stream: TcpStream,
    head: Vec<u8>,
    since: Instant,
}

enum Poll {
    Waiting,
    Progress,
    Dead,
    Head(String),
}

impl Pending {
    fn poll(&mut self) -> Poll {
        if self.since.elapsed() > REQUEST_DEADLINE {
            return Poll::Dead;
        }
        let mut buf = [0u8; 2048];
        let mut progressed = false;
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Poll::Dead,
                Ok(n) => {
                    self.head.extend_from_slice(&buf[..n]);
                    progressed = true;
                    if let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") {
                        return Poll::Head(String::from_utf8_lossy(&self.head[..end]).into_owned());
                    }
                    if self.head.len() > MAX_HEAD {
                        return Poll::Dead;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if progressed { Poll::Progress } else { Poll::Waiting };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Poll::Dead,
            }
        }
    }

    /// Sends a page and closes the connection. Errors are ignored: the browser may be gone.
    fn respond(&mut self, status: u16, method: &str, html: &str) {
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Bad Gateway",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\n\
             Cache-Control: no-store\r\n\
             Pragma: no-cache\r\n\
             X-Content-Type-Options: nosniff\r\n\
             Referrer-Policy: no-referrer\r\n\
             Connection: close\r\n\r\n",
            html.len()
        );
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = self.stream.write_all(head.as_bytes());
        if method != "HEAD" {
            let _ = self.stream.write_all(html.as_bytes());
        }
        let _ = self.stream.flush();
        // Half-close, then read what the browser may still send, so that closing does not reset
        // the connection (a reset can make the browser drop the page it just received).
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.set_read_timeout(Some(Duration::from_millis(50)));
        let mut sink = [0u8; 1024];
        while matches!(self.stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(host: &str, port: u16) -> Redirect {
        Redirect {
            host: host.into(),
            port,
            path: "/".into(),
        }
    }

    #[test]
    fn loopback_ipv4_listener_has_an_ephemeral_port_and_frees_it_on_drop() {
        let l = Listener::bind(&redirect("127.0.0.1", 0)).unwrap();
        let port = l.port;
        assert_ne!(port, 0);
        assert_eq!(
            l.redirect_uri(&redirect("127.0.0.1", 0)),
            format!("http://127.0.0.1:{port}/")
        );
        drop(l);
        TcpListener::bind(("127.0.0.1", port)).expect("port is free again");
    }

    #[test]
    fn localhost_listens_on_ipv4_and_ipv6_with_one_port() {
        let l = Listener::bind(&redirect("localhost", 0)).unwrap();
        assert!(l
            .redirect_uri(&redirect("localhost", 0))
            .starts_with("http://localhost:"));
        TcpStream::connect(("127.0.0.1", l.port)).unwrap();
        if TcpListener::bind("[::1]:0").is_ok() {
            assert_eq!(l.sockets.len(), 2);
            TcpStream::connect(("::1", l.port)).unwrap();
        }
    }

    #[test]
    fn a_port_in_use_is_invalid_argument_naming_the_port_field() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = Listener::bind(&redirect("127.0.0.1", port)).err().unwrap();
        assert_eq!(e.field.as_deref(), Some("config.redirect.port"));
    }

    #[test]
    fn request_line_splits_method_and_target() {
        assert_eq!(
            request_line("GET /?code=4%2F0A&state=x HTTP/1.1\r\nHost: a"),
            ("GET", "/?code=4%2F0A&state=x")
        );
        assert_eq!(request_line(""), ("", ""));
    }

    #[test]
    fn login_hint_with_spaces_is_refused_naming_the_field() {
        let e = check_login_hint(Some("a b@c")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("options.login_hint"));
        assert_eq!(check_login_hint(Some("")).unwrap(), None);
        assert_eq!(check_login_hint(Some("a@b.c")).unwrap(), Some("a@b.c"));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn redirect_errors_map_to_statuses() {
        assert_eq!(
            redirect_error("invalid_scope", None).field.as_deref(),
            Some("config.scopes")
        );
        assert_eq!(redirect_error("unauthorized_client", None).status, Status::AuthFailed);
        assert_eq!(redirect_error("server_error", Some("x")).status, Status::Provider);
    }
}
