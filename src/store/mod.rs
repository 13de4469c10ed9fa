//! The token store: token documents kept by the library in one file, protected at rest
//! ([`protect`]), shared safely by many threads, processes and workstations.
//!
//! What it promises:
//! - **One writer at a time**: every change is a read-modify-write under the store's exclusive
//!   lock ([`lock`]), so two processes never overwrite each other's newer token.
//! - **Single-flight refresh across processes**: [`Store::refresh_locked`] takes the lock, reads
//!   the entry again and lets the caller refresh only if it still holds the stale token; when
//!   another process refreshed meanwhile, its token is used and the token endpoint is not called.
//!   With providers that rotate refresh tokens (Microsoft), this is what keeps a refresh token
//!   from being spent twice.
//! - **Nothing torn**: a write is a whole new file put in place atomically ([`atomic`]); a
//!   process killed at any instant leaves the old store or the new one.
//! - **Nothing clobbered**: a store the library cannot parse, decrypt, or that was written with
//!   another protection or a newer format is never overwritten; the call fails with IO and the
//!   file is left for the administrator.
//!
//! Reads take no lock: a replace is atomic, so a reader sees the old file or the new one.
//!
//! The file (format version 1) is JSON with a plain header:
//! ```json
//! {"format": "liboauthmail token store", "version": 1, "protect": "none",
//!  "accounts": {"office@firma.ro": {"token": {…token document…}, "saved_at": 1764000000,
//!                                   "refreshed_at": 1764003600}}}
//! ```
//! With `user` or `machine` the `accounts` object is replaced by `"sealed": "<base64 DPAPI blob>"`
//! holding `{"accounts": {…}}`; the header stays readable so that a wrong `protect` or a copy on
//! another machine is diagnosed by name, not as "corrupt".

pub mod atomic;
pub mod calls;
pub mod lock;
pub mod protect;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result, Status};
use crate::hint;
use crate::time::now_unix;
use crate::token::TokenDocument;

pub use crate::token::TokenRef;
pub use calls::AccountSummary;
pub use lock::Wait;
pub use protect::Protect;

/// The `format` value of every store file.
pub const FORMAT: &str = "liboauthmail token store";
/// The format version this library writes; it reads this one and older.
pub const VERSION: u64 = 1;

/// One account's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub token: TokenDocument,
    /// Unix seconds of the last write of this entry.
    pub saved_at: i64,
    /// Unix seconds of the last refresh written here (absent until the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<i64>,
}

/// What [`Store::refresh_locked`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// The entry still held the stale token: the caller's refresh ran and its result is stored.
    ByUs(TokenDocument),
    /// Another thread or process had already replaced the stale token: this is its token.
    ByAnother(TokenDocument),
}

impl Refreshed {
    pub fn token(&self) -> &TokenDocument {
        match self {
            Refreshed::ByUs(t) | Refreshed::ByAnother(t) => t,
        }
    }

    pub fn into_token(self) -> TokenDocument {
        match self {
            Refreshed::ByUs(t) | Refreshed::ByAnother(t) => t,
        }
    }
}

/// A token store at `path` with one protection. Cheap to clone; holds no open file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    path: PathBuf,
    protect: Protect,
}

/// The decoded contents: entries keyed by the normalized account name.
type Accounts = BTreeMap<String, Entry>;

#[derive(Default, Serialize, Deserialize)]
struct Sealed {
    accounts: Accounts,
}

