//! The OAuth side over real sockets with a hand-written client: authorization endpoint (pages,
//! redirect, browser-shown errors), token endpoint (codes, PKCE, secrets, refresh, lifecycle),
//! revocation, userinfo, with Google's bytes (providers.md §1).

mod common;

use common::*;
use oauthmail_standin::{Options, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET};
use serde_json::json;

const SCOPES: &str = "openid email https://mail.google.com/";

/// The token endpoint's error: `status` and Google's pretty JSON `{error, error_description}`.
#[track_caller]
fn assert_google_error(r: &Resp, status: u16, error: &str, description: &str) {
    assert_eq!(r.status, status);
    assert_eq!(r.text(), google_error(error, description));
}

#[test]
fn auto_approve_redirects_to_loopback_with_state_code_with_slash_and_scope() {
    let s = start_auto();
    let r = authorize(&s, SCOPES, &[]);
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("http://127.0.0.1:49152/?state=st-123&code=4%2F0A"),
        "{loc}"
    );
    let p = location_params(&r);
    assert!(param(&p, "code").unwrap().starts_with("4/0A"));
    assert_eq!(
        param(&p, "scope").unwrap(),
        "openid https://www.googleapis.com/auth/userinfo.email https://mail.google.com/"
    );
    assert_eq!(param(&p, "authuser").as_deref(), Some("0"));
    assert_eq!(param(&p, "prompt").as_deref(), Some("consent"));
}

#[test]
fn code_exchange_with_pkce_s256_and_secret_returns_googles_token_document() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type",
            "id_token"
        ]
    );
    assert!(v["access_token"].as_str().unwrap().starts_with("ya29."));
    assert!(v["refresh_token"].as_str().unwrap().starts_with("1//"));
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["token_type"], "Bearer");
    let claims = oauthmail_standin::verify_id_token(v["id_token"].as_str().unwrap())
        .expect("an RS256 id_token signed by the stand-in key");
    assert_eq!(claims["iss"], "https://accounts.google.com");
    assert_eq!(claims["aud"], s.info().client_id.as_str());
    assert_eq!(claims["email"], USER);
    assert_eq!(claims["email_verified"], true);
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
}

#[test]
fn id_token_is_absent_without_openid_or_email() {
    let s = start_auto();
    let c = code(&s, MAIL, &[]);
    let v = exchange(&s, &c, &[]).json();
    assert!(v.get("id_token").is_none());
    assert!(v.get("refresh_token").is_some());
}

#[test]
fn token_endpoint_errors_carry_googles_headers_and_pretty_json() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[("client_secret", "wrong")]);
    assert_google_error(&r, 401, "invalid_client", "Unauthorized");
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(
        r.header("cache-control"),
        Some("no-cache, no-store, max-age=0, must-revalidate")
    );
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("expires"), Some("Mon, 01 Jan 1990 00:00:00 GMT"));
    assert_eq!(r.header("server"), Some("ESF"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.head.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
}

#[test]
fn missing_client_secret_is_400_client_secret_is_missing() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[("client_secret", "")]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "{\n  \"error\": \"invalid_request\",\n  \"error_description\": \"client_secret is missing.\"\n}"
    );
}

#[test]
fn unknown_client_id_is_401_oauth_client_not_found() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[("client_id", "123-nope.apps.googleusercontent.com")]);
    assert_google_error(&r, 401, "invalid_client", "The OAuth client was not found.");
}

#[test]
fn client_credentials_in_http_basic_are_accepted() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", enc(&s.info().client_id), enc(&s.info().client_secret)),
    );
    let body = form(&[
        ("code", &c),
        ("redirect_uri", REDIRECT),
        ("grant_type", "authorization_code"),
        ("code_verifier", VERIFIER),
    ]);
    let auth = format!("Basic {basic}");
    let r = request(
        &s,
        "POST",
        &s.info().token_endpoint,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn missing_code_verifier_is_invalid_grant_missing_code_verifier() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[("code_verifier", "")]);
    assert_google_error(&r, 400, "invalid_grant", "Missing code verifier.");
}

#[test]
fn wrong_code_verifier_is_invalid_grant_invalid_code_verifier() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[("code_verifier", &"x".repeat(43))]);
    assert_google_error(&r, 400, "invalid_grant", "Invalid code verifier.");
}

