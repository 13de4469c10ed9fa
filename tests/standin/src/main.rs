//! `oauthmail-standin`: starts the stand-in and prints one line of JSON (README "Command line").

use std::path::PathBuf;
use std::process::ExitCode;

use oauthmail_standin::{Options, Standin};

const HELP: &str = "\
oauthmail-standin: a local stand-in for Google OAuth 2.0, the Gmail API and Gmail SMTP (tests only)

USAGE:
    oauthmail-standin --state-dir DIR [--auto-approve] [--http] [OPTIONS]

Starts everything on 127.0.0.1, then prints ONE line of JSON to stdout (and writes it to
DIR/standin.json): authorization_endpoint, token_endpoint, revocation_endpoint,
userinfo_endpoint, gmail_api, smtps, smtp_starttls, ca_file, client_id, client_secret, users,
mailbox_dir, control, pid (+ other_users, issuer, jwks_uri, state_dir, and microsoft: the
Microsoft 365 / Outlook.com endpoints, clients and accounts). Runs until killed.
The control plane (plain HTTP JSON at `control`) is documented in tests/standin/README.md.

OPTIONS:
    --state-dir DIR              Required. standin.json, ca.pem, mailbox/ and standin.log go here
    --auto-approve               Redirect at once (no pages) when login_hint names a test user;
                                 allow or deny per the auto_approve_decision setting
    --http                       Plain HTTP instead of HTTPS for the OAuth and Gmail API endpoints
    --http-port P                Port of the OAuth + Gmail API server (default 0: ephemeral)
    --smtps-port P               SMTP implicit-TLS port (default 0)
    --smtp-port P                SMTP STARTTLS port (default 0)
    --control-port P             Control plane port (default 0)
    --client-id ID               The Desktop client's id (default: the built-in test client)
    --client-secret SECRET       Its secret (default: the built-in test secret)
    --test-user EMAIL            A test user (repeatable; replaces the default test users
                                 erp.test@gmail.com, second.test@gmail.com)
    --other-user EMAIL           An existing account that is NOT a test user (repeatable;
                                 replaces the default not.a.tester@gmail.com)
    --production                 Start with the client \"In production\" (default: Testing,
                                 refresh tokens expire after 7 days)
    --access-token-lifetime S    Seconds an access token lives (default 3599)
    --verbose                    Also write log lines to stderr (always in DIR/standin.log)
    -h, --help                   Print this help and exit
";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut state_dir = None;
    let mut test_users = Vec::new();
    let mut other_users = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        let takes_value = matches!(
            name,
            "--state-dir"
                | "--http-port"
                | "--smtps-port"
                | "--smtp-port"
                | "--control-port"
                | "--client-id"
                | "--client-secret"
                | "--test-user"
                | "--other-user"
                | "--access-token-lifetime"
        );
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(args.get(i).cloned().ok_or_else(|| format!("{name} needs a value"))?)
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("{name} takes no value"));
            }
            None
        };
        let v = value.unwrap_or_default();
        let port = |v: &str| v.parse::<u16>().map_err(|_| format!("{name}: not a port number: {v}"));
        match name {
            "--state-dir" => state_dir = Some(PathBuf::from(v)),
            "--auto-approve" => o.auto_approve = true,
            "--http" => o.http = true,
            "--http-port" => o.http_port = port(&v)?,
            "--smtps-port" => o.smtps_port = port(&v)?,
            "--smtp-port" => o.smtp_port = port(&v)?,
            "--control-port" => o.control_port = port(&v)?,
            "--client-id" => o.client_id = v,
            "--client-secret" => o.client_secret = v,
            "--test-user" => test_users.push(v),
            "--other-user" => other_users.push(v),
            "--production" => o.production = true,
            "--access-token-lifetime" => {
                o.access_token_lifetime_s = v.parse().map_err(|_| format!("{name}: not a number of seconds: {v}"))?
            }
            "--verbose" => o.verbose = true,
            other => return Err(format!("unknown option {other} (see --help)")),
        }
        i += 1;
    }
    o.state_dir = Some(state_dir.ok_or("--state-dir DIR is required (see --help)")?);
    if !test_users.is_empty() {
        o.test_users = test_users;
    }
    if !other_users.is_empty() {
        o.other_users = other_users;
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("oauthmail-standin: {e}");
            return ExitCode::from(2);
        }
    };
    // A bug must not break the "one JSON line, nothing on stderr" promise: panics go to the log.
    if !options.verbose {
        if let Some(dir) = options.state_dir.clone() {
            std::panic::set_hook(Box::new(move |p| {
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("standin.log"))
                {
                    let _ = writeln!(f, "panic: {p}");
                }
            }));
        }
    }
    let standin = match Standin::start(options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oauthmail-standin: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", standin.info_json());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
