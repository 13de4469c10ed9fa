//! The Microsoft identity platform v2 (`/{tenant}/oauth2/v2.0/authorize` and `/token`): tenant
//! paths, the account picker and consent pages, authorization code + PKCE for public and
//! confidential clients, refresh-token rotation, id_tokens and audience-bound access tokens, and
//! the AADSTS error bodies (README "Microsoft identity platform").

use serde_json::{json, Map, Value};

use super::*;
use crate::http::{percent_encode, Request, Response};
use crate::oauth::s256;
use crate::pages::esc;
use crate::state::URLSAFE;

// ---------------------------------------------------------------------------------------------
// Scopes

const OIDC: &[&str] = &["openid", "profile", "email", "offline_access"];
const OUTLOOK_SCOPES: &[&str] = &["SMTP.Send", "IMAP.AccessAsUser.All", "POP.AccessAsUser.All"];
const GRAPH_SCOPES: &[&str] = &[
    "Mail.Send",
    "Mail.ReadWrite",
    "Mail.Send.Shared",
    "Mail.ReadWrite.Shared",
    "Mail.Read",
    "User.Read",
];

fn canonical<'a>(list: &'a [&'a str], name: &str) -> Option<&'a str> {
    list.iter().find(|s| s.eq_ignore_ascii_case(name)).copied()
}

/// The full name of a scope (`Mail.Send` -> `https://graph.microsoft.com/Mail.Send`); `None` if
/// unknown.
pub fn normalize_scope(s: &str) -> Option<String> {
    if let Some(o) = canonical(OIDC, s) {
        return Some(o.to_string());
    }
    let lower = s.to_ascii_lowercase();
    for host in ["https://outlook.office.com/", "https://outlook.office365.com/"] {
        if lower.starts_with(host) {
            return canonical(OUTLOOK_SCOPES, &s[host.len()..]).map(|n| format!("{OUTLOOK_RESOURCE}/{n}"));
        }
    }
    let name = if lower.starts_with("https://graph.microsoft.com/") {
        &s["https://graph.microsoft.com/".len()..]
    } else {
        s
    };
    canonical(GRAPH_SCOPES, name).map(|n| format!("{GRAPH_RESOURCE}/{n}"))
}

pub fn resource_of(scope: &str) -> Option<&'static str> {
    if scope.starts_with(OUTLOOK_RESOURCE) {
        Some(OUTLOOK_RESOURCE)
    } else if scope.starts_with(GRAPH_RESOURCE) {
        Some(GRAPH_RESOURCE)
    } else {
        None
    }
}

pub fn short(scope: &str) -> &str {
    scope.rsplit('/').next().unwrap_or(scope)
}

/// Parses a scope parameter: Ok(normalized) or Err(the first unknown scope).
fn parse_scopes(s: &str) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = Vec::new();
    for part in s.split([' ', '+']).filter(|p| !p.is_empty()) {
        let n = normalize_scope(part).ok_or_else(|| part.to_string())?;
        if !v.contains(&n) {
            v.push(n);
        }
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Tenants, clients, redirect URIs

#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    Common,
    Organizations,
    Consumers,
}

fn tenant_kind(t: &str) -> Option<Audience> {
    match t.to_ascii_lowercase().as_str() {
        "common" => Some(Audience::Common),
        "organizations" => Some(Audience::Organizations),
        "consumers" | CONSUMERS_TENANT_ID => Some(Audience::Consumers),
        x if x == TENANT_ID || x == TENANT_DOMAIN => Some(Audience::Organizations),
        _ => None,
    }
}

fn account_allowed(a: Audience, email: &str) -> bool {
    match a {
        Audience::Common => true,
        Audience::Organizations => !is_personal(email),
        Audience::Consumers => is_personal(email),
    }
}

fn accounts_for(a: Audience) -> Vec<&'static str> {
    WORK_USERS
        .iter()
        .chain(PERSONAL_USERS.iter())
        .copied()
        .filter(|u| account_allowed(a, u))
        .collect()
}

fn is_public(client_id: &str) -> Option<bool> {
    match client_id {
        PUBLIC_CLIENT_ID => Some(true),
        CONFIDENTIAL_CLIENT_ID => Some(false),
        _ => None,
    }
}

/// Registered redirect URIs are `http://localhost` and `http://127.0.0.1` (the port of a loopback
/// redirect is ignored; no path, or `/`). Returns the form Entra redirects to (trailing slash).
fn redirect_ok(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") {
        return None;
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if !(host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1") {
        return None;
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return None;
    }
    Some(format!("http://{authority}/"))
}

// ---------------------------------------------------------------------------------------------
// Error bodies

