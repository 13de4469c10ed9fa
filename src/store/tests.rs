//! The store's logic on one machine, with `protect: none` (DPAPI is tested under Wine).

use super::*;
use crate::provider::ProviderKind;
use crate::secret::Secret;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn folder(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oauthmail-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn store(name: &str) -> Store {
    Store::new(folder(name).join("tokens.json"), Protect::None)
}

fn no_cancel() -> Result<()> {
    Ok(())
}

fn wait() -> Wait<'static> {
    Wait::new(Duration::from_secs(10), &no_cancel)
}

fn token(access: &str, refresh: &str) -> TokenDocument {
    TokenDocument {
        provider: ProviderKind::Google,
        email: Some("office@firma.ro".into()),
        scope: "https://mail.google.com/".into(),
        token_type: "Bearer".into(),
        access_token: Some(Secret::new(access)),
        expires_at: Some(1_900_000_000),
        refresh_token: Some(Secret::new(refresh)),
        authorized_at: Some(1_764_000_000),
    }
}

fn access(t: &TokenDocument) -> &str {
    t.access_token.as_ref().unwrap().expose()
}

#[test]
fn a_store_that_does_not_exist_yet_is_empty() {
    let s = store("empty");
    assert_eq!(s.load("office@firma.ro").unwrap(), None);
    assert!(s.entries().unwrap().is_empty());
    assert!(!s.remove("office@firma.ro", &wait()).unwrap());
    assert!(!s.path().exists(), "removing from an empty store must not create it");
}

#[test]
fn a_saved_token_loads_back_by_account_in_any_case() {
    let s = store("save");
    s.save("Office@Firma.ro", &token("ya29.A", "1//R"), &wait()).unwrap();
    let e = s.load("office@firma.RO").unwrap().unwrap();
    assert_eq!(e.token, token("ya29.A", "1//R"));
    assert_eq!(e.refreshed_at, None);
    assert!(e.saved_at > 1_700_000_000);
    let doc: Value = serde_json::from_slice(&std::fs::read(s.path()).unwrap()).unwrap();
    assert_eq!(doc["format"], FORMAT);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["protect"], "none");
    assert_eq!(doc["accounts"]["office@firma.ro"]["token"]["refresh_token"], "1//R");
    let names: Vec<_> = s.entries().unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["office@firma.ro"]);
}

#[test]
fn saving_again_replaces_the_entry_and_keeps_the_others() {
    let s = store("replace");
    s.save("a@firma.ro", &token("A1", "RA"), &wait()).unwrap();
    s.save("b@firma.ro", &token("B1", "RB"), &wait()).unwrap();
    s.save("a@firma.ro", &token("A2", "RA2"), &wait()).unwrap();
    assert_eq!(access(&s.load("a@firma.ro").unwrap().unwrap().token), "A2");
    assert_eq!(access(&s.load("b@firma.ro").unwrap().unwrap().token), "B1");
    assert_eq!(s.entries().unwrap().len(), 2);
}

#[test]
fn remove_deletes_one_entry_and_reports_whether_it_was_there() {
    let s = store("remove");
    s.save("a@firma.ro", &token("A1", "RA"), &wait()).unwrap();
    s.save("b@firma.ro", &token("B1", "RB"), &wait()).unwrap();
    assert!(s.remove("A@firma.ro", &wait()).unwrap());
    let before = std::fs::read(s.path()).unwrap();
    assert!(!s.remove("a@firma.ro", &wait()).unwrap());
    assert_eq!(
        std::fs::read(s.path()).unwrap(),
        before,
        "nothing removed, nothing written"
    );
    assert_eq!(s.load("a@firma.ro").unwrap(), None);
    assert!(s.load("b@firma.ro").unwrap().is_some());
}

#[test]
fn an_empty_account_name_is_invalid_argument() {
    let s = store("emptyname");
    let e = s.save("  ", &token("A", "R"), &wait()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("token.account"));
}

