//! The C API: every exported function, and nothing else. Each body checks its pointers, decodes
//! UTF-8 and JSON, calls the core, and encodes the result; the pieces live in [`boundary`].
//!
//! Conventions that hold for every function (also in README.md, "API conventions"):
//! strings in are NUL-terminated UTF-8 and copied; strings out are NUL-terminated UTF-8 JSON that
//! the caller frees with `oauthmail_string_free`; every fallible function returns an
//! `oauthmail_status` (0 is success); no panic reaches the host; a client handle may be used from
//! many threads at once.

#![allow(non_camel_case_types)]

mod boundary;
mod panic;

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use serde_json::{json, Value};

use self::boundary::{
    free_c_string, guard, guard_void, guard_with_status, opt_str_arg, parse_json, parse_token_ref, str_arg, TokenArg,
    UserData,
};
use crate::authorize::AuthorizeOptions;
use crate::client::{Client, UrlOpener};
use crate::config::Config;
use crate::error::{Error, Status};
use crate::log::{Level, Sink};
use crate::message::MessageDocument;
use crate::progress::Progress;

/// A status code: 0 (`OAUTHMAIL_OK`) on success, one of the `OAUTHMAIL_*` constants otherwise.
/// A failing call's error document is `{"error": {"status", "code", "message", "hint",
/// "hint_id", ...}}`: `hint_id` is the stable anchor of the hint's entry in
/// docs/troubleshooting.en.md and .ro.md; with `"ui_language": "ro"` the `hint` is the Romanian
/// text of that entry (`message` stays English, for logs).
/// Values are fixed; new ones are only ever added after the last.
pub type oauthmail_status = u32;

/// Success.
pub const OAUTHMAIL_OK: oauthmail_status = 0;
/// Bad input: NULL, invalid UTF-8, malformed JSON, unknown or wrong-typed field, invalid address,
/// header injection. The error document's `field` names the input.
pub const OAUTHMAIL_INVALID_ARGUMENT: oauthmail_status = 1;
/// `oauthmail_cancel` was called, or the `url_opener` declined to open the URL.
pub const OAUTHMAIL_CANCELLED: oauthmail_status = 2;
/// A configured time limit ran out (authorization wait, connect, I/O).
pub const OAUTHMAIL_TIMEOUT: oauthmail_status = 3;
/// The user declined consent, or the provider refused this account.
pub const OAUTHMAIL_ACCESS_DENIED: oauthmail_status = 4;
/// The refresh token is expired, revoked or invalid: call `oauthmail_authorize` again.
pub const OAUTHMAIL_REAUTHORIZE: oauthmail_status = 5;
/// The token lacks the scope that this transport needs.
pub const OAUTHMAIL_INSUFFICIENT_SCOPE: oauthmail_status = 6;
/// The provider rejected the client, or the access token even after one refresh.
pub const OAUTHMAIL_AUTH_FAILED: oauthmail_status = 7;
/// DNS, connect, reset or proxy failure.
pub const OAUTHMAIL_NETWORK: oauthmail_status = 8;
/// Certificate or handshake failure; the message names the issuer seen.
pub const OAUTHMAIL_TLS: oauthmail_status = 9;
/// Quota or rate limit; the error document has `retry_after_s` when known.
pub const OAUTHMAIL_RATE_LIMITED: oauthmail_status = 10;
/// The provider permanently refused the message or a recipient; nothing was sent.
pub const OAUTHMAIL_REJECTED: oauthmail_status = 11;
/// Any other provider failure (5xx, unexpected reply).
pub const OAUTHMAIL_PROVIDER: oauthmail_status = 12;
/// A local file could not be read or written.
pub const OAUTHMAIL_IO: oauthmail_status = 13;
/// A bug in the library (a caught panic).
pub const OAUTHMAIL_INTERNAL: oauthmail_status = 14;

