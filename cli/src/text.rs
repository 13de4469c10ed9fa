//! Every sentence the tool prints, in English and Romanian. Library errors carry their own
//! `message` (always English, for logs) and `hint` (in the configured `ui_language`).

use std::fmt::Display;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    En,
    Ro,
}

impl Lang {
    /// `--lang` wins; then `OAUTHMAIL_LANG`, `LC_ALL`, `LC_MESSAGES`, `LANG` (the first one set,
    /// as POSIX reads them); Romanian when it starts with `ro`, English otherwise.
    pub fn detect(flag: Option<Lang>) -> Lang {
        if let Some(l) = flag {
            return l;
        }
        let var = ["OAUTHMAIL_LANG", "LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
        Lang::from_locale(var.as_deref().unwrap_or(""))
    }

    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("ro") {
            Lang::Ro
        } else {
            Lang::En
        }
    }

    /// The library's `ui_language` value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ro => "ro",
        }
    }

    fn pick(self, en: String, ro: String) -> String {
        match self {
            Lang::En => en,
            Lang::Ro => ro,
        }
    }

    pub fn error(self, message: &str) -> String {
        self.pick(format!("Error: {message}"), format!("Eroare: {message}"))
    }

    pub fn hint(self, hint: &str) -> String {
        self.pick(format!("What to do: {hint}"), format!("Ce puteți face: {hint}"))
    }

    pub fn open_browser(self, url: &str) -> String {
        self.pick(
            format!("Opening the browser for the Google sign-in. If it does not open, visit this address:\n{url}"),
            format!("Se deschide browserul pentru autentificarea Google. Dacă nu se deschide, vizitați adresa:\n{url}"),
        )
    }

    pub fn visit(self, url: &str) -> String {
        self.pick(
            format!("Open this address in a browser and sign in:\n{url}"),
            format!("Deschideți această adresă într-un browser și autentificați-vă:\n{url}"),
        )
    }

    pub fn waiting(self) -> String {
        self.pick(
            "Waiting for the consent in the browser…".into(),
            "Se așteaptă acordul din browser…".into(),
        )
    }

    pub fn authorized(self, email: Option<&str>) -> String {
        match email {
            Some(e) => self.pick(format!("Authorized: {e}"), format!("Autorizat: {e}")),
            None => self.pick(
                "Authorized (the provider did not tell the address)".into(),
                "Autorizat (furnizorul nu a comunicat adresa)".into(),
            ),
        }
    }

    pub fn scopes(self) -> String {
        self.pick("Granted scopes:".into(), "Permisiuni acordate:".into())
    }

    pub fn no_refresh_token(self) -> String {
        self.pick(
            "Warning: no refresh token was issued; the authorization will stop working within an hour.".into(),
            "Atenție: nu s-a emis un token de reîmprospătare; autorizarea nu va mai funcționa peste o oră.".into(),
        )
    }

    pub fn token_saved(self, path: impl Display) -> String {
        self.pick(
            format!("Token document saved to {path}"),
            format!("Documentul de token a fost salvat în {path}"),
        )
    }

    pub fn sending(self) -> String {
        self.pick("Sending…".into(), "Se trimite…".into())
    }

    pub fn sent(self, message_id: &str) -> String {
        self.pick(
            format!("Sent. Message-ID: {message_id}"),
            format!("Trimis. Message-ID: {message_id}"),
        )
    }

    pub fn warning(self, text: &str) -> String {
        self.pick(format!("Warning: {text}"), format!("Atenție: {text}"))
    }

    pub fn token_updated(self, path: impl Display) -> String {
        self.pick(
            format!("The access token was refreshed; {path} is updated."),
            format!("Tokenul de acces a fost reîmprospătat; {path} a fost actualizat."),
        )
    }

    pub fn revoked(self, email: Option<&str>) -> String {
        let who = email.unwrap_or("?");
        self.pick(
            format!("Access revoked for {who}."),
            format!("Accesul a fost revocat pentru {who}."),
        )
    }

    pub fn token_removed(self, path: impl Display) -> String {
        self.pick(format!("Removed {path}"), format!("A fost șters {path}"))
    }

    pub fn no_client(self) -> String {
        self.pick(
            "no OAuth client is configured: pass --client with the client_secret_….json file downloaded from the Google Cloud console (Clients > your Desktop app client), or --config with a configuration document".into(),
            "nu este configurat niciun client OAuth: dați --client cu fișierul client_secret_….json descărcat din consola Google Cloud (Clients > clientul Desktop app) sau --config cu un document de configurare".into(),
        )
    }

    pub fn no_client_hint(self) -> String {
        self.pick(
            "Download the client file of your Desktop app OAuth client from the Google Cloud console and pass it with --client (or set OAUTHMAIL_CLIENT).".into(),
            "Descărcați fișierul clientului OAuth de tip Desktop app din consola Google Cloud și dați-l cu --client (sau setați OAUTHMAIL_CLIENT).".into(),
        )
    }

    pub fn cannot_read(self, what: &str, path: impl Display, why: impl Display) -> String {
        self.pick(
            format!("cannot read the {what} {path}: {why}"),
            format!("nu se poate citi {} {path}: {why}", self.what_ro(what)),
        )
    }

    pub fn cannot_write(self, path: impl Display, why: impl Display) -> String {
        self.pick(
            format!("cannot write {path}: {why}"),
            format!("nu se poate scrie {path}: {why}"),
        )
    }

    pub fn not_json(self, what: &str, path: impl Display, why: impl Display) -> String {
        self.pick(
            format!("the {what} {path} is not valid: {why}"),
            format!("{} {path} nu este valid: {why}", self.what_ro(what)),
        )
    }

    pub fn no_token_hint(self) -> String {
        self.pick(
            "Run `oauthmail authorize` first (or pass --token-file with the token document it saved).".into(),
            "Rulați mai întâi `oauthmail authorize` (sau dați --token-file cu documentul de token salvat).".into(),
        )
    }

    pub fn file_hint(self) -> String {
        self.pick(
            "Check the path and that this user may read the file.".into(),
            "Verificați calea și că acest utilizator are drept de citire asupra fișierului.".into(),
        )
    }

    pub fn doctor_no_token(self, path: impl Display) -> String {
        self.pick(
            format!("No token document at {path}: checking the configuration and the network only (run `oauthmail authorize` to check the account too)."),
            format!("Nu există un document de token la {path}: se verifică doar configurația și rețeaua (rulați `oauthmail authorize` pentru a verifica și contul)."),
        )
    }

    pub fn doctor_ok(self, steps: usize, email: Option<&str>, transport: &str) -> String {
        match email {
            Some(e) => self.pick(
                format!("All {steps} checks passed: this computer can send mail as {e} through {transport}."),
                format!("Toate cele {steps} verificări au trecut: acest calculator poate trimite e-mail ca {e} prin {transport}."),
            ),
            None => self.pick(
                format!("All {steps} checks passed (without a token document: the account was not checked)."),
                format!("Toate cele {steps} verificări au trecut (fără document de token: contul nu a fost verificat)."),
            ),
        }
    }

    pub fn doctor_failed(self, step: &str, constant: &str, code: u32) -> String {
        self.pick(
            format!("Not ready: the {step} check failed ({constant}, {code})."),
            format!("Nu este gata: verificarea {step} a eșuat ({constant}, {code})."),
        )
    }

    pub fn more(self, guide: &str) -> String {
        self.pick(format!("More: {guide}"), format!("Detalii: {guide}"))
    }

    pub fn token_stored(self, path: impl Display) -> String {
        self.pick(
            format!("Saved in the token store {path}"),
            format!("Salvat în depozitul de tokenuri {path}"),
        )
    }

    pub fn store_removed(self, path: impl Display) -> String {
        self.pick(
            format!("Removed the account from the token store {path}"),
            format!("Contul a fost șters din depozitul de tokenuri {path}"),
        )
    }

    pub fn need_subject(self) -> String {
        self.pick(
            "with --service-account, pass --as with the address of the Workspace user to act as".into(),
            "cu --service-account, dați --as cu adresa utilizatorului Workspace în numele căruia se acționează".into(),
        )
    }

    pub fn store_empty(self) -> String {
        self.pick(
            "the token store holds no account".into(),
            "depozitul de tokenuri nu conține niciun cont".into(),
        )
    }

    pub fn store_empty_hint(self) -> String {
        self.pick(
            "Run `oauthmail authorize --store …` first to save an account in it.".into(),
            "Rulați mai întâi `oauthmail authorize --store …` pentru a salva un cont în el.".into(),
        )
    }

    pub fn store_many(self, accounts: &str) -> String {
        self.pick(
            format!("the token store holds several accounts ({accounts}): choose one with --account"),
            format!("depozitul de tokenuri conține mai multe conturi ({accounts}): alegeți unul cu --account"),
        )
    }

    pub fn doctor_no_subject(self) -> String {
        self.pick(
            "No --as: checking the configuration and the network only (pass --as USER@DOMAIN to check the delegation too).".into(),
            "Fără --as: se verifică doar configurația și rețeaua (dați --as UTILIZATOR@DOMENIU pentru a verifica și delegarea).".into(),
        )
    }

    fn what_ro(self, what: &str) -> &'static str {
        match what {
            "client file" => "fișierul clientului",
            "configuration" => "configurația",
            "token document" => "documentul de token",
            _ => "fișierul",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --help in Romanian. The English help is the doc comments of the clap definitions (main.rs,
// commands.rs, doctor.rs); with Lang::Ro every command's about, every argument's help, clap's own
// flags and the headings are replaced from the tables below (a test checks that nothing is left
// without a Romanian text).

/// The Romanian `about` of a command (`""` is the tool itself).
pub fn ro_about(command: &str) -> Option<&'static str> {
    Some(match command {
        "" => "Autorizează un cont Gmail, trimite un mesaj și revocă accesul cu liboauthmail.",
        "authorize" => "Autentificare Google în browser: afișează contul și permisiunile acordate și salvează documentul de token (citibil doar de proprietar), sau cu --store contul în depozitul de tokenuri.",
        "send" => "Trimite un mesaj cu documentul de token salvat (sau un cont din --store, sau cu --service-account ca --as UTILIZATOR) și afișează Message-ID-ul.",
        "revoke" => "Revocă autorizarea salvată la Google și șterge documentul de token (sau, cu --store, contul din depozit).",
        "doctor" => "Verifică întreaga configurare fără a trimite vreun mesaj: configurația, DNS, TCP și TLS către fiecare server, clientul OAuth și, cu un token, reîmprospătarea, vechimea, permisiunile și autentificarea la transport. Afișează ✓/✗ pentru fiecare pas; codul de ieșire este cel al primului pas eșuat.",
        "help" => "Afișează acest mesaj sau ajutorul comenzii date.",
        _ => return None,
    })
}

/// The Romanian help of argument `id` of `command` (`""` is the tool itself).
pub fn ro_arg(command: &str, id: &str) -> Option<&'static str> {
    Some(match (command, id) {
        ("authorize", "transport") => "Transportul pentru care este tokenul; de el depinde permisiunea cerută (smtp are nevoie de https://mail.google.com/, gmail_api cere gmail.send) [implicit: gmail_api].",
        (_, "transport") => "Transportul folosit [implicit: cel din configurație, altfel gmail_api].",
        ("revoke", "account") => "Contul din depozitul de tokenuri (--store) de revocat [implicit: singurul cont din depozit].",
        (_, "account") => "Contul din depozitul de tokenuri (--store) folosit [implicit: singurul cont din depozit].",
        (_, "as_user") => "Cu --service-account: utilizatorul domeniului Workspace în numele căruia se acționează (subiectul tokenului).",
        (_, "client") => "Fișierul clientului Google (client_secret_….json al unui client OAuth de tip Desktop app).",
        (_, "config") => "Un document de configurare liboauthmail (config_json: endpoints, proxy, timeouts, tls, …).",
        (_, "token_file") => "Unde se păstrează documentul de token [implicit: dosarul de configurare al utilizatorului, oauthmail/token.json].",
        (_, "service_account") => "Fișierul cheii unui cont de serviciu Google Workspace (delegare la nivelul domeniului): send și doctor acționează ca --as UTILIZATOR, un utilizator al domeniului, fără browser și fără document de token.",
        (_, "store") => "Un fișier depozit de tokenuri (\"store\" al bibliotecii): authorize salvează contul în el, send, doctor și revoke folosesc --account din el (în loc de --token-file).",
        (_, "protect") => "Cum este criptat depozitul de tokenuri: user sau machine (DPAPI Windows; user este implicit pe Windows) sau none (doar drepturile fișierului; implicit în rest).",
        (_, "lang") => "Limba textelor afișate [implicit: din OAUTHMAIL_LANG, LC_ALL, LC_MESSAGES sau LANG].",
        (_, "json") => "Afișează un singur document JSON pe stdout în loc de text (erori: documentul de eroare al bibliotecii).",
        (_, "show_secrets") => "Afișează și tokenurile (authorize). Nu folosiți niciodată această opțiune unde alții pot vedea ecranul sau jurnalul.",
        (_, "verbose") => "Rândurile de jurnal ale bibliotecii pe stderr: -v info, -vv debug, -vvv trace (nu conțin niciodată un secret).",
        (_, "help") => "Afișează ajutorul.",
        (_, "version") => "Afișează versiunea.",
        (_, "login_hint") => "Contul Google cu care se face autentificarea (este preselectat în browser).",
        (_, "no_browser") => "Nu pornește un browser; afișează adresa de deschis (pentru o sesiune la distanță).",
        (_, "from") => "Expeditorul [implicit: contul autorizat]. Gmail înlocuiește o adresă care nu este contul sau unul dintre aliasurile sale „Send mail as” verificate.",
        (_, "to") => "Un destinatar („Nume <a@b.ro>” sau a@b.ro); repetați pentru mai mulți.",
        (_, "cc") => "Un destinatar în copie; repetați pentru mai mulți.",
        (_, "bcc") => "Un destinatar ascuns; repetați pentru mai mulți.",
        (_, "reply_to") => "Unde trebuie să ajungă răspunsurile.",
        (_, "subject") => "Subiectul (orice text Unicode).",
        (_, "text") => "Corpul mesajului, text simplu.",
        (_, "text_file") => "Corpul mesajului, text simplu, dintr-un fișier UTF-8.",
        (_, "html_file") => "Corpul HTML, dintr-un fișier UTF-8 (cu --text, mesajul le are pe amândouă).",
        (_, "attach") => "Un fișier de atașat; repetați pentru mai multe.",
        (_, "no_token") => "Verifică doar configurația și rețeaua, chiar dacă există un document de token.",
        ("help", "subcommand") => "Comanda al cărei ajutor se afișează.",
        _ => return None,
    })
}

