//! The Microsoft side of the stand-in (identity platform v2, Graph mail, Outlook SMTP), driven by
//! hand-written HTTP and SMTP clients (tests/common), never by the library.

mod common;

use std::io::BufReader;

use common::*;
use oauthmail_standin::{Standin, MS_CONFIDENTIAL_CLIENT_ID, MS_CONFIDENTIAL_CLIENT_SECRET, MS_PUBLIC_CLIENT_ID};
use serde_json::{json, Value};

const WORK: &str = "erp.test@contoso.onmicrosoft.com";
const WORK2: &str = "second.test@contoso.onmicrosoft.com";
const PERSONAL: &str = "erp.test@outlook.com";
const SHARED: &str = "office@contoso.onmicrosoft.com";
const SMTP_SCOPE: &str = "offline_access openid email https://outlook.office.com/SMTP.Send";
const GRAPH_SCOPE: &str = "offline_access openid email Mail.Send Mail.ReadWrite";
const LOOPBACK: &str = "http://localhost:53682";

fn ms_settings(s: &Standin, v: Value) {
    control(s, "POST", "/microsoft/settings", v);
}

fn authorize_url(s: &Standin, tenant: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", MS_PUBLIC_CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", LOOPBACK),
        ("scope", scope),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-ms"),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        p.push((k, v));
    }
    format!(
        "{}/{tenant}/oauth2/v2.0/authorize?{}",
        s.info().microsoft.authority,
        form(&p)
    )
}

fn token_url(s: &Standin, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", s.info().microsoft.authority)
}

/// An auto-approved code for `user` (login_hint) with `scope`.
fn ms_code(s: &Standin, user: &str, scope: &str) -> String {
    ms_settings(s, json!({"auto_approve": true}));
    let r = get(s, &authorize_url(s, "common", scope, &[("login_hint", user)]));
    assert_eq!(r.status, 302, "{}", r.text());
    param(&location_params(&r), "code").expect("a code")
}

fn redeem(s: &Standin, code: &str, scope: &str, extra: &[(&str, &str)]) -> Resp {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", MS_PUBLIC_CLIENT_ID),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", LOOPBACK),
        ("code_verifier", VERIFIER),
        ("scope", scope),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    post_form(s, &token_url(s, "common"), &p)
}

fn ms_refresh(s: &Standin, rt: &str, scope: &str) -> Resp {
    post_form(
        s,
        &token_url(s, "common"),
        &[
            ("client_id", MS_PUBLIC_CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", scope),
        ],
    )
}

/// Asserts Microsoft's error body shape and returns it.
fn aadsts(r: &Resp, status: u16, error: &str, code: u64) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        &keys[..7],
        &[
            "error",
            "error_description",
            "error_codes",
            "timestamp",
            "trace_id",
            "correlation_id",
            "error_uri"
        ]
    );
    assert_eq!(v["error"], error, "{v}");
    assert_eq!(v["error_codes"], json!([code]));
    let d = v["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    let trace = v["trace_id"].as_str().unwrap();
    assert!(d.contains(&format!("\r\nTrace ID: {trace}\r\nCorrelation ID: ")), "{d}");
    assert!(d.ends_with(&format!("Timestamp: {}", v["timestamp"].as_str().unwrap())));
    assert_eq!(
        v["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    v
}

fn jwt_claims(t: &str) -> Value {
    oauthmail_standin::verify_id_token(t).expect("signed by the stand-in key")
}

fn tokens(s: &Standin, user: &str, scope: &str) -> Value {
    control(s, "POST", "/microsoft/tokens", json!({"email": user, "scope": scope}))
}

#[test]
fn browser_pages_pick_an_account_then_consent_then_redirect_with_code_state_and_session_state() {
    let s = start();
    let r = get(
        &s,
        &authorize_url(&s, "common", SMTP_SCOPE, &[("prompt", "select_account")]),
    );
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("<title>Sign in to your account</title>"));
    assert!(page.contains("id=\"ms-picker-heading\""));
    for (n, u) in [WORK, WORK2, PERSONAL].iter().enumerate() {
        assert!(
            page.contains(&format!("id=\"ms-account-{n}\" data-test-id=\"{u}\"")),
            "{page}"
        );
    }
    let flow = page
        .split("name=\"flow\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let pick = format!("{}/common/oauth2/v2.0/authorize/pick", s.info().microsoft.authority);
    let r = post_form(&s, &pick, &[("flow", &flow), ("account", WORK)]);
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("id=\"ms-consent-heading\">Permissions requested"),
        "{page}"
    );
    assert!(page.contains("id=\"idBtn_Accept\"") && page.contains("id=\"idBtn_Back\""));
    assert!(page.contains("https://outlook.office.com/SMTP.Send"));
    let consent = format!("{}/common/oauth2/v2.0/authorize/consent", s.info().microsoft.authority);
    let r = post_form(&s, &consent, &[("flow", &flow), ("decision", "accept")]);
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("http://localhost:53682/?code=1.AQEA"), "{loc}");
    let p = location_params(&r);
    assert_eq!(param(&p, "state").as_deref(), Some("st-ms"));
    assert!(param(&p, "session_state").is_some());
    // Consent is remembered: with login_hint the next sign-in redirects at once.
    let r = get(&s, &authorize_url(&s, "common", SMTP_SCOPE, &[("login_hint", WORK)]));
    assert_eq!(r.status, 302, "{}", r.text());
    // Cancel on the consent page: access_denied with AADSTS65004.
    let r = get(&s, &authorize_url(&s, "common", GRAPH_SCOPE, &[("login_hint", WORK2)]));
    let flow = r
        .text()
        .split("name=\"flow\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = post_form(&s, &consent, &[("flow", &flow), ("decision", "cancel")]);
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&p, "error_subcode").as_deref(), Some("cancel"));
    assert!(param(&p, "error_description")
        .unwrap()
        .starts_with("AADSTS65004: User declined to consent"));
}

