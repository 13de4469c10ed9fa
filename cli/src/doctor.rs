//! `oauthmail doctor`: runs the library's pre-flight check (`oauthmail_check`) and prints it as a
//! checklist, ✓ or ✗ per step with the hint under a failed one, and a one-line verdict. The exit
//! status is the check's status (0, or the first failed step's).

use clap::Args;
use oauthmail::check::Report;
use oauthmail::Status;

use crate::commands::{client, source, token_path, Out, Source};
use crate::setup;
use crate::text::Lang;
use crate::{Failure, Global, Transport};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The transport to check [default: the configuration's, else gmail_api].
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Check the configuration and the network only, even if a token document exists.
    #[arg(long)]
    pub no_token: bool,
    #[command(flatten)]
    pub who: crate::commands::Who,
}

/// The troubleshooting page a hint id is an anchor of.
fn guide(lang: Lang, hint_id: &str) -> String {
    format!("docs/troubleshooting.{}.md#{hint_id}", lang.code())
}

pub fn doctor(g: &Global, out: &Out, a: &DoctorArgs) -> Result<(), Failure> {
    // A configuration the library refuses is the first failed step.
    let client = match client(g, out, a.transport) {
        Ok(c) => c,
        Err(f) if out.json => {
            let doc = serde_json::json!({"ok": false, "steps": [{
                "step": "config", "target": "", "ok": false, "ms": 0, "detail": "",
                "error": f.document["error"],
            }]});
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            return Err(Failure::silent(f.status));
        }
        Err(f) => {
            println!("✗ config");
            println!("    {}", out.lang.error(&f.message));
            if !f.hint.is_empty() {
                println!("    {}", out.lang.hint(&f.hint));
            }
            if let Some(id) = f.document["error"]["hint_id"].as_str() {
                println!("    {}", out.lang.more(&guide(out.lang, id)));
            }
            println!(
                "{}",
                out.lang.doctor_failed("config", &const_name(f.status), f.status.code())
            );
            return Err(Failure::silent(f.status));
        }
    };
    let token = if a.no_token {
        None
    } else {
        source(
            g,
            out,
            &client,
            a.who.as_user.as_deref(),
            a.who.account.as_deref(),
            true,
        )?
    };
    if token.is_none() && !a.no_token && !out.json {
        if client.settings().service_account.is_some() {
            eprintln!("{}", out.lang.doctor_no_subject());
        } else if let Some(store) = &client.settings().store {
            eprintln!("{}", out.lang.doctor_no_token(store.path.display()));
        } else {
            eprintln!("{}", out.lang.doctor_no_token(token_path(g).display()));
        }
    }
    let report: Report = client.check(token.as_ref().map(Source::as_ref));
    if let (Some(t), Some(Source::File(path, _))) = (&report.token, &token) {
        setup::write_token(path, t, out.lang)?;
    }
    let status = report.status();
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        print(out.lang, &report);
        let email = token.as_ref().and_then(Source::email);
        let transport = client.settings().transport.name();
        match report.steps.iter().find(|s| !s.ok) {
            None => println!(
                "{}",
                out.lang.doctor_ok(report.steps.len(), email.as_deref(), transport)
            ),
            Some(failed) => println!(
                "{}",
                out.lang.doctor_failed(failed.step, &const_name(status), status.code())
            ),
        }
    }
    if status == Status::Ok {
        Ok(())
    } else {
        // Already printed in full above: exit with the status and nothing more.
        Err(Failure::silent(status))
    }
}

fn const_name(status: Status) -> String {
    format!("OAUTHMAIL_{}", status.name().to_uppercase())
}

fn print(lang: Lang, report: &Report) {
    let width = report.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
    for s in &report.steps {
        let mark = if s.ok { "✓" } else { "✗" };
        let mut line = format!("{mark} {:<width$}  {}", s.step, s.target);
        if !s.detail.is_empty() {
            line.push_str(": ");
            line.push_str(&s.detail);
        }
        line.push_str(&format!(" ({} ms)", s.ms));
        println!("{line}");
        if let Some(e) = &s.error {
            println!("    {}", lang.error(&e.message));
            println!("    {}", lang.hint(e.hint_text()));
            println!("    {}", lang.more(&guide(lang, e.hint_id)));
        }
    }
}
