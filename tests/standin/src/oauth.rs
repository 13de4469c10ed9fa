//! Google's OAuth 2.0 endpoints for installed apps (providers.md §1): authorization (pages and
//! redirect), token (authorization_code + PKCE, refresh_token), revocation, userinfo, tokeninfo,
//! JWKS and the discovery document.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::http::{percent_encode, Request, Response};
use crate::pages;
use crate::state::{
    is_identity_scope, parse_scopes, random_string, sub_for, Code, Flow, Inner, Shared, EMAIL_SCOPE, KNOWN_SCOPES,
    PROFILE_SCOPE, URLSAFE,
};

pub const ISSUER: &str = "https://accounts.google.com";
pub const APP_NAME: &str = "oauthmail test app";

/// A JSON body the way Google's OAuth servers send it: pretty-printed, with their header set
/// (providers.md §1.7).
pub fn google_json(status: u16, v: &Value) -> Response {
    let body = serde_json::to_string_pretty(v).unwrap_or_default();
    Response::new(status, "application/json; charset=utf-8", body)
        .with_header("Vary", "Origin")
        .with_header("Vary", "X-Origin")
        .with_header("Vary", "Referer")
        .with_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
        .with_header("Pragma", "no-cache")
        .with_header("Expires", "Mon, 01 Jan 1990 00:00:00 GMT")
        .with_header("Server", "ESF")
        .with_header("X-XSS-Protection", "0")
        .with_header("X-Frame-Options", "SAMEORIGIN")
        .with_header("X-Content-Type-Options", "nosniff")
}

pub fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    google_json(status, &json!({"error": error, "error_description": description}))
}

fn html_error(status: u16, code: &str, description: &str, details: &[(String, String)]) -> Response {
    Response::html(status, pages::error(status, code, description, details))
        .with_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
        .with_header("X-Frame-Options", "DENY")
}

/// http://127.0.0.1, http://[::1] or http://localhost, any port, any path (RFC 8252 §7.3).
pub fn is_loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') || uri.contains('#') {
        return false;
    }
    let host = if let Some(h) = authority.strip_prefix("[::1]") {
        if !(h.is_empty() || h.starts_with(':')) {
            return false;
        }
        return h.is_empty() || h[1..].parse::<u16>().is_ok();
    } else {
        authority
    };
    let (name, port) = match host.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return false;
        }
    }
    name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost")
}

fn add_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&percent_encode(v));
        sep = '&';
    }
    out
}

fn is_pkce_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint

