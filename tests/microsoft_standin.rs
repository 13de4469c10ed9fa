//! The library against the stand-in's Microsoft side (issue 15): sign-in as a public client (no
//! secret, PKCE, tenant in the endpoint path, the address from the id_token), refresh with
//! rotation (the old refresh token then fails), SMTP submission to Outlook with Microsoft's
//! replies, and the AADSTS table with `provider.error_code`.

mod oauth_support;

use oauth_support::*;
use oauthmail::authorize::AuthorizeOptions;
use oauthmail::hint;
use oauthmail::message::MessageDocument;
use oauthmail::token::TokenDocument;
use oauthmail::{Client, Config, Status};
use oauthmail_standin::{Options, Standin, MS_PUBLIC_CLIENT_ID};
use serde_json::{json, Value};

const WORK: &str = "erp.test@contoso.onmicrosoft.com";
const SMTP_SEND: &str = "https://outlook.office.com/SMTP.Send";

fn standin() -> Standin {
    Standin::start(Options {
        auto_approve: true,
        ..Default::default()
    })
    .expect("start the stand-in")
}

/// A Microsoft client for the stand-in: the authority's `{tenant}` paths, Outlook SMTP.
fn client_with(s: &Standin, extra: Value) -> Client {
    let ms = &s.info().microsoft;
    let mut config = json!({
        "provider": "microsoft",
        "client_id": MS_PUBLIC_CLIENT_ID,
        "tenant": "organizations",
        "endpoints": {
            "authorization": format!("{}/{{tenant}}/oauth2/v2.0/authorize", ms.authority),
            "token": format!("{}/{{tenant}}/oauth2/v2.0/token", ms.authority),
            "smtp": ms.smtp_starttls,
        },
        "timeouts": {"authorize_s": 20, "connect_s": 5, "io_s": 10},
        "tls": {"extra_ca_file": s.info().ca_file},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    Client::new(serde_json::from_value::<Config>(config).unwrap()).unwrap()
}

fn agent(s: &Standin) -> ureq::Agent {
    let pem = std::fs::read(&s.info().ca_file).unwrap();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        )
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

fn control(s: &Standin, path: &str, body: Value) -> Value {
    let mut r = ureq::post(format!("{}{path}", s.control_url()))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("control plane");
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// Signs in through the library; the "browser" follows the stand-in's redirect (auto-approve with
/// login_hint) to the library's loopback listener. Returns the document and the authorize URL.
fn sign_in(s: &Standin, client: &Client) -> (TokenDocument, String) {
    let a = agent(s);
    let urls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_urls = urls.clone();
    let opened = open_with(client, move |url, seen| {
        seen_urls.lock().unwrap().push(url.clone());
        let r = a.get(&url).call().expect("authorization endpoint");
        assert_eq!(r.status().as_u16(), 302);
        let location = r.headers().get("location").unwrap().to_str().unwrap().to_string();
        seen.lock().unwrap().push(get(&location));
    });
    let doc = client
        .authorize(&AuthorizeOptions {
            login_hint: Some(WORK.into()),
            open_browser: None,
        })
        .expect("authorize");
    opened.join();
    let url = urls.lock().unwrap()[0].clone();
    (doc, url)
}

fn message() -> MessageDocument {
    serde_json::from_value(
        json!({"from": WORK, "to": ["friend@example.com"], "subject": "Factura", "text": "Plată la termen."}),
    )
    .unwrap()
}

#[test]
fn public_client_sign_in_refresh_rotation_and_outlook_smtp_send() {
    let s = standin();
    let client = client_with(&s, json!({}));
    let log = capture_log(&client);
    let (doc, url) = sign_in(&s, &client);
    // The organizations path, PKCE, offline_access, login_hint and no prompt (a hint was given).
    assert!(url.contains("/organizations/oauth2/v2.0/authorize?"), "{url}");
    assert!(param(&url, "code_challenge_method").as_deref() == Some("S256"));
    let scope = param(&url, "scope").unwrap();
    assert!(
        scope.split(' ').any(|x| x == "offline_access") && scope.contains(SMTP_SEND),
        "{scope}"
    );
    assert_eq!(param(&url, "login_hint").as_deref(), Some(WORK));
    assert_eq!(param(&url, "prompt"), None);
    assert_eq!(doc.email.as_deref(), Some(WORK), "the address comes from the id_token");
    assert_eq!(doc.scope, SMTP_SEND);
    // (The stand-in answers AADSTS700025 to a public client that sends a secret: none was sent.)
    let rt0 = doc.refresh_token.clone().unwrap();

    // Refresh rotates; the old refresh token then fails with Microsoft's error and its number.
    let refreshed = client.refresh(&doc).expect("refresh");
    let rt1 = refreshed.refresh_token.clone().unwrap();
    assert_ne!(rt0.expose(), rt1.expose(), "a new refresh token replaces the old one");
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(e.hint, hint::MS_GRANT_REVOKED.text);
    let p = e.provider.clone().unwrap();
    assert_eq!(p.error_code.as_deref(), Some("70000"));
    assert!(p.error_description.unwrap().starts_with("AADSTS70000: "));

    // SMTP to Outlook with STARTTLS and XOAUTH2. The stand-in's clock moves past the access
    // token's life, so Outlook answers 535 5.7.3: the library refreshes once, retries once, and
    // the send result carries the rotated document.
    s.advance_clock(3600);
    let r = client.send(&refreshed, &message()).expect("send over Outlook SMTP");
    let rotated = r.token.clone().expect("the send refreshed");
    assert_ne!(rotated.refresh_token.unwrap().expose(), rt1.expose());
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "outlook_smtp");
    assert_eq!(m["account"], WORK);
    assert!(r.message_id.starts_with('<'));
    assert_eq!(m["microsoft"]["smtp"]["bcc_header_present"], false);
    let secrets: Vec<String> = [&rt0, &rt1].iter().map(|t| t.expose().to_string()).collect();
    let lines = log.lock().unwrap().clone();
    assert_no_secret(&lines, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn no_login_hint_asks_microsoft_to_show_the_account_picker() {
    let s = standin();
    let client = client_with(&s, json!({"tenant": "common"}));
    let urls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_urls = urls.clone();
    let a = agent(&s);
    let opened = open_with(&client, move |url, _seen| {
        seen_urls.lock().unwrap().push(url.clone());
        // The picker page is what a person would see; nobody clicks here.
        let mut r = a.get(&url).call().expect("authorization endpoint");
        let page = r.body_mut().read_to_string().unwrap();
        assert!(page.contains("id=\"ms-picker-heading\""));
        // The person closes the picker with Cancel: the listener hears access_denied.
        let back = param(&url, "redirect_uri").unwrap();
        let state = param(&url, "state").unwrap();
        get(&format!("{back}?error=access_denied&state={state}"));
    });
    let e = client
        .authorize(&AuthorizeOptions {
            login_hint: None,
            open_browser: None,
        })
        .unwrap_err();
    assert_eq!(e.status, Status::AccessDenied);
    opened.join();
    let url = urls.lock().unwrap()[0].clone();
    assert!(url.contains("/common/oauth2/v2.0/authorize?"), "{url}");
    assert_eq!(param(&url, "prompt").as_deref(), Some("select_account"));
}

#[test]
fn smtp_auth_disabled_and_send_as_denied_are_mapped() {
    let s = standin();
    let client = client_with(&s, json!({}));
    let (doc, _) = sign_in(&s, &client);
    control(&s, "/microsoft/settings", json!({"smtp_auth_disabled_tenant": true}));
    let e = client.send(&doc, &message()).unwrap_err();
    assert_eq!(e.status, Status::AuthFailed);
    assert_eq!(e.hint, hint::SMTP_AUTH_DISABLED.text);
    assert!(e
        .provider
        .clone()
        .unwrap()
        .smtp_reply
        .unwrap()
        .starts_with("535 5.7.139 "));
    control(&s, "/microsoft/settings", json!({"smtp_auth_disabled_tenant": false}));
    let mut m = message();
    m.from = Some("second.test@contoso.onmicrosoft.com".into());
    let e = client.send(&doc, &m).unwrap_err();
    assert_eq!(e.status, Status::Rejected, "{e:?}");
    assert!(e
        .provider
        .clone()
        .unwrap()
        .smtp_reply
        .unwrap()
        .starts_with("554 5.2.252 SendAsDenied"));
    assert!(s.messages().is_empty());
}

#[test]
fn the_aadsts_table_maps_to_statuses_hints_and_provider_error_code() {
    let s = standin();
    let client = client_with(&s, json!({}));
    let (doc, _) = sign_in(&s, &client);
    // (switch, code, status, hint)
    let rows = [
        ("mfa_required", "50076", Status::Reauthorize, &hint::MS_MFA_REQUIRED),
        ("mfa_expired", "50078", Status::Reauthorize, &hint::MS_MFA_REQUIRED),
        (
            "conditional_access_blocked",
            "53003",
            Status::AccessDenied,
            &hint::MS_CONDITIONAL_ACCESS,
        ),
        (
            "consent_missing",
            "65001",
            Status::Reauthorize,
            &hint::MS_CONSENT_REQUIRED,
        ),
    ];
    for (switch, code, status, h) in rows {
        control(&s, "/microsoft/settings", json!({ switch: true }));
        let e = client.refresh(&doc).unwrap_err();
        assert_eq!((e.status, e.hint), (status, h.text), "{switch}");
        assert_eq!(
            e.provider.clone().unwrap().error_code.as_deref(),
            Some(code),
            "{switch}"
        );
        control(&s, "/microsoft/settings", json!({ switch: false }));
    }
    // 90 days unused.
    s.advance_clock(90 * 86_400);
    let e = client.refresh(&doc).unwrap_err();
    assert_eq!(
        (e.status, e.hint),
        (Status::Reauthorize, hint::MS_REFRESH_INACTIVE.text)
    );
    assert_eq!(e.provider.clone().unwrap().error_code.as_deref(), Some("700082"));
    // A secret from a public client; the confidential client without its secret; a wrong one.
    let with_secret = client_with(&s, json!({"client_secret": "not-for-a-public-client"}));
    let (fresh, _) = {
        let plain = client_with(&s, json!({}));
        sign_in(&s, &plain)
    };
    let e = with_secret.refresh(&fresh).unwrap_err();
    assert_eq!(
        (e.status, e.hint),
        (Status::AuthFailed, hint::MS_PUBLIC_CLIENT_SECRET.text)
    );
    assert_eq!(e.provider.clone().unwrap().error_code.as_deref(), Some("700025"));
    let conf = client_with(&s, json!({"client_id": oauthmail_standin::MS_CONFIDENTIAL_CLIENT_ID}));
    let e = conf.refresh(&fresh).unwrap_err();
    assert_eq!(
        (e.status, e.hint),
        (Status::AuthFailed, hint::MS_CLIENT_SECRET_REQUIRED.text)
    );
    let conf = client_with(
        &s,
        json!({"client_id": oauthmail_standin::MS_CONFIDENTIAL_CLIENT_ID, "client_secret": "wrong"}),
    );
    let e = conf.refresh(&fresh).unwrap_err();
    assert_eq!((e.status, e.hint), (Status::AuthFailed, hint::MS_INVALID_SECRET.text));
    assert_eq!(e.provider.clone().unwrap().error_code.as_deref(), Some("7000215"));
    let other = client_with(&s, json!({"client_id": "11111111-2222-3333-4444-555555555555"}));
    let e = other.refresh(&fresh).unwrap_err();
    assert_eq!((e.status, e.hint), (Status::AuthFailed, hint::MS_APP_NOT_FOUND.text));
    // Sessions revoked.
    control(&s, "/microsoft/revoke_sessions", json!({"email": WORK}));
    let e = client.refresh(&fresh).unwrap_err();
    assert_eq!((e.status, e.hint), (Status::Reauthorize, hint::MS_GRANT_REVOKED.text));
    assert_eq!(e.provider.clone().unwrap().error_code.as_deref(), Some("50173"));
}

#[test]
fn revoke_forgets_and_says_so_because_microsoft_has_no_revocation_endpoint() {
    let s = standin();
    let client = client_with(&s, json!({}));
    let (doc, _) = sign_in(&s, &client);
    let r = client.revoke(&doc).expect("revoke");
    assert_eq!(
        r,
        oauthmail::token::Revocation::Forgotten {
            hint: &hint::MS_NO_REVOCATION
        }
    );
    // No false success: the grant is still alive at Microsoft until the user removes it.
    assert!(client.refresh(&doc).is_ok());
}

fn graph_client(s: &Standin, scopes: Option<&[&str]>) -> Client {
    let mut extra = json!({"transport": "graph"});
    extra["endpoints"] = json!({
        "authorization": format!("{}/{{tenant}}/oauth2/v2.0/authorize", s.info().microsoft.authority),
        "token": format!("{}/{{tenant}}/oauth2/v2.0/token", s.info().microsoft.authority),
        "graph": s.info().microsoft.graph,
    });
    if let Some(sc) = scopes {
        extra["scopes"] = json!(sc);
    }
    client_with(s, extra)
}

#[test]
fn graph_sends_mime_with_202_and_the_library_message_id_refreshes_on_401_and_maps_throttling() {
    let s = standin();
    let client = graph_client(&s, None);
    let (doc, url) = sign_in(&s, &client);
    let scope = param(&url, "scope").unwrap();
    assert!(scope.contains("https://graph.microsoft.com/Mail.Send"), "{scope}");
    assert_eq!(doc.scope, "Mail.Send openid email");
    let r = client.send(&doc, &message()).expect("send through Graph");
    assert_eq!(r.transport.name(), "graph");
    assert_eq!(r.provider_id, None, "Graph's 202 has no id");
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "graph");
    assert_eq!(m["microsoft"]["graph"]["form"], "mime");
    assert_eq!(m["microsoft"]["graph"]["message_id"], r.message_id);
    // Throttling: 429 with Retry-After, 503.
    control(
        &s,
        "/microsoft/faults",
        json!({"target": "graph", "kind": "throttle", "status": 429, "retry_after_s": 7}),
    );
    let e = client.send(&doc, &message()).unwrap_err();
    assert_eq!((e.status, e.retry_after_s), (Status::RateLimited, Some(7)));
    assert_eq!(
        e.provider.clone().unwrap().error.as_deref(),
        Some("ApplicationThrottled")
    );
    control(
        &s,
        "/microsoft/faults",
        json!({"target": "graph", "kind": "throttle", "status": 503}),
    );
    assert_eq!(client.send(&doc, &message()).unwrap_err().status, Status::Provider);
    // The access token expires on the stand-in's clock: 401, one refresh, one retry.
    s.advance_clock(3600);
    let r = client.send(&doc, &message()).expect("send after a refresh");
    assert!(r.token.is_some(), "the result carries the refreshed (rotated) document");
    // Send As another mailbox: refused, nothing delivered.
    let mut m = message();
    m.from = Some("second.test@contoso.onmicrosoft.com".into());
    let e = client.send(r.token.as_ref().unwrap(), &m).unwrap_err();
    assert_eq!(e.status, Status::Rejected);
    assert_eq!(e.provider.clone().unwrap().error.as_deref(), Some("ErrorSendAsDenied"));
    assert_eq!(e.hint, hint::MS_SEND_AS_DENIED.text);
    assert_eq!(s.messages().len(), 2);
}

#[test]
fn graph_bcc_goes_through_a_draft_and_patch_never_a_header_and_big_messages_through_an_upload_session() {
    let s = standin();
    let mut m = message();
    m.bcc = vec!["hidden@example.com".into()];
    // With Mail.Send only, drafts are refused: INSUFFICIENT_SCOPE naming Mail.ReadWrite.
    let client = graph_client(&s, None);
    let (doc, _) = sign_in(&s, &client);
    let e = client.send(&doc, &m).unwrap_err();
    assert_eq!(e.status, Status::InsufficientScope);
    assert!(e.message.contains("Mail.ReadWrite"), "{}", e.message);
    assert!(s.messages().is_empty());
    let scopes = [
        "openid",
        "email",
        "offline_access",
        "https://graph.microsoft.com/Mail.Send",
        "https://graph.microsoft.com/Mail.ReadWrite",
    ];
    let client = graph_client(&s, Some(&scopes));
    let (doc, _) = sign_in(&s, &client);
    client.send(&doc, &m).expect("send with Bcc");
    let sent = &s.messages()[0];
    assert_eq!(sent["microsoft"]["graph"]["form"], "draft_mime");
    assert_eq!(
        sent["envelope"]["to"],
        json!(["friend@example.com", "hidden@example.com"])
    );
    let eml = s.message_bytes(sent["id"].as_str().unwrap()).unwrap();
    assert!(!String::from_utf8_lossy(&eml).contains("hidden@example.com"));
    // Over Graph's 4 MB request limit: a JSON draft, the attachment through an upload session
    // (tests/graph_upload.rs tests that path at 25 MB, resumed, cancelled).
    let mut big = message();
    let data = vec![b'x'; 3_200_000];
    big.attachments = vec![serde_json::from_value(json!({
        "filename": "big.bin",
        "content_base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &data),
    }))
    .unwrap()];
    let r = client
        .send(&doc, &big)
        .expect("a message over 4 MB through an upload session");
    let sent = &s.messages()[1];
    assert_eq!(sent["microsoft"]["graph"]["form"], "draft");
    assert_eq!(sent["microsoft"]["graph"]["message_id"], r.message_id);
    assert_eq!(sent["microsoft"]["graph"]["attachments"][0]["via"], "upload_session");
    assert_eq!(sent["microsoft"]["graph"]["attachments"][0]["size"], 3_200_000);
}

#[test]
fn revoke_closes_the_pooled_smtp_connections_authenticated_with_the_token() {
    let s = standin();
    let client = client_with(&s, json!({}));
    let (doc, _) = sign_in(&s, &client);
    let connections = |s: &Standin| {
        let r = ureq::get(format!("{}/microsoft/counters", s.control_url()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str::<Value>(&r).unwrap()["smtp_connections"]
            .as_u64()
            .unwrap()
    };
    client.send(&doc, &message()).expect("first send");
    client
        .send(&doc, &message())
        .expect("second send, on the pooled connection");
    assert_eq!(
        connections(&s),
        1,
        "the second send reused the authenticated connection"
    );
    // Microsoft has no revocation endpoint: the revoke forgets the token, and this client must
    // not keep sending on connections it authenticated with it.
    client.revoke(&doc).expect("revoke");
    client
        .send(&doc, &message())
        .expect("a send after the revoke (the grant lives on at Microsoft)");
    assert_eq!(connections(&s), 2, "the pooled connection was closed by the revoke");
    // A connection authenticated with a token this client refreshed for the grant goes too, even
    // when the host's document names no account: the host's document (expired here, so the send
    // refreshes first) is all the revoke gets.
    let mut anonymous = doc.clone();
    anonymous.email = None;
    anonymous.expires_at = Some(1);
    let r = client.send(&anonymous, &message()).expect("send after a refresh");
    let fresh = r.token.expect("the send refreshed the token");
    assert_eq!(connections(&s), 3);
    client.revoke(&anonymous).expect("revoke with the host's old document");
    client
        .send(&fresh, &message())
        .expect("send with the refreshed document");
    assert_eq!(
        connections(&s),
        4,
        "the connection of the refreshed token was closed too"
    );
    assert_eq!(s.messages().len(), 5);
}

/// `oauthmail_check` with a Microsoft token document: Microsoft replaces the refresh token on every
/// refresh, so the check must not spend the host's. While the access token is valid it uses that;
/// when it had to refresh, the report carries the new document (the old refresh token is spent).
#[test]
fn check_spends_no_rotating_refresh_token_and_returns_the_one_it_had_to_rotate() {
    use oauthmail::token::TokenRef;
    let s = standin();
    let client = client_with(&s, json!({}));
    let (doc, _) = sign_in(&s, &client);

    let report = client.check(Some(TokenRef::Document(&doc)));
    let json = report.to_json();
    assert!(report.ok(), "{json}");
    let refresh = report
        .steps
        .iter()
        .find(|x| x.step == "refresh")
        .expect("a refresh step");
    assert!(refresh.detail.contains("not spent"), "{}", refresh.detail);
    assert!(report.steps.iter().any(|x| x.step == "smtp_auth"), "{json}");
    assert!(
        json.get("token").is_none(),
        "nothing was rotated, so no token in the report"
    );
    let refreshed = client
        .refresh(&doc)
        .expect("the check left the host's refresh token alive");

    // An access token past its life must be renewed: the report then holds the new document.
    let mut stale = refreshed.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    stale.expires_at = Some(now - 10);
    let report = client.check(Some(TokenRef::Document(&stale)));
    let json = report.to_json();
    assert!(report.ok(), "{json}");
    let new: TokenDocument = serde_json::from_value(json["token"].clone()).expect("the rotated document");
    assert_ne!(
        new.refresh_token.as_ref().unwrap().expose(),
        refreshed.refresh_token.as_ref().unwrap().expose()
    );
    assert_eq!(client.refresh(&refreshed).unwrap_err().status, Status::Reauthorize);
    client.refresh(&new).expect("the report's token replaces the host's");
}
