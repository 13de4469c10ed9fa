//! The commands: each builds a [`Client`] from the sources in [`Global`], calls the library and
//! prints the result through [`Out`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use oauthmail::authorize::AuthorizeOptions;
use oauthmail::log::Level;
use oauthmail::message::MessageDocument;
use oauthmail::token::{TokenDocument, TokenRef};
use oauthmail::{Client, Status};
use serde_json::{json, Value};

use crate::setup::{self, Sources};
use crate::text::Lang;
use crate::{Failure, Global, Transport};

/// How results are printed.
pub struct Out {
    pub lang: Lang,
    pub json: bool,
    pub show_secrets: bool,
}

impl Out {
    /// A line of the text output (nothing with `--json`).
    fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            println!("{}", line.as_ref());
        }
    }

    /// A progress or prompt line on stderr (also with `--json`: stdout stays one document).
    fn note(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }

    fn document(&self, v: &Value) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        }
    }

    pub fn failure(&self, f: &Failure) {
        if f.silent {
            return;
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&f.document).unwrap_or_default());
            return;
        }
        eprintln!("{}", self.lang.error(&f.message));
        if !f.hint.is_empty() {
            eprintln!("{}", self.lang.hint(&f.hint));
        }
    }
}

pub(crate) fn token_path(g: &Global) -> PathBuf {
    g.token_file.clone().unwrap_or_else(setup::default_token_file)
}

pub(crate) fn client(g: &Global, out: &Out, transport: Option<Transport>) -> Result<Client, Failure> {
    let config = setup::config(&Sources {
        config: g.config.as_deref(),
        client: g.client.as_deref(),
        transport: transport.map(Transport::name),
        service_account: g.service_account.as_deref(),
        store: g.store.as_deref(),
        protect: g.protect.map(crate::Protect::name),
        lang: out.lang,
    })?;
    let client = Client::new(config)?;
    let level = match g.verbose {
        0 => None,
        1 => Some(Level::Info),
        2 => Some(Level::Debug),
        _ => Some(Level::Trace),
    };
    if let Some(level) = level {
        client.set_logger(Some(Arc::new(|l: Level, m: &str| eprintln!("[{l:?}] {m}"))), level);
    }
    Ok(client)
}

/// Which token a command acts with: the token document of --token-file, an account of the token
/// store (--store, --account), or with a service account a user of the domain (--as).
pub(crate) enum Source {
    File(PathBuf, TokenDocument),
    Account(String),
    Subject(String),
}

impl Source {
    pub(crate) fn as_ref(&self) -> TokenRef<'_> {
        match self {
            Source::File(_, doc) => TokenRef::Document(doc),
            Source::Account(a) => TokenRef::Account(a),
            Source::Subject(s) => TokenRef::Subject(s),
        }
    }

    /// The address the token acts as, when known.
    pub(crate) fn email(&self) -> Option<String> {
        match self {
            Source::File(_, doc) => doc.email.clone(),
            Source::Account(a) | Source::Subject(a) => Some(a.clone()),
        }
    }
}

/// What to act with: `--as` (a service account's subject); `--account`; with a service account and no subject nothing
/// (doctor) or INVALID_ARGUMENT; with a store its only account (else INVALID_ARGUMENT naming the
/// accounts); else the token document (`None` when `optional` and there is none).
pub(crate) fn source(
    g: &Global,
    out: &Out,
    client: &Client,
    subject: Option<&str>,
    account: Option<&str>,
    optional: bool,
) -> Result<Option<Source>, Failure> {
    let lang = out.lang;
    if let Some(s) = subject {
        return Ok(Some(Source::Subject(s.to_string())));
    }
    if let Some(a) = account {
        return Ok(Some(Source::Account(a.to_string())));
    }
    if client.settings().service_account.is_some() {
        return if optional {
            Ok(None)
        } else {
            Err(Failure::invalid(lang.need_subject()))
        };
    }
    if client.settings().store.is_some() {
        let accounts: Vec<String> = client.store_list()?.into_iter().map(|a| a.account).collect();
        return match accounts.as_slice() {
            [one] => Ok(Some(Source::Account(one.clone()))),
            [] if optional => Ok(None),
            [] => Err(Failure::new(Status::Reauthorize, lang.store_empty()).hint(lang.store_empty_hint())),
            many => Err(Failure::invalid(lang.store_many(&many.join(", ")))),
        };
    }
    let path = token_path(g);
    if optional && !path.exists() {
        return Ok(None);
    }
    let token = setup::read_token(&path, lang)?;
    Ok(Some(Source::File(path, token)))
}

