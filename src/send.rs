//! Sending: build the message, make sure the token is fresh, hand the bytes to the transport,
//! refresh once and retry once when the provider rejects the token.
//!
//! Order of a send, and why:
//! 1. The message is checked and built, and every file is read, before any network I/O: bad input
//!    can never produce a partly sent mail.
//! 2. The token is checked locally (provider, granted scope) and refreshed first when it has no
//!    access token or expires within [`REFRESH_MARGIN_S`].
//! 3. One attempt. If the provider rejects the access token (HTTP 401, SMTP 535), nothing was
//!    sent: refresh once and try once more; a second rejection is AUTH_FAILED, a refresh that
//!    fails with `invalid_grant` is REAUTHORIZE (from [`token::refresh`]). The retry never uses a
//!    token remembered from before the rejection (when the provider invalidates tokens or the
//!    user revokes the app, it is as dead as the host's): only one refreshed after it, or one
//!    another call refreshed because the same token was rejected. If that borrowed token is
//!    refused too, this call refreshes itself and tries a last time, so a revoke is REAUTHORIZE
//!    at the first send. A rejected token is forgotten at once.
//! 4. Once the provider may have received the message data, a failure is returned, never retried.
//!
//! Many sends on one client ([`Sender`]): refreshes are single-flight per refresh token (when
//! several threads find the same token expired, one refresh happens and the others wait for its
//! result), and the fresh access token is remembered until it nears expiry, so a host that keeps
//! sending with its old token document does not refresh on every send. The transport keeps its
//! own connections: the SMTP transport its pool ([`smtp::Smtp`]), the Gmail API the client's
//! HTTP agent (HTTPS keep-alive).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use serde::Serialize;

use rustls::ClientConfig;

use crate::cancel::{self, Call};
use crate::config::Settings;
use crate::context::Ctx;
use crate::error::{Error, Result, Status};
use crate::message::{self, MessageDocument, PreparedMessage};
use crate::provider::TransportKind;
use crate::secret::Secret;
use crate::service_account::ServiceAccountKey;
use crate::store::{self, Store};
use crate::time::now_unix;
use crate::token::{self, TokenDocument, TokenRef};
use crate::transport::{gmail_api, graph, smtp, Failure, Sent};

/// Refresh first when the access token expires within this many seconds (API.md).
pub const REFRESH_MARGIN_S: i64 = 60;

/// The send result of `API.md`.
#[derive(Clone, Debug, Serialize)]
pub struct SendResult {
    pub message_id: String,
    pub transport: TransportKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Present only when the call refreshed the access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenDocument>,
    /// What the host should know although the message was sent (a sender Gmail replaced);
    /// absent when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// Something about a successful send the user should know: `{"code", "message", "hint",
/// "hint_id"}`, the hint in `ui_language`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// `from_rewritten` (Gmail replaced the sender: it is not a verified "Send mail as" address
    /// of the account) or `from_not_account` (the sender is not the account and the token may not
    /// read the account's aliases, so Gmail may have replaced it).
    pub code: &'static str,
    pub message: String,
    pub hint: &'static str,
    pub hint_id: &'static str,
}

/// Scopes that may read `users.settings.sendAs` (the account's verified sender addresses).
const SEND_AS_READ_SCOPES: &[&str] = &[
    "https://mail.google.com/",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.settings.basic",
];

