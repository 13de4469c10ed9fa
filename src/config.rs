//! The client configuration: the `config_json` document as the host writes it ([`Config`]), and
//! the same with every default applied and every value checked ([`Settings`]), which is what the
//! rest of the library reads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::{Error, Result};
use crate::hint;
use crate::provider::{ProviderKind, ProviderSpec, TransportKind};
use crate::secret::Secret;
use crate::service_account::ServiceAccountKey;
use crate::store::protect::Protect;

/// `config_json` as written by the host. Unknown fields are refused so that typos never pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub provider: ProviderKind,
    /// Required, unless `client_secrets_file` supplies it or `service_account_file` is set.
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Google's downloaded client file (`client_secret_….json`): its `installed` object supplies
    /// `client_id`, `client_secret` and the authorization and token endpoints; fields set here
    /// win over the file.
    #[serde(default)]
    pub client_secrets_file: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub transport: Option<TransportChoice>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub endpoints: EndpointsConfig,
    #[serde(default)]
    pub redirect: RedirectConfig,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub proxy: Option<String>,
    #[serde(default)]
    pub ui_language: Option<UiLanguage>,
    /// The SASL mechanism for the smtp transport; default `xoauth2` (providers.md §2.6).
    #[serde(default)]
    pub smtp_auth: Option<SmtpAuth>,
    /// Google's JSON key file of a service account with domain-wide delegation (issue 16): the
    /// client then sends as `{"subject": …}` and needs no client id, secret or consent.
    #[serde(default)]
    pub service_account_file: Option<String>,
    /// The token store (README "Keeping tokens"); absent: the host keeps token documents itself.
    #[serde(default)]
    pub store: Option<StoreConfig>,
}

/// `"store": {"path": "…", "protect": "user" | "machine" | "none"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: String,
    #[serde(default)]
    pub protect: Option<String>,
}

/// The token store's file and protection, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub path: PathBuf,
    pub protect: Protect,
}

/// The `transport` field as the host writes it (`graph`: Microsoft only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportChoice {
    GmailApi,
    Smtp,
    Graph,
}

/// How the smtp transport authenticates: `AUTH XOAUTH2` (Google's and Microsoft's documented
/// mechanism, the default) or `AUTH OAUTHBEARER` (RFC 7628).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpAuth {
    #[default]
    Xoauth2,
    Oauthbearer,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsConfig {
    pub authorization: Option<String>,
    pub token: Option<String>,
    pub revocation: Option<String>,
    pub userinfo: Option<String>,
    pub gmail_api: Option<String>,
    pub smtp: Option<String>,
    /// Microsoft Graph's base URL (`https://graph.microsoft.com`).
    pub graph: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    pub authorize_s: Option<u64>,
    pub connect_s: Option<u64>,
    pub io_s: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub extra_ca_file: Option<String>,
}

/// The language of the page the browser shows after consent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UiLanguage {
    #[default]
    En,
    Ro,
}

impl UiLanguage {
    /// The language of error hints.
    pub fn hints(self) -> crate::hint::Lang {
        match self {
            UiLanguage::En => crate::hint::Lang::En,
            UiLanguage::Ro => crate::hint::Lang::Ro,
        }
    }
}

/// How the library reaches the SMTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpEndpoint {
    pub host: String,
    pub port: u16,
    /// true: TLS from the first byte (`smtps://`, 465); false: STARTTLS, which is then required.
    pub implicit_tls: bool,
}

/// Every endpoint, resolved.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub authorization: Url,
    pub token: Url,
    pub revocation: Option<Url>,
    pub userinfo: Option<Url>,
    pub gmail_api: Option<Url>,
    pub smtp: Option<SmtpEndpoint>,
    pub graph: Option<Url>,
}

#[derive(Clone, Debug)]
pub struct Redirect {
    pub host: String,
    pub port: u16,
    pub path: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub authorize: Duration,
    pub connect: Duration,
    pub io: Duration,
}

