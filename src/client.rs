//! The client: the facade a host holds. It owns the parts (the settings, the HTTP agent, the log,
//! the canceller, the url_opener, the sender with its transport) and hands each call down as a
//! [`Ctx`]; no other module sees a `Client`. A `Client` is `Send + Sync`; every method may run on
//! many threads at once.

use std::sync::{Arc, RwLock};

pub use crate::authorize::UrlOpener;
use crate::authorize::{self, AuthorizeOptions};
use crate::cancel::{Call, Canceller};
use crate::config::{Config, Settings};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::hint;
use crate::http::Http;
use crate::log::{Level, Log, Sink};
use crate::message::MessageDocument;
use crate::progress::Progress;
use crate::send::{SendResult, Sender};
use crate::service_account;
use crate::store::{self, AccountSummary, Store};
use crate::tls;
use crate::token::{self, TokenDocument, TokenRef};

pub struct Client {
    settings: Settings,
    http: Http,
    log: Log,
    canceller: Canceller,
    url_opener: RwLock<Option<Arc<UrlOpener>>>,
    progress: RwLock<Option<Arc<Progress>>>,
    sender: Sender,
    /// The TLS configuration HTTPS and SMTP share, for the check's own handshakes.
    tls: Arc<rustls::ClientConfig>,
    /// The token store of `config.store`, if any.
    store: Option<Store>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Client> {
        let lang = config.ui_language.unwrap_or_default().hints();
        let localized = |e: crate::error::Error| e.in_language(lang);
        let settings = config.resolve().map_err(localized)?;
        let log = Log::default();
        // One TLS configuration for HTTPS and SMTP alike.
        let tls = tls::client_config(settings.extra_ca_file.as_deref()).map_err(localized)?;
        let http = Http::new(&settings, Arc::clone(&tls), log.clone()).map_err(localized)?;
        let sender = Sender::new(&settings, Arc::clone(&tls));
        let store = settings.store.as_ref().map(|s| Store::new(&s.path, s.protect));
        Ok(Client {
            settings,
            http,
            log,
            canceller: Canceller::default(),
            url_opener: RwLock::new(None),
            progress: RwLock::new(None),
            sender,
            tls,
            store,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces the system browser with `opener` (or goes back to the browser with `None`).
    pub fn set_url_opener(&self, opener: Option<Arc<UrlOpener>>) {
        *self.url_opener.write().unwrap_or_else(|e| e.into_inner()) = opener;
    }

    /// Sets (or with `None` removes) the upload progress callback of sends: `(bytes_done,
    /// bytes_total)` of the message data, at most about ten times a second, on the sending
    /// thread; returning `false` cancels the send before its final data (nothing is delivered).
    pub fn set_progress(&self, progress: Option<Arc<Progress>>) {
        *self.progress.write().unwrap_or_else(|e| e.into_inner()) = progress;
    }

    pub fn set_logger(&self, sink: Option<Arc<Sink>>, max: Level) {
        self.log.set(sink, max);
    }

    /// Interactive authorization in the browser; returns the token document. With a store, the
    /// token is also saved under the account's email, replacing an older one. Refused with a
    /// service account: the domain's administrator has authorized it already.
    pub fn authorize(&self, options: &AuthorizeOptions) -> Result<TokenDocument> {
        if self.settings.service_account.is_some() {
            return Err(Error::invalid(
                service_account::FIELD,
                "a client with service_account_file needs no authorization: send as {\"subject\": …}",
            )
            .with_hint(&hint::SERVICE_ACCOUNT_NO_CONSENT));
        }
        let call = self.canceller.begin();
        let opener = self.url_opener.read().unwrap_or_else(|e| e.into_inner()).clone();
        let token = authorize::run(self.ctx(&call), opener, options).map_err(|e| self.localized(e))?;
        if let Some(store) = &self.store {
            store::calls::save_authorized(self.ctx(&call), store, &token).map_err(|e| self.localized(e))?;
        }
        Ok(token)
    }

    /// A fresh access token for a token document; with a store, for an account's entry, which is
    /// then updated; with a service account, for `{"subject": …}`: that user's access token (the
    /// one this client holds while it is fresh, so refresh and send share one exchange per expiry).
    pub fn refresh<'t>(&self, token: impl Into<TokenRef<'t>>) -> Result<TokenDocument> {
        let call = self.canceller.begin();
        let ctx = self.ctx(&call);
        match token.into() {
            TokenRef::Document(doc) => token::refresh(ctx, doc),
            TokenRef::Account(account) => store::calls::refresh_account(ctx, self.store.as_ref(), account),
            TokenRef::Subject(subject) => self.sender.subject_token(ctx, subject),
        }
        .map_err(|e| self.localized(e))
    }

    /// [`Client::refresh`] for a reference held by the caller.
    pub fn refresh_ref(&self, token: &TokenRef<'_>) -> Result<TokenDocument> {
        self.refresh(*token)
    }

    /// Sends with a token document; with a store, with an account's entry; with a service account,
    /// as `{"subject": …}`. With a reference the result carries no token (the store holds it, or
    /// there is nothing to keep).
    pub fn send<'t>(&self, token: impl Into<TokenRef<'t>>, message: &MessageDocument) -> Result<SendResult> {
        let call = self.canceller.begin();
        let progress = self.progress.read().unwrap_or_else(|e| e.into_inner()).clone();
        let ctx = Ctx {
            progress: progress.as_deref(),
            ..self.ctx(&call)
        };
        self.sender
            .send(ctx, self.store.as_ref(), token.into(), message)
            .map_err(|e| self.localized(e))
    }

    /// Sends as `subject`, a user of the Workspace domain, with the service account.
    pub fn send_as(&self, subject: &str, message: &MessageDocument) -> Result<SendResult> {
        self.send(TokenRef::Subject(subject), message)
    }

    /// [`Client::send`] for a reference held by the caller.
    pub fn send_ref(&self, token: &TokenRef<'_>, message: &MessageDocument) -> Result<SendResult> {
        self.send(*token, message)
    }

    /// Revokes the grant; with a reference, then removes the account from the store. A service
    /// account's tokens are not revoked one by one: the administrator removes the delegation.
    pub fn revoke<'t>(&self, token: impl Into<TokenRef<'t>>) -> Result<token::Revocation> {
        let call = self.canceller.begin();
        let ctx = self.ctx(&call);
        match token.into() {
            TokenRef::Document(doc) => token::revoke(ctx, doc).inspect(|_| {
                let n = self.sender.revoked(doc);
                self.log
                    .debug(|| format!("revoke: {n} pooled SMTP connection(s) of the grant closed"));
            }),
            TokenRef::Account(account) => {
                store::calls::revoke_account(ctx, self.store.as_ref(), account).inspect(|_| {
                    let n = self.sender.revoked_account(account);
                    self.log
                        .debug(|| format!("revoke: {n} pooled SMTP connection(s) of the account closed"));
                })
            }
            TokenRef::Subject(_) => Err(Error::invalid(
                token::SUBJECT_FIELD,
                "a service account's access tokens are not revoked one by one (they expire within an hour): to stop \
                 sending as the domain's users, remove the domain-wide delegation or delete the service account's key",
            )),
        }
        .map_err(|e| self.localized(e))
    }

