//! The control plane (README "Control plane"): plain HTTP + JSON on its own loopback port.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::mailbox;
use crate::oauth;
use crate::state::{Fault, Inner, Settings, Shared, Users};

fn ok(v: Value) -> Response {
    Response::json(200, &v)
}

fn err(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({ "error": msg }))
}

fn body(req: &Request) -> Result<Value, Response> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body).map_err(|e| err(400, &format!("invalid JSON body: {e}")))
}

/// Applies the keys of `patch` to a serializable value, refusing unknown keys.
fn merge<T: serde::Serialize + serde::de::DeserializeOwned>(cur: &T, patch: &Value) -> Result<T, String> {
    let mut v = serde_json::to_value(cur).map_err(|e| e.to_string())?;
    let Value::Object(p) = patch else {
        return Err("the body must be a JSON object".into());
    };
    for (k, val) in p {
        if v.get(k).is_none() {
            return Err(format!("unknown field {k:?}"));
        }
        v[k] = val.clone();
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

pub fn reset(shared: &Shared) {
    let mut st = shared.lock();
    *st = Inner::new(shared.initial_settings.clone(), shared.initial_users.clone());
    drop(st);
    mailbox::clear(&shared.mailbox_dir);
    shared.log("control: reset");
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    if let Some(r) = crate::service_account::control(shared, req) {
        return r;
    }
    match handle_inner(shared, req) {
        Ok(r) | Err(r) => r,
    }
}

fn scope_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")),
        _ => None,
    }
}

/// The required `email` and `scope` (string or array) of a `/tokens` or `/grants` body.
fn email_and_scope(b: &Value) -> Result<(&str, String), Response> {
    let email = b
        .get("email")
        .and_then(Value::as_str)
        .ok_or_else(|| err(400, "\"email\" is required"))?;
    let scope = b
        .get("scope")
        .and_then(scope_string)
        .ok_or_else(|| err(400, "\"scope\" is required (string or array)"))?;
    Ok((email, scope))
}

