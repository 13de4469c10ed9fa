//! The transports: hand a prepared message to the provider with one access token.
//!
//! A transport makes one attempt (SMTP may open a new connection when a kept one turns out stale
//! before `DATA`: nothing was sent on it). It reports a rejected access token separately
//! ([`Failure::TokenRejected`]) so that [`crate::send`] can refresh once and retry once; every
//! other failure is final. A transport never retries once the provider may have received the
//! message data.

pub mod gmail_api;
pub mod smtp;

use crate::error::Error;

/// What the provider said about an accepted message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message, where it gives one (Gmail API `id`).
    pub provider_id: Option<String>,
}

/// Why an attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// The provider rejected the access token (HTTP 401, SMTP 535 after the XOAUTH2 exchange).
    /// Nothing was sent. The error is the AUTH_FAILED the host sees if a fresh token is
    /// rejected too.
    TokenRejected(Error),
    /// Anything else: returned as it is.
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}
