//! Token documents and the token endpoint: code exchange, refresh, revocation, and reading the
//! account's email from the id_token or the userinfo endpoint.
//!
//! Every call to the token endpoint goes through [`post_form`], which retries server failures a
//! bounded number of times and turns every OAuth error (providers.md §1.7) into the API's status
//! with a hint a person can act on. Tokens, codes, verifiers and the client secret only ever
//! appear in the form body; neither errors nor log lines carry them.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::cancel::{self, Call};
use crate::config::Settings;
use crate::context::Ctx;
use crate::error::{Error, ProviderReply, Result, Status};
use crate::hint::{self, Hint};
use crate::http::Response;
use crate::provider::{ProviderKind, TransportKind};
use crate::secret::Secret;
use crate::service_account::{self, Assertion, Refusal, ServiceAccountKey, MAX_LIFETIME_S};
use crate::time::now_unix;

/// The token document of `API.md`: the result of authorize and refresh, the input of refresh,
/// send and revoke. Unknown fields are ignored on input, so documents written by a newer version
/// of the library still load. The tokens and the email go into HTTP headers and SASL lines, so
/// a control character in them (CR, LF, NUL, ...) is refused when the document is read
/// (INVALID_ARGUMENT naming the field), and again by [`check_document`] for Rust callers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDocument {
    pub provider: ProviderKind,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "printable_text"
    )]
    pub email: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    #[serde(default = "bearer")]
    pub token_type: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "printable_secret"
    )]
    pub access_token: Option<Secret>,
    /// Unix seconds when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "printable_secret"
    )]
    pub refresh_token: Option<Secret>,
    /// Unix seconds of the consent that issued the refresh token; kept across refreshes. Lets an
    /// `invalid_grant` be told apart: Testing-status expiry (7 days) or a revoked grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<i64>,
}

const CONTROL_CHARACTER: &str = "must not contain a control character (CR, LF, NUL or another)";

fn printable_secret<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Secret>, D::Error> {
    let value = Option::<Secret>::deserialize(d)?;
    match &value {
        Some(s) if s.expose().chars().any(char::is_control) => Err(serde::de::Error::custom(CONTROL_CHARACTER)),
        _ => Ok(value),
    }
}

fn printable_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    match &value {
        Some(s) if s.chars().any(char::is_control) => Err(serde::de::Error::custom(CONTROL_CHARACTER)),
        _ => Ok(value),
    }
}

fn bearer() -> String {
    "Bearer".into()
}

/// Attempts at the token endpoint when it fails with a server error (5xx, 408,
/// `temporarily_unavailable`, `server_error`): the first try and two retries.
const TOKEN_ATTEMPTS: u32 = 3;
/// Wait before retry n (1-based): 250 ms, then 1 s. Short, because a person is usually waiting.
const RETRY_BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_millis(1000)];

/// Exchanges the refresh token for a fresh access token; keeps the refresh token unless the
/// provider rotates it.
pub(crate) fn refresh(ctx: Ctx<'_>, token: &TokenDocument) -> Result<TokenDocument> {
    let settings = ctx.settings;
    check_document(settings, token)?;
    let refresh_token = match &token.refresh_token {
        Some(t) if !t.is_empty() => t,
        _ => {
            return Err(Error::new(
                Status::Reauthorize,
                "the token document holds no refresh token, so the access token cannot be renewed",
            )
            .with_field("token.refresh_token")
            .with_hint(&hint::REAUTHORIZE_NO_REFRESH_TOKEN))
        }
    };
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", settings.client_id.as_str()),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    let scope = settings.scopes.join(" ");
    if settings.provider.refresh_sends_scope {
        form.push(("scope", scope.as_str()));
    }
    ctx.log.debug(|| "refreshing the access token".into());
    let response = post_form(ctx, &settings.endpoints.token, &form, Grant::Refresh)
        .map_err(|e| diagnose_invalid_grant(e, token.authorized_at, now_unix()))?;
    let granted = response.scope.clone().unwrap_or_else(|| token.scope.clone());
    let email = response
        .id_token
        .as_ref()
        .and_then(email_from_id_token)
        .or_else(|| token.email.clone());
    let refreshed = TokenDocument {
        provider: token.provider,
        email,
        scope: granted,
        token_type: response.token_type.clone().unwrap_or_else(bearer),
        access_token: Some(response.access_token),
        expires_at: expires_at(response.expires_in, now_unix()),
        // Google never sends a new one on refresh; Microsoft rotates them (API.md "Refresh").
        refresh_token: response.refresh_token.or_else(|| token.refresh_token.clone()),
        authorized_at: token.authorized_at,
    };
    ctx.log.info(|| {
        format!(
            "access token refreshed{}",
            refreshed
                .expires_at
                .map(|e| format!(", valid for {} s", e - now_unix()))
                .unwrap_or_default()
        )
    });
    Ok(refreshed)
}