/// A JSON body with the login.microsoftonline.com header set.
pub fn ests_json(status: u16, v: &Value, trace: &str) -> Response {
    Response::new(status, "application/json; charset=utf-8", v.to_string())
        .with_header("Cache-Control", "no-store, no-cache")
        .with_header("Pragma", "no-cache")
        .with_header("Expires", "-1")
        .with_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("x-ms-request-id", trace)
        .with_header("x-ms-ests-server", "2.1.19512.5 - SEC ProdSlices")
        .with_header("P3P", "CP=\"DSP CUR OTPi IND OTRi ONL FIN\"")
}

/// The AADSTS error shape: `error`, `error_description` ("AADSTSn: text" + Trace ID, Correlation
/// ID, Timestamp lines), `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`,
/// then any `extra` fields (`suberror`, `claims`).
pub fn aad_error(now: i64, status: u16, error: &str, code: u32, text: &str, extra: &[(&str, Value)]) -> Response {
    let (trace, corr, ts) = (guid(), guid(), aad_timestamp(now));
    let mut m = Map::new();
    m.insert("error".into(), json!(error));
    m.insert(
        "error_description".into(),
        json!(format!(
            "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
        )),
    );
    m.insert("error_codes".into(), json!([code]));
    m.insert("timestamp".into(), json!(ts));
    m.insert("trace_id".into(), json!(trace));
    m.insert("correlation_id".into(), json!(corr));
    m.insert(
        "error_uri".into(),
        json!(format!("https://login.microsoftonline.com/error?code={code}")),
    );
    for (k, v) in extra {
        m.insert((*k).into(), v.clone());
    }
    ests_json(status, &Value::Object(m), &trace)
}

/// The AADSTS texts the token endpoint uses (README table "AADSTS errors").
pub mod text {
    pub const EXPIRED_CODE: &str = "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.";
    pub const CODE_REDEEMED: &str =
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.";
    pub const MALFORMED: &str = "Invalid request. Request is malformed or invalid.";
    pub const BAD_GRANT: &str = "Provided grant is invalid or malformed.";
    pub const VERIFIER: &str =
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.";
    pub const PUBLIC_SECRET: &str =
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.";
    pub const NEED_SECRET: &str =
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
    pub const MFA: &str = "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access";
    pub const MFA_EXPIRED: &str = "Presented multi-factor authentication has expired due to policies configured by your administrator, you must refresh your multi-factor authentication to access";
    pub const CONDITIONAL_ACCESS: &str =
        "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.";
}

fn missing(now: i64, param: &str) -> Response {
    aad_error(
        now,
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{param}'."),
        &[],
    )
}

