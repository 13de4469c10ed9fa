//! The SMTP transport: an SMTP session over rustls ([`session`]), AUTH XOAUTH2 (or OAUTHBEARER)
//! with an initial response, and an all-or-nothing envelope.
//!
//! - TLS always: `smtps://` is TLS from the first byte, `smtp://` must offer and complete STARTTLS
//!   before anything else is said (never plain text). Certificates are checked by the same
//!   configuration as HTTPS ([`crate::tls`]: system store plus `tls.extra_ca_file`), which names
//!   the issuer of a rejected certificate: that is how a user recognises TLS inspection.
//! - AUTH is driven here: on Gmail's failure challenge (`334 <base64 JSON>`) the server waits for
//!   an answer (lettre's `auth()` gives up without one, the classic "AUTH command failed: 334"
//!   bug, providers.md §5.5). We send the empty line (XOAUTH2) or `AQ==` (OAUTHBEARER) and read
//!   the final `535`.
//! - Every `RCPT TO` must be accepted before `DATA`: a refused recipient ends the transaction
//!   with `RSET` and nothing is sent to anybody.
//! - Authenticated connections are kept per account and access token in the transport's own
//!   [`Pool`] ([`Smtp`] owns it) and reused by later sends on the same client; a stale one is
//!   replaced, but only before `DATA`. A send takes an idle connection or opens its own, so the
//!   pool grows to the number of sends running at once; at most [`MAX_POOLED`] idle connections
//!   are kept per client (the oldest is closed with `QUIT` beyond that).
//! - Round trips (issue 17): when the server offers PIPELINING (RFC 2920; Gmail does), a send on
//!   a kept connection is two round trips: one flight of `RSET` (the kept connection's probe),
//!   `MAIL`, every `RCPT` and `DATA`, whose replies are read in order, then the data. On a new
//!   connection the AUTH (with its initial response) goes first in that flight (RFC 4954 §4: it
//!   completes in one round trip when the token is accepted); a rejected token's `334` makes the
//!   server take the `MAIL` line as the SASL answer and refuse the rest, no data follows, the
//!   connection is dropped and the rejection goes back for the one refresh and retry. Without
//!   PIPELINING, one command at a time. New connections resume the client's TLS session when
//!   the server allows it (rustls' session cache in the one TLS configuration of the client,
//!   shared with HTTPS).
//! - Timeouts and cancel: `timeouts.connect_s` bounds TCP connect, TLS, greeting and EHLO (and
//!   STARTTLS) together (DNS is the OS resolver's, as for HTTPS); `timeouts.io_s` each read or
//!   write after that. Every wait looks at the cancel flag at least every
//!   [`crate::cancel::POLL`], so a cancel ends a step at once, also while the server is silent.
//!   Before the final `.` of the data nothing can be delivered (RFC 5321 §4.1.1.4), so a cancel
//!   up to then is CANCELLED; after it the honest answer is "may have been delivered".
//! - A connection that failed in transport is dropped, never closed with `QUIT`, which would
//!   only wait again for a server that does not answer.

mod session;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lettre::transport::smtp::commands::{Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use rustls::ClientConfig;

use crate::cancel::Call;
use crate::config::{SmtpAuth, SmtpEndpoint};
use crate::context::Ctx;
use crate::error::{Error, ProviderReply, Result, Status};
use crate::hint;
use crate::message::PreparedMessage;
use crate::secret::Secret;
use crate::transport::{Failure, Sent};
use session::{Broken, DataShape, Limit, Reply, Session};

/// An idle connection older than this is closed instead of reused (Gmail drops idle sessions
/// after a few minutes; the `RSET` before reuse catches the rest).
const MAX_IDLE: Duration = Duration::from_secs(120);
/// How long the `RSET` that checks a kept connection may take before it is given up for a new
/// connection: a healthy server answers at once, and a connection a NAT or firewall dropped
/// silently would otherwise hold the send for the whole `io_s`.
const PROBE_WITHIN: Duration = Duration::from_secs(5);
/// Idle connections kept per client.
const MAX_POOLED: usize = 8;
/// How long closing connections with `QUIT` may take, all of them together: freeing a client
/// must not hang on a server that stopped answering.
const QUIT_WITHIN: Duration = Duration::from_secs(2);

/// The SMTP transport of one client: its TLS configuration and its pool of connections.
#[derive(Debug)]
pub(crate) struct Smtp {
    tls: Arc<ClientConfig>,
    pool: Pool,
}

/// Authenticated SMTP connections of one client, waiting for the next send.
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    hasher: RandomState,
}

struct Idle {
    account: String,
    key: u64,
    since: Instant,
    conn: Session,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            hasher: RandomState::new(),
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("idle", &self.idle_count()).finish()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        let until = Instant::now() + QUIT_WITHIN;
        for i in idle {
            i.conn.quit(until);
        }
    }
}

impl Pool {
    /// The pool key: which account and which access token authenticated the connection. The
    /// token itself is not kept, only a keyed hash of it.
    fn key(&self, account: &str, token: &Secret) -> u64 {
        self.hasher.hash_one((account.to_ascii_lowercase(), token.expose()))
    }