// The constants above are the header's copy of `Status` (cbindgen needs literal values here):
// this match names every status, so a new one without a constant does not compile, and the
// assertion below fails the build if a constant's number differs from its status's.
const fn constant_of(status: Status) -> oauthmail_status {
    match status {
        Status::Ok => OAUTHMAIL_OK,
        Status::InvalidArgument => OAUTHMAIL_INVALID_ARGUMENT,
        Status::Cancelled => OAUTHMAIL_CANCELLED,
        Status::Timeout => OAUTHMAIL_TIMEOUT,
        Status::AccessDenied => OAUTHMAIL_ACCESS_DENIED,
        Status::Reauthorize => OAUTHMAIL_REAUTHORIZE,
        Status::InsufficientScope => OAUTHMAIL_INSUFFICIENT_SCOPE,
        Status::AuthFailed => OAUTHMAIL_AUTH_FAILED,
        Status::Network => OAUTHMAIL_NETWORK,
        Status::Tls => OAUTHMAIL_TLS,
        Status::RateLimited => OAUTHMAIL_RATE_LIMITED,
        Status::Rejected => OAUTHMAIL_REJECTED,
        Status::Provider => OAUTHMAIL_PROVIDER,
        Status::Io => OAUTHMAIL_IO,
        Status::Internal => OAUTHMAIL_INTERNAL,
    }
}

const _: () = {
    let mut i = 0;
    while i < Status::ALL.len() {
        let status = Status::ALL[i];
        assert!(
            constant_of(status) == status as u32,
            "an OAUTHMAIL_* constant differs from its Status"
        );
        i += 1;
    }
};

/// An opaque client: one configuration, its connections and callbacks.
///
/// Created by `oauthmail_client_new`, released by `oauthmail_client_free`. Thread-safe: any
/// function may be called on the same handle from several threads at once, except
/// `oauthmail_client_free`, which must be the last call on it.
pub struct oauthmail_client {
    client: Client,
}

/// Opens the authorization URL for the user, instead of the system browser.
///
/// `url` is NUL-terminated UTF-8 and valid only during the call; copy it to keep it. Called once
/// per authorization, on the thread that called `oauthmail_authorize` (docs/API.md). The loopback
/// listener is already open, but the library answers the browser only after the opener returns:
/// return promptly, and if the host fetches the URL itself, do so on another thread. Return 0
/// when the URL was opened (or handed to the user); any other value makes `oauthmail_authorize`
/// fail at once with `OAUTHMAIL_CANCELLED`.
pub type oauthmail_url_opener = Option<unsafe extern "C" fn(user_data: *mut c_void, url: *const c_char) -> i32>;

/// Receives the library's log lines.
///
/// `level` is 1 = error, 2 = warning, 3 = info, 4 = debug, 5 = trace. `message` is NUL-terminated
/// UTF-8, valid only during the call, and never contains a secret (client secret, code, token).
/// May be called from any thread that is inside a library call on this client, including several
/// at once; it must not call back into the library with the same client.
pub type oauthmail_logger = Option<unsafe extern "C" fn(user_data: *mut c_void, level: u32, message: *const c_char)>;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Receives upload progress during `oauthmail_send`: `bytes_done` of `bytes_total` bytes of the
/// message data (the Gmail API upload body, or the SMTP data) have gone out.
///
/// Called on the thread that called `oauthmail_send`, at most about ten times a second, with
/// `bytes_done` never decreasing, once more just before the last piece of the data, and finally
/// with `bytes_done == bytes_total` when everything went out. Return 0 to go on; any other value
/// cancels the send before its final data (the send returns `OAUTHMAIL_CANCELLED` and nothing is
/// delivered). It must not call back into the library with the same client.
pub type oauthmail_progress =
    Option<unsafe extern "C" fn(user_data: *mut c_void, bytes_done: u64, bytes_total: u64) -> i32>;

/// The library's version, such as "0.1.0".
///
/// Returns a static NUL-terminated string: never NULL, never freed. Safe from any thread.
#[no_mangle]
pub extern "C" fn oauthmail_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The lowercase name of a status code: "ok", "invalid_argument", ... ; "unknown" for values the
/// library does not know. The same name is the error document's `status`.
///
/// Returns a static NUL-terminated string: never NULL, never freed. Safe from any thread.
#[no_mangle]
pub extern "C" fn oauthmail_status_name(status: u32) -> *const c_char {
    let name = Status::from_code(status).map_or("unknown\0", Status::c_name);
    name.as_ptr().cast()
}

