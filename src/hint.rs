//! Every `hint` the library can put into an error document, in one catalogue.
//!
//! A hint tells a person what to do. The troubleshooting guides (`docs/troubleshooting.*.md`) have an
//! entry for each hint here, under a heading that carries its `id`, and the English guide quotes
//! the text word for word; a test keeps the two in step. To add a hint: add a constant, list it in
//! [`ALL`], and add its entry to both guides.

use crate::status::Status;

/// One hint: a stable id (used as the anchor in the troubleshooting guides) and its text in
/// English (`text`, quoted word for word by `docs/troubleshooting.en.md`) and Romanian (`ro`,
/// quoted by `docs/troubleshooting.ro.md`).
#[derive(Debug, PartialEq, Eq)]
pub struct Hint {
    pub id: &'static str,
    pub text: &'static str,
    pub ro: &'static str,
}

/// The language a hint is shown in (`ui_language`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Ro,
}

impl Hint {
    /// The text in `lang`.
    pub fn text_in(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.text,
            Lang::Ro => self.ro,
        }
    }
}

/// The hint whose id is `id`.
pub fn by_id(id: &str) -> Option<&'static Hint> {
    ALL.iter().copied().find(|h| h.id == id)
}

macro_rules! hints {
    ($($name:ident = $id:literal : $text:literal / $ro:literal;)*) => {
        $(pub const $name: Hint = Hint { id: $id, text: $text, ro: $ro };)*
        /// Every hint, for the documentation check.
        pub const ALL: &[&Hint] = &[$(&$name),*];
    };
}