    fn take(&self, key: u64) -> Option<Session> {
        let (found, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let (stale, keep): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.since.elapsed() > MAX_IDLE);
            *idle = keep;
            let found = idle.iter().rposition(|i| i.key == key).map(|at| idle.remove(at).conn);
            (found, stale)
        };
        let until = Instant::now() + QUIT_WITHIN;
        for s in stale {
            s.conn.quit(until);
        }
        found
    }

    fn put(&self, account: &str, key: u64, conn: Session) {
        if conn.has_broken() {
            return;
        }
        let evicted = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Connections of this account authenticated with an older token will not be asked
            // for again: the host now sends with the new one.
            let (old, mut keep): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.account.eq_ignore_ascii_case(account) && i.key != key);
            keep.push(Idle {
                account: account.to_string(),
                key,
                since: Instant::now(),
                conn,
            });
            let mut evicted = old;
            while keep.len() > MAX_POOLED {
                evicted.push(keep.remove(0));
            }
            *idle = keep;
            evicted
        };
        let until = Instant::now() + QUIT_WITHIN;
        for e in evicted {
            e.conn.quit(until);
        }
    }

    /// Closes (QUIT) the idle connections of `account` and those authenticated with one of
    /// `tokens`: after a revoke nothing may go out on them. Returns how many were closed.
    fn close_authenticated(&self, account: Option<&str>, tokens: &[Secret]) -> usize {
        let closed = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let (closed, keep): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut *idle).into_iter().partition(|i| {
                account.is_some_and(|a| i.account.eq_ignore_ascii_case(a))
                    || tokens.iter().any(|t| self.key(&i.account, t) == i.key)
            });
            *idle = keep;
            closed
        };
        let until = Instant::now() + QUIT_WITHIN;
        let n = closed.len();
        for c in closed {
            c.conn.quit(until);
        }
        n
    }

    /// Idle connections right now (for `Debug` and tests).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }
}

/// Where a reply came from, for messages and the status mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage<'a> {
    Connect,
    StartTls,
    Auth,
    Mail,
    Rcpt(&'a str),
    Data,
    DataEnd,
}

impl fmt::Display for Stage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "the connection",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt(_) => "RCPT TO",
            Stage::Data => "DATA",
            Stage::DataEnd => "the message data",
        })
    }
}

impl Smtp {
    /// A transport with an empty pool, connecting with `tls`.
    pub(crate) fn new(tls: Arc<ClientConfig>) -> Smtp {
        Smtp {
            tls,
            pool: Pool::default(),
        }
    }

    /// Closes the pooled connections of `account` or authenticated with one of `tokens` (a
    /// revoked grant's); returns how many.
    pub(crate) fn close_authenticated(&self, account: Option<&str>, tokens: &[Secret]) -> usize {
        self.pool.close_authenticated(account, tokens)
    }

    /// One attempt: a pooled or new authenticated connection, then the transaction.
    pub(crate) fn send(
        &self,
        ctx: Ctx<'_>,
        account: &str,
        access_token: &Secret,
        message: &PreparedMessage,
    ) -> Result<Sent, Failure> {
        send(ctx, &self.tls, &self.pool, account, access_token, message)
    }
}

fn send(
    ctx: Ctx<'_>,
    tls: &Arc<ClientConfig>,
    pool: &Pool,
    account: &str,
    access_token: &Secret,
    message: &PreparedMessage,
) -> Result<Sent, Failure> {
    let call = ctx.call;
    let settings = ctx.settings;
    let endpoint = settings
        .endpoints
        .smtp
        .as_ref()
        .ok_or_else(|| Error::invalid("config.endpoints.smtp", "the smtp transport needs endpoints.smtp"))?;
    let key = pool.key(account, access_token);
    let io = Limit::Each(settings.timeouts.io);
    let probe = Limit::Each(settings.timeouts.io.min(PROBE_WITHIN));

    for attempt in 0..2 {
        call.check()?;
        let pooled = if attempt == 0 { pool.take(key) } else { None };
        let (mut conn, reused) = match pooled {
            // With PIPELINING the RSET that checks a kept connection goes out in the
            // transaction's one flight (`transaction`, `Tx::Stale`).
            Some(conn) if conn.supports("PIPELINING") => (conn, true),
            Some(mut conn) => match conn.command(call, "RSET\r\n", probe) {
                Ok(r) if r.code == 250 => {
                    ctx.log.debug(|| "SMTP: reusing an authenticated connection".into());
                    (conn, true)
                }
                Err(Broken::Cancelled) => return Err(Error::cancelled().into()),
                _ => {
                    ctx.log
                        .debug(|| "SMTP: a kept connection went stale; opening a new one".into());
                    drop(conn);
                    (open(ctx, tls, endpoint, account, access_token)?, false)
                }
            },
            None => {
                let conn = connect(ctx, tls, endpoint)?;
                call.check()?;
                if conn.supports("PIPELINING") {
                    (conn, false)
                } else {
                    (authenticated(ctx, conn, endpoint, account, access_token)?, false)
                }
            }
        };
        let rset = (reused && conn.supports("PIPELINING")).then_some(probe);
        // A new connection with PIPELINING authenticates in the envelope's flight (RFC 4954 §4).
        let auth = (!reused && conn.supports("PIPELINING")).then_some(PipelinedAuth {
            mechanism: settings.smtp_auth,
            endpoint,
            account,
            token: access_token,
        });
        match transaction(&mut conn, call, message, io, rset, auth, ctx.progress) {
            Ok(()) => {
                pool.put(account, key, conn);
                return Ok(Sent::default());
            }
            // The kept connection did not answer its RSET well: nothing was sent (the data goes
            // out only after every reply of the flight); a new connection takes over.
            Err(Tx::Stale) if attempt == 0 => {
                ctx.log
                    .debug(|| "SMTP: a kept connection went stale; opening a new one".into());
                drop(conn);
                continue;
            }
            Err(Tx::Stale) => {
                return Err(Error::internal("SMTP: a new connection was asked to probe itself").into());
            }
            // The pipelined AUTH failed: the server took the MAIL line as the SASL answer and
            // refused the rest (nothing can be delivered: no data was sent). The connection is
            // not reused; a rejected token comes back for the one refresh and retry.
            Err(Tx::Auth(failure)) => {
                drop(conn);
                return Err(failure);
            }
            Err(Tx::Abandon(error)) => {
                // The server said 354 to a transaction that must not go on: the connection is
                // dropped without the final `.`, so nothing is delivered (RFC 5321 §4.1.1.4).
                drop(conn);
                return Err(error.into());
            }
            // A kept connection that fails in transport (no SMTP reply) before DATA was closed by
            // the server while idle: nothing was sent; try once more on a new connection. A reply
            // (421 and the like) is the server's answer and is returned as it is.
            Err(Tx::Before(error))
                if reused
                    && attempt == 0
                    && conn.has_broken()
                    && error.provider.is_none()
                    && error.status != Status::Cancelled =>
            {
                ctx.log.debug(|| {
                    format!(
                        "SMTP: kept connection failed before DATA ({}); reconnecting",
                        error.message
                    )
                });
                drop(conn);
                continue;
            }
            Err(Tx::Before(error)) => {
                if !conn.has_broken()
                    && !call.is_cancelled()
                    && matches!(conn.command(call, "RSET\r\n", io), Ok(r) if r.code == 250)
                {
                    pool.put(account, key, conn);
                }
                return Err(error.into());
            }
            Err(Tx::DataCut(error) | Tx::After(error)) => {
                drop(conn);
                return Err(error.into());
            }
        }
    }
    Err(Error::internal("SMTP: no connection after two attempts").into())
}

