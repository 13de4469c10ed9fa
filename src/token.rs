//! Token documents and the token endpoint: code exchange, refresh, revocation, and reading the
//! account's email from the id_token or the userinfo endpoint.

use serde::{Deserialize, Serialize};

use crate::provider::ProviderKind;
use crate::secret::Secret;

/// The token document of `API.md`: the result of authorize and refresh, the input of refresh,
/// send and revoke. Unknown fields are ignored on input, so documents written by a newer version
/// of the library still load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDocument {
    pub provider: ProviderKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    #[serde(default = "bearer")]
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// Unix seconds when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
}

fn bearer() -> String {
    "Bearer".into()
}

use crate::cancel::Call;
use crate::client::Client;
use crate::error::{Error, Result};

/// Exchanges the refresh token for a fresh access token; keeps the refresh token unless the
/// provider rotates it.
pub fn refresh(_client: &Client, _call: &Call, _token: &TokenDocument) -> Result<TokenDocument> {
    Err(Error::internal("refresh is not implemented yet"))
}

/// Revokes the grant at the provider; a token the provider no longer knows counts as revoked.
pub fn revoke(_client: &Client, _call: &Call, _token: &TokenDocument) -> Result<()> {
    Err(Error::internal("revoke is not implemented yet"))
}