#[test]
fn verifier_without_challenge_is_invalid_grant() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[("code_challenge", ""), ("code_challenge_method", "")]);
    let r = exchange(&s, &c, &[]);
    assert_google_error(&r, 400, "invalid_grant", "code_verifier or verifier is not needed.");
    // Without PKCE on both sides the exchange works.
    let r = exchange(&s, &c, &[("code_verifier", "")]);
    assert_eq!(r.status, 200);
}

#[test]
fn plain_pkce_method_is_verified_too() {
    let s = start_auto();
    let c = code(
        &s,
        SCOPES,
        &[("code_challenge", VERIFIER), ("code_challenge_method", "plain")],
    );
    assert_eq!(exchange(&s, &c, &[]).status, 200);
}

#[test]
fn reused_code_is_invalid_grant_bad_request() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    assert_eq!(exchange(&s, &c, &[]).status, 200);
    let r = exchange(&s, &c, &[]);
    assert_google_error(&r, 400, "invalid_grant", "Bad Request");
}

#[test]
fn still_percent_encoded_code_is_malformed_auth_code() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c.replace('/', "%2F"), &[]);
    assert_google_error(&r, 400, "invalid_grant", "Malformed auth code.");
}

#[test]
fn code_expires_after_ten_minutes_on_the_standin_clock() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    s.advance_clock(601);
    let r = exchange(&s, &c, &[]);
    assert_eq!(r.text(), google_error("invalid_grant", "Bad Request"));
}

#[test]
fn redirect_uri_differing_from_authorize_is_redirect_uri_mismatch() {
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let r = exchange(&s, &c, &[("redirect_uri", "http://127.0.0.1:49153/")]);
    assert_google_error(&r, 400, "redirect_uri_mismatch", "Bad Request");
}

#[test]
fn unsupported_grant_type_is_rejected() {
    let s = start();
    let r = post_form(
        &s,
        &s.info().token_endpoint,
        &[("grant_type", "password"), ("client_id", &s.info().client_id)],
    );
    assert_google_error(&r, 400, "unsupported_grant_type", "Invalid grant_type: password");
}

#[test]
fn refresh_grant_returns_a_new_access_token_without_refresh_token() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let r = refresh(&s, v["refresh_token"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.text());
    let n = r.json();
    let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type", "id_token"]);
    assert_ne!(n["access_token"], v["access_token"]);
    let c = s.counters();
    assert_eq!(c["token"]["authorization_code"], 1);
    assert_eq!(c["token"]["refresh_token"], 1);
}

#[test]
fn refresh_with_a_scope_subset_narrows_and_unknown_scope_is_invalid_scope() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let rt = v["refresh_token"].as_str().unwrap();
    let mut p = vec![
        ("client_id", s.info().client_id.as_str()),
        ("client_secret", s.info().client_secret.as_str()),
        ("refresh_token", rt),
        ("grant_type", "refresh_token"),
        ("scope", MAIL),
    ];
    let r = post_form(&s, &s.info().token_endpoint, &p);
    assert_eq!(r.json()["scope"], MAIL);
    p[4] = ("scope", SEND);
    let r = post_form(&s, &s.info().token_endpoint, &p);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_scope");
}

#[test]
fn revoked_refresh_token_is_invalid_grant_expired_or_revoked() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let rt = v["refresh_token"].as_str().unwrap();
    let r = post_form(&s, &format!("{}?token={}", s.info().revocation_endpoint, enc(rt)), &[]);
    assert_eq!(r.status, 200);
    let r = refresh(&s, rt);
    assert_google_error(&r, 400, "invalid_grant", "Token has been expired or revoked.");
}

#[test]
fn revoking_the_access_token_revokes_the_refresh_token_too() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let r = post_form(
        &s,
        &s.info().revocation_endpoint,
        &[("token", v["access_token"].as_str().unwrap())],
    );
    assert_eq!(r.status, 200);
    assert_eq!(refresh(&s, v["refresh_token"].as_str().unwrap()).status, 400);
    // A second revocation of the same token: 400 invalid_token.
    let r = post_form(
        &s,
        &s.info().revocation_endpoint,
        &[("token", v["access_token"].as_str().unwrap())],
    );
    assert_google_error(&r, 400, "invalid_token", "Token expired or revoked");
    // GET is not the revocation method.
    assert_eq!(
        get(&s, &format!("{}?token=x", s.info().revocation_endpoint)).status,
        404
    );
}