/// A value's placeholder in the usage lines (`--to <ADRESĂ>`).
fn ro_value_name(name: &str) -> &'static str {
    match name {
        "ADDRESS" => "ADRESĂ",
        "FILE" => "FIȘIER",
        "PATH" => "CALE",
        "SUBJECT" => "SUBIECT",
        "KEY.json" => "CHEIE.json",
        "PROTECT" => "PROTECȚIE",
        "LANG" => "LIMBĂ",
        "TEXT" => "TEXT",
        "TRANSPORT" => "TRANSPORT",
        "EMAIL" => "EMAIL",
        "COMMAND" => "COMANDĂ",
        _ => "VALOARE",
    }
}

/// The tool's `after_help` (the exit status), in Romanian.
pub const RO_AFTER_HELP: &str = "Codul de ieșire este codul de stare al bibliotecii: 0 succes, 1 argument invalid, 4 acces refuzat, 5 autorizați din nou, 6 permisiuni insuficiente, 7 autentificare eșuată, 8 rețea, 9 TLS, 13 eroare de fișier (toate în API.md).";

/// `cmd` (built, so that clap's own --help, --version and `help` exist) with its help in `lang`.
pub fn localize(mut cmd: clap::Command, lang: Lang) -> clap::Command {
    if lang == Lang::En {
        return cmd;
    }
    cmd.build();
    localize_command(cmd, "").after_help(RO_AFTER_HELP)
}