/// What [`revoke`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The provider revoked the grant (or no longer knew the token).
    Revoked,
    /// The provider has no revocation endpoint: the token was forgotten, the grant remains;
    /// `hint` says where the user removes the app's access.
    Forgotten { hint: &'static Hint },
}

/// For the pre-flight check: whether the token endpoint accepts the client ID and secret. A
/// refresh with a refresh token that cannot exist is refused with `invalid_grant` when the client
/// authenticated, and with `invalid_client` (or `unauthorized_client`, `deleted_client`) when not.
pub(crate) fn check_client(ctx: Ctx<'_>) -> Result<()> {
    let settings = ctx.settings;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", "1//oauthmail-check-not-a-refresh-token"),
        ("client_id", settings.client_id.as_str()),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    // Microsoft wants the scope on every refresh (AADSTS900144 without it), so a probe without it
    // would fail on the request's shape before the client is looked at.
    let scope = settings.scopes.join(" ");
    if settings.provider.refresh_sends_scope {
        form.push(("scope", scope.as_str()));
    }
    match post_form(ctx, &settings.endpoints.token, &form, Grant::Refresh) {
        Ok(_) => Ok(()),
        Err(e) if e.provider.as_ref().and_then(|p| p.error.as_deref()) == Some("invalid_grant") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Revokes the grant at the provider; a token the provider no longer knows counts as revoked.
pub(crate) fn revoke(ctx: Ctx<'_>, token: &TokenDocument) -> Result<Revocation> {
    let settings = ctx.settings;
    check_document(settings, token)?;
    if let (None, Some(h)) = (&settings.endpoints.revocation, settings.provider.revoke_forgets) {
        ctx.log.info(|| {
            format!(
                "{} has no revocation endpoint: the token is forgotten, not revoked",
                settings.provider.name
            )
        });
        return Ok(Revocation::Forgotten { hint: h });
    }
    let Some(endpoint) = &settings.endpoints.revocation else {
        return Err(Error::invalid(
            "config.endpoints.revocation",
            format!(
                "provider '{}' has no token revocation endpoint: remove the app's access in the account's \
                 settings (Microsoft: https://myapps.microsoft.com or https://account.live.com/consent/Manage), \
                 or configure endpoints.revocation",
                settings.provider.name
            ),
        ));
    };
    // Revoking the refresh token ends the whole grant; an access token alone may only end itself.
    let (which, value) = match (&token.refresh_token, &token.access_token) {
        (Some(r), _) if !r.is_empty() => ("refresh", r),
        (_, Some(a)) if !a.is_empty() => ("access", a),
        _ => {
            return Err(Error::invalid(
                "token.refresh_token",
                "the token document holds neither a refresh token nor an access token to revoke",
            ))
        }
    };
    ctx.log.debug(|| format!("revoking the grant with the {which} token"));
    let form = [("token", value.expose())];
    match post_form(ctx, endpoint, &form, Grant::Revoke) {
        Ok(_) => {
            ctx.log.info(|| "the grant was revoked".into());
            Ok(Revocation::Revoked)
        }
        Err(e) if is_unknown_token(&e) => {
            ctx.log
                .info(|| "the provider no longer knows the token; counting it as revoked".into());
            Ok(Revocation::Revoked)
        }
        Err(e) => Err(e),
    }
}

fn is_unknown_token(e: &Error) -> bool {
    e.provider
        .as_ref()
        .is_some_and(|p| p.http_status == Some(400) && p.error.as_deref() == Some("invalid_token"))
}

/// A token document the client can use: issued by the client's provider (else INVALID_ARGUMENT
/// naming `token.provider`), and no control character in the fields that go into headers and
/// SASL lines (documents read from JSON were checked already; this covers Rust callers).
pub(crate) fn check_document(settings: &Settings, token: &TokenDocument) -> Result<()> {
    let fields = [
        ("token.access_token", token.access_token.as_ref().map(Secret::expose)),
        ("token.refresh_token", token.refresh_token.as_ref().map(Secret::expose)),
        ("token.email", token.email.as_deref()),
    ];
    for (field, value) in fields {
        if value.is_some_and(|v| v.chars().any(char::is_control)) {
            return Err(Error::invalid(field, format!("{field} {CONTROL_CHARACTER}")));
        }
    }
    let configured = settings.provider.kind;
    if token.provider != configured {
        return Err(Error::invalid(
            "token.provider",
            format!(
                "the token document is for provider '{}' but the client is configured for '{}'",
                token.provider.name(),
                configured.name()
            ),
        ));
    }
    Ok(())
}

/// Exchanges an authorization code (PKCE) for a token document, learns the account's email and
/// checks that the granted scopes allow the configured transport.
pub(crate) fn exchange_code(
    ctx: Ctx<'_>,
    code: &Secret,
    verifier: &Secret,
    redirect_uri: &str,
) -> Result<TokenDocument> {
    let settings = ctx.settings;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri),
        ("client_id", settings.client_id.as_str()),
        ("code_verifier", verifier.expose()),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    let response = post_form(ctx, &settings.endpoints.token, &form, Grant::Code)?;
    let granted = response.scope.clone().unwrap_or_else(|| settings.scopes.join(" "));
    settings.provider.check_send_scope(Some(&granted), settings.transport)?;
    let Some(refresh_token) = response.refresh_token.clone().filter(|t| !t.is_empty()) else {
        // REAUTHORIZE, not PROVIDER: what the host must do is run the authorization again (and
        // the user must finish the consent screen), which is exactly what REAUTHORIZE tells it.
        return Err(Error::new(
            Status::Reauthorize,
            "the provider issued no refresh token, so the authorization would stop working within the hour",
        )
        .with_hint(&hint::NO_REFRESH_TOKEN_ISSUED));
    };
    let email = match response.id_token.as_ref().and_then(email_from_id_token) {
        Some(email) => Some(email),
        None => email_from_userinfo(ctx, &response.access_token)?,
    };
    ctx.log.info(|| {
        format!(
            "authorized {} with scopes '{granted}'",
            email.as_deref().unwrap_or("an account (email unknown)")
        )
    });
    Ok(TokenDocument {
        provider: settings.provider.kind,
        email,
        scope: granted,
        token_type: response.token_type.clone().unwrap_or_else(bearer),
        access_token: Some(response.access_token),
        expires_at: expires_at(response.expires_in, now_unix()),
        refresh_token: Some(refresh_token),
        authorized_at: Some(now_unix()),
    })
}

/// The window, in seconds after the consent, in which Google's `invalid_grant` "Token has been
/// expired or revoked." is the Testing-status limit (7 days) rather than a revocation: 6.5 to 8
/// days, for clocks that differ and a refresh that comes a little after the limit.
const TESTING_EXPIRY_WINDOW_S: std::ops::RangeInclusive<i64> = (13 * 86_400 / 2)..=(8 * 86_400);

/// How long Google keeps an authorization of a Testing-status app: 7 days after the consent.
pub(crate) const TESTING_LIFETIME_S: i64 = 7 * 86_400;

/// Whether an authorization `age` seconds old is within two days of the Testing-status limit
/// (and not past it): the pre-flight check's warning, before [`diagnose_invalid_grant`] would
/// have to explain the refusal.
pub(crate) fn near_testing_expiry(age: i64) -> bool {
    (TESTING_LIFETIME_S - 2 * 86_400..TESTING_LIFETIME_S).contains(&age)
}

/// With `authorized_at` known, Google's expired-or-revoked answer says which: the Testing-status
/// limit when the consent is 6.5-8 days old, a revoked or expired grant otherwise. Without it, the
/// hint can only say "if this happens about 7 days after each authorization".
fn diagnose_invalid_grant(e: Error, authorized_at: Option<i64>, now: i64) -> Error {
    let (Some(at), true) = (authorized_at, e.hint == hint::REAUTHORIZE_TESTING_EXPIRY.text) else {
        return e;
    };
    let age = now.saturating_sub(at);
    let days = age as f64 / 86_400.0;
    let mut e = if TESTING_EXPIRY_WINDOW_S.contains(&age) {
        e.with_hint(&hint::REAUTHORIZE_TESTING_STATUS)
    } else {
        e.with_hint(&hint::REAUTHORIZE_REVOKED)
    };
    e.message = format!("{} (the account was authorized {days:.1} days ago)", e.message);
    e
}

/// The `email` claim of an id_token.
///
/// The signature is not checked, on purpose: the id_token came straight from the token endpoint
/// over TLS in answer to our own request (OpenID Connect Core §3.1.3.7: "the TLS server
/// validation MAY be used to validate the issuer in place of checking the token signature"), and
/// the email only labels the account and picks the SMTP user; it grants nothing.
pub(crate) fn email_from_id_token(id_token: &Secret) -> Option<String> {
    let payload = id_token.expose().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
}

fn email_from_userinfo(ctx: Ctx<'_>, access_token: &Secret) -> Result<Option<String>> {
    let Some(url) = &ctx.settings.endpoints.userinfo else {
        ctx.log
            .warn(|| "no id_token with an email and no userinfo endpoint: the account's email is unknown".into());
        return Ok(None);
    };
    let auth = Secret::new(format!("Bearer {}", access_token.expose()));
    let response = ctx.http.request(
        ctx.call,
        "GET",
        url,
        &[("Authorization", auth.expose()), ("Accept", "application/json")],
        None,
    )?;
    if response.status != 200 {
        let (error, description) = oauth_error(&response);
        return Err(Error::new(
            Status::Provider,
            format!("the userinfo endpoint answered HTTP {}", response.status),
        )
        .with_provider(ProviderReply::http(response.status, error, description)));
    }
    Ok(response
        .json()
        .and_then(|v| v.get("email").and_then(Value::as_str).map(str::to_string))
        .filter(|e| !e.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// Service accounts (issue 16)

/// What refresh, send and revoke take as their token: a token document; with a token store the
/// name of an account whose token the store holds (`{"account": "…"}`); or with a service account
/// the user of the Workspace domain to act as (`{"subject": "…"}`). `&TokenDocument` converts into
/// it, so existing callers pass a document unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRef<'a> {
    Document(&'a TokenDocument),
    Account(&'a str),
    Subject(&'a str),
}

impl<'a> From<&'a TokenDocument> for TokenRef<'a> {
    fn from(t: &'a TokenDocument) -> Self {
        TokenRef::Document(t)
    }
}

/// The field a subject reference's errors name.
pub(crate) const SUBJECT_FIELD: &str = "token.subject";

/// The service account of this client, for a `{"subject": …}` reference; the subject checked.
pub(crate) fn service_account_for<'a>(settings: &'a Settings, subject: &str) -> Result<&'a ServiceAccountKey> {
    let key = settings.service_account.as_deref().ok_or_else(|| {
        Error::invalid(
            SUBJECT_FIELD,
            "a {\"subject\": …} token reference needs service_account_file in the configuration",
        )
        .with_hint(&hint::SERVICE_ACCOUNT_NOT_CONFIGURED)
    })?;
    let plausible = subject.len() <= 254
        && subject
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !subject.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err(Error::invalid(
            SUBJECT_FIELD,
            "subject must be the e-mail address of a user of the Workspace domain",
        ));
    }
    Ok(key)
}

/// The service account's assertion for `subject`, exchanged at its `token_uri` (RFC 7523) for
/// an access token of that user. The token document has no refresh token: a new assertion is
/// the way to a new access token.
pub(crate) fn exchange_assertion(ctx: Ctx<'_>, key: &ServiceAccountKey, subject: &str) -> Result<TokenDocument> {
    let settings = ctx.settings;
    let scopes = settings.provider.delegated_scopes(&settings.scopes);
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let issued_at = u64::try_from(now_unix()).unwrap_or(0);
    let assertion = key.sign(&Assertion {
        subject: Some(subject),
        scopes: &scope_refs,
        issued_at,
        lifetime_s: MAX_LIFETIME_S,
    })?;
    let url = Url::parse(&key.token_uri)
        .map_err(|_| Error::invalid(service_account::FIELD, "the key file's token_uri is not a URL"))?;
    ctx.log.debug(|| {
        format!(
            "service account {} (key {}): asking {} for an access token for {subject} ({})",
            key.client_email,
            key.private_key_id,
            key.token_uri,
            scopes.join(" ")
        )
    });
    let form = service_account::token_form(&assertion);
    let response = post_form(ctx, &url, &form, Grant::JwtBearer).inspect_err(|_| {
        ctx.log
            .warn(|| format!("service account {}: no access token for {subject}", key.client_email));
    })?;
    let doc = TokenDocument {
        provider: ProviderKind::Google,
        email: Some(subject.to_string()),
        scope: response.scope.clone().unwrap_or_else(|| scopes.join(" ")),
        token_type: response.token_type.clone().unwrap_or_else(bearer),
        access_token: Some(response.access_token),
        expires_at: expires_at(response.expires_in, now_unix()),
        refresh_token: None,
        authorized_at: None,
    };
    ctx.log.info(|| {
        format!(
            "service account {}: access token for {subject}{}",
            key.client_email,
            doc.expires_at
                .map(|e| format!(", valid for {} s", e - now_unix()))
                .unwrap_or_default()
        )
    });
    Ok(doc)
}

/// A refused JWT-bearer exchange (tests/standin/README.md "Service accounts" has Google's bodies
/// and their sources), or `None` for what the generic mapping handles (429, 5xx, …).
fn jwt_bearer_error(error: Option<&str>, description: Option<&str>, msg: &dyn Fn(&str) -> String) -> Option<Error> {
    let e = match Refusal::classify(error, description) {
        Refusal::Delegation => Error::new(
            Status::AuthFailed,
            msg("the Workspace domain has not delegated these scopes to the service account"),
        )
        .with_hint(&hint::SERVICE_ACCOUNT_DELEGATION),
        Refusal::UnknownSubject => Error::new(
            Status::AccessDenied,
            msg("the subject is not an active user of the Workspace domain"),
        )
        .with_field(SUBJECT_FIELD)
        .with_hint(&hint::SERVICE_ACCOUNT_SUBJECT),
        Refusal::BadSignature => Error::new(
            Status::AuthFailed,
            msg("Google refused the service-account key (deleted, disabled or another account's)"),
        )
        .with_hint(&hint::SERVICE_ACCOUNT_KEY),
        Refusal::ClockSkew => Error::new(
            Status::AuthFailed,
            msg("Google refused the assertion's time: the system clock is off"),
        )
        .with_hint(&hint::SERVICE_ACCOUNT_CLOCK),
        Refusal::AccountNotFound => Error::new(
            Status::AuthFailed,
            msg("Google does not know the service account of the key file"),
        )
        .with_hint(&hint::SERVICE_ACCOUNT_NOT_FOUND),
        Refusal::Other if error == Some("invalid_grant") => {
            Error::new(Status::AuthFailed, msg("Google refused the service-account assertion"))
        }
        Refusal::Other if error == Some("invalid_scope") => Error::invalid(
            "config.scopes",
            msg("Google refused the scopes asked for on the user's behalf"),
        ),
        Refusal::Other => return None,
    };
    Some(e)
}

/// What a token-endpoint request was for: it changes what some errors mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    Code,
    Refresh,
    Revoke,
    /// RFC 7523: a service account's signed assertion for a user (issue 16).
    JwtBearer,
}

/// `expires_at` from the token endpoint's `expires_in`. Saturating: a server that sends an absurd
/// lifetime (`1e30`, parsed as `i64::MAX`) must not make the addition overflow (a panic in a debug
/// build, a token "expired" in 1970 in a release build).
fn expires_at(expires_in: Option<i64>, now: i64) -> Option<i64> {
    expires_in.map(|s| now.saturating_add(s))
}

/// The token endpoint's success answer.
#[derive(Debug)]
struct TokenResponse {
    access_token: Secret,
    expires_in: Option<i64>,
    refresh_token: Option<Secret>,
    scope: Option<String>,
    token_type: Option<String>,
    id_token: Option<Secret>,
}

impl TokenResponse {
    fn parse(v: &Value) -> Option<TokenResponse> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        // Some servers send expires_in as a string ("3599").
        let expires_in = match v.get("expires_in") {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Some(TokenResponse {
            access_token: Secret::new(text("access_token").filter(|t| !t.is_empty())?),
            expires_in,
            refresh_token: text("refresh_token").map(Secret::new),
            scope: text("scope"),
            token_type: text("token_type"),
            id_token: text("id_token").map(Secret::new),
        })
    }
}

/// POSTs a form to the token (or revocation) endpoint, retrying server failures, and maps errors.
/// For [`Grant::Revoke`] a 200 without a token body is success (`access_token` is then empty).
fn post_form(ctx: Ctx<'_>, url: &Url, form: &[(&str, &str)], grant: Grant) -> Result<TokenResponse> {
    // The form carries the client secret and a code, verifier or token: a Secret, zeroed on drop.
    let body = Secret::new(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish(),
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];
    let mut attempt = 1;
    loop {
        let response = ctx
            .http
            .request(ctx.call, "POST", url, &headers, Some(body.expose().as_bytes()))?;
        if response.status == 200 {
            if grant == Grant::Revoke {
                return Ok(TokenResponse {
                    access_token: Secret::default(),
                    expires_in: None,
                    refresh_token: None,
                    scope: None,
                    token_type: None,
                    id_token: None,
                });
            }
            return response.json().as_ref().and_then(TokenResponse::parse).ok_or_else(|| {
                Error::new(
                    Status::Provider,
                    "the token endpoint answered 200 without an access_token",
                )
                .with_provider(ProviderReply::http(200, None, None))
            });
        }
        if attempt < TOKEN_ATTEMPTS && is_retryable(&response) {
            let wait = RETRY_BACKOFF[(attempt - 1) as usize];
            ctx.log.warn(|| {
                format!(
                    "token endpoint answered HTTP {}; retrying in {} ms",
                    response.status,
                    wait.as_millis()
                )
            });
            sleep_cancellable(ctx.call, wait)?;
            attempt += 1;
            continue;
        }
        let error = token_error(&response, grant, ctx.settings.provider.kind, ctx.settings.transport);
        ctx.log.warn(|| format!("token endpoint: {}", error.message));
        return Err(error);
    }
}

fn is_retryable(response: &Response) -> bool {
    if matches!(response.status, 500 | 502 | 503 | 504 | 408) {
        return true;
    }
    let (error, _) = oauth_error(response);
    matches!(
        error.as_deref(),
        Some("temporarily_unavailable" | "server_error" | "internal_failure")
    )
}

fn sleep_cancellable(call: &Call, total: Duration) -> Result<()> {
    let end = Instant::now() + total;
    loop {
        call.check()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(cancel::POLL));
    }
}

