//! The pre-flight check (`oauthmail_check`, `oauthmail doctor`): everything a send needs, step by
//! step, without sending a message.
//!
//! Steps, in order, as they apply to the configuration: `config`; `dns`, `tcp` and `tls` for each
//! host the library talks to (the token endpoint, the Gmail API or Microsoft Graph on 443 or the
//! SMTP server on 465 / 587; behind a proxy, DNS and TCP to the proxy); `client` (the token
//! endpoint accepts the client ID and secret; not with a service account, whose key the exchange
//! checks); with a token: `refresh` (a document's refresh token, a store account's through the
//! store, a service account's subject by the JWT exchange), `token_age` (with a refresh token:
//! when it was authorized, and Google's Testing-status limit), `scopes`, then `gmail_api`
//! (a send Gmail must refuse: a healthy project answers 400, a project without the API
//! `accessNotConfigured`) or `smtp` (EHLO, AUTH, QUIT before MAIL); Graph has no further step.
//! Each step is bounded by the client's timeouts and ends early on cancel. The check stops at the
//! first failed step: the later ones depend on it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::{json, Value};
use url::Url;

use crate::context::Ctx;
use crate::error::{Error, Status};
use crate::hint;
use crate::net::{self, Interest, Pollable, Waited};
use crate::provider::{ProviderKind, TransportKind};
use crate::store::{self, Store};
use crate::tls;
use crate::token::{self, TokenDocument, TokenRef};
use crate::transport::{gmail_api, smtp};

/// One step of the check.
#[derive(Clone, Debug)]
pub struct Step {
    /// `config`, `dns`, `tcp`, `tls`, `client`, `refresh`, `token_age`, `scopes`, `gmail_api`,
    /// `smtp_ehlo`, `smtp_auth`.
    pub step: &'static str,
    /// What was checked: a host, `host:port`, an account, a scope.
    pub target: String,
    pub ok: bool,
    pub ms: u64,
    /// What was found, in one line (English, like `message`).
    pub detail: String,
    /// Why the step failed: the error a send would have returned.
    pub error: Option<Error>,
}

/// The result of a check.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
    /// The token document after the `refresh` step, for the host to store (the old one stays
    /// valid). None for a reference: the store holds it (`{"account": …}`), or there is nothing
    /// to keep (`{"subject": …}`).
    pub token: Option<TokenDocument>,
    /// The `refresh` step replaced the document's refresh token (a provider that rotates them,
    /// Microsoft, and an access token that had to be renewed): `token` then goes into the JSON
    /// report, because the host's document is spent.
    pub rotated: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    /// `Ok`, or the status of the first failed step (the return value of `oauthmail_check`).
    pub fn status(&self) -> Status {
        self.steps
            .iter()
            .find_map(|s| s.error.as_ref().map(|e| e.status))
            .unwrap_or(Status::Ok)
    }

    /// `{"ok": bool, "steps": [{"step", "target", "ok", "ms", "detail", "error"?}]}`; `error` is
    /// the inner object of the error document.
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let mut v = json!({"step": s.step, "target": s.target, "ok": s.ok, "ms": s.ms, "detail": s.detail});
                if let Some(e) = &s.error {
                    v["error"] = e.to_document()["error"].clone();
                }
                v
            })
            .collect();
        let mut report = json!({"ok": self.ok(), "steps": steps});
        if let (true, Some(token)) = (self.rotated, &self.token) {
            report["token"] = serde_json::to_value(token).unwrap_or(Value::Null);
        }
        report
    }
}

/// A host the library connects to.
struct Host {
    host: String,
    port: u16,
    /// TLS at once (HTTPS, SMTPS); STARTTLS hosts get theirs in the SMTP step.
    tls: bool,
    smtp: bool,
}

struct Checker<'a> {
    ctx: Ctx<'a>,
    report: Report,
}

impl Checker<'_> {
    /// Runs `f` as step `step` on `target`; false when it failed (the check then stops).
    fn step(&mut self, step: &'static str, target: &str, f: impl FnOnce(Ctx<'_>) -> Result<String, Error>) -> bool {
        let started = Instant::now();
        let result = self.ctx.call.check().and_then(|()| f(self.ctx));
        let ms = started.elapsed().as_millis() as u64;
        let (ok, detail, error) = match result {
            Ok(detail) => (true, detail, None),
            Err(e) => (false, String::new(), Some(e)),
        };
        self.ctx.log.info(|| {
            format!(
                "check: {step} {target}: {} ({ms} ms)",
                error.as_ref().map_or("ok", |e| e.message.as_str())
            )
        });
        self.report.steps.push(Step {
            step,
            target: target.to_string(),
            ok,
            ms,
            detail,
            error,
        });
        ok
    }
}