/// Connects (TLS or STARTTLS), then authenticates.
fn open(
    ctx: Ctx<'_>,
    tls: &Arc<ClientConfig>,
    endpoint: &SmtpEndpoint,
    account: &str,
    access_token: &Secret,
) -> Result<Session, Failure> {
    let conn = connect(ctx, tls, endpoint)?;
    ctx.call.check()?;
    authenticated(ctx, conn, endpoint, account, access_token)
}

/// AUTH on a connected session, one command at a time.
fn authenticated(
    ctx: Ctx<'_>,
    mut conn: Session,
    endpoint: &SmtpEndpoint,
    account: &str,
    access_token: &Secret,
) -> Result<Session, Failure> {
    let call = ctx.call;
    let io = Limit::Each(ctx.settings.timeouts.io);
    match authenticate(
        &mut conn,
        call,
        io,
        ctx.settings.smtp_auth,
        endpoint,
        account,
        access_token,
    ) {
        Ok(()) => {
            ctx.log.debug(|| format!("SMTP: authenticated as {account}"));
            Ok(conn)
        }
        // No reply (timeout, reset, cancel): a QUIT would only wait again.
        Err(f) if conn.has_broken() => Err(f),
        // The server answered: the connection still works, say goodbye.
        Err(f) => {
            conn.quit(Instant::now() + QUIT_WITHIN);
            Err(f)
        }
    }
}

/// For the pre-flight check: TCP, TLS (at once or after STARTTLS), greeting and EHLO; the detail
/// says how the connection is secured and whether the server offers AUTH.
pub(crate) fn check_connect(
    ctx: Ctx<'_>,
    tls: &Arc<ClientConfig>,
    endpoint: &SmtpEndpoint,
) -> Result<(CheckSession, String)> {
    let conn = connect(ctx, tls, endpoint)?;
    let detail = format!(
        "{} and EHLO answered{}",
        if endpoint.implicit_tls { "TLS" } else { "STARTTLS" },
        if conn.supports("AUTH") {
            "; AUTH offered"
        } else {
            "; no AUTH offered"
        }
    );
    Ok((CheckSession(conn), detail))
}

/// An SMTP connection after EHLO, held by the check between its two SMTP steps.
pub(crate) struct CheckSession(Session);

/// For the pre-flight check: AUTH with the access token, then QUIT before any MAIL FROM.
pub(crate) fn check_auth(
    ctx: Ctx<'_>,
    conn: CheckSession,
    endpoint: &SmtpEndpoint,
    account: &str,
    access_token: &Secret,
) -> Result<()> {
    let mut conn = conn.0;
    let io = Limit::Each(ctx.settings.timeouts.io);
    let result = authenticate(
        &mut conn,
        ctx.call,
        io,
        ctx.settings.smtp_auth,
        endpoint,
        account,
        access_token,
    );
    if !conn.has_broken() {
        conn.quit(Instant::now() + QUIT_WITHIN);
    }
    result.map_err(|f| match f {
        Failure::TokenRejected(e) | Failure::Other(e) => e,
    })
}

/// The EHLO name: the host name when it is a plain DNS name, else `[127.0.0.1]`.
fn hello_name() -> String {
    match ClientId::default() {
        ClientId::Domain(d)
            if !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            d
        }
        _ => "[127.0.0.1]".to_string(),
    }
}

