//! The SMTP transport: lettre's SMTP connection over rustls, AUTH XOAUTH2 (or OAUTHBEARER) with
//! an initial response, and an all-or-nothing envelope.
//!
//! - TLS always: `smtps://` is TLS from the first byte, `smtp://` must offer and complete STARTTLS
//!   before anything else is said (never plain text). Certificates are checked against the system
//!   store plus `tls.extra_ca_file` (rustls-platform-verifier).
//! - AUTH is driven here, not by lettre's `auth()`: on Gmail's failure challenge
//!   (`334 <base64 JSON>`) lettre gives up without answering, which leaves the server waiting
//!   (the classic "AUTH command failed: 334" bug, providers.md §5.5). We send the empty line
//!   (XOAUTH2) or `AQ==` (OAUTHBEARER) and read the final `535`.
//! - Every `RCPT TO` must be accepted before `DATA`: a refused recipient ends the transaction
//!   with `RSET` and nothing is sent to anybody.
//! - Authenticated connections are kept per account and access token in a [`Pool`] and reused by
//!   later sends on the same client; a stale one is replaced, but only before `DATA`.
//! - The call's cancel flag is looked at between the steps; a step itself is bounded by
//!   `timeouts.connect_s` (connect, TLS, greeting) or `timeouts.io_s` (each reply). This is a
//!   known limit: lettre owns the socket and offers no way to interrupt a blocked read, so a
//!   cancel that arrives while the server is silent takes effect when that step times out (at
//!   most `io_s`, or `connect_s` while connecting), not within 50 ms as on the HTTP transport.
//!   The send then returns CANCELLED if nothing was sent, and the honest "may have been
//!   delivered" error if the message data had gone out.
//! - A connection that failed in transport is dropped, never closed with `QUIT`: lettre's
//!   `abort` would write `QUIT` and wait up to `io_s` for a reply that a silent server never
//!   sends, doubling the time a timeout or a cancel takes.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use crate::cancel::Call;
use crate::client::Client;
use crate::config::{SmtpAuth, SmtpEndpoint};
use crate::error::{Error, ProviderReply, Result, Status};
use crate::hint;
use crate::message::PreparedMessage;
use crate::secret::Secret;
use crate::transport::{Failure, Sent};

/// An idle connection older than this is closed instead of reused (Gmail drops idle sessions
/// after a few minutes; a NOOP-style check catches the rest).
const MAX_IDLE: Duration = Duration::from_secs(120);
/// Idle connections kept per client.
const MAX_POOLED: usize = 8;

/// Authenticated SMTP connections of one client, waiting for the next send.
pub struct Pool {
    idle: Mutex<Vec<Idle>>,
    tls: Mutex<Option<TlsParameters>>,
    hasher: RandomState,
}

struct Idle {
    account: String,
    key: u64,
    since: Instant,
    conn: SmtpConnection,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            tls: Mutex::new(None),
            hasher: RandomState::new(),
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("Pool").field("idle", &n).finish()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        for i in idle {
            close(i.conn);
        }
    }
}

/// QUIT with a short deadline, then close: freeing a client must not hang on a dead server.
/// Only for connections whose last exchange worked; a broken one is simply dropped.
fn close(mut conn: SmtpConnection) {
    let _ = conn.set_timeout(Some(Duration::from_secs(2)));
    let _ = conn.quit();
    conn.abort();
}

impl Pool {
    /// The pool key: which account and which access token authenticated the connection. The
    /// token itself is not kept, only a keyed hash of it.
    fn key(&self, account: &str, token: &Secret) -> u64 {
        self.hasher.hash_one((account.to_ascii_lowercase(), token.expose()))
    }

