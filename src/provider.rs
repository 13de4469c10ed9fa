//! Providers as data: endpoints, default scopes and client-authentication rules for Google,
//! Microsoft and custom servers, and the scope policy: which granted scopes may send by which
//! transport ([`ProviderSpec::check_send_scope`], the one place that answers it and builds the
//! INSUFFICIENT_SCOPE error). Code elsewhere asks the [`ProviderSpec`]; it never branches on a
//! provider's name.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hint::{self, Hint};
use crate::status::Status;

/// The `provider` field of the configuration and of token documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Google,
    Microsoft,
    Custom,
}

/// A transport the library has: the resolved `transport` of the configuration, and the send
/// result's `transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    GmailApi,
    Smtp,
    /// Microsoft Graph `sendMail` (src/transport/graph.rs).
    Graph,
}

impl TransportKind {
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::GmailApi => "gmail_api",
            TransportKind::Smtp => "smtp",
            TransportKind::Graph => "graph",
        }
    }
}

/// Default endpoints; `{tenant}` is replaced by the configured tenant.
#[derive(Debug)]
pub struct DefaultEndpoints {
    pub authorization: &'static str,
    pub token: &'static str,
    pub revocation: Option<&'static str>,
    pub userinfo: Option<&'static str>,
    pub gmail_api: Option<&'static str>,
    pub smtp: Option<&'static str>,
    pub graph: Option<&'static str>,
}

/// Everything that differs between providers.
#[derive(Debug)]
pub struct ProviderSpec {
    pub kind: ProviderKind,
    pub name: &'static str,
    /// None for `custom`: every endpoint must be configured.
    pub endpoints: Option<DefaultEndpoints>,
    pub default_transport: TransportKind,
    pub transports: &'static [TransportKind],
    /// Identity scopes, always requested so the account's email is known.
    pub identity_scopes: &'static [&'static str],
    /// Scopes a transport needs; a token must carry at least one of them to send.
    pub send_scopes: fn(TransportKind) -> &'static [&'static str],
    /// Whether the token endpoint insists on the client secret (Google Desktop clients do).
    pub requires_client_secret: bool,
    /// Extra parameters of the authorization request.
    pub authorization_params: &'static [(&'static str, &'static str)],
    /// More parameters when the host gave no `login_hint` (Microsoft: let the user pick the
    /// account instead of taking whichever the browser is signed in with).
    pub authorization_params_without_hint: &'static [(&'static str, &'static str)],
    /// Whether a refresh request names the scopes (Microsoft's v2 token endpoint wants `scope`:
    /// one token is for one resource, providers.md §4.2).
    pub refresh_sends_scope: bool,
    /// A provider without a revocation endpoint for installed apps (Microsoft): revoke forgets
    /// the token instead and answers with this hint (where the user removes the app's consent).
    pub revoke_forgets: Option<&'static Hint>,
    /// Whether refresh responses rotate the refresh token (Microsoft does).
    pub rotates_refresh_tokens: bool,
    pub default_tenant: Option<&'static str>,
}

pub const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
pub const MAIL_GOOGLE: &str = "https://mail.google.com/";

fn google_send_scopes(t: TransportKind) -> &'static [&'static str] {
    match t {
        // Only mail.google.com works for SMTP; the API also accepts narrower scopes.
        TransportKind::Smtp => &[MAIL_GOOGLE],
        _ => &[
            GMAIL_SEND,
            MAIL_GOOGLE,
            "https://www.googleapis.com/auth/gmail.compose",
            "https://www.googleapis.com/auth/gmail.modify",
        ],
    }
}

fn microsoft_send_scopes(t: TransportKind) -> &'static [&'static str] {
    match t {
        // Graph answers with short names in the token response's `scope` (providers.md §4.6).
        TransportKind::Graph => &["https://graph.microsoft.com/Mail.Send", "Mail.Send"],
        _ => &[
            "https://outlook.office.com/SMTP.Send",
            "https://outlook.office365.com/SMTP.Send",
        ],
    }
}

fn no_send_scopes(_: TransportKind) -> &'static [&'static str] {
    &[]
}

