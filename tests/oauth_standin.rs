//! Authorize, refresh and revoke against the Google stand-in (in-process, HTTPS with its own CA):
//! the real wire formats of providers.md §1, every token-endpoint error the stand-in can produce,
//! the proxy, TLS without the stand-in's CA, cancel of an HTTP call, and no secret in any log
//! line or error document.

mod oauth_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_support::*;
use oauthmail::authorize::AuthorizeOptions;
use oauthmail::hint;
use oauthmail::token::TokenDocument;
use oauthmail::{Client, Config, Error, Status};
use oauthmail_standin::{Options, Standin};
use serde_json::{json, Value};

const USER: &str = "erp.test@gmail.com";
const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";

fn standin() -> Standin {
    Standin::start(Options {
        auto_approve: true,
        ..Default::default()
    })
    .expect("start the stand-in")
}

/// A client for the stand-in; `extra` is appended to the config object (`,"proxy":"…"`).
fn client_with(s: &Standin, extra: &str, trust_ca: bool) -> Client {
    let i = s.info();
    let mut config = json!({
        "provider": "google",
        "client_id": i.client_id,
        "client_secret": i.client_secret,
        "endpoints": {
            "authorization": i.authorization_endpoint,
            "token": i.token_endpoint,
            "revocation": i.revocation_endpoint,
            "userinfo": i.userinfo_endpoint,
            "gmail_api": i.gmail_api,
            "smtp": i.smtps,
        },
        "timeouts": {"authorize_s": 20, "connect_s": 5, "io_s": 10},
    });
    if trust_ca {
        config["tls"] = json!({"extra_ca_file": i.ca_file});
    }
    // `extra` holds more members (`,"timeouts":{…}`); objects merge into the defaults.
    let extra: Value = serde_json::from_str(&format!("{{{}}}", extra.trim_start_matches(','))).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        match (config.get_mut(k), v) {
            (Some(Value::Object(base)), Value::Object(more)) => base.extend(more.clone()),
            _ => config[k] = v.clone(),
        }
    }
    Client::new(serde_json::from_value::<Config>(config).unwrap()).unwrap()
}

fn client(s: &Standin) -> Client {
    client_with(s, "", true)
}

/// A token document for `email` minted by the stand-in (as if the user had consented).
fn minted(s: &Standin, email: &str, scope: &str) -> TokenDocument {
    let t = s.mint_token(email, scope, true).expect("mint");
    token_doc(&t)
}

fn token_doc(t: &Value) -> TokenDocument {
    serde_json::from_value(json!({
        "provider": "google",
        "email": t["email"],
        "scope": t["scope"],
        "token_type": "Bearer",
        "access_token": t["access_token"],
        "expires_at": t["expires_at"],
        "refresh_token": t["refresh_token"],
    }))
    .unwrap()
}

fn control(s: &Standin, path: &str, body: Value) -> Value {
    let mut r = ureq::post(format!("{}{path}", s.control_url()))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("control plane");
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// The "browser": follows the authorization URL at the stand-in (auto-approve redirects at once)
/// and returns the Location it redirects to.
fn authorization_redirect(s: &Standin, url: &str) -> String {
    let pem = std::fs::read(&s.info().ca_file).unwrap();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        )
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent.get(url).call().expect("authorization endpoint");
    assert_eq!(
        r.status().as_u16(),
        302,
        "the stand-in should redirect at once (auto-approve)"
    );
    r.headers()
        .get("location")
        .expect("Location")
        .to_str()
        .unwrap()
        .to_string()
}

fn outcome(page: &Page) -> String {
    let at = page.body.find("data-outcome=\"").map(|i| i + 14).unwrap_or(0);
    let rest = &page.body[at..];
    rest[..rest.find('"').unwrap_or(0)].to_string()
}

fn hinted(email: &str) -> AuthorizeOptions {
    AuthorizeOptions {
        login_hint: Some(email.into()),
        open_browser: None,
    }
}

fn secrets_of(doc: &TokenDocument) -> Vec<String> {
    [&doc.access_token, &doc.refresh_token]
        .into_iter()
        .flatten()
        .map(|s| s.expose().to_string())
        .collect()
}

