//! The page the browser shows after the redirect reaches our loopback listener.
//! Small, self-contained HTML (no external assets), in the configured `ui_language`.

use crate::config::UiLanguage;

/// What happened, as far as the page needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The account was connected; the window can be closed.
    Connected { email: Option<&'a str> },
    /// The user chose Deny (`error=access_denied`).
    Denied,
    /// The request's `state` is missing or wrong: not an answer to this sign-in.
    StateMismatch,
    /// The provider redirected with another `error`.
    ProviderError {
        error: &'a str,
        description: Option<&'a str>,
    },
    /// The code exchange after a valid redirect failed (message is safe to show: no secrets).
    ExchangeFailed { message: &'a str },
    /// A request after this sign-in already finished (reload, second tab).
    AlreadyFinished,
    /// Any other path (favicon, probes).
    NotFound,
}

/// The full HTML document for `outcome`.
pub fn render(outcome: &Outcome<'_>, _language: UiLanguage) -> String {
    let text = match outcome {
        Outcome::Connected { .. } => "Connected. You can close this window.",
        _ => "Something went wrong. Return to the application.",
    };
    format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>liboauthmail</title></head><body><p>{text}</p></body></html>")
}