impl Store {
    pub fn new(path: impl Into<PathBuf>, protect: Protect) -> Store {
        Store {
            path: path.into(),
            protect,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn protect(&self) -> Protect {
        self.protect
    }

    /// The entry of `account` (matched without regard to ASCII case), if any.
    pub fn load(&self, account: &str) -> Result<Option<Entry>> {
        Ok(self.read()?.remove(&key(account)?))
    }

    /// Every entry, ordered by account.
    pub fn entries(&self) -> Result<Vec<(String, Entry)>> {
        Ok(self.read()?.into_iter().collect())
    }

    /// Saves `token` as `account`'s entry, replacing an older one.
    pub fn save(&self, account: &str, token: &TokenDocument, wait: &Wait) -> Result<()> {
        let account = key(account)?;
        self.update(wait, |accounts| {
            // A saved token (a new authorization) starts a new history: no refresh yet.
            let entry = Entry {
                token: token.clone(),
                saved_at: now_unix(),
                refreshed_at: None,
            };
            accounts.insert(account, entry);
            Ok(((), true))
        })
    }

    /// Removes `account`'s entry; `false` when there was none (the file is then not rewritten).
    pub fn remove(&self, account: &str, wait: &Wait) -> Result<bool> {
        let account = key(account)?;
        self.update(wait, |accounts| {
            let removed = accounts.remove(&account).is_some();
            Ok((removed, removed))
        })
    }

    /// The cross-process single-flight refresh. Under the lock, reads `account`'s entry again; if
    /// it still holds `stale`'s access token, calls `refresh` with the stored token (which carries
    /// the newest refresh token) and stores its result; otherwise returns the stored token, which
    /// another process refreshed meanwhile. `refresh` runs while the lock is held, so that no two
    /// processes ever spend one refresh token; if it fails nothing is written.
    pub fn refresh_locked<F>(&self, account: &str, stale: &TokenDocument, wait: &Wait, refresh: F) -> Result<Refreshed>
    where
        F: FnOnce(&TokenDocument) -> Result<TokenDocument>,
    {
        let name = key(account)?;
        self.update(wait, |accounts| {
            let Some(entry) = accounts.get_mut(&name) else {
                return Err(missing_account(account));
            };
            if entry.token.access_token != stale.access_token {
                return Ok((Refreshed::ByAnother(entry.token.clone()), false));
            }
            let fresh = refresh(&entry.token)?;
            let now = now_unix();
            entry.token = fresh.clone();
            entry.saved_at = now;
            entry.refreshed_at = Some(now);
            Ok((Refreshed::ByUs(fresh), true))
        })
    }

    /// Read-modify-write under the lock. `change` returns its result and whether to write.
    fn update<T>(&self, wait: &Wait, change: impl FnOnce(&mut Accounts) -> Result<(T, bool)>) -> Result<T> {
        let _held = lock::acquire(&self.path, wait)?;
        // Parse before anything else: a store we cannot read must fail here, untouched.
        let mut accounts = self.read()?;
        let (result, write) = change(&mut accounts)?;
        if write {
            atomic::remove_leftovers(&self.path);
            let bytes = self.encode(&accounts)?;
            atomic::replace(&self.path, &bytes).map_err(|e| io_error(&self.path, "write", &e, &hint::STORE_WRITE))?;
        }
        Ok(result)
    }

    fn read(&self) -> Result<Accounts> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Accounts::new()),
            Err(e) => return Err(io_error(&self.path, "read", &e, &hint::STORE_UNREADABLE)),
        };
        self.decode(&bytes)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Accounts> {
        let path = &self.path;
        // An empty file is not a store either: it is what a broken copy or a full disk leaves.
        let doc: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| {
            unreadable(
                path,
                format!("is not valid JSON (line {}, column {})", e.line(), e.column()),
            )
        })?;
        if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(unreadable(
                path,
                format!("is not a token store (its \"format\" is not \"{FORMAT}\")"),
            ));
        }
        match doc.get("version").and_then(Value::as_u64) {
            Some(v) if (1..=VERSION).contains(&v) => {}
            Some(v) if v > VERSION => {
                return Err(unreadable(
                    path,
                    format!(
                        "was written by a newer liboauthmail (store format {v}; this version reads up to {VERSION})"
                    ),
                ))
            }
            _ => return Err(unreadable(path, "has no valid \"version\"".into())),
        }
        let written = doc.get("protect").and_then(Value::as_str).unwrap_or("");
        if written != self.protect.name() {
            return Err(unreadable(
                path,
                format!(
                    "was written with \"protect\": \"{written}\" but config.store.protect is \"{}\"",
                    self.protect.name()
                ),
            ));
        }
        let inner = match self.protect {
            Protect::None => Value::Object(doc),
            Protect::User | Protect::Machine => {
                let sealed = doc
                    .get("sealed")
                    .and_then(Value::as_str)
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                    .ok_or_else(|| unreadable(path, "has no valid \"sealed\" contents".into()))?;
                let plain = self.protect.unseal(&sealed).map_err(|e| {
                    if e.status == Status::InvalidArgument {
                        return e;
                    }
                    unreadable(
                        path,
                        format!(
                            "cannot be decrypted here ({}): DPAPI '{}' blobs open only for the Windows {} that wrote them",
                            e.message,
                            self.protect.name(),
                            if self.protect == Protect::User { "user" } else { "machine" }
                        ),
                    )
                })?;
                serde_json::from_slice(&plain).map_err(|e| {
                    unreadable(
                        path,
                        format!(
                            "holds sealed contents that are not valid JSON (line {}, column {})",
                            e.line(),
                            e.column()
                        ),
                    )
                })?
            }
        };
        let sealed: Sealed = serde_path_to_error::deserialize(&inner).map_err(|e| {
            // Only the path: serde's own message could quote a value, and values here are tokens.
            unreadable(path, format!("has an entry of the wrong shape at '{}'", e.path()))
        })?;
        Ok(sealed.accounts)
    }

    fn encode(&self, accounts: &Accounts) -> Result<Vec<u8>> {
        let failed = |_| Error::internal("the token store could not be encoded");
        let accounts = serde_json::to_value(accounts).map_err(failed)?;
        let mut doc = Map::new();
        doc.insert("format".into(), FORMAT.into());
        doc.insert("version".into(), VERSION.into());
        doc.insert("protect".into(), self.protect.name().into());
        match self.protect {
            Protect::None => {
                doc.insert("accounts".into(), accounts);
            }
            Protect::User | Protect::Machine => {
                let plain = serde_json::to_vec(&serde_json::json!({ "accounts": accounts })).map_err(failed)?;
                let sealed = self.protect.seal(&plain)?;
                let text = base64::engine::general_purpose::STANDARD.encode(sealed);
                doc.insert("sealed".into(), text.into());
            }
        }
        serde_json::to_vec_pretty(&doc).map_err(failed)
    }
}