/// `error` and `error_description` of an OAuth error body (RFC 6749 §5.2), if it is one.
fn oauth_error(response: &Response) -> (Option<String>, Option<String>) {
    let Some(v) = response.json() else {
        return (None, None);
    };
    // Google's APIs (userinfo) may wrap it: {"error": {"message", "status"}}.
    let error = match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("status").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let description = v
        .get("error_description")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| v.pointer("/error/message").and_then(Value::as_str).map(str::to_string));
    (error, description)
}

/// Seconds from a `Retry-After` header: seconds or an HTTP date ([`crate::time`]).
fn retry_after(response: &Response) -> Option<u64> {
    crate::time::retry_after_s(response.header("retry-after"), "", now_unix())
}

/// Maps a token-endpoint error answer (providers.md §1.7) to the API's status and hint.
fn token_error(response: &Response, grant: Grant, provider: ProviderKind, transport: TransportKind) -> Error {
    let status = response.status;
    let (error, description) = oauth_error(response);
    let reply = ProviderReply::http(status, error.clone(), description.clone());
    let said = match (&error, &description) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.clone(),
        _ => "no OAuth error in the body".to_string(),
    };
    let endpoint = if grant == Grant::Revoke {
        "revocation endpoint"
    } else {
        "token endpoint"
    };
    let msg = |what: &str| format!("{what} (the {endpoint} answered HTTP {status}, {said})");
    if grant == Grant::JwtBearer && status != 429 {
        if let Some(e) = jwt_bearer_error(error.as_deref(), description.as_deref(), &msg) {
            return e.with_provider(reply);
        }
    }
    if let Some(code) = aadsts_code(response) {
        let mut reply = reply;
        reply.error_code = Some(code.to_string());
        let e = microsoft_error(code, &msg).unwrap_or_else(|| {
            generic_token_error(
                error.as_deref(),
                description.as_deref(),
                status,
                grant,
                (provider, transport),
                &msg,
                response,
            )
        });
        return e.with_provider(reply);
    }
    generic_token_error(
        error.as_deref(),
        description.as_deref(),
        status,
        grant,
        (provider, transport),
        &msg,
        response,
    )
    .with_provider(reply)
}