/// Creates a client from `config_json` (see docs/API.md, "Client configuration").
///
/// - `config_json`: required, NUL-terminated UTF-8 JSON; copied, the caller may free it on return.
/// - `out_client`: required; on success receives the new handle (free it with
///   `oauthmail_client_free`), on failure is set to NULL.
/// - `out_json`: may be NULL; on failure receives the error document (free it with
///   `oauthmail_string_free`), on success is set to NULL.
///
/// Unknown configuration fields are refused with `OAUTHMAIL_INVALID_ARGUMENT` naming the field.
/// A `service_account_file` is read here, once: unreadable is `OAUTHMAIL_IO`, not a service-account
/// key file `OAUTHMAIL_INVALID_ARGUMENT`, both with the field `config.service_account_file`.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_client_new(
    config_json: *const c_char,
    out_client: *mut *mut oauthmail_client,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    if !out_client.is_null() {
        // SAFETY: non-NULL, and writable by the caller's promise.
        unsafe { *out_client = std::ptr::null_mut() };
    }
    guard("oauthmail_client_new", out_json, || {
        if out_client.is_null() {
            return Err(Error::invalid("out_client", "out_client is NULL"));
        }
        // SAFETY: the caller's promise on `config_json`.
        let text = unsafe { str_arg(config_json, "config") }?;
        let config: Config = parse_json(text, "config")?;
        let client = Client::new(config)?;
        let handle = Box::into_raw(Box::new(oauthmail_client { client }));
        // SAFETY: checked non-NULL above.
        unsafe { *out_client = handle };
        Ok(None)
    })
}

/// Releases a client. NULL is a no-op.
///
/// Must be the last call on the handle: no other thread may be inside a call with it. Closes
/// its connections.
///
/// # Safety
/// `client` is NULL or a handle from `oauthmail_client_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_client_free(client: *mut oauthmail_client) {
    if client.is_null() {
        return;
    }
    guard_void(|| {
        // SAFETY: a live handle from Box::into_raw in oauthmail_client_new, freed only here.
        drop(unsafe { Box::from_raw(client) });
    });
}

/// Borrows the client behind a handle.
///
/// # Safety
/// `client` is NULL or a live handle.
unsafe fn client_ref<'a>(client: *const oauthmail_client) -> Result<&'a Client, Error> {
    // SAFETY: the caller's promise; shared access is fine because Client is Sync.
    unsafe { client.as_ref() }
        .map(|c| &c.client)
        .ok_or_else(|| Error::invalid("client", "client is NULL"))
}

/// Sets the function that opens the authorization URL, instead of the system browser. A NULL
/// `opener` goes back to the system browser. `user_data` is passed back to it unchanged and must
/// stay valid until the client is freed (a call already running may still use a replaced opener).
///
/// Returns `OAUTHMAIL_INVALID_ARGUMENT` when `client` is NULL.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_client_set_url_opener(
    client: *mut oauthmail_client,
    opener: oauthmail_url_opener,
    user_data: *mut c_void,
) -> oauthmail_status {
    guard("oauthmail_client_set_url_opener", std::ptr::null_mut(), || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        let user_data = UserData::new(user_data);
        let opener: Option<Arc<UrlOpener>> = opener.map(|f| {
            Arc::new(move |url: &str| {
                let Ok(url) = CString::new(url) else { return false };
                // SAFETY: the host registered `f` with this `user_data`; `url` lives for the call.
                unsafe { f(user_data.get(), url.as_ptr()) == 0 }
            }) as Arc<UrlOpener>
        });
        client.set_url_opener(opener);
        Ok(None)
    })
}

/// Sets the logger: lines of `level <= max_level` (1 = error .. 5 = trace) go to `logger`.
/// A NULL `logger` or `max_level` 0 turns logging off. `user_data` is passed back unchanged and
/// must stay valid until the client is freed (a call already running may still use a replaced logger).
///
/// Returns `OAUTHMAIL_INVALID_ARGUMENT` when `client` is NULL.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_client_set_logger(
    client: *mut oauthmail_client,
    logger: oauthmail_logger,
    user_data: *mut c_void,
    max_level: u32,
) -> oauthmail_status {
    guard("oauthmail_client_set_logger", std::ptr::null_mut(), || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        let user_data = UserData::new(user_data);
        match (logger, Level::from_u32(max_level)) {
            (Some(f), Some(max)) => {
                let sink: Arc<Sink> = Arc::new(move |level: Level, message: &str| {
                    let Ok(message) = CString::new(message) else { return };
                    // SAFETY: the host registered `f` with this `user_data`; `message` lives for the call.
                    unsafe { f(user_data.get(), level as u32, message.as_ptr()) }
                });
                client.set_logger(Some(sink), max);
            }
            _ => client.set_logger(None, Level::Error),
        }
        Ok(None)
    })
}

