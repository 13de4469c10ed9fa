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