/// Microsoft's AADSTS number: `error_codes[0]` of the body (providers.md §4.3).
fn aadsts_code(response: &Response) -> Option<u64> {
    response.json()?.get("error_codes")?.get(0)?.as_u64()
}

/// The AADSTS codes with their own status and hint (issue 15's table); `None`: the generic
/// mapping by `error` applies.
fn microsoft_error(code: u64, msg: &dyn Fn(&str) -> String) -> Option<Error> {
    let (status, what, h) = match code {
        700025 => (
            Status::AuthFailed,
            "Microsoft refuses a client secret from a public client",
            &hint::MS_PUBLIC_CLIENT_SECRET,
        ),
        7000218 => (
            Status::AuthFailed,
            "the app registration is confidential and wants its client secret",
            &hint::MS_CLIENT_SECRET_REQUIRED,
        ),
        7000215 => (
            Status::AuthFailed,
            "Microsoft rejected the client secret",
            &hint::MS_INVALID_SECRET,
        ),
        700016 => (
            Status::AuthFailed,
            "Microsoft does not know this client_id in this tenant",
            &hint::MS_APP_NOT_FOUND,
        ),
        65001 => (
            Status::Reauthorize,
            "the app's permissions were not consented to",
            &hint::MS_CONSENT_REQUIRED,
        ),
        50076 | 50078 | 50079 => (
            Status::Reauthorize,
            "Microsoft wants multi-factor authentication",
            &hint::MS_MFA_REQUIRED,
        ),
        53003 => (
            Status::AccessDenied,
            "a Conditional Access policy blocks this sign-in",
            &hint::MS_CONDITIONAL_ACCESS,
        ),
        700082 | 70008 => (
            Status::Reauthorize,
            "the authorization expired after a long time unused",
            &hint::MS_REFRESH_INACTIVE,
        ),
        50173 | 70000 => (
            Status::Reauthorize,
            "the refresh token was revoked or already replaced",
            &hint::MS_GRANT_REVOKED,
        ),
        _ => return None,
    };
    Some(Error::new(status, msg(what)).with_hint(h))
}