/// TCP, TLS (at once or after STARTTLS), greeting and EHLO, all within `timeouts.connect_s`.
fn connect(ctx: Ctx<'_>, tls: &Arc<ClientConfig>, endpoint: &SmtpEndpoint) -> Result<Session> {
    let call = ctx.call;
    let settings = ctx.settings;
    let started = Instant::now();
    let deadline = started + settings.timeouts.connect;
    let limit = Limit::Until(deadline);
    let host = endpoint.host.as_str();
    let hello = hello_name();
    let failed = |b: Broken, stage: Stage<'_>| map_broken(b, stage, "timeouts.connect_s");
    let expect = |r: Reply, code: u16, stage: Stage<'_>| -> Result<()> {
        if r.code == code {
            Ok(())
        } else {
            Err(map_reply(r.code, &r.text(), stage))
        }
    };

    let mut conn = Session::connect(call, host, endpoint.port, deadline).map_err(|b| {
        // No TCP connection: a silent drop or a refusal is most often a firewall on the SMTP
        // port (a name that does not resolve keeps the network hint).
        let port_hint = match &b {
            Broken::Timeout => Some(&hint::CONNECT_DROPPED),
            Broken::Io(e) if e.kind() != io::ErrorKind::NotFound => Some(&hint::SMTP_PORT_BLOCKED),
            _ => None,
        };
        let mut error = failed(b, Stage::Connect);
        if let Some(h) = port_hint {
            error = error.with_hint(h);
        }
        if settings.proxy.is_some() && matches!(error.status, Status::Network | Status::Timeout) {
            // Behind a proxy the direct connection is often what the firewall blocks.
            error.message = format!(
                "{}; SMTP connects directly: the configured proxy carries only the HTTPS calls (use the gmail_api transport behind a proxy)",
                error.message
            );
        }
        error
    })?;
    if endpoint.implicit_tls {
        conn.start_tls(call, tls, host, deadline)
            .map_err(|b| failed(b, Stage::Connect))?;
    }
    let greeting = conn.read_reply(call, limit).map_err(|b| failed(b, Stage::Connect))?;
    expect(greeting, 220, Stage::Connect)?;
    let ehlo = conn.ehlo(call, &hello, limit).map_err(|b| failed(b, Stage::Connect))?;
    expect(ehlo, 250, Stage::Connect)?;
    if !endpoint.implicit_tls {
        if !conn.supports("STARTTLS") {
            conn.quit(Instant::now() + QUIT_WITHIN);
            return Err(Error::new(
                Status::Tls,
                format!(
                    "the SMTP server {}:{} does not offer STARTTLS; liboauthmail never authenticates over plain text",
                    endpoint.host, endpoint.port
                ),
            ));
        }
        let reply = conn
            .command(call, "STARTTLS\r\n", limit)
            .map_err(|b| failed(b, Stage::StartTls))?;
        expect(reply, 220, Stage::StartTls)?;
        conn.start_tls(call, tls, host, deadline)
            .map_err(|b| failed(b, Stage::StartTls))?;
        // RFC 3207 §4.2: forget what was said in plain text and ask again.
        let ehlo = conn.ehlo(call, &hello, limit).map_err(|b| failed(b, Stage::StartTls))?;
        expect(ehlo, 250, Stage::StartTls)?;
    }
    if !conn.is_encrypted() {
        return Err(Error::new(Status::Tls, "the SMTP connection is not encrypted"));
    }
    if conn.tls_resumed() {
        ctx.log.debug(|| "SMTP: TLS session resumed".into());
    } else {
        ctx.log.debug(|| "SMTP: full TLS handshake".into());
    }
    ctx.log.debug(|| {
        format!(
            "SMTP: connected to {}:{} ({}) in {} ms",
            endpoint.host,
            endpoint.port,
            if endpoint.implicit_tls { "TLS" } else { "STARTTLS" },
            started.elapsed().as_millis()
        )
    });
    Ok(conn)
}

/// The SASL initial response (providers.md §2.3, §2.6), base64-encoded.
fn initial_response(mechanism: SmtpAuth, endpoint: &SmtpEndpoint, account: &str, token: &Secret) -> Secret {
    let raw = match mechanism {
        SmtpAuth::Xoauth2 => format!("user={account}\x01auth=Bearer {}\x01\x01", token.expose()),
        SmtpAuth::Oauthbearer => format!(
            "n,a={account},\x01host={}\x01port={}\x01auth=Bearer {}\x01\x01",
            endpoint.host,
            endpoint.port,
            token.expose()
        ),
    };
    Secret::new(base64::engine::general_purpose::STANDARD.encode(raw))
}

fn mechanism_name(m: SmtpAuth) -> &'static str {
    match m {
        SmtpAuth::Xoauth2 => "XOAUTH2",
        SmtpAuth::Oauthbearer => "OAUTHBEARER",
    }
}

fn authenticate(
    conn: &mut Session,
    call: &Call,
    io: Limit,
    mechanism: SmtpAuth,
    endpoint: &SmtpEndpoint,
    account: &str,
    token: &Secret,
) -> Result<(), Failure> {
    let name = mechanism_name(mechanism);
    let failed = |b: Broken| Failure::Other(map_broken(b, Stage::Auth, "timeouts.io_s"));
    // No line-length limit applies to the AUTH line: Microsoft tokens exceed 2,500 bytes (§2.4).
    let line = Secret::new(format!(
        "AUTH {name} {}\r\n",
        initial_response(mechanism, endpoint, account, token).expose()
    ));
    let reply = conn.command(call, line.expose(), io).map_err(failed)?;
    drop(line);
    let (reply, challenge) = if reply.code == 334 {
        let challenge = decode_challenge(&reply);
        // The server reports the failure in the challenge and waits for our answer: an empty
        // line for XOAUTH2, a single 0x01 (base64 "AQ==") for OAUTHBEARER (RFC 7628 §3.2.3).
        let answer = match mechanism {
            SmtpAuth::Xoauth2 => "\r\n",
            SmtpAuth::Oauthbearer => "AQ==\r\n",
        };
        (conn.command(call, answer, io).map_err(failed)?, challenge)
    } else {
        (reply, None)
    };
    match reply.code {
        235 => Ok(()),
        400..=599 => Err(auth_failure(&reply, name, challenge.as_deref())),
        _ => Err(Error::new(
            Status::Provider,
            format!("unexpected reply to AUTH {name}: {}", reply_text(&reply)),
        )
        .with_provider(ProviderReply::smtp(reply_text(&reply)))
        .into()),
    }
}

