//! `oauthmail`: the administrator's tool for liboauthmail. It authorizes a Gmail account in the
//! browser and saves the token document, sends a message with it, and revokes it, with the same
//! library (and so the same errors and hints) the desktop application uses.
//!
//! Results go to stdout (one JSON document with `--json`), progress and prompts to stderr. The
//! exit status is the library's status code (0 = success; `--help`/`--version` exit 0; a bad
//! command line exits 1, INVALID_ARGUMENT). No token or client secret is ever printed unless
//! `--show-secrets` is given.

mod commands;
mod doctor;
mod setup;
mod text;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use oauthmail::Status;
use serde_json::{json, Value};

use crate::text::Lang;

#[derive(Parser, Debug)]
#[command(
    name = "oauthmail",
    version,
    about = "Authorize a Gmail account, send a message and revoke access with liboauthmail.",
    long_about = None,
    propagate_version = true,
    after_help = "The exit status is the library's status code: 0 success, 1 invalid argument, 4 access denied, 5 authorize again, 6 insufficient scope, 7 authentication failed, 8 network, 9 TLS, 13 file error (see API.md for all)."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Google's client file (client_secret_….json of a Desktop app OAuth client).
    #[arg(
        long,
        global = true,
        env = "OAUTHMAIL_CLIENT",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub client: Option<PathBuf>,
    /// A liboauthmail configuration document (config_json: endpoints, proxy, timeouts, tls, …).
    #[arg(
        long,
        global = true,
        env = "OAUTHMAIL_CONFIG",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,
    /// Where the token document is kept [default: the user's configuration folder,
    /// oauthmail/token.json].
    #[arg(
        long,
        global = true,
        env = "OAUTHMAIL_TOKEN_FILE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub token_file: Option<PathBuf>,
    /// A Google Workspace service account's key file (domain-wide delegation): send and doctor
    /// act as --as USER, a user of the domain, with no browser and no token document.
    #[arg(
        long,
        global = true,
        env = "OAUTHMAIL_SERVICE_ACCOUNT",
        value_name = "KEY.json",
        hide_env_values = true
    )]
    pub service_account: Option<PathBuf>,
    /// A token store file (the library's "store"): authorize saves the account there, send,
    /// doctor and revoke use --account from it (instead of --token-file).
    #[arg(
        long,
        global = true,
        env = "OAUTHMAIL_STORE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub store: Option<PathBuf>,
    /// How the token store is encrypted: user or machine (Windows DPAPI; user is the Windows
    /// default) or none (file permissions only; the default elsewhere).
    #[arg(long, global = true, value_enum, requires = "store")]
    pub protect: Option<Protect>,
    /// Language of the output [default: from OAUTHMAIL_LANG, LC_ALL, LC_MESSAGES or LANG].
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,
    /// Print one JSON document on stdout instead of text (errors: the library's error document).
    #[arg(long, global = true)]
    pub json: bool,
    /// Also print tokens (authorize). Never use this where others can see the screen or the log.
    #[arg(long, global = true)]
    pub show_secrets: bool,
    /// Library log lines on stderr: -v info, -vv debug, -vvv trace (they never hold a secret).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protect {
    None,
    User,
    Machine,
}

