//! The Gmail API transport: `users.messages.send` through the media upload endpoint.
//!
//! `POST {gmail_api}/upload/gmail/v1/users/me/messages/send?uploadType=media` with the message as
//! the body (`Content-Type: message/rfc822`) takes messages up to 35 MiB (providers.md §3.1, §3.2);
//! the JSON endpoint stops at 1 MB. Errors are Google's JSON (§3.4), mapped by
//! `error.errors[0].reason` and `error.status`.

use serde_json::Value;
use url::Url;

use crate::context::Ctx;
use crate::error::{Error, ProviderReply, Result, Status};
use crate::hint;
use crate::http::Response;
use crate::message::PreparedMessage;
use crate::progress::Reporter;
use crate::secret::Secret;
use crate::time::{now_unix, retry_after_s};
use crate::transport::{Failure, Sent};

/// The upload URL under the configured base (which may carry a path prefix).
pub fn upload_url(base: &Url) -> Result<Url> {
    let text = format!(
        "{}/upload/gmail/v1/users/me/messages/send?uploadType=media",
        base.as_str().trim_end_matches('/')
    );
    Url::parse(&text).map_err(|e| Error::invalid("config.endpoints.gmail_api", format!("not a URL: {e}")))
}

/// The account's verified sender addresses (`users.settings.sendAs.list`): the primary address
/// and every alias whose verification is accepted.
pub(crate) fn send_as_addresses(ctx: Ctx<'_>, base: &Url, access_token: &Secret) -> Result<Vec<String>> {
    let url = Url::parse(&format!(
        "{}/gmail/v1/users/me/settings/sendAs",
        base.as_str().trim_end_matches('/')
    ))
    .map_err(|e| Error::invalid("config.endpoints.gmail_api", format!("not a URL: {e}")))?;
    let authorization = Secret::new(format!("Bearer {}", access_token.expose()));
    let headers = [
        ("Authorization", authorization.expose()),
        ("Accept", "application/json"),
    ];
    let response = ctx.http.request(ctx.call, "GET", &url, &headers, None)?;
    if response.status != 200 {
        return Err(map_error(&response));
    }
    let list = response.json().unwrap_or_default();
    Ok(list["sendAs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|a| a["isPrimary"] == true || a["verificationStatus"].as_str().is_none_or(|v| v == "accepted"))
        .filter_map(|a| a["sendAsEmail"].as_str().map(str::to_string))
        .collect())
}

/// One attempt with one access token.
pub(crate) fn send(ctx: Ctx<'_>, access_token: &Secret, message: &PreparedMessage) -> Result<Sent, Failure> {
    let call = ctx.call;
    let base = ctx.settings.endpoints.gmail_api.as_ref().ok_or_else(|| {
        Error::invalid(
            "config.endpoints.gmail_api",
            "the gmail_api transport needs endpoints.gmail_api",
        )
    })?;
    let url = upload_url(base)?;
    let authorization = Secret::new(format!("Bearer {}", access_token.expose()));
    let headers = [
        ("Authorization", authorization.expose()),
        ("Content-Type", "message/rfc822"),
        ("Accept", "application/json"),
    ];
    call.check()?;
    // From here on the provider may receive the message: whatever fails is returned, never retried
    // (the http layer does not retry a POST either).
    // The message is encoded as it goes out (path attachments are read from their files), with
    // its length, computed ahead, as the Content-Length.
    let mut body = message.gmail_api_reader();
    let len = body.len();
    let mut reporter = Reporter::new(ctx.progress, len);
    let result = ctx.http.upload(call, &url, &headers, &mut body, len, &mut reporter);
    // A stop by the progress callback came before the last piece: nothing can have arrived.
    let response = result.map_err(|f| {
        if f.may_have_reached && !reporter.stopped() {
            maybe_delivered(f.error)
        } else {
            f.error
        }
    })?;
    drop(authorization);
    if (200..300).contains(&response.status) {
        let provider_id = response
            .json()
            .and_then(|j| j.get("id").and_then(Value::as_str).map(String::from));
        if provider_id.is_none() {
            // Accepted all the same; an error here would make the host send it twice.
            ctx.log.warn(|| {
                format!(
                    "Gmail API accepted the message (HTTP {}) without an id",
                    response.status
                )
            });
        }
        return Ok(Sent { provider_id });
    }
    let error = map_error(&response);
    if response.status == 401 {
        return Err(Failure::TokenRejected(error));
    }
    Err(Failure::Other(error))
}

/// A request that failed without an answer (timeout, reset, cancel) after it may have reached
/// Gmail may have failed after Gmail had the whole message: the host must hear that before it
/// thinks of sending again. (One that failed connecting or in the handshake is returned as it is.)
fn maybe_delivered(mut error: Error) -> Error {
    if matches!(
        error.status,
        Status::Timeout | Status::Network | Status::Cancelled | Status::Provider
    ) {
        error.message = format!(
            "{}; if the upload had completed, Gmail may have accepted the message (check the Sent folder); it was not sent again",
            error.message
        );
    }
    error
}

/// Google's error document, as far as it is there.
#[derive(Debug, Default, PartialEq, Eq)]
struct GoogleError {
    reason: Option<String>,
    status: Option<String>,
    message: Option<String>,
}

fn google_error(response: &Response) -> GoogleError {
    let Some(json) = response.json() else {
        let text = String::from_utf8_lossy(&response.body);
        let text = text.trim();
        return GoogleError {
            message: (!text.is_empty()).then(|| text.chars().take(300).collect()),
            ..Default::default()
        };
    };
    let e = &json["error"];
    let s = |v: &Value| v.as_str().map(String::from);
    GoogleError {
        reason: s(&e["errors"][0]["reason"]).or_else(|| s(&e["details"][0]["reason"])),
        status: s(&e["status"]),
        message: s(&e["message"]).or_else(|| s(&e["errors"][0]["message"])),
    }
}

/// Maps a non-2xx answer of the send endpoint to the API's statuses (providers.md §3.4).
pub(crate) fn map_error(response: &Response) -> Error {
    let g = google_error(response);
    let code = response.status;
    let reason = g.reason.as_deref().unwrap_or("");
    let gstatus = g.status.as_deref().unwrap_or("");
    let message = g.message.as_deref().unwrap_or("");
    let reply = ProviderReply::http(code, g.reason.clone(), g.message.clone());
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    let retry_after = || retry_after_s(response.header("Retry-After"), message, now_unix());

    let error = match (code, reason) {
        (401, _) => Error::new(
            Status::AuthFailed,
            format!("the Gmail API rejected the access token (HTTP 401{said})"),
        ),
        (403, "insufficientPermissions") | (403, "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => Error::new(
            Status::InsufficientScope,
            format!("the access token lacks a scope that may send mail (HTTP 403{said})"),
        )
        .with_hint(&hint::INSUFFICIENT_SCOPE_API),
        (403, "accessNotConfigured") | (403, "SERVICE_DISABLED") => Error::new(
            Status::AuthFailed,
            format!("the Gmail API is not enabled for this OAuth client's project (HTTP 403{said})"),
        )
        .with_hint(&hint::GMAIL_API_DISABLED),
        (403, "dailyLimitExceeded") => Error::new(
            Status::RateLimited,
            format!("the daily sending limit is reached (HTTP 403{said})"),
        )
        .with_hint(&hint::DAILY_LIMIT)
        .with_retry_after(retry_after()),
        (429, _) | (403, "rateLimitExceeded") | (403, "userRateLimitExceeded") => Error::new(
            Status::RateLimited,
            format!("Gmail is limiting the sending rate (HTTP {code}{said})"),
        )
        .with_retry_after(retry_after()),
        _ if gstatus == "RESOURCE_EXHAUSTED" => Error::new(
            Status::RateLimited,
            format!("Gmail is limiting the sending rate (HTTP {code}{said})"),
        )
        .with_retry_after(retry_after()),
        (403, _) if gstatus == "PERMISSION_DENIED" && message.contains("scope") => Error::new(
            Status::InsufficientScope,
            format!("the access token lacks a scope that may send mail (HTTP 403{said})"),
        )
        .with_hint(&hint::INSUFFICIENT_SCOPE_API),
        (413, _) => Error::new(
            Status::Rejected,
            format!("the message is too large for Gmail (HTTP 413{said})"),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE),
        (400, _) if message.contains("size") => Error::new(
            Status::Rejected,
            format!("the message is too large for Gmail (HTTP 400{said})"),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE),
        (400, _) => Error::new(Status::Rejected, format!("Gmail refused the message (HTTP 400{said})")),
        (500..=599, _) => Error::new(Status::Provider, format!("the Gmail API failed (HTTP {code}{said})"))
            .with_retry_after(retry_after()),
        _ => Error::new(
            Status::Provider,
            format!("the Gmail API answered unexpectedly (HTTP {code}{said})"),
        ),
    };
    error.with_provider(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: u16, headers: &[(&str, &str)], body: Value) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    fn google(status: u16, reason: &str, gstatus: &str, message: &str) -> Response {
        response(
            status,
            &[],
            json!({"error": {"code": status, "message": message,
                   "errors": [{"message": message, "domain": "global", "reason": reason}], "status": gstatus}}),
        )
    }

    #[test]
    fn upload_url_keeps_a_path_prefix() {
        let u = upload_url(&Url::parse("https://127.0.0.1:41001").unwrap()).unwrap();
        assert_eq!(
            u.as_str(),
            "https://127.0.0.1:41001/upload/gmail/v1/users/me/messages/send?uploadType=media"
        );
        let u = upload_url(&Url::parse("https://proxy.example/google/").unwrap()).unwrap();
        assert_eq!(u.path(), "/google/upload/gmail/v1/users/me/messages/send");
    }

    #[test]
    fn google_errors_map_to_the_api_statuses_with_provider_details() {
        let cases = [
            (
                google(401, "authError", "UNAUTHENTICATED", "Invalid Credentials"),
                Status::AuthFailed,
                None,
            ),
            (
                google(
                    403,
                    "insufficientPermissions",
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                ),
                Status::InsufficientScope,
                Some(&hint::INSUFFICIENT_SCOPE_API),
            ),
            (
                google(
                    403,
                    "accessNotConfigured",
                    "PERMISSION_DENIED",
                    "Gmail API has not been used in project 1 before or it is disabled.",
                ),
                Status::AuthFailed,
                Some(&hint::GMAIL_API_DISABLED),
            ),
            (
                google(403, "dailyLimitExceeded", "", "Daily Limit Exceeded"),
                Status::RateLimited,
                Some(&hint::DAILY_LIMIT),
            ),
            (
                google(403, "rateLimitExceeded", "", "Quota exceeded"),
                Status::RateLimited,
                None,
            ),
            (
                google(403, "userRateLimitExceeded", "", "User-rate limit exceeded."),
                Status::RateLimited,
                None,
            ),
            (
                google(
                    429,
                    "rateLimitExceeded",
                    "RESOURCE_EXHAUSTED",
                    "Resource has been exhausted",
                ),
                Status::RateLimited,
                None,
            ),
            (
                google(400, "invalidArgument", "INVALID_ARGUMENT", "Recipient address required"),
                Status::Rejected,
                None,
            ),
            (
                google(503, "backendError", "UNAVAILABLE", "Backend Error"),
                Status::Provider,
                None,
            ),
            (
                google(500, "backendError", "INTERNAL", "Internal error"),
                Status::Provider,
                None,
            ),
        ];
        for (r, status, hint) in cases {
            let e = map_error(&r);
            assert_eq!(e.status, status, "{r:?}");
            if let Some(h) = hint {
                assert_eq!(e.hint, h.text);
            }
            let p = e.provider.clone().unwrap();
            assert_eq!(p.http_status, Some(r.status));
            assert!(p.error.is_some() && p.error_description.is_some());
        }
    }

    #[test]
    fn rate_limit_reads_retry_after_as_seconds_or_date_or_from_the_message() {
        let r = response(
            429,
            &[("Retry-After", "30")],
            json!({"error": {"errors": [{"reason": "rateLimitExceeded"}]}}),
        );
        assert_eq!(map_error(&r).retry_after_s, Some(30));
        // The date and message forms: crate::time's tests.
    }

    #[test]
    fn a_non_json_error_body_still_maps_by_status() {
        let r = Response {
            status: 502,
            headers: vec![],
            body: b"<html>Bad Gateway</html>".to_vec(),
        };
        let e = map_error(&r);
        assert_eq!(e.status, Status::Provider);
        assert_eq!(e.provider.clone().unwrap().http_status, Some(502));
    }
}