#[test]
fn tenant_paths_filter_the_accounts_and_unknown_tenants_are_refused() {
    let s = start();
    let r = get(&s, &authorize_url(&s, "consumers", SMTP_SCOPE, &[]));
    let page = r.text();
    assert!(page.contains(PERSONAL) && !page.contains(WORK), "{page}");
    for t in [
        "organizations",
        "6f1c8a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "contoso.onmicrosoft.com",
    ] {
        // A personal login_hint is ignored on a work-only path: the picker shows work accounts.
        let page = get(&s, &authorize_url(&s, t, SMTP_SCOPE, &[("login_hint", PERSONAL)])).text();
        assert!(page.contains(WORK) && !page.contains(PERSONAL), "{t}: {page}");
    }
    let r = get(&s, &authorize_url(&s, "fabrikam.example", SMTP_SCOPE, &[]));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("id=\"error-code\">AADSTS90002<"));
    let r = post_form(
        &s,
        &token_url(&s, "fabrikam.example"),
        &[("grant_type", "refresh_token")],
    );
    aadsts(&r, 400, "invalid_tenant", 90002);
    // Redirect URIs: localhost / 127.0.0.1 any port; others are a page, never a redirect.
    let r = get(
        &s,
        &authorize_url(&s, "common", SMTP_SCOPE, &[("redirect_uri", "http://example.com/cb")]),
    );
    assert_eq!(r.status, 400);
    assert!(r
        .text()
        .contains("AADSTS50011: The redirect URI &#39;http://example.com/cb&#39;"));
    let r = get(&s, &authorize_url(&s, "common", "Mail.Frobnicate", &[]));
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_scope"));
    assert!(param(&p, "error_description").unwrap().starts_with("AADSTS70011: "));
    // prompt=none without a known account: login_required.
    let r = get(&s, &authorize_url(&s, "common", SMTP_SCOPE, &[("prompt", "none")]));
    assert_eq!(param(&location_params(&r), "error").as_deref(), Some("login_required"));
}

