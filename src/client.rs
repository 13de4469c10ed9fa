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
        Ok(Client {
            settings,
            http,
            log,
            canceller: Canceller::default(),
            url_opener: RwLock::new(None),
            progress: RwLock::new(None),
            sender,
            tls,
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

    /// Interactive authorization in the browser; returns the token document. Refused with a
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
        authorize::run(self.ctx(&call), opener, options).map_err(|e| self.localized(e))
    }

    pub fn refresh(&self, token: &TokenDocument) -> Result<TokenDocument> {
        let call = self.canceller.begin();
        token::refresh(self.ctx(&call), token).map_err(|e| self.localized(e))
    }

    /// Refresh for a token reference: a token document is refreshed; for `{"subject": …}` the
    /// result is that user's access token from the service account (the one this client holds
    /// while it is fresh, so refresh and send share one exchange per expiry).
    pub fn refresh_ref(&self, token: &TokenRef) -> Result<TokenDocument> {
        match token {
            TokenRef::Document(doc) => self.refresh(doc),
            TokenRef::Subject(subject) => {
                let call = self.canceller.begin();
                self.sender.subject_token(self.ctx(&call), subject)
            }
        }
    }

    pub fn send(&self, token: &TokenDocument, message: &MessageDocument) -> Result<SendResult> {
        self.send_ref(&TokenRef::Document(token.clone()), message)
    }

    /// Sends as `subject`, a user of the Workspace domain, with the service account.
    pub fn send_as(&self, subject: &str, message: &MessageDocument) -> Result<SendResult> {
        self.send_ref(&TokenRef::Subject(subject.to_string()), message)
    }

    pub fn send_ref(&self, token: &TokenRef, message: &MessageDocument) -> Result<SendResult> {
        let call = self.canceller.begin();
        let progress = self.progress.read().unwrap_or_else(|e| e.into_inner()).clone();
        let ctx = Ctx {
            progress: progress.as_deref(),
            ..self.ctx(&call)
        };
        self.sender.send(ctx, token, message).map_err(|e| self.localized(e))
    }

    pub fn revoke(&self, token: &TokenDocument) -> Result<token::Revocation> {
        let call = self.canceller.begin();
        token::revoke(self.ctx(&call), token).map_err(|e| self.localized(e))
    }

    /// The pre-flight check ([`crate::check`]): every step a send needs, without sending; with a
    /// token, also its refresh, scopes and the transport's login. Errors in the steps carry their
    /// hint in `ui_language`.
    pub fn check(&self, token: Option<&TokenDocument>) -> crate::check::Report {
        let call = self.canceller.begin();
        let mut report = crate::check::run(self.ctx(&call), &self.tls, token);
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
