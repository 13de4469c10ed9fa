//! Sending: build the message, make sure the token is fresh, hand the bytes to the transport,
//! refresh once and retry once when the provider rejects the token.

use serde::Serialize;

use crate::cancel::Call;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::message::MessageDocument;
use crate::provider::TransportKind;
use crate::token::TokenDocument;

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

/// What a client keeps between sends: reusable connections and the refresh single-flight state.
#[derive(Debug, Default)]
pub struct SendState {}

pub fn run(_client: &Client, _call: &Call, _token: &TokenDocument, _message: &MessageDocument) -> Result<SendResult> {
    Err(Error::internal("send is not implemented yet"))
}