#[test]
fn rotating_refresh_tokens_kill_the_used_one_and_keep_the_grants_expiry() {
    let s = start_auto();
    control(&s, "POST", "/settings", json!({"rotate_refresh_tokens": true}));
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let rt1 = v["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(&s, &rt1);
    assert_eq!(r.status, 200, "{}", r.text());
    let n = r.json();
    let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type",
            "id_token"
        ]
    );
    let rt2 = n["refresh_token"].as_str().unwrap().to_string();
    assert!(rt2.starts_with("1//") && rt2 != rt1);
    // The used refresh token is dead at once, exactly like a revoked one.
    assert_google_error(
        &refresh(&s, &rt1),
        400,
        "invalid_grant",
        "Token has been expired or revoked.",
    );
    let grants = control(&s, "GET", "/grants", json!({}));
    assert_eq!(grants[0]["refresh_tokens_live"], 1);
    // The new one works and rotates in turn; the grant still ends 7 days after the consent.
    s.advance_clock(7 * 86400 - 60);
    let rt3 = refresh(&s, &rt2).json()["refresh_token"].as_str().unwrap().to_string();
    s.advance_clock(120);
    assert_google_error(
        &refresh(&s, &rt3),
        400,
        "invalid_grant",
        "Token has been expired or revoked.",
    );
    assert_eq!(s.counters()["token"]["refresh_token"], 4);
}

#[test]
fn testing_client_refresh_token_dies_seven_days_after_consent() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let rt = v["refresh_token"].as_str().unwrap();
    s.advance_clock(7 * 86400 - 60);
    assert_eq!(refresh(&s, rt).status, 200);
    s.advance_clock(120);
    let r = refresh(&s, rt);
    assert_google_error(&r, 400, "invalid_grant", "Token has been expired or revoked.");
}

#[test]
fn production_client_refresh_token_outlives_seven_days() {
    let s = start_with(Options {
        auto_approve: true,
        production: true,
        ..Default::default()
    });
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    s.advance_clock(30 * 86400);
    assert_eq!(refresh(&s, v["refresh_token"].as_str().unwrap()).status, 200);
}

#[test]
fn identity_only_scopes_are_exempt_from_the_testing_expiry() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, "openid email", &[]), &[]).json();
    s.advance_clock(8 * 86400);
    assert_eq!(refresh(&s, v["refresh_token"].as_str().unwrap()).status, 200);
}

#[test]
fn refresh_token_cap_silently_drops_the_oldest() {
    let s = start_auto();
    s.set_settings(&json!({"refresh_token_cap": 3})).unwrap();
    let tokens: Vec<String> = (0..4)
        .map(|_| {
            exchange(&s, &code(&s, SCOPES, &[]), &[]).json()["refresh_token"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let r = refresh(&s, &tokens[0]);
    assert_eq!(
        r.text(),
        google_error("invalid_grant", "Token has been expired or revoked.")
    );
    for t in &tokens[1..] {
        assert_eq!(refresh(&s, t).status, 200);
    }
}

#[test]
fn refresh_token_used_by_another_client_is_401_unauthorized_client() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let r = post_form(
        &s,
        &s.info().token_endpoint,
        &[
            ("client_id", OTHER_CLIENT_ID),
            ("client_secret", OTHER_CLIENT_SECRET),
            ("refresh_token", v["refresh_token"].as_str().unwrap()),
            ("grant_type", "refresh_token"),
        ],
    );
    assert_google_error(&r, 401, "unauthorized_client", "Unauthorized");
}

#[test]
fn second_consent_gives_a_refresh_token_only_with_prompt_consent() {
    let s = start_auto();
    let first = exchange(&s, &code(&s, SCOPES, &[("prompt", "")]), &[]).json();
    assert!(first.get("refresh_token").is_some());
    let r = authorize(&s, SCOPES, &[("prompt", "")]);
    assert_eq!(param(&location_params(&r), "prompt").as_deref(), Some("none"));
    let again = exchange(&s, &param(&location_params(&r), "code").unwrap(), &[]).json();
    assert!(again.get("refresh_token").is_none(), "{again}");
    let forced = exchange(&s, &code(&s, SCOPES, &[("prompt", "consent")]), &[]).json();
    assert!(forced.get("refresh_token").is_some());
}

#[test]
fn no_refresh_token_without_access_type_offline() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[("access_type", "")]), &[]).json();
    assert!(v.get("refresh_token").is_none());
    assert!(v.get("access_token").is_some());
}