    /// The accounts in the store (never a secret).
    pub fn store_list(&self) -> Result<Vec<AccountSummary>> {
        store::calls::list(self.configured_store()?).map_err(|e| self.localized(e))
    }

    /// Removes an account from the store; `false` when it was not there.
    pub fn store_remove(&self, account: &str) -> Result<bool> {
        let call = self.canceller.begin();
        store::calls::remove(self.ctx(&call), self.configured_store()?, account).map_err(|e| self.localized(e))
    }

    fn configured_store(&self) -> Result<&Store> {
        self.store
            .as_ref()
            .ok_or_else(|| Error::invalid("config.store", "the configuration has no token store (\"store\")"))
    }

    /// The pre-flight check ([`crate::check`]): every step a send needs, without sending; with a
    /// token (a document, `{"account": …}` of the store or a service account's `{"subject": …}`),
    /// also its renewal, age, scopes and the transport's login. Errors in the steps carry their
    /// hint in `ui_language`.
    pub fn check(&self, token: Option<TokenRef<'_>>) -> crate::check::Report {
        let call = self.canceller.begin();
        let mut report = crate::check::run(self.ctx(&call), &self.tls, self.store.as_ref(), token);
        for step in &mut report.steps {
            if let Some(e) = step.error.take() {
                step.error = Some(self.localized(e));
            }
        }
        report
    }

    /// Cancels every call in flight on this client; calls started later are unaffected.
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    /// Errors leave the client with their hint in the configured `ui_language`.
    fn localized(&self, e: crate::error::Error) -> crate::error::Error {
        e.in_language(self.settings.ui_language.hints())
    }

    fn ctx<'a>(&'a self, call: &'a Call) -> Ctx<'a> {
        Ctx {
            settings: &self.settings,
            http: &self.http,
            log: &self.log,
            call,
            progress: None,
        }
    }
}