/// Gmail sends only from the account's address or one of its verified "Send mail as" aliases and
/// silently replaces any other sender (providers.md §3.5). When the sender is not the account,
/// the account's aliases are read (if the token may), and a warning says what Gmail did.
fn from_warnings(ctx: Ctx<'_>, token: &TokenDocument, from: &str) -> Vec<Warning> {
    let settings = ctx.settings;
    let Some(account) = token.email.as_deref().filter(|a| !a.is_empty()) else {
        return Vec::new();
    };
    if settings.provider.name != "google" || from.eq_ignore_ascii_case(account) {
        return Vec::new();
    }
    let may_read = token.scope.split_whitespace().any(|s| SEND_AS_READ_SCOPES.contains(&s));
    let aliases = match (
        may_read,
        settings.endpoints.gmail_api.as_ref(),
        token.access_token.as_ref(),
    ) {
        (true, Some(base), Some(access)) => match gmail_api::send_as_addresses(ctx, base, access) {
            Ok(list) => Some(list),
            Err(e) => {
                ctx.log
                    .info(|| format!("send: the account's aliases could not be read: {}", e.message));
                None
            }
        },
        _ => None,
    };
    let lang = settings.ui_language.hints();
    let hint = &crate::hint::FROM_REWRITTEN;
    let warning = match aliases {
        Some(list) if list.iter().any(|a| a.eq_ignore_ascii_case(from)) => return Vec::new(),
        Some(_) => Warning {
            code: "from_rewritten",
            message: format!(
                "Gmail replaced the sender {from} with the account's address {account}: {from} is not a verified \"Send mail as\" address of the account"
            ),
            hint: hint.text_in(lang),
            hint_id: hint.id,
        },
        None => Warning {
            code: "from_not_account",
            message: format!(
                "the sender {from} is not the account {account}; unless it is one of the account's verified \"Send mail as\" addresses, Gmail replaced it with {account} (the token may not read the account's aliases to tell)"
            ),
            hint: hint.text_in(lang),
            hint_id: hint.id,
        },
    };
    ctx.log.warn(|| format!("send: {}", warning.message));
    vec![warning]
}

/// The configured transport and what it keeps between sends.
#[derive(Debug)]
enum Transport {
    GmailApi,
    Smtp(smtp::Smtp),
    Graph,
}

/// What a client keeps between sends: its transport (with the transport's reusable connections)
/// and the refresh single-flight state.
#[derive(Debug)]
pub(crate) struct Sender {
    transport: Transport,
    tokens: TokenFlights,
}

impl Sender {
    /// The sender for `settings.transport`; SMTP connections use `tls`.
    pub(crate) fn new(settings: &Settings, tls: Arc<ClientConfig>) -> Sender {
        let transport = match settings.transport {
            TransportKind::GmailApi => Transport::GmailApi,
            TransportKind::Smtp => Transport::Smtp(smtp::Smtp::new(tls)),
            TransportKind::Graph => Transport::Graph,
        };
        Sender {
            transport,
            tokens: TokenFlights::default(),
        }
    }

    /// One send; see the module doc for its order.
    /// One send; see the module doc for its order. `store` is the client's token store, for
    /// `{"account": …}` references.
    pub(crate) fn send(
        &self,
        ctx: Ctx<'_>,
        store: Option<&Store>,
        token: TokenRef<'_>,
        message: &MessageDocument,
    ) -> Result<SendResult> {
        match token {
            TokenRef::Document(doc) => run(self, ctx, Source::Document(doc), message),
            TokenRef::Account(account) => {
                let store = store::calls::require(store)?;
                let doc = store::calls::load(store, account)?;
                run(
                    self,
                    ctx,
                    Source::Stored {
                        store,
                        account,
                        token: &doc,
                    },
                    message,
                )
            }
            TokenRef::Subject(subject) => {
                let key = token::service_account_for(ctx.settings, subject)?;
                run(self, ctx, Source::Subject { key, subject }, message)
            }
        }
    }

    /// The access token of `subject` for this client's service account: the one this client
    /// holds while it is fresh, else one exchange (single-flight with concurrent sends).
    pub(crate) fn subject_token(&self, ctx: Ctx<'_>, subject: &str) -> Result<TokenDocument> {
        let key = token::service_account_for(ctx.settings, subject)?;
        self.tokens.for_subject(ctx, key, subject, None).map(|(doc, _)| doc)
    }

    /// A usable token for `source`: `token` renewed (refresh token or a new assertion), avoiding
    /// the access token the provider just `rejected`; and whether this call renewed it.
    fn renew(
        &self,
        ctx: Ctx<'_>,
        source: Source<'_>,
        token: &TokenDocument,
        rejected: Option<&Rejection>,
    ) -> Result<(TokenDocument, bool)> {
        match source {
            Source::Document(_) => self.tokens.fresh(ctx, token, rejected),
            Source::Subject { key, subject } => self.tokens.for_subject(ctx, key, subject, rejected),
            // Through the store's lock: one refresh across processes. The lock re-reads the entry
            // and refreshes only if it still holds `token`, the one just used or found stale.
            Source::Stored { store, account, .. } => {
                let (fresh, by_us) = store::calls::refresh_stored(ctx, store, account, token)?;
                // Another process's token may itself be close to expiry (it refreshed long ago,
                // and this process read an older entry): refresh that one, once.
                if !by_us && needs_refresh(&fresh, now_unix()) && fresh.access_token != token.access_token {
                    return store::calls::refresh_stored(ctx, store, account, &fresh);
                }
                Ok((fresh, by_us))
            }
        }
    }