fn assert_browser_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.header("location").is_none(), "browser errors are not redirected");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let want = format!("<h1 id=\"error-code\">Error {status}: {code}</h1>");
    assert!(r.text().contains(&want), "{}", r.text());
}

#[test]
fn authorization_errors_are_shown_in_the_browser_not_redirected() {
    let s = start_auto();
    assert_browser_error(
        &authorize(&s, SCOPES, &[("client_id", "nope.apps.googleusercontent.com")]),
        401,
        "invalid_client",
    );
    assert_browser_error(
        &authorize(&s, SCOPES, &[("redirect_uri", "https://evil.example/cb")]),
        400,
        "redirect_uri_mismatch",
    );
    assert_browser_error(
        &authorize(&s, SCOPES, &[("redirect_uri", "urn:ietf:wg:oauth:2.0:oob")]),
        400,
        "redirect_uri_mismatch",
    );
    assert_browser_error(
        &authorize(&s, SCOPES, &[("response_type", "token")]),
        400,
        "unsupported_response_type",
    );
    assert_browser_error(
        &authorize(&s, "https://www.googleapis.com/auth/gmail.send/", &[]),
        400,
        "invalid_scope",
    );
    assert_browser_error(
        &authorize(&s, SCOPES, &[("code_challenge_method", "S512")]),
        400,
        "invalid_request",
    );
    s.set_settings(&json!({"client_deleted": true})).unwrap();
    assert_browser_error(&authorize(&s, SCOPES, &[]), 401, "deleted_client");
}

#[test]
fn loopback_redirects_are_accepted_on_any_port_host_form_and_path() {
    let s = start_auto();
    for uri in [
        "http://127.0.0.1:1/",
        "http://127.0.0.1:65535/callback/x",
        "http://[::1]:8080/",
        "http://localhost:8767/",
        "http://localhost",
        "http://127.0.0.1",
    ] {
        let r = authorize(&s, SCOPES, &[("redirect_uri", uri)]);
        assert_eq!(r.status, 302, "{uri}: {}", r.text());
        assert!(
            r.header("location").unwrap().starts_with(&format!("{uri}?"))
                || r.header("location").unwrap().starts_with(&format!("{uri}/?")),
            "{uri}"
        );
    }
    for uri in [
        "http://127.0.0.2:80/",
        "https://127.0.0.1:8080/",
        "http://localhost.evil.example/",
        "http://127.0.0.1:99999/",
    ] {
        assert_browser_error(
            &authorize(&s, SCOPES, &[("redirect_uri", uri)]),
            400,
            "redirect_uri_mismatch",
        );
    }
}

/// Submits a page form the way a browser does.
fn post_page(s: &Standin_, path: &str, pairs: &[(&str, &str)]) -> Resp {
    post_form(s, &format!("{}{path}", s.info().gmail_api), pairs)
}
type Standin_ = oauthmail_standin::Standin;

fn hidden_flow(html: &str) -> String {
    let i = html.find("name=\"flow\" value=\"").expect("a flow field") + 19;
    html[i..].split('"').next().unwrap().to_string()
}

