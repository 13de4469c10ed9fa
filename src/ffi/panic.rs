//! Panics never reach the host: each exported body runs in `catch_unwind`, and a panic becomes
//! OAUTHMAIL_INTERNAL. The default hook would print to stderr, which the API promises never to
//! do, so a quiet hook keeps the panic's text for the error document instead.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Once;

use crate::error::Error;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Replaces the process's panic hook for this library's copy of std (the DLL's own, on Windows)
/// with one that records the message and location instead of printing them.
pub(super) fn install_quiet_hook() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let text = payload_text(info.payload());
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{text}{location}")));
        }));
    });
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// The INTERNAL error for a caught panic. Secrets are `Secret`s, whose formatting is redacted, so
/// the panic text cannot carry one.
pub(super) fn to_error(function: &str, payload: Box<dyn Any + Send>) -> Error {
    let text = LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| payload_text(payload.as_ref()));
    Error::internal(format!("internal error in {function}: {text}"))
}
