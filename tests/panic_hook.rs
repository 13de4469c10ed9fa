//! A Rust program that links liboauthmail keeps its own panic hook for its own panics: the
//! library's quiet hook (installed by the first exported call) handles only panics inside its
//! guard and passes every other one on. One test in its own binary, since the hook is global.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn the_hosts_panic_hook_still_sees_panics_outside_the_library() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() == Some(&"the host's own panic") {
            s.fetch_add(1, Ordering::SeqCst);
        }
    }));
    // Any exported call installs the library's hook; this one is a no-op on NULL.
    // SAFETY: NULL is allowed.
    unsafe { oauthmail::ffi::oauthmail_string_free(std::ptr::null_mut()) };
    let caught = panic::catch_unwind(|| panic!("the host's own panic"));
    assert!(caught.is_err());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the host's hook did not see its own panic"
    );
    let _ = panic::take_hook();
}