fn host_of(url: &Url, tls_default: bool) -> Option<Host> {
    Some(Host {
        host: url.host_str()?.trim_matches(|c| c == '[' || c == ']').to_string(),
        port: url.port_or_known_default()?,
        tls: tls_default && url.scheme() == "https",
        smtp: false,
    })
}

/// Runs the check; `tls` is the client's TLS configuration (HTTPS and SMTP alike); `store` the
/// client's token store, for `{"account": …}`.
pub(crate) fn run(
    ctx: Ctx<'_>,
    tls_config: &Arc<ClientConfig>,
    store: Option<&Store>,
    token: Option<TokenRef<'_>>,
) -> Report {
    let mut c = Checker {
        ctx,
        report: Report::default(),
    };
    let s = ctx.settings;
    let transport = s.transport;
    let who = match &s.service_account {
        Some(key) => format!("service account {} (key {})", key.client_email, key.private_key_id),
        None => format!("client {}", s.client_id),
    };
    let config_detail = format!(
        "transport {}, {who}{}",
        transport.name(),
        if s.extra_ca_file.is_some() {
            ", with tls.extra_ca_file"
        } else {
            ""
        }
    );
    c.step("config", s.provider.name, |_| Ok(config_detail));

    // The hosts, deduplicated; behind a proxy the HTTPS ones are reached through it.
    let mut hosts: Vec<Host> = Vec::new();
    // A service account gets its tokens at its key file's token_uri.
    let sa_token_uri = s.service_account.as_ref().and_then(|k| Url::parse(&k.token_uri).ok());
    let mut https = vec![sa_token_uri.as_ref().unwrap_or(&s.endpoints.token)];
    match transport {
        TransportKind::GmailApi => https.extend(s.endpoints.gmail_api.as_ref()),
        TransportKind::Graph => https.extend(s.endpoints.graph.as_ref()),
        TransportKind::Smtp => {}
    }
    match &s.proxy {
        Some(proxy) => hosts.extend(host_of(proxy, false)),
        None => hosts.extend(https.iter().filter_map(|u| host_of(u, true))),
    }
    if transport == TransportKind::Smtp {
        if let Some(e) = &s.endpoints.smtp {
            hosts.push(Host {
                host: e.host.clone(),
                port: e.port,
                tls: e.implicit_tls,
                smtp: true,
            });
        }
    }
    let mut seen = Vec::new();
    hosts.retain(|h| {
        let key = (h.host.clone(), h.port);
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });

    for h in &hosts {
        let mut addrs = Vec::new();
        if !c.step("dns", &h.host, |ctx| {
            addrs = resolve(ctx, &h.host, h.port)?;
            let shown: Vec<String> = addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
            Ok(shown.join(", "))
        }) {
            return c.report;
        }
        let target = format!("{}:{}", h.host, h.port);
        let mut tcp = None;
        if !c.step("tcp", &target, |ctx| {
            tcp = Some(connect(ctx, &addrs, h)?);
            Ok(if h.smtp {
                "connected (SMTP connects directly, never through the proxy)".into()
            } else {
                "connected".into()
            })
        }) {
            return c.report;
        }
        if h.tls {
            let tcp = tcp.take();
            if !c.step("tls", &target, |ctx| handshake(ctx, tls_config, &h.host, tcp)) {
                return c.report;
            }
        }
    }

    // A service account has no OAuth client to check: its key is checked by the exchange below.
    if s.service_account.is_none()
        && !c.step("client", s.endpoints.token.as_str(), |ctx| {
            token::check_client(ctx).map(|()| "the token endpoint accepts the client ID and secret".into())
        })
    {
        return c.report;
    }

    let Some(token) = token else {
        return c.report;
    };
    let account = match token {
        TokenRef::Document(doc) => doc.email.clone().unwrap_or_default(),
        TokenRef::Account(a) | TokenRef::Subject(a) => a.to_string(),
    };
    let mut current = None;
    if !c.step("refresh", &account, |ctx| {
        let (doc, how) = renew(ctx, store, token)?;
        let left = doc.expires_at.map(|at| at - crate::time::now_unix());
        current = Some(doc);
        Ok(match left {
            Some(s) => format!("{how}: a new access token, valid {s} s"),
            None => format!("{how}: a new access token"),
        })
    }) {
        return c.report;
    }
    let Some(current) = current else {
        return c.report;
    };
    if let TokenRef::Document(doc) = token {
        c.report.token = Some(current.clone());
        // The report's one secret: a rotated refresh token, which replaced the host's (spent) one.
        c.report.rotated = current.refresh_token.is_some() && current.refresh_token != doc.refresh_token;
    }

    // The age of a grant that has a refresh token (a service account's has none: each access
    // token comes from a new assertion).
    if current.refresh_token.as_ref().is_some_and(|t| !t.is_empty()) {
        let detail = token_age(current.provider, current.authorized_at, crate::time::now_unix());
        c.step("token_age", &account, |_| Ok(detail));
    }

    let scope = current.scope.clone();
    if !c.step("scopes", &scope, |ctx| {
        ctx.settings
            .provider
            .check_send_scope(Some(&scope), transport)
            .map_err(|e| e.with_field("token.scope"))?;
        Ok(format!("the granted scopes allow the {} transport", transport.name()))
    }) {
        return c.report;
    }

    let access = current.access_token.clone().unwrap_or_default();
    match transport {
        TransportKind::GmailApi => {
            let Some(base) = s.endpoints.gmail_api.clone() else {
                return c.report;
            };
            c.step("gmail_api", base.as_str(), |ctx| probe_gmail_api(ctx, &base, &access));
        }
        TransportKind::Smtp => {
            let Some(endpoint) = s.endpoints.smtp.clone() else {
                return c.report;
            };
            let target = format!("{}:{}", endpoint.host, endpoint.port);
            let mut session = None;
            if !c.step("smtp_ehlo", &target, |ctx| {
                let (conn, detail) = smtp::check_connect(ctx, tls_config, &endpoint)?;
                session = Some(conn);
                Ok(detail)
            }) {
                return c.report;
            }
            let mut conn = session.take();
            c.step("smtp_auth", &account, |ctx| match conn.take() {
                Some(conn) => smtp::check_auth(ctx, conn, &endpoint, &account, &access)
                    .map(|()| "AUTH accepted; QUIT before MAIL, nothing was sent".into()),
                None => Err(Error::internal("no SMTP connection after EHLO")),
            });
        }
        // Microsoft Graph: its host was reached above (DNS, TCP, TLS) and the scopes checked; Graph
        // has no request that proves sendMail would work without sending, so no further step.
        TransportKind::Graph => {}
    }
    c.report
}