#[test]
fn browser_flow_account_chooser_then_consent_allow_redirects_with_code() {
    let s = start();
    let r = authorize(&s, SCOPES, &[("login_hint", "")]);
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("id=\"account-0\" data-email=\"erp.test@gmail.com\""));
    assert!(html.contains("id=\"account-2\" data-email=\"not.a.tester@gmail.com\""));
    let flow = hidden_flow(&html);
    let r = post_page(&s, "/o/oauth2/v2/auth/choose", &[("flow", &flow), ("account", USER)]);
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("id=\"submit_approve_access\""));
    assert!(html.contains(">Allow</button>"));
    assert!(html.contains("id=\"submit_deny_access\""));
    assert!(html.contains(">Deny</button>"));
    let r = post_page(
        &s,
        "/o/oauth2/v2/auth/consent",
        &[("flow", &flow), ("scope", MAIL), ("decision", "allow")],
    );
    assert_eq!(r.status, 302);
    let p = location_params(&r);
    assert_eq!(param(&p, "state").as_deref(), Some("st-123"));
    let v = exchange(&s, &param(&p, "code").unwrap(), &[]).json();
    assert!(v["scope"].as_str().unwrap().contains(MAIL));
}

#[test]
fn consent_deny_redirects_with_error_access_denied_and_state() {
    let s = start();
    let r = authorize(&s, SCOPES, &[]);
    let flow = hidden_flow(&r.text());
    let r = post_page(
        &s,
        "/o/oauth2/v2/auth/consent",
        &[("flow", &flow), ("decision", "deny")],
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").unwrap(),
        "http://127.0.0.1:49152/?error=access_denied&state=st-123"
    );
}

#[test]
fn unticked_scope_on_the_consent_page_is_not_granted() {
    let s = start();
    let flow = hidden_flow(&authorize(&s, SCOPES, &[]).text());
    let r = post_page(
        &s,
        "/o/oauth2/v2/auth/consent",
        &[("flow", &flow), ("decision", "allow")],
    );
    let p = location_params(&r);
    assert_eq!(
        param(&p, "scope").unwrap(),
        "openid https://www.googleapis.com/auth/userinfo.email"
    );
}

#[test]
fn account_that_is_not_a_test_user_gets_error_403_access_denied_while_testing() {
    let s = start_auto();
    let r = authorize(&s, SCOPES, &[("login_hint", OUTSIDER)]);
    assert_browser_error(&r, 403, "access_denied");
    assert!(r.text().contains("can only be accessed by developer-approved testers"));
    s.set_settings(&json!({"publishing_status": "production"})).unwrap();
    let r = authorize(&s, SCOPES, &[("login_hint", OUTSIDER)]);
    assert_eq!(r.status, 200, "in production the consent page is shown");
    assert!(r.text().contains("submit_approve_access"));
}

#[test]
fn auto_approve_decision_deny_redirects_access_denied_headlessly() {
    let s = start_auto();
    s.set_settings(&json!({"auto_approve_decision": "deny"})).unwrap();
    let r = authorize(&s, SCOPES, &[]);
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").unwrap(),
        "http://127.0.0.1:49152/?error=access_denied&state=st-123"
    );
}

#[test]
fn userinfo_returns_the_email_and_rejects_bad_tokens() {
    let s = start_auto();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    let auth = format!("Bearer {}", v["access_token"].as_str().unwrap());
    let r = request(&s, "GET", &s.info().userinfo_endpoint, &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["email"], USER);
    assert_eq!(r.json()["email_verified"], true);
    let r = request(
        &s,
        "GET",
        &s.info().userinfo_endpoint,
        &[("Authorization", "Bearer nope")],
        b"",
    );
    assert_google_error(&r, 401, "invalid_request", "Invalid Credentials");
}

#[test]
fn expired_access_token_is_refused_by_userinfo_after_the_clock_moves() {
    let s = start_auto();
    s.set_settings(&json!({"access_token_lifetime_s": 60})).unwrap();
    let v = exchange(&s, &code(&s, SCOPES, &[]), &[]).json();
    assert_eq!(v["expires_in"], 60);
    let auth = format!("Bearer {}", v["access_token"].as_str().unwrap());
    s.advance_clock(61);
    let r = request(&s, "GET", &s.info().userinfo_endpoint, &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 401);
}

#[test]
fn http_keep_alive_serves_several_requests_on_one_tls_connection() {
    use std::io::{BufReader, Write};
    let s = start();
    let url = format!("{}/oauth2/v3/certs", s.info().gmail_api);
    let mut c = BufReader::new(Conn::connect(&s, port_of(&url), true));
    for _ in 0..3 {
        c.get_mut().write_all(&request_bytes("GET", &url, &[], b"")).unwrap();
        let r = read_response(&mut c).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["keys"][0]["alg"], "RS256");
    }
}

