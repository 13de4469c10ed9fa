//! The library's one error type. The status codes it carries are defined in [`crate::status`].
//!
//! Every failure in the core is an [`Error`]: a [`Status`] the host can branch on, one sentence for a
//! log, a hint a person can act on, and (where they apply) the offending input field, what the
//! provider said and when to retry. The FFI layer turns it into the error document of `API.md`.
//! No constructor here takes a secret; callers must never put one into `message`.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::hint;
pub use crate::status::Status;

/// What the provider answered, for the error document's `provider` object. Never holds a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<String>,
}

impl ProviderReply {
    pub fn http(status: u16, error: Option<String>, description: Option<String>) -> Self {
        ProviderReply {
            http_status: Some(status),
            error,
            error_description: description,
            smtp_reply: None,
        }
    }

    pub fn smtp(reply: impl Into<String>) -> Self {
        ProviderReply {
            smtp_reply: Some(reply.into()),
            ..Default::default()
        }
    }
}

/// A failure, as the host will see it. Boxed, so that `Result<T>` stays small on the success
/// path; the fields are reached through `Deref` (`error.status`, `error.field`).
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorDetail>);

/// The contents of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    pub status: Status,
    /// One sentence for a log. Never a secret.
    pub message: String,
    /// What the user or administrator should do; always non-empty (defaults per status).
    pub hint: &'static str,
    /// Path of the offending input, from the document's root: `message.to[1]`.
    pub field: Option<String>,
    pub provider: Option<ProviderReply>,
    pub retry_after_s: Option<u64>,
}

impl std::ops::Deref for Error {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorDetail {
            status,
            message: message.into(),
            hint: hint::default_for(status).text,
            field: None,
            provider: None,
            retry_after_s: None,
        }))
    }

    /// Bad input in `field` (a path such as `message.to[1]`).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(Status::InvalidArgument, message).with_field(field)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Status::Internal, message)
    }

    pub fn cancelled() -> Self {
        Error::new(Status::Cancelled, "the call was cancelled by oauthmail_cancel")
    }

    pub fn with_hint(mut self, hint: &hint::Hint) -> Self {
        self.hint = hint.text;
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_provider(mut self, reply: ProviderReply) -> Self {
        self.provider = Some(reply);
        self
    }

    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after_s = seconds;
        self
    }

    /// The error document of `API.md`: `{"error": {"status", "code", "message", "hint", ...}}`.
    pub fn to_document(&self) -> Value {
        let mut e = Map::new();
        e.insert("status".into(), json!(self.status.name()));
        e.insert("code".into(), json!(self.status.code()));
        let message = if self.message.is_empty() {
            self.status.name()
        } else {
            self.message.as_str()
        };
        e.insert("message".into(), json!(message));
        e.insert("hint".into(), json!(self.hint));
        if let Some(field) = &self.field {
            e.insert("field".into(), json!(field));
        }
        if let Some(reply) = &self.provider {
            e.insert("provider".into(), serde_json::to_value(reply).unwrap_or(Value::Null));
        }
        if let Some(s) = self.retry_after_s {
            e.insert("retry_after_s".into(), json!(s));
        }
        json!({ "error": Value::Object(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_has_required_fields_and_omits_absent_ones() {
        let doc = Error::invalid("message.to[1]", "not an email address").to_document();
        let e = &doc["error"];
        assert_eq!(e["status"], "invalid_argument");
        assert_eq!(e["code"], 1);
        assert_eq!(e["field"], "message.to[1]");
        assert!(!e["hint"].as_str().unwrap().is_empty());
        assert!(e.get("provider").is_none());
        assert!(e.get("retry_after_s").is_none());
    }
}