pub fn authorize(shared: &Shared, req: &Request) -> Response {
    shared.lock().counters.authorize += 1;
    let params = if req.method == "POST" { req.form() } else { req.query() };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // Google's "Request details" line lists what the app sent.
    let mut details: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "code_challenge").cloned().collect();
    details.push(("flowName".into(), "GeneralOAuthFlow".into()));

    let client_id = get("client_id").unwrap_or_default();
    let Some(client) = shared.client(&client_id) else {
        return html_error(401, "invalid_client", "The OAuth client was not found.", &details);
    };
    let client_id = client.id.clone();
    if shared.lock().settings.client_deleted {
        return html_error(401, "deleted_client", "The OAuth client was deleted.", &details);
    }
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    if redirect_uri.is_empty() {
        return html_error(
            400,
            "invalid_request",
            "Missing required parameter: redirect_uri",
            &details,
        );
    }
    if !is_loopback_redirect(&redirect_uri) {
        let oob = redirect_uri.starts_with("urn:ietf:wg:oauth:2.0:oob") || redirect_uri == "oob";
        let desc = if oob {
            format!("The redirect URI in the request, {redirect_uri}, may refer to the OAuth out-of-band (OOB) flow that has been deprecated and is no longer supported.")
        } else {
            format!("You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. The redirect URI in the request, {redirect_uri}, does not match the ones authorized for the OAuth client.")
        };
        return html_error(400, "redirect_uri_mismatch", &desc, &details);
    }
    match get("response_type").as_deref() {
        Some("code") => {}
        None | Some("") => {
            return html_error(
                400,
                "invalid_request",
                "Required parameter is missing: response_type",
                &details,
            )
        }
        Some(other) => {
            return html_error(
                400,
                "unsupported_response_type",
                &format!("Unsupported response type: {other}"),
                &details,
            )
        }
    }
    let scope_param = get("scope").unwrap_or_default();
    let scopes = parse_scopes(&scope_param);
    if scopes.is_empty() {
        return html_error(400, "invalid_request", "Missing required parameter: scope", &details);
    }
    let invalid: Vec<&String> = scopes.iter().filter(|s| !KNOWN_SCOPES.contains(&s.as_str())).collect();
    if !invalid.is_empty() {
        let list: Vec<&str> = invalid.iter().map(|s| s.as_str()).collect();
        return html_error(
            400,
            "invalid_scope",
            &format!("Some requested scopes were invalid. {{invalid=[{}]}}", list.join(", ")),
            &details,
        );
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, Some(_)) => {
            return html_error(
                400,
                "invalid_request",
                "code_challenge_method without code_challenge",
                &details,
            )
        }
        (None, None) if shared.lock().settings.require_pkce => {
            return html_error(
                400,
                "invalid_request",
                "Missing required parameter: code_challenge",
                &details,
            )
        }
        (None, None) => None,
        (Some(c), m) => {
            let method = m.unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                return html_error(
                    400,
                    "invalid_request",
                    &format!("Invalid code_challenge_method: {method}"),
                    &details,
                );
            }
            if !is_pkce_verifier(&c) {
                return html_error(
                    400,
                    "invalid_request",
                    "Invalid code_challenge: must be 43 to 128 characters of [A-Z] [a-z] [0-9] - . _ ~",
                    &details,
                );
            }
            Some((c, method))
        }
    };
    let prompt = get("prompt").unwrap_or_default();
    let flow = Flow {
        client_id,
        redirect_uri,
        state: get("state"),
        scopes,
        challenge,
        offline: get("access_type").as_deref() == Some("offline"),
        prompt_consent: prompt.split(' ').any(|p| p == "consent"),
        select_account: prompt.split(' ').any(|p| p == "select_account"),
        login_hint: get("login_hint"),
        account: None,
        created: shared.lock().now(),
    };

    let mut st = shared.lock();
    let hinted = flow
        .login_hint
        .as_deref()
        .and_then(|h| st.users.find(h))
        .filter(|_| !flow.select_account);
    if let Some(user) = &hinted {
        if st.settings.auto_approve && st.users.is_test_user(user) {
            let mut flow = flow;
            flow.account = Some(user.clone());
            if st.settings.auto_approve_decision == "deny" {
                return deny(&flow);
            }
            let consent_shown = flow.prompt_consent || !st.has_grant(user, &flow.client_id, &flow.scopes);
            let granted = flow.scopes.clone();
            return approve(&mut st, &flow, granted, consent_shown);
        }
    }
    // Abandoned sign-in sessions are forgotten after an hour.
    let cutoff = st.now() - 3600;
    st.flows.retain(|_, f| f.created > cutoff);
    let id = random_string(32, URLSAFE);
    st.flows.insert(id.clone(), flow);
    match hinted {
        Some(user) => after_choice(&mut st, &id, &user),
        None => Response::html(
            200,
            pages::chooser(&id, APP_NAME, &st.users.test_users, &st.users.other_users),
        ),
    }
}

/// The account is chosen: refuse non-testers, skip consent when already granted.
fn after_choice(st: &mut Inner, flow_id: &str, account: &str) -> Response {
    let Some(flow) = st.flows.get_mut(flow_id) else {
        return html_error(
            400,
            "invalid_request",
            "The sign-in session expired. Start again from the app.",
            &[],
        );
    };
    flow.account = Some(account.to_string());
    let flow = flow.clone();
    if st.settings.testing() && !st.users.is_test_user(account) {
        st.flows.remove(flow_id);
        let details = vec![
            (
                "access_type".to_string(),
                if flow.offline { "offline" } else { "online" }.to_string(),
            ),
            ("scope".into(), flow.scopes.join(" ")),
            ("response_type".into(), "code".into()),
            ("redirect_uri".into(), flow.redirect_uri.clone()),
            ("flowName".into(), "GeneralOAuthFlow".into()),
            ("client_id".into(), flow.client_id.clone()),
        ];
        return Response::html(403, pages::not_a_tester(APP_NAME, &details));
    }
    if !flow.prompt_consent && st.has_grant(account, &flow.client_id, &flow.scopes) {
        st.flows.remove(flow_id);
        let granted = flow.scopes.clone();
        return approve(st, &flow, granted, false);
    }
    Response::html(200, pages::consent(flow_id, APP_NAME, account, &flow.scopes))
}

