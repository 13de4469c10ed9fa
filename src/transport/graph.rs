//! The Microsoft Graph transport (`"transport": "graph"`, issue 15).
//!
//! - A message without Bcc recipients: `POST {graph}/v1.0/me/sendMail` with the MIME message,
//!   base64, as `text/plain` (providers.md §4.6) -> `202 Accepted`, no id.
//! - With Bcc recipients: the MIME message (which never carries a `Bcc` header) becomes a draft
//!   (`POST /v1.0/me/messages`, same body), its `bccRecipients` are set with `PATCH`, then
//!   `POST /v1.0/me/messages/{id}/send`. So Bcc travels only in Graph's recipients. Drafts need
//!   `Mail.ReadWrite` as well as `Mail.Send`.
//! - Graph takes at most 4 MB per request: a bigger message goes as a draft in Graph's JSON
//!   form with its attachments added one by one, the large ones through upload sessions, then
//!   `send` ([`upload`]).
//!
//! Graph's 202 carries no message id: the send result's `message_id` is the library's
//! `Message-ID`. Errors are `{"error": {"code", "message", "innerError"}}`, mapped by code.

use base64::Engine;
use serde_json::{json, Value};
use url::Url;

use crate::context::Ctx;
use crate::error::{Error, ProviderReply, Result, Status};
use crate::hint;
use crate::http::Response;
use crate::message::{MessageDocument, PreparedMessage};
use crate::secret::Secret;
use crate::time::{now_unix, retry_after_s};
use crate::transport::{Failure, Sent};

mod upload;

/// Graph's request size limit.
pub const REQUEST_LIMIT: usize = 4 * 1024 * 1024;