#[test]
fn refresh_under_lock_refreshes_a_stale_entry_once_and_stores_the_result() {
    let s = store("refresh");
    s.save("office@firma.ro", &token("old", "R1"), &wait()).unwrap();
    let stale = s.load("office@firma.ro").unwrap().unwrap().token;
    let calls = AtomicUsize::new(0);
    let got = s
        .refresh_locked("office@firma.ro", &stale, &wait(), |stored| {
            calls.fetch_add(1, Ordering::SeqCst);
            // The refresh sees the stored token (with the newest refresh token).
            assert_eq!(stored.refresh_token.as_ref().unwrap().expose(), "R1");
            Ok(token("new", "R2"))
        })
        .unwrap();
    assert_eq!(got, Refreshed::ByUs(token("new", "R2")));
    let entry = s.load("office@firma.ro").unwrap().unwrap();
    assert_eq!(entry.token, token("new", "R2"));
    assert!(entry.refreshed_at.is_some());

    // A second caller that still holds the old token gets the new one; no refresh runs.
    let again = s
        .refresh_locked("office@firma.ro", &stale, &wait(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(token("newer", "R3"))
        })
        .unwrap();
    assert_eq!(again, Refreshed::ByAnother(token("new", "R2")));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_failed_refresh_writes_nothing() {
    let s = store("refreshfail");
    s.save("office@firma.ro", &token("old", "R1"), &wait()).unwrap();
    let before = std::fs::read(s.path()).unwrap();
    let e = s
        .refresh_locked("office@firma.ro", &token("old", "R1"), &wait(), |_| {
            Err(Error::new(Status::Reauthorize, "invalid_grant"))
        })
        .unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(std::fs::read(s.path()).unwrap(), before);
}

#[test]
fn refreshing_an_account_that_is_not_there_is_invalid_argument_on_token_account() {
    let s = store("refreshmissing");
    s.save("a@firma.ro", &token("A", "R"), &wait()).unwrap();
    let e = s
        .refresh_locked("b@firma.ro", &token("A", "R"), &wait(), |_| panic!("must not refresh"))
        .unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("token.account"));
    assert!(e.message.contains("b@firma.ro"), "{}", e.message);
    assert_eq!(e.hint, crate::hint::STORE_NO_ACCOUNT.text);
}

#[test]
fn many_threads_refresh_each_generation_exactly_once() {
    let s = store("threads");
    s.save("office@firma.ro", &token("gen-0", "rt-0"), &wait()).unwrap();
    let calls = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let seen = s.load("office@firma.ro").unwrap().unwrap().token;
                    s.refresh_locked("office@firma.ro", &seen, &wait(), |stored| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let n: u32 = access(stored)[4..].parse().unwrap();
                        // Rotating refresh tokens: the stored one is always the live one.
                        assert_eq!(stored.refresh_token.as_ref().unwrap().expose(), format!("rt-{n}"));
                        Ok(token(&format!("gen-{}", n + 1), &format!("rt-{}", n + 1)))
                    })
                    .unwrap();
                }
            });
        }
    });
    let last = s.load("office@firma.ro").unwrap().unwrap().token;
    let n: usize = access(&last)[4..].parse().unwrap();
    // Every refresh moved the generation by exactly one: none was lost, none ran on a stale token.
    assert_eq!(n, calls.load(Ordering::SeqCst));
    assert!(n >= 20, "at least one thread's worth of refreshes: {n}");
}

/// The store file is `bytes`; every call must fail with IO and leave it exactly as it is.
fn assert_refused_and_untouched(name: &str, bytes: &[u8], protect: Protect, says: &str) {
    let s = Store::new(folder(name).join("tokens.json"), protect);
    std::fs::write(s.path(), bytes).unwrap();
    let load = s.load("office@firma.ro").unwrap_err();
    let list = s.entries().unwrap_err();
    let save = s.save("office@firma.ro", &token("A", "R"), &wait()).unwrap_err();
    let remove = s.remove("office@firma.ro", &wait()).unwrap_err();
    let refresh = s
        .refresh_locked("office@firma.ro", &token("A", "R"), &wait(), |_| {
            panic!("must not refresh")
        })
        .unwrap_err();
    for e in [&load, &list, &save, &remove, &refresh] {
        assert_eq!(e.status, Status::Io, "{name}: {e}");
        assert_eq!(e.field.as_deref(), Some("config.store.path"), "{name}");
        assert!(e.message.contains(says), "{name}: {}", e.message);
        assert!(e.message.contains("left as it is"), "{name}: {}", e.message);
        assert_eq!(e.hint, crate::hint::STORE_UNREADABLE.text, "{name}");
        assert!(!e.message.contains("SECRET"), "{name}: {}", e.message);
    }
    assert_eq!(std::fs::read(s.path()).unwrap(), bytes, "{name}: the file was changed");
}