pub fn choose(shared: &Shared, req: &Request) -> Response {
    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let flow_id = get("flow").unwrap_or_default();
    let mut st = shared.lock();
    let Some(account) = get("account").and_then(|a| st.users.find(&a)) else {
        return html_error(400, "invalid_request", "Unknown account.", &[]);
    };
    after_choice(&mut st, &flow_id, &account)
}

pub fn consent(shared: &Shared, req: &Request) -> Response {
    let form = req.form();
    let flow_id = form
        .iter()
        .find(|(k, _)| k == "flow")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let decision = form
        .iter()
        .find(|(k, _)| k == "decision")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let ticked: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let mut st = shared.lock();
    let Some(flow) = st.flows.remove(&flow_id) else {
        return html_error(
            400,
            "invalid_request",
            "The sign-in session expired. Start again from the app.",
            &[],
        );
    };
    if flow.account.is_none() {
        return html_error(400, "invalid_request", "No account was chosen.", &[]);
    }
    if decision != "allow" {
        return deny(&flow);
    }
    // Granular consent: identity scopes always, the others only when still ticked.
    let granted: Vec<String> = flow
        .scopes
        .iter()
        .filter(|s| is_identity_scope(s) || ticked.contains(s))
        .cloned()
        .collect();
    approve(&mut st, &flow, granted, true)
}

fn deny(flow: &Flow) -> Response {
    let mut p: Vec<(&str, &str)> = vec![("error", "access_denied")];
    if let Some(s) = &flow.state {
        p.push(("state", s));
    }
    Response::redirect(&add_query(&flow.redirect_uri, &p))
}

/// Records consent, issues a code and redirects to the client's loopback listener.
fn approve(st: &mut Inner, flow: &Flow, granted: Vec<String>, consent_shown: bool) -> Response {
    let user = flow.account.clone().unwrap_or_default();
    if consent_shown {
        st.record_grant(&user, &flow.client_id, &granted);
    }
    let code = format!("4/0A{}", random_string(71, URLSAFE));
    let expires_at = st.now() + st.settings.code_lifetime_s;
    st.codes.insert(
        code.clone(),
        Code {
            user,
            client_id: flow.client_id.clone(),
            redirect_uri: flow.redirect_uri.clone(),
            scopes: granted.clone(),
            challenge: flow.challenge.clone(),
            offline: flow.offline,
            consent_shown,
            expires_at,
            used: false,
        },
    );
    let scope = granted.join(" ");
    let mut p: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = &flow.state {
        p.push(("state", s));
    }
    p.push(("code", &code));
    p.push(("scope", &scope));
    p.push(("authuser", "0"));
    p.push(("prompt", if consent_shown { "consent" } else { "none" }));
    Response::redirect(&add_query(&flow.redirect_uri, &p))
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

/// The success document, in Google's field order.
pub fn token_document(
    shared: &Shared,
    st: &mut Inner,
    user: &str,
    client_id: &str,
    scopes: &[String],
    refresh_token: Option<String>,
) -> Value {
    let (access, lifetime) = st.issue_access(user, client_id, scopes);
    let mut m = Map::new();
    m.insert("access_token".into(), json!(access));
    m.insert("expires_in".into(), json!(lifetime));
    if let Some(r) = refresh_token {
        m.insert("refresh_token".into(), json!(r));
    }
    m.insert("scope".into(), json!(scopes.join(" ")));
    m.insert("token_type".into(), json!("Bearer"));
    if scopes.iter().any(|s| s == "openid" || s == EMAIL_SCOPE) {
        m.insert("id_token".into(), json!(id_token(shared, st, user, client_id, scopes)));
    }
    Value::Object(m)
}

fn id_token(shared: &Shared, st: &Inner, user: &str, client_id: &str, scopes: &[String]) -> String {
    let now = st.now();
    let mut c = Map::new();
    c.insert("iss".into(), json!(ISSUER));
    c.insert("azp".into(), json!(client_id));
    c.insert("aud".into(), json!(client_id));
    c.insert("sub".into(), json!(sub_for(user)));
    if scopes.iter().any(|s| s == EMAIL_SCOPE) {
        c.insert("email".into(), json!(user));
        c.insert("email_verified".into(), json!(true));
    }
    if scopes.iter().any(|s| s == PROFILE_SCOPE) {
        let local = user.split('@').next().unwrap_or(user);
        c.insert("name".into(), json!(local));
    }
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + 3600));
    shared.signer.sign(&Value::Object(c))
}