/// The `refresh` step: a new access token for the token the check was given, and how it came.
/// A document is refreshed with its refresh token; an account's entry through the store's lock
/// (and written back, as a send would); a subject by the service account's JWT exchange (always
/// a new one: the check proves the delegation as it is now, not a cached token).
fn renew(ctx: Ctx<'_>, store: Option<&Store>, token: TokenRef<'_>) -> Result<(TokenDocument, String), Error> {
    let refresh = |ctx: Ctx<'_>, doc: &TokenDocument| -> Result<(), Error> {
        token::check_document(ctx.settings, doc)?;
        if doc.refresh_token.as_ref().is_none_or(|t| t.is_empty()) {
            return Err(Error::new(
                Status::Reauthorize,
                "the token document holds no refresh token, so the access token cannot be renewed",
            )
            .with_field("token.refresh_token")
            .with_hint(&hint::REAUTHORIZE_NO_REFRESH_TOKEN));
        }
        Ok(())
    };
    match token {
        TokenRef::Document(doc) => {
            refresh(ctx, doc)?;
            // A provider that replaces the refresh token on every refresh (Microsoft) would spend
            // the host's token: while its access token is still good the check uses that, and
            // only a refresh it cannot avoid returns the new document in the report.
            let now = crate::time::now_unix();
            if ctx.settings.provider.rotates_refresh_tokens && crate::send::usable(doc, None, now) {
                let left = doc
                    .expires_at
                    .map_or(String::new(), |at| format!(" (valid {} s more)", at - now));
                return Ok((
                    doc.clone(),
                    format!(
                        "the access token is still valid{left}; the refresh token was not spent, because {} \
                         replaces it on every refresh",
                        ctx.settings.provider.name
                    ),
                ));
            }
            Ok((token::refresh(ctx, doc)?, "the refresh token works".into()))
        }
        TokenRef::Account(account) => {
            let store = store::calls::require(store)?;
            let stale = store::calls::load(store, account)?;
            refresh(ctx, &stale)?;
            let (fresh, _) = store::calls::refresh_stored(ctx, store, account, &stale)?;
            Ok((
                fresh,
                format!("the refresh token in the token store {} works", store.path().display()),
            ))
        }
        TokenRef::Subject(subject) => {
            let key = token::service_account_for(ctx.settings, subject)?;
            let doc = token::exchange_assertion(ctx, key, subject)?;
            Ok((
                doc,
                format!(
                    "the service account {} may act as {subject} (domain-wide delegation, JWT bearer exchange)",
                    key.client_email
                ),
            ))
        }
    }
}

