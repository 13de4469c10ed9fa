//! The C API crossing: `oauthmail_client_new`/`_free`, a send that fails validation (the pure
//! boundary + JSON cost), `oauthmail_status_name`. Called through the exported `extern "C"`
//! functions exactly as a host calls them. No network.
//!
//! Run: `cargo bench --bench c_api` (or `scripts/bench.sh`).

mod support;

use std::ffi::{c_char, CStr, CString};
use std::hint::black_box;
use std::ptr;

use oauthmail::ffi::{
    oauthmail_client, oauthmail_client_free, oauthmail_client_new, oauthmail_send, oauthmail_status_name,
    oauthmail_string_free,
};
use serde_json::json;
use support::*;

/// What a host such as the ERP passes: Google, its Desktop client, SMTP, timeouts, the page language.
fn typical_config() -> serde_json::Value {
    json!({
        "provider": "google",
        "client_id": "1072429875-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com",
        "client_secret": "GOCSPX-bench-not-a-real-secret-000",
        "transport": "smtp",
        "timeouts": {"authorize_s": 300, "connect_s": 15, "io_s": 60},
        "ui_language": "ro"
    })
}

fn cstring(v: &serde_json::Value) -> CString {
    CString::new(v.to_string()).expect("no NUL in JSON")
}

/// `oauthmail_client_new` + `oauthmail_client_free`; panics unless the status is `expect`.
fn new_and_free(config: &CStr) {
    let mut client: *mut oauthmail_client = ptr::null_mut();
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: `config` is a NUL-terminated string that outlives the call; both out pointers are
    // valid, writable locals.
    let status = unsafe { oauthmail_client_new(config.as_ptr(), &mut client, &mut out) };
    assert_eq!(status, 0, "oauthmail_client_new failed");
    // SAFETY: the handle just created, freed once; `out` is NULL on success (freeing NULL is a no-op).
    unsafe {
        oauthmail_client_free(client);
        oauthmail_string_free(out);
    }
}

/// One `oauthmail_send` that must fail before any network use; frees the error document.
fn send_expecting(client: *mut oauthmail_client, token: &CStr, message: &CStr, expect: u32) {
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: a live client handle, NUL-terminated strings that outlive the call, a writable out pointer.
    let status = unsafe { oauthmail_send(client, token.as_ptr(), message.as_ptr(), &mut out) };
    assert_eq!(status, expect, "unexpected status from oauthmail_send");
    assert!(!out.is_null(), "an error document");
    // SAFETY: `out` was allocated by the library and is freed once, with its function.
    unsafe { oauthmail_string_free(out) };
}

fn main() {
    let scratch = Scratch::new("c-api");
    let (pdf, logo) = invoice_files(&scratch);
    // A CA file such as a company with TLS inspection hands out (the stand-in's, generated at start).
    let standin = oauthmail_standin::Standin::start(oauthmail_standin::Options::default()).expect("stand-in");

    section("The C API crossing (no network)");

    let typical = cstring(&typical_config());
    let mut with_ca = typical_config();
    with_ca["tls"] = json!({"extra_ca_file": standin.info().ca_file});
    let with_ca = cstring(&with_ca);

    let mut client: *mut oauthmail_client = ptr::null_mut();
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: as in `new_and_free`; this handle lives until the end of main.
    let status = unsafe { oauthmail_client_new(typical.as_ptr(), &mut client, &mut out) };
    assert_eq!(status, 0);

    let token = cstring(&json!({
        "provider": "google",
        "email": "erp.test@gmail.com",
        "scope": "openid email https://mail.google.com/",
        "token_type": "Bearer",
        "access_token": "ya29.bench-not-a-real-token",
        "expires_at": 4_102_444_800i64,
        "refresh_token": "1//0g-bench-not-a-real-refresh-token"
    }));
    let mut bad_recipient = invoice_json(&pdf, &logo);
    bad_recipient["to"] = json!(["Ion Popescu <ion.popescu@@example.ro>"]);
    let bad_recipient = cstring(&bad_recipient);
    let mut bad_json = invoice_json(&pdf, &logo).to_string();
    bad_json.truncate(bad_json.len() / 2);
    let bad_json = CString::new(bad_json).unwrap();
    let mut unknown_field = invoice_json(&pdf, &logo);
    unknown_field["atachments"] = json!([]);
    let unknown_field = cstring(&unknown_field);

    let mut t = Table::new(
        "Time and allocations per call (median of runs, min–max)",
        &["call", "time per call", "calls/s", "allocations", "bytes allocated"],
    );
    let mut row = |name: &str, timing: Timing, a: AllocStats| {
        t.row(&[
            name.into(),
            spread(&timing),
            timing.rate(),
            a.allocs.to_string(),
            bytes(a.bytes),
        ]);
    };

    let f = || {
        for s in 0..16u32 {
            // SAFETY: takes any number and returns a static string.
            black_box(
                unsafe { CStr::from_ptr(oauthmail_status_name(black_box(s))) }
                    .to_bytes()
                    .len(),
            );
        }
    };
    let timing = time_it(1000, 15, 20_000, f);
    row("`oauthmail_status_name` (+ strlen)", timing.per(16), allocs_of(f));

    let f = || new_and_free(&typical);
    row(
        "`oauthmail_client_new` + `_free`, typical config (Google, SMTP, timeouts, ro)",
        time_it(5, 15, 20, f),
        allocs_of(f),
    );
    let f = || new_and_free(&with_ca);
    row(
        "`oauthmail_client_new` + `_free`, + `tls.extra_ca_file` (one PEM)",
        time_it(5, 15, 20, f),
        allocs_of(f),
    );

    let f = || send_expecting(client, &token, &bad_recipient, 1);
    row(
        "`oauthmail_send`, invoice document with an invalid `to` (parse token + message, error document)",
        time_it(50, 15, 500, f),
        allocs_of(f),
    );
    let f = || send_expecting(client, &token, &unknown_field, 1);
    row(
        "`oauthmail_send`, invoice document with a misspelt field (refused by serde)",
        time_it(50, 15, 500, f),
        allocs_of(f),
    );
    let f = || send_expecting(client, &token, &bad_json, 1);
    row(
        "`oauthmail_send`, truncated JSON",
        time_it(50, 15, 500, f),
        allocs_of(f),
    );
    t.print();

    // SAFETY: the handle created above, freed once, no call in flight.
    unsafe { oauthmail_client_free(client) };
    drop(standin);
}
