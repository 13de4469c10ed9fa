//! Dispatch of the Google-facing HTTP(S) port, with the fault injection of the control plane.

use serde_json::json;

use crate::http::{Action, Request, Response};
use crate::state::{Fault, Shared};
use crate::{gmail, oauth};

/// Which endpoint a request is for (the names faults use).
fn endpoint(path: &str) -> &'static str {
    match path {
        "/o/oauth2/v2/auth" | "/o/oauth2/auth" | "/o/oauth2/v2/auth/choose" | "/o/oauth2/v2/auth/consent" => {
            "authorize"
        }
        "/token" | "/o/oauth2/token" | "/oauth2/v4/token" | "/oauth2/v3/token" => "token",
        "/revoke" | "/o/oauth2/revoke" => "revoke",
        "/v1/userinfo" | "/oauth2/v3/userinfo" | "/oauth2/v2/userinfo" => "userinfo",
        p if p.starts_with("/gmail/v1/")
            || p.starts_with("/upload/gmail/v1/")
            || p.starts_with("/resumable/upload/gmail/v1/") =>
        {
            "gmail_send"
        }
        _ => "other",
    }
}

fn fault_response(endpoint: &str, f: &Fault) -> Response {
    let status = f.status.unwrap_or(500);
    let gmail = endpoint == "gmail_send";
    match f.kind.as_str() {
        "rate_limit" => {
            let after = f.retry_after_s.unwrap_or(30);
            if gmail {
                gmail::rate_limited(after)
            } else {
                oauth::oauth_error(429, "rate_limit_exceeded", "Rate Limit Exceeded")
                    .with_header("Retry-After", &after.to_string())
            }
        }
        _ if gmail => gmail::server_error(status),
        _ if endpoint == "authorize" => Response::html(
            status,
            format!(
                "<!DOCTYPE html><html><head><title>Error {status}</title></head><body><h1 id=\"error-code\">{status}. That’s an error.</h1><p id=\"error-description\">There was an error. Please try again later.</p></body></html>\n"
            ),
        ),
        _ => {
            let (e, d) = match status {
                400 => ("invalid_request", "Bad Request"),
                401 => ("invalid_client", "Unauthorized"),
                403 => ("access_denied", "Forbidden"),
                503 => ("temporarily_unavailable", "The service is currently unavailable."),
                _ => ("internal_failure", "Backend Error"),
            };
            oauth::google_json(status, &json!({"error": e, "error_description": d}))
        }
    }
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    let ep = endpoint(&req.path);
    let fault = if ep == "other" {
        None
    } else {
        shared.lock().take_fault(ep, None)
    };
    if let Some(f) = &fault {
        shared.log(&format!("fault {} on {ep}", f.kind));
        match f.kind.as_str() {
            "status" | "rate_limit" => {
                if ep == "token" {
                    // Counted like a real token request.
                    let _ = count_token(shared, req);
                }
                return fault_response(ep, f);
            }
            "delay" => shared.sleep(f.delay_ms.unwrap_or(1000)),
            "hang" => {
                let mut r = Response::new(200, "text/plain", "");
                r.action = Action::Hang;
                return r;
            }
            _ => {}
        }
    }
    let mut resp = route(shared, req);
    if fault.as_ref().is_some_and(|f| f.kind == "drop") {
        resp.action = Action::Drop;
    }
    resp
}

fn count_token(shared: &Shared, req: &Request) -> Option<()> {
    let form = req.form();
    let gt = form.iter().find(|(k, _)| k == "grant_type")?.1.clone();
    let mut st = shared.lock();
    match gt.as_str() {
        "authorization_code" => st.counters.token.authorization_code += 1,
        "refresh_token" => st.counters.token.refresh_token += 1,
        crate::service_account::JWT_BEARER => crate::service_account::count(&mut st, &form),
        _ => st.counters.token.other += 1,
    }
    Some(())
}

fn not_found(req: &Request) -> Response {
    Response::html(
        404,
        format!(
            "<!DOCTYPE html>\n<html lang=en><title>Error 404 (Not Found)!!1</title><p><b>404.</b> That’s an error.<p>The requested URL <code>{}</code> was not found on this server.  That’s all we know.\n",
            crate::pages::esc(&req.path)
        ),
    )
}

fn route(shared: &Shared, req: &Request) -> Response {
    let p = req.path.as_str();
    let m = req.method.as_str();
    match (m, p) {
        ("GET" | "POST", "/o/oauth2/v2/auth" | "/o/oauth2/auth") => oauth::authorize(shared, req),
        ("POST", "/o/oauth2/v2/auth/choose") => oauth::choose(shared, req),
        ("POST", "/o/oauth2/v2/auth/consent") => oauth::consent(shared, req),
        (_, "/token" | "/o/oauth2/token" | "/oauth2/v4/token" | "/oauth2/v3/token") => oauth::token(shared, req),
        (_, "/revoke" | "/o/oauth2/revoke") => oauth::revoke(shared, req),
        ("GET" | "POST", "/v1/userinfo" | "/oauth2/v3/userinfo" | "/oauth2/v2/userinfo") => {
            oauth::userinfo(shared, req)
        }
        ("GET" | "POST", "/tokeninfo" | "/oauth2/v3/tokeninfo") => oauth::tokeninfo(shared, req),
        ("GET", "/oauth2/v3/certs") => oauth::certs(shared),
        ("GET", "/.well-known/openid-configuration") => oauth::discovery(shared),
        _ => {
            let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
            match (m, parts.as_slice()) {
                ("POST", ["gmail", "v1", "users", user, "messages", "send"]) => gmail::send(shared, req, user, false),
                ("POST", ["upload", "gmail", "v1", "users", user, "messages", "send"])
                | ("POST", ["resumable", "upload", "gmail", "v1", "users", user, "messages", "send"]) => {
                    if p.starts_with("/resumable/") && req.query_param("uploadType").is_none() {
                        let mut r = req.clone();
                        r.raw_query = format!("uploadType=resumable&{}", r.raw_query);
                        return gmail::send(shared, &r, user, true);
                    }
                    gmail::send(shared, req, user, true)
                }
                ("PUT", ["upload", "gmail", "v1", "users", _, "messages", "send"]) => gmail::put_resumable(shared, req),
                ("GET", ["gmail", "v1", "users", user, "profile"]) => gmail::profile(shared, req, user),
                ("GET", ["gmail", "v1", "users", user, "settings", "sendAs"]) => gmail::send_as_list(shared, req, user),
                _ => crate::microsoft::route(shared, req).unwrap_or_else(|| not_found(req)),
            }
        }
    }
}