#[test]
fn public_client_code_exchange_pkce_id_token_and_audience_bound_access_tokens() {
    let s = start();
    let code = ms_code(&s, WORK, &format!("{SMTP_SCOPE} Mail.Send"));
    let r = redeem(&s, &code, SMTP_SCOPE, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "token_type",
            "scope",
            "expires_in",
            "ext_expires_in",
            "access_token",
            "refresh_token",
            "id_token"
        ]
    );
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "https://outlook.office.com/SMTP.Send");
    let id = jwt_claims(v["id_token"].as_str().unwrap());
    assert_eq!(id["preferred_username"], WORK);
    assert_eq!(id["email"], WORK);
    assert_eq!(id["aud"], MS_PUBLIC_CLIENT_ID);
    assert_eq!(id["ver"], "2.0");
    assert_eq!(id["tid"], "6f1c8a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b");
    let at = jwt_claims(v["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], "https://outlook.office.com");
    assert_eq!(at["scp"], "SMTP.Send");
    // The same consent gives a Graph token through the refresh token; it rotates.
    let rt1 = v["refresh_token"].as_str().unwrap().to_string();
    let r = ms_refresh(&s, &rt1, "Mail.Send offline_access");
    assert_eq!(r.status, 200, "{}", r.text());
    let g = r.json();
    assert_eq!(g["scope"], "Mail.Send openid email");
    assert_eq!(
        jwt_claims(g["access_token"].as_str().unwrap())["aud"],
        "00000003-0000-0000-c000-000000000000"
    );
    let rt2 = g["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    aadsts(&ms_refresh(&s, &rt1, "Mail.Send"), 400, "invalid_grant", 70000);
    assert_eq!(ms_refresh(&s, rt2, SMTP_SCOPE).status, 200);
    // One request, one resource.
    let r = ms_refresh(&s, rt2, "https://outlook.office.com/SMTP.Send Mail.Send");
    aadsts(&r, 400, "invalid_scope", 28000);
    // A personal account: consumers tenant id, M.C5 codes, no session_state.
    let r = get(
        &s,
        &authorize_url(&s, "consumers", SMTP_SCOPE, &[("login_hint", PERSONAL)]),
    );
    let p = location_params(&r);
    assert!(param(&p, "code").unwrap().starts_with("M.C5"));
    assert!(param(&p, "session_state").is_none());
    let v = redeem(&s, &param(&p, "code").unwrap(), SMTP_SCOPE, &[]).json();
    assert_eq!(
        jwt_claims(v["id_token"].as_str().unwrap())["tid"],
        "9188040d-6c67-4c5b-b112-36a304b66dad"
    );
}

#[test]
fn the_aadsts_error_table() {
    let s = start();
    let tu = token_url(&s, "common");
    // (what, response, status, error, code)
    let mut rows: Vec<(&str, Resp, u16, &str, u64)> = Vec::new();
    let c = ms_code(&s, WORK, SMTP_SCOPE);
    rows.push((
        "public client sends a secret",
        redeem(&s, &c, SMTP_SCOPE, &[("client_secret", "x")]),
        401,
        "invalid_client",
        700025,
    ));
    rows.push((
        "wrong verifier",
        redeem(&s, &c, SMTP_SCOPE, &[("code_verifier", &"x".repeat(43))]),
        400,
        "invalid_grant",
        501481,
    ));
    rows.push((
        "two resources",
        redeem(&s, &c, "https://outlook.office.com/SMTP.Send Mail.Send", &[]),
        400,
        "invalid_scope",
        28000,
    ));
    rows.push((
        "redirect differs",
        redeem(&s, &c, SMTP_SCOPE, &[("redirect_uri", "http://127.0.0.1:1/")]),
        400,
        "invalid_grant",
        500112,
    ));
    rows.push((
        "unknown code",
        redeem(&s, "1.AQEAnope", SMTP_SCOPE, &[]),
        400,
        "invalid_grant",
        9002313,
    ));
    rows.push((
        "refresh without scope",
        post_form(
            &s,
            &tu,
            &[
                ("client_id", MS_PUBLIC_CLIENT_ID),
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
            ],
        ),
        400,
        "invalid_request",
        900144,
    ));
    // Redeeming without `scope` is allowed: the token is for the code's (first) resource.
    let r = redeem(&s, &c, "", &[("scope", "")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["scope"], "https://outlook.office.com/SMTP.Send");
    rows.push((
        "code reused",
        redeem(&s, &c, SMTP_SCOPE, &[]),
        400,
        "invalid_grant",
        54005,
    ));
    let c2 = ms_code(&s, WORK, SMTP_SCOPE);
    s.advance_clock(601);
    rows.push((
        "code expired",
        redeem(&s, &c2, SMTP_SCOPE, &[]),
        400,
        "invalid_grant",
        70008,
    ));
    let conf = |secret: Option<&str>| {
        let mut p = vec![
            ("client_id", MS_CONFIDENTIAL_CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("scope", "Mail.Send"),
        ];
        if let Some(x) = secret {
            p.push(("client_secret", x));
        }
        post_form(&s, &tu, &p)
    };
    rows.push((
        "confidential without secret",
        conf(None),
        401,
        "invalid_client",
        7000218,
    ));
    rows.push((
        "confidential wrong secret",
        conf(Some("nope")),
        401,
        "invalid_client",
        7000215,
    ));
    rows.push((
        "confidential right secret, bad token",
        conf(Some(MS_CONFIDENTIAL_CLIENT_SECRET)),
        400,
        "invalid_grant",
        9002313,
    ));
    rows.push((
        "unknown client",
        post_form(&s, &tu, &[("client_id", "nope"), ("grant_type", "refresh_token")]),
        400,
        "unauthorized_client",
        700016,
    ));
    rows.push((
        "no grant_type",
        post_form(&s, &tu, &[("client_id", MS_PUBLIC_CLIENT_ID)]),
        400,
        "invalid_request",
        900144,
    ));
    rows.push((
        "password grant",
        post_form(&s, &tu, &[("grant_type", "password")]),
        400,
        "unsupported_grant_type",
        70003,
    ));
    let rt = |s: &Standin| {
        tokens(s, WORK, SMTP_SCOPE)["refresh_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old = rt(&s);
    s.advance_clock(90 * 86_400);
    let r = ms_refresh(&s, &old, SMTP_SCOPE);
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("and was inactive for 90.00:00:"));
    rows.push(("90 days inactive", r, 400, "invalid_grant", 700082));
    let t = rt(&s);
    control(&s, "POST", "/microsoft/revoke_sessions", json!({"email": WORK}));
    rows.push((
        "sessions revoked",
        ms_refresh(&s, &t, SMTP_SCOPE),
        400,
        "invalid_grant",
        50173,
    ));
    let t = rt(&s);
    for (switch, code) in [
        ("mfa_required", 50076),
        ("mfa_expired", 50078),
        ("conditional_access_blocked", 53003),
        ("consent_missing", 65001),
    ] {
        ms_settings(&s, json!({ switch: true }));
        let r = ms_refresh(&s, &t, SMTP_SCOPE);
        let v = aadsts(&r, 400, "invalid_grant", code);
        if code == 50076 {
            assert_eq!(v["suberror"], "basic_action");
            assert!(v["claims"].as_str().unwrap().contains("capolids"));
        }
        if code == 65001 {
            assert_eq!(v["suberror"], "consent_required");
        }
        ms_settings(&s, json!({ switch: false }));
    }
    rows.push((
        "scope never consented",
        ms_refresh(&s, &t, "Mail.Send"),
        400,
        "invalid_grant",
        65001,
    ));
    for (what, r, status, error, code) in &rows {
        eprintln!("row: {what}");
        aadsts(r, *status, error, *code);
    }
    // The switches off again: the token still works (and rotates).
    assert_eq!(ms_refresh(&s, &t, SMTP_SCOPE).status, 200);
}

fn graph_url(s: &Standin, path: &str) -> String {
    format!("{}/v1.0/{path}", s.info().microsoft.graph)
}

fn graph(s: &Standin, method: &str, path: &str, token: &str, ct: &str, body: &[u8]) -> Resp {
    let auth = format!("Bearer {token}");
    request(
        s,
        method,
        &graph_url(s, path),
        &[
            ("Authorization", &auth),
            ("Content-Type", ct),
            ("client-request-id", "cafe-0001"),
        ],
        body,
    )
}

fn graph_error_code(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string());
    assert_eq!(v["error"]["innerError"]["client-request-id"], "cafe-0001");
    assert!(v["error"]["innerError"]["request-id"].is_string() && v["error"]["innerError"]["date"].is_string());
    v
}

const MIME: &[u8] = b"From: erp.test@contoso.onmicrosoft.com\r\nTo: friend@example.com\r\nSubject: hi\r\nMessage-ID: <m1@erp.example>\r\n\r\nHello from Graph.\r\n";

#[test]
fn graph_send_mail_mime_and_json_forms_202_byte_exact_bcc_only_in_the_envelope() {
    let s = start();
    let g = tokens(&s, WORK, "Mail.Send")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, MIME);
    let r = graph(&s, "POST", "me/sendMail", &g, "text/plain", b64.as_bytes());
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.body.is_empty());
    assert_eq!(r.header("client-request-id"), Some("cafe-0001"));
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "graph");
    assert_eq!(m["microsoft"]["graph"]["form"], "mime");
    assert_eq!(m["microsoft"]["graph"]["message_id"], "<m1@erp.example>");
    assert_eq!(s.message_bytes(m["id"].as_str().unwrap()).unwrap(), MIME);
    let msg = json!({"message": {"subject": "Report", "body": {"contentType": "Text", "content": "See attached."},
        "toRecipients": [{"emailAddress": {"address": "a@example.com", "name": "A"}}],
        "bccRecipients": [{"emailAddress": {"address": "hidden@example.com"}}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "r.txt", "contentType": "text/plain", "contentBytes": "cmVwb3J0"}]},
        "saveToSentItems": false});
    let r = graph(
        &s,
        "POST",
        "me/sendMail",
        &g,
        "application/json",
        msg.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let m = &s.messages()[1];
    assert_eq!(m["envelope"]["to"], json!(["a@example.com", "hidden@example.com"]));
    assert_eq!(m["microsoft"]["graph"]["save_to_sent_items"], false);
    assert_eq!(m["microsoft"]["graph"]["bcc_header_present"], false);
    let eml = String::from_utf8(s.message_bytes(m["id"].as_str().unwrap()).unwrap()).unwrap();
    assert!(!eml.to_ascii_lowercase().contains("hidden@example.com"), "{eml}");
    assert!(eml.contains("To: \"A\" <a@example.com>\r\n") && eml.contains("filename=\"r.txt\""));
    // Errors: bad base64, no recipients, Send As, wrong audience, missing scope, throttling.
    graph_error_code(
        &graph(&s, "POST", "me/sendMail", &g, "text/plain", b"%%%"),
        400,
        "ErrorMimeContentInvalidBase64String",
    );
    let no_rcpt = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"Subject: x\r\n\r\nx\r\n");
    graph_error_code(
        &graph(&s, "POST", "me/sendMail", &g, "text/plain", no_rcpt.as_bytes()),
        400,
        "ErrorInvalidRecipients",
    );
    let other = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"From: second.test@contoso.onmicrosoft.com\r\nTo: a@example.com\r\n\r\nx\r\n",
    );
    graph_error_code(
        &graph(&s, "POST", "me/sendMail", &g, "text/plain", other.as_bytes()),
        403,
        "ErrorSendAsDenied",
    );
    let smtp_token = tokens(&s, WORK, SMTP_SCOPE)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = graph(&s, "POST", "me/sendMail", &smtp_token, "text/plain", b64.as_bytes());
    let v = graph_error_code(&r, 401, "InvalidAuthenticationToken");
    assert_eq!(
        v["error"]["message"],
        "Access token validation failure. Invalid audience."
    );
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer realm=\"\""));
    // (A Graph token carries every consented Graph scope, so another user consents to less.)
    let read_only = tokens(&s, WORK2, "User.Read")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    graph_error_code(
        &graph(&s, "POST", "me/sendMail", &read_only, "text/plain", b64.as_bytes()),
        403,
        "ErrorAccessDenied",
    );
    control(
        &s,
        "POST",
        "/microsoft/faults",
        json!({"target": "graph", "kind": "throttle", "status": 429, "retry_after_s": 7}),
    );
    let r = graph(&s, "POST", "me/sendMail", &g, "text/plain", b64.as_bytes());
    graph_error_code(&r, 429, "ApplicationThrottled");
    assert_eq!(r.header("retry-after"), Some("7"));
    control(
        &s,
        "POST",
        "/microsoft/faults",
        json!({"target": "graph", "kind": "throttle", "status": 503}),
    );
    graph_error_code(
        &graph(&s, "POST", "me/sendMail", &g, "text/plain", b64.as_bytes()),
        503,
        "ServiceNotAvailable",
    );
    s.advance_clock(3600);
    let v = graph_error_code(
        &graph(&s, "POST", "me/sendMail", &g, "text/plain", b64.as_bytes()),
        401,
        "InvalidAuthenticationToken",
    );
    assert_eq!(
        v["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    assert_eq!(s.messages().len(), 2);
    // The shared mailbox through the delegate's token.
    let g = tokens(&s, WORK, "Mail.Send")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let shared_mime = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"From: office@contoso.onmicrosoft.com\r\nTo: a@example.com\r\n\r\nx\r\n",
    );
    let r = graph(
        &s,
        "POST",
        &format!("users/{SHARED}/sendMail"),
        &g,
        "text/plain",
        shared_mime.as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(s.messages()[2]["account"], SHARED);
}

/// PUT one range to an upload URL (no Authorization header).
fn put_range(s: &Standin, url: &str, data: &[u8], start: usize, total: usize) -> Resp {
    let cr = format!("bytes {start}-{}/{total}", start + data.len() - 1);
    request(
        s,
        "PUT",
        url,
        &[("Content-Type", "application/octet-stream"), ("Content-Range", &cr)],
        data,
    )
}

#[test]
fn graph_draft_upload_session_range_rules_dropped_chunk_resumed_then_send() {
    let s = start();
    let g = tokens(&s, WORK, "Mail.Send Mail.ReadWrite")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let draft = json!({"subject": "Big", "body": {"contentType": "HTML", "content": "<p>big</p>"},
        "toRecipients": [{"emailAddress": {"address": "a@example.com"}}],
        "bccRecipients": [{"emailAddress": {"address": "b@example.com"}}]});
    let r = graph(
        &s,
        "POST",
        "me/messages",
        &g,
        "application/json",
        draft.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["isDraft"], true);
    let total = 4 * 1024 * 1024 + 12_345;
    let data: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    let body = json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": total}});
    let r = graph(
        &s,
        "POST",
        &format!("me/messages/{id}/attachments/createUploadSession"),
        &g,
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let sess = r.json();
    assert_eq!(sess["nextExpectedRanges"], json!(["0-"]));
    let url = sess["uploadUrl"].as_str().unwrap().to_string();
    assert!(url.contains("/api/v2.0/Users('") && url.contains("/AttachmentSessions('") && url.contains("?authtoken="));
    let chunk = 327_680 * 4;
    // Not a multiple of 320 KiB; not starting at the next byte; an Authorization header.
    assert_eq!(put_range(&s, &url, &data[..100_000], 0, total).status, 400);
    assert_eq!(put_range(&s, &url, &data[chunk..2 * chunk], chunk, total).status, 416);
    let auth = format!("Bearer {g}");
    let r = request(
        &s,
        "PUT",
        &url,
        &[
            ("Authorization", &auth),
            ("Content-Range", &format!("bytes 0-{}/{total}", chunk - 1)),
        ],
        &data[..chunk],
    );
    assert_eq!(r.status, 401);
    let r = put_range(&s, &url, &data[..chunk], 0, total);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["nextExpectedRanges"], json!([chunk.to_string()]));
    // The second chunk is lost on the way (connection closed, nothing stored).
    control(
        &s,
        "POST",
        "/microsoft/faults",
        json!({"target": "upload", "kind": "drop"}),
    );
    let mut c = Conn::connect(&s, port_of(&url), true);
    use std::io::Write;
    let cr = format!("bytes {chunk}-{}/{total}", 2 * chunk - 1);
    c.write_all(&request_bytes(
        "PUT",
        &url,
        &[("Content-Range", &cr)],
        &data[chunk..2 * chunk],
    ))
    .unwrap();
    assert!(read_response(&mut BufReader::new(c)).is_err(), "the answer is cut off");
    // The client asks where to resume and goes on from there.
    let st = get(&s, &url).json();
    assert_eq!(st["nextExpectedRanges"], json!([chunk.to_string()]));
    let mut at = chunk;
    while at < total {
        let end = (at + chunk).min(total);
        let r = put_range(&s, &url, &data[at..end], at, total);
        if end == total {
            assert_eq!(r.status, 201, "{}", r.text());
            assert!(r.header("location").unwrap().contains("/Attachments('"));
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
        }
        at = end;
    }
    // Under 3 MB is the attachments POST, not a session.
    let small = json!({"AttachmentItem": {"attachmentType": "file", "name": "s", "size": 1000}});
    let r = graph(
        &s,
        "POST",
        &format!("me/messages/{id}/attachments/createUploadSession"),
        &g,
        "application/json",
        small.to_string().as_bytes(),
    );
    graph_error_code(&r, 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize");
    let r = graph(
        &s,
        "POST",
        &format!("me/messages/{id}/send"),
        &g,
        "application/json",
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let m = &s.messages()[0];
    assert_eq!(m["microsoft"]["graph"]["form"], "draft");
    assert_eq!(m["envelope"]["to"], json!(["a@example.com", "b@example.com"]));
    let a = &m["microsoft"]["graph"]["attachments"][0];
    assert_eq!(a["via"], "upload_session");
    assert_eq!(a["size"], total);
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(a["sha256"], hex);
    let eml = s.message_bytes(m["id"].as_str().unwrap()).unwrap();
    assert!(!String::from_utf8_lossy(&eml).contains("b@example.com"));
    // The draft is gone; sending again is 404.
    graph_error_code(
        &graph(
            &s,
            "POST",
            &format!("me/messages/{id}/send"),
            &g,
            "application/json",
            b"",
        ),
        404,
        "ErrorItemNotFound",
    );
    // Without Mail.ReadWrite there are no drafts.
    let send_only = tokens(&s, WORK2, "Mail.Send")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    graph_error_code(
        &graph(
            &s,
            "POST",
            "me/messages",
            &send_only,
            "application/json",
            draft.to_string().as_bytes(),
        ),
        403,
        "ErrorAccessDenied",
    );
}

fn ms_smtp(s: &Standin) -> Smtp {
    Smtp {
        conn: BufReader::new(Conn::connect(s, port_of(&s.info().microsoft.smtp_starttls), false)),
    }
}

/// Greeting, EHLO, STARTTLS, EHLO.
fn ms_smtp_tls(s: &Standin) -> Smtp {
    let mut c = ms_smtp(s);
    c.reply();
    c.cmd("EHLO client.example");
    assert_eq!(c.cmd("STARTTLS"), "220 2.0.0 SMTP server ready\r\n");
    let placeholder = BufReader::new(Conn::Plain(c.conn.get_ref().tcp().try_clone().unwrap()));
    let old = std::mem::replace(&mut c.conn, placeholder);
    let Conn::Plain(tcp) = old.into_inner() else { panic!() };
    c.conn = BufReader::new(Conn::wrap(s, tcp));
    c.cmd("EHLO client.example");
    c
}

#[test]
fn outlook_smtp_greeting_ehlo_starttls_xoauth2_and_exchange_replies() {
    let s = start();
    let mut c = ms_smtp(&s);
    let greet = c.reply();
    assert!(
        greet.starts_with("220 ") && greet.contains(".outlook.office365.com Microsoft ESMTP MAIL Service ready at "),
        "{greet}"
    );
    let e = c.cmd("EHLO client.example");
    assert!(
        e.contains("250-SIZE 157286400\r\n") && e.contains("250-STARTTLS\r\n") && !e.contains("AUTH"),
        "{e}"
    );
    assert!(c
        .cmd("AUTH XOAUTH2")
        .starts_with("504 5.7.4 Unrecognized authentication type ["));
    assert!(c.cmd("MAIL FROM:<x@y>").starts_with("530 5.7.57 "));
    let mut c = ms_smtp_tls(&s);
    let t = tokens(&s, WORK, SMTP_SCOPE)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(c.cmd("AUTH XOAUTH2"), "334 \r\n");
    assert_eq!(c.cmd(&xoauth2(WORK, &t)), "235 2.7.0 Authentication successful\r\n");
    assert_eq!(c.cmd(&format!("MAIL FROM:<{WORK}>")), "250 2.1.0 Sender OK\r\n");
    assert_eq!(c.cmd("RCPT TO:<friend@example.com>"), "250 2.1.5 Recipient OK\r\n");
    assert_eq!(c.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>\r\n");
    let msg = format!("From: {WORK}\r\nTo: friend@example.com\r\nSubject: s\r\n\r\n..dot\r\nbody\r\n");
    c.raw(msg.replace("\r\n..dot", "\r\n...dot").as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250 2.0.0 OK <") && r.contains("[Hostname="), "{r}");
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "outlook_smtp");
    assert_eq!(s.message_bytes(m["id"].as_str().unwrap()).unwrap(), msg.as_bytes());
    // SendAsDenied: a From the account may not use.
    assert_eq!(c.cmd(&format!("MAIL FROM:<{WORK}>")), "250 2.1.0 Sender OK\r\n");
    c.cmd("RCPT TO:<friend@example.com>");
    c.cmd("DATA");
    c.raw(format!("From: {WORK2}\r\nTo: friend@example.com\r\n\r\nx\r\n").as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with(&format!("554 5.2.252 SendAsDenied; {WORK} not allowed to send as {WORK2}; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied;")), "{r}");
    assert_eq!(s.messages().len(), 1);
    // A Graph token, a foreign user=, then the SMTP AUTH switches.
    let g = tokens(&s, WORK, "Mail.Send")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut c = ms_smtp_tls(&s);
    assert!(c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(WORK, &g)))
        .starts_with("535 5.7.3 Authentication unsuccessful ["));
    let mut c = ms_smtp_tls(&s);
    assert!(c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(WORK2, &t)))
        .starts_with("535 5.7.3 "));
    let mut c = ms_smtp_tls(&s);
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(SHARED, &t))),
        "235 2.7.0 Authentication successful\r\n"
    );
    ms_settings(&s, json!({"smtp_auth_disabled_tenant": true}));
    let mut c = ms_smtp_tls(&s);
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(WORK, &t)));
    assert!(r.starts_with("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ["), "{r}");
    ms_settings(
        &s,
        json!({"smtp_auth_disabled_tenant": false, "smtp_auth_disabled_mailboxes": [WORK]}),
    );
    let mut c = ms_smtp_tls(&s);
    assert!(c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2(WORK, &t)))
        .contains("is disabled for the Mailbox."));
    ms_settings(&s, json!({"smtp_auth_disabled_mailboxes": []}));
    control(
        &s,
        "POST",
        "/microsoft/faults",
        json!({"target": "smtp", "kind": "throttle"}),
    );
    let mut c = ms_smtp_tls(&s);
    c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(WORK, &t)));
    assert!(c
        .cmd(&format!("MAIL FROM:<{WORK}>"))
        .starts_with("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"));
    let counters = control(&s, "GET", "/microsoft/counters", Value::Null);
    assert_eq!(counters["smtp_messages"], 1);
}

