//! Interactive authorization: loopback listener, PKCE S256, state, the browser, the code exchange.

pub mod browser;
pub mod page;

use serde::Deserialize;

use crate::cancel::Call;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::token::TokenDocument;

/// `options_json` of `oauthmail_authorize`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeOptions {
    #[serde(default)]
    pub login_hint: Option<String>,
    #[serde(default)]
    pub open_browser: Option<bool>,
}

pub fn run(_client: &Client, _call: &Call, _options: &AuthorizeOptions) -> Result<TokenDocument> {
    Err(Error::internal("authorize is not implemented yet"))
}