fn url(base: &Url, path: &str) -> Result<Url> {
    let text = format!("{}/v1.0/{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|e| Error::invalid("config.endpoints.graph", format!("not a URL: {e}")))
}

/// One attempt with one access token. `doc` is the message document `message` was prepared
/// from: a message over [`REQUEST_LIMIT`] is sent from its fields ([`upload`]).
pub(crate) fn send(
    ctx: Ctx<'_>,
    access_token: &Secret,
    message: &PreparedMessage,
    doc: &MessageDocument,
) -> Result<Sent, Failure> {
    let base = ctx
        .settings
        .endpoints
        .graph
        .as_ref()
        .ok_or_else(|| Error::invalid("config.endpoints.graph", "the graph transport needs endpoints.graph"))?;
    let authorization = Secret::new(format!("Bearer {}", access_token.expose()));
    let auth = authorization.expose();
    // From the computed length: a big message is never read into memory for this decision.
    if usize::try_from(message.smtp_len()).unwrap_or(usize::MAX).div_ceil(3) * 4 > REQUEST_LIMIT {
        return upload::send(ctx, base, auth, message, doc);
    }
    let data = message.smtp_bytes()?;
    let mime = base64::engine::general_purpose::STANDARD.encode(&data);
    // Graph takes the recipients of a MIME message from its To and Cc headers: every envelope
    // recipient they do not name is a Bcc recipient and goes through bccRecipients.
    let named = to_and_cc(&data);
    let bcc: Vec<Value> = message
        .envelope
        .to
        .iter()
        .map(|r| r.address.to_string())
        .filter(|a| !mentions(&named, &a.to_ascii_lowercase()))
        .map(|a| json!({"emailAddress": {"address": a}}))
        .collect();
    let call = ctx.call;
    call.check()?;
    if bcc.is_empty() {
        let r = ctx
            .http
            .request(
                call,
                "POST",
                &url(base, "me/sendMail")?,
                &[("Authorization", auth), ("Content-Type", "text/plain")],
                Some(mime.as_bytes()),
            )
            .map_err(maybe_delivered)?;
        return answer(r, 202).map(|_| Sent { provider_id: None });
    }
    // Draft, Bcc through PATCH, send. Nothing is delivered before the last request.
    let r = ctx.http.request(
        call,
        "POST",
        &url(base, "me/messages")?,
        &[("Authorization", auth), ("Content-Type", "text/plain")],
        Some(mime.as_bytes()),
    )?;
    let draft = answer(r, 201)?;
    let id = draft
        .json()
        .and_then(|j| j.get("id").and_then(Value::as_str).map(String::from))
        .ok_or_else(|| Error::new(Status::Provider, "Graph created the draft without an id"))?;
    let escaped: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let patch = json!({ "bccRecipients": bcc }).to_string();
    let r = ctx.http.request(
        call,
        "PATCH",
        &url(base, &format!("me/messages/{escaped}"))?,
        &[("Authorization", auth), ("Content-Type", "application/json")],
        Some(patch.as_bytes()),
    )?;
    answer(r, 200)?;
    let r = ctx
        .http
        .request(
            call,
            "POST",
            &url(base, &format!("me/messages/{escaped}/send"))?,
            &[("Authorization", auth), ("Content-Type", "application/json")],
            Some(b""),
        )
        .map_err(maybe_delivered)?;
    answer(r, 202).map(|_| Sent { provider_id: None })
}

/// The unfolded values of the To and Cc header fields, lower case.
fn to_and_cc(data: &[u8]) -> String {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..end])
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    head.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("to") || name.trim().eq_ignore_ascii_case("cc"))
        .map(|(_, value)| value.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `addr` occurs in `text` as a whole address (not inside a longer one).
fn mentions(text: &str, addr: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.@".contains(c);
    text.match_indices(addr).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + addr.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

/// The expected status, or the mapped failure (401: the token, for one refresh and retry).
fn answer(response: Response, expected: u16) -> Result<Response, Failure> {
    if response.status == expected || (expected != 202 && (200..300).contains(&response.status)) {
        return Ok(response);
    }
    let error = map_error(&response);
    if response.status == 401 {
        return Err(Failure::TokenRejected(error));
    }
    Err(Failure::Other(error))
}

/// A send that failed without an answer may have been accepted (the host must hear that).
fn maybe_delivered(mut error: Error) -> Error {
    if matches!(
        error.status,
        Status::Timeout | Status::Network | Status::Cancelled | Status::Provider
    ) {
        error.message = format!(
            "{}; Graph may have accepted the message before the answer was lost (check Sent Items); it was not sent again",
            error.message
        );
    }
    error
}

/// Maps a Graph error answer to the API's statuses.
pub(crate) fn map_error(response: &Response) -> Error {
    let json = response.json();
    let code = json
        .as_ref()
        .and_then(|j| j.pointer("/error/code").and_then(Value::as_str).map(String::from));
    let text = json
        .as_ref()
        .and_then(|j| j.pointer("/error/message").and_then(Value::as_str).map(String::from));
    let status = response.status;
    let reply = ProviderReply::http(status, code.clone(), text.clone());
    let said = format!(
        "HTTP {status}{}{}",
        code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
        text.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
    );
    let retry = || retry_after_s(response.header("Retry-After"), "", now_unix());
    let e = match (status, code.as_deref().unwrap_or("")) {
        (401, _) => Error::new(Status::AuthFailed, format!("Graph rejected the access token ({said})")),
        (403, "ErrorSendAsDenied") => Error::new(
            Status::Rejected,
            format!("Exchange refused the From address: the account may not send as it ({said})"),
        )
        .with_hint(&hint::MS_SEND_AS_DENIED),
        (403, _) => Error::new(
            Status::InsufficientScope,
            format!("the access token lacks the Graph permission (Mail.Send; Mail.ReadWrite for Bcc drafts) ({said})"),
        )
        .with_hint(&hint::INSUFFICIENT_SCOPE),
        (400, "ErrorInvalidRecipients") => Error::new(Status::Rejected, format!("Graph refused a recipient ({said})"))
            .with_hint(&hint::RECIPIENT_REFUSED),
        (413, _) | (_, "ErrorMessageSizeExceeded") => Error::new(
            Status::Rejected,
            format!("the message is too large for Exchange ({said})"),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE),
        (429, _) => Error::new(
            Status::RateLimited,
            format!("Graph is limiting the sending rate ({said})"),
        )
        .with_retry_after(retry()),
        (400..=499, _) => Error::new(Status::Rejected, format!("Graph refused the message ({said})")),
        (500..=599, _) => Error::new(Status::Provider, format!("Graph failed ({said})")).with_retry_after(retry()),
        _ => Error::new(Status::Provider, format!("Graph answered unexpectedly ({said})")),
    };
    e.with_provider(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_named_in_to_or_cc_are_found_whole_and_case_blind() {
        let head = to_and_cc(
            b"From: a@x.ro\r\nTo: \"B\" <B@x.ro>,\r\n c@x.ro\r\nCc: dd@x.ro\r\nSubject: e@x.ro\r\n\r\nf@x.ro\r\n",
        );
        assert!(mentions(&head, "b@x.ro") && mentions(&head, "c@x.ro") && mentions(&head, "dd@x.ro"));
        assert!(!mentions(&head, "d@x.ro"), "inside dd@x.ro");
        assert!(!mentions(&head, "e@x.ro") && !mentions(&head, "f@x.ro") && !mentions(&head, "a@x.ro"));
    }
}
