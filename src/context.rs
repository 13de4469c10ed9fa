//! What a domain call needs from the client, and nothing more: the settings, the HTTP agent, the
//! log and the call's cancel flag. [`crate::client::Client`] owns those parts and hands each call
//! a [`Ctx`]; authorize, token, send and the transports never see the client itself.

use crate::cancel::Call;
use crate::config::Settings;
use crate::http::Http;
use crate::log::Log;

/// One call's view of its client. Cheap to copy: four references.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub settings: &'a Settings,
    pub http: &'a Http,
    pub log: &'a Log,
    pub call: &'a Call,
    /// The host's upload progress callback, for sends.
    pub progress: Option<&'a crate::progress::Progress>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("settings", self.settings)
            .field("http", self.http)
            .field("log", self.log)
            .field("call", self.call)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}