#[test]
fn microsoft_settings_are_documented_in_the_readme_and_reset_with_the_rest() {
    let s = start();
    let v = control(&s, "GET", "/microsoft/settings", Value::Null);
    let mut live: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    live.sort();
    let readme = include_str!("../README.md");
    let table = readme
        .split("### Microsoft settings")
        .nth(1)
        .unwrap()
        .split("###")
        .next()
        .unwrap();
    let mut documented: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    documented.sort();
    assert_eq!(documented, live);
    ms_settings(&s, json!({"mfa_required": true}));
    control(&s, "POST", "/reset", Value::Null);
    assert_eq!(
        control(&s, "GET", "/microsoft/settings", Value::Null)["mfa_required"],
        false
    );
    let r = request(
        &s,
        "POST",
        &format!("{}/microsoft/settings", s.info().control),
        &[],
        b"{\"nope\": 1}",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn graph_lost_answer_after_a_stored_chunk_mime_draft_attachment_post_and_foreign_mailboxes() {
    let s = start();
    let g = tokens(&s, WORK, "Mail.Send Mail.ReadWrite")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let draft = json!({"subject": "Two", "toRecipients": [{"emailAddress": {"address": "a@example.com"}}]});
    let r = graph(
        &s,
        "POST",
        "me/messages",
        &g,
        "application/json",
        draft.to_string().as_bytes(),
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    // A small attachment through the attachments POST.
    let small = json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain", "contentBytes": "aGVsbG8="});
    let r = graph(
        &s,
        "POST",
        &format!("me/messages/{id}/attachments"),
        &g,
        "application/json",
        small.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["size"], 5);
    // A session whose second chunk is stored but whose answer is lost.
    let total = 3 * 1024 * 1024 + 1;
    let data: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
    let body = json!({"AttachmentItem": {"attachmentType": "file", "name": "b.bin", "size": total}});
    let r = graph(
        &s,
        "POST",
        &format!("me/messages/{id}/attachments/createUploadSession"),
        &g,
        "application/json",
        body.to_string().as_bytes(),
    );
    let url = r.json()["uploadUrl"].as_str().unwrap().to_string();
    let chunk = 327_680 * 3;
    assert_eq!(put_range(&s, &url, &data[..chunk], 0, total).status, 200);
    control(
        &s,
        "POST",
        "/microsoft/faults",
        json!({"target": "upload", "kind": "drop", "processed": true}),
    );
    let mut c = Conn::connect(&s, port_of(&url), true);
    use std::io::Write;
    let cr = format!("bytes {chunk}-{}/{total}", 2 * chunk - 1);
    c.write_all(&request_bytes(
        "PUT",
        &url,
        &[("Content-Range", &cr)],
        &data[chunk..2 * chunk],
    ))
    .unwrap();
    assert!(read_response(&mut BufReader::new(c)).is_err(), "the answer is cut off");
    // Re-sending the same range is refused (416); the status says where to go on.
    assert_eq!(put_range(&s, &url, &data[chunk..2 * chunk], chunk, total).status, 416);
    let next: usize = get(&s, &url).json()["nextExpectedRanges"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next, 2 * chunk);
    assert_eq!(put_range(&s, &url, &data[next..], next, total).status, 201);
    let drafts = control(&s, "GET", "/microsoft/drafts", Value::Null);
    assert_eq!(drafts[0]["attachments"], 2);
    assert_eq!(
        graph(
            &s,
            "POST",
            &format!("me/messages/{id}/send"),
            &g,
            "application/json",
            b""
        )
        .status,
        202
    );
    let atts = &s.messages()[0]["microsoft"]["graph"]["attachments"];
    assert_eq!(atts[0]["via"], "attachment_post");
    assert_eq!(atts[1]["via"], "upload_session");
    assert_eq!(atts[1]["size"], total);
    // A draft from MIME is sent byte-exact.
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, MIME);
    let r = graph(&s, "POST", "me/messages", &g, "text/plain", b64.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        graph(
            &s,
            "POST",
            &format!("me/messages/{id}/send"),
            &g,
            "application/json",
            b""
        )
        .status,
        202
    );
    let m = &s.messages()[1];
    assert_eq!(m["microsoft"]["graph"]["form"], "draft_mime");
    assert_eq!(s.message_bytes(m["id"].as_str().unwrap()).unwrap(), MIME);
    // A MIME draft with Bcc set through PATCH: the Bcc is in the envelope, not in the bytes.
    let r = graph(&s, "POST", "me/messages", &g, "text/plain", b64.as_bytes());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let patch = json!({"bccRecipients": [{"emailAddress": {"address": "secret@example.com"}}]});
    let r = graph(
        &s,
        "PATCH",
        &format!("me/messages/{id}"),
        &g,
        "application/json",
        patch.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = graph(
        &s,
        "PATCH",
        &format!("me/messages/{id}"),
        &g,
        "application/json",
        b"{\"subject\": \"x\"}",
    );
    graph_error_code(&r, 400, "ErrorInvalidRequest");
    assert_eq!(
        graph(
            &s,
            "POST",
            &format!("me/messages/{id}/send"),
            &g,
            "application/json",
            b""
        )
        .status,
        202
    );
    let m = &s.messages()[2];
    assert_eq!(m["envelope"]["to"], json!(["friend@example.com", "secret@example.com"]));
    assert_eq!(
        m["microsoft"]["graph"]["recipients"]["bcc"],
        json!(["secret@example.com"])
    );
    assert_eq!(s.message_bytes(m["id"].as_str().unwrap()).unwrap(), MIME);
    // Another user's mailbox, and an unknown one.
    let r = graph(
        &s,
        "POST",
        &format!("users/{WORK2}/sendMail"),
        &g,
        "text/plain",
        b64.as_bytes(),
    );
    graph_error_code(&r, 403, "ErrorAccessDenied");
    let r = graph(
        &s,
        "POST",
        "users/nobody@contoso.onmicrosoft.com/sendMail",
        &g,
        "text/plain",
        b64.as_bytes(),
    );
    graph_error_code(&r, 404, "ErrorInvalidUser");
    graph_error_code(
        &graph(&s, "POST", "me/frobnicate", &g, "application/json", b"{}"),
        400,
        "BadRequest",
    );
    graph_error_code(
        &graph(&s, "POST", "me/sendMail", &g, "application/json", b"{nope"),
        400,
        "BadRequest",
    );
}

#[test]
fn graph_delete_removes_a_draft_and_its_upload_sessions() {
    let s = start();
    let g = tokens(&s, WORK, "Mail.Send Mail.ReadWrite")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let draft = json!({"subject": "x", "toRecipients": [{"emailAddress": {"address": "a@example.com"}}]});
    let r = graph(
        &s,
        "POST",
        "me/messages",
        &g,
        "application/json",
        draft.to_string().as_bytes(),
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    let item = json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": 4_000_000}});
    let r = graph(
        &s,
        "POST",
        &format!("me/messages/{id}/attachments/createUploadSession"),
        &g,
        "application/json",
        item.to_string().as_bytes(),
    );
    let url = r.json()["uploadUrl"].as_str().unwrap().to_string();
    let r = graph(&s, "DELETE", &format!("me/messages/{id}"), &g, "application/json", b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(control(&s, "GET", "/microsoft/drafts", Value::Null), json!([]));
    assert_eq!(
        control(&s, "GET", "/microsoft/counters", Value::Null)["graph_drafts_deleted"],
        1
    );
    // Its upload session is gone too; the draft cannot be deleted or sent again.
    let r = put_range(&s, &url, &[0u8; 327_680], 0, 4_000_000);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = graph(&s, "DELETE", &format!("me/messages/{id}"), &g, "application/json", b"");
    graph_error_code(&r, 404, "ErrorItemNotFound");
    // Mail.Send alone may not delete.
    let send_only = tokens(&s, WORK2, "Mail.Send")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = graph(
        &s,
        "DELETE",
        "me/messages/AAMkADx=",
        &send_only,
        "application/json",
        b"",
    );
    graph_error_code(&r, 403, "ErrorAccessDenied");
}
