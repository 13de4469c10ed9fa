//! What a domain call needs from the client, and nothing more: the settings, the HTTP agent, the
//! log and the call's cancel flag. [`crate::client::Client`] owns those parts and hands each call
//! a [`Ctx`]; authorize, token, send and the transports never see the client itself.

use crate::cancel::Call;
use crate::config::Settings;
use crate::http::Http;
use crate::log::Log;

/// One call's view of its client. Cheap to copy: four references.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    pub settings: &'a Settings,
    pub http: &'a Http,
    pub log: &'a Log,
    pub call: &'a Call,
}