    /// After a revoke of `token`'s grant: forgets the access token this client remembers for it
    /// and closes the pooled SMTP connections authenticated for it (with its access token, one
    /// this client refreshed for it, or as its account), so that no later send goes out on a
    /// revoked authentication. Microsoft has no revocation endpoint (the token is only
    /// forgotten), which makes this the only effect a revoke has on this client's connections.
    /// Returns how many connections were closed.
    pub(crate) fn revoked(&self, token: &TokenDocument) -> usize {
        let mut tokens: Vec<Secret> = token.access_token.iter().filter(|t| !t.is_empty()).cloned().collect();
        if let Some(rt) = token.refresh_token.as_ref().filter(|t| !t.is_empty()) {
            tokens.extend(self.tokens.take(self.tokens.grant_key(rt)).and_then(|d| d.access_token));
        }
        let account = token.email.as_deref().filter(|e| !e.is_empty());
        match &self.transport {
            Transport::Smtp(smtp) => smtp.close_authenticated(account, &tokens),
            Transport::GmailApi | Transport::Graph => 0,
        }
    }

    /// [`Sender::revoked`] for a token-store account: its pooled SMTP connections are closed.
    pub(crate) fn revoked_account(&self, account: &str) -> usize {
        match &self.transport {
            Transport::Smtp(smtp) => smtp.close_authenticated(Some(account), &[]),
            Transport::GmailApi | Transport::Graph => 0,
        }
    }

    /// Forgets the remembered token of `source` if it is `token`: the provider refused it.
    fn forget(&self, source: Source<'_>, token: &TokenDocument) {
        let key = match source {
            Source::Document(_) => token
                .refresh_token
                .as_ref()
                .filter(|t| !t.is_empty())
                .map(|rt| self.tokens.grant_key(rt)),
            Source::Subject { key, subject } => Some(self.tokens.subject_key(key, subject)),
            // The store keeps nothing in this client's memory.
            Source::Stored { .. } => None,
        };
        if let Some(key) = key {
            self.tokens.forget(key, token);
        }
    }
}

/// Where a send's token comes from: the host's token document (renewed with its refresh token,
/// returned to the host when renewed); an account's entry in the token store (renewed under the
/// store's lock and written back there, never returned); or a service account acting as `subject`
/// (renewed with a new assertion; never returned: the host has nothing to store).
#[derive(Clone, Copy)]
enum Source<'a> {
    Document(&'a TokenDocument),
    Stored {
        store: &'a Store,
        account: &'a str,
        token: &'a TokenDocument,
    },
    Subject {
        key: &'a ServiceAccountKey,
        subject: &'a str,
    },
}