/// Client authentication: body (`client_secret_post`) or HTTP Basic (`client_secret_basic`).
fn client_credentials(req: &Request, form: &[(String, String)]) -> (Option<String>, Option<String>) {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut id = get("client_id");
    let mut secret = get("client_secret");
    if let Some(h) = req.header("authorization") {
        if let Some((scheme, b64)) = h.split_once(' ') {
            if scheme.eq_ignore_ascii_case("basic") {
                if let Ok(raw) = STANDARD.decode(b64.trim()) {
                    let raw = String::from_utf8_lossy(&raw).into_owned();
                    if let Some((i, s)) = raw.split_once(':') {
                        id = id.or_else(|| Some(crate::http::percent_decode(i)));
                        secret = secret.or_else(|| Some(crate::http::percent_decode(s)));
                    }
                }
            }
        }
    }
    (id.filter(|s| !s.is_empty()), secret.filter(|s| !s.is_empty()))
}

pub fn token(shared: &Shared, req: &Request) -> Response {
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let grant_type = get("grant_type");
    {
        let mut st = shared.lock();
        match grant_type.as_deref() {
            Some("authorization_code") => st.counters.token.authorization_code += 1,
            Some("refresh_token") => st.counters.token.refresh_token += 1,
            Some(crate::service_account::JWT_BEARER) => crate::service_account::count(&mut st, &form),
            _ => st.counters.token.other += 1,
        }
    }
    if req.method != "POST" {
        return Response::html(
            405,
            "<h1>405. That’s an error.</h1>\n<p>The request method GET is inappropriate for the URL /token.</p>\n"
                .into(),
        );
    }
    let Some(grant_type) = grant_type else {
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: ");
    };
    if grant_type == crate::service_account::JWT_BEARER {
        return crate::service_account::token(shared, &form);
    }
    if grant_type != "authorization_code" && grant_type != "refresh_token" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant_type}"),
        );
    }
    let (client_id, secret) = client_credentials(req, &form);
    let Some(client_id) = client_id else {
        return oauth_error(400, "invalid_request", "Could not determine client ID from request.");
    };
    let Some(client) = shared.client(&client_id) else {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    };
    if shared.lock().settings.client_deleted {
        return oauth_error(401, "deleted_client", "The OAuth client was deleted.");
    }
    let require_secret = shared.lock().settings.require_client_secret;
    match secret {
        None if require_secret => return oauth_error(400, "invalid_request", "client_secret is missing."),
        Some(s) if s != client.secret => return oauth_error(401, "invalid_client", "Unauthorized"),
        _ => {}
    }
    if grant_type == "authorization_code" {
        exchange_code(shared, &client.id, &form)
    } else {
        refresh(shared, &client.id, &form)
    }
}

fn exchange_code(shared: &Shared, client_id: &str, form: &[(String, String)]) -> Response {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(code_value) = get("code") else {
        return oauth_error(400, "invalid_request", "Missing required parameter: code");
    };
    if !code_value.starts_with("4/")
        || !code_value[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return oauth_error(400, "invalid_grant", "Malformed auth code.");
    }
    let mut st = shared.lock();
    let now = st.now();
    let Some(code) = st.codes.get(&code_value).cloned() else {
        return oauth_error(400, "invalid_grant", "Bad Request");
    };
    if code.used || code.expires_at <= now || code.client_id != client_id {
        return oauth_error(400, "invalid_grant", "Bad Request");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return oauth_error(400, "invalid_request", "Missing parameter: redirect_uri");
    };
    if redirect_uri != code.redirect_uri {
        return oauth_error(400, "redirect_uri_mismatch", "Bad Request");
    }
    let verifier = get("code_verifier");
    match (&code.challenge, verifier) {
        (Some(_), None) => return oauth_error(400, "invalid_grant", "Missing code verifier."),
        (Some((challenge, method)), Some(v)) => {
            let computed = if method == "S256" { s256(&v) } else { v.clone() };
            if !is_pkce_verifier(&v) || &computed != challenge {
                return oauth_error(400, "invalid_grant", "Invalid code verifier.");
            }
        }
        (None, Some(_)) => return oauth_error(400, "invalid_grant", "code_verifier or verifier is not needed."),
        (None, None) => {}
    }
    if let Some(c) = st.codes.get_mut(&code_value) {
        c.used = true;
    }
    let refresh = (code.offline && (code.consent_shown || st.settings.reissue_refresh_token_without_consent))
        .then(|| st.issue_refresh(&code.user, client_id, &code.scopes));
    let doc = token_document(shared, &mut st, &code.user, client_id, &code.scopes, refresh);
    drop(st);
    shared.log(&format!("token: authorization_code for {} ok", code.user));
    google_json(200, &doc)
}