/// The configuration with defaults applied and every value checked.
#[derive(Clone)]
pub struct Settings {
    pub provider: &'static ProviderSpec,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub transport: TransportKind,
    pub scopes: Vec<String>,
    pub endpoints: Endpoints,
    pub redirect: Redirect,
    pub timeouts: Timeouts,
    /// PEM file whose certificates are trusted in addition to the system store.
    pub extra_ca_file: Option<String>,
    pub proxy: Option<Url>,
    pub ui_language: UiLanguage,
    pub smtp_auth: SmtpAuth,
    /// The parsed key of `service_account_file`, read once when the client is created.
    pub service_account: Option<Arc<ServiceAccountKey>>,
    pub store: Option<StoreSettings>,
}

// By hand, because the proxy URL may carry a password.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proxy = self.proxy.as_ref().map(|p| {
            let mut p = p.clone();
            if p.password().is_some() {
                let _ = p.set_password(Some("redacted"));
            }
            p.to_string()
        });
        f.debug_struct("Settings")
            .field("provider", &self.provider.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("transport", &self.transport)
            .field("scopes", &self.scopes)
            .field("endpoints", &self.endpoints)
            .field("redirect", &self.redirect)
            .field("timeouts", &self.timeouts)
            .field("extra_ca_file", &self.extra_ca_file)
            .field("proxy", &proxy)
            .field("ui_language", &self.ui_language)
            .field("smtp_auth", &self.smtp_auth)
            // Its Debug shows the account and key id, never the key.
            .field("service_account", &self.service_account)
            .field("store", &self.store)
            .finish()
    }
}

impl Config {
    /// Fills what the configuration leaves unset from Google's client file at `path`.
    fn apply_client_secrets_file(&mut self, path: &str) -> Result<()> {
        const FIELD: &str = "config.client_secrets_file";
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                crate::error::Status::Io,
                format!("client_secrets_file '{path}' could not be read: {e}"),
            )
            .with_field(FIELD)
        })?;
        let file: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(FIELD, format!("client_secrets_file '{path}' is not JSON: {e}")))?;
        let Some(installed) = file.get("installed").and_then(serde_json::Value::as_object) else {
            let kind = if file.get("web").is_some() {
                "belongs to a \"Web application\" OAuth client, which cannot use a loopback redirect"
            } else {
                "is not a Google OAuth client file (no \"installed\" object)"
            };
            return Err(Error::invalid(FIELD, format!("client_secrets_file '{path}' {kind}"))
                .with_hint(&hint::DESKTOP_CLIENT_FILE));
        };
        let text = |k: &str| installed.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        if self.client_id.trim().is_empty() {
            if let Some(id) = text("client_id") {
                self.client_id = id;
            }
        }
        if self.client_secret.as_ref().is_none_or(|s| s.is_empty()) {
            if let Some(secret) = text("client_secret") {
                self.client_secret = Some(Secret::new(secret));
            }
        }
        if self.endpoints.authorization.is_none() {
            self.endpoints.authorization = text("auth_uri");
        }
        if self.endpoints.token.is_none() {
            self.endpoints.token = text("token_uri");
        }
        Ok(())
    }
}

const DEFAULT_AUTHORIZE_S: u64 = 300;
const DEFAULT_CONNECT_S: u64 = 15;
const DEFAULT_IO_S: u64 = 60;