fn run(sender: &Sender, ctx: Ctx<'_>, source: Source<'_>, message: &MessageDocument) -> Result<SendResult> {
    let call = ctx.call;
    call.check()?;
    let started = Instant::now();
    let settings = ctx.settings;
    let transport = settings.transport;
    let prepared = message::prepare(message)?;

    let mut current = match source {
        Source::Document(token) | Source::Stored { token, .. } => {
            token::check_document(settings, token)?;
            check_scope(settings, token)?;
            let mut current = token.clone();
            if needs_refresh(&current, now_unix()) {
                call.check()?;
                ctx.log
                    .debug(|| "send: the access token is missing or about to expire; refreshing first".into());
                current = sender.renew(ctx, source, token, None)?.0;
                check_scope(settings, &current)?;
            }
            current
        }
        Source::Subject { key, subject } => {
            call.check()?;
            let current = sender.tokens.for_subject(ctx, key, subject, None)?.0;
            check_scope(settings, &current)?;
            current
        }
    };

    call.check()?;
    let sent = match sender.attempt(ctx, &current, &prepared, message) {
        Ok(sent) => sent,
        Err(Failure::Other(e)) => return Err(e),
        Err(Failure::TokenRejected(first)) => {
            ctx.log
                .info(|| format!("send: {}; refreshing once and retrying once", first.message));
            let mut last = first;
            let mut sent = None;
            // A token another call refreshed after this rejection may be tried once; if the
            // provider refuses that one too, this call refreshes itself and tries a last time.
            // Nothing was sent by a rejected attempt, so trying again sends nothing twice.
            for _ in 0..2 {
                call.check()?;
                let rejected = Rejection {
                    token: current.access_token.clone().unwrap_or_default(),
                    at: Instant::now(),
                };
                sender.forget(source, &current);
                // From `current`: a refresh just made may have rotated the refresh token (Microsoft does).
                let (fresh, refreshed_here) = sender.renew(ctx, source, &current, Some(&rejected))?;
                current = fresh;
                check_scope(settings, &current)?;
                call.check()?;
                match sender.attempt(ctx, &current, &prepared, message) {
                    Ok(s) => {
                        sent = Some(s);
                        break;
                    }
                    Err(Failure::Other(e)) => return Err(e),
                    Err(Failure::TokenRejected(e)) => {
                        last = e;
                        if refreshed_here {
                            break;
                        }
                    }
                }
            }
            match sent {
                Some(sent) => sent,
                None => {
                    sender.forget(source, &current);
                    last.message = format!("{} (again, with a freshly refreshed token)", last.message);
                    return Err(last);
                }
            }
        }
    };
    ctx.log.info(|| {
        format!(
            "sent {} by {} to {} recipient(s) in {} ms",
            prepared.message_id,
            transport.name(),
            prepared.envelope.to.len(),
            started.elapsed().as_millis()
        )
    });
    // The host must store the token document we actually used when it is not the one it gave us
    // (refreshed by this call, or by a concurrent call on this client for the same grant).
    let warnings = from_warnings(ctx, &current, prepared.envelope.from.as_ref());
    let token = match source {
        Source::Document(token) => (current.access_token != token.access_token).then_some(current),
        Source::Stored { .. } | Source::Subject { .. } => None,
    };
    Ok(SendResult {
        message_id: prepared.message_id,
        transport,
        provider_id: sent.provider_id,
        token,
        warnings,
    })
}

impl Sender {
    fn attempt(
        &self,
        ctx: Ctx<'_>,
        token: &TokenDocument,
        message: &PreparedMessage,
        doc: &MessageDocument,
    ) -> std::result::Result<Sent, Failure> {
        let access_token = token
            .access_token
            .as_ref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::internal("no access token after refresh"))?;
        match &self.transport {
            Transport::GmailApi => gmail_api::send(ctx, access_token, message),
            Transport::Graph => graph::send(ctx, access_token, message, doc),
            Transport::Smtp(smtp) => {
                // `user=` is the token's account; the From address only when the document lacks it.
                let account = token
                    .email
                    .clone()
                    .filter(|e| !e.is_empty())
                    .unwrap_or_else(|| message.envelope.from.to_string());
                smtp.send(ctx, &account, access_token, message)
            }
        }
    }
}

fn needs_refresh(token: &TokenDocument, now: i64) -> bool {
    !usable(token, None, now)
}

/// A token whose granted scopes are known and cannot send with this transport is refused before
/// connecting (Gmail SMTP takes only `https://mail.google.com/`, providers.md §5.4); the provider
/// decides ([`crate::provider::ProviderSpec::check_send_scope`]).
fn check_scope(settings: &Settings, token: &TokenDocument) -> Result<()> {
    let granted = Some(token.scope.as_str()).filter(|s| !s.trim().is_empty());
    settings
        .provider
        .check_send_scope(granted, settings.transport)
        .map_err(|e| e.with_field("token.scope"))
}

// ---------------------------------------------------------------------------------------------
// Single-flight refresh

/// Refreshes in flight and their fresh results, keyed by a keyed hash of the refresh token (the
/// token itself is not kept as a key). A fresh result is kept until its access token is within
/// [`REFRESH_MARGIN_S`] of expiry, then dropped.
#[derive(Default)]
struct TokenFlights {
    slots: Mutex<HashMap<u64, Slot>>,
    hasher: RandomState,
}

impl std::fmt::Debug for TokenFlights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.slots.lock().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("TokenFlights").field("slots", &n).finish()
    }
}

enum Slot {
    Refreshing(Arc<Flight>),
    /// A refresh's result, when it arrived, and (keyed hash) the rejected access token that
    /// made somebody refresh, if that is why.
    Fresh(TokenDocument, Instant, Option<u64>),
}

/// An access token the provider just refused, and when this call learnt it.
struct Rejection {
    token: Secret,
    at: Instant,
}