/// The `token_age` step's detail: when the account was authorized, and for Google when a
/// Testing-status app would end the grant (7 days after the consent; Google does not say whether
/// an app is in Testing, so the detail says "if").
fn token_age(provider: ProviderKind, authorized_at: Option<i64>, now: i64) -> String {
    let Some(at) = authorized_at else {
        return "when the account was authorized is not recorded (a token document without authorized_at): \
                authorize again to record it"
            .into();
    };
    let age = now.saturating_sub(at);
    let mut detail = format!(
        "authorized {} ({:.1} days ago)",
        crate::time::format_utc(at),
        age as f64 / 86_400.0
    );
    if provider != ProviderKind::Google {
        return detail;
    }
    let end = at + token::TESTING_LIFETIME_S;
    if age >= token::TESTING_LIFETIME_S {
        detail.push_str(
            "; it has outlived the 7 days of Testing status, so the Google Cloud app is published (In production)",
        );
    } else if token::near_testing_expiry(age) {
        let hours = (end - now + 3599) / 3600;
        detail.push_str(&format!(
            "; SOON: if the Google Cloud app is in Testing status, Google ends this authorization 7 days after the \
             consent, in {hours} h ({}): publish the app (Audience > Publish app), or authorize again then",
            crate::time::format_utc(end)
        ));
    } else {
        detail.push_str(&format!(
            "; if the Google Cloud app is in Testing status, Google ends it on {}",
            crate::time::format_utc(end)
        ));
    }
    detail
}

/// DNS in a helper thread, so that a resolver that hangs is bounded by `timeouts.connect_s` and
/// a cancel is seen at once.
fn resolve(ctx: Ctx<'_>, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.take(16).collect::<Vec<_>>()),
        );
    });
    let deadline = Instant::now() + ctx.settings.timeouts.connect;
    loop {
        ctx.call.check()?;
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Ok(addrs)) if !addrs.is_empty() => return Ok(addrs),
            Ok(Ok(_)) => {
                return Err(Error::new(Status::Network, format!("{host} has no address (DNS)")));
            }
            Ok(Err(e)) => {
                return Err(Error::new(Status::Network, format!("{host} was not found (DNS): {e}")));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => {
                return Err(Error::new(
                    Status::Timeout,
                    format!(
                        "resolving {host} took longer than timeouts.connect_s ({} s)",
                        ctx.settings.timeouts.connect.as_secs()
                    ),
                ))
            }
        }
    }
}

fn connect(ctx: Ctx<'_>, addrs: &[SocketAddr], h: &Host) -> Result<std::net::TcpStream, Error> {
    let deadline = Instant::now() + ctx.settings.timeouts.connect;
    let call = ctx.call;
    net::connect(addrs, Some(deadline), &|| call.is_cancelled()).map_err(|w| match w {
        Waited::Cancelled => Error::cancelled(),
        Waited::TimedOut => Error::new(
            Status::Timeout,
            format!(
                "{}:{} did not answer within timeouts.connect_s ({} s)",
                h.host,
                h.port,
                ctx.settings.timeouts.connect.as_secs()
            ),
        )
        .with_hint(&hint::CONNECT_DROPPED),
        Waited::Failed(e) => {
            let e = Error::new(
                Status::Network,
                format!("connecting to {}:{} failed: {e}", h.host, h.port),
            );
            if h.smtp {
                e.with_hint(&hint::SMTP_PORT_BLOCKED)
            } else {
                e
            }
        }
    })
}

/// A TLS client over a non-blocking socket, waited on like the SMTP session's.
struct TlsStream(StreamOwned<ClientConnection, std::net::TcpStream>);

impl Pollable for TlsStream {
    fn wait_on(&self, _asked: Interest) -> (&std::net::TcpStream, Interest) {
        if self.0.conn.wants_write() {
            (&self.0.sock, Interest::Writable)
        } else {
            (&self.0.sock, Interest::Readable)
        }
    }
}

