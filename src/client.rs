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
    sender: Sender,
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
        let settings = config.resolve()?;
        let log = Log::default();
        // One TLS configuration for HTTPS and SMTP alike.
        let tls = tls::client_config(settings.extra_ca_file.as_deref())?;
        let http = Http::new(&settings, Arc::clone(&tls), log.clone())?;
        let sender = Sender::new(&settings, tls);
        let store = settings.store.as_ref().map(|s| Store::new(&s.path, s.protect));
        Ok(Client {
            settings,
            http,
            log,
            canceller: Canceller::default(),
            url_opener: RwLock::new(None),
            sender,
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
        let token = authorize::run(self.ctx(&call), opener, options)?;
        if let Some(store) = &self.store {
            store::calls::save_authorized(self.ctx(&call), store, &token)?;
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
        self.sender
            .send(self.ctx(&call), self.store.as_ref(), token.into(), message)
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
            TokenRef::Document(doc) => token::revoke(ctx, doc),
            TokenRef::Account(account) => store::calls::revoke_account(ctx, self.store.as_ref(), account),
            TokenRef::Subject(_) => Err(Error::invalid(
                token::SUBJECT_FIELD,
                "a service account's access tokens are not revoked one by one (they expire within an hour): to stop \
                 sending as the domain's users, remove the domain-wide delegation or delete the service account's key",
            )),
        }
    }

    /// The accounts in the store (never a secret).
    pub fn store_list(&self) -> Result<Vec<AccountSummary>> {
        store::calls::list(self.configured_store()?)
    }

    /// Removes an account from the store; `false` when it was not there.
    pub fn store_remove(&self, account: &str) -> Result<bool> {
        let call = self.canceller.begin();
        store::calls::remove(self.ctx(&call), self.configured_store()?, account)
    }

    fn configured_store(&self) -> Result<&Store> {
        self.store.as_ref().ok_or_else(|| {
            crate::error::Error::invalid("config.store", "the configuration has no token store (\"store\")")
        })
    }

    /// Cancels every call in flight on this client; calls started later are unaffected.
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    fn ctx<'a>(&'a self, call: &'a Call) -> Ctx<'a> {
        Ctx {
            settings: &self.settings,
            http: &self.http,
            log: &self.log,
            call,
        }
    }
}
