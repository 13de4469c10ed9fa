//! Entry points for the fuzz targets in `fuzz/` that need the core's internals; compiled only
//! with the `fuzzing` feature, never part of the C API or the header (cbindgen reads src/ffi alone).
//!
//! Most targets fuzz through the C API (`fuzz/src/lib.rs`); the few here reach parsers the C API
//! reaches only through a network round trip, so the fuzzer can hit them directly at full speed.
//! Each is one call into the parser: when a parser moves, re-point the call, keep the signature.

use crate::http::Response;
use crate::secret::Secret;
use crate::Status;

/// The Gmail API's error mapping (`transport::gmail_api::map_error`) for an answer the server
/// might send: any status, headers and body. Returns the status and `retry_after_s`.
pub fn gmail_error(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> (Status, Option<u64>) {
    let e = crate::transport::gmail_api::map_error(&Response { status, headers, body });
    (e.status, e.retry_after_s)
}

/// Retry-After as the transports read it (seconds, an HTTP date, or Google's "Retry after
/// <RFC 3339>" in the message), at the fixed instant `now`.
pub fn retry_after(header: Option<&str>, message: &str, now: i64) -> Option<u64> {
    crate::time::retry_after_s(header, message, now)
}

/// The account email read from an id_token the token endpoint returned.
pub fn id_token_email(id_token: &str) -> Option<String> {
    crate::token::email_from_id_token(&Secret::new(id_token))
}