#[test]
fn a_store_that_cannot_be_read_is_io_and_never_overwritten() {
    let n = Protect::None;
    assert_refused_and_untouched("garbage", b"\x00\x01not json", n, "is not valid JSON (line 1");
    assert_refused_and_untouched("emptyfile", b"", n, "is not valid JSON");
    assert_refused_and_untouched(
        "torn",
        br#"{"format": "liboauthmail token store", "version": 1, "protect": "none", "accounts": {"a": {"tok"#,
        n,
        "is not valid JSON",
    );
    assert_refused_and_untouched("notastore", br#"{"accounts": {}}"#, n, "is not a token store");
    assert_refused_and_untouched(
        "newer",
        br#"{"format": "liboauthmail token store", "version": 2, "protect": "none", "accounts": {}}"#,
        n,
        "was written by a newer liboauthmail (store format 2",
    );
    assert_refused_and_untouched(
        "noversion",
        br#"{"format": "liboauthmail token store", "protect": "none", "accounts": {}}"#,
        n,
        "has no valid \"version\"",
    );
    assert_refused_and_untouched(
        "sealedcopy",
        br#"{"format": "liboauthmail token store", "version": 1, "protect": "user", "sealed": "AAAA"}"#,
        n,
        "was written with \"protect\": \"user\" but config.store.protect is \"none\"",
    );
    assert_refused_and_untouched(
        "shape",
        br#"{"format": "liboauthmail token store", "version": 1, "protect": "none",
             "accounts": {"a@b.c": {"token": {"provider": "google", "expires_at": "ya29.SECRET"}, "saved_at": 1}}}"#,
        n,
        "has an entry of the wrong shape at 'accounts.a@b.c.token.expires_at'",
    );
}

#[test]
fn unknown_fields_from_a_newer_library_are_ignored() {
    let s = store("forward");
    std::fs::write(
        s.path(),
        br#"{"format": "liboauthmail token store", "version": 1, "protect": "none", "written_by": "0.9",
             "accounts": {"a@b.c": {"token": {"provider": "google", "refresh_token": "R", "future": 1},
                                    "saved_at": 5, "note": "x"}}}"#,
    )
    .unwrap();
    let e = s.load("a@b.c").unwrap().unwrap();
    assert_eq!(e.saved_at, 5);
    assert_eq!(e.token.refresh_token.unwrap().expose(), "R");
}

#[cfg(not(windows))]
#[test]
fn dpapi_protection_off_windows_is_refused_before_anything_is_written() {
    let s = Store::new(folder("dpapi").join("tokens.json"), Protect::User);
    let e = s.save("a@b.c", &token("A", "R"), &wait()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("config.store.protect"));
    assert_eq!(e.hint, crate::hint::STORE_PROTECT_UNAVAILABLE.text);
    assert!(!s.path().exists());
}

#[test]
fn a_write_removes_what_a_killed_writer_left_behind() {
    let s = store("leftover");
    let stray = s.path().with_file_name(".tokens.json.99999-0-0.tmp");
    std::fs::write(&stray, b"{\"torn").unwrap();
    s.save("a@b.c", &token("A", "R"), &wait()).unwrap();
    assert!(!stray.exists());
    assert!(atomic::leftovers(s.path()).is_empty());
}

#[test]
fn a_missing_folder_is_io_naming_the_path_and_is_not_created() {
    let d = folder("nofolder");
    let s = Store::new(d.join("absent").join("tokens.json"), Protect::None);
    let e = s.save("a@b.c", &token("A", "R"), &wait()).unwrap_err();
    assert_eq!(e.status, Status::Io);
    assert_eq!(e.field.as_deref(), Some("config.store.path"));
    assert_eq!(e.hint, crate::hint::STORE_WRITE.text);
    assert!(!d.join("absent").exists());
}
