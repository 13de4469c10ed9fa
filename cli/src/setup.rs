//! Where the tool's inputs come from: the configuration document, Google's client file, the token
//! document (read, and written with owner-only permissions), and the default paths.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use oauthmail::token::TokenDocument;
use oauthmail::{Config, Status};
use serde_json::{json, Value};

use crate::text::Lang;
use crate::Failure;

/// What every command needs to build its client.
pub struct Sources<'a> {
    pub config: Option<&'a Path>,
    pub client: Option<&'a Path>,
    pub transport: Option<&'a str>,
    pub service_account: Option<&'a Path>,
    pub store: Option<&'a Path>,
    pub protect: Option<&'a str>,
    pub lang: Lang,
}

/// The configuration document: `--config` (the library's `config_json`), then `--client`
/// (Google's downloaded file, as `client_secrets_file`), then `--transport`; `ui_language` follows the tool's language
/// unless the document sets it.
pub fn config(src: &Sources) -> Result<Config, Failure> {
    let lang = src.lang;
    let mut doc = match src.config {
        Some(path) => read_json(path, "configuration", lang)?,
        None => json!({}),
    };
    let Value::Object(map) = &mut doc else {
        return Err(Failure::invalid(lang.not_json(
            "configuration",
            display(src.config),
            "not a JSON object",
        )));
    };
    map.entry("provider").or_insert_with(|| json!("google"));
    map.entry("ui_language").or_insert_with(|| json!(lang.code()));
    if let Some(path) = src.client {
        // The library reads Google's file (installed client; a web client is refused).
        map.insert("client_secrets_file".into(), json!(path.to_string_lossy()));
    }
    if let Some(t) = src.transport {
        map.insert("transport".into(), json!(t));
    }
    if let Some(path) = src.service_account {
        map.insert("service_account_file".into(), json!(path.to_string_lossy()));
    }
    if let Some(path) = src.store {
        let mut store = json!({"path": path.to_string_lossy()});
        if let Some(p) = src.protect {
            store["protect"] = json!(p);
        }
        map.insert("store".into(), store);
    }
    if !map.contains_key("client_id")
        && !map.contains_key("client_secrets_file")
        && !map.contains_key("service_account_file")
    {
        return Err(Failure::invalid(lang.no_client()).hint(lang.no_client_hint()));
    }
    serde_json::from_value(doc).map_err(|e| Failure::invalid(lang.not_json("configuration", display(src.config), e)))
}

fn display(p: Option<&Path>) -> String {
    p.map(|p| p.display().to_string()).unwrap_or_default()
}

fn read_json(path: &Path, what: &str, lang: Lang) -> Result<Value, Failure> {
    let bytes = fs::read(path)
        .map_err(|e| Failure::new(Status::Io, lang.cannot_read(what, path.display(), e)).hint(lang.file_hint()))?;
    serde_json::from_slice(&bytes).map_err(|e| Failure::invalid(lang.not_json(what, path.display(), e)))
}

/// The token document at `path`.
pub fn read_token(path: &Path, lang: Lang) -> Result<TokenDocument, Failure> {
    if !path.exists() {
        return Err(Failure::new(
            Status::Io,
            lang.cannot_read("token document", path.display(), "not found"),
        )
        .hint(lang.no_token_hint()));
    }
    let v = read_json(path, "token document", lang)?;
    serde_json::from_value(v).map_err(|e| Failure::invalid(lang.not_json("token document", path.display(), e)))
}

/// Writes the token document to `path` through a temporary file in the same directory and a
/// rename, so a crash never leaves half a document. On Unix the file (and a directory this
/// creates) is readable by its owner only (0600 / 0700).
pub fn write_token(path: &Path, token: &TokenDocument, lang: Lang) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(Status::Io, lang.cannot_write(path.display(), e)).hint(lang.file_hint());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        create_private_dir(&dir).map_err(io)?;
    }
    let json = serde_json::to_vec_pretty(token).map_err(|e| Failure::new(Status::Internal, e.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = private_file(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

/// `%APPDATA%\oauthmail\token.json` on Windows; `$XDG_CONFIG_HOME/oauthmail/token.json` or
/// `~/.config/oauthmail/token.json` elsewhere; `token.json` in the current directory if none of
/// these is known.
pub fn default_token_file() -> PathBuf {
    let base = if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    };
    match base {
        Some(b) => b.join("oauthmail").join("token.json"),
        None => PathBuf::from("token.json"),
    }
}