fn generic_token_error(
    error: Option<&str>,
    description: Option<&str>,
    status: u16,
    grant: Grant,
    (provider, transport): (ProviderKind, TransportKind),
    msg: &dyn Fn(&str) -> String,
    response: &Response,
) -> Error {
    match (error, description) {
        _ if status == 429 => Error::new(Status::RateLimited, msg("the provider is limiting token requests"))
            .with_retry_after(retry_after(response)),
        (Some("invalid_grant"), d) => {
            let what = match grant {
                Grant::Code => "the authorization code was refused; authorize again",
                _ => "the refresh token is expired, revoked or invalid; authorize again",
            };
            let e = Error::new(Status::Reauthorize, msg(what));
            if d == Some("Token has been expired or revoked.") {
                e.with_hint(&hint::REAUTHORIZE_TESTING_EXPIRY)
            } else {
                e
            }
        }
        (Some("invalid_client" | "deleted_client"), _) => Error::new(
            Status::AuthFailed,
            msg("the provider does not accept this OAuth client (client_id or client_secret)"),
        )
        .with_hint(&hint::INVALID_CLIENT),
        (Some("unauthorized_client"), _) => Error::new(
            Status::AuthFailed,
            msg("the refresh token was issued to another OAuth client"),
        )
        .with_hint(&hint::UNAUTHORIZED_CLIENT),
        (Some("invalid_request"), Some(d)) if d.starts_with("client_secret is missing") => {
            Error::new(Status::AuthFailed, msg("the provider requires the client secret"))
                .with_hint(&hint::CLIENT_SECRET_MISSING)
        }
        (Some("redirect_uri_mismatch"), _) => {
            Error::new(Status::AuthFailed, msg("the provider refused the redirect address"))
                .with_hint(&hint::REDIRECT_URI_MISMATCH)
        }
        (Some("invalid_scope"), _) => Error::invalid("config.scopes", msg("the provider refused the requested scopes")),
        (Some("insufficient_scope"), _) => {
            Error::new(Status::InsufficientScope, msg("the token lacks a required scope"))
                .with_hint(crate::provider::insufficient_scope_hint(provider, transport))
        }
        (Some("access_denied"), _) => Error::new(Status::AccessDenied, msg("the provider refused this account")),
        (Some("invalid_token"), _) if grant == Grant::Revoke => {
            Error::new(Status::Provider, msg("the provider does not know the token"))
        }
        _ if status >= 500 => Error::new(Status::Provider, msg("the provider failed")),
        (Some("temporarily_unavailable" | "server_error" | "internal_failure"), _) => {
            Error::new(Status::Provider, msg("the provider is temporarily unavailable"))
        }
        _ => Error::new(Status::Provider, msg("the provider answered unexpectedly")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn map(status: u16, body: &str) -> Error {
        token_error(
            &reply(status, body),
            Grant::Refresh,
            ProviderKind::Google,
            TransportKind::GmailApi,
        )
    }

    #[test]
    fn every_google_token_endpoint_error_maps_to_a_status_and_hint() {
        // providers.md §1.7, row by row.
        let cases: &[(u16, &str, Status, &hint::Hint)] = &[
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
                Status::Reauthorize,
                &hint::REAUTHORIZE_TESTING_EXPIRY,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Bad Request"}"#,
                Status::Reauthorize,
                &hint::REAUTHORIZE,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Code was already redeemed."}"#,
                Status::Reauthorize,
                &hint::REAUTHORIZE,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Malformed auth code."}"#,
                Status::Reauthorize,
                &hint::REAUTHORIZE,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Missing code verifier."}"#,
                Status::Reauthorize,
                &hint::REAUTHORIZE,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid code verifier."}"#,
                Status::Reauthorize,
                &hint::REAUTHORIZE,
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"client_secret is missing."}"#,
                Status::AuthFailed,
                &hint::CLIENT_SECRET_MISSING,
            ),
            (
                401,
                r#"{"error":"invalid_client","error_description":"Unauthorized"}"#,
                Status::AuthFailed,
                &hint::INVALID_CLIENT,
            ),
            (
                401,
                r#"{"error":"invalid_client","error_description":"The OAuth client was not found."}"#,
                Status::AuthFailed,
                &hint::INVALID_CLIENT,
            ),
            (
                401,
                r#"{"error":"deleted_client","error_description":"The OAuth client was deleted."}"#,
                Status::AuthFailed,
                &hint::INVALID_CLIENT,
            ),
            (
                401,
                r#"{"error":"unauthorized_client","error_description":"Unauthorized"}"#,
                Status::AuthFailed,
                &hint::UNAUTHORIZED_CLIENT,
            ),
            (
                400,
                r#"{"error":"redirect_uri_mismatch","error_description":"Bad Request"}"#,
                Status::AuthFailed,
                &hint::REDIRECT_URI_MISMATCH,
            ),
            (
                400,
                r#"{"error":"invalid_scope","error_description":"Some requested scopes were invalid. {invalid=[x]}","error_uri":"u"}"#,
                Status::InvalidArgument,
                &hint::INVALID_ARGUMENT,
            ),
            (
                429,
                r#"{"error":"rate_limit_exceeded"}"#,
                Status::RateLimited,
                &hint::RATE_LIMITED,
            ),
            (
                503,
                r#"{"error":"temporarily_unavailable"}"#,
                Status::Provider,
                &hint::PROVIDER,
            ),
            (500, "<html>oops</html>", Status::Provider, &hint::PROVIDER),
            (
                400,
                r#"{"error":"unsupported_grant_type"}"#,
                Status::Provider,
                &hint::PROVIDER,
            ),
        ];
        for (status, body, want, want_hint) in cases {
            let e = map(*status, body);
            assert_eq!(e.status, *want, "{status} {body}");
            assert_eq!(e.hint, want_hint.text, "{status} {body}");
            let p = e.provider.as_ref().unwrap();
            assert_eq!(p.http_status, Some(*status));
        }
        let e = map(400, r#"{"error":"invalid_scope","error_description":"x"}"#);
        assert_eq!(e.field.as_deref(), Some("config.scopes"));
        let e = map(
            400,
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
        );
        let p = e.provider.clone().unwrap();
        assert_eq!(p.error.as_deref(), Some("invalid_grant"));
        assert_eq!(
            p.error_description.as_deref(),
            Some("Token has been expired or revoked.")
        );
    }

    #[test]
    fn rate_limit_carries_retry_after_seconds() {
        let mut r = reply(429, r#"{"error":"rate_limit_exceeded"}"#);
        r.headers.push(("Retry-After".into(), "30".into()));
        let e = token_error(&r, Grant::Refresh, ProviderKind::Google, TransportKind::GmailApi);
        assert_eq!(e.retry_after_s, Some(30));
    }

    #[test]
    fn server_failures_are_retryable_but_invalid_grant_never_is() {
        assert!(is_retryable(&reply(503, "{}")));
        assert!(is_retryable(&reply(500, "")));
        assert!(is_retryable(&reply(400, r#"{"error":"temporarily_unavailable"}"#)));
        assert!(!is_retryable(&reply(400, r#"{"error":"invalid_grant"}"#)));
        assert!(!is_retryable(&reply(401, r#"{"error":"invalid_client"}"#)));
        assert!(!is_retryable(&reply(429, "{}")));
    }

    #[test]
    fn token_response_accepts_expires_in_as_number_or_string() {
        let n = TokenResponse::parse(&serde_json::json!({"access_token": "a", "expires_in": 3599})).unwrap();
        assert_eq!(n.expires_in, Some(3599));
        let s = TokenResponse::parse(&serde_json::json!({"access_token": "a", "expires_in": "3599"})).unwrap();
        assert_eq!(s.expires_in, Some(3599));
        assert!(TokenResponse::parse(&serde_json::json!({"expires_in": 1})).is_none());
    }

    #[test]
    fn an_absurd_expires_in_saturates_instead_of_overflowing() {
        let huge = TokenResponse::parse(&serde_json::json!({"access_token": "a", "expires_in": 1e30})).unwrap();
        assert_eq!(expires_at(huge.expires_in, 1_700_000_000), Some(i64::MAX));
        assert_eq!(expires_at(Some(3599), 1_700_000_000), Some(1_700_003_599));
        assert_eq!(expires_at(None, 1_700_000_000), None);
    }

    #[test]
    fn email_comes_from_the_id_token_payload() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://accounts.google.com","email":"erp.test@gmail.com"}"#)
        );
        assert_eq!(
            email_from_id_token(&Secret::new(jwt)).as_deref(),
            Some("erp.test@gmail.com")
        );
        assert_eq!(email_from_id_token(&Secret::new("not-a-jwt")), None);
    }

    #[test]
    fn token_documents_round_trip_and_never_debug_print_secrets() {
        let doc = TokenDocument {
            provider: ProviderKind::Google,
            email: Some("a@b.c".into()),
            scope: "openid".into(),
            token_type: "Bearer".into(),
            access_token: Some(Secret::new("ya29.SECRET-ACCESS")),
            expires_at: Some(1),
            refresh_token: Some(Secret::new("1//SECRET-REFRESH")),
            authorized_at: Some(1_700_000_000),
        };
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(serde_json::from_str::<TokenDocument>(&json).unwrap(), doc);
        let debug = format!("{doc:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
    }

    #[test]
    fn invalid_grant_with_authorized_at_tells_testing_expiry_from_revocation() {
        let expired = || {
            map(
                400,
                r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
            )
        };
        let now = 1_800_000_000;
        let day = 86_400;
        let cases: &[(Option<i64>, &hint::Hint)] = &[
            (None, &hint::REAUTHORIZE_TESTING_EXPIRY),
            (Some(now - 13 * day / 2 + 60), &hint::REAUTHORIZE_REVOKED),
            (Some(now - 13 * day / 2), &hint::REAUTHORIZE_TESTING_STATUS),
            (Some(now - 7 * day), &hint::REAUTHORIZE_TESTING_STATUS),
            (Some(now - 8 * day), &hint::REAUTHORIZE_TESTING_STATUS),
            (Some(now - 8 * day - 60), &hint::REAUTHORIZE_REVOKED),
            (Some(now - 2 * day), &hint::REAUTHORIZE_REVOKED),
            (Some(now - 200 * day), &hint::REAUTHORIZE_REVOKED),
        ];
        for (at, want) in cases {
            let e = diagnose_invalid_grant(expired(), *at, now);
            assert_eq!(e.status, Status::Reauthorize);
            assert_eq!(e.hint, want.text, "authorized_at {at:?}");
            assert_eq!(e.message.contains("days ago"), at.is_some(), "{}", e.message);
        }
        let seven = diagnose_invalid_grant(expired(), Some(now - 7 * day), now);
        assert!(
            seven.message.ends_with("(the account was authorized 7.0 days ago)"),
            "{}",
            seven.message
        );
        // Other invalid_grant answers (not Google's expired-or-revoked) keep their hint.
        let other = map(400, r#"{"error":"invalid_grant","error_description":"Bad Request"}"#);
        let kept = diagnose_invalid_grant(other, Some(now - 7 * day), now);
        assert_eq!(kept.hint, hint::REAUTHORIZE.text);
    }

    #[test]
    fn token_documents_without_authorized_at_still_load() {
        let doc: TokenDocument =
            serde_json::from_str(r#"{"provider": "google", "refresh_token": "1//R", "access_token": "A"}"#).unwrap();
        assert_eq!(doc.authorized_at, None);
        assert!(!serde_json::to_string(&doc).unwrap().contains("authorized_at"));
    }
}