pub static GOOGLE: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Google,
    name: "google",
    endpoints: Some(DefaultEndpoints {
        authorization: "https://accounts.google.com/o/oauth2/v2/auth",
        token: "https://oauth2.googleapis.com/token",
        revocation: Some("https://oauth2.googleapis.com/revoke"),
        userinfo: Some("https://openidconnect.googleapis.com/v1/userinfo"),
        gmail_api: Some("https://gmail.googleapis.com"),
        smtp: Some("smtps://smtp.gmail.com:465"),
        graph: None,
    }),
    default_transport: TransportKind::GmailApi,
    transports: &[TransportKind::GmailApi, TransportKind::Smtp],
    identity_scopes: &["openid", "email"],
    send_scopes: google_send_scopes,
    requires_client_secret: true,
    // A refresh token on every authorization: offline access, and consent forced (providers.md §1.5).
    authorization_params: &[("access_type", "offline"), ("prompt", "consent")],
    authorization_params_without_hint: &[],
    refresh_sends_scope: false,
    revoke_forgets: None,
    rotates_refresh_tokens: false,
    default_tenant: None,
};

pub static MICROSOFT: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Microsoft,
    name: "microsoft",
    endpoints: Some(DefaultEndpoints {
        authorization: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        token: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        revocation: None,
        userinfo: Some("https://graph.microsoft.com/oidc/userinfo"),
        gmail_api: None,
        smtp: Some("smtp://smtp.office365.com:587"),
        graph: Some("https://graph.microsoft.com"),
    }),
    default_transport: TransportKind::Smtp,
    transports: &[TransportKind::Smtp, TransportKind::Graph],
    // offline_access: without it Microsoft issues no refresh token.
    identity_scopes: &["openid", "email", "offline_access"],
    send_scopes: microsoft_send_scopes,
    requires_client_secret: false,
    authorization_params: &[],
    authorization_params_without_hint: &[("prompt", "select_account")],
    refresh_sends_scope: true,
    revoke_forgets: Some(&hint::MS_NO_REVOCATION),
    rotates_refresh_tokens: true,
    default_tenant: Some("common"),
};

pub static CUSTOM: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Custom,
    name: "custom",
    endpoints: None,
    default_transport: TransportKind::GmailApi,
    transports: &[TransportKind::GmailApi, TransportKind::Smtp],
    identity_scopes: &[],
    send_scopes: no_send_scopes,
    requires_client_secret: false,
    // Same authorization parameters as Google; servers ignore what they do not know (RFC 6749 §3.1).
    authorization_params: &[("access_type", "offline"), ("prompt", "consent")],
    authorization_params_without_hint: &[],
    refresh_sends_scope: false,
    revoke_forgets: None,
    rotates_refresh_tokens: true,
    default_tenant: None,
};