    fn take(&self, key: u64) -> Option<SmtpConnection> {
        let (found, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let (stale, keep): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.since.elapsed() > MAX_IDLE);
            *idle = keep;
            let found = idle.iter().rposition(|i| i.key == key).map(|at| idle.remove(at).conn);
            (found, stale)
        };
        for s in stale {
            close(s.conn);
        }
        found
    }

    fn put(&self, account: &str, key: u64, conn: SmtpConnection) {
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
        for e in evicted {
            close(e.conn);
        }
    }

    /// Idle connections right now (for tests and logs).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    fn tls(&self, client: &Client, host: &str) -> Result<TlsParameters> {
        let mut cached = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = &*cached {
            return Ok(t.clone());
        }
        let mut builder = TlsParameters::builder(host.to_string());
        if let Some(path) = &client.settings().extra_ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::new(Status::Io, format!("cannot read the extra CA file '{path}': {e}"))
                    .with_field("config.tls.extra_ca_file")
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|_| {
                Error::invalid("config.tls.extra_ca_file", format!("'{path}' holds no PEM certificate"))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let params = builder
            .build()
            .map_err(|e| Error::new(Status::Tls, format!("the TLS configuration could not be built: {e}")))?;
        *cached = Some(params.clone());
        Ok(params)
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

/// One line written as it is (the AUTH line and the answer to a challenge).
struct Line<'a>(&'a str);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One attempt: a pooled or new authenticated connection, then the transaction.
pub fn send(
    client: &Client,
    call: &Call,
    account: &str,
    access_token: &Secret,
    message: &PreparedMessage,
) -> Result<Sent, Failure> {
    let settings = client.settings();
    let endpoint = settings
        .endpoints
        .smtp
        .as_ref()
        .ok_or_else(|| Error::invalid("config.endpoints.smtp", "the smtp transport needs endpoints.smtp"))?;
    let pool = &client.send_state.smtp;
    let key = pool.key(account, access_token);

    for attempt in 0..2 {
        call.check()?;
        let pooled = if attempt == 0 { pool.take(key) } else { None };
        let (mut conn, reused) = match pooled {
            Some(mut conn) => match conn.command(Rset) {
                Ok(_) => {
                    client.log.debug(|| "SMTP: reusing an authenticated connection".into());
                    (conn, true)
                }
                Err(_) => {
                    client
                        .log
                        .debug(|| "SMTP: a kept connection went stale; opening a new one".into());
                    drop(conn);
                    (open(client, call, endpoint, account, access_token)?, false)
                }
            },
            None => (open(client, call, endpoint, account, access_token)?, false),
        };
        match transaction(&mut conn, call, message) {
            Ok(()) => {
                pool.put(account, key, conn);
                return Ok(Sent::default());
            }
            // A kept connection that fails in transport (no SMTP reply) before DATA was closed by
            // the server while idle: nothing was sent; try once more on a new connection. A reply
            // (421 and the like) is the server's answer and is returned as it is.
            Err(Tx::Before { error, broken: true })
                if reused && attempt == 0 && error.provider.is_none() && error.status != Status::Cancelled =>
            {
                client.log.debug(|| {
                    format!(
                        "SMTP: kept connection failed before DATA ({}); reconnecting",
                        error.message
                    )
                });
                drop(conn);
                continue;
            }
            Err(Tx::Before { error, broken }) => {
                if !broken && !call.is_cancelled() && conn.command(Rset).is_ok() {
                    pool.put(account, key, conn);
                }
                // Nothing was sent; a step that failed because the host cancelled is CANCELLED.
                return Err(cancelled_or(call, error).into());
            }
            Err(Tx::After(error)) => {
                drop(conn);
                return Err(error.into());
            }
        }
    }
    Err(Error::internal("SMTP: no connection after two attempts").into())
}

/// Connects (TLS or STARTTLS), then authenticates.
fn open(
    client: &Client,
    call: &Call,
    endpoint: &SmtpEndpoint,
    account: &str,
    access_token: &Secret,
) -> Result<SmtpConnection, Failure> {
    let mut conn = connect(client, call, endpoint).map_err(|e| cancelled_or(call, e))?;
    call.check()?;
    match authenticate(&mut conn, client.settings().smtp_auth, endpoint, account, access_token) {
        Ok(()) => {
            client.log.debug(|| format!("SMTP: authenticated as {account}"));
            Ok(conn)
        }
        // The server answered: the connection still works, say goodbye.
        Err(Failure::TokenRejected(e)) => {
            close(conn);
            Err(Failure::TokenRejected(e))
        }
        Err(Failure::Other(e)) if e.provider.is_some() => {
            close(conn);
            Err(Failure::Other(e))
        }
        // No reply (timeout, reset): a QUIT would only wait again.
        Err(Failure::Other(e)) => {
            drop(conn);
            Err(Failure::Other(cancelled_or(call, e)))
        }
    }
}

