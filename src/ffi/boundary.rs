//! The crossing itself, in one place: the panic guard, strings in and out, JSON in with field
//! paths and the host's `user_data` pointers. Every exported function is built from these
//! pieces; the client handle's `Box` is made, borrowed and freed beside them in [`super`]
//! (`oauthmail_client_new`, `client_ref`, `oauthmail_client_free`), the only other raw pointers.

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::panic;
use crate::error::{Error, Result, Status};
use crate::token::{TokenDocument, TokenRef};

/// Runs `body` inside the panic guard and reports its outcome through `out_json`: the result
/// document on success (if `body` gave one; `None` leaves `*out_json` NULL), the error document
/// on failure. Returns the status code.
pub(super) fn guard(
    function: &'static str,
    out_json: *mut *mut c_char,
    body: impl FnOnce() -> Result<Option<Value>>,
) -> u32 {
    guard_with_status(function, out_json, || body().map(|doc| (Status::Ok, doc)))
}

/// Like [`guard`] for a function whose result document comes with its own status
/// (`oauthmail_check`: the report, and the status of its first failed step).
pub(super) fn guard_with_status(
    function: &'static str,
    out_json: *mut *mut c_char,
    body: impl FnOnce() -> Result<(Status, Option<Value>)>,
) -> u32 {
    // SAFETY: the caller passes either NULL or a pointer to a writable `char *` (API contract).
    unsafe { set_out(out_json, std::ptr::null_mut()) };
    panic::install_quiet_hook();
    let outcome = {
        let _inside = panic::Guarded::enter();
        catch_unwind(AssertUnwindSafe(body))
    }
    .unwrap_or_else(|payload| Err(panic::to_error(function, payload)));
    let (status, document) = match outcome {
        Ok((status, doc)) => (status, doc),
        Err(e) => (e.status, Some(e.to_document())),
    };
    // With `out_json` NULL the document is dropped here, never turned into a C string that no
    // one could free (AddressSanitizer in the C harness caught that leak).
    if let (Some(doc), false) = (document, out_json.is_null()) {
        // SAFETY: as above.
        unsafe { set_out(out_json, into_c_string(doc.to_string())) };
    }
    status.code()
}

/// Like [`guard`] for functions with no status to return (`_free`, `cancel`): a panic is dropped.
pub(super) fn guard_void(body: impl FnOnce()) {
    panic::install_quiet_hook();
    let _inside = panic::Guarded::enter();
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// # Safety
/// `out` is NULL or points to a writable `char *`.
unsafe fn set_out(out: *mut *mut c_char, value: *mut c_char) {
    if !out.is_null() {
        // SAFETY: checked non-NULL; writability is the caller's promise.
        unsafe { *out = value };
    }
}

/// Hands a string to C; it is released by `oauthmail_string_free`. JSON text has no NUL, but a
/// NUL would only truncate, never fail.
pub(super) fn into_c_string(text: String) -> *mut c_char {
    let text = match CString::new(text) {
        Ok(c) => c,
        Err(e) => {
            let mut bytes = e.into_vec();
            bytes.retain(|b| *b != 0);
            CString::new(bytes).unwrap_or_default()
        }
    };
    text.into_raw()
}

/// Takes back a string made by [`into_c_string`].
///
/// # Safety
/// `s` is NULL or came from [`into_c_string`] and was not freed before.
pub(super) unsafe fn free_c_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: per the contract above, `s` is a `CString::into_raw` pointer we own again.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Borrows a required string argument. NULL and invalid UTF-8 are INVALID_ARGUMENT naming `field`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that stays valid for `'a`.
pub(super) unsafe fn str_arg<'a>(p: *const c_char, field: &str) -> Result<&'a str> {
    // SAFETY: the caller's promise.
    unsafe { opt_str_arg(p, field) }?.ok_or_else(|| Error::invalid(field, format!("{field} is NULL")))
}

/// Borrows an optional string argument; NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(super) unsafe fn opt_str_arg<'a>(p: *const c_char, field: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's promise.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map(Some).map_err(|e| {
        Error::invalid(
            field,
            format!("{field} is not valid UTF-8 (bad byte at offset {})", e.valid_up_to()),
        )
    })
}