impl Config {
    /// Applies the provider's defaults and checks every value. Errors name the field
    /// (`config.endpoints.token`).
    pub fn resolve(mut self) -> Result<Settings> {
        if let Some(path) = self.client_secrets_file.take() {
            self.apply_client_secrets_file(&path)?;
        }
        let spec = self.provider.spec();
        let service_account = match self.service_account_file.as_deref() {
            None => None,
            Some(path) => Some(Arc::new(read_service_account(self.provider, path)?)),
        };
        if self.client_id.trim().is_empty() && service_account.is_none() {
            return Err(Error::invalid("config.client_id", "client_id is empty"));
        }
        let client_secret = self.client_secret.filter(|s| !s.is_empty());
        if spec.requires_client_secret && client_secret.is_none() && service_account.is_none() {
            return Err(
                Error::invalid("config.client_secret", "client_secret is required for this provider")
                    .with_hint(&hint::CLIENT_SECRET_MISSING),
            );
        }
        let unavailable = |name: &str| {
            Error::invalid(
                "config.transport",
                format!("transport '{name}' is not available for provider '{}'", spec.name),
            )
        };
        let transport = match self.transport {
            None => spec.default_transport,
            Some(TransportChoice::GmailApi) => TransportKind::GmailApi,
            Some(TransportChoice::Smtp) => TransportKind::Smtp,
            Some(TransportChoice::Graph) => TransportKind::Graph,
        };
        if !spec.transports.contains(&transport) {
            return Err(unavailable(transport.name()));
        }
        let tenant = self.tenant.as_deref().or(spec.default_tenant);
        if tenant.is_some_and(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))) {
            return Err(Error::invalid(
                "config.tenant",
                "tenant must be a tenant id, a domain, common, organizations or consumers",
            ));
        }
        let endpoints = resolve_endpoints(spec, &self.endpoints, tenant, transport)?;

        let scopes = match self.scopes {
            Some(scopes) => {
                if scopes.is_empty() {
                    return Err(Error::invalid("config.scopes", "scopes is empty"));
                }
                if let Some(i) = scopes
                    .iter()
                    .position(|s| s.is_empty() || s.contains(char::is_whitespace))
                {
                    return Err(Error::invalid(
                        format!("config.scopes[{i}]"),
                        "a scope must be one non-empty word",
                    ));
                }
                scopes
            }
            None if spec.endpoints.is_none() => {
                return Err(Error::invalid(
                    "config.scopes",
                    "scopes is required for provider 'custom'",
                ));
            }
            None => spec.default_scopes(transport),
        };

        let redirect = Redirect {
            host: self.redirect.host.unwrap_or_else(|| "127.0.0.1".into()),
            port: self.redirect.port.unwrap_or(0),
            path: self.redirect.path.unwrap_or_else(|| "/".into()),
        };
        if !matches!(redirect.host.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]") {
            return Err(Error::invalid(
                "config.redirect.host",
                "redirect.host must be a loopback address: 127.0.0.1, ::1 or localhost",
            ));
        }
        if !redirect.path.starts_with('/')
            || redirect
                .path
                .contains(|c: char| c.is_whitespace() || c == '?' || c == '#')
        {
            return Err(Error::invalid(
                "config.redirect.path",
                "redirect.path must start with '/' and hold no query",
            ));
        }

        let seconds = |v: Option<u64>, default: u64, field: &str| -> Result<Duration> {
            match v.unwrap_or(default) {
                0 => Err(Error::invalid(
                    format!("config.timeouts.{field}"),
                    "a timeout must be at least 1 second",
                )),
                s if s > 86_400 => Err(Error::invalid(
                    format!("config.timeouts.{field}"),
                    "a timeout must be at most 86400 seconds",
                )),
                s => Ok(Duration::from_secs(s)),
            }
        };
        let timeouts = Timeouts {
            authorize: seconds(self.timeouts.authorize_s, DEFAULT_AUTHORIZE_S, "authorize_s")?,
            connect: seconds(self.timeouts.connect_s, DEFAULT_CONNECT_S, "connect_s")?,
            io: seconds(self.timeouts.io_s, DEFAULT_IO_S, "io_s")?,
        };

        if let Some(path) = &self.tls.extra_ca_file {
            if path.is_empty() {
                return Err(Error::invalid("config.tls.extra_ca_file", "extra_ca_file is empty"));
            }
        }
        let proxy = match self.proxy.as_deref() {
            None | Some("") => None,
            Some(p) => {
                let url =
                    Url::parse(p).map_err(|e| Error::invalid("config.proxy", format!("proxy is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(Error::invalid(
                        "config.proxy",
                        "proxy must be an http:// or https:// URL with a host",
                    ));
                }
                Some(url)
            }
        };

        let store = self.store.map(resolve_store).transpose()?;

        Ok(Settings {
            provider: spec,
            client_id: self.client_id,
            client_secret,
            transport,
            scopes,
            endpoints,
            redirect,
            timeouts,
            extra_ca_file: self.tls.extra_ca_file,
            proxy,
            ui_language: self.ui_language.unwrap_or_default(),
            smtp_auth: self.smtp_auth.unwrap_or_default(),
            service_account,
            store,
        })
    }
}

