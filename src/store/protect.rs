//! How the store's contents are protected at rest.
//!
//! - `user`: Windows DPAPI, CurrentUser scope: only the same Windows user (on any machine where
//!   that user's profile and master key are, e.g. a roaming profile) can decrypt.
//! - `machine`: DPAPI, LocalMachine scope: any account on that machine, for services.
//! - `none`: plain JSON, file mode 0600 on Unix; only when asked for by name.
//!
//! DPAPI blobs are made with a fixed entropy ([`ENTROPY`]) so that a blob of this library cannot
//! be opened by another program's plain `CryptUnprotectData` call, and no other program's blob is
//! taken for ours. `CRYPTPROTECT_UI_FORBIDDEN` is always set: a DLL inside a service or a host
//! without a desktop must never pop up a dialog.

use crate::error::{Error, Result};

/// The protection named by `config.store.protect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protect {
    None,
    User,
    Machine,
}

/// Extra entropy for DPAPI: ties every blob to this library and this purpose. Changing it makes
/// every existing store unreadable, so it is part of the store format (version 1).
pub const ENTROPY: &[u8] = b"liboauthmail token store v1";

impl Protect {
    pub fn name(self) -> &'static str {
        match self {
            Protect::None => "none",
            Protect::User => "user",
            Protect::Machine => "machine",
        }
    }

    pub fn from_name(name: &str) -> Option<Protect> {
        match name {
            "none" => Some(Protect::None),
            "user" => Some(Protect::User),
            "machine" => Some(Protect::Machine),
            _ => None,
        }
    }

    /// Whether this platform can provide the protection (DPAPI exists on Windows only).
    pub fn available(self) -> bool {
        self == Protect::None || cfg!(windows)
    }

    /// The default when `config.store.protect` is absent: `user` on Windows; elsewhere none exists
    /// (the field is required).
    pub fn platform_default() -> Option<Protect> {
        if cfg!(windows) {
            Some(Protect::User)
        } else {
            None
        }
    }

    /// Encrypts `plain` (for `none`: returns it unchanged; the caller stores it as JSON).
    pub(crate) fn seal(self, plain: &[u8]) -> Result<Vec<u8>> {
        match self {
            Protect::None => Ok(plain.to_vec()),
            Protect::User | Protect::Machine => dpapi::protect(plain, self == Protect::Machine),
        }
    }

    /// Decrypts what [`Protect::seal`] made.
    pub(crate) fn unseal(self, sealed: &[u8]) -> Result<Vec<u8>> {
        match self {
            Protect::None => Ok(sealed.to_vec()),
            Protect::User | Protect::Machine => dpapi::unprotect(sealed),
        }
    }
}

#[cfg(not(windows))]
mod dpapi {
    use super::*;

    fn unavailable() -> Error {
        Error::invalid(
            "config.store.protect",
            "DPAPI protection ('user', 'machine') exists only on Windows; on this platform use \"protect\": \"none\"",
        )
        .with_hint(&crate::hint::STORE_PROTECT_UNAVAILABLE)
    }

    pub(super) fn protect(_plain: &[u8], _machine: bool) -> Result<Vec<u8>> {
        Err(unavailable())
    }

    pub(super) fn unprotect(_sealed: &[u8]) -> Result<Vec<u8>> {
        Err(unavailable())
    }
}

#[cfg(windows)]
mod dpapi {
    use super::*;
    use crate::error::Status;
    use std::ptr::{null, null_mut};
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Cryptography::{
        CryptProtectData, CryptUnprotectData, CRYPTPROTECT_LOCAL_MACHINE, CRYPTPROTECT_UI_FORBIDDEN, CRYPT_INTEGER_BLOB,
    };

    // The store's unsafe code is these two DPAPI calls and the LocalFree of their output: there is
    // no safe wrapper in windows-sys, and a crate wrapping DPAPI would be one more dependency for
    // twenty lines. DEVELOPERS.md lists them with the other allowed Windows calls.