fn tenant_not_found(now: i64, tenant: &str) -> Response {
    aad_error(now, 400, "invalid_tenant", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."), &[])
}

fn app_not_found(client_id: &str, tenant: &str) -> String {
    format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
}

fn consent_text(client_id: &str) -> String {
    format!("The user or administrator has not consented to use the application with ID '{client_id}' named '{APP_NAME}'. Send an interactive authorization request for this user and resource.")
}

fn resource_name(resource: &str) -> &'static str {
    if resource == OUTLOOK_RESOURCE {
        "00000002-0000-0ff1-ce00-000000000000"
    } else {
        GRAPH_AUDIENCE
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

const STYLE: &str = "body{font-family:'Segoe UI',Arial,sans-serif;background:#f2f2f2;margin:0}\
main{max-width:440px;margin:60px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
h1{font-weight:600;font-size:24px;margin:12px 0 16px}\
.tile{display:block;width:100%;text-align:left;background:#fff;border:0;border-bottom:1px solid #ddd;padding:12px 4px;font-size:15px;cursor:pointer}\
.actions{display:flex;justify-content:flex-end;gap:8px;margin-top:24px}\
button.primary{background:#0067b8;color:#fff;border:0;padding:6px 24px;font-size:15px}\
button.secondary{background:#ccc;border:0;padding:6px 24px;font-size:15px}\
.scope{margin:8px 0}.small{color:#555;font-size:13px;word-break:break-all}";

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to your account</title>\
<style>{STYLE}</style></head>\n<body><main>\n<div class=\"logo\" aria-label=\"Microsoft (stand-in)\">Microsoft <small>(oauthmail-standin)</small></div>\n{body}\n</main></body></html>\n"
    )
}

fn error_page(now: i64, status: u16, code: u32, text: &str) -> Response {
    let body = format!(
        "<h1 id=\"error-heading\">Sorry, but we’re having trouble signing you in.</h1>\n\
<p id=\"error-code\">AADSTS{code}</p>\n<p id=\"error-description\">AADSTS{code}: {}</p>\n\
<p class=\"small\">Request Id: {}<br>Correlation Id: {}<br>Timestamp: {}</p>",
        esc(text),
        guid(),
        guid(),
        aad_timestamp(now)
    );
    Response::html(status, page(&body)).with_header("Cache-Control", "no-store, no-cache")
}

fn picker_page(tenant: &str, flow: &str, accounts: &[&str]) -> String {
    let mut b = format!(
        "<h1 id=\"ms-picker-heading\">Pick an account</h1>\n\
<form method=\"post\" action=\"/{}/oauth2/v2.0/authorize/pick\">\n<input type=\"hidden\" name=\"flow\" value=\"{}\">\n",
        esc(tenant),
        esc(flow)
    );
    for (n, a) in accounts.iter().enumerate() {
        let kind = if is_personal(a) {
            "Personal account"
        } else {
            "Work or school account"
        };
        b.push_str(&format!(
            "<button class=\"tile\" type=\"submit\" id=\"ms-account-{n}\" data-test-id=\"{0}\" data-email=\"{0}\" name=\"account\" value=\"{0}\">{0}<br><span class=\"small\">{kind}</span></button>\n",
            esc(a)
        ));
    }
    b.push_str("</form>");
    page(&b)
}

fn scope_text(s: &str) -> &'static str {
    match short(s) {
        "SMTP.Send" => "Send email from mailboxes using SMTP AUTH.",
        "Mail.Send" => "Send mail as you",
        "Mail.ReadWrite" => "Read and write access to your mail",
        "offline_access" => "Maintain access to data you have given it access to",
        "openid" => "Sign you in",
        "profile" => "View your basic profile",
        "email" => "View your email address",
        _ => "Access your data",
    }
}

fn consent_page(tenant: &str, flow: &str, account: &str, scopes: &[String]) -> String {
    let mut b = format!(
        "<h1 id=\"ms-consent-heading\">Permissions requested</h1>\n<p id=\"ms-consent-account\">{}</p>\n\
<p>{} needs permission to:</p>\n",
        esc(account),
        esc(APP_NAME)
    );
    for (n, s) in scopes.iter().enumerate() {
        b.push_str(&format!(
            "<div class=\"scope\" id=\"ms-scope-{n}\">{} <span class=\"small\">({})</span></div>\n",
            esc(scope_text(s)),
            esc(s)
        ));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/{}/oauth2/v2.0/authorize/consent\">\n<input type=\"hidden\" name=\"flow\" value=\"{}\">\n\
<div class=\"actions\"><button class=\"secondary\" type=\"submit\" id=\"idBtn_Back\" name=\"decision\" value=\"cancel\">Cancel</button>\
<button class=\"primary\" type=\"submit\" id=\"idBtn_Accept\" name=\"decision\" value=\"accept\">Accept</button></div>\n</form>",
        esc(tenant),
        esc(flow)
    ));
    page(&b)
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint

pub fn handle(shared: &Shared, req: &Request, tenant: &str, rest: &[&str]) -> Option<Response> {
    let now = shared.lock().now();
    let Some(aud) = tenant_kind(tenant) else {
        return Some(match rest {
            ["token"] => tenant_not_found(now, tenant),
            _ => error_page(now, 400, 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")),
        });
    };
    Some(match (req.method.as_str(), rest) {
        ("GET" | "POST", ["authorize"]) => authorize(shared, req, tenant, aud),
        ("POST", ["authorize", "pick"]) => pick(shared, req, tenant, aud),
        ("POST", ["authorize", "consent"]) => consent(shared, req),
        ("POST", ["token"]) => token(shared, req),
        (_, ["token"]) => aad_error(
            now,
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests. Received a GET request.",
            &[],
        ),
        _ => return None,
    })
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

fn redirect_error(now: i64, flow_redirect: &str, state: Option<&str>, error: &str, code: u32, text: &str) -> Response {
    let desc = format!(
        "AADSTS{code}: {text}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
        guid(),
        guid(),
        aad_timestamp(now)
    );
    let uri = format!("https://login.microsoftonline.com/error?code={code}");
    let mut p: Vec<(&str, &str)> = vec![("error", error), ("error_description", &desc), ("error_uri", &uri)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    Response::redirect(&add_query(flow_redirect, &p))
}

fn authorize(shared: &Shared, req: &Request, tenant: &str, aud: Audience) -> Response {
    let params = if req.method == "POST" { req.form() } else { req.query() };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let now = {
        let mut st = shared.lock();
        st.ms.counters.authorize += 1;
        st.now()
    };
    let client_id = get("client_id").unwrap_or_default();
    if client_id.is_empty() {
        return error_page(
            now,
            400,
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    if is_public(&client_id).is_none() {
        return error_page(now, 400, 700016, &app_not_found(&client_id, tenant));
    }
    let Some(redirect_raw) = get("redirect_uri") else {
        return error_page(
            now,
            400,
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    let Some(redirect) = redirect_ok(&redirect_raw) else {
        return error_page(now, 400, 50011, &format!("The redirect URI '{redirect_raw}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."));
    };
    let state = get("state");
    let st_ref = state.as_deref();
    match get("response_type").as_deref() {
        Some("code") => {}
        None => {
            return redirect_error(
                now,
                &redirect,
                st_ref,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'response_type'.",
            )
        }
        Some(o) => {
            return redirect_error(
                now,
                &redirect,
                st_ref,
                "unsupported_response_type",
                700054,
                &format!("response_type '{o}' is not enabled for the application."),
            )
        }
    }
    let scopes = match parse_scopes(&get("scope").unwrap_or_default()) {
        Ok(s) if s.iter().any(|x| x != "offline_access") => s,
        Ok(_) => {
            return redirect_error(
                now,
                &redirect,
                st_ref,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        }
        Err(bad) => {
            return redirect_error(
                now,
                &redirect,
                st_ref,
                "invalid_scope",
                70011,
                &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{bad}' does not exist."
            ),
            )
        }
    };
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), m) => {
            let m = m.unwrap_or_else(|| "plain".into());
            if !(m == "S256" || m == "plain") || !(43..=128).contains(&c.len()) {
                return redirect_error(
                    now,
                    &redirect,
                    st_ref,
                    "invalid_request",
                    501491,
                    "Invalid size of Code_Challenge parameter.",
                );
            }
            Some((c, m))
        }
        (None, _) if shared.lock().ms.settings.require_pkce => {
            return redirect_error(
                now,
                &redirect,
                st_ref,
                "invalid_request",
                9002325,
                "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
            )
        }
        (None, _) => None,
    };
    let prompt = get("prompt").unwrap_or_default().to_ascii_lowercase();
    let hint = get("login_hint")
        .and_then(|h| find_account(&h))
        .filter(|h| account_allowed(aud, h));
    let flow = MsFlow {
        tenant: tenant.to_string(),
        client_id,
        redirect_uri: redirect,
        state,
        scopes,
        challenge,
        nonce: get("nonce"),
        prompt: prompt.clone(),
        account: None,
        created: now,
    };
    let mut st = shared.lock();
    let id = random_string(32, URLSAFE);
    st.ms.flows.retain(|_, f| f.created > now - 3600);
    st.ms.flows.insert(id.clone(), flow.clone());
    let pick_first = prompt == "select_account" || prompt == "login";
    match hint {
        Some(user) if !pick_first => after_pick(&mut st, &id, user),
        _ if prompt == "none" => {
            st.ms.flows.remove(&id);
            redirect_error(
                now,
                &flow.redirect_uri,
                flow.state.as_deref(),
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            )
        }
        _ => Response::html(200, picker_page(tenant, &id, &accounts_for(aud))),
    }
}

fn pick(shared: &Shared, req: &Request, tenant: &str, aud: Audience) -> Response {
    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut st = shared.lock();
    let now = st.now();
    let Some(user) = get("account").and_then(|a| find_account(&a)) else {
        return error_page(now, 400, 50034, &format!("The user account does not exist in the '{tenant}' directory. To sign into this application, the account must be added to the directory."));
    };
    if !account_allowed(aud, user) {
        return error_page(now, 400, 50020, &format!("User account '{user}' from identity provider 'live.com' does not exist in tenant '{TENANT_DOMAIN}' and cannot access the application '{PUBLIC_CLIENT_ID}'({APP_NAME}) in that tenant."));
    }
    after_pick(&mut st, &get("flow").unwrap_or_default(), user)
}

fn session_expired(now: i64) -> Response {
    error_page(
        now,
        400,
        50089,
        "Authentication failed due to flow token expired. This is expected and the user should sign in again.",
    )
}

fn after_pick(st: &mut Inner, flow_id: &str, user: &str) -> Response {
    let now = st.now();
    let auto = st.settings.auto_approve || st.ms.settings.auto_approve;
    let Some(flow) = st.ms.flows.get_mut(flow_id) else {
        return session_expired(now);
    };
    flow.account = Some(user.to_string());
    let flow = flow.clone();
    let granted = st.ms.has_grant(user, &flow.client_id, &flow.scopes);
    if flow.prompt == "consent" || !granted {
        if flow.prompt == "none" {
            st.ms.flows.remove(flow_id);
            return redirect_error(
                now,
                &flow.redirect_uri,
                flow.state.as_deref(),
                "consent_required",
                65001,
                &consent_text(&flow.client_id),
            );
        }
        if !auto {
            return Response::html(200, consent_page(&flow.tenant, flow_id, user, &flow.scopes));
        }
    }
    st.ms.flows.remove(flow_id);
    approve(st, &flow)
}

fn consent(shared: &Shared, req: &Request) -> Response {
    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut st = shared.lock();
    let now = st.now();
    let Some(flow) = st.ms.flows.remove(&get("flow").unwrap_or_default()) else {
        return session_expired(now);
    };
    if flow.account.is_none() {
        return session_expired(now);
    }
    if get("decision").as_deref() != Some("accept") {
        let desc = format!(
            "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            guid(),
            guid(),
            aad_timestamp(now)
        );
        let mut p: Vec<(&str, &str)> = vec![
            ("error", "access_denied"),
            ("error_subcode", "cancel"),
            ("error_description", &desc),
        ];
        if let Some(s) = &flow.state {
            p.push(("state", s));
        }
        return Response::redirect(&add_query(&flow.redirect_uri, &p));
    }
    approve(&mut st, &flow)
}

/// Records consent, issues a code, redirects to the loopback listener.
fn approve(st: &mut Inner, flow: &MsFlow) -> Response {
    let user = flow.account.clone().unwrap_or_default();
    let now = st.now();
    st.ms.record_grant(&user, &flow.client_id, &flow.scopes);
    let code = if is_personal(&user) {
        format!(
            "M.C5{}_BL2.2.U.{}",
            random_string(3, b"0123456789"),
            random_string(180, URLSAFE)
        )
    } else {
        format!("1.AQEA{}", random_string(360, URLSAFE))
    };
    let expires_at = now + st.ms.settings.code_lifetime_s;
    st.ms.codes.insert(
        code.clone(),
        MsCode {
            user: user.clone(),
            client_id: flow.client_id.clone(),
            redirect_uri: flow.redirect_uri.clone(),
            scopes: flow.scopes.clone(),
            challenge: flow.challenge.clone(),
            nonce: flow.nonce.clone(),
            expires_at,
            used: false,
        },
    );
    let session = guid();
    let mut p: Vec<(&str, &str)> = vec![("code", &code)];
    if let Some(s) = &flow.state {
        p.push(("state", s));
    }
    if !is_personal(&user) {
        p.push(("session_state", &session));
    }
    Response::redirect(&add_query(&flow.redirect_uri, &p))
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn display_name(user: &str) -> String {
    let local = user.split('@').next().unwrap_or(user);
    format!("{local} (test)")
}

/// Access token (a JWT whose `aud` is the resource), refresh token, id_token: the success document
/// in Microsoft's field order. `scopes` are all consented scopes; `resource` picks the audience.
fn token_document(
    shared: &Shared,
    st: &mut Inner,
    user: &str,
    client_id: &str,
    resource: &str,
    requested: &[String],
    nonce: Option<&str>,
) -> Value {
    let now = st.now();
    let granted = st
        .ms
        .grants
        .get(&(user.to_string(), client_id.to_string()))
        .cloned()
        .unwrap_or_default();
    let res_scopes: Vec<String> = granted
        .iter()
        .filter(|s| resource_of(s) == Some(resource))
        .filter(|s| requested.contains(s) || resource == GRAPH_RESOURCE)
        .cloned()
        .collect();
    let lifetime = st.ms.settings.access_token_lifetime_s;
    let tid = tenant_of(user);
    let aud = if resource == OUTLOOK_RESOURCE {
        OUTLOOK_RESOURCE
    } else {
        GRAPH_AUDIENCE
    };
    let scp: Vec<&str> = res_scopes.iter().map(|s| short(s)).collect();
    let access = shared.signer.sign(&json!({
        "aud": aud, "iss": format!("https://sts.windows.net/{tid}/"), "iat": now, "nbf": now,
        "exp": now + lifetime, "appid": client_id, "name": display_name(user), "oid": oid_for(user),
        "scp": scp.join(" "), "sub": oid_for(&format!("{user}/{client_id}")), "tid": tid,
        "unique_name": user, "upn": user, "uti": random_string(22, URLSAFE), "ver": "1.0"
    }));
    st.ms.access.insert(
        access.clone(),
        MsAccess {
            user: user.into(),
            resource: resource.into(),
            scopes: res_scopes.clone(),
            expires_at: now + lifetime,
            revoked: false,
        },
    );
    let has = |s: &str| granted.iter().any(|g| g == s);
    let shown: Vec<String> = if resource == GRAPH_RESOURCE {
        res_scopes
            .iter()
            .map(|s| short(s).to_string())
            .chain(
                ["openid", "profile", "email"]
                    .iter()
                    .filter(|s| has(s))
                    .map(|s| s.to_string()),
            )
            .collect()
    } else {
        res_scopes.clone()
    };
    let mut m = Map::new();
    m.insert("token_type".into(), json!("Bearer"));
    m.insert("scope".into(), json!(shown.join(" ")));
    m.insert("expires_in".into(), json!(lifetime));
    m.insert("ext_expires_in".into(), json!(lifetime));
    m.insert("access_token".into(), json!(access));
    if has("offline_access") {
        let rt = if is_personal(user) {
            format!(
                "M.C5{}_BL2.0.U.-{}",
                random_string(3, b"0123456789"),
                random_string(300, URLSAFE)
            )
        } else {
            format!("1.AQEA{}", random_string(420, URLSAFE))
        };
        st.ms.refresh.insert(
            rt.clone(),
            MsRefresh {
                user: user.into(),
                client_id: client_id.into(),
                issued_at: now,
                last_used: now,
                replaced: false,
                revoked: false,
            },
        );
        m.insert("refresh_token".into(), json!(rt));
    }
    if has("openid") {
        let mut c = json!({
            "aud": client_id, "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "iat": now, "nbf": now, "exp": now + 3600, "name": display_name(user), "oid": oid_for(user),
            "preferred_username": user, "sub": oid_for(&format!("{user}#{client_id}")), "tid": tid,
            "uti": random_string(22, URLSAFE), "ver": "2.0"
        });
        if has("email") {
            c["email"] = json!(user);
        }
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        m.insert("id_token".into(), json!(shared.signer.sign(&c)));
    }
    Value::Object(m)
}

/// The resource of a token request's scopes: Err(28000 response) when they span two.
fn single_resource(now: i64, scopes: &[String]) -> Result<&'static str, Response> {
    let mut res: Vec<&'static str> = scopes.iter().filter_map(|s| resource_of(s)).collect();
    res.dedup();
    res.sort();
    res.dedup();
    match res.as_slice() {
        [] => Ok(GRAPH_RESOURCE),
        [one] => Ok(one),
        _ => {
            let list: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            Err(aad_error(now, 400, "invalid_scope", 28000, &format!("Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {} is not valid.", list.join(" ")), &[]))
        }
    }
}

/// The switches that refuse token issuance for an otherwise valid request.
fn policy_error(st: &Inner, now: i64, client_id: &str, resource: &str) -> Option<Response> {
    let s = &st.ms.settings;
    let res = resource_name(resource);
    if s.conditional_access_blocked {
        return Some(aad_error(
            now,
            400,
            "invalid_grant",
            53003,
            text::CONDITIONAL_ACCESS,
            &[("suberror", json!("message_only"))],
        ));
    }
    if s.mfa_required {
        return Some(aad_error(now, 400, "invalid_grant", 50076, &format!("{} '{res}'.", text::MFA), &[("suberror", json!("basic_action")), ("claims", json!("{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"6b1e2c3d-0000-4000-8000-standin00mfa\"]}}}"))]));
    }
    if s.mfa_expired {
        return Some(aad_error(
            now,
            400,
            "invalid_grant",
            50078,
            &format!("{} '{res}'.", text::MFA_EXPIRED),
            &[("suberror", json!("basic_action"))],
        ));
    }
    if s.consent_missing {
        return Some(aad_error(
            now,
            400,
            "invalid_grant",
            65001,
            &consent_text(client_id),
            &[("suberror", json!("consent_required"))],
        ));
    }
    None
}

pub fn token(shared: &Shared, req: &Request) -> Response {
    let r = token_inner(shared, req);
    if r.status != 200 {
        shared.lock().ms.counters.token_errors += 1;
    }
    r
}

fn token_inner(shared: &Shared, req: &Request) -> Response {
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let now = shared.lock().now();
    if let Some(f) = shared.lock().ms.take_fault("token") {
        if f.kind == "throttle" {
            let status = f.status.unwrap_or(429);
            let r = aad_error(
                now,
                status,
                "temporarily_unavailable",
                50196,
                "The server is temporarily unavailable. Please retry.",
                &[],
            );
            return r.with_header("Retry-After", &f.retry_after_s.unwrap_or(5).to_string());
        }
        return dropped();
    }
    let Some(grant_type) = get("grant_type") else {
        return missing(now, "grant_type");
    };
    if grant_type != "authorization_code" && grant_type != "refresh_token" {
        return aad_error(
            now,
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
            &[],
        );
    }
    // Client authentication: body or HTTP Basic.
    let basic = req.header("authorization").and_then(|h| {
        let (scheme, v) = h.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let d = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v.trim()).ok()?;
        let s = String::from_utf8(d).ok()?;
        let (i, p) = s.split_once(':')?;
        Some((crate::http::percent_decode(i), crate::http::percent_decode(p)))
    });
    let client_id = get("client_id").or_else(|| basic.as_ref().map(|b| b.0.clone()));
    let secret = get("client_secret").or_else(|| basic.as_ref().map(|b| b.1.clone()));
    let Some(client_id) = client_id else {
        return missing(now, "client_id");
    };
    let Some(public) = is_public(&client_id) else {
        return aad_error(
            now,
            400,
            "unauthorized_client",
            700016,
            &app_not_found(&client_id, TENANT_DOMAIN),
            &[],
        );
    };
    match (public, secret.as_deref(), get("client_assertion")) {
        (true, Some(_), _) | (true, _, Some(_)) => {
            return aad_error(now, 401, "invalid_client", 700025, text::PUBLIC_SECRET, &[]);
        }
        (false, None, None) => return aad_error(now, 401, "invalid_client", 7000218, text::NEED_SECRET, &[]),
        (false, Some(s), _) if s != CONFIDENTIAL_CLIENT_SECRET => {
            return aad_error(now, 401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."), &[]);
        }
        _ => {}
    }
    let scopes = match get("scope").map(|s| parse_scopes(&s)) {
        // Optional when redeeming a code (then the code's first resource), required to refresh.
        None if grant_type == "authorization_code" => None,
        None => return missing(now, "scope"),
        Some(Err(bad)) => {
            return aad_error(
                now,
                400,
                "invalid_scope",
                70011,
                &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{bad}' does not exist."
            ),
                &[],
            )
        }
        Some(Ok(s)) => Some(s),
    };
    let scopes = match scopes {
        Some(s) => s,
        None => {
            let code = get("code").unwrap_or_default();
            let code_scopes = shared
                .lock()
                .ms
                .codes
                .get(&code)
                .map(|c| c.scopes.clone())
                .unwrap_or_default();
            let first = code_scopes.iter().find_map(|s| resource_of(s));
            code_scopes
                .into_iter()
                .filter(|s| resource_of(s).is_none() || resource_of(s) == first)
                .collect()
        }
    };
    let resource = match single_resource(now, &scopes) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if grant_type == "authorization_code" {
        code_grant(shared, &get, &client_id, &scopes, resource, now)
    } else {
        refresh_grant(shared, &get, &client_id, &scopes, resource, now)
    }
}

fn code_grant(
    shared: &Shared,
    get: &dyn Fn(&str) -> Option<String>,
    client_id: &str,
    scopes: &[String],
    resource: &str,
    now: i64,
) -> Response {
    let mut st = shared.lock();
    st.ms.counters.token_authorization_code += 1;
    let Some(code) = get("code") else {
        return missing(now, "code");
    };
    let Some(c) = st.ms.codes.get(&code).cloned() else {
        return aad_error(now, 400, "invalid_grant", 9002313, text::MALFORMED, &[]);
    };
    if c.client_id != client_id {
        return aad_error(now, 400, "invalid_grant", 70000, text::BAD_GRANT, &[]);
    }
    if c.used {
        return aad_error(now, 400, "invalid_grant", 54005, text::CODE_REDEEMED, &[]);
    }
    if c.expires_at <= now {
        return aad_error(now, 400, "invalid_grant", 70008, text::EXPIRED_CODE, &[]);
    }
    let Some(redirect) = get("redirect_uri") else {
        return missing(now, "redirect_uri");
    };
    if redirect_ok(&redirect).as_deref() != Some(c.redirect_uri.as_str()) {
        return aad_error(now, 400, "invalid_grant", 500112, &format!("The reply address '{redirect}' does not match the reply address '{}' provided when requesting Authorization code.", c.redirect_uri), &[]);
    }
    if let Some((challenge, method)) = &c.challenge {
        let ok = get("code_verifier").is_some_and(|v| {
            if method == "S256" {
                &s256(&v) == challenge
            } else {
                &v == challenge
            }
        });
        if !ok {
            return aad_error(now, 400, "invalid_grant", 501481, text::VERIFIER, &[]);
        }
    }
    if let Some(r) = policy_error(&st, now, client_id, resource) {
        return r;
    }
    if let Some(s) = scopes
        .iter()
        .find(|s| !c.scopes.contains(s) && !st.ms.has_grant(&c.user, client_id, &[s.to_string()]))
    {
        shared.log(&format!("microsoft: code redeemed for unconsented scope {s}"));
        return aad_error(
            now,
            400,
            "invalid_grant",
            65001,
            &consent_text(client_id),
            &[("suberror", json!("consent_required"))],
        );
    }
    if let Some(c) = st.ms.codes.get_mut(&code) {
        c.used = true;
    }
    let doc = token_document(
        shared,
        &mut st,
        &c.user,
        client_id,
        resource,
        scopes,
        c.nonce.as_deref(),
    );
    shared.log(&format!("microsoft: code exchanged for {} ({resource})", c.user));
    ests_json(200, &doc, &guid())
}

fn refresh_grant(
    shared: &Shared,
    get: &dyn Fn(&str) -> Option<String>,
    client_id: &str,
    scopes: &[String],
    resource: &str,
    now: i64,
) -> Response {
    let mut st = shared.lock();
    st.ms.counters.token_refresh_token += 1;
    let Some(rt) = get("refresh_token") else {
        return missing(now, "refresh_token");
    };
    let Some(r) = st.ms.refresh.get(&rt).cloned() else {
        return aad_error(now, 400, "invalid_grant", 9002313, text::MALFORMED, &[]);
    };
    if r.client_id != client_id || r.replaced {
        return aad_error(now, 400, "invalid_grant", 70000, text::BAD_GRANT, &[]);
    }
    let inactive = now - r.last_used;
    if inactive >= st.ms.settings.refresh_inactivity_s {
        let d = inactive / 86_400;
        let rem = inactive % 86_400;
        return aad_error(now, 400, "invalid_grant", 700082, &format!("The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {d}.{:02}:{:02}:{:02}.", iso_graph(r.issued_at), rem / 3600, rem % 3600 / 60, rem % 60), &[]);
    }
    if r.revoked {
        let from = st.ms.valid_from.get(&r.user).copied().unwrap_or(now);
        return aad_error(now, 400, "invalid_grant", 50173, &format!("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.", iso_graph(r.issued_at), iso_graph(from)), &[]);
    }
    if let Some(e) = policy_error(&st, now, client_id, resource) {
        return e;
    }
    let consented = st
        .ms
        .grants
        .get(&(r.user.clone(), client_id.to_string()))
        .cloned()
        .unwrap_or_default();
    if scopes.iter().any(|s| !consented.contains(s)) {
        return aad_error(
            now,
            400,
            "invalid_grant",
            65001,
            &consent_text(client_id),
            &[("suberror", json!("consent_required"))],
        );
    }
    // Rotation: the presented token is spent; the document carries its successor.
    if let Some(old) = st.ms.refresh.get_mut(&rt) {
        old.replaced = true;
    }
    let doc = token_document(shared, &mut st, &r.user, client_id, resource, scopes, None);
    shared.log(&format!("microsoft: refresh for {} ({resource})", r.user));
    ests_json(200, &doc, &guid())
}

/// Control plane `POST /microsoft/tokens`: consent + a token document without the browser.
pub fn mint(shared: &Shared, email: &str, scope: &str, client_id: &str) -> Result<Value, String> {
    let user = find_account(email).ok_or_else(|| format!("unknown account {email}"))?;
    is_public(client_id).ok_or_else(|| format!("unknown client_id {client_id}"))?;
    let scopes = parse_scopes(scope).map_err(|b| format!("unknown scope {b}"))?;
    let now = shared.lock().now();
    let resource = single_resource(now, &scopes).map_err(|_| "scopes of more than one resource".to_string())?;
    let mut st = shared.lock();
    st.ms.record_grant(user, client_id, &scopes);
    let mut doc = token_document(shared, &mut st, user, client_id, resource, &scopes, None);
    doc["email"] = json!(user);
    Ok(doc)
}

pub fn discovery(shared: &Shared, tenant: &str) -> Response {
    let base = shared
        .info
        .get()
        .map(|i| i.microsoft.authority.clone())
        .unwrap_or_default();
    let tid = match tenant_kind(tenant) {
        Some(Audience::Consumers) => CONSUMERS_TENANT_ID,
        Some(Audience::Organizations) if tenant != "organizations" => TENANT_ID,
        _ => "{tenantid}",
    };
    ests_json(
        200,
        &json!({
            "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "name", "tid", "ver", "oid", "email"]
        }),
        &guid(),
    )
}

pub fn keys(shared: &Shared) -> Response {
    ests_json(200, &shared.signer.jwks(), &guid())
}