fn localize_command(mut cmd: clap::Command, key: &str) -> clap::Command {
    if let Some(about) = ro_about(key) {
        cmd = cmd.about(about).long_about(None);
    }
    let ids: Vec<String> = cmd.get_arguments().map(|a| a.get_id().to_string()).collect();
    for id in ids {
        let help = ro_arg(key, &id);
        cmd = cmd.mut_arg(id, |a| {
            let heading = match a.get_help_heading() {
                Some("Global options") => "Opțiuni generale",
                None if a.is_positional() => "Argumente",
                _ => "Opțiuni",
            };
            let names: Vec<&'static str> = a
                .get_value_names()
                .unwrap_or_default()
                .iter()
                .map(|n| ro_value_name(n.as_str()))
                .collect();
            let mut a = a.help_heading(heading);
            if !names.is_empty() {
                a = a.value_names(names);
            }
            match help {
                // Without the final period, like clap's English help from the doc comments.
                Some(h) => a.help(h.strip_suffix('.').unwrap_or(h)).long_help(None),
                None => a,
            }
        });
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name.clone(), |s| localize_command(s, &name));
    }
    cmd.subcommand_help_heading("Comenzi")
        .subcommand_value_name("COMANDĂ")
        .help_template("{before-help}{about-with-newline}\nUtilizare: {usage}\n\n{all-args}{after-help}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn romanian_from_the_locale() {
        assert_eq!(Lang::from_locale("ro_RO.UTF-8"), Lang::Ro);
        assert_eq!(Lang::from_locale("RO"), Lang::Ro);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
        assert_eq!(Lang::from_locale("C"), Lang::En);
    }
}