#[test]
fn authorize_with_the_standin_returns_the_token_document_and_ignores_stray_requests() {
    let s = standin();
    let client = client(&s);
    let log = capture_log(&client);
    let codes: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen_codes = codes.clone();
    let si = s.info().clone();
    let s2 = Arc::new(s);
    let s3 = s2.clone();
    let opened = open_with(&client, move |url, seen| {
        let location = authorization_redirect(&s3, &url);
        let port = port_of(&location);
        seen_codes
            .lock()
            .unwrap()
            .push(param(&location, "code").expect("a code in the redirect"));
        // What a real browser does around the redirect: a favicon, an idle pre-connection, an
        // old tab with another state, then the real redirect.
        let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut pages = vec![get(&format!("http://127.0.0.1:{port}/favicon.ico"))];
        pages.push(get(&with_param(&location, "state", "an-old-tab")));
        pages.push(get(&location));
        drop(idle);
        seen.lock().unwrap().extend(pages);
    });
    let doc = client.authorize(&hinted(USER)).expect("authorize");
    let pages = opened.join();

    assert_eq!(doc.email.as_deref(), Some(USER));
    assert!(doc.scope.split(' ').any(|s| s == GMAIL_SEND), "{}", doc.scope);
    assert_eq!(doc.token_type, "Bearer");
    assert!(doc.refresh_token.is_some() && doc.access_token.is_some());
    let left = doc.expires_at.unwrap() - now_unix();
    assert!((3500..=3600).contains(&left), "{left}");
    let got: Vec<(u16, String)> = pages.iter().map(|p| (p.status, outcome(p))).collect();
    assert_eq!(
        got,
        [
            (404, "not-found".to_string()),
            (400, "state-mismatch".to_string()),
            (200, "connected".to_string())
        ]
    );
    assert!(pages[2].body.contains(USER));
    let counters = s2.counters();
    assert_eq!(counters["token"]["authorization_code"], 1);

    // The grant is real: the stand-in refreshes it.
    let refreshed = client.refresh(&doc).expect("refresh the fresh grant");
    assert_eq!(refreshed.refresh_token, doc.refresh_token);

    let code = codes.lock().unwrap()[0].clone();
    assert!(code.contains('/'), "the stand-in's codes contain '/': {code}");
    let mut texts: Vec<String> = log.lock().unwrap().clone();
    texts.extend(pages.iter().map(|p| p.body.clone()));
    let mut secrets = secrets_of(&doc);
    secrets.extend(secrets_of(&refreshed));
    secrets.push(code);
    secrets.push(si.client_secret.clone());
    assert_no_secret(&texts, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn deny_at_the_standin_is_access_denied() {
    let s = standin();
    s.set_settings(&json!({"auto_approve_decision": "deny"})).unwrap();
    let client = client(&s);
    let s = Arc::new(s);
    let s2 = s.clone();
    let opened = open_with(&client, move |url, seen| {
        let location = authorization_redirect(&s2, &url);
        assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
        seen.lock().unwrap().push(get(&location));
    });
    let e = client.authorize(&hinted(USER)).unwrap_err();
    assert_eq!(e.status, Status::AccessDenied);
    assert_eq!(outcome(&opened.join()[0]), "denied");
    assert_eq!(s.counters()["token"]["authorization_code"], 0);
}

#[test]
fn narrower_configured_scopes_than_the_transport_needs_are_insufficient_scope() {
    // The user "unticked" Gmail: here the app asked for identity only, so nothing can send.
    let s = standin();
    let client = client_with(&s, r#","scopes":["openid","email"]"#, true);
    let s = Arc::new(s);
    let s2 = s.clone();
    let opened = open_with(&client, move |url, seen| {
        let location = authorization_redirect(&s2, &url);
        seen.lock().unwrap().push(get(&location));
    });
    let e = client.authorize(&hinted(USER)).unwrap_err();
    assert_eq!(e.status, Status::InsufficientScope);
    assert_eq!(e.hint, hint::INSUFFICIENT_SCOPE_API.text);
    assert_eq!(outcome(&opened.join()[0]), "exchange-failed");
}

#[test]
fn refresh_renews_the_access_token_and_keeps_the_refresh_token() {
    let s = standin();
    let client = client(&s);
    let doc = minted(&s, USER, &format!("openid email {GMAIL_SEND}"));
    let fresh = client.refresh(&doc).expect("refresh");
    assert_eq!(
        fresh.refresh_token, doc.refresh_token,
        "Google does not rotate refresh tokens"
    );
    assert_ne!(fresh.access_token, doc.access_token);
    assert_eq!(fresh.email.as_deref(), Some(USER));
    assert!(fresh.scope.contains(GMAIL_SEND));
    let left = fresh.expires_at.unwrap() - now_unix();
    assert!((3500..=3600).contains(&left), "{left}");
    assert_eq!(s.counters()["token"]["refresh_token"], 1);
}

fn assert_provider(e: &Error, http: u16, error: &str, description: &str) {
    let p = e.provider.as_ref().expect("provider details");
    assert_eq!(p.http_status, Some(http), "{e:?}");
    assert_eq!(p.error.as_deref(), Some(error), "{e:?}");
    assert_eq!(p.error_description.as_deref(), Some(description), "{e:?}");
}

#[test]
fn testing_app_refresh_token_dies_after_seven_days_with_the_publish_hint() {
    let s = standin();
    let client = client(&s);
    let doc = minted(&s, USER, &format!("openid email {GMAIL_SEND}"));
    s.advance_clock(6 * 86_400);
    client.refresh(&doc).expect("still alive on day 6");
    s.advance_clock(86_400 + 60);
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(e.hint, hint::REAUTHORIZE_TESTING_EXPIRY.text);
    assert!(e.hint.contains("7 days") && e.hint.contains("Publish"));
    assert_provider(&e, 400, "invalid_grant", "Token has been expired or revoked.");
    // invalid_grant is never retried.
    assert_eq!(s.counters()["token"]["refresh_token"], 2);
}

#[test]
fn production_app_refresh_token_outlives_seven_days() {
    let s = standin();
    s.set_settings(&json!({"publishing_status": "production"})).unwrap();
    let client = client(&s);
    let doc = minted(&s, USER, &format!("openid email {GMAIL_SEND}"));
    s.advance_clock(30 * 86_400);
    client
        .refresh(&doc)
        .expect("production tokens do not expire after 7 days");
}

#[test]
fn refresh_token_revoked_by_the_user_is_reauthorize() {
    let s = standin();
    let client = client(&s);
    let doc = minted(&s, USER, &format!("openid email {GMAIL_SEND}"));
    let revoked = control(&s, "/revoke", json!({"email": USER}))["revoked"]
        .as_u64()
        .unwrap();
    assert!(revoked >= 1, "the stand-in revoked the grant's tokens");
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    assert_provider(&e, 400, "invalid_grant", "Token has been expired or revoked.");
}

#[test]
fn wrong_client_secret_is_auth_failed_with_the_invalid_client_hint() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    let i = s.info();
    let config = format!(
        r#"{{"provider":"google","client_id":"{}","client_secret":"GOCSPX-wrong-secret",
            "endpoints":{{"token":"{}"}},"tls":{{"extra_ca_file":"{}"}}}}"#,
        i.client_id, i.token_endpoint, i.ca_file
    );
    let client = Client::new(serde_json::from_str(&config).unwrap()).unwrap();
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::INVALID_CLIENT.text);
    assert_provider(&e, 401, "invalid_client", "Unauthorized");
    assert!(!e.to_document().to_string().contains("GOCSPX-wrong-secret"));
}