/// The key of an account: trimmed, ASCII-lowercased (mail addresses are matched that way by
/// Google and Microsoft). An empty name is refused.
fn key(account: &str) -> Result<String> {
    let k = account.trim().to_ascii_lowercase();
    if k.is_empty() {
        return Err(Error::invalid("token.account", "the account name is empty"));
    }
    Ok(k)
}

/// `account` has no entry in the store.
pub(crate) fn missing_account(account: &str) -> Error {
    Error::invalid(
        "token.account",
        format!("the token store has no entry for '{account}': authorize that account with this store first"),
    )
    .with_hint(&hint::STORE_NO_ACCOUNT)
}

/// An I/O failure on a store file. The path is not a secret; the contents never appear.
pub(crate) fn io_error(path: &Path, what: &str, e: &io::Error, hint: &hint::Hint) -> Error {
    Error::new(
        Status::Io,
        format!("could not {what} the token store file {}: {e}", path.display()),
    )
    .with_field("config.store.path")
    .with_hint(hint)
}

/// A store file this library will not read, and therefore never overwrites.
fn unreadable(path: &Path, why: String) -> Error {
    Error::new(
        Status::Io,
        format!("the token store {} {why}; it was left as it is", path.display()),
    )
    .with_field("config.store.path")
    .with_hint(&hint::STORE_UNREADABLE)
}

#[cfg(test)]
mod tests;
