//! Every `hint` the library can put into an error document, in one catalogue.
//!
//! A hint tells a person what to do. The troubleshooting guides (`docs/troubleshooting.*.md`) have an
//! entry for each hint here, under a heading that carries its `id`, and the English guide quotes
//! the text word for word; a test keeps the two in step. To add a hint: add a constant, list it in
//! [`ALL`], and add its entry to both guides.

use crate::status::Status;

/// One hint: a stable id (used as the anchor in the troubleshooting guides) and its text.
#[derive(Debug, PartialEq, Eq)]
pub struct Hint {
    pub id: &'static str,
    pub text: &'static str,
}

macro_rules! hints {
    ($($name:ident = $id:literal : $text:literal;)*) => {
        $(pub const $name: Hint = Hint { id: $id, text: $text };)*
        /// Every hint, for the documentation check.
        pub const ALL: &[&Hint] = &[$(&$name),*];
    };
}

hints! {
    // Defaults, one per status: used when nothing more specific is known.
    OK = "ok": "No action needed.";
    INVALID_ARGUMENT = "invalid-argument":
        "Correct the input named in 'field' (see the API reference for its format) and call again.";
    CANCELLED = "cancelled": "The call was cancelled by the application; start it again when the user asks.";
    TIMEOUT = "timeout":
        "The server or the user did not answer in time. Check the network connection and try again; raise timeouts.io_s or timeouts.authorize_s if this happens often.";
    ACCESS_DENIED = "access-denied":
        "The user declined access or the provider refused this account. Authorize again and choose Allow; if the app is in Testing status, add the account as a test user (Google Cloud console, Audience).";
    REAUTHORIZE = "reauthorize":
        "The saved authorization is no longer valid. Call oauthmail_authorize again so the user can sign in and consent, then store the new token document.";
    INSUFFICIENT_SCOPE = "insufficient-scope":
        "The token does not carry the permission this transport needs. Authorize again with the scopes the transport requires (the library's defaults are right for each transport).";
    AUTH_FAILED = "auth-failed":
        "The provider rejected the client or the token. Check client_id and client_secret against the OAuth client in the provider's console, then authorize again.";
    NETWORK = "network":
        "The provider could not be reached. Check the internet connection, the firewall and the proxy setting, then try again.";
    TLS = "tls":
        "The secure connection could not be verified. If your network inspects TLS (a corporate proxy or antivirus), install its root certificate in the system store or set tls.extra_ca_file.";
    RATE_LIMITED = "rate-limited":
        "The provider is limiting how much this account sends. Wait for retry_after_s seconds (or a few minutes) before sending again; daily sending limits reset within 24 hours.";
    REJECTED = "rejected":
        "The provider refused the message or a recipient permanently. Check the addresses and the message size; nothing was sent.";
    PROVIDER = "provider":
        "The provider failed or answered unexpectedly. Try again later; if it persists, check the provider's status page.";
    IO = "io": "A local file could not be read or written. Check that the path exists and that the program may read it.";
    INTERNAL = "internal":
        "This is a bug in liboauthmail. Please report it with the log (set a logger at level 5); no secrets are logged.";

    // Specific causes.
    REAUTHORIZE_TESTING_EXPIRY = "reauthorize-testing-expiry":
        "The refresh token has expired or was revoked. Call oauthmail_authorize again. If this happens about 7 days after each authorization, the Google Cloud app is in Testing status: publish it (Audience > Publish app) to stop refresh tokens from expiring.";
    REAUTHORIZE_NO_REFRESH_TOKEN = "reauthorize-no-refresh-token":
        "The token document holds no refresh token, so the access token cannot be renewed. Call oauthmail_authorize again and store the whole token document it returns.";
    INSUFFICIENT_SCOPE_SMTP = "insufficient-scope-smtp":
        "Gmail SMTP accepts only tokens with the scope https://mail.google.com/. Add that scope to the consent screen (Data Access), use the library's default scopes for the smtp transport, and authorize again; or use the gmail_api transport with gmail.send.";
    INSUFFICIENT_SCOPE_API = "insufficient-scope-api":
        "The Gmail API needs the scope https://www.googleapis.com/auth/gmail.send (or https://mail.google.com/). Add it on the consent screen (Data Access), authorize again and make sure the user leaves the Gmail permission ticked.";
    GMAIL_API_DISABLED = "gmail-api-disabled":
        "The Gmail API is not enabled in the Google Cloud project of this OAuth client. Enable it (APIs & Services > Library > Gmail API > Enable), wait a few minutes and try again.";
    INVALID_CLIENT = "invalid-client":
        "The provider does not recognise this OAuth client or its secret. Copy the client ID and client secret again from the Google Cloud console (Clients > your Desktop app client) into the configuration.";
    UNAUTHORIZED_CLIENT = "unauthorized-client":
        "The refresh token belongs to a different OAuth client than the one configured. Use the client it was issued to, or authorize again with this client.";
    CLIENT_SECRET_MISSING = "client-secret-missing":
        "Google requires the client secret for Desktop app clients. Put the client secret of the OAuth client into the configuration (client_secret).";
    REDIRECT_URI_MISMATCH = "redirect-uri-mismatch":
        "The provider refused the redirect address. Use an OAuth client of type Desktop app (it allows any loopback port), and keep redirect.host 127.0.0.1 or localhost.";
    NO_BROWSER = "no-browser":
        "No web browser could be started. Install or set a default browser, or give the library a url_opener callback that shows the authorization URL to the user.";
    STATE_MISMATCH = "state-mismatch":
        "The browser returned an answer that does not belong to this sign-in. Close old sign-in tabs and authorize again.";
    NO_REFRESH_TOKEN_ISSUED = "no-refresh-token-issued":
        "The provider did not issue a refresh token. Authorize again; the library asks for offline access and forces the consent screen, so make sure the user completes it.";
    TLS_INSPECTION = "tls-inspection":
        "The certificate was issued by an authority that is not trusted here, which usually means TLS inspection by a proxy or antivirus. Install its root certificate in the system store or set tls.extra_ca_file to it.";
    MESSAGE_TOO_LARGE = "message-too-large":
        "The message is larger than the provider accepts (Gmail: 25 MB of attachments, 35 MB encoded). Send fewer or smaller attachments, or share large files by link.";
    RECIPIENT_REFUSED = "recipient-refused":
        "A recipient address was refused permanently; nothing was sent. Correct or remove the address named in the error and send again.";
    DAILY_LIMIT = "daily-limit":
        "The account reached its daily sending limit. Sending resumes within 24 hours; spread large mailings over several days or accounts.";
    SMTP_AUTH_DISABLED = "smtp-auth-disabled":
        "SMTP AUTH is disabled for this Microsoft 365 mailbox or tenant. An administrator must enable Authenticated SMTP for the mailbox (Microsoft 365 admin center > Users > the mailbox > Mail > Manage email apps > Authenticated SMTP); or set \"transport\": \"graph\", which does not need SMTP AUTH.";
    MS_PUBLIC_CLIENT_SECRET = "microsoft-public-client-secret":
        "This Microsoft app registration is a public client, so Microsoft refuses a client secret (AADSTS700025). Remove client_secret from the configuration.";
    MS_CLIENT_SECRET_REQUIRED = "microsoft-client-secret-required":
        "This Microsoft app registration is confidential and wants its secret (AADSTS7000218). Add the platform Mobile and desktop applications with http://localhost and set Allow public client flows to Yes (Entra admin center, the app's Authentication page); or put the secret's Value into client_secret.";
    MS_INVALID_SECRET = "microsoft-invalid-secret":
        "Microsoft rejected the client secret (AADSTS7000215). Copy the secret's Value, not its Secret ID, from Certificates & secrets; or remove client_secret and use a public client.";
    MS_APP_NOT_FOUND = "microsoft-app-not-found":
        "Microsoft does not know this client_id in this tenant (AADSTS700016). Copy the Application (client) ID from the app registration; a single-tenant app needs its tenant ID as tenant, not common.";
    MS_CONSENT_REQUIRED = "microsoft-consent-required":
        "The user or an administrator has not consented to this app's permissions (AADSTS65001). An administrator grants consent in the Entra admin center (App registrations > the app > API permissions > Grant admin consent); then call oauthmail_authorize again.";
    MS_MFA_REQUIRED = "microsoft-mfa-required":
        "Microsoft wants multi-factor authentication for this account (AADSTS50076/50078). Call oauthmail_authorize again so the user can complete it in the browser.";
    MS_CONDITIONAL_ACCESS = "microsoft-conditional-access":
        "A Conditional Access policy of the organisation blocks this sign-in (AADSTS53003). Ask the Entra administrator which policy applies (Sign-in logs) and to allow this app, device or location.";
    MS_REFRESH_INACTIVE = "microsoft-refresh-inactive":
        "The saved Microsoft authorization expired because it was not used for a long time (AADSTS700082: 90 days). Call oauthmail_authorize again; sending at least once every 90 days keeps it valid.";
    MS_GRANT_REVOKED = "microsoft-grant-revoked":
        "Microsoft no longer accepts this refresh token: it was revoked (password change, Revoke sessions) or already replaced by a newer one (AADSTS50173/70000). Call oauthmail_authorize again, and always store the token document a send or refresh returns.";
    MS_SEND_AS_DENIED = "microsoft-send-as-denied":
        "Exchange refused the From address: the signed-in account may not send as it (SendAsDenied). Send from the account's own address, or have an Exchange administrator grant Send As on that mailbox (Exchange admin center > Recipients > Mailboxes > the mailbox > Mailbox delegation).";
    MS_NO_REVOCATION = "microsoft-no-revocation":
        "Microsoft has no endpoint through which a desktop app revokes its tokens, so the library only forgot this token; the app's access remains until it is removed. Work or school accounts: https://myapplications.microsoft.com (or an administrator: Entra admin center > Enterprise applications); personal accounts: https://account.live.com/consent/Manage.";
    PROXY = "proxy":
        "The HTTP proxy could not be used. Check the proxy address in the configuration and that the proxy allows HTTPS (CONNECT) to the provider.";

    // Service accounts with domain-wide delegation (issue 16).
    SERVICE_ACCOUNT_DELEGATION = "service-account-delegation":
        "The Workspace domain has not authorized this service account for the scope the transport needs. In the Google Admin console, Security > Access and data control > API controls > Domain-wide delegation, add the service account's client ID (the number in the key file's client_id, not its e-mail) with exactly https://www.googleapis.com/auth/gmail.send for the Gmail API or https://mail.google.com/ for SMTP. A new entry can take some minutes to apply.";
    SERVICE_ACCOUNT_SUBJECT = "service-account-subject":
        "Google does not know the subject as an active user of the Workspace domain. Send as the address of a real mailbox of the domain (not a group, an alias, or a suspended or deleted user) and check its spelling.";
    SERVICE_ACCOUNT_KEY = "service-account-key":
        "Google refused the signature of the service-account key: the key was deleted or disabled, or the key file belongs to another service account. Create a new JSON key for the service account (Google Cloud console > IAM & Admin > Service accounts > Keys > Add key), replace the file named in service_account_file and restart the program.";
    SERVICE_ACCOUNT_CLOCK = "service-account-clock":
        "Google refused the service-account request because its time is off: the system clock of this computer is wrong by more than a few minutes. Set the system clock right (Windows: Settings > Time & language > Date & time > Sync now; in a domain, check the Windows Time service), then try again.";
    SERVICE_ACCOUNT_NOT_FOUND = "service-account-not-found":
        "Google does not know the service account of the key file: it was deleted, or the file is damaged. Restore the service account (possible within 30 days of its deletion) or create a new one with a new key, and give its client ID domain-wide delegation again.";
    SERVICE_ACCOUNT_NO_CONSENT = "service-account-no-consent":
        "With service_account_file the library needs no consent and oauthmail_authorize is not used. Send and refresh with the token reference {\"subject\": \"user@your-domain\"} instead of a token document.";
    SERVICE_ACCOUNT_NOT_CONFIGURED = "service-account-not-configured":
        "The token reference {\"subject\": …} works only with a service-account key file: add service_account_file to the configuration, or pass a token document from oauthmail_authorize instead.";
    // The token store (config.store) and the Testing-status diagnosis it makes possible.
    REAUTHORIZE_TESTING_STATUS = "reauthorize-testing-status":
        "The refresh token expired 7 days after the authorization: the Google Cloud app is in Testing status, where Google ends every authorization after 7 days. Publish the app (Google Auth Platform > Audience > Publish app), then call oauthmail_authorize again; tokens issued after publishing do not expire this way.";
    REAUTHORIZE_REVOKED = "reauthorize-revoked":
        "The refresh token was revoked or has expired (the user removed the app's access, changed the Google password, or the token went unused for six months). Call oauthmail_authorize again so the user can sign in and consent.";
    STORE_NO_ACCOUNT = "store-no-account":
        "The token store has no entry for this account. Call oauthmail_authorize with this store in the configuration (it saves the token under the account's email), or correct the account name.";
    STORE_UNREADABLE = "store-unreadable":
        "The token store file could not be read or decrypted, so it was left untouched. If it was copied from another Windows user or machine, or written with another config.store.protect, use it there or with the same setting; otherwise restore it from a backup, or move it away and authorize each account again.";
    STORE_WRITE = "store-write":
        "The token store could not be written. Check that its folder exists (the library creates the file, not the folder) and that the program may create and replace files there; on a network share, that the share is reachable.";
    STORE_LOCKED = "store-locked":
        "Another program held the token store's lock for longer than this call's timeout. Look for a hung program using the same store (on a network share: a workstation that lost its connection) and try again; raise timeouts.io_s if refreshes are slow.";
    STORE_PROTECT_UNAVAILABLE = "store-protect-unavailable":
        "DPAPI protection ('user', 'machine') exists only on Windows. On this platform set config.store.protect to \"none\" and keep the file in a folder only this account can read (the library writes it with mode 0600).";
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