/// Sets the upload progress callback of sends (see `oauthmail_progress`). A NULL `progress`
/// removes it. `user_data` is passed back unchanged and must stay valid until the client is freed
/// (a send already running may still use a replaced callback).
///
/// Returns `OAUTHMAIL_INVALID_ARGUMENT` when `client` is NULL.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_client_set_progress(
    client: *mut oauthmail_client,
    progress: oauthmail_progress,
    user_data: *mut c_void,
) -> oauthmail_status {
    guard("oauthmail_client_set_progress", std::ptr::null_mut(), || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        let user_data = UserData::new(user_data);
        let progress: Option<Arc<Progress>> = progress.map(|f| {
            Arc::new(move |done: u64, total: u64| {
                // SAFETY: the host registered `f` with this `user_data`.
                unsafe { f(user_data.get(), done, total) == 0 }
            }) as Arc<Progress>
        });
        client.set_progress(progress);
        Ok(None)
    })
}

/// Authorizes an account interactively: opens the provider's consent page (through the
/// `url_opener`, or the system browser), waits for the redirect on a loopback port, exchanges the
/// code and learns the account's email. Blocks until success, denial, `timeouts.authorize_s`, or
/// `oauthmail_cancel`.
///
/// - `options_json`: may be NULL; `{"login_hint": "...", "open_browser": true}`.
/// - `out_json`: may be NULL; receives the token document on success (it holds secrets: store it
///   protected), the error document on failure. Free it with `oauthmail_string_free`.
///
/// With a token store (`"store"` in the configuration) the new token is also saved there under
/// the account's email, replacing an older entry; later calls can then name it by
/// `{"account": "EMAIL"}`. The document carries `authorized_at` (Unix seconds of the consent).
///
/// A client configured with `service_account_file` needs no authorization: the call fails with
/// `OAUTHMAIL_INVALID_ARGUMENT` (field `config.service_account_file`).
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_authorize(
    client: *mut oauthmail_client,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard("oauthmail_authorize", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        // SAFETY: the caller's promise.
        let options = match unsafe { opt_str_arg(options_json, "options") }? {
            Some(text) => parse_json::<AuthorizeOptions>(text, "options")?,
            None => AuthorizeOptions::default(),
        };
        let token = client.authorize(&options)?;
        Ok(Some(to_value(&token)?))
    })
}

/// Exchanges the refresh token in `token_json` for a fresh access token.
///
/// - `token_json`: required, a token document; with a token store a reference
///   `{"account": "EMAIL"}`: then the stored token is refreshed under the store's lock (once
///   across all processes sharing the store) and written back; or `{"subject": "user@your-domain"}`
///   with a service account, which returns that user's access token (a document without a refresh
///   token).
/// - `out_json`: may be NULL; receives the full new token document on success (the refresh
///   token is kept unless the provider rotated it), the error document on failure.
///
/// `OAUTHMAIL_REAUTHORIZE` means the refresh token is dead: call `oauthmail_authorize` again.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_refresh(
    client: *mut oauthmail_client,
    token_json: *const c_char,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard("oauthmail_refresh", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        // SAFETY: the caller's promise.
        let token = parse_token_ref(unsafe { str_arg(token_json, "token") }?)?;
        let fresh = client.refresh(token.as_ref())?;
        Ok(Some(to_value(&fresh)?))
    })
}

