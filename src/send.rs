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
//!    fails with `invalid_grant` is REAUTHORIZE (from [`token::refresh`]).
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
use crate::store::{self, Store};
use crate::time::now_unix;
use crate::token::{self, TokenDocument};
use crate::transport::{gmail_api, smtp, Failure, Sent};

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
}

/// The configured transport and what it keeps between sends.
#[derive(Debug)]
enum Transport {
    GmailApi,
    Smtp(smtp::Smtp),
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
        };
        Sender {
            transport,
            tokens: TokenFlights::default(),
        }
    }

    /// One send; see the module doc for its order.
    pub(crate) fn send(
        &self,
        ctx: Ctx<'_>,
        token: &TokenDocument,
        source: Source<'_>,
        message: &MessageDocument,
    ) -> Result<SendResult> {
        run(self, ctx, token, source, message)
    }

    /// A fresh token in place of `current`: through the store's lock when it came from a store
    /// (one refresh across processes), else through this client's single-flight.
    fn fresh(
        &self,
        ctx: Ctx<'_>,
        source: Source<'_>,
        current: &TokenDocument,
        rejected: Option<&Secret>,
    ) -> Result<TokenDocument> {
        match source {
            Source::Given => self.tokens.fresh(ctx, current, rejected),
            Source::Stored { store, account } => {
                let fresh = store::calls::refresh_stored(ctx, store, account, current)?;
                // Another process's token may itself be close to expiry (it refreshed long ago,
                // and this process read an older entry): refresh that one, once.
                if needs_refresh(&fresh, now_unix()) && fresh.access_token != current.access_token {
                    return store::calls::refresh_stored(ctx, store, account, &fresh);
                }
                Ok(fresh)
            }
        }
    }
}

/// Where the token of a send came from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    /// The host passed the token document: refreshed tokens go back in the send result.
    Given,
    /// The host passed `{"account": …}`: refreshed tokens go back into the store.
    Stored { store: &'a Store, account: &'a str },
}

fn run(
    sender: &Sender,
    ctx: Ctx<'_>,
    token: &TokenDocument,
    source: Source<'_>,
    message: &MessageDocument,
) -> Result<SendResult> {
    let call = ctx.call;
    call.check()?;
    let started = Instant::now();
    let settings = ctx.settings;
    let transport = settings.transport;
    let prepared = message::prepare(message)?;
    token::check_provider(settings, token)?;
    check_scope(settings, token)?;

    let mut current = token.clone();
    if needs_refresh(&current, now_unix()) {
        call.check()?;
        ctx.log
            .debug(|| "send: the access token is missing or about to expire; refreshing first".into());
        current = sender.fresh(ctx, source, token, None)?;
        check_scope(settings, &current)?;
    }

    call.check()?;
    let sent = match sender.attempt(ctx, &current, &prepared) {
        Ok(sent) => sent,
        Err(Failure::Other(e)) => return Err(e),
        Err(Failure::TokenRejected(first)) => {
            ctx.log
                .info(|| format!("send: {}; refreshing once and retrying once", first.message));
            call.check()?;
            let rejected = current.access_token.clone();
            // From `current`: a refresh just made may have rotated the refresh token (Microsoft does).
            current = sender.fresh(ctx, source, &current, rejected.as_ref())?;
            check_scope(settings, &current)?;
            call.check()?;
            match sender.attempt(ctx, &current, &prepared) {
                Ok(sent) => sent,
                Err(Failure::TokenRejected(mut e)) => {
                    e.message = format!("{} (again, with a freshly refreshed token)", e.message);
                    return Err(e);
                }
                Err(Failure::Other(e)) => return Err(e),
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
    // (refreshed by this call, or by a concurrent call on this client for the same grant); with a
    // reference, the store already holds it.
    let changed = current.access_token != token.access_token && matches!(source, Source::Given);
    Ok(SendResult {
        message_id: prepared.message_id,
        transport,
        provider_id: sent.provider_id,
        token: changed.then_some(current),
    })
}

impl Sender {
    fn attempt(
        &self,
        ctx: Ctx<'_>,
        token: &TokenDocument,
        message: &PreparedMessage,
    ) -> std::result::Result<Sent, Failure> {
        let access_token = token
            .access_token
            .as_ref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::internal("no access token after refresh"))?;
        match &self.transport {
            Transport::GmailApi => gmail_api::send(ctx, access_token, message),
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
    Fresh(TokenDocument),
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
    finished: bool,
}

impl Lead<'_> {
    fn finish(mut self, result: &Result<TokenDocument>) {
        {
            let mut slots = self.flights.lock();
            match result {
                Ok(doc) => {
                    slots.insert(self.key, Slot::Fresh(doc.clone()));
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
fn usable(doc: &TokenDocument, rejected: Option<&Secret>, now: i64) -> bool {
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

    /// A token document with a usable access token for the grant of `token`: one somebody on
    /// this client refreshed a moment ago, the result of a refresh in flight, or a new refresh.
    /// `rejected` is an access token the provider just refused; it is never handed out again.
    fn fresh(&self, ctx: Ctx<'_>, token: &TokenDocument, rejected: Option<&Secret>) -> Result<TokenDocument> {
        let call = ctx.call;
        let Some(refresh_token) = token.refresh_token.as_ref().filter(|t| !t.is_empty()) else {
            // Nothing to share; token::refresh explains (REAUTHORIZE, token.refresh_token).
            return token::refresh(ctx, token);
        };
        let key = self.hasher.hash_one(refresh_token.expose());
        loop {
            call.check()?;
            let now = now_unix();
            let flight = {
                let mut slots = self.lock();
                // Forget fresh tokens that are no longer fresh: keep secrets no longer than useful.
                slots.retain(|_, s| match s {
                    Slot::Fresh(doc) => usable(doc, None, now),
                    Slot::Refreshing(_) => true,
                });
                match slots.get(&key) {
                    Some(Slot::Fresh(doc)) if usable(doc, rejected, now) => {
                        ctx.log
                            .debug(|| "send: using the access token refreshed by an earlier call".into());
                        return Ok(doc.clone());
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
                            finished: false,
                        };
                        let result = token::refresh(ctx, token);
                        lead.finish(&result);
                        return result;
                    }
                }
            };
            ctx.log
                .debug(|| "send: waiting for the token refresh another call started".into());
            match flight.wait(call)? {
                Ok(doc) if usable(&doc, rejected, now_unix()) => return Ok(doc),
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