#[test]
fn chunked_request_bodies_are_read() {
    use std::io::{BufReader, Write};
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let body = form(&[
        ("code", &c),
        ("client_id", &s.info().client_id),
        ("client_secret", &s.info().client_secret),
        ("redirect_uri", REDIRECT),
        ("grant_type", "authorization_code"),
        ("code_verifier", VERIFIER),
    ]);
    let (a, b) = body.split_at(10);
    let req = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let mut conn = BufReader::new(Conn::connect(&s, port_of(&s.info().token_endpoint), true));
    conn.get_mut().write_all(req.as_bytes()).unwrap();
    assert_eq!(read_response(&mut conn).unwrap().status, 200);
}

#[test]
fn plain_http_option_serves_the_same_endpoints_without_tls() {
    let s = start_with(Options {
        auto_approve: true,
        http: true,
        ..Default::default()
    });
    assert!(s.info().token_endpoint.starts_with("http://127.0.0.1:"));
    let c = code(&s, SCOPES, &[]);
    assert_eq!(exchange(&s, &c, &[]).status, 200);
}

#[test]
fn pre_consented_user_skips_the_consent_page_and_gets_no_refresh_token() {
    let s = start();
    control(&s, "POST", "/grants", json!({"email": USER, "scope": SCOPES}));
    let r = authorize(&s, SCOPES, &[("prompt", "")]);
    assert_eq!(r.status, 302, "no page: consent was given before");
    let p = location_params(&r);
    assert_eq!(param(&p, "prompt").as_deref(), Some("none"));
    let v = exchange(&s, &param(&p, "code").unwrap(), &[]).json();
    assert!(v.get("refresh_token").is_none());
}

#[test]
fn prompt_select_account_shows_the_chooser_despite_login_hint() {
    let s = start();
    let r = authorize(&s, SCOPES, &[("prompt", "select_account consent")]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("id=\"chooser-heading\""));
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    use std::io::{BufRead, BufReader, Write};
    let s = start_auto();
    let c = code(&s, SCOPES, &[]);
    let body = form(&[
        ("code", &c),
        ("client_id", &s.info().client_id),
        ("client_secret", &s.info().client_secret),
        ("redirect_uri", REDIRECT),
        ("grant_type", "authorization_code"),
        ("code_verifier", VERIFIER),
    ]);
    let mut conn = BufReader::new(Conn::connect(&s, port_of(&s.info().token_endpoint), true));
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.get_mut().write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    conn.read_line(&mut line).unwrap();
    conn.get_mut().write_all(body.as_bytes()).unwrap();
    assert_eq!(read_response(&mut conn).unwrap().status, 200);
}

#[test]
fn client_secret_and_pkce_requirements_are_configurable() {
    let s = start_auto();
    s.set_settings(&json!({"require_client_secret": false, "require_pkce": true}))
        .unwrap();
    let c = code(&s, SCOPES, &[]);
    assert_eq!(exchange(&s, &c, &[("client_secret", "")]).status, 200);
    let c = code(&s, SCOPES, &[]);
    assert_eq!(exchange(&s, &c, &[("client_secret", "wrong")]).status, 401);
    let r = authorize(&s, SCOPES, &[("code_challenge", ""), ("code_challenge_method", "")]);
    assert_browser_error(&r, 400, "invalid_request");
}

#[test]
fn refresh_token_expired_through_the_control_plane_is_invalid_grant() {
    let s = start();
    let v = mint(&s, SCOPES);
    let rt = v["refresh_token"].as_str().unwrap();
    let n = control(&s, "POST", "/tokens/expire", json!({"email": USER, "which": "refresh"}));
    assert_eq!(n["expired"], 1);
    let r = refresh(&s, rt);
    assert_google_error(&r, 400, "invalid_grant", "Token has been expired or revoked.");
    // The access token was left alone ("which": "refresh").
    let auth = format!("Bearer {}", v["access_token"].as_str().unwrap());
    let r = request(&s, "GET", &s.info().userinfo_endpoint, &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 200);
}