#[test]
fn unknown_client_id_is_auth_failed_with_the_invalid_client_hint() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    let i = s.info();
    let config = format!(
        r#"{{"provider":"google","client_id":"999-unknown.apps.googleusercontent.com","client_secret":"GOCSPX-x",
            "endpoints":{{"token":"{}"}},"tls":{{"extra_ca_file":"{}"}}}}"#,
        i.token_endpoint, i.ca_file
    );
    let client = Client::new(serde_json::from_str(&config).unwrap()).unwrap();
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::INVALID_CLIENT.text);
    assert_provider(&e, 401, "invalid_client", "The OAuth client was not found.");
}

#[test]
fn deleted_client_is_auth_failed_with_the_invalid_client_hint() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    s.set_settings(&json!({"client_deleted": true})).unwrap();
    let e = client(&s).refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::INVALID_CLIENT.text);
    assert_provider(&e, 401, "deleted_client", "The OAuth client was deleted.");
}

#[test]
fn refresh_token_of_another_client_is_auth_failed_with_the_unauthorized_client_hint() {
    let s = standin();
    let t = control(
        &s,
        "/tokens",
        json!({"email": USER, "scope": GMAIL_SEND, "offline": true, "client_id": oauthmail_standin::OTHER_CLIENT_ID}),
    );
    let e = client(&s).refresh(&token_doc(&t)).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::UNAUTHORIZED_CLIENT.text);
    assert_provider(&e, 401, "unauthorized_client", "Unauthorized");
}