fn refresh(shared: &Shared, client_id: &str, form: &[(String, String)]) -> Response {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(token) = get("refresh_token") else {
        return oauth_error(400, "invalid_request", "Missing required parameter: refresh_token");
    };
    let mut st = shared.lock();
    let Some(rt) = st.refresh.get(&token).cloned() else {
        return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
    };
    if !st.refresh_live(&rt) {
        return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
    }
    if rt.client_id != client_id {
        return oauth_error(401, "unauthorized_client", "Unauthorized");
    }
    let scopes = match get("scope") {
        None => rt.scopes.clone(),
        Some(s) => {
            let asked = parse_scopes(&s);
            let (valid, invalid): (Vec<String>, Vec<String>) = asked.into_iter().partition(|s| rt.scopes.contains(s));
            if !invalid.is_empty() {
                return google_json(
                    400,
                    &json!({
                        "error": "invalid_scope",
                        "error_description": format!("Some requested scopes were invalid. {{valid=[{}], invalid=[{}]}}", valid.join(", "), invalid.join(", ")),
                        "error_uri": "https://developers.google.com/identity/protocols/oauth2/scopes"
                    }),
                );
            }
            valid
        }
    };
    let rotated = st.settings.rotate_refresh_tokens.then(|| {
        let new = st.issue_refresh(&rt.user, client_id, &rt.scopes);
        // Rotation does not move the grant's end (Testing: 7 days after the consent).
        if let Some(n) = st.refresh.get_mut(&new) {
            n.expires_at = rt.expires_at;
        }
        if let Some(old) = st.refresh.get_mut(&token) {
            old.revoked = true;
        }
        new
    });
    let doc = token_document(shared, &mut st, &rt.user, client_id, &scopes, rotated);
    drop(st);
    shared.log(&format!("token: refresh_token for {} ok", rt.user));
    google_json(200, &doc)
}

// ---------------------------------------------------------------------------------------------
// Revocation, userinfo, tokeninfo, JWKS, discovery

pub fn revoke(shared: &Shared, req: &Request) -> Response {
    shared.lock().counters.revoke += 1;
    if req.method != "POST" {
        return Response::html(
            404,
            "<h1>404. That’s an error.</h1>\n<p>The requested URL was not found on this server.</p>\n".into(),
        );
    }
    let token = req
        .query_param("token")
        .or_else(|| req.form().into_iter().find(|(k, _)| k == "token").map(|(_, v)| v))
        .unwrap_or_default();
    let mut st = shared.lock();
    let owner = if let Some(a) = st.live_access(&token) {
        Some((a.user, a.client_id))
    } else {
        st.refresh
            .get(&token)
            .filter(|r| st.refresh_live(r))
            .map(|r| (r.user.clone(), r.client_id.clone()))
    };
    match owner {
        Some((user, client)) => {
            st.revoke_grant(&user, &client);
            drop(st);
            shared.log(&format!("revoke: grant of {user} revoked"));
            google_json(200, &json!({}))
        }
        None => oauth_error(400, "invalid_token", "Token expired or revoked"),
    }
}

fn bearer_or_param(req: &Request) -> Option<String> {
    req.bearer().or_else(|| req.query_param("access_token"))
}

