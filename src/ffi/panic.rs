//! Panics never reach the host: each exported body runs in `catch_unwind`, and a panic becomes
//! OAUTHMAIL_INTERNAL. The default hook would print to stderr, which the API promises never to
//! do, so a quiet hook keeps the panic's text for the error document instead.
//!
//! The hook is the whole process's (per copy of std: a Windows DLL has its own). A Rust program
//! that links the rlib or staticlib keeps its own panic output: the quiet hook handles only
//! panics on a thread that is inside the guard ([`Guarded`]) and hands every other panic to the
//! hook that was installed before it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::PanicHookInfo;
use std::sync::Once;

use crate::error::Error;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether this thread is inside an exported function's body right now.
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Installs, once, a hook that records the message and location of a panic inside the guard
/// instead of printing them, and passes any other panic to the previous hook.
pub(super) fn install_quiet_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if IN_GUARD.with(Cell::get) {
                record(info);
            } else {
                previous(info);
            }
        }));
    });
}

fn record(info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let text = payload_text(info.payload());
    LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{text}{location}")));
}

/// Marks this thread as inside the guard until dropped (also when the body unwinds).
pub(super) struct Guarded {
    was: bool,
}

impl Guarded {
    pub(super) fn enter() -> Guarded {
        Guarded {
            was: IN_GUARD.with(|g| g.replace(true)),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        IN_GUARD.with(|g| g.set(self.was));
    }
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