#[test]
fn missing_client_secret_is_auth_failed_with_the_client_secret_hint() {
    // provider "custom" lets the configuration omit the secret; the stand-in (like Google) refuses.
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    let i = s.info();
    let config = format!(
        r#"{{"provider":"custom","client_id":"{}","scopes":["openid"],
            "endpoints":{{"authorization":"{}","token":"{}","gmail_api":"{}"}},"tls":{{"extra_ca_file":"{}"}}}}"#,
        i.client_id, i.authorization_endpoint, i.token_endpoint, i.gmail_api, i.ca_file
    );
    let client = Client::new(serde_json::from_str(&config).unwrap()).unwrap();
    let mut doc = doc;
    doc.provider = oauthmail::provider::ProviderKind::Custom;
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::CLIENT_SECRET_MISSING.text);
    assert_provider(&e, 400, "invalid_request", "client_secret is missing.");
}

#[test]
fn rate_limited_token_endpoint_is_rate_limited_with_retry_after() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    s.add_fault(&json!({"endpoint": "token", "kind": "rate_limit", "retry_after_s": 42}))
        .unwrap();
    let e = client(&s).refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::RateLimited);
    assert_eq!(e.retry_after_s, Some(42));
    assert_eq!(e.provider.as_ref().unwrap().http_status, Some(429));
}

#[test]
fn server_errors_are_retried_briefly_then_provider() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    let client = client(&s);
    s.add_fault(&json!({"endpoint": "token", "kind": "status", "status": 503, "count": 1}))
        .unwrap();
    client.refresh(&doc).expect("one 503, then success");
    assert_eq!(s.counters()["token"]["refresh_token"], 2);

    s.add_fault(&json!({"endpoint": "token", "kind": "status", "status": 500, "count": 10}))
        .unwrap();
    let started = Instant::now();
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Provider);
    assert_eq!(e.provider.as_ref().unwrap().http_status, Some(500));
    assert_eq!(s.counters()["token"]["refresh_token"], 5, "three attempts, no more");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn revoke_then_refresh_is_reauthorize_and_revoking_again_still_succeeds() {
    let s = standin();
    let client = client(&s);
    let doc = minted(&s, USER, GMAIL_SEND);
    client.revoke(&doc).expect("revoke");
    assert_eq!(s.counters()["revoke"], 1);
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    client
        .revoke(&doc)
        .expect("revoking a token the provider no longer knows counts as success");
}

#[test]
fn documents_without_a_refresh_token_cannot_be_refreshed() {
    let s = standin();
    let mut doc = minted(&s, USER, GMAIL_SEND);
    doc.refresh_token = None;
    let e = client(&s).refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(e.hint, hint::REAUTHORIZE_NO_REFRESH_TOKEN.text);
    assert_eq!(e.field.as_deref(), Some("token.refresh_token"));
    assert_eq!(s.counters()["token"]["refresh_token"], 0);
}

#[test]
fn revoke_without_a_revocation_endpoint_explains_why() {
    // Microsoft has none: the token is forgotten and the result says where consent is removed
    // (issue 15); a custom provider without one is a configuration error naming the field.
    let config = r#"{"provider":"microsoft","client_id":"00000000-0000-0000-0000-000000000000"}"#;
    let client = Client::new(serde_json::from_str(config).unwrap()).unwrap();
    let doc: TokenDocument = serde_json::from_value(json!({
        "provider": "microsoft", "scope": "", "refresh_token": "M.R3_BAY.secret-value"
    }))
    .unwrap();
    assert_eq!(
        client.revoke(&doc).unwrap(),
        oauthmail::token::Revocation::Forgotten {
            hint: &hint::MS_NO_REVOCATION
        }
    );
    let config = json!({"provider": "custom", "client_id": "c", "endpoints": {
        "authorization": "https://auth.example/authorize", "token": "https://auth.example/token",
        "gmail_api": "https://api.example"}, "scopes": ["send"]});
    let client = Client::new(serde_json::from_value(config).unwrap()).unwrap();
    let doc: TokenDocument = serde_json::from_value(json!({
        "provider": "custom", "scope": "", "refresh_token": "secret-value"
    }))
    .unwrap();
    let e = client.revoke(&doc).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("config.endpoints.revocation"));
    assert!(e.message.contains("no token revocation endpoint"), "{}", e.message);
}