/// A step that failed while the host cancelled the call failed because of the cancel (a silent
/// server is only noticed when the step times out, see the module docs): report CANCELLED. Only
/// for failures before the message data went out; after that the honest answer is the error.
fn cancelled_or(call: &Call, error: Error) -> Error {
    if call.is_cancelled() {
        Error::cancelled()
    } else {
        error
    }
}

fn hello_name() -> ClientId {
    match ClientId::default() {
        ClientId::Domain(d)
            if !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            ClientId::Domain(d)
        }
        ClientId::Domain(_) => ClientId::Ipv4(std::net::Ipv4Addr::LOCALHOST),
        other => other,
    }
}

fn connect(client: &Client, call: &Call, endpoint: &SmtpEndpoint) -> Result<SmtpConnection> {
    connect_tls(client, call, endpoint).map_err(|e| {
        if e.status == Status::Tls && e.message.contains(CERTIFICATE_REJECTED) {
            name_the_issuer(e, endpoint, client.settings().timeouts.connect)
        } else {
            e
        }
    })
}

fn connect_tls(client: &Client, call: &Call, endpoint: &SmtpEndpoint) -> Result<SmtpConnection> {
    let settings = client.settings();
    let tls = client.send_state.smtp.tls(client, &endpoint.host)?;
    let hello = hello_name();
    let address = (endpoint.host.as_str(), endpoint.port);
    let started = Instant::now();
    let connect_timeout = Some(settings.timeouts.connect);
    let mut conn = if endpoint.implicit_tls {
        SmtpConnection::connect(address, connect_timeout, &hello, Some(&tls), None)
            .map_err(|e| map_lettre(&e, Stage::Connect).0)?
    } else {
        let mut conn = SmtpConnection::connect(address, connect_timeout, &hello, None, None)
            .map_err(|e| map_lettre(&e, Stage::Connect).0)?;
        call.check()?;
        if !conn.can_starttls() {
            conn.abort();
            return Err(Error::new(
                Status::Tls,
                format!(
                    "the SMTP server {}:{} does not offer STARTTLS; liboauthmail never authenticates over plain text",
                    endpoint.host, endpoint.port
                ),
            ));
        }
        conn.starttls(&tls, &hello)
            .map_err(|e| map_lettre(&e, Stage::StartTls).0)?;
        conn
    };
    if !conn.is_encrypted() {
        conn.abort();
        return Err(Error::new(Status::Tls, "the SMTP connection is not encrypted"));
    }
    conn.set_timeout(Some(settings.timeouts.io))
        .map_err(|e| Error::new(Status::Network, format!("SMTP socket: {e}")))?;
    client.log.debug(|| {
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
    conn: &mut SmtpConnection,
    mechanism: SmtpAuth,
    endpoint: &SmtpEndpoint,
    account: &str,
    token: &Secret,
) -> Result<(), Failure> {
    let name = mechanism_name(mechanism);
    // No line-length limit applies to the AUTH line: Microsoft tokens exceed 2,500 bytes (§2.4).
    let line = Secret::new(format!(
        "AUTH {name} {}\r\n",
        initial_response(mechanism, endpoint, account, token).expose()
    ));
    let reply = conn.command(Line(line.expose()));
    drop(line);
    match reply {
        Ok(r) if r.has_code(235) => Ok(()),
        Ok(r) if r.has_code(334) => {
            let challenge = decode_challenge(&r);
            // The server reports the failure in the challenge and waits for our answer: an empty
            // line for XOAUTH2, a single 0x01 (base64 "AQ==") for OAUTHBEARER (RFC 7628 §3.2.3).
            let answer = match mechanism {
                SmtpAuth::Xoauth2 => "\r\n",
                SmtpAuth::Oauthbearer => "AQ==\r\n",
            };
            match conn.command(Line(answer)) {
                Ok(r) if r.has_code(235) => Ok(()),
                Ok(r) => Err(Error::new(
                    Status::Provider,
                    format!("unexpected reply to the AUTH {name} challenge: {}", reply_text(&r)),
                )
                .with_provider(ProviderReply::smtp(reply_text(&r)))
                .into()),
                Err(e) => Err(auth_failure(&e, name, challenge.as_deref())),
            }
        }
        Ok(r) => Err(Error::new(
            Status::Provider,
            format!("unexpected reply to AUTH {name}: {}", reply_text(&r)),
        )
        .with_provider(ProviderReply::smtp(reply_text(&r)))
        .into()),
        Err(e) => Err(auth_failure(&e, name, None)),
    }
}

/// The decoded 334 challenge (`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`)
/// for the log and the error message; it holds no secret.
fn decode_challenge(r: &Response) -> Option<String> {
    let word = r.first_word()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(word.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(text.trim().chars().take(300).collect())
}

fn auth_failure(e: &lettre::transport::smtp::Error, mechanism: &str, challenge: Option<&str>) -> Failure {
    let (error, _) = map_lettre(e, Stage::Auth);
    let code = e.status().map(u16::from);
    let reply = error
        .provider
        .as_ref()
        .and_then(|p| p.smtp_reply.clone())
        .unwrap_or_default();
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
    if code == Some(535) {
        let detail = challenge.map(|c| format!("; the server said {c}")).unwrap_or_default();
        return Failure::TokenRejected(
            Error::new(
                Status::AuthFailed,
                format!("the SMTP server rejected the access token (AUTH {mechanism}: {reply}{detail})"),
            )
            .with_provider(ProviderReply::smtp(reply)),
        );
    }
    Failure::Other(error)
}

/// How a transaction failed: before `DATA` was accepted (nothing sent; `broken` when the
/// connection is unusable) or after the message data went out (never retried).
enum Tx {
    Before { error: Error, broken: bool },
    After(Error),
}

fn transaction(conn: &mut SmtpConnection, call: &Call, message: &PreparedMessage) -> Result<(), Tx> {
    let before = |(error, broken): (Error, bool)| Tx::Before { error, broken };
    call.check().map_err(|error| Tx::Before { error, broken: false })?;
    let envelope = &message.envelope;
    let data = message.smtp_bytes();

    let mut params = Vec::new();
    let non_ascii_addresses =
        !envelope.from.to_string().is_ascii() || envelope.to.iter().any(|r| !r.address.to_string().is_ascii());
    if non_ascii_addresses {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(Tx::Before {
                error: Error::new(
                    Status::Rejected,
                    "an address is not ASCII and the SMTP server does not support SMTPUTF8",
                ),
                broken: false,
            });
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !data.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(Some(envelope.from.clone()), params))
        .map_err(|e| before(map_lettre(&e, Stage::Mail)))?;

    // All or nothing: every recipient must be accepted before DATA.
    for r in &envelope.to {
        call.check().map_err(|error| Tx::Before { error, broken: false })?;
        conn.command(Rcpt::new(r.address.clone(), vec![]))
            .map_err(|e| before(map_lettre(&e, Stage::Rcpt(&r.field))))?;
    }
    call.check().map_err(|error| Tx::Before { error, broken: false })?;
    conn.command(Data).map_err(|e| before(map_lettre(&e, Stage::Data)))?;

    // The point of no return: from the first byte of data on, a failure is reported, never retried.
    // lettre ends the data with CRLF.CRLF itself, so the message's own final CRLF is left out.
    let body = data.strip_suffix(b"\r\n").unwrap_or(data);
    match conn.message(body) {
        Ok(_) => Ok(()),
        Err(e) => {
            let (mut error, broken) = map_lettre(&e, Stage::DataEnd);
            if broken {
                error.message = format!(
                    "{}; the message data had been sent, so it may have been delivered; it was not sent again",
                    error.message
                );
            }
            Err(Tx::After(error))
        }
    }
}

/// `535 5.7.8 Username and Password not accepted. ...`
fn reply_text(r: &Response) -> String {
    let code: u16 = r.code().into();
    format!("{code} {}", r.message().collect::<Vec<_>>().join(" "))
}

/// A lettre error as ours; the bool says whether the connection is unusable afterwards.
fn map_lettre(e: &lettre::transport::smtp::Error, stage: Stage<'_>) -> (Error, bool) {
    if let Some(code) = e.status() {
        let code = u16::from(code);
        let text = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default();
        return (map_reply(code, text.trim(), stage), code == 421);
    }
    // Transport failures: look for the I/O error (and a rustls error inside it).
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return (map_io(io, stage), true);
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return (map_tls(tls), true);
        }
        source = s.source();
    }
    if e.is_tls() {
        return (Error::new(Status::Tls, format!("TLS failed at {stage}: {e}")), true);
    }
    if e.is_response() {
        return (
            Error::new(
                Status::Network,
                format!("the SMTP server closed the connection or answered garbage at {stage}"),
            ),
            true,
        );
    }
    (
        Error::new(Status::Provider, format!("SMTP failed at {stage}: {e}")),
        true,
    )
}

fn map_io(e: &io::Error, stage: Stage<'_>) -> Error {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return map_tls(tls);
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::new(
            Status::Timeout,
            format!("the SMTP server did not answer in time at {stage}"),
        ),
        _ => Error::new(Status::Network, format!("SMTP connection failed at {stage}: {e}")),
    }
}

