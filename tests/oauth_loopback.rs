//! The loopback listener and the authorization flow against a minimal fake token endpoint: how
//! the listener behaves when a browser does what browsers do (favicon, stray paths, wrong state,
//! idle pre-connections, duplicates), timeouts, cancel, the url_opener contract, and the checks
//! on the token response (refresh token, scopes, email). The same flow against the Google
//! stand-in is in `oauth_standin.rs`.

mod oauth_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oauth_support::*;
use oauthmail::authorize::AuthorizeOptions;
use oauthmail::{Client, Config, Status};

const CODE: &str = "4/0AfakeCODE-secret-value_xyz";
const ACCESS: &str = "ya29.fakeACCESS-secret-value";
const REFRESH: &str = "1//0gfakeREFRESH-secret-value";
const CLIENT_SECRET: &str = "GOCSPX-fake-client-secret";
const EMAIL: &str = "erp.test@gmail.com";
const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";

/// A token endpoint (and userinfo) that answers what the test says and records every request.
struct FakeProvider {
    port: u16,
    reply: Arc<Mutex<(u16, String)>>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn id_token(email: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b(r#"{"alg":"RS256","typ":"JWT"}"#),
        b(&format!(
            r#"{{"iss":"https://accounts.google.com","aud":"test-client","sub":"1","email":"{email}","email_verified":true}}"#
        ))
    )
}

fn good_reply() -> String {
    serde_json::json!({
        "access_token": ACCESS,
        "expires_in": 3599,
        "refresh_token": REFRESH,
        "scope": format!("openid {GMAIL_SEND} https://www.googleapis.com/auth/userinfo.email"),
        "token_type": "Bearer",
        "id_token": id_token(EMAIL),
    })
    .to_string()
}

impl FakeProvider {
    fn start() -> FakeProvider {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new((200, good_reply())));
        let requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, q, st) = (reply.clone(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                // One request per connection is enough, but keep-alive clients may send more.
                let mut buf = Vec::new();
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    buf.drain(..end + 4 + len);
                    let line = head.lines().next().unwrap_or("").to_string();
                    let (status, json) = if line.contains("/userinfo") {
                        (200, format!(r#"{{"sub":"1","email":"{EMAIL}","email_verified":true}}"#))
                    } else {
                        r.lock().unwrap().clone()
                    };
                    q.lock().unwrap().push((line, body));
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{json}",
                        json.len()
                    );
                }
            }
        });
        FakeProvider {
            port,
            reply,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn set_reply(&self, status: u16, json: String) {
        *self.reply.lock().unwrap() = (status, json);
    }

    fn token_requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| l.starts_with("POST /token"))
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn client(&self, extra: &str) -> Client {
        let json = format!(
            r#"{{"provider":"google","client_id":"test-client","client_secret":"{CLIENT_SECRET}",
                "endpoints":{{"authorization":"http://127.0.0.1:9/o/oauth2/v2/auth",
                             "token":"http://127.0.0.1:{p}/token",
                             "userinfo":"http://127.0.0.1:{p}/userinfo"}}
                {timeouts}{extra}}}"#,
            p = self.port,
            timeouts = if extra.contains("timeouts") {
                ""
            } else {
                r#","timeouts":{"authorize_s":20}"#
            }
        );
        Client::new(serde_json::from_str::<Config>(&json).unwrap()).unwrap()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The redirect the provider would send the browser to, for the state in `auth_url`.
fn redirect_for(auth_url: &str) -> String {
    let redirect_uri = param(auth_url, "redirect_uri").unwrap();
    let state = param(auth_url, "state").unwrap();
    let scope = format!("openid {GMAIL_SEND}");
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &state)
        .append_pair("code", CODE)
        .append_pair("scope", &scope)
        .append_pair("authuser", "0")
        .append_pair("prompt", "consent")
        .finish();
    format!("{redirect_uri}?{q}")
}