/// `service_account_file`: Google only; the key file read and checked once; its `token_uri` an
/// https URL (plain http only to a loopback address, for local tests).
fn read_service_account(provider: ProviderKind, path: &str) -> Result<ServiceAccountKey> {
    use crate::service_account::FIELD;
    if provider != ProviderKind::Google {
        return Err(Error::invalid(
            FIELD,
            "service_account_file works only with provider 'google' (Google Workspace domain-wide delegation)",
        ));
    }
    if path.trim().is_empty() {
        return Err(Error::invalid(FIELD, "service_account_file is empty"));
    }
    let key = ServiceAccountKey::from_file(std::path::Path::new(path))?;
    let uri = Url::parse(&key.token_uri).map_err(|_| Error::invalid(FIELD, "the key file's token_uri is not a URL"))?;
    let loopback = matches!(uri.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(uri.scheme() == "https" || (uri.scheme() == "http" && loopback)) || uri.host_str().is_none() {
        return Err(Error::invalid(
            FIELD,
            "the key file's token_uri must be an https:// URL",
        ));
    }
    Ok(key)
}

/// `protect` is `user` by default on Windows; elsewhere it must be named, so that a plain-text
/// store is only ever written when asked for.
fn resolve_store(store: StoreConfig) -> Result<StoreSettings> {
    if store.path.trim().is_empty() {
        return Err(Error::invalid("config.store.path", "store.path is empty"));
    }
    let protect = match store.protect.as_deref() {
        Some(name) => Protect::from_name(name).ok_or_else(|| {
            Error::invalid(
                "config.store.protect",
                format!("store.protect must be \"user\", \"machine\" or \"none\", not \"{name}\""),
            )
        })?,
        None => Protect::platform_default().ok_or_else(|| {
            Error::invalid(
                "config.store.protect",
                "store.protect is required on this platform: DPAPI (\"user\", the Windows default) exists only on \
                 Windows, so name \"none\" for a plain file",
            )
            .with_hint(&hint::STORE_PROTECT_UNAVAILABLE)
        })?,
    };
    if !protect.available() {
        return Err(Error::invalid(
            "config.store.protect",
            format!(
                "store.protect \"{}\" needs Windows DPAPI, which this platform does not have",
                protect.name()
            ),
        )
        .with_hint(&hint::STORE_PROTECT_UNAVAILABLE));
    }
    Ok(StoreSettings {
        path: PathBuf::from(store.path),
        protect,
    })
}

fn resolve_endpoints(
    spec: &ProviderSpec,
    given: &EndpointsConfig,
    tenant: Option<&str>,
    transport: TransportKind,
) -> Result<Endpoints> {
    let defaults = spec.endpoints.as_ref();
    let pick =
        |given: &Option<String>, default: Option<&'static str>, name: &str, required: bool| -> Result<Option<Url>> {
            let field = format!("config.endpoints.{name}");
            let text = match (given, default) {
                // A configured endpoint may carry `{tenant}` too (a test server, a sovereign cloud).
                (Some(g), _) if tenant.is_some() => g.replace("{tenant}", tenant.unwrap_or("common")),
                (Some(g), _) => g.clone(),
                (None, Some(d)) => d.replace("{tenant}", tenant.unwrap_or("common")),
                (None, None) if required => {
                    return Err(Error::invalid(
                        field,
                        format!("endpoints.{name} is required for provider '{}'", spec.name),
                    ))
                }
                (None, None) => return Ok(None),
            };
            let url = Url::parse(&text).map_err(|e| Error::invalid(field.clone(), format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
                return Err(Error::invalid(field, "must be an https:// URL"));
            }
            // Secrets, codes and tokens travel to these endpoints: clear text only on this machine.
            if url.scheme() == "http" && !is_loopback(&url) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "endpoints.{name} is http:// to a host that is not this machine: use https:// \
                         (http:// is accepted only for 127.0.0.0/8, ::1 and localhost)"
                    ),
                ));
            }
            Ok(Some(url))
        };
    let required = |t: TransportKind| transport == t;
    let authorization = pick(
        &given.authorization,
        defaults.map(|d| d.authorization),
        "authorization",
        true,
    )?
    .expect("required endpoint");
    let token = pick(&given.token, defaults.map(|d| d.token), "token", true)?.expect("required endpoint");
    let revocation = pick(
        &given.revocation,
        defaults.and_then(|d| d.revocation),
        "revocation",
        false,
    )?;
    let userinfo = pick(&given.userinfo, defaults.and_then(|d| d.userinfo), "userinfo", false)?;
    let gmail_api = pick(
        &given.gmail_api,
        defaults.and_then(|d| d.gmail_api),
        "gmail_api",
        required(TransportKind::GmailApi),
    )?;
    let graph = pick(
        &given.graph,
        defaults.and_then(|d| d.graph),
        "graph",
        required(TransportKind::Graph),
    )?;
    let smtp_text = given
        .smtp
        .clone()
        .or_else(|| defaults.and_then(|d| d.smtp).map(String::from));
    let smtp = match smtp_text {
        Some(text) => Some(parse_smtp(&text)?),
        None if required(TransportKind::Smtp) => {
            return Err(Error::invalid(
                "config.endpoints.smtp",
                format!("endpoints.smtp is required for provider '{}'", spec.name),
            ))
        }
        None => None,
    };
    Ok(Endpoints {
        authorization,
        token,
        revocation,
        userinfo,
        gmail_api,
        smtp,
        graph,
    })
}

