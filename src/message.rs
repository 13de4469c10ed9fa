//! The message document and turning it into RFC 5322 bytes (or taking a raw message as it is).

use serde::Deserialize;
use serde_json::{Map, Value};

/// `message_json` of `oauthmail_send`. Unknown fields are refused: a misspelt `attachments`
/// must not silently send a mail without its attachment.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageDocument {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentDocument>,
    /// Custom headers in the order given; values must be strings (checked when building).
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub raw_path: Option<String>,
    #[serde(default)]
    pub raw_base64: Option<String>,
    #[serde(default)]
    pub envelope: Option<EnvelopeDocument>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentDocument {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_base64: Option<String>,
    #[serde(default)]
    pub content_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeDocument {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
}