#[derive(Default)]
struct Flight {
    result: Mutex<Option<Result<TokenDocument>>>,
    done: Condvar,
}

impl Flight {
    fn complete(&self, result: Result<TokenDocument>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.done.notify_all();
    }

    /// Waits for the leader's result, looking at the cancel flag every [`cancel::POLL`].
    fn wait(&self, call: &Call) -> Result<Result<TokenDocument>> {
        let mut guard = self.result.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = &*guard {
                return Ok(r.clone());
            }
            call.check()?;
            guard = self
                .done
                .wait_timeout(guard, cancel::POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The leader's duty: whatever happens (even a panic), the waiters get an answer.
struct Lead<'a> {
    flights: &'a TokenFlights,
    key: u64,
    flight: Arc<Flight>,
    replaces: Option<u64>,
    finished: bool,
}

impl Lead<'_> {
    fn finish(mut self, result: &Result<TokenDocument>) {
        {
            let mut slots = self.flights.lock();
            match result {
                Ok(doc) => {
                    slots.insert(self.key, Slot::Fresh(doc.clone(), Instant::now(), self.replaces));
                }
                Err(_) => {
                    slots.remove(&self.key);
                }
            }
        }
        self.flight.complete(result.clone());
        self.finished = true;
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut slots = self.flights.lock();
            if matches!(slots.get(&self.key), Some(Slot::Refreshing(f)) if Arc::ptr_eq(f, &self.flight)) {
                slots.remove(&self.key);
            }
            drop(slots);
            self.flight
                .complete(Err(Error::internal("the token refresh was interrupted")));
        }
    }
}

/// `doc` has an access token that is not `rejected` and stays valid beyond [`REFRESH_MARGIN_S`].
pub(crate) fn usable(doc: &TokenDocument, rejected: Option<&Secret>, now: i64) -> bool {
    let has = doc
        .access_token
        .as_ref()
        .is_some_and(|t| !t.is_empty() && Some(t) != rejected);
    has && doc.expires_at.is_none_or(|at| at > now + REFRESH_MARGIN_S)
}