/// The decoded 334 challenge (`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`)
/// for the log and the error message; it holds no secret.
fn decode_challenge(r: &Reply) -> Option<String> {
    let word = r.first_word()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(word.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(text.trim().chars().take(300).collect())
}

fn auth_failure(r: &Reply, mechanism: &str, challenge: Option<&str>) -> Failure {
    let reply = reply_text(r);
    if reply.contains("5.7.139") {
        // Microsoft: SMTP AUTH is switched off for the mailbox or tenant; a new token won't help.
        return Failure::Other(
            Error::new(
                Status::AuthFailed,
                format!("SMTP AUTH is disabled for this mailbox: {reply}"),
            )
            .with_hint(&hint::SMTP_AUTH_DISABLED)
            .with_provider(ProviderReply::smtp(reply)),
        );
    }
    if r.code == 535 {
        let detail = challenge.map(|c| format!("; the server said {c}")).unwrap_or_default();
        return Failure::TokenRejected(
            Error::new(
                Status::AuthFailed,
                format!("the SMTP server rejected the access token (AUTH {mechanism}: {reply}{detail})"),
            )
            .with_provider(ProviderReply::smtp(reply)),
        );
    }
    Failure::Other(map_reply(r.code, &r.text(), Stage::Auth))
}

/// How a transaction failed: before `DATA` (nothing sent; the session says whether the
/// connection is still usable), while the data went out (cut short: nothing delivered, but not
/// retried either), or after the final `.` went out (may have been delivered; never retried).
enum Tx {
    /// A kept connection's pipelined `RSET` got no reply or not 250: replace the connection.
    Stale,
    /// Refused before the data, but the server already answered `DATA` with 354 (pipelined):
    /// the connection must be dropped without the final `.`.
    Abandon(Error),
    /// The AUTH pipelined with the envelope failed (the token, or the server's answer).
    Auth(Failure),
    Before(Error),
    DataCut(Error),
    After(Error),
}

/// One message on an authenticated connection. When the server offers PIPELINING (RFC 2920)
/// the commands go out in one flight: `RSET` (only with `rset`, the probe of a kept connection,
/// answered within that limit), `MAIL`, every `RCPT` and `DATA`; the replies are read in order and
/// the data follows only when every one of them is good. Without PIPELINING, one command at a
/// time.
fn transaction(
    conn: &mut Session,
    call: &Call,
    message: &PreparedMessage,
    io: Limit,
    rset: Option<Limit>,
    auth: Option<PipelinedAuth<'_>>,
    progress: Option<&crate::progress::Progress>,
) -> Result<(), Tx> {
    let failed = |b: Broken, stage: Stage<'_>| Tx::Before(map_broken(b, stage, "timeouts.io_s"));
    let refused = |r: &Reply, stage: Stage<'_>| Tx::Before(map_reply(r.code, &r.text(), stage));
    call.check().map_err(Tx::Before)?;
    let envelope = &message.envelope;

    let mut params = Vec::new();
    let non_ascii_addresses =
        !envelope.from.to_string().is_ascii() || envelope.to.iter().any(|r| !r.address.to_string().is_ascii());
    if non_ascii_addresses {
        if !conn.supports("SMTPUTF8") {
            return Err(Tx::Before(Error::new(
                Status::Rejected,
                "an address is not ASCII and the SMTP server does not support SMTPUTF8",
            )));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() && conn.supports("8BITMIME") {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mail = Mail::new(Some(envelope.from.clone()), params).to_string();
    if conn.supports("PIPELINING") {
        pipelined_envelope(conn, call, envelope, &mail, io, rset, auth)?;
    } else {
        let reply = conn.command(call, &mail, io).map_err(|b| failed(b, Stage::Mail))?;
        if reply.code != 250 {
            return Err(refused(&reply, Stage::Mail));
        }

        // All or nothing: every recipient must be accepted before DATA.
        for r in &envelope.to {
            let rcpt = Rcpt::new(r.address.clone(), vec![]).to_string();
            let stage = Stage::Rcpt(&r.field);
            let reply = conn.command(call, &rcpt, io).map_err(|b| failed(b, stage))?;
            if !matches!(reply.code, 250 | 251) {
                return Err(refused(&reply, stage));
            }
        }
        let reply = conn.command(call, "DATA\r\n", io).map_err(|b| failed(b, Stage::Data))?;
        if reply.code != 354 {
            return Err(refused(&reply, Stage::Data));
        }
    }

    // Until the final "." has gone out the server must not deliver (RFC 5321 §4.1.1.4): a
    // failure here, a cancel included, leaves nothing delivered.
    let (dots, needs_crlf) = message.smtp_lines();
    let shape = DataShape {
        len: message.smtp_len(),
        dots,
        needs_crlf,
    };
    conn.send_data(call, &mut message.smtp_reader(), shape, io, progress)
        .map_err(|b| Tx::DataCut(map_broken(b, Stage::DataEnd, "timeouts.io_s")))?;

    // The point of no return: from here on, a failure is reported, never retried.
    let not_resent = |mut error: Error| {
        error.message = format!(
            "{}; the message data had been sent, so it may have been delivered; it was not sent again",
            error.message
        );
        Tx::After(error)
    };
    match conn.read_reply(call, io) {
        Ok(r) if r.code == 250 => Ok(()),
        Ok(r) => Err(Tx::After(map_reply(r.code, &r.text(), Stage::DataEnd))),
        // A cancel now cannot take the message back: say what may have happened.
        Err(Broken::Cancelled) => Err(not_resent(Error::new(
            Status::Cancelled,
            "the send was cancelled while waiting for the server's answer to the message data",
        ))),
        Err(b) => Err(not_resent(map_broken(b, Stage::DataEnd, "timeouts.io_s"))),
    }
}

/// The envelope in one flight (RFC 2920): [`RSET`], `MAIL`, every `RCPT`, `DATA`, then every
/// reply in order. `Ok` when the server is waiting for the data (354 after every command was
/// accepted). All or nothing: a refused `MAIL` or `RCPT` fails the transaction even if the server
/// went on to accept `DATA` (it does when some recipient passed); then the connection is
/// abandoned without the final `.`, so nothing is delivered.
fn pipelined_envelope(
    conn: &mut Session,
    call: &Call,
    envelope: &crate::message::Envelope,
    mail: &str,
    io: Limit,
    rset: Option<Limit>,
    auth: Option<PipelinedAuth<'_>>,
) -> Result<(), Tx> {
    let failed = |b: Broken, stage: Stage<'_>| Tx::Before(map_broken(b, stage, "timeouts.io_s"));
    let refused = |r: &Reply, stage: Stage<'_>| Tx::Before(map_reply(r.code, &r.text(), stage));
    let response = auth
        .as_ref()
        .map(|a| initial_response(a.mechanism, a.endpoint, a.account, a.token));
    // Holds the token when AUTH is in it: zeroed when dropped (as a Secret, below). Sized so it
    // never grows (a grown String would leave a copy of the token behind); an address is at
    // most 254 bytes, so a RCPT line well under 600.
    let mut flight_text = String::with_capacity(
        64 + mail.len() + envelope.to.len() * 600 + response.as_ref().map_or(0, |r| r.expose().len() + 32),
    );
    if let (Some(a), Some(response)) = (&auth, &response) {
        flight_text.push_str("AUTH ");
        flight_text.push_str(mechanism_name(a.mechanism));
        flight_text.push(' ');
        flight_text.push_str(response.expose());
        flight_text.push_str("\r\n");
    }
    if rset.is_some() {
        flight_text.push_str("RSET\r\n");
    }
    flight_text.push_str(mail);
    for r in &envelope.to {
        flight_text.push_str(&Rcpt::new(r.address.clone(), vec![]).to_string());
    }
    flight_text.push_str("DATA\r\n");
    let flight = Secret::new(flight_text);
    let written = conn.write_commands(call, flight.expose(), io);
    drop(flight);
    if let Err(b) = written {
        return Err(match (b, rset) {
            (Broken::Cancelled, _) => Tx::Before(Error::cancelled()),
            // A kept connection that cannot even take the flight is stale.
            (_, Some(_)) => Tx::Stale,
            (b, None) => failed(b, Stage::Mail),
        });
    }
    if let Some(a) = &auth {
        read_pipelined_auth(conn, call, io, a)?;
    }
    if let Some(probe) = rset {
        match conn.read_reply(call, probe) {
            Ok(r) if r.code == 250 => {}
            Err(Broken::Cancelled) => return Err(Tx::Before(Error::cancelled())),
            _ => return Err(Tx::Stale),
        }
    }
    // The first refusal is the answer; a server that closes after it (421) leaves the later
    // replies unread, and that is not the failure to report.
    let mut refusal: Option<Tx> = None;
    let next = |conn: &mut Session, refusal: &mut Option<Tx>, stage: Stage<'_>| {
        conn.read_reply(call, io)
            .map_err(|b| refusal.take().unwrap_or_else(|| failed(b, stage)))
    };
    let reply = next(conn, &mut refusal, Stage::Mail)?;
    if reply.code != 250 {
        refusal = Some(refused(&reply, Stage::Mail));
    }
    for r in &envelope.to {
        let stage = Stage::Rcpt(&r.field);
        let reply = next(conn, &mut refusal, stage)?;
        if refusal.is_none() && !matches!(reply.code, 250 | 251) {
            refusal = Some(refused(&reply, stage));
        }
    }
    let reply = next(conn, &mut refusal, Stage::Data)?;
    match (refusal, reply.code) {
        (None, 354) => Ok(()),
        (None, _) => Err(refused(&reply, Stage::Data)),
        (Some(Tx::Before(error)), 354) => Err(Tx::Abandon(error)),
        (Some(tx), _) => Err(tx),
    }
}

/// An AUTH with an initial response that goes out first in the envelope's flight on a new
/// connection (RFC 4954 §4: allowed with PIPELINING when the mechanism completes in one round
/// trip, which XOAUTH2 and OAUTHBEARER do when the token is accepted).
struct PipelinedAuth<'a> {
    mechanism: SmtpAuth,
    endpoint: &'a SmtpEndpoint,
    account: &'a str,
    token: &'a Secret,
}

/// The reply to a pipelined AUTH. `235`: go on with the envelope's replies. Anything else ends
/// the transaction as [`Tx::Auth`], and no data follows: on a rejected token the server answers
/// `334 <error JSON>` and takes the next line (our `MAIL FROM`) as the SASL answer, then says
/// `535`; the `RCPT`s and `DATA` after it are refused for want of authentication (and even a
/// `354` would not matter: the connection is dropped without data). So a failed AUTH delivers
/// nothing, whatever the server makes of the rest of the flight.
fn read_pipelined_auth(conn: &mut Session, call: &Call, io: Limit, auth: &PipelinedAuth<'_>) -> Result<(), Tx> {
    let name = mechanism_name(auth.mechanism);
    let failed = |b: Broken| Tx::Before(map_broken(b, Stage::Auth, "timeouts.io_s"));
    let reply = conn.read_reply(call, io).map_err(failed)?;
    match reply.code {
        235 => Ok(()),
        334 => {
            let challenge = decode_challenge(&reply);
            // The reply to the line the server took as the SASL answer: 535 for a bad token.
            let last = match conn.read_reply(call, io) {
                Ok(r) => r,
                // The challenge alone says the token was refused.
                Err(Broken::Cancelled) => return Err(Tx::Before(Error::cancelled())),
                Err(_) => Reply {
                    code: 535,
                    lines: vec!["(the server closed the connection after its AUTH challenge)".into()],
                },
            };
            let last = if last.code == 535 {
                last
            } else {
                Reply { code: 535, ..last }
            };
            Err(Tx::Auth(auth_failure(&last, name, challenge.as_deref())))
        }
        400..=599 => Err(Tx::Auth(auth_failure(&reply, name, None))),
        _ => Err(Tx::Auth(
            Error::new(
                Status::Provider,
                format!("unexpected reply to AUTH {name}: {}", reply_text(&reply)),
            )
            .with_provider(ProviderReply::smtp(reply_text(&reply)))
            .into(),
        )),
    }
}

/// `535 5.7.8 Username and Password not accepted. ...`
fn reply_text(r: &Reply) -> String {
    format!("{} {}", r.code, r.text())
}

/// A step that ended without a reply; `setting` names the timeout that bounds it.
fn map_broken(b: Broken, stage: Stage<'_>, setting: &str) -> Error {
    match b {
        Broken::Cancelled => Error::cancelled(),
        Broken::Timeout => Error::new(
            Status::Timeout,
            format!("the SMTP server did not answer in time at {stage} ({setting})"),
        ),
        Broken::Closed => Error::new(
            Status::Network,
            format!("the SMTP server closed the connection at {stage}"),
        ),
        Broken::Garbage(what) => Error::new(
            Status::Provider,
            format!("the SMTP server answered garbage at {stage}: {what}"),
        ),
        Broken::Certificate(named) => named,
        Broken::Stopped => Error::new(
            Status::Cancelled,
            "the progress callback cancelled the send before the end of the message data; nothing was delivered",
        ),
        Broken::Io(e) => map_io(&e, stage),
        Broken::Source(e) => Error::new(Status::Io, e.to_string()),
    }
}

fn map_io(e: &io::Error, stage: Stage<'_>) -> Error {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return Error::new(
            Status::Tls,
            format!(
                "the TLS handshake with the SMTP server failed at {stage}: {}",
                tls_reason(tls)
            ),
        );
    }
    match e.kind() {
        io::ErrorKind::NotFound => Error::new(Status::Network, format!("the SMTP server {e}")),
        // rustls reports a TCP close without TLS close_notify this way (with a link to its manual).
        io::ErrorKind::UnexpectedEof => Error::new(
            Status::Network,
            format!("the SMTP server closed the connection at {stage}"),
        ),
        io::ErrorKind::InvalidData => Error::new(
            Status::Tls,
            format!("TLS with the SMTP server failed at {stage}: the server's data was not valid TLS"),
        ),
        _ => Error::new(Status::Network, format!("SMTP connection failed at {stage}: {e}")),
    }
}

