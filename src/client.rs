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
use crate::error::Result;
use crate::http::Http;
use crate::log::{Level, Log, Sink};
use crate::message::MessageDocument;
use crate::send::{SendResult, Sender};
use crate::tls;
use crate::token::{self, TokenDocument};

pub struct Client {
    settings: Settings,
    http: Http,
    log: Log,
    canceller: Canceller,
    url_opener: RwLock<Option<Arc<UrlOpener>>>,
    sender: Sender,
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
        Ok(Client {
            settings,
            http,
            log,
            canceller: Canceller::default(),
            url_opener: RwLock::new(None),
            sender,
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

    /// Interactive authorization in the browser; returns the token document.
    pub fn authorize(&self, options: &AuthorizeOptions) -> Result<TokenDocument> {
        let call = self.canceller.begin();
        let opener = self.url_opener.read().unwrap_or_else(|e| e.into_inner()).clone();
        authorize::run(self.ctx(&call), opener, options)
    }

    pub fn refresh(&self, token: &TokenDocument) -> Result<TokenDocument> {
        let call = self.canceller.begin();
        token::refresh(self.ctx(&call), token)
    }

    pub fn send(&self, token: &TokenDocument, message: &MessageDocument) -> Result<SendResult> {
        let call = self.canceller.begin();
        self.sender.send(self.ctx(&call), token, message)
    }

    pub fn revoke(&self, token: &TokenDocument) -> Result<()> {
        let call = self.canceller.begin();
        token::revoke(self.ctx(&call), token)
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
