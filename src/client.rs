//! The client: one configuration, its HTTP agent, its reusable connections and its callbacks.
//! A `Client` is `Send + Sync`; every method may run on many threads at once.

use std::sync::{Arc, RwLock};

use crate::authorize::{self, AuthorizeOptions};
use crate::cancel::Canceller;
use crate::config::{Config, Settings};
use crate::error::Result;
use crate::http::Http;
use crate::log::{Level, Log, Sink};
use crate::message::MessageDocument;
use crate::send::{self, SendResult, SendState};
use crate::token::{self, TokenDocument};

/// Opens the authorization URL; returns `true` when it did. Called on the authorizing thread.
pub type UrlOpener = dyn Fn(&str) -> bool + Send + Sync;

pub struct Client {
    pub(crate) settings: Settings,
    pub(crate) http: Http,
    pub(crate) log: Log,
    pub(crate) canceller: Canceller,
    pub(crate) url_opener: RwLock<Option<Arc<UrlOpener>>>,
    pub(crate) send_state: SendState,
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
        let http = Http::new(&settings)?.with_log(log.clone());
        Ok(Client {
            settings,
            http,
            log,
            canceller: Canceller::default(),
            url_opener: RwLock::new(None),
            send_state: SendState::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces the system browser with `opener` (or goes back to the browser with `None`).
    pub fn set_url_opener(&self, opener: Option<Arc<UrlOpener>>) {
        *self.url_opener.write().unwrap_or_else(|e| e.into_inner()) = opener;
    }

    pub(crate) fn url_opener(&self) -> Option<Arc<UrlOpener>> {
        self.url_opener.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_logger(&self, sink: Option<Arc<Sink>>, max: Level) {
        self.log.set(sink, max);
    }

    /// Interactive authorization in the browser; returns the token document.
    pub fn authorize(&self, options: &AuthorizeOptions) -> Result<TokenDocument> {
        let call = self.canceller.begin();
        authorize::run(self, &call, options)
    }

    pub fn refresh(&self, token: &TokenDocument) -> Result<TokenDocument> {
        let call = self.canceller.begin();
        token::refresh(self, &call, token)
    }

    pub fn send(&self, token: &TokenDocument, message: &MessageDocument) -> Result<SendResult> {
        let call = self.canceller.begin();
        send::run(self, &call, token, message)
    }

    pub fn revoke(&self, token: &TokenDocument) -> Result<()> {
        let call = self.canceller.begin();
        token::revoke(self, &call, token)
    }

    /// Cancels every call in flight on this client; calls started later are unaffected.
    pub fn cancel(&self) {
        self.canceller.cancel();
    }
}