/// The start of the message of a certificate failure, which [`connect`] then completes with the
/// certificate's names.
const CERTIFICATE_REJECTED: &str = "the SMTP server's TLS certificate was not accepted";

fn map_tls(e: &rustls::Error) -> Error {
    let error = Error::new(Status::Tls, format!("{CERTIFICATE_REJECTED}: {e}"));
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            error.with_hint(&hint::TLS_INSPECTION)
        }
        rustls::Error::InvalidCertificate(_) => error,
        // A handshake failure that is not about the certificate: nothing to name.
        _ => Error::new(
            Status::Tls,
            format!("the TLS handshake with the SMTP server failed: {e}"),
        ),
    }
}

/// After a certificate failure, looks at the certificate again without trusting it and puts its
/// subject and issuer into the message: "issued by CN=Corp Antivirus CA" is how a user recognises
/// TLS inspection (API.md, TLS). Nothing is sent over this probe connection.
fn name_the_issuer(error: Error, endpoint: &SmtpEndpoint, timeout: Duration) -> Error {
    let Some((issuer, subject)) = probe_certificate(endpoint, timeout) else {
        return error;
    };
    let reason = error
        .message
        .trim_start_matches(CERTIFICATE_REJECTED)
        .trim_start_matches(": ");
    let host = &endpoint.host;
    let message = if error.hint == hint::TLS_INSPECTION.text {
        format!(
            "the certificate presented for {host} ({subject}) was issued by \"{issuer}\", which is not trusted here"
        )
    } else {
        format!("the certificate presented for {host} ({subject}, issued by \"{issuer}\") was rejected: {reason}")
    };
    let mut error = error;
    error.message = message;
    error
}