impl Protect {
    pub fn name(self) -> &'static str {
        match self {
            Protect::None => "none",
            Protect::User => "user",
            Protect::Machine => "machine",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    #[value(name = "gmail_api")]
    GmailApi,
    #[value(name = "smtp")]
    Smtp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::GmailApi => "gmail_api",
            Transport::Smtp => "smtp",
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in with Google in the browser, print the account and the granted scopes, and save the
    /// token document (readable by its owner only).
    Authorize(commands::AuthorizeArgs),
    /// Send a message with the saved token document and print its Message-ID.
    Send(Box<commands::SendArgs>),
    /// Revoke the saved authorization at Google and delete the token document (or, with --store,
    /// the account's entry).
    Revoke(commands::RevokeArgs),
    /// Check the whole set-up without sending a message: configuration, DNS, TCP and TLS to each
    /// host, the OAuth client, and with the token document its refresh, scopes and the
    /// transport's login. Prints ✓/✗ per step; the exit status is the first failed step's.
    Doctor(doctor::DoctorArgs),
}

/// A failure as the tool reports it: the library's error document, or one of the tool's own
/// (a file it cannot read, a missing client) in the same shape. Boxed: `Result`s stay small.
#[derive(Debug)]
pub struct Failure(Box<FailureDetail>);

#[derive(Debug)]
pub struct FailureDetail {
    pub status: Status,
    pub message: String,
    pub hint: String,
    /// The `{"error": {...}}` document printed with `--json`.
    pub document: Value,
    /// Already reported in full (doctor's checklist): only the exit status is left.
    pub silent: bool,
}

impl std::ops::Deref for Failure {
    type Target = FailureDetail;
    fn deref(&self) -> &FailureDetail {
        &self.0
    }
}

impl Failure {
    pub fn new(status: Status, message: impl Into<String>) -> Failure {
        let message = message.into();
        Failure(Box::new(FailureDetail {
            status,
            document: json!({"error": {"status": status.name(), "code": status.code(), "message": message}}),
            hint: String::new(),
            message,
            silent: false,
        }))
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(Status::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(Status::Internal, message)
    }

    /// Exits with `status` and prints nothing more.
    pub fn silent(status: Status) -> Failure {
        let mut f = Failure::new(status, String::new());
        f.0.silent = true;
        f
    }

    pub fn hint(mut self, hint: String) -> Failure {
        self.0.document["error"]["hint"] = json!(hint);
        self.0.hint = hint;
        self
    }
}

impl From<oauthmail::Error> for Failure {
    fn from(e: oauthmail::Error) -> Failure {
        Failure(Box::new(FailureDetail {
            status: e.status,
            message: e.message.clone(),
            hint: e.hint_text().to_string(),
            document: e.to_document(),
            silent: false,
        }))
    }
}

/// `--lang` as the command line gives it, read before clap parses (the help must already be in
/// that language); an unknown value is left for clap to refuse.
fn lang_flag(args: &[std::ffi::OsString]) -> Option<Lang> {
    let mut it = args.iter().skip(1).filter_map(|a| a.to_str());
    let mut found = None;
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--lang") {
            Some("") => it.next(),
            Some(v) => v.strip_prefix('='),
            None => None,
        };
        if a == "--" {
            break;
        }
        match value {
            Some("ro") => found = Some(Lang::Ro),
            Some("en") => found = Some(Lang::En),
            _ => {}
        }
    }
    found
}

/// The command line definition with its help in `lang`.
pub fn command(lang: Lang) -> clap::Command {
    text::localize(Cli::command(), lang)
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = command(Lang::detect(lang_flag(&args)))
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not failures; any other command-line error is INVALID_ARGUMENT.
            std::process::exit(if e.use_stderr() {
                Status::InvalidArgument.code() as i32
            } else {
                0
            });
        }
    };
    let lang = Lang::detect(cli.global.lang);
    let out = commands::Out {
        lang,
        json: cli.global.json,
        show_secrets: cli.global.show_secrets,
    };
    let result = match &cli.command {
        Command::Authorize(a) => commands::authorize(&cli.global, &out, a),
        Command::Send(a) => commands::send(&cli.global, &out, a),
        Command::Revoke(a) => commands::revoke(&cli.global, &out, a),
        Command::Doctor(a) => doctor::doctor(&cli.global, &out, a),
    };
    match result {
        Ok(()) => {}
        Err(f) => {
            out.failure(&f);
            std::process::exit(f.status.code() as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and argument has its Romanian text, and the English help has none of it.
    #[test]
    fn the_romanian_help_leaves_nothing_in_english() {
        fn walk(cmd: &clap::Command, key: &str, missing: &mut Vec<String>) {
            if text::ro_about(key).is_none() {
                missing.push(format!("about of '{key}'"));
            }
            for a in cmd.get_arguments() {
                if text::ro_arg(key, a.get_id().as_str()).is_none() {
                    missing.push(format!("{key} {}", a.get_id()));
                }
            }
            for s in cmd.get_subcommands() {
                walk(s, s.get_name(), missing);
            }
        }
        let mut en = command(Lang::En);
        en.build();
        let mut missing = Vec::new();
        walk(&en, "", &mut missing);
        assert!(missing.is_empty(), "no Romanian help for: {missing:?}");

        let mut ro = command(Lang::Ro);
        for name in ["authorize", "send", "revoke", "doctor"] {
            let help = ro.find_subcommand_mut(name).unwrap().render_help().to_string();
            assert!(
                help.contains("Utilizare:") && help.contains("Opțiuni"),
                "{name}: {help}"
            );
            assert!(help.contains("Afișează ajutorul"), "{name}: {help}");
            for english in ["Usage:", "Options:", "Print help", "Global options"] {
                assert!(
                    !help.contains(english),
                    "{name} --help in Romanian has '{english}': {help}"
                );
            }
        }
    }

    #[test]
    fn the_lang_flag_is_read_before_parsing() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            lang_flag(&args(&["oauthmail", "send", "--lang", "ro", "--help"])),
            Some(Lang::Ro)
        );
        assert_eq!(lang_flag(&args(&["oauthmail", "--lang=en", "doctor"])), Some(Lang::En));
        assert_eq!(lang_flag(&args(&["oauthmail", "send", "--text", "--lang"])), None);
        assert_eq!(lang_flag(&args(&["oauthmail", "send", "--", "--lang", "ro"])), None);
    }
}