hints! {
    // Defaults, one per status: used when nothing more specific is known.
    OK = "ok":
        "No action needed."
        / "Nu este nevoie de nicio acțiune.";
    INVALID_ARGUMENT = "invalid-argument":
        "Correct the input named in 'field' (see the API reference for its format) and call again."
        / "Corectați valoarea numită în 'field' (formatul ei este descris în documentația API) și apelați din nou.";
    CANCELLED = "cancelled":
        "The call was cancelled by the application; start it again when the user asks."
        / "Apelul a fost anulat de aplicație; porniți-l din nou când utilizatorul o cere.";
    TIMEOUT = "timeout":
        "The server or the user did not answer in time. Check the network connection and try again; raise timeouts.io_s or timeouts.authorize_s if this happens often."
        / "Serverul sau utilizatorul nu a răspuns la timp. Verificați conexiunea la rețea și încercați din nou; dacă se întâmplă des, măriți 'timeouts.io_s' sau 'timeouts.authorize_s'.";
    ACCESS_DENIED = "access-denied":
        "The user declined access or the provider refused this account. Authorize again and choose Allow; if the app is in Testing status, add the account as a test user (Google Cloud console, Audience)."
        / "Utilizatorul a refuzat accesul sau furnizorul a respins acest cont. Autorizați din nou și alegeți Allow (Permiteți); dacă aplicația e în starea Testing, adăugați contul ca utilizator de test (consola Google Cloud, Audience).";
    REAUTHORIZE = "reauthorize":
        "The saved authorization is no longer valid. Call oauthmail_authorize again so the user can sign in and consent, then store the new token document."
        / "Autorizarea păstrată nu mai este valabilă. Apelați din nou 'oauthmail_authorize', ca utilizatorul să se autentifice și să își dea consimțământul, apoi păstrați noul document cu tokenuri.";
    INSUFFICIENT_SCOPE = "insufficient-scope":
        "The token does not carry the permission this transport needs. Authorize again with the scopes the transport requires (the library's defaults are right for each transport)."
        / "Tokenul nu are permisiunea de care are nevoie acest transport. Autorizați din nou cu permisiunile cerute de transport (valorile implicite ale bibliotecii sunt corecte pentru fiecare transport).";
    AUTH_FAILED = "auth-failed":
        "The provider rejected the client or the token. Check client_id and client_secret against the OAuth client in the provider's console, then authorize again."
        / "Furnizorul a respins clientul sau tokenul. Comparați 'client_id' și 'client_secret' cu clientul OAuth din consola furnizorului, apoi autorizați din nou.";
    NETWORK = "network":
        "The provider could not be reached. Check the internet connection, the firewall and the proxy setting, then try again."
        / "Furnizorul nu a putut fi contactat. Verificați conexiunea la internet, firewallul și setarea de proxy, apoi încercați din nou.";
    TLS = "tls":
        "The secure connection could not be verified. If your network inspects TLS (a corporate proxy or antivirus), install its root certificate in the system store or set tls.extra_ca_file."
        / "Conexiunea securizată nu a putut fi verificată. Dacă rețeaua dumneavoastră inspectează TLS (un proxy de firmă sau un antivirus), instalați certificatul lui rădăcină în depozitul de certificate al sistemului sau completați 'tls.extra_ca_file'.";
    RATE_LIMITED = "rate-limited":
        "The provider is limiting how much this account sends. Wait for retry_after_s seconds (or a few minutes) before sending again; daily sending limits reset within 24 hours."
        / "Furnizorul limitează cât trimite acest cont. Așteptați 'retry_after_s' secunde (sau câteva minute) înainte de a trimite din nou; limitele zilnice de trimitere se resetează în cel mult 24 de ore.";
    REJECTED = "rejected":
        "The provider refused the message or a recipient permanently. Check the addresses and the message size; nothing was sent."
        / "Furnizorul a refuzat definitiv mesajul sau un destinatar. Verificați adresele și dimensiunea mesajului; nu s-a trimis nimic.";
    PROVIDER = "provider":
        "The provider failed or answered unexpectedly. Try again later; if it persists, check the provider's status page."
        / "Furnizorul a avut o eroare sau a răspuns neașteptat. Încercați din nou mai târziu; dacă problema persistă, verificați pagina de stare a furnizorului.";
    IO = "io":
        "A local file could not be read or written. Check that the path exists and that the program may read it."
        / "Un fișier local nu a putut fi citit sau scris. Verificați că fișierul există și că programul are dreptul să îl citească.";
    INTERNAL = "internal":
        "This is a bug in liboauthmail. Please report it with the log (set a logger at level 5); no secrets are logged."
        / "Este o eroare în liboauthmail. Raportați-o împreună cu jurnalul (setați un logger la nivelul 5); jurnalul nu conține niciun secret.";

    // Specific causes.
    REAUTHORIZE_TESTING_EXPIRY = "reauthorize-testing-expiry":
        "The refresh token has expired or was revoked. Call oauthmail_authorize again. If this happens about 7 days after each authorization, the Google Cloud app is in Testing status: publish it (Audience > Publish app) to stop refresh tokens from expiring."
        / "Tokenul de reîmprospătare a expirat sau a fost revocat. Apelați din nou 'oauthmail_authorize'. Dacă se întâmplă la aproximativ 7 zile după fiecare autorizare, aplicația Google Cloud este în starea Testing: publicați-o (Audience > Publish app) ca tokenurile de reîmprospătare să nu mai expire.";
    REAUTHORIZE_NO_REFRESH_TOKEN = "reauthorize-no-refresh-token":
        "The token document holds no refresh token, so the access token cannot be renewed. Call oauthmail_authorize again and store the whole token document it returns."
        / "Documentul cu tokenuri nu conține niciun token de reîmprospătare, deci tokenul de acces nu poate fi reînnoit. Apelați din nou 'oauthmail_authorize' și păstrați întreg documentul pe care îl întoarce.";
    INSUFFICIENT_SCOPE_SMTP = "insufficient-scope-smtp":
        "Gmail SMTP accepts only tokens with the scope https://mail.google.com/. Add that scope to the consent screen (Data Access), use the library's default scopes for the smtp transport, and authorize again; or use the gmail_api transport with gmail.send."
        / "Gmail SMTP acceptă doar tokenuri cu permisiunea 'https://mail.google.com/'. Adăugați această permisiune pe ecranul de consimțământ (Data Access), folosiți permisiunile implicite ale bibliotecii pentru transportul 'smtp' și autorizați din nou; sau folosiți transportul 'gmail_api' cu 'gmail.send'.";
    INSUFFICIENT_SCOPE_SMTP_MICROSOFT = "insufficient-scope-smtp-microsoft":
        "Microsoft 365 SMTP accepts only tokens with the scope https://outlook.office.com/SMTP.Send. Add the delegated permission SMTP.Send to the app registration (Entra admin center > App registrations > the app > API permissions), use the library's default scopes for the smtp transport, and authorize again; or use the graph transport with Mail.Send."
        / "Microsoft 365 SMTP acceptă doar tokenuri cu permisiunea 'https://outlook.office.com/SMTP.Send'. Adăugați permisiunea delegată 'SMTP.Send' la înregistrarea aplicației (Entra admin center > App registrations > aplicația > API permissions), folosiți permisiunile implicite ale bibliotecii pentru transportul 'smtp' și autorizați din nou; sau folosiți transportul 'graph' cu 'Mail.Send'.";
    INSUFFICIENT_SCOPE_API = "insufficient-scope-api":
        "The Gmail API needs the scope https://www.googleapis.com/auth/gmail.send (or https://mail.google.com/). Add it on the consent screen (Data Access), authorize again and make sure the user leaves the Gmail permission ticked."
        / "Gmail API are nevoie de permisiunea 'https://www.googleapis.com/auth/gmail.send' (sau 'https://mail.google.com/'). Adăugați-o pe ecranul de consimțământ (Data Access), autorizați din nou și asigurați-vă că utilizatorul lasă bifată permisiunea Gmail.";
    GMAIL_API_DISABLED = "gmail-api-disabled":
        "The Gmail API is not enabled in the Google Cloud project of this OAuth client. Enable it (APIs & Services > Library > Gmail API > Enable), wait a few minutes and try again."
        / "Gmail API nu este activat în proiectul Google Cloud al acestui client OAuth. Activați-l (APIs & Services > Library > Gmail API > Enable), așteptați câteva minute și încercați din nou.";
    INVALID_CLIENT = "invalid-client":
        "The provider does not recognise this OAuth client or its secret. Check the client ID against the Google Cloud console (Clients > your Desktop app client). Google shows a client secret only when it is created, so do not copy it again: add a new secret to the client (Add secret), put it into the configuration (or download the client file again), then disable the old secret."
        / "Furnizorul nu recunoaște acest client OAuth sau secretul lui. Comparați ID-ul clientului cu cel din consola Google Cloud (Clients > clientul dumneavoastră Desktop app). Google arată secretul unui client doar la creare, așa că nu încercați să îl copiați din nou: adăugați clientului un secret nou (Add secret), treceți-l în configurație (sau descărcați din nou fișierul clientului), apoi dezactivați secretul vechi.";
    UNAUTHORIZED_CLIENT = "unauthorized-client":
        "The refresh token belongs to a different OAuth client than the one configured. Use the client it was issued to, or authorize again with this client."
        / "Tokenul de reîmprospătare aparține altui client OAuth decât cel configurat. Folosiți clientul căruia i-a fost emis sau autorizați din nou cu acest client.";
    CLIENT_SECRET_MISSING = "client-secret-missing":
        "Google requires the client secret for Desktop app clients. Put the client secret of the OAuth client into the configuration (client_secret)."
        / "Google cere secretul clientului pentru clienții de tip Desktop app. Treceți secretul clientului OAuth în configurație ('client_secret').";
    REDIRECT_URI_MISMATCH = "redirect-uri-mismatch":
        "The provider refused the redirect address. Use an OAuth client of type Desktop app (it allows any loopback port), and keep redirect.host 127.0.0.1 or localhost."
        / "Furnizorul a refuzat adresa de redirecționare. Folosiți un client OAuth de tip Desktop app (acceptă orice port local) și lăsați 'redirect.host' pe '127.0.0.1' sau 'localhost'.";
    NO_BROWSER = "no-browser":
        "No web browser could be started. Install or set a default browser, or give the library a url_opener callback that shows the authorization URL to the user."
        / "Nu a putut fi pornit niciun browser web. Instalați sau setați un browser implicit ori dați bibliotecii o funcție 'url_opener' care îi arată utilizatorului adresa de autorizare.";
    STATE_MISMATCH = "state-mismatch":
        "The browser returned an answer that does not belong to this sign-in. Close old sign-in tabs and authorize again."
        / "Browserul a trimis un răspuns care nu aparține acestei autentificări. Închideți filele vechi de autentificare și autorizați din nou.";
    NO_REFRESH_TOKEN_ISSUED = "no-refresh-token-issued":
        "The provider did not issue a refresh token. Authorize again; the library asks for offline access and forces the consent screen, so make sure the user completes it."
        / "Furnizorul nu a emis niciun token de reîmprospătare. Autorizați din nou; biblioteca cere acces offline și impune ecranul de consimțământ, așa că asigurați-vă că utilizatorul îl parcurge până la capăt.";
    TLS_INSPECTION = "tls-inspection":
        "The certificate was issued by an authority that is not trusted here, which usually means TLS inspection by a proxy or antivirus. Install its root certificate in the system store or set tls.extra_ca_file to it."
        / "Certificatul a fost emis de o autoritate care nu este de încredere pe acest calculator, ceea ce înseamnă de obicei că un proxy sau un antivirus inspectează TLS. Instalați certificatul lui rădăcină în depozitul de certificate al sistemului sau indicați-l în 'tls.extra_ca_file'.";
    MESSAGE_TOO_LARGE = "message-too-large":
        "The message is larger than the provider accepts (Gmail: 25 MB of attachments, 35 MB encoded). Send fewer or smaller attachments, or share large files by link."
        / "Mesajul este mai mare decât acceptă furnizorul (Gmail: 25 MB de atașamente, 35 MB după codificare). Trimiteți mai puține atașamente sau mai mici ori partajați fișierele mari printr-un link.";
    RECIPIENT_REFUSED = "recipient-refused":
        "A recipient address was refused permanently; nothing was sent. Correct or remove the address named in the error and send again."
        / "O adresă de destinatar a fost refuzată definitiv; nu s-a trimis nimic. Corectați sau eliminați adresa numită în eroare și trimiteți din nou.";
    DAILY_LIMIT = "daily-limit":
        "The account reached its daily sending limit. Sending resumes within 24 hours; spread large mailings over several days or accounts."
        / "Contul a atins limita zilnică de trimitere. Trimiterea se reia în cel mult 24 de ore; împărțiți trimiterile mari pe mai multe zile sau pe mai multe conturi.";
    SMTP_AUTH_DISABLED = "smtp-auth-disabled":
        "SMTP AUTH is disabled for this Microsoft 365 mailbox or tenant. An administrator must enable Authenticated SMTP for the mailbox (Microsoft 365 admin center > Users > the mailbox > Mail > Manage email apps > Authenticated SMTP); or set \"transport\": \"graph\", which does not need SMTP AUTH."
        / "SMTP AUTH este dezactivat pentru această cutie poștală sau acest tenant Microsoft 365. Un administrator trebuie să activeze Authenticated SMTP pentru cutia poștală (Microsoft 365 admin center > Users > cutia poștală > Mail > Manage email apps > Authenticated SMTP); sau puneți \"transport\": \"graph\", care nu are nevoie de SMTP AUTH.";
    MS_PUBLIC_CLIENT_SECRET = "microsoft-public-client-secret":
        "This Microsoft app registration is a public client, so Microsoft refuses a client secret (AADSTS700025). Remove client_secret from the configuration."
        / "Această înregistrare de aplicație Microsoft este un client public, deci Microsoft refuză un secret de client (AADSTS700025). Scoateți client_secret din configurație.";
    MS_CLIENT_SECRET_REQUIRED = "microsoft-client-secret-required":
        "This Microsoft app registration is confidential and wants its secret (AADSTS7000218). Add the platform Mobile and desktop applications with http://localhost and set Allow public client flows to Yes (Entra admin center, the app's Authentication page); or put the secret's Value into client_secret."
        / "Această înregistrare de aplicație Microsoft este confidențială și cere secretul ei (AADSTS7000218). Adăugați platforma Mobile and desktop applications cu http://localhost și puneți Allow public client flows pe Yes (Entra admin center, pagina Authentication a aplicației); sau puneți valoarea secretului (Value) în client_secret.";
    MS_INVALID_SECRET = "microsoft-invalid-secret":
        "Microsoft rejected the client secret (AADSTS7000215). Copy the secret's Value, not its Secret ID, from Certificates & secrets; or remove client_secret and use a public client."
        / "Microsoft a respins secretul de client (AADSTS7000215). Copiați valoarea secretului (Value), nu Secret ID, din Certificates & secrets; sau scoateți client_secret și folosiți un client public.";
    MS_APP_NOT_FOUND = "microsoft-app-not-found":
        "Microsoft does not know this client_id in this tenant (AADSTS700016). Copy the Application (client) ID from the app registration; a single-tenant app needs its tenant ID as tenant, not common."
        / "Microsoft nu cunoaște acest client_id în acest tenant (AADSTS700016). Copiați Application (client) ID din înregistrarea aplicației; o aplicație single-tenant are nevoie de ID-ul tenantului ca tenant, nu de common.";
    MS_CONSENT_REQUIRED = "microsoft-consent-required":
        "The user or an administrator has not consented to this app's permissions (AADSTS65001). An administrator grants consent in the Entra admin center (App registrations > the app > API permissions > Grant admin consent); then call oauthmail_authorize again."
        / "Utilizatorul sau un administrator nu și-a dat consimțământul pentru permisiunile acestei aplicații (AADSTS65001). Un administrator dă consimțământul în Entra admin center (App registrations > aplicația > API permissions > Grant admin consent); apoi apelați din nou oauthmail_authorize.";
    MS_MFA_REQUIRED = "microsoft-mfa-required":
        "Microsoft wants multi-factor authentication for this account (AADSTS50076/50078). Call oauthmail_authorize again so the user can complete it in the browser."
        / "Microsoft cere autentificare multifactor pentru acest cont (AADSTS50076/50078). Apelați din nou oauthmail_authorize, ca utilizatorul să o poată finaliza în browser.";
    MS_CONDITIONAL_ACCESS = "microsoft-conditional-access":
        "A Conditional Access policy of the organisation blocks this sign-in (AADSTS53003). Ask the Entra administrator which policy applies (Sign-in logs) and to allow this app, device or location."
        / "O politică Conditional Access a organizației blochează această autentificare (AADSTS53003). Întrebați administratorul Entra ce politică se aplică (Sign-in logs) și cereți-i să permită această aplicație, acest dispozitiv sau această locație.";
    MS_REFRESH_INACTIVE = "microsoft-refresh-inactive":
        "The saved Microsoft authorization expired because it was not used for a long time (AADSTS700082: 90 days). Call oauthmail_authorize again; sending at least once every 90 days keeps it valid."
        / "Autorizarea Microsoft salvată a expirat pentru că nu a fost folosită mult timp (AADSTS700082: 90 de zile). Apelați din nou oauthmail_authorize; o trimitere cel puțin o dată la 90 de zile o păstrează validă.";
    MS_GRANT_REVOKED = "microsoft-grant-revoked":
        "Microsoft no longer accepts this refresh token: it was revoked (password change, Revoke sessions) or already replaced by a newer one (AADSTS50173/70000). Call oauthmail_authorize again, and always store the token document a send or refresh returns."
        / "Microsoft nu mai acceptă acest token de reîmprospătare: a fost revocat (schimbare de parolă, Revoke sessions) sau deja înlocuit de unul mai nou (AADSTS50173/70000). Apelați din nou oauthmail_authorize și păstrați întotdeauna documentul de token întors de o trimitere sau o reîmprospătare.";
    MS_SEND_AS_DENIED = "microsoft-send-as-denied":
        "Exchange refused the From address: the signed-in account may not send as it (SendAsDenied). Send from the account's own address, or have an Exchange administrator grant Send As on that mailbox (Exchange admin center > Recipients > Mailboxes > the mailbox > Mailbox delegation)."
        / "Exchange a refuzat adresa From: contul autentificat nu are voie să trimită în numele ei (SendAsDenied). Trimiteți de pe adresa proprie a contului sau cereți unui administrator Exchange să acorde Send As pe acea cutie poștală (Exchange admin center > Recipients > Mailboxes > cutia poștală > Mailbox delegation).";
    MS_NO_REVOCATION = "microsoft-no-revocation":
        "Microsoft has no endpoint through which a desktop app revokes its tokens, so the library only forgot this token; the app's access remains until it is removed. Work or school accounts: https://myapplications.microsoft.com (or an administrator: Entra admin center > Enterprise applications); personal accounts: https://account.live.com/consent/Manage."
        / "Microsoft nu are o adresă prin care o aplicație desktop să-și revoce tokenurile, așa că biblioteca doar a uitat acest token; accesul aplicației rămâne până când este retras. Conturi de serviciu sau școală: https://myapplications.microsoft.com (sau un administrator: Entra admin center > Enterprise applications); conturi personale: https://account.live.com/consent/Manage.";
    PROXY = "proxy":
        "The HTTP proxy could not be used. Check the proxy address in the configuration and that the proxy allows HTTPS (CONNECT) to the provider."
        / "Proxyul HTTP nu a putut fi folosit. Verificați adresa proxyului din configurație și că proxyul permite HTTPS (CONNECT) către furnizor.";

    // Service accounts with domain-wide delegation (issue 16).
    SERVICE_ACCOUNT_DELEGATION = "service-account-delegation":
        "The Workspace domain has not authorized this service account for the scope the transport needs. In the Google Admin console, Security > Access and data control > API controls > Domain-wide delegation, add the service account's client ID (the number in the key file's client_id, not its e-mail) with exactly https://www.googleapis.com/auth/gmail.send for the Gmail API or https://mail.google.com/ for SMTP. A new entry can take some minutes to apply."
        / "Domeniul Workspace nu a autorizat acest cont de serviciu pentru permisiunea de care are nevoie transportul. În consola de administrare Google, Security > Access and data control > API controls > Domain-wide delegation, adăugați ID-ul de client al contului de serviciu (numărul din câmpul client_id al fișierului cheii, nu adresa lui de e-mail) cu exact https://www.googleapis.com/auth/gmail.send pentru Gmail API sau https://mail.google.com/ pentru SMTP. O intrare nouă poate avea nevoie de câteva minute ca să se aplice.";
    SERVICE_ACCOUNT_SUBJECT = "service-account-subject":
        "Google does not know the subject as an active user of the Workspace domain. Send as the address of a real mailbox of the domain (not a group, an alias, or a suspended or deleted user) and check its spelling."
        / "Google nu cunoaște subiectul ca utilizator activ al domeniului Workspace. Trimiteți în numele adresei unei căsuțe reale a domeniului (nu a unui grup, a unui alias sau a unui utilizator suspendat ori șters) și verificați cum este scrisă.";
    SERVICE_ACCOUNT_KEY = "service-account-key":
        "Google refused the signature of the service-account key: the key was deleted or disabled, or the key file belongs to another service account. Create a new JSON key for the service account (Google Cloud console > IAM & Admin > Service accounts > Keys > Add key), replace the file named in service_account_file and restart the program."
        / "Google a refuzat semnătura făcută cu cheia contului de serviciu: cheia a fost ștearsă sau dezactivată, ori fișierul cheii aparține altui cont de serviciu. Creați o cheie JSON nouă pentru contul de serviciu (consola Google Cloud > IAM & Admin > Service accounts > Keys > Add key), înlocuiți fișierul numit în service_account_file și reporniți programul.";
    SERVICE_ACCOUNT_CLOCK = "service-account-clock":
        "Google refused the service-account request because its time is off: the system clock of this computer is wrong by more than a few minutes. Set the system clock right (Windows: Settings > Time & language > Date & time > Sync now; in a domain, check the Windows Time service), then try again."
        / "Google a refuzat cererea contului de serviciu pentru că ora ei nu este corectă: ceasul sistemului de pe acest calculator greșește cu mai mult de câteva minute. Potriviți ceasul sistemului (Windows: Settings > Time & language > Date & time > Sync now; într-un domeniu, verificați serviciul Windows Time), apoi încercați din nou.";
    SERVICE_ACCOUNT_NOT_FOUND = "service-account-not-found":
        "Google does not know the service account of the key file: it was deleted, or the file is damaged. Restore the service account (possible within 30 days of its deletion) or create a new one with a new key, and give its client ID domain-wide delegation again."
        / "Google nu cunoaște contul de serviciu din fișierul cheii: a fost șters sau fișierul este deteriorat. Restaurați contul de serviciu (se poate în cel mult 30 de zile de la ștergere) sau creați unul nou, cu o cheie nouă, și dați din nou delegare la nivel de domeniu pentru ID-ul lui de client.";
    SERVICE_ACCOUNT_NO_CONSENT = "service-account-no-consent":
        "With service_account_file the library needs no consent and oauthmail_authorize is not used. Send and refresh with the token reference {\"subject\": \"user@your-domain\"} instead of a token document."
        / "Cu service_account_file, biblioteca nu are nevoie de consimțământ și oauthmail_authorize nu se folosește. Trimiteți și reîmprospătați cu referința {\"subject\": \"utilizator@domeniul-dumneavoastră\"} în locul unui document cu tokenuri.";
    SERVICE_ACCOUNT_NOT_CONFIGURED = "service-account-not-configured":
        "The token reference {\"subject\": …} works only with a service-account key file: add service_account_file to the configuration, or pass a token document from oauthmail_authorize instead."
        / "Referința {\"subject\": …} funcționează numai cu fișierul cheii unui cont de serviciu: adăugați service_account_file în configurație sau dați în schimb un document cu tokenuri obținut de la oauthmail_authorize.";
    DESKTOP_CLIENT_FILE = "desktop-client-file":
        "Use the client file of an OAuth client of type Desktop app: in the Google Cloud console open Clients, create a client of type Desktop app, download its JSON file and set client_secrets_file to it."
        / "Folosiți fișierul unui client OAuth de tip Desktop app: în consola Google Cloud deschideți Clients, creați un client de tip Desktop app, descărcați fișierul lui JSON și indicați-l în client_secrets_file.";
    AUTHORIZE_TIMEOUT = "authorize-timeout":
        "No answer came back from the browser in time. If the browser reached Google, the sign-in was usually not finished: the account is not a test user of the app (Google shows Error 403: access_denied; add it under Audience > Test users), or the consent page was left open. Otherwise check the network connection; then authorize again."
        / "Din browser nu a venit niciun răspuns la timp. Dacă browserul a ajuns la Google, de obicei autentificarea nu a fost dusă la capăt: contul nu este utilizator de test al aplicației (Google afișează Error 403: access_denied; adăugați-l la Audience > Test users) sau pagina de consimțământ a rămas deschisă. Altfel verificați conexiunea la rețea; apoi autorizați din nou.";
    SMTP_PORT_BLOCKED = "smtp-port-blocked":
        "The SMTP server could not be reached on its port. A firewall often blocks outgoing SMTP (ports 465 and 587): ask for the port to be opened, or use the gmail_api transport, which uses the HTTPS port 443. SMTP never goes through the HTTP proxy."
        / "Serverul SMTP nu a putut fi contactat pe portul lui. Un firewall blochează adesea SMTP-ul spre exterior (porturile 465 și 587): cereți deschiderea portului sau folosiți transportul gmail_api, care folosește portul HTTPS 443. SMTP nu trece niciodată prin proxy-ul HTTP.";
    CONNECT_DROPPED = "connect-dropped":
        "The server did not answer at all, which usually means a firewall drops the traffic. Check that this computer may connect to the provider (HTTPS port 443; for SMTP port 465 or 587, or use the gmail_api transport); raise timeouts.connect_s only if the network is merely slow."
        / "Serverul nu a răspuns deloc, ceea ce înseamnă de obicei că un firewall aruncă traficul. Verificați că acest calculator se poate conecta la furnizor (portul HTTPS 443; pentru SMTP portul 465 sau 587, ori folosiți transportul gmail_api); măriți timeouts.connect_s doar dacă rețeaua este doar lentă.";
    FROM_REWRITTEN = "from-rewritten":
        "Gmail sends only from the account's own address or one of its verified Send mail as addresses, and silently replaces any other sender. To send as this address, add it in Gmail (Settings > Accounts > Send mail as > Add another email address) and confirm it; or send from the account's own address."
        / "Gmail trimite doar de la adresa contului sau de la una dintre adresele lui verificate din Send mail as și înlocuiește fără avertisment orice alt expeditor. Pentru a trimite de la această adresă, adăugați-o în Gmail (Settings > Accounts > Send mail as > Add another email address) și confirmați-o; sau trimiteți de la adresa contului.";
    // The token store (config.store) and the Testing-status diagnosis it makes possible.
    REAUTHORIZE_TESTING_STATUS = "reauthorize-testing-status":
        "The refresh token expired 7 days after the authorization: the Google Cloud app is in Testing status, where Google ends every authorization after 7 days. Publish the app (Google Auth Platform > Audience > Publish app), then call oauthmail_authorize again; tokens issued after publishing do not expire this way."
        / "Tokenul de reîmprospătare a expirat la 7 zile după autorizare: aplicația Google Cloud este în starea Testing, în care Google încheie orice autorizare după 7 zile. Publicați aplicația (Google Auth Platform > Audience > Publish app), apoi apelați din nou 'oauthmail_authorize'; tokenurile emise după publicare nu mai expiră astfel.";
    REAUTHORIZE_REVOKED = "reauthorize-revoked":
        "The refresh token was revoked or has expired (the user removed the app's access, changed the Google password, or the token went unused for six months). Call oauthmail_authorize again so the user can sign in and consent."
        / "Tokenul de reîmprospătare a fost revocat sau a expirat (utilizatorul a retras accesul aplicației, și-a schimbat parola Google sau tokenul nu a fost folosit șase luni). Apelați din nou 'oauthmail_authorize' ca utilizatorul să se poată autentifica și să își dea consimțământul.";
    STORE_NO_ACCOUNT = "store-no-account":
        "The token store has no entry for this account. Call oauthmail_authorize with this store in the configuration (it saves the token under the account's email), or correct the account name."
        / "Depozitul de tokenuri nu are nicio intrare pentru acest cont. Apelați 'oauthmail_authorize' cu acest depozit în configurație (salvează tokenul sub adresa de email a contului) sau corectați numele contului.";
    STORE_UNREADABLE = "store-unreadable":
        "The token store file could not be read or decrypted, so it was left untouched. If it was copied from another Windows user or machine, or written with another config.store.protect, use it there or with the same setting; otherwise restore it from a backup, or move it away and authorize each account again."
        / "Fișierul depozitului de tokenuri nu a putut fi citit sau decriptat, așa că a fost lăsat neatins. Dacă a fost copiat de la alt utilizator Windows sau de pe alt calculator ori scris cu altă valoare 'config.store.protect', folosiți-l acolo sau cu aceeași setare; altfel refaceți-l dintr-o copie de siguranță sau mutați-l deoparte și autorizați din nou fiecare cont.";
    STORE_WRITE = "store-write":
        "The token store could not be written. Check that its folder exists (the library creates the file, not the folder) and that the program may create and replace files there; on a network share, that the share is reachable."
        / "Depozitul de tokenuri nu a putut fi scris. Verificați că folderul lui există (biblioteca creează fișierul, nu și folderul) și că programul poate crea și înlocui fișiere acolo; pe un share de rețea, că share-ul este accesibil.";
    STORE_LOCKED = "store-locked":
        "Another program held the token store's lock for longer than this call's timeout. Look for a hung program using the same store (on a network share: a workstation that lost its connection) and try again; raise timeouts.io_s if refreshes are slow."
        / "Alt program a ținut blocarea depozitului de tokenuri mai mult decât limita de timp a acestui apel. Căutați un program blocat care folosește același depozit (pe un share de rețea: o stație care și-a pierdut conexiunea) și încercați din nou; măriți 'timeouts.io_s' dacă reîmprospătările durează mult.";
    STORE_PROTECT_UNAVAILABLE = "store-protect-unavailable":
        "DPAPI protection ('user', 'machine') exists only on Windows. On this platform set config.store.protect to \"none\" and keep the file in a folder only this account can read (the library writes it with mode 0600)."
        / "Protecția DPAPI ('user', 'machine') există doar pe Windows. Pe această platformă setați 'config.store.protect' la '\"none\"' și păstrați fișierul într-un folder pe care îl poate citi doar acest cont (biblioteca îl scrie cu drepturile 0600).";
}

/// The hint used when nothing more specific is known about a failure.
pub fn default_for(status: Status) -> &'static Hint {
    match status {
        Status::Ok => &OK,
        Status::InvalidArgument => &INVALID_ARGUMENT,
        Status::Cancelled => &CANCELLED,
        Status::Timeout => &TIMEOUT,
        Status::AccessDenied => &ACCESS_DENIED,
        Status::Reauthorize => &REAUTHORIZE,
        Status::InsufficientScope => &INSUFFICIENT_SCOPE,
        Status::AuthFailed => &AUTH_FAILED,
        Status::Network => &NETWORK,
        Status::Tls => &TLS,
        Status::RateLimited => &RATE_LIMITED,
        Status::Rejected => &REJECTED,
        Status::Provider => &PROVIDER,
        Status::Io => &IO,
        Status::Internal => &INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_default_hint_and_ids_are_unique() {
        for s in Status::ALL {
            assert!(!default_for(s).text.is_empty());
        }
        let mut ids: Vec<_> = ALL.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "hint ids must be unique");
    }
}