/// 127.0.0.0/8, ::1 or `localhost` (the name, not a name that starts with it).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn parse_smtp(text: &str) -> Result<SmtpEndpoint> {
    const FIELD: &str = "config.endpoints.smtp";
    let url = Url::parse(text).map_err(|e| Error::invalid(FIELD, format!("not a URL: {e}")))?;
    let implicit_tls = match url.scheme() {
        "smtps" => true,
        "smtp" => false,
        _ => {
            return Err(Error::invalid(
                FIELD,
                "must be smtps://host:465 (implicit TLS) or smtp://host:587 (STARTTLS)",
            ))
        }
    };
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(h) => h.to_string(),
        None => return Err(Error::invalid(FIELD, "has no host")),
    };
    let port = url.port().unwrap_or(if implicit_tls { 465 } else { 587 });
    Ok(SmtpEndpoint {
        host,
        port,
        implicit_tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_file(name: &str, json: &str) -> String {
        let path = std::env::temp_dir().join(format!("oauthmail-config-{}-{name}.json", std::process::id()));
        std::fs::write(&path, json).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn client_secrets_file_supplies_the_installed_client_and_explicit_fields_win() {
        let path = client_file(
            "installed",
            r#"{"installed":{"client_id":"1072-abc.apps.googleusercontent.com","project_id":"p","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","client_secret":"GOCSPX-from-file","redirect_uris":["http://localhost"]}}"#,
        );
        let config = |extra: &str| {
            let json = format!(r#"{{"provider":"google","client_secrets_file":{path:?}{extra}}}"#);
            serde_json::from_str::<Config>(&json).unwrap().resolve()
        };
        let s = config("").unwrap();
        assert_eq!(s.client_id, "1072-abc.apps.googleusercontent.com");
        assert_eq!(s.client_secret.as_ref().unwrap().expose(), "GOCSPX-from-file");
        assert_eq!(
            s.endpoints.authorization.as_str(),
            "https://accounts.google.com/o/oauth2/auth"
        );
        assert_eq!(s.endpoints.token.as_str(), "https://oauth2.googleapis.com/token");
        let s = config(
            r#","client_id":"mine","client_secret":"GOCSPX-mine","endpoints":{"token":"https://127.0.0.1:1/token"}"#,
        )
        .unwrap();
        assert_eq!(s.client_id, "mine");
        assert_eq!(s.client_secret.as_ref().unwrap().expose(), "GOCSPX-mine");
        assert_eq!(s.endpoints.token.as_str(), "https://127.0.0.1:1/token");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_web_client_file_is_refused_with_the_desktop_app_hint_and_a_missing_one_is_io() {
        let path = client_file(
            "web",
            r#"{"web":{"client_id":"1072-web.apps.googleusercontent.com","client_secret":"GOCSPX-web","redirect_uris":["https://erp.example.ro/cb"]}}"#,
        );
        let json = format!(r#"{{"provider":"google","client_secrets_file":{path:?}}}"#);
        let e = serde_json::from_str::<Config>(&json).unwrap().resolve().unwrap_err();
        assert_eq!(e.status, crate::error::Status::InvalidArgument);
        assert_eq!(e.field.as_deref(), Some("config.client_secrets_file"));
        assert_eq!(e.hint_id, hint::DESKTOP_CLIENT_FILE.id);
        assert!(e.message.contains("Web application"), "{}", e.message);
        assert!(!e.to_document().to_string().contains("GOCSPX-web"));
        let _ = std::fs::remove_file(&path);
        let e = serde_json::from_str::<Config>(&json).unwrap().resolve().unwrap_err();
        assert_eq!(e.status, crate::error::Status::Io);
    }

    fn google(extra: &str) -> Result<Settings> {
        let json = format!(r#"{{"provider":"google","client_id":"id","client_secret":"s"{extra}}}"#);
        serde_json::from_str::<Config>(&json).unwrap().resolve()
    }

    #[test]
    fn google_defaults_are_gmail_api_with_gmail_send() {
        let s = google("").unwrap();
        assert_eq!(s.transport, TransportKind::GmailApi);
        assert_eq!(s.scopes, ["openid", "email", crate::provider::GMAIL_SEND]);
        assert_eq!(s.endpoints.token.as_str(), "https://oauth2.googleapis.com/token");
        assert_eq!(s.endpoints.smtp.as_ref().unwrap().port, 465);
        assert_eq!(s.timeouts.authorize, Duration::from_secs(300));
    }

    #[test]
    fn google_without_secret_is_refused_naming_the_field() {
        let e = serde_json::from_str::<Config>(r#"{"provider":"google","client_id":"id"}"#)
            .unwrap()
            .resolve()
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.client_secret"));
    }

    #[test]
    fn smtp_endpoint_scheme_selects_tls_mode() {
        let s = google(r#","transport":"smtp","endpoints":{"smtp":"smtp://127.0.0.1:2587"}"#).unwrap();
        assert_eq!(
            s.endpoints.smtp,
            Some(SmtpEndpoint {
                host: "127.0.0.1".into(),
                port: 2587,
                implicit_tls: false
            })
        );
        let e = google(r#","endpoints":{"smtp":"plain://x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.endpoints.smtp"));
    }

    #[test]
    fn custom_requires_endpoints_and_scopes() {
        let e = serde_json::from_str::<Config>(r#"{"provider":"custom","client_id":"id"}"#)
            .unwrap()
            .resolve()
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.endpoints.authorization"));
    }

    #[test]
    fn debug_output_hides_the_secret_and_the_proxy_password() {
        let s = google(r#","proxy":"http://user:hunter2@proxy.local:8080""#).unwrap();
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2") && text.contains("proxy.local"), "{text}");
        assert!(!text.contains(r#""s""#), "{text}");
    }

    #[test]
    fn redirect_host_must_be_loopback() {
        let e = google(r#","redirect":{"host":"example.com"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.redirect.host"));
    }

    #[test]
    fn a_store_needs_a_path_and_a_protection_that_this_platform_has() {
        let s = google(r#", "store": {"path": "/var/lib/wme/tokens.json", "protect": "none"}"#).unwrap();
        let store = s.store.unwrap();
        assert_eq!(store.path, PathBuf::from("/var/lib/wme/tokens.json"));
        assert_eq!(store.protect, Protect::None);
        assert!(google("").unwrap().store.is_none());

        let field = |extra: &str| google(extra).unwrap_err().field.clone().unwrap();
        assert_eq!(
            field(r#", "store": {"path": "", "protect": "none"}"#),
            "config.store.path"
        );
        assert_eq!(
            field(r#", "store": {"path": "t.json", "protect": "plain"}"#),
            "config.store.protect"
        );
        let dpapi = google(r#", "store": {"path": "t.json", "protect": "user"}"#);
        let default = google(r#", "store": {"path": "t.json"}"#);
        if cfg!(windows) {
            assert_eq!(dpapi.unwrap().store.unwrap().protect, Protect::User);
            assert_eq!(default.unwrap().store.unwrap().protect, Protect::User);
        } else {
            for e in [dpapi.unwrap_err(), default.unwrap_err()] {
                assert_eq!(e.status, crate::error::Status::InvalidArgument);
                assert_eq!(e.field.as_deref(), Some("config.store.protect"));
                assert_eq!(e.hint, hint::STORE_PROTECT_UNAVAILABLE.text);
            }
        }
    }
}