fn handle_inner(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let m = req.method.as_str();
    let path = req.path.trim_end_matches('/');
    let r = match (m, path) {
        ("GET", "/info" | "") => ok(serde_json::to_value(shared.info.get()).unwrap_or_default()),
        ("GET", crate::tls::CRL_PATH) => match shared.crl.get() {
            Some(der) => Response::new(200, "application/pkix-crl", der.clone()),
            None => err(404, "no CRL"),
        },
        ("POST", "/reset") => {
            reset(shared);
            ok(json!({}))
        }
        ("GET", "/settings") => ok(serde_json::to_value(&shared.lock().settings).unwrap_or_default()),
        ("POST", "/settings") => {
            let patch = body(req)?;
            let mut st = shared.lock();
            let new: Settings = merge(&st.settings, &patch).map_err(|e| err(400, &e))?;
            new.validate().map_err(|e| err(400, &e))?;
            st.settings = new;
            ok(serde_json::to_value(&st.settings).unwrap_or_default())
        }
        ("GET", "/users") => ok(serde_json::to_value(&shared.lock().users).unwrap_or_default()),
        ("POST", "/users") => {
            let patch = body(req)?;
            let mut st = shared.lock();
            let new: Users = merge(&st.users, &patch).map_err(|e| err(400, &e))?;
            st.users = new;
            ok(serde_json::to_value(&st.users).unwrap_or_default())
        }
        ("GET", "/clock") => {
            let st = shared.lock();
            ok(json!({"now": st.now(), "offset_s": st.clock_offset}))
        }
        ("POST", "/clock") => {
            let b = body(req)?;
            let mut st = shared.lock();
            if let Some(a) = b.get("advance_s").and_then(Value::as_i64) {
                st.clock_offset += a;
            } else if let Some(t) = b.get("set").and_then(Value::as_i64) {
                st.clock_offset = t - crate::state::real_now();
            } else {
                return Err(err(400, "give \"advance_s\" or \"set\""));
            }
            ok(json!({"now": st.now(), "offset_s": st.clock_offset}))
        }
        ("POST", "/tokens") => {
            let b = body(req)?;
            let (email, scope) = email_and_scope(&b)?;
            let offline = b.get("offline").and_then(Value::as_bool).unwrap_or(true);
            let client = b.get("client_id").and_then(Value::as_str);
            let doc = oauth::mint(shared, email, &scope, offline, client).map_err(|e| err(400, &e))?;
            ok(doc)
        }
        ("POST", "/tokens/expire") => {
            let b = body(req)?;
            let which = b.get("which").and_then(Value::as_str).unwrap_or("access");
            if !matches!(which, "access" | "refresh" | "both") {
                return Err(err(400, "\"which\" is access, refresh or both"));
            }
            let token = b.get("token").and_then(Value::as_str).map(String::from);
            let email = b.get("email").and_then(Value::as_str).map(String::from);
            if token.is_none() && email.is_none() {
                return Err(err(400, "give \"token\" or \"email\""));
            }
            let mut st = shared.lock();
            let now = st.now();
            let mut n = 0;
            let matches = |t: &str, user: &str| {
                token.as_deref() == Some(t) || email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(user))
            };
            if which != "refresh" {
                for (t, a) in st.access.iter_mut() {
                    if matches(t, &a.user) && a.expires_at > now {
                        a.expires_at = now;
                        n += 1;
                    }
                }
            }
            if which != "access" {
                for (t, r) in st.refresh.iter_mut() {
                    if matches(t, &r.user) && r.expires_at.is_none_or(|e| e > now) {
                        r.expires_at = Some(now);
                        n += 1;
                    }
                }
            }
            ok(json!({ "expired": n }))
        }
        ("POST", "/revoke") => {
            let b = body(req)?;
            let mut st = shared.lock();
            let mut pairs: Vec<(String, String)> = Vec::new();
            if let Some(t) = b.get("token").and_then(Value::as_str) {
                if let Some(a) = st.access.get(t) {
                    pairs.push((a.user.clone(), a.client_id.clone()));
                } else if let Some(r) = st.refresh.get(t) {
                    pairs.push((r.user.clone(), r.client_id.clone()));
                } else {
                    return Err(err(404, "unknown token"));
                }
            } else if let Some(e) = b.get("email").and_then(Value::as_str) {
                for c in &shared.clients {
                    pairs.push((st.users.find(e).unwrap_or_else(|| e.to_string()), c.id.clone()));
                }
            } else {
                return Err(err(400, "give \"token\" or \"email\""));
            }
            let n: usize = pairs.iter().map(|(u, c)| st.revoke_grant(u, c)).sum();
            ok(json!({ "revoked": n }))
        }
        ("GET", "/grants") => {
            let st = shared.lock();
            let now = st.now();
            let mut out = Vec::new();
            let mut keys: Vec<(String, String)> = st
                .refresh
                .values()
                .map(|r| (r.user.clone(), r.client_id.clone()))
                .chain(st.access.values().map(|a| (a.user.clone(), a.client_id.clone())))
                .chain(st.grants.keys().cloned())
                .collect();
            keys.sort();
            keys.dedup();
            for (u, c) in keys {
                let live_r = st
                    .refresh
                    .values()
                    .filter(|r| r.user == u && r.client_id == c && st.refresh_live(r))
                    .count();
                let live_a = st
                    .access
                    .values()
                    .filter(|a| a.user == u && a.client_id == c && !a.revoked && a.expires_at > now)
                    .count();
                let scope = st
                    .grants
                    .get(&(u.clone(), c.clone()))
                    .map(|g| g.join(" "))
                    .unwrap_or_default();
                out.push(json!({"email": u, "client_id": c, "scope": scope,
                    "refresh_tokens_live": live_r, "access_tokens_live": live_a}));
            }
            ok(Value::Array(out))
        }
        ("POST", "/grants") => {
            let b = body(req)?;
            let (email, scope) = email_and_scope(&b)?;
            let client = match b.get("client_id").and_then(Value::as_str) {
                Some(c) => shared
                    .client(c)
                    .ok_or_else(|| err(400, "unknown client_id"))?
                    .id
                    .clone(),
                None => shared.clients[0].id.clone(),
            };
            let scopes = crate::state::parse_scopes(&scope);
            if let Some(bad) = scopes
                .iter()
                .find(|s| !crate::state::KNOWN_SCOPES.contains(&s.as_str()))
            {
                return Err(err(400, &format!("unknown scope {bad}")));
            }
            let mut st = shared.lock();
            let user = st.users.find(email).ok_or_else(|| err(400, "unknown account"))?;
            st.record_grant(&user, &client, &scopes);
            let all = st
                .grants
                .get(&(user.clone(), client.clone()))
                .cloned()
                .unwrap_or_default();
            ok(json!({"email": user, "client_id": client, "scope": all.join(" ")}))
        }
        ("GET", "/faults") => {
            let st = shared.lock();
            ok(json!({ "faults": st.faults }))
        }
        ("POST", "/faults") => {
            let b = body(req)?;
            let mut f: Fault = serde_json::from_value(b).map_err(|e| err(400, &format!("invalid fault: {e}")))?;
            f.validate().map_err(|e| err(400, &e))?;
            let mut st = shared.lock();
            f.id = st.next_fault_id;
            st.next_fault_id += 1;
            let id = f.id;
            st.faults.push(f);
            ok(json!({ "id": id }))
        }
        ("DELETE", "/faults") => {
            shared.lock().faults.clear();
            ok(json!({}))
        }
        ("GET", "/smtp/sessions") => {
            let st = shared.lock();
            let sessions: Vec<Value> = st
                .smtp_sessions
                .values()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect();
            ok(json!({ "sessions": sessions }))
        }
        ("GET", "/counters") => ok(serde_json::to_value(&shared.lock().counters).unwrap_or_default()),
        ("GET", "/mailbox") => ok(json!({ "messages": mailbox::list(&shared.mailbox_dir) })),
        ("DELETE", "/mailbox") => {
            mailbox::clear(&shared.mailbox_dir);
            ok(json!({}))
        }
        _ if path.starts_with("/microsoft/") => {
            return Ok(crate::microsoft::control(shared, req).unwrap_or_else(|| err(404, "no such endpoint")))
        }
        _ => {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match (m, parts.as_slice()) {
                ("GET", ["mailbox", id]) => {
                    let mut side = mailbox::find(&shared.mailbox_dir, id).ok_or_else(|| err(404, "no such message"))?;
                    let eml = side["eml"].as_str().unwrap_or_default().to_string();
                    let bytes = std::fs::read(shared.mailbox_dir.join(eml)).map_err(|e| err(404, &e.to_string()))?;
                    side["raw_base64"] = json!(STANDARD.encode(bytes));
                    ok(side)
                }
                ("GET", ["mailbox", id, "eml"]) => {
                    let side = mailbox::find(&shared.mailbox_dir, id).ok_or_else(|| err(404, "no such message"))?;
                    let eml = side["eml"].as_str().unwrap_or_default().to_string();
                    let bytes = std::fs::read(shared.mailbox_dir.join(eml)).map_err(|e| err(404, &e.to_string()))?;
                    Response::new(200, "message/rfc822", bytes)
                }
                _ => err(404, &format!("no control endpoint {m} {}", req.path)),
            }
        }
    };
    Ok(r)
}