/// Records the server's certificate and ends the handshake.
#[derive(Debug)]
struct CaptureCertificate {
    seen: Mutex<Option<Vec<u8>>>,
    schemes: Vec<rustls::SignatureScheme>,
}

impl rustls::client::danger::ServerCertVerifier for CaptureCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
        Err(rustls::Error::General("certificate captured".into()))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("probe only".into()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("probe only".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.schemes.clone()
    }
}

/// (issuer, subject) of the certificate the server presents, or `None` if it cannot be seen.
fn probe_certificate(endpoint: &SmtpEndpoint, timeout: Duration) -> Option<(String, String)> {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpStream, ToSocketAddrs};

    let address = (endpoint.host.as_str(), endpoint.port).to_socket_addrs().ok()?.next()?;
    let mut tcp = TcpStream::connect_timeout(&address, timeout).ok()?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    tcp.set_write_timeout(Some(timeout)).ok()?;
    if !endpoint.implicit_tls {
        // Greeting, EHLO, STARTTLS: just enough SMTP to reach the handshake.
        let mut reader = BufReader::new(tcp.try_clone().ok()?);
        let mut reply = |expect: &str| -> Option<()> {
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).ok()? == 0 || line.len() > 1000 {
                    return None;
                }
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.starts_with(expect).then_some(());
                }
            }
        };
        reply("220")?;
        tcp.write_all(b"EHLO [127.0.0.1]\r\n").ok()?;
        reply("250")?;
        tcp.write_all(b"STARTTLS\r\n").ok()?;
        reply("220")?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let capture = Arc::new(CaptureCertificate {
        seen: Mutex::new(None),
        schemes: provider.signature_verification_algorithms.supported_schemes(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone()).ok()?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    let deadline = Instant::now() + timeout;
    while conn.is_handshaking() && Instant::now() < deadline {
        if conn.complete_io(&mut tcp).is_err() {
            break;
        }
    }
    let der = capture.seen.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    crate::http::x509_names(&der)
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
        421 => Error::new(Status::RateLimited, said),
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