/// Sends one message with the configured transport. Refreshes the access token first when it
/// expires within 60 seconds, and once more if the provider rejects it.
///
/// - `token_json`: required, a token document; with a token store a reference
///   `{"account": "EMAIL"}` (the stored token is used, refreshed under the store's lock when
///   needed and written back); or, with `service_account_file` in the configuration,
///   `{"subject": "user@your-domain"}`: the service account sends as that user of the Workspace
///   domain (its access token is kept in the client until shortly before it expires).
/// - `message_json`: required, a message document (see docs/API.md, "Message document").
/// - `out_json`: may be NULL; receives the send result on success. Its `token` member is present
///   when the call refreshed the token: store it in place of the old one. With a reference it is
///   never present: the store holds the token, or (a subject) there is nothing to keep.
///   Its `warnings` member, present when not empty, lists what the user should know although the
///   message was sent: `[{"code", "message", "hint", "hint_id"}]`, e.g. `from_rewritten` when Gmail
///   replaced a sender that is not a verified "Send mail as" address of the account.
///
/// All or nothing: when a recipient is refused, nothing is sent (`OAUTHMAIL_REJECTED`). The library
/// never sends a message twice: when the connection fails or the call is cancelled after the
/// provider may already have the whole message, the status is `OAUTHMAIL_NETWORK`,
/// `OAUTHMAIL_TIMEOUT` or `OAUTHMAIL_CANCELLED` and the error's message says it may have been
/// delivered; do not resend such a message automatically.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_send(
    client: *mut oauthmail_client,
    token_json: *const c_char,
    message_json: *const c_char,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard("oauthmail_send", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        // SAFETY: the caller's promise.
        let token = parse_token_ref(unsafe { str_arg(token_json, "token") }?)?;
        // SAFETY: the caller's promise.
        let message = parse_json::<MessageDocument>(unsafe { str_arg(message_json, "message") }?, "message")?;
        let result = client.send(token.as_ref(), &message)?;
        Ok(Some(to_value(&result)?))
    })
}

/// A pre-flight check that never sends a message: everything a send needs, step by step.
///
/// - `token_json`: may be NULL; a token document, or a reference as `oauthmail_send` takes it
///   (`{"account": "EMAIL"}` with a token store, `{"subject": "user@your-domain"}` with a service
///   account). Without it the check covers the configuration, the network and the OAuth client;
///   with it also the renewal (a refresh; the store's entry is refreshed under its lock and
///   written back; a subject's is the JWT exchange, a new one each time), the token's age
///   (`token_age`, with a refresh token), the granted scopes and the transport (the Gmail API is
///   enabled for the project; SMTP EHLO and AUTH, then QUIT).
/// - `out_json`: may be NULL; receives the report (also when a step failed), or the error
///   document when the arguments are wrong. Free it with `oauthmail_string_free`.
///
/// The report: `{"ok": bool, "steps": [{"step", "target", "ok", "ms", "detail", "error"?}]}`.
/// Steps, in order, as they apply to the configuration: `config`; `dns`, `tcp` and `tls` for each
/// host (the token endpoint, the Gmail API on 443 or the SMTP server; `tls` names the certificate's
/// issuer and says when the chain does not end at a public root: TLS inspection); `client` (the
/// token endpoint accepts the client ID and secret; not with a service account); with a token
/// `refresh`, `token_age` (when it was authorized, `authorized_at`; for Google, when a
/// Testing-status app would end the grant, with a warning in its last two days), `scopes`, then
/// `gmail_api` or `smtp_ehlo` and `smtp_auth`. The check stops at the first failed step; its
/// `error` is the inner object of the error document a send would have returned (with `hint` and
/// `hint_id`). `detail` is one English line; the report holds no secret, with one exception:
/// with a token document of a provider that replaces the refresh token on every refresh
/// (Microsoft), the check uses the access token while it is valid and spends nothing; when it had
/// to refresh, the report carries `"token"`, the new token document, which replaces the host's
/// (its refresh token is then spent): store it as a send result's `token`.
///
/// Returns `OAUTHMAIL_OK` when every step passed, else the status of the first failed step. Each
/// step is bounded by the configured timeouts; `oauthmail_cancel` ends the check with
/// `OAUTHMAIL_CANCELLED`.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_check(
    client: *mut oauthmail_client,
    token_json: *const c_char,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard_with_status("oauthmail_check", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        // SAFETY: the caller's promise.
        let token = match unsafe { opt_str_arg(token_json, "token") }? {
            Some(text) => Some(parse_token_ref(text)?),
            None => None,
        };
        let report = client.check(token.as_ref().map(TokenArg::as_ref));
        Ok((report.status(), Some(report.to_json())))
    })
}

/// Revokes the grant at the provider (disconnects the account). Revoking a token the provider no
/// longer knows is also success.
///
/// - `token_json`: required, a token document, or with a token store a reference
///   `{"account": "EMAIL"}`: the stored grant is revoked and then the entry is removed.
/// - `out_json`: may be NULL; receives `{"revoked": true}` on success, the error document on failure.
///   A provider without a revocation endpoint (Microsoft) gets
///   `{"revoked": false, "forgotten": true, "hint": "..."}`: the library forgot the token, and
///   the hint says where the user removes the app's access.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_revoke(
    client: *mut oauthmail_client,
    token_json: *const c_char,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard("oauthmail_revoke", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        // SAFETY: the caller's promise.
        let token = parse_token_ref(unsafe { str_arg(token_json, "token") }?)?;
        Ok(Some(match client.revoke(token.as_ref())? {
            crate::token::Revocation::Revoked => json!({ "revoked": true }),
            crate::token::Revocation::Forgotten { hint } => {
                json!({ "revoked": false, "forgotten": true, "hint": hint.text, "hint_id": hint.id })
            }
        }))
    })
}