impl ProviderKind {
    pub fn spec(self) -> &'static ProviderSpec {
        match self {
            ProviderKind::Google => &GOOGLE,
            ProviderKind::Microsoft => &MICROSOFT,
            ProviderKind::Custom => &CUSTOM,
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl ProviderSpec {
    /// The scopes requested when the configuration names none: identity plus the transport's first.
    pub fn default_scopes(&self, transport: TransportKind) -> Vec<String> {
        let mut scopes: Vec<String> = self.identity_scopes.iter().map(|s| s.to_string()).collect();
        if let Some(first) = (self.send_scopes)(transport).first() {
            scopes.push(first.to_string());
        }
        scopes
    }

    /// The scopes a service account asks for on a user's behalf: `scopes` without the identity
    /// scopes, which a JWT-bearer token does not carry (there is no id_token) and which the
    /// domain-wide delegation would then have to list too.
    pub(crate) fn delegated_scopes(&self, scopes: &[String]) -> Vec<String> {
        let identity = |s: &str| {
            self.identity_scopes.contains(&s)
                || matches!(
                    s,
                    "profile"
                        | "https://www.googleapis.com/auth/userinfo.email"
                        | "https://www.googleapis.com/auth/userinfo.profile"
                )
        };
        scopes.iter().filter(|s| !identity(s)).cloned().collect()
    }

    /// Whether a granted scope string (space-separated) allows sending with `transport`.
    /// Providers without a scope table (custom) are trusted to know their own scopes.
    pub fn scope_allows(&self, granted: &str, transport: TransportKind) -> bool {
        let needed = (self.send_scopes)(transport);
        needed.is_empty() || granted.split_whitespace().any(|g| needed.contains(&g))
    }

    /// May a token send by `transport`? `granted` is its scopes (space-separated), `None` when
    /// they are not known (a token document without `scope`), which leaves the answer to the
    /// provider. No is INSUFFICIENT_SCOPE saying what the transport needs, with its hint.
    pub(crate) fn check_send_scope(&self, granted: Option<&str>, transport: TransportKind) -> Result<()> {
        let Some(granted) = granted else { return Ok(()) };
        if self.scope_allows(granted, transport) {
            return Ok(());
        }
        let needed = (self.send_scopes)(transport).join(" or ");
        Err(Error::new(
            Status::InsufficientScope,
            format!(
                "the granted scopes '{granted}' do not allow sending with the {} transport, which needs {needed}",
                transport.name()
            ),
        )
        .with_hint(insufficient_scope_hint(self.kind, transport)))
    }
}

/// The hint for a token of `provider` whose scopes do not allow `transport`.
pub(crate) fn insufficient_scope_hint(provider: ProviderKind, transport: TransportKind) -> &'static Hint {
    match transport {
        TransportKind::Smtp if provider == ProviderKind::Microsoft => &hint::INSUFFICIENT_SCOPE_SMTP_MICROSOFT,
        TransportKind::Smtp => &hint::INSUFFICIENT_SCOPE_SMTP,
        TransportKind::GmailApi => &hint::INSUFFICIENT_SCOPE_API,
        TransportKind::Graph => &hint::INSUFFICIENT_SCOPE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_defaults_match_the_transport() {
        assert_eq!(
            GOOGLE.default_scopes(TransportKind::GmailApi),
            ["openid", "email", GMAIL_SEND]
        );
        assert_eq!(
            GOOGLE.default_scopes(TransportKind::Smtp),
            ["openid", "email", MAIL_GOOGLE]
        );
    }

    #[test]
    fn gmail_send_scope_does_not_allow_smtp() {
        let granted = format!("openid email {GMAIL_SEND}");
        assert!(GOOGLE.scope_allows(&granted, TransportKind::GmailApi));
        assert!(!GOOGLE.scope_allows(&granted, TransportKind::Smtp));
        assert!(GOOGLE.scope_allows(MAIL_GOOGLE, TransportKind::Smtp));
    }

    #[test]
    fn insufficient_scope_hint_matches_the_transport() {
        assert_eq!(
            insufficient_scope_hint(ProviderKind::Google, TransportKind::Smtp).id,
            hint::INSUFFICIENT_SCOPE_SMTP.id
        );
        assert_eq!(
            insufficient_scope_hint(ProviderKind::Microsoft, TransportKind::Smtp).id,
            hint::INSUFFICIENT_SCOPE_SMTP_MICROSOFT.id
        );
        assert_eq!(
            insufficient_scope_hint(ProviderKind::Google, TransportKind::GmailApi).id,
            hint::INSUFFICIENT_SCOPE_API.id
        );
    }

    #[test]
    fn check_send_scope_refuses_with_the_transports_hint_and_leaves_unknown_scopes_to_the_provider() {
        let e = GOOGLE
            .check_send_scope(Some(GMAIL_SEND), TransportKind::Smtp)
            .unwrap_err();
        assert_eq!(e.status, Status::InsufficientScope);
        assert_eq!(e.hint, hint::INSUFFICIENT_SCOPE_SMTP.text);
        assert!(e.message.contains(MAIL_GOOGLE), "{}", e.message);
        assert!(GOOGLE.check_send_scope(None, TransportKind::Smtp).is_ok());
        assert!(GOOGLE.check_send_scope(Some(MAIL_GOOGLE), TransportKind::Smtp).is_ok());
        // Microsoft 365 SMTP is told about SMTP.Send, not Gmail's scope.
        let e = MICROSOFT
            .check_send_scope(Some("openid email offline_access"), TransportKind::Smtp)
            .unwrap_err();
        assert_eq!(e.hint, hint::INSUFFICIENT_SCOPE_SMTP_MICROSOFT.text);
        assert!(e.message.contains("SMTP.Send"), "{}", e.message);
    }
}