impl TokenFlights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot key of a grant: a keyed hash of its refresh token.
    fn grant_key(&self, refresh_token: &Secret) -> u64 {
        self.hasher.hash_one(("refresh_token", refresh_token.expose()))
    }

    /// The slot key of a service account acting as `subject` (case-insensitive, like addresses).
    fn subject_key(&self, account: &ServiceAccountKey, subject: &str) -> u64 {
        self.hasher
            .hash_one(("subject", account.client_email.as_str(), subject.to_ascii_lowercase()))
    }

    /// Forgets the token remembered under `key` if it is `token`'s access token: the provider
    /// refused it.
    fn forget(&self, key: u64, token: &TokenDocument) {
        let mut slots = self.lock();
        if matches!(slots.get(&key), Some(Slot::Fresh(doc, _, _)) if doc.access_token == token.access_token) {
            slots.remove(&key);
        }
    }

    /// Takes the fresh token remembered under `key` out (a revoke: it must not be handed out).
    fn take(&self, key: u64) -> Option<TokenDocument> {
        let mut slots = self.lock();
        match slots.remove(&key) {
            Some(Slot::Fresh(doc, _, _)) => Some(doc),
            Some(other) => {
                slots.insert(key, other);
                None
            }
            None => None,
        }
    }

    fn token_key(&self, access_token: &Secret) -> u64 {
        self.hasher.hash_one(("access", access_token.expose()))
    }

    /// A token document with a usable access token for the grant of `token`: one somebody on
    /// this client refreshed a moment ago, the result of a refresh in flight, or a new refresh;
    /// and whether this call made that refresh. `rejected` is an access token the provider just
    /// refused: it is never handed out again, and neither is a token refreshed before the
    /// rejection was seen, unless that refresh was made because of the same rejected token.
    fn fresh(
        &self,
        ctx: Ctx<'_>,
        token: &TokenDocument,
        rejected: Option<&Rejection>,
    ) -> Result<(TokenDocument, bool)> {
        let Some(refresh_token) = token.refresh_token.as_ref().filter(|t| !t.is_empty()) else {
            // Nothing to share; token::refresh explains (REAUTHORIZE, token.refresh_token).
            return token::refresh(ctx, token).map(|doc| (doc, true));
        };
        let key = self.grant_key(refresh_token);
        self.single_flight(ctx, key, rejected, || token::refresh(ctx, token))
    }

    /// The same for a service account acting as `subject`: one JWT-bearer exchange per subject
    /// per access-token lifetime, whatever the threads.
    fn for_subject(
        &self,
        ctx: Ctx<'_>,
        account: &ServiceAccountKey,
        subject: &str,
        rejected: Option<&Rejection>,
    ) -> Result<(TokenDocument, bool)> {
        let key = self.subject_key(account, subject);
        self.single_flight(ctx, key, rejected, || token::exchange_assertion(ctx, account, subject))
    }

    /// The single flight under `key`: a fresh result kept from an earlier call, the result of the
    /// call in flight, or `produce()` run by this call as the leader; and whether this call ran it.
    fn single_flight(
        &self,
        ctx: Ctx<'_>,
        key: u64,
        rejected: Option<&Rejection>,
        produce: impl Fn() -> Result<TokenDocument>,
    ) -> Result<(TokenDocument, bool)> {
        let call = ctx.call;
        loop {
            call.check()?;
            let now = now_unix();
            let flight = {
                let mut slots = self.lock();
                // Forget fresh tokens that are no longer fresh: keep secrets no longer than useful.
                slots.retain(|_, s| match s {
                    Slot::Fresh(doc, _, _) => usable(doc, None, now),
                    Slot::Refreshing(_) => true,
                });
                match slots.get(&key) {
                    // After a rejection, only a refresh that ended after it, or one made because
                    // this very token was rejected, counts as fresh.
                    Some(Slot::Fresh(doc, at, replaces))
                        if usable(doc, rejected.map(|r| &r.token), now)
                            && rejected.is_none_or(|r| *at > r.at || *replaces == Some(self.token_key(&r.token))) =>
                    {
                        ctx.log
                            .debug(|| "send: using the access token refreshed by an earlier call".into());
                        return Ok((doc.clone(), false));
                    }
                    Some(Slot::Refreshing(f)) => Arc::clone(f),
                    _ => {
                        let flight = Arc::new(Flight::default());
                        slots.insert(key, Slot::Refreshing(Arc::clone(&flight)));
                        drop(slots);
                        let lead = Lead {
                            flights: self,
                            key,
                            flight,
                            replaces: rejected.map(|r| self.token_key(&r.token)),
                            finished: false,
                        };
                        let result = produce();
                        lead.finish(&result);
                        return result.map(|doc| (doc, true));
                    }
                }
            };
            ctx.log
                .debug(|| "send: waiting for the token refresh another call started".into());
            match flight.wait(call)? {
                Ok(doc) if usable(&doc, rejected.map(|r| &r.token), now_unix()) => return Ok((doc, false)),
                // The leader was cancelled (its call, not ours) or got a token we must not
                // use: try again, as the leader if need be.
                Ok(_) => continue,
                Err(e) if e.status == Status::Cancelled => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderKind;

    fn doc(access: Option<&str>, expires_at: Option<i64>) -> TokenDocument {
        TokenDocument {
            provider: ProviderKind::Google,
            email: Some("erp.test@gmail.com".into()),
            scope: crate::provider::MAIL_GOOGLE.into(),
            token_type: "Bearer".into(),
            access_token: access.map(Secret::new),
            expires_at,
            refresh_token: Some(Secret::new("1//refresh")),
            authorized_at: None,
        }
    }

    #[test]
    fn refresh_first_when_the_access_token_is_missing_or_expires_within_60_seconds() {
        let now = 1_000_000;
        assert!(needs_refresh(&doc(None, Some(now + 3600)), now));
        assert!(needs_refresh(&doc(Some(""), None), now));
        assert!(needs_refresh(&doc(Some("a"), Some(now + 60)), now));
        assert!(needs_refresh(&doc(Some("a"), Some(now - 5)), now));
        assert!(!needs_refresh(&doc(Some("a"), Some(now + 61)), now));
        assert!(!needs_refresh(&doc(Some("a"), None), now));
    }

    #[test]
    fn a_rejected_or_nearly_expired_token_is_not_reused() {
        let now = 1_000_000;
        let d = doc(Some("a"), Some(now + 3600));
        assert!(usable(&d, None, now));
        assert!(!usable(&d, Some(&Secret::new("a")), now));
        assert!(usable(&d, Some(&Secret::new("b")), now));
        assert!(!usable(&doc(Some("a"), Some(now + 30)), None, now));
    }
}