    fn blob(bytes: &[u8]) -> Result<CRYPT_INTEGER_BLOB> {
        let len = u32::try_from(bytes.len()).map_err(|_| Error::internal("the token store is larger than 4 GiB"))?;
        // DPAPI takes a *mut in the input blob but only reads it.
        Ok(CRYPT_INTEGER_BLOB {
            cbData: len,
            pbData: bytes.as_ptr() as *mut u8,
        })
    }

    /// Copies DPAPI's output and frees it with LocalFree, as the documentation requires.
    fn take(out: CRYPT_INTEGER_BLOB) -> Vec<u8> {
        if out.pbData.is_null() {
            return Vec::new();
        }
        // SAFETY: on success DPAPI set `pbData` to a LocalAlloc'ed buffer of `cbData` bytes that
        // we own; it is read once here and freed right after, never used again.
        let bytes = unsafe { std::slice::from_raw_parts(out.pbData, out.cbData as usize) }.to_vec();
        // SAFETY: `pbData` came from DPAPI's LocalAlloc and is freed exactly once.
        unsafe { LocalFree(out.pbData as _) };
        bytes
    }

    fn os_error(what: &str) -> Error {
        let e = std::io::Error::last_os_error();
        Error::new(Status::Io, format!("{what} failed: {e}"))
    }

    pub(super) fn protect(plain: &[u8], machine: bool) -> Result<Vec<u8>> {
        let input = blob(plain)?;
        let entropy = blob(ENTROPY)?;
        let mut out = CRYPT_INTEGER_BLOB {
            cbData: 0,
            pbData: null_mut(),
        };
        let flags = CRYPTPROTECT_UI_FORBIDDEN | if machine { CRYPTPROTECT_LOCAL_MACHINE } else { 0 };
        // SAFETY: `input` and `entropy` point at live slices of the stated lengths that DPAPI
        // only reads; the description, reserved and prompt pointers may be NULL; `out` is a
        // valid blob DPAPI fills in, and `take` frees it.
        let ok = unsafe { CryptProtectData(&input, null(), &entropy, null(), null(), flags, &mut out) };
        if ok == 0 {
            return Err(os_error("CryptProtectData (DPAPI) for the token store"));
        }
        Ok(take(out))
    }

    pub(super) fn unprotect(sealed: &[u8]) -> Result<Vec<u8>> {
        let input = blob(sealed)?;
        let entropy = blob(ENTROPY)?;
        let mut out = CRYPT_INTEGER_BLOB {
            cbData: 0,
            pbData: null_mut(),
        };
        // SAFETY: as in `protect`; the description out-pointer may be NULL (we do not want it).
        let ok = unsafe {
            CryptUnprotectData(
                &input,
                null_mut(),
                &entropy,
                null(),
                null(),
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut out,
            )
        };
        if ok == 0 {
            return Err(os_error("CryptUnprotectData (DPAPI) for the token store"));
        }
        Ok(take(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(windows))]
    use crate::error::Status;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in [Protect::None, Protect::User, Protect::Machine] {
            assert_eq!(Protect::from_name(p.name()), Some(p));
        }
        assert_eq!(Protect::from_name("User"), None);
        assert_eq!(Protect::from_name(""), None);
    }

    #[test]
    fn none_is_available_everywhere_and_dpapi_only_on_windows() {
        assert!(Protect::None.available());
        assert_eq!(Protect::User.available(), cfg!(windows));
        assert_eq!(Protect::Machine.available(), cfg!(windows));
        assert_eq!(Protect::platform_default().is_some(), cfg!(windows));
        assert_eq!(Protect::None.seal(b"x").unwrap(), b"x");
    }

    #[cfg(not(windows))]
    #[test]
    fn dpapi_off_windows_is_invalid_argument_naming_the_field() {
        let e = Protect::User.seal(b"secret").unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.field.as_deref(), Some("config.store.protect"));
    }

    #[cfg(windows)]
    #[test]
    fn dpapi_round_trips_and_the_blob_hides_the_plain_text() {
        for p in [Protect::User, Protect::Machine] {
            let sealed = p.seal(b"1//refresh-SECRET").unwrap();
            assert!(!sealed.windows(6).any(|w| w == b"SECRET"));
            assert_eq!(p.unseal(&sealed).unwrap(), b"1//refresh-SECRET");
        }
    }
}