/// `--account` and `--as` of send and doctor. The service account's subject (the JWT's `sub`)
/// is `--as`, since `send --subject` is the message's subject.
#[derive(Args, Debug)]
pub struct Who {
    /// The account of the token store (--store) to use [default: the store's only account].
    #[arg(long, value_name = "EMAIL", conflicts_with = "as_user")]
    pub account: Option<String>,
    /// With --service-account: the user of the Workspace domain to act as (the token's subject).
    #[arg(long = "as", id = "as_user", value_name = "EMAIL")]
    pub as_user: Option<String>,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The account of the token store (--store) to revoke [default: the store's only account].
    #[arg(long, value_name = "EMAIL")]
    pub account: Option<String>,
}

#[derive(Args, Debug)]
pub struct AuthorizeArgs {
    /// The Google account to sign in with (pre-selects it in the browser).
    #[arg(long, value_name = "EMAIL")]
    pub login_hint: Option<String>,
    /// The transport the token is for; it decides the scope asked for (smtp needs
    /// https://mail.google.com/, gmail_api asks for gmail.send) [default: gmail_api].
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Do not start a browser; print the address to open (for a remote session).
    #[arg(long)]
    pub no_browser: bool,
}

pub fn authorize(g: &Global, out: &Out, a: &AuthorizeArgs) -> Result<(), Failure> {
    let client = client(g, out, a.transport)?;
    let path = token_path(g);
    let (lang, no_browser) = (out.lang, a.no_browser);
    client.set_url_opener(Some(Arc::new(move |url: &str| {
        if no_browser {
            eprintln!("{}", lang.visit(url));
        } else {
            eprintln!("{}", lang.open_browser(url));
            // The address is on the screen: if no browser starts, the user opens it by hand.
            let _ = oauthmail::authorize::open_browser(url);
        }
        eprintln!("{}", lang.waiting());
        true
    })));
    let options = AuthorizeOptions {
        login_hint: a.login_hint.clone(),
        open_browser: None,
    };
    let token = client.authorize(&options)?;
    // With a store the library saved the token there, under the account's email.
    let saved_to = match &client.settings().store {
        Some(store) => store.path.clone(),
        None => {
            setup::write_token(&path, &token, out.lang)?;
            path.clone()
        }
    };

    let scopes: Vec<&str> = token.scope.split_whitespace().collect();
    out.say(out.lang.authorized(token.email.as_deref()));
    out.say(out.lang.scopes());
    for s in &scopes {
        out.say(format!("  {s}"));
    }
    if token.refresh_token.is_none() {
        out.note(out.lang.no_refresh_token());
    }
    let stored = client.settings().store.is_some();
    if stored {
        out.say(out.lang.token_stored(saved_to.display()));
    } else {
        out.say(out.lang.token_saved(saved_to.display()));
    }
    let mut doc = json!({
        "email": token.email,
        "scopes": scopes,
        "refresh_token": token.refresh_token.is_some(),
        "expires_at": token.expires_at,
        (if stored { "store" } else { "token_file" }): saved_to.to_string_lossy(),
    });
    if out.show_secrets {
        doc["token"] = serde_json::to_value(&token).unwrap_or(Value::Null);
        out.say(serde_json::to_string_pretty(&token).unwrap_or_default());
    }
    out.document(&doc);
    Ok(())
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// The sender [default: the authorized account]. Gmail replaces an address that is not the
    /// account or one of its verified "Send mail as" aliases.
    #[arg(long, value_name = "ADDRESS")]
    pub from: Option<String>,
    /// A recipient ("Name <a@b.ro>" or a@b.ro); repeat for more.
    #[arg(long, value_name = "ADDRESS", required = true)]
    pub to: Vec<String>,
    /// A copy recipient; repeat for more.
    #[arg(long, value_name = "ADDRESS")]
    pub cc: Vec<String>,
    /// A hidden recipient; repeat for more.
    #[arg(long, value_name = "ADDRESS")]
    pub bcc: Vec<String>,
    /// Where replies should go.
    #[arg(long, value_name = "ADDRESS")]
    pub reply_to: Option<String>,
    /// The subject (any Unicode text).
    #[arg(long)]
    pub subject: Option<String>,
    /// The plain-text body.
    #[arg(long, conflicts_with = "text_file")]
    pub text: Option<String>,
    /// The plain-text body, from a UTF-8 file.
    #[arg(long, value_name = "FILE")]
    pub text_file: Option<PathBuf>,
    /// The HTML body, from a UTF-8 file (with --text, the message has both).
    #[arg(long, value_name = "FILE")]
    pub html_file: Option<PathBuf>,
    /// A file to attach; repeat for more.
    #[arg(long, value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// How to send [default: the configuration's, else gmail_api].
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    #[command(flatten)]
    pub who: Who,
}

fn read_text(path: &Path, lang: Lang) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::new(Status::Io, lang.cannot_read("file", path.display(), e)).hint(lang.file_hint()))
}