#[test]
fn a_client_without_the_standin_ca_fails_with_tls_naming_the_issuer() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    let e = client_with(&s, "", false).refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Tls, "{e:?}");
    assert!(
        e.message.contains("oauthmail-standin test CA (not Google)"),
        "the message names the issuer: {}",
        e.message
    );
    assert_eq!(e.hint, hint::TLS_INSPECTION.text);
}

/// A minimal HTTP CONNECT proxy on loopback; records the CONNECT targets.
struct Proxy {
    port: u16,
    targets: Arc<Mutex<Vec<String>>>,
}

fn proxy(refuse: bool) -> Proxy {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let t = targets.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let t = t.clone();
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if c.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
                let target = line.split(' ').nth(1).unwrap_or("").to_string();
                t.lock().unwrap().push(line.clone());
                if refuse || !line.starts_with("CONNECT ") {
                    let _ = c.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                let Ok(up) = TcpStream::connect(&target) else { return };
                let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                up.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
                let pump = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up2, &mut c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                let mut up = up;
                let _ = std::io::copy(&mut c, &mut up);
                let _ = up.shutdown(Shutdown::Write);
                let _ = pump.join();
            });
        }
    });
    Proxy { port, targets }
}

#[test]
fn https_calls_go_through_the_configured_connect_proxy() {
    let s = standin();
    let p = proxy(false);
    let client = client_with(&s, &format!(r#","proxy":"http://127.0.0.1:{}""#, p.port), true);
    let doc = minted(&s, USER, GMAIL_SEND);
    client.refresh(&doc).expect("refresh through the proxy");
    // A second call from another thread reuses the kept-alive TLS connection: one tunnel only.
    std::thread::scope(|t| {
        t.spawn(|| client.refresh(&doc).expect("second refresh through the proxy"));
    });
    let token_port = url::Url::parse(&s.info().token_endpoint).unwrap().port().unwrap();
    let targets = p.targets.lock().unwrap().clone();
    assert_eq!(targets, [format!("CONNECT 127.0.0.1:{token_port} HTTP/1.1")]);
    assert_eq!(s.counters()["token"]["refresh_token"], 2);
}

#[test]
fn a_proxy_that_refuses_the_tunnel_is_network_with_the_proxy_hint() {
    let s = standin();
    let p = proxy(true);
    let client = client_with(&s, &format!(r#","proxy":"http://127.0.0.1:{}""#, p.port), true);
    let e = client.refresh(&minted(&s, USER, GMAIL_SEND)).unwrap_err();
    assert_eq!(e.status, Status::Network, "{e:?}");
    assert_eq!(e.hint, hint::PROXY.text);
    assert_eq!(s.counters()["token"]["refresh_token"], 0);
}

#[test]
fn cancel_stops_a_hanging_token_request_within_a_second() {
    let s = standin();
    let client = Arc::new(client(&s));
    let doc = minted(&s, USER, GMAIL_SEND);
    s.add_fault(&json!({"endpoint": "token", "kind": "hang"})).unwrap();
    let c = client.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        c.cancel();
        Instant::now()
    });
    let e = client.refresh(&doc).unwrap_err();
    let returned = Instant::now();
    assert_eq!(e.status, Status::Cancelled, "{e:?}");
    assert!(returned.duration_since(canceller.join().unwrap()) < Duration::from_secs(1));
    client.refresh(&doc).expect("the next call is not cancelled");
}

#[test]
fn a_hanging_token_endpoint_times_out_after_io_s() {
    let s = standin();
    let client = client_with(&s, r#","timeouts":{"io_s":1,"connect_s":5}"#, true);
    let doc = minted(&s, USER, GMAIL_SEND);
    s.add_fault(&json!({"endpoint": "token", "kind": "hang"})).unwrap();
    let started = Instant::now();
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[test]
fn no_secret_reaches_a_log_line_at_trace_level_or_an_error_document() {
    let s = standin();
    let client = client(&s);
    let log = capture_log(&client);
    let doc = minted(&s, USER, &format!("openid email {GMAIL_SEND}"));
    let fresh = client.refresh(&doc).unwrap();
    let mut errors = Vec::new();
    s.add_fault(&json!({"endpoint": "token", "kind": "rate_limit"}))
        .unwrap();
    errors.push(client.refresh(&fresh).unwrap_err());
    client.revoke(&fresh).unwrap();
    errors.push(client.refresh(&fresh).unwrap_err());
    let wrong = client_with(&s, "", false);
    wrong.set_logger(None, oauthmail::log::Level::Trace);
    errors.push(wrong.refresh(&fresh).unwrap_err());

    let mut texts = log.lock().unwrap().clone();
    assert!(
        texts.iter().any(|l| l.contains("/token")),
        "HTTP calls are logged: {texts:?}"
    );
    texts.extend(errors.iter().map(|e| e.to_document().to_string()));
    let mut secrets = secrets_of(&doc);
    secrets.extend(secrets_of(&fresh));
    secrets.push(s.info().client_secret.clone());
    assert_no_secret(&texts, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn parallel_refreshes_from_many_threads_on_one_client_all_succeed() {
    let s = standin();
    let client = client(&s);
    let docs: Vec<TokenDocument> = (0..8).map(|_| minted(&s, USER, GMAIL_SEND)).collect();
    std::thread::scope(|t| {
        let handles: Vec<_> = docs
            .iter()
            .map(|d| {
                let client = &client;
                t.spawn(move || client.refresh(d).map_err(|e| e.to_document().to_string()))
            })
            .collect();
        for (h, d) in handles.into_iter().zip(&docs) {
            let fresh = h.join().unwrap().expect("refresh in parallel");
            assert_eq!(fresh.refresh_token, d.refresh_token);
        }
    });
    assert_eq!(s.counters()["token"]["refresh_token"], 8);
}

#[test]
fn a_connection_dropped_mid_answer_is_network() {
    let s = standin();
    let doc = minted(&s, USER, GMAIL_SEND);
    s.add_fault(&json!({"endpoint": "token", "kind": "drop"})).unwrap();
    let e = client(&s).refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Network, "{e:?}");
}

#[test]
fn a_token_document_of_another_provider_is_refused_naming_the_field() {
    let s = standin();
    let mut doc = minted(&s, USER, GMAIL_SEND);
    doc.provider = oauthmail::provider::ProviderKind::Microsoft;
    let client = client(&s);
    for e in [client.refresh(&doc).unwrap_err(), client.revoke(&doc).unwrap_err()] {
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.field.as_deref(), Some("token.provider"));
    }
    assert_eq!(s.counters()["token"]["refresh_token"], 0);
    assert_eq!(s.counters()["revoke"], 0);
}

/// API.md "Provider custom": Google's authorization parameters (the stand-in issues a refresh
/// token only for `access_type=offline`), the client secret when configured (the stand-in
/// refuses a missing one), and token documents that say "custom".
#[test]
fn custom_provider_authorizes_like_google_and_its_documents_say_custom() {
    let s = standin();
    let i = s.info().clone();
    let config = json!({
        "provider": "custom",
        "client_id": i.client_id,
        "client_secret": i.client_secret,
        "transport": "gmail_api",
        "scopes": ["openid", "email", GMAIL_SEND],
        "endpoints": {
            "authorization": i.authorization_endpoint,
            "token": i.token_endpoint,
            "userinfo": i.userinfo_endpoint,
            "gmail_api": i.gmail_api,
        },
        "timeouts": {"authorize_s": 20, "connect_s": 5, "io_s": 10},
        "tls": {"extra_ca_file": i.ca_file},
    });
    let client = Client::new(serde_json::from_value::<Config>(config).unwrap()).unwrap();
    let s = Arc::new(s);
    let s2 = s.clone();
    let opened = open_with(&client, move |url, seen| {
        for param_name in ["access_type", "prompt", "code_challenge", "state", "login_hint"] {
            assert!(param(&url, param_name).is_some(), "{param_name} in {url}");
        }
        assert_eq!(param(&url, "access_type").as_deref(), Some("offline"));
        let location = authorization_redirect(&s2, &url);
        seen.lock().unwrap().push(get(&location));
    });
    let doc = client.authorize(&hinted(USER)).expect("authorize with provider custom");
    opened.join();
    assert_eq!(doc.provider, oauthmail::provider::ProviderKind::Custom);
    assert_eq!(serde_json::to_value(&doc).unwrap()["provider"], "custom");
    assert_eq!(doc.email.as_deref(), Some(USER));
    assert!(doc.refresh_token.is_some());
    let refreshed = client.refresh(&doc).expect("refresh with provider custom");
    assert_eq!(refreshed.provider, oauthmail::provider::ProviderKind::Custom);
}