pub fn userinfo(shared: &Shared, req: &Request) -> Response {
    let mut st = shared.lock();
    st.counters.userinfo += 1;
    let Some(at) = bearer_or_param(req).and_then(|t| st.live_access(&t)) else {
        return oauth_error(401, "invalid_request", "Invalid Credentials").with_header(
            "WWW-Authenticate",
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        );
    };
    let mut m = Map::new();
    m.insert("sub".into(), json!(sub_for(&at.user)));
    if at.scopes.iter().any(|s| s == PROFILE_SCOPE) {
        let local = at.user.split('@').next().unwrap_or("").to_string();
        m.insert("name".into(), json!(local));
        m.insert("given_name".into(), json!(local));
        m.insert("family_name".into(), json!("Test"));
        m.insert(
            "picture".into(),
            json!("https://lh3.googleusercontent.com/a/default-user=s96-c"),
        );
    }
    if at.scopes.iter().any(|s| s == EMAIL_SCOPE) {
        m.insert("email".into(), json!(at.user));
        m.insert("email_verified".into(), json!(true));
    }
    google_json(200, &Value::Object(m))
}

pub fn tokeninfo(shared: &Shared, req: &Request) -> Response {
    let st = shared.lock();
    let Some(at) = bearer_or_param(req).and_then(|t| st.live_access(&t)) else {
        return oauth_error(400, "invalid_token", "Invalid Value");
    };
    let now = st.now();
    let mut m = Map::new();
    m.insert("azp".into(), json!(at.client_id));
    m.insert("aud".into(), json!(at.client_id));
    m.insert("sub".into(), json!(sub_for(&at.user)));
    m.insert("scope".into(), json!(at.scopes.join(" ")));
    m.insert("exp".into(), json!(at.expires_at.to_string()));
    m.insert("expires_in".into(), json!((at.expires_at - now).to_string()));
    if at.scopes.iter().any(|s| s == EMAIL_SCOPE) {
        m.insert("email".into(), json!(at.user));
        m.insert("email_verified".into(), json!("true"));
    }
    m.insert("access_type".into(), json!("offline"));
    google_json(200, &Value::Object(m))
}

pub fn certs(shared: &Shared) -> Response {
    google_json(200, &shared.signer.jwks())
}

pub fn discovery(shared: &Shared) -> Response {
    let base = shared.info.get().map(|i| i.gmail_api.clone()).unwrap_or_default();
    google_json(
        200,
        &json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{base}/o/oauth2/v2/auth"),
            "device_authorization_endpoint": format!("{base}/device/code"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/v1/userinfo"),
            "revocation_endpoint": format!("{base}/revoke"),
            "jwks_uri": format!("{base}/oauth2/v3/certs"),
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
        }),
    )
}

/// Mints a token for a user without the browser (control plane `POST /tokens`).
pub fn mint(
    shared: &Shared,
    email: &str,
    scope: &str,
    offline: bool,
    client_id: Option<&str>,
) -> Result<Value, String> {
    let client_id = match client_id {
        Some(c) => shared
            .client(c)
            .ok_or_else(|| format!("unknown client_id {c}"))?
            .id
            .clone(),
        None => shared.clients[0].id.clone(),
    };
    let scopes = parse_scopes(scope);
    if scopes.is_empty() {
        return Err("scope is empty".into());
    }
    if let Some(bad) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return Err(format!("unknown scope {bad}"));
    }
    let mut st = shared.lock();
    let user = st.users.find(email).ok_or_else(|| format!("unknown account {email}"))?;
    st.record_grant(&user, &client_id, &scopes);
    let refresh = offline.then(|| st.issue_refresh(&user, &client_id, &scopes));
    let mut doc = token_document(shared, &mut st, &user, &client_id, &scopes, refresh);
    let now = st.now();
    if let Value::Object(m) = &mut doc {
        let lifetime = m.get("expires_in").and_then(Value::as_i64).unwrap_or(0);
        m.insert("email".into(), json!(user));
        m.insert("expires_at".into(), json!(now + lifetime));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_appendix_b_vector() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn loopback_rule_accepts_any_port_and_path_on_loopback_hosts_only() {
        for ok in [
            "http://127.0.0.1",
            "http://127.0.0.1:9004",
            "http://127.0.0.1:9004/",
            "http://[::1]:80/cb?x=1",
            "http://[::1]",
            "http://localhost:8080/",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:9004/",
            "http://127.0.0.1.evil.example/",
            "http://user@127.0.0.1/",
            "http://127.0.0.1:70000/",
            "http://[::2]:80/",
            "http://127.0.0.1/#frag",
            "urn:ietf:wg:oauth:2.0:oob",
            "",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }
}