/// Lists the accounts in the client's token store (`"store"` in the configuration).
///
/// - `out_json`: may be NULL; receives, on success,
///   `{"accounts": [{"account": "office@firma.ro", "provider": "google", "scope": "…",
///   "authorized_at": 1764000000, "expires_at": 1764003600, "refreshed_at": 1764003000}]}`
///   ordered by account (lowercase); a time the store does not know is `null`. It never holds a
///   secret. On failure, the error document.
///
/// `OAUTHMAIL_INVALID_ARGUMENT` (`field: "config.store"`) when the configuration has no store;
/// `OAUTHMAIL_IO` (`field: "config.store.path"`) when the store cannot be read or decrypted: it is
/// then left untouched. A store file that does not exist yet is an empty list.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_store_list(
    client: *mut oauthmail_client,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard("oauthmail_store_list", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        let accounts = client.store_list()?;
        Ok(Some(json!({ "accounts": to_value(&accounts)? })))
    })
}

/// Removes an account from the client's token store. Nothing is revoked at the provider (for
/// that, call `oauthmail_revoke` with `{"account": "EMAIL"}`, which revokes and then removes).
///
/// - `account`: required, the account's email (matched without regard to ASCII case).
/// - `out_json`: may be NULL; receives `{"removed": true}`, or `{"removed": false}` when the store
///   had no such account (success as well), the error document on failure.
///
/// Waits for the store's lock at most `timeouts.connect_s` + `timeouts.io_s` (`OAUTHMAIL_TIMEOUT`)
/// or until `oauthmail_cancel`. Errors as for `oauthmail_store_list`.
///
/// # Safety
/// Pointers are NULL or valid as described above.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_store_remove(
    client: *mut oauthmail_client,
    account: *const c_char,
    out_json: *mut *mut c_char,
) -> oauthmail_status {
    guard("oauthmail_store_remove", out_json, || {
        // SAFETY: the caller's promise.
        let client = unsafe { client_ref(client) }?;
        // SAFETY: the caller's promise.
        let account = unsafe { str_arg(account, "account") }?;
        let removed = client.store_remove(account)?;
        Ok(Some(json!({ "removed": removed })))
    })
}

/// Cancels the calls in flight on `client` (authorize, refresh, send, revoke): they return
/// `OAUTHMAIL_CANCELLED` promptly. Calls started afterwards are unaffected. Safe from any thread,
/// including a signal-free UI thread while another thread is blocked in `oauthmail_authorize`.
/// NULL is a no-op.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_cancel(client: *mut oauthmail_client) {
    guard_void(|| {
        // SAFETY: the caller's promise.
        if let Ok(client) = unsafe { client_ref(client) } {
            client.cancel();
        }
    });
}

/// Releases a string returned by this library through an `out_json` parameter. NULL is a no-op.
/// Never release such a string with the C runtime's `free`, and never release one twice.
///
/// # Safety
/// `s` is NULL or a string from this library not yet released.
#[no_mangle]
pub unsafe extern "C" fn oauthmail_string_free(s: *mut c_char) {
    guard_void(|| {
        // SAFETY: the caller's promise.
        unsafe { free_c_string(s) }
    });
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("could not encode the result: {e}")))
}

/// Test-only: panics inside the panic guard, to prove a panic becomes `OAUTHMAIL_INTERNAL` with an
/// error document and never reaches the host. Compiled only with the `test-hooks` feature (the C
/// harness's build), and kept out of the header.
///
/// cbindgen:ignore
///
/// # Safety
/// `out_json` is NULL or points to a writable `char *`.
#[cfg(feature = "test-hooks")]
#[no_mangle]
pub unsafe extern "C" fn oauthmail_test_panic(out_json: *mut *mut c_char) -> oauthmail_status {
    guard("oauthmail_test_panic", out_json, || -> Result<Option<Value>, Error> {
        panic!("deliberate panic from the test-hooks feature")
    })
}