/// Parses a JSON document into `T`. Errors are INVALID_ARGUMENT with the field path from `root`
/// (`message.to[1]`, `config.endpoints.tokn`).
pub(super) fn parse_json<T: DeserializeOwned>(text: &str, root: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: std::result::Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = field_path(root, &path);
        let what = if inner.is_syntax() || inner.is_eof() {
            "is not valid JSON"
        } else {
            "is invalid"
        };
        Error::invalid(field.clone(), format!("{field} {what}: {inner}"))
    })?;
    de.end().map_err(|e| {
        Error::invalid(
            root,
            format!("{root} has trailing characters after the JSON document: {e}"),
        )
    })?;
    Ok(value)
}

/// `token_json` as given: a token document, or a reference: `{"account": "…"}` (an entry of the
/// token store) or `{"subject": "…"}` (a user the service account acts as), an object with that one
/// member and no `provider`.
pub(super) enum TokenArg {
    Document(TokenDocument),
    Account(String),
    Subject(String),
}

impl TokenArg {
    pub(super) fn as_ref(&self) -> TokenRef<'_> {
        match self {
            TokenArg::Document(d) => TokenRef::Document(d),
            TokenArg::Account(a) => TokenRef::Account(a),
            TokenArg::Subject(s) => TokenRef::Subject(s),
        }
    }
}

pub(super) fn parse_token_ref(text: &str) -> Result<TokenArg> {
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
        let kind = ["account", "subject"].into_iter().find(|k| m.contains_key(*k));
        if let (Some(kind), false) = (kind, m.contains_key("provider")) {
            if let Some(extra) = m.keys().find(|k| k.as_str() != kind) {
                return Err(Error::invalid(
                    format!("token.{extra}"),
                    format!("a {{\"{kind}\": …}} token reference has no other fields (found \"{extra}\")"),
                ));
            }
            let Value::String(name) = &m[kind] else {
                return Err(Error::invalid(
                    format!("token.{kind}"),
                    format!("token.{kind} must be a string"),
                ));
            };
            let name = name.trim().to_string();
            return Ok(match kind {
                "account" => TokenArg::Account(name),
                _ => TokenArg::Subject(name),
            });
        }
    }
    parse_json::<TokenDocument>(text, "token").map(TokenArg::Document)
}

/// Joins the document root and serde's path (which, for an unknown field, ends with its name).
fn field_path(root: &str, path: &str) -> String {
    // serde_path_to_error writes "?" for a position it could not name (a syntax error at the root).
    let path = path.trim_end_matches(".?").trim_end_matches('?');
    match path {
        "." | "" => root.to_string(),
        p if p.starts_with('[') => format!("{root}{p}"),
        p => format!("{root}.{p}"),
    }
}

/// A host pointer the host promised to keep valid; we only ever hand it back to the host's own
/// callbacks.
#[derive(Clone, Copy)]
pub(super) struct UserData(*mut c_void);

// SAFETY: the pointer is opaque to us and only passed back to the host, whose contract (API.md:
// callbacks may be called from another thread) makes it responsible for thread safety.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    pub(super) fn new(p: *mut c_void) -> Self {
        UserData(p)
    }

    /// The pointer; a method (not field access) so closures capture the whole `Send` wrapper.
    pub(super) fn get(self) -> *mut c_void {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        to: Vec<String>,
        #[serde(default)]
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        token: Option<String>,
    }

    #[test]
    fn json_errors_name_the_field_from_the_root() {
        let e = parse_json::<Doc>(r#"{"to": ["a", 5]}"#, "message").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("message.to[1]"));
        let e = parse_json::<Doc>(r#"{"to": [], "bc": 1}"#, "message").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("message.bc"));
        let e = parse_json::<Doc>(r#"{"to": [], "inner": {"tokn": "x"}}"#, "config").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.inner.tokn"));
        let e = parse_json::<Doc>(r#"{"to": [}"#, "message").unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = parse_json::<Doc>("not json", "config").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config"));
        let e = parse_json::<Doc>(r#"{"to": []} x"#, "message").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("message"));
    }

    #[test]
    fn strings_with_interior_nul_are_truncated_not_lost() {
        let p = into_c_string("a\0b".into());
        // SAFETY: `p` came from into_c_string just above.
        let back = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        // SAFETY: freed once.
        unsafe { free_c_string(p) };
        assert_eq!(back, "ab");
    }
}