/// What a TLS failure means, in words a person can act on (not the TLS library's own texts).
fn tls_reason(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(alert) => format!("the server ended the handshake (TLS alert {alert:?})"),
        rustls::Error::InvalidCertificate(why) => format!("the server's certificate was refused ({why:?})"),
        rustls::Error::PeerIncompatible(_) => "the server offers no TLS version or cipher this client accepts".into(),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not speak TLS correctly".into()
        }
        _ => "a TLS protocol error".into(),
    }
}

/// Maps an SMTP reply to the API's statuses (API.md "All or nothing"; providers.md §2.5, §2.7).
fn map_reply(code: u16, text: &str, stage: Stage<'_>) -> Error {
    let reply = format!("{code} {text}");
    let enhanced = text
        .split_whitespace()
        .next()
        .filter(|w| {
            w.split('.').count() == 3
                && w.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or("");
    let lower = text.to_ascii_lowercase();
    // "Too many recipients" (452 4.5.3) is a per-message limit, not a rate: PROVIDER.
    let says_rate = [
        "rate limit",
        "rate-limit",
        "sending limit",
        "try again later",
        "too many login",
        "too many messages",
        // Exchange Online: "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded".
        "limit exceeded",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let said = format!("the SMTP server refused {stage}: {reply}");
    let error = match code {
        550 if enhanced == "5.4.5" => Error::new(Status::RateLimited, said).with_hint(&hint::DAILY_LIMIT),
        552 if matches!(stage, Stage::Rcpt(_)) && enhanced == "5.2.2" => {
            Error::new(Status::Rejected, said).with_hint(&hint::RECIPIENT_REFUSED)
        }
        552 => Error::new(Status::Rejected, said).with_hint(&hint::MESSAGE_TOO_LARGE),
        // Exchange Online: the account may not send as the From address (providers.md §4.5).
        554 if enhanced == "5.2.252" => Error::new(Status::Rejected, said).with_hint(&hint::MS_SEND_AS_DENIED),
        421 => Error::new(Status::RateLimited, said),
        // 454 "TLS not available due to temporary reason": the server's trouble, not a rate.
        400..=499 if matches!(stage, Stage::StartTls) => Error::new(Status::Provider, said),
        400..=499 if enhanced.starts_with("4.7.") || says_rate => Error::new(Status::RateLimited, said),
        400..=499 => Error::new(Status::Provider, said),
        534 | 535 => Error::new(Status::AuthFailed, said),
        // "Authentication required" / "Must issue a STARTTLS command first": not the message's fault.
        530 => Error::new(Status::Provider, said),
        500..=599 => match stage {
            Stage::Rcpt(_) => Error::new(
                Status::Rejected,
                format!("the SMTP server refused a recipient; nothing was sent: {reply}"),
            )
            .with_hint(&hint::RECIPIENT_REFUSED),
            Stage::Mail | Stage::Data | Stage::DataEnd => Error::new(Status::Rejected, said),
            _ => Error::new(Status::Provider, said),
        },
        _ => Error::new(Status::Provider, format!("unexpected SMTP reply at {stage}: {reply}")),
    };
    let error = error.with_provider(ProviderReply::smtp(reply));
    match stage {
        Stage::Rcpt(field) if code >= 500 => error.with_field(field),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> SmtpEndpoint {
        SmtpEndpoint {
            host: "smtp.gmail.com".into(),
            port: 587,
            implicit_tls: false,
        }
    }

    /// Freeing a client whose server stopped answering waits `QUIT_WITHIN` in all, not per
    /// pooled connection.
    #[test]
    fn closing_a_pool_of_connections_to_a_silent_server_takes_quit_within_in_all() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let pool = Pool::default();
        let mut accepted = Vec::new();
        for n in 0..3 {
            let deadline = Instant::now() + Duration::from_secs(5);
            let conn = Session::connect(&Call::detached(), "127.0.0.1", port, deadline).unwrap();
            accepted.push(l.accept().unwrap().0);
            // Another key each, so that put() keeps them all.
            pool.put(&format!("user{n}@example.ro"), n, conn);
        }
        assert_eq!(pool.idle_count(), 3);
        let started = Instant::now();
        drop(pool);
        let took = started.elapsed();
        assert!(took < QUIT_WITHIN + Duration::from_millis(500), "{took:?}");
        drop(accepted);
    }

    #[test]
    fn xoauth2_and_oauthbearer_initial_responses_match_the_documented_vectors() {
        let token = Secret::new("ya29.TEST-ACCESS-TOKEN");
        assert_eq!(
            initial_response(SmtpAuth::Xoauth2, &endpoint(), "erp.test@gmail.com", &token).expose(),
            "dXNlcj1lcnAudGVzdEBnbWFpbC5jb20BYXV0aD1CZWFyZXIgeWEyOS5URVNULUFDQ0VTUy1UT0tFTgEB"
        );
        assert_eq!(
            initial_response(SmtpAuth::Oauthbearer, &endpoint(), "erp.test@gmail.com", &token).expose(),
            "bixhPWVycC50ZXN0QGdtYWlsLmNvbSwBaG9zdD1zbXRwLmdtYWlsLmNvbQFwb3J0PTU4NwFhdXRoPUJlYXJlciB5YTI5LlRFU1QtQUNDRVNTLVRPS0VOAQE="
        );
    }

    #[test]
    fn smtp_replies_map_to_the_api_statuses() {
        let cases: [(u16, &str, Stage, Status, Option<&hint::Hint>); 11] = [
            (
                421,
                "4.7.0 Try again later, closing connection.",
                Stage::Mail,
                Status::RateLimited,
                None,
            ),
            (
                451,
                "4.7.0 Temporary System Problem",
                Stage::Rcpt("message.to[0]"),
                Status::RateLimited,
                None,
            ),
            (
                451,
                "4.3.0 Mail server temporarily rejected message.",
                Stage::DataEnd,
                Status::Provider,
                None,
            ),
            (
                452,
                "4.5.3 Your message has too many recipients",
                Stage::Rcpt("message.to[0]"),
                Status::Provider,
                None,
            ),
            (
                550,
                "5.4.5 Daily user sending limit exceeded.",
                Stage::Mail,
                Status::RateLimited,
                Some(&hint::DAILY_LIMIT),
            ),
            (
                552,
                "5.2.3 Your message exceeded Google's message size limits.",
                Stage::DataEnd,
                Status::Rejected,
                Some(&hint::MESSAGE_TOO_LARGE),
            ),
            (
                550,
                "5.1.1 The email account that you tried to reach does not exist.",
                Stage::Rcpt("message.bcc[0]"),
                Status::Rejected,
                Some(&hint::RECIPIENT_REFUSED),
            ),
            (553, "5.1.3 Invalid address", Stage::Mail, Status::Rejected, None),
            (554, "5.7.0 Message rejected", Stage::DataEnd, Status::Rejected, None),
            (
                530,
                "5.7.0 Must issue a STARTTLS command first.",
                Stage::Mail,
                Status::Provider,
                None,
            ),
            (
                504,
                "5.5.4 Unrecognized authentication type",
                Stage::Auth,
                Status::Provider,
                None,
            ),
        ];
        for (code, text, stage, status, h) in cases {
            let e = map_reply(code, text, stage);
            assert_eq!(e.status, status, "{code} {text}");
            if let Some(h) = h {
                assert_eq!(e.hint, h.text);
            }
            assert_eq!(
                e.provider.clone().unwrap().smtp_reply.unwrap(),
                format!("{code} {text}")
            );
        }
        let e = map_reply(550, "5.1.1 no such user", Stage::Rcpt("message.bcc[0]"));
        assert_eq!(e.field.as_deref(), Some("message.bcc[0]"));
        let e = map_reply(451, "4.3.0 try later", Stage::Rcpt("message.bcc[0]"));
        assert_eq!(e.field, None);
    }
}