fn outcome(page: &Page) -> &str {
    let at = page.body.find("data-outcome=\"").map(|i| i + 14).unwrap_or(0);
    let rest = &page.body[at..];
    &rest[..rest.find('"').unwrap_or(0)]
}

fn hinted() -> AuthorizeOptions {
    AuthorizeOptions {
        login_hint: Some(EMAIL.into()),
        open_browser: None,
    }
}

#[test]
fn redirect_with_code_is_exchanged_once_decoded_and_the_page_names_the_email() {
    let p = FakeProvider::start();
    let client = p.client("");
    let log = capture_log(&client);
    let opened = open_with(&client, |url, seen| {
        let page = get(&redirect_for(&url));
        seen.lock().unwrap().push(page);
    });
    let doc = client.authorize(&hinted()).expect("authorize");
    let pages = opened.join();

    assert_eq!(doc.email.as_deref(), Some(EMAIL));
    assert_eq!(doc.refresh_token.as_ref().unwrap().expose(), REFRESH);
    assert_eq!(doc.access_token.as_ref().unwrap().expose(), ACCESS);
    assert!(doc.scope.contains(GMAIL_SEND));
    let expires = doc.expires_at.unwrap() - now_unix();
    assert!((3590..=3600).contains(&expires), "{expires}");

    // The authorization request carries everything providers.md §1.2 asks for.
    let url = opened.url();
    assert!(url.starts_with("http://127.0.0.1:9/o/oauth2/v2/auth?"));
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", "test-client"),
        ("code_challenge_method", "S256"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("login_hint", EMAIL),
    ] {
        assert_eq!(param(&url, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(param(&url, "scope").unwrap(), format!("openid email {GMAIL_SEND}"));
    assert_eq!(param(&url, "code_challenge").unwrap().len(), 43);
    assert!(param(&url, "state").unwrap().len() >= 16);
    let redirect_uri = param(&url, "redirect_uri").unwrap();
    assert!(redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with('/'));

    // The exchange: the code decoded exactly once, the same redirect_uri, the verifier, the secret.
    let forms = p.token_requests();
    assert_eq!(forms.len(), 1);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(forms[0].as_bytes()).into_owned().collect();
    let get_form = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get_form("grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(get_form("code").as_deref(), Some(CODE));
    assert_eq!(get_form("redirect_uri"), Some(redirect_uri.clone()));
    assert_eq!(get_form("client_secret").as_deref(), Some(CLIENT_SECRET));
    assert!(get_form("code_verifier").unwrap().len() >= 43);

    // The page: once, with the email, the right headers, and no code or token.
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(page.status, 200);
    assert_eq!(outcome(page), "connected");
    assert!(page.body.contains(EMAIL));
    assert_eq!(page.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(page.header("connection").as_deref(), Some("close"));
    let lines = log.lock().unwrap().clone();
    assert!(!lines.is_empty());
    assert_no_secret(
        &[lines, vec![page.body.clone(), page.head.clone()]].concat(),
        &[
            CODE,
            "4%2F0AfakeCODE",
            ACCESS,
            REFRESH,
            CLIENT_SECRET,
            &param(&url, "code_challenge").unwrap(),
            &get_form("code_verifier").unwrap(),
            &param(&url, "state").unwrap(),
        ],
    );
    assert!(port_is_free(port_of(&redirect_uri)));
}

#[test]
fn favicon_stray_paths_and_wrong_state_get_error_pages_while_the_flow_keeps_waiting() {
    let p = FakeProvider::start();
    let client = p.client("");
    let opened = open_with(&client, |url, seen| {
        let redirect = redirect_for(&url);
        let base = param(&url, "redirect_uri").unwrap();
        let mut pages = vec![
            get(&format!("{base}favicon.ico")),
            get(&format!("{base}some/other/path?code=x&state=y")),
            get(&base),
            get(&with_param(&redirect, "state", "not-our-state")),
        ];
        let no_state: String = redirect.replace("state=", "x=");
        pages.push(get(&no_state));
        pages.push(get(&redirect));
        seen.lock().unwrap().extend(pages);
    });
    let doc = client.authorize(&hinted()).expect("authorize after stray requests");
    assert_eq!(doc.email.as_deref(), Some(EMAIL));
    let pages = opened.join();
    let got: Vec<(u16, &str)> = pages.iter().map(|p| (p.status, outcome(p))).collect();
    assert_eq!(
        got,
        [
            (404, "not-found"),
            (404, "not-found"),
            (404, "not-found"),
            (400, "state-mismatch"),
            (400, "state-mismatch"),
            (200, "connected"),
        ]
    );
    for page in &pages {
        assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(page.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    }
    // Only the right redirect reached the token endpoint.
    assert_eq!(p.token_requests().len(), 1);
}

#[test]
fn clients_that_connect_and_never_send_do_not_block_the_real_redirect() {
    let p = FakeProvider::start();
    let client = p.client("");
    let opened = open_with(&client, |url, seen| {
        let redirect = redirect_for(&url);
        let port = port_of(&redirect);
        // Three idle pre-connections and one that stops in the middle of its request line.
        let mut idle: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let mut partial = TcpStream::connect(("127.0.0.1", port)).unwrap();
        partial.write_all(b"GET /?state=").unwrap();
        idle.push(partial);
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let page = get(&redirect);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        seen.lock().unwrap().push(page);
        drop(idle);
    });
    client.authorize(&hinted()).expect("authorize despite idle connections");
    let pages = opened.join();
    assert_eq!(outcome(&pages[0]), "connected");
}

#[test]
fn duplicate_redirects_get_one_success_page_and_then_already_finished() {
    let p = FakeProvider::start();
    let client = p.client("");
    let opened = open_with(&client, |url, seen| {
        let redirect = redirect_for(&url);
        // A prefetch and the navigation, at the same moment, on two connections.
        let a = {
            let r = redirect.clone();
            std::thread::spawn(move || get(&r))
        };
        let b = std::thread::spawn(move || get(&redirect));
        let pages = vec![a.join().unwrap(), b.join().unwrap()];
        seen.lock().unwrap().extend(pages);
    });
    client.authorize(&hinted()).expect("authorize");
    let pages = opened.join();
    let mut got: Vec<&str> = pages.iter().map(outcome).collect();
    got.sort();
    assert_eq!(got, ["already-finished", "connected"]);
    assert_eq!(p.token_requests().len(), 1, "the code is exchanged once");
}

#[test]
fn access_denied_redirect_returns_access_denied_with_the_denied_page() {
    let p = FakeProvider::start();
    let client = p.client(r#","ui_language":"ro""#);
    let opened = open_with(&client, |url, seen| {
        let base = param(&url, "redirect_uri").unwrap();
        let state = param(&url, "state").unwrap();
        seen.lock()
            .unwrap()
            .push(get(&format!("{base}?error=access_denied&state={state}")));
    });
    let e = client.authorize(&hinted()).unwrap_err();
    assert_eq!(e.status, Status::AccessDenied);
    assert_eq!(e.provider.clone().unwrap().error.as_deref(), Some("access_denied"));
    let pages = opened.join();
    assert_eq!(outcome(&pages[0]), "denied");
    assert!(pages[0].body.contains("lang=\"ro\""));
    assert!(p.token_requests().is_empty());
}

#[test]
fn other_provider_error_in_the_redirect_ends_the_flow_with_its_details() {
    let p = FakeProvider::start();
    let client = p.client("");
    let opened = open_with(&client, |url, seen| {
        let base = param(&url, "redirect_uri").unwrap();
        let state = param(&url, "state").unwrap();
        seen.lock().unwrap().push(get(&format!(
            "{base}?error=server_error&error_description=Try+later&state={state}"
        )));
    });
    let e = client.authorize(&hinted()).unwrap_err();
    assert_eq!(e.status, Status::Provider);
    let reply = e.provider.clone().unwrap();
    assert_eq!(reply.error.as_deref(), Some("server_error"));
    assert_eq!(reply.error_description.as_deref(), Some("Try later"));
    assert_eq!(outcome(&opened.join()[0]), "provider-error");
}

#[test]
fn timeout_returns_timeout_and_frees_the_port() {
    let p = FakeProvider::start();
    let client = p.client(r#","timeouts":{"authorize_s":1}"#);
    let opened = open_with(&client, |_, _| {});
    let started = Instant::now();
    let e = client.authorize(&hinted()).unwrap_err();
    assert_eq!(e.status, Status::Timeout);
    assert!(e.message.contains("authorize_s"), "{}", e.message);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    let port = port_of(&param(&opened.url(), "redirect_uri").unwrap());
    assert!(port_is_free(port), "the listener must be closed after a timeout");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn cancel_from_another_thread_returns_cancelled_promptly_and_frees_the_port() {
    let p = FakeProvider::start();
    let client = Arc::new(p.client(""));
    let opened = open_with(&client, |_, _| {});
    let c = client.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        let at = Instant::now();
        c.cancel();
        at
    });
    let e = client.authorize(&hinted()).unwrap_err();
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(e.status, Status::Cancelled);
    assert!(returned.duration_since(cancelled_at) < Duration::from_secs(1));
    let port = port_of(&param(&opened.url(), "redirect_uri").unwrap());
    assert!(port_is_free(port), "the listener must be closed after cancel");
    // A later call on the same client is not affected by the earlier cancel.
    let opened = open_with(&client, |url, seen| seen.lock().unwrap().push(get(&redirect_for(&url))));
    client.authorize(&hinted()).expect("authorize after cancel");
    assert_eq!(outcome(&opened.join()[0]), "connected");
}

#[test]
fn url_opener_that_declines_fails_at_once_with_cancelled_and_frees_the_port() {
    let p = FakeProvider::start();
    let client = p.client("");
    let seen_url: Arc<Mutex<Option<String>>> = Arc::default();
    let s = seen_url.clone();
    client.set_url_opener(Some(Arc::new(move |url: &str| {
        *s.lock().unwrap() = Some(url.to_string());
        false
    })));
    let started = Instant::now();
    let e = client.authorize(&hinted()).unwrap_err();
    assert_eq!(e.status, Status::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let url = seen_url.lock().unwrap().clone().unwrap();
    assert!(port_is_free(port_of(&param(&url, "redirect_uri").unwrap())));
}

#[test]
fn open_browser_false_without_url_opener_is_invalid_argument_naming_the_field() {
    let p = FakeProvider::start();
    let client = p.client("");
    let e = client
        .authorize(&AuthorizeOptions {
            login_hint: None,
            open_browser: Some(false),
        })
        .unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.field.as_deref(), Some("options.open_browser"));
}

#[test]
fn localhost_redirect_accepts_a_browser_that_connects_over_ipv6() {
    // Where ::1 exists the browser uses it (the IPv4 side is what every other test uses);
    // without IPv6 the listener serves localhost on 127.0.0.1 alone.
    let ipv6 = TcpListener::bind("[::1]:0").is_ok();
    let p = FakeProvider::start();
    let client = p.client(r#","redirect":{"host":"localhost"}"#);
    let opened = open_with(&client, move |url, seen| {
        let redirect = redirect_for(&url);
        assert!(redirect.starts_with("http://localhost:"), "{redirect}");
        let port = port_of(&redirect);
        let target = &redirect[redirect.find(&format!(":{port}")).unwrap() + 1 + port.to_string().len()..];
        let addr = if ipv6 {
            format!("[::1]:{port}").parse().unwrap()
        } else {
            format!("127.0.0.1:{port}").parse().unwrap()
        };
        seen.lock()
            .unwrap()
            .push(get_at(addr, &format!("localhost:{port}"), target));
    });
    let doc = client.authorize(&hinted()).expect("authorize over localhost");
    assert_eq!(doc.email.as_deref(), Some(EMAIL));
    assert_eq!(outcome(&opened.join()[0]), "connected");
}

#[test]
fn a_response_without_refresh_token_is_reauthorize_with_the_no_refresh_token_hint() {
    let p = FakeProvider::start();
    let mut reply: serde_json::Value = serde_json::from_str(&good_reply()).unwrap();
    reply.as_object_mut().unwrap().remove("refresh_token");
    p.set_reply(200, reply.to_string());
    let client = p.client("");
    let opened = open_with(&client, |url, seen| seen.lock().unwrap().push(get(&redirect_for(&url))));
    let e = client.authorize(&hinted()).unwrap_err();
    assert_eq!(e.status, Status::Reauthorize);
    assert_eq!(e.hint, oauthmail::hint::NO_REFRESH_TOKEN_ISSUED.text);
    let page = &opened.join()[0];
    assert_eq!(outcome(page), "exchange-failed");
    assert_no_secret(&[page.body.clone(), e.message.clone()], &[ACCESS, CODE]);
}

#[test]
fn unticked_gmail_permission_is_insufficient_scope_with_the_transport_hint() {
    for (transport, hint) in [
        ("gmail_api", &oauthmail::hint::INSUFFICIENT_SCOPE_API),
        ("smtp", &oauthmail::hint::INSUFFICIENT_SCOPE_SMTP),
    ] {
        let p = FakeProvider::start();
        let mut reply: serde_json::Value = serde_json::from_str(&good_reply()).unwrap();
        reply["scope"] = "openid https://www.googleapis.com/auth/userinfo.email".into();
        p.set_reply(200, reply.to_string());
        let client = p.client(&format!(r#","transport":"{transport}""#));
        let opened = open_with(&client, |url, seen| seen.lock().unwrap().push(get(&redirect_for(&url))));
        let e = client.authorize(&hinted()).unwrap_err();
        assert_eq!(e.status, Status::InsufficientScope, "{transport}");
        assert_eq!(e.hint, hint.text, "{transport}");
        assert_eq!(outcome(&opened.join()[0]), "exchange-failed");
    }
}

#[test]
fn email_comes_from_userinfo_when_there_is_no_id_token_and_expires_in_may_be_a_string() {
    let p = FakeProvider::start();
    let mut reply: serde_json::Value = serde_json::from_str(&good_reply()).unwrap();
    reply.as_object_mut().unwrap().remove("id_token");
    reply["expires_in"] = "1800".into();
    p.set_reply(200, reply.to_string());
    let client = p.client("");
    let opened = open_with(&client, |url, seen| seen.lock().unwrap().push(get(&redirect_for(&url))));
    let doc = client.authorize(&hinted()).expect("authorize");
    assert_eq!(doc.email.as_deref(), Some(EMAIL));
    let left = doc.expires_at.unwrap() - now_unix();
    assert!((1790..=1800).contains(&left), "{left}");
    assert!(opened.join()[0].body.contains(EMAIL));
    let userinfo_calls = p
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, _)| l.starts_with("GET /userinfo"))
        .count();
    assert_eq!(userinfo_calls, 1);
}

#[test]
fn token_endpoint_server_errors_are_retried_and_then_exchange_failed() {
    let p = FakeProvider::start();
    p.set_reply(503, r#"{"error":"temporarily_unavailable"}"#.into());
    let client = p.client("");
    let opened = open_with(&client, |url, seen| seen.lock().unwrap().push(get(&redirect_for(&url))));
    let e = client.authorize(&hinted()).unwrap_err();
    assert_eq!(e.status, Status::Provider);
    assert_eq!(e.provider.clone().unwrap().http_status, Some(503));
    assert_eq!(p.token_requests().len(), 3, "one try and two retries");
    assert_eq!(outcome(&opened.join()[0]), "exchange-failed");
}

#[test]
fn configured_redirect_port_and_path_are_used_and_other_paths_are_stray() {
    let p = FakeProvider::start();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = p.client(&format!(r#","redirect":{{"port":{port},"path":"/oauth2/callback"}}"#));
    let opened = open_with(&client, |url, seen| {
        let redirect = redirect_for(&url);
        let root = redirect.replace("/oauth2/callback?", "/?");
        seen.lock().unwrap().push(get(&root));
        seen.lock().unwrap().push(get(&redirect));
    });
    client
        .authorize(&hinted())
        .expect("authorize on the configured port and path");
    let pages = opened.join();
    assert_eq!(
        param(&opened.url(), "redirect_uri").unwrap(),
        format!("http://127.0.0.1:{port}/oauth2/callback")
    );
    assert_eq!(outcome(&pages[0]), "not-found");
    assert_eq!(outcome(&pages[1]), "connected");
    assert!(port_is_free(port));
}

#[test]
fn head_requests_get_headers_without_a_body() {
    let p = FakeProvider::start();
    let client = p.client("");
    let opened = open_with(&client, |url, seen| {
        let redirect = redirect_for(&url);
        let port = port_of(&redirect);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"HEAD /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let head = parse(&raw);
        seen.lock().unwrap().push(head);
        seen.lock().unwrap().push(get(&redirect));
    });
    client.authorize(&hinted()).expect("authorize");
    let pages = opened.join();
    assert_eq!(pages[0].status, 404);
    assert!(pages[0].body.is_empty());
    assert!(pages[0].header("content-length").unwrap().parse::<usize>().unwrap() > 0);
    assert_eq!(outcome(&pages[1]), "connected");
}

#[test]
fn long_non_ascii_stray_paths_are_answered_and_do_not_disturb_the_flow() {
    let p = FakeProvider::start();
    let client = p.client("");
    capture_log(&client);
    let opened = open_with(&client, |url, seen| {
        let redirect = redirect_for(&url);
        let port = port_of(&redirect);
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let path = format!("/{}", "ș".repeat(100));
        seen.lock().unwrap().push(get_at(addr, "x", &path));
        seen.lock().unwrap().push(get(&redirect));
    });
    client.authorize(&hinted()).expect("authorize");
    let pages = opened.join();
    assert_eq!(pages[0].status, 404);
    assert_eq!(outcome(&pages[1]), "connected");
}

/// API.md "Refresh": the input's refresh token is kept when the answer has none (Google), and a
/// rotated one (Microsoft) replaces it.
#[test]
fn refresh_keeps_the_refresh_token_unless_the_provider_rotates_it() {
    let p = FakeProvider::start();
    let client = p.client("");
    let doc: oauthmail::token::TokenDocument = serde_json::from_value(serde_json::json!({
        "provider": "google", "email": EMAIL, "scope": GMAIL_SEND, "token_type": "Bearer",
        "access_token": "old-access", "expires_at": 1, "refresh_token": "1//old-refresh"
    }))
    .unwrap();
    let mut reply: serde_json::Value = serde_json::from_str(&good_reply()).unwrap();
    reply.as_object_mut().unwrap().remove("refresh_token");
    p.set_reply(200, reply.to_string());
    let kept = client.refresh(&doc).expect("refresh");
    assert_eq!(kept.refresh_token.as_ref().unwrap().expose(), "1//old-refresh");
    assert_eq!(kept.access_token.as_ref().unwrap().expose(), ACCESS);

    reply["refresh_token"] = "1//rotated".into();
    p.set_reply(200, reply.to_string());
    let rotated = client.refresh(&doc).expect("refresh");
    assert_eq!(rotated.refresh_token.as_ref().unwrap().expose(), "1//rotated");
}