pub fn send(g: &Global, out: &Out, a: &SendArgs) -> Result<(), Failure> {
    let client = client(g, out, a.transport)?;
    let source = source(
        g,
        out,
        &client,
        a.who.as_user.as_deref(),
        a.who.account.as_deref(),
        false,
    )?
    .ok_or_else(|| Failure::internal("no token source"))?;
    let text = match (&a.text, &a.text_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(p)) => Some(read_text(p, out.lang)?),
        (None, None) => None,
    };
    let html = a.html_file.as_deref().map(|p| read_text(p, out.lang)).transpose()?;
    let attachments: Vec<Value> = a.attach.iter().map(|p| json!({"path": p.to_string_lossy()})).collect();
    let mut doc = json!({
        "from": a.from.clone().or_else(|| source.email()),
        "to": a.to,
        "cc": a.cc,
        "bcc": a.bcc,
        "attachments": attachments,
    });
    for (k, v) in [
        ("reply_to", &a.reply_to),
        ("subject", &a.subject),
        ("text", &text),
        ("html", &html),
    ] {
        if let Some(v) = v {
            doc[k] = json!(v);
        }
    }
    let message: MessageDocument =
        serde_json::from_value(doc).map_err(|e| Failure::invalid(format!("message: {e}")))?;

    // A spinner until the upload starts, then a byte bar fed by the library's progress callback
    // (indicatif draws only when stderr is a terminal).
    let bar = (!out.json).then(|| {
        let bar = indicatif::ProgressBar::new_spinner().with_message(out.lang.sending());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    if let Some(bar) = &bar {
        let bar = bar.clone();
        let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        client.set_progress(Some(Arc::new(move |done: u64, total: u64| {
            if bar.length() != Some(total) {
                bar.set_style(style.clone());
                bar.set_length(total);
            }
            bar.set_position(done);
            true
        })));
    }
    let result = client.send(source.as_ref(), &message);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let result = result?;
    let refreshed = result.token.is_some();
    if let (Some(t), Source::File(path, _)) = (&result.token, &source) {
        setup::write_token(path, t, out.lang)?;
    }
    out.say(out.lang.sent(&result.message_id));
    for w in &result.warnings {
        out.note(out.lang.warning(&w.message));
        out.note(out.lang.hint(w.hint));
    }
    if let (true, Source::File(path, _)) = (refreshed, &source) {
        out.note(out.lang.token_updated(path.display()));
    }
    out.document(&json!({
        "message_id": result.message_id,
        "transport": result.transport.name(),
        "provider_id": result.provider_id,
        "token_refreshed": refreshed,
        "warnings": result.warnings,
    }));
    Ok(())
}

pub fn revoke(g: &Global, out: &Out, a: &RevokeArgs) -> Result<(), Failure> {
    let client = client(g, out, None)?;
    let source = source(g, out, &client, None, a.account.as_deref(), false)?
        .ok_or_else(|| Failure::internal("no token source"))?;
    client.revoke(source.as_ref())?;
    let email = source.email();
    out.say(out.lang.revoked(email.as_deref()));
    let removed = match &source {
        Source::File(path, _) => std::fs::remove_file(path).is_ok().then(|| path.clone()),
        // The library removed the account's entry from the store.
        _ => client.settings().store.as_ref().map(|s| s.path.clone()),
    };
    if let Some(path) = &removed {
        match &source {
            Source::File(..) => out.say(out.lang.token_removed(path.display())),
            _ => out.say(out.lang.store_removed(path.display())),
        }
    }
    out.document(&json!({
        "revoked": true,
        "email": email,
        "token_file_removed": match &source {
            Source::File(..) => removed.map(|p| p.to_string_lossy().into_owned()),
            _ => None,
        },
    }));
    Ok(())
}