/// The TLS handshake with `host`, verified like every connection of the library; the detail names
/// the certificate's issuer and whether the chain ends at a public root.
fn handshake(
    ctx: Ctx<'_>,
    config: &Arc<ClientConfig>,
    host: &str,
    tcp: Option<std::net::TcpStream>,
) -> Result<String, Error> {
    let tcp = tcp.ok_or_else(|| Error::internal("no TCP connection for the TLS step"))?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Error::new(Status::Tls, format!("{host} is not a valid TLS server name")))?;
    let conn = ClientConnection::new(Arc::clone(config), name)
        .map_err(|e| Error::new(Status::Tls, format!("TLS with {host}: {e}")))?;
    let mut stream = TlsStream(StreamOwned::new(conn, tcp));
    let deadline = Instant::now() + ctx.settings.timeouts.connect;
    let call = ctx.call;
    let _capture = tls::Capture::begin();
    let done = net::when_ready(
        &mut stream,
        Interest::Readable,
        Some(deadline),
        || call.is_cancelled(),
        |s| {
            while s.0.conn.is_handshaking() {
                s.0.conn.complete_io(&mut s.0.sock)?;
            }
            Ok(())
        },
    );
    if let Err(w) = done {
        if let Some(named) = tls::rejection(host) {
            return Err(named);
        }
        return Err(match w {
            Waited::Cancelled => Error::cancelled(),
            Waited::TimedOut => Error::new(
                Status::Timeout,
                format!(
                    "the TLS handshake with {host} did not finish within timeouts.connect_s ({} s)",
                    ctx.settings.timeouts.connect.as_secs()
                ),
            ),
            Waited::Failed(e) => Error::new(Status::Tls, format!("the TLS handshake with {host} failed: {e}")),
        });
    }
    let chain = stream.0.conn.peer_certificates().unwrap_or_default();
    let leaf_issuer = chain
        .first()
        .and_then(|c| tls::x509_names(c.as_ref()))
        .map(|(issuer, _)| issuer)
        .unwrap_or_else(|| "(unreadable)".into());
    let top_issuer = chain
        .last()
        .and_then(|c| tls::x509_names(c.as_ref()))
        .map(|(issuer, _)| issuer);
    let version = stream
        .0
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}").replace('_', "."))
        .unwrap_or_default();
    let root = match top_issuer {
        Some(issuer) if tls::is_public_root(&issuer) => "a public root".to_string(),
        Some(issuer) => format!(
            "root \"{issuer}\" is NOT a public root (TLS inspection by a proxy or antivirus, or a private CA{})",
            if ctx.settings.extra_ca_file.is_some() {
                ", trusted through tls.extra_ca_file"
            } else {
                ", trusted by this computer's certificate store"
            }
        ),
        None => "no certificate chain".to_string(),
    };
    stream.0.conn.send_close_notify();
    let _ = stream.0.conn.complete_io(&mut stream.0.sock);
    Ok(format!("{version}, issuer \"{leaf_issuer}\", {root}"))
}

/// The Gmail API probe: a send without a message. Gmail checks the token, that the API is enabled
/// for the project and the scope before it looks at the body, then refuses the empty request
/// with 400 `badRequest` and sends nothing.
fn probe_gmail_api(ctx: Ctx<'_>, base: &Url, access: &crate::secret::Secret) -> Result<String, Error> {
    let url = Url::parse(&format!(
        "{}/gmail/v1/users/me/messages/send",
        base.as_str().trim_end_matches('/')
    ))
    .map_err(|e| Error::invalid("config.endpoints.gmail_api", format!("not a URL: {e}")))?;
    let auth = crate::secret::Secret::new(format!("Bearer {}", access.expose()));
    let headers = [
        ("Authorization", auth.expose()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    let response = ctx.http.request(ctx.call, "POST", &url, &headers, Some(b"{}"))?;
    if response.status == 400 {
        return Ok(
            "the Gmail API is enabled for the project and accepts the token (a send without a message was refused as expected; nothing was sent)"
                .into(),
        );
    }
    if (200..300).contains(&response.status) {
        return Err(Error::new(
            Status::Provider,
            format!(
                "the Gmail API answered HTTP {} to a send without a message; expected 400",
                response.status
            ),
        ));
    }
    Err(gmail_api::map_error(&response))
}
