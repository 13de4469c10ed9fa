//! The Gmail API send method and the control plane's HTTP faults, over real sockets
//! (providers.md §3).

mod common;

use common::*;
use serde_json::{json, Value};

const MSG: &[u8] = b"From: erp.test@gmail.com\r\nTo: a@example.com, \"B, C\" <b@example.com>\r\nCc: c@example.com\r\nBcc: d@example.com\r\nSubject: api\r\n\r\nhello\r\n";

fn token(s: &oauthmail_standin::Standin, scope: &str) -> String {
    mint(s, scope)["access_token"].as_str().unwrap().to_string()
}

fn api_error(r: &Resp) -> Value {
    r.json()["error"].clone()
}

/// `users.messages.send` with `uploadType=media`: the message as the whole request body.
fn upload_media_send(s: &oauthmail_standin::Standin, t: &str, content_type: &str, msg: &[u8]) -> Resp {
    let auth = format!("Bearer {t}");
    let url = format!(
        "{}/upload/gmail/v1/users/me/messages/send?uploadType=media",
        s.info().gmail_api
    );
    request(
        s,
        "POST",
        &url,
        &[("Authorization", &auth), ("Content-Type", content_type)],
        msg,
    )
}

#[test]
fn json_raw_send_returns_id_thread_labels_and_stores_the_bytes() {
    let s = start();
    let t = token(&s, SEND);
    let r = api_send_raw(&s, &t, MSG);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json; charset=UTF-8"));
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "threadId", "labelIds"]);
    assert_eq!(v["labelIds"], json!(["SENT"]));
    let id = v["id"].as_str().unwrap();
    assert_eq!(s.message_bytes(id).unwrap(), MSG);
    let m = &s.messages()[0];
    assert_eq!(m["transport"], "gmail_api");
    assert_eq!(m["account"], USER);
    assert_eq!(
        m["envelope"]["to"],
        json!(["a@example.com", "b@example.com", "c@example.com", "d@example.com"])
    );
    assert_eq!(m["gmail_api"]["upload_type"], "json");
    assert_eq!(m["gmail_api"]["id"], id);
}

#[test]
fn upload_media_send_stores_the_body_byte_exact() {
    let s = start();
    let t = token(&s, MAIL);
    let r = upload_media_send(&s, &t, "message/rfc822", MSG);
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(s.message_bytes(&id).unwrap(), MSG);
    assert_eq!(s.messages()[0]["gmail_api"]["upload_type"], "media");
    // Not a message/* type: Google's media-type error.
    let r = upload_media_send(&s, &t, "text/plain", MSG);
    assert_eq!(r.status, 400);
    assert_eq!(
        api_error(&r)["message"],
        "Media type 'text/plain' is not supported. Valid media types: [message/*]"
    );
}

#[test]
fn upload_multipart_send_takes_thread_id_from_metadata() {
    let s = start();
    let t = token(&s, SEND);
    let auth = format!("Bearer {t}");
    let mut body = b"--b0undary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"threadId\": \"18f0000000000001\"}\r\n--b0undary\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
    body.extend_from_slice(MSG);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let url = format!(
        "{}/upload/gmail/v1/users/me/messages/send?uploadType=multipart",
        s.info().gmail_api
    );
    let r = request(
        &s,
        "POST",
        &url,
        &[
            ("Authorization", &auth),
            ("Content-Type", "multipart/related; boundary=b0undary"),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["threadId"], "18f0000000000001");
    assert_eq!(s.message_bytes(v["id"].as_str().unwrap()).unwrap(), MSG);
}

#[test]
fn missing_authorization_is_401_login_required_credentials_missing() {
    let s = start();
    let r = request(
        &s,
        "POST",
        &api_send_url(&s),
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 401);
    let e = api_error(&r);
    assert_eq!(e["code"], 401);
    assert_eq!(e["status"], "UNAUTHENTICATED");
    assert_eq!(e["errors"][0]["reason"], "required");
    assert_eq!(e["errors"][0]["message"], "Login Required.");
    assert_eq!(e["details"][0]["reason"], "CREDENTIALS_MISSING");
}

#[test]
fn expired_token_is_401_invalid_credentials() {
    let s = start();
    let t = token(&s, SEND);
    s.advance_clock(3600);
    let r = api_send_raw(&s, &t, MSG);
    assert_eq!(r.status, 401);
    let e = api_error(&r);
    assert_eq!(e["errors"][0]["reason"], "authError");
    assert_eq!(e["errors"][0]["message"], "Invalid Credentials");
    assert_eq!(e["errors"][0]["location"], "Authorization");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("Request had invalid authentication credentials."));
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
}

#[test]
fn token_without_a_send_scope_is_403_insufficient_permissions() {
    let s = start();
    let t = token(&s, "https://www.googleapis.com/auth/gmail.readonly");
    let r = api_send_raw(&s, &t, MSG);
    assert_eq!(r.status, 403);
    let e = api_error(&r);
    assert_eq!(e["message"], "Request had insufficient authentication scopes.");
    assert_eq!(e["errors"][0]["reason"], "insufficientPermissions");
    assert_eq!(e["errors"][0]["message"], "Insufficient Permission");
    assert_eq!(e["status"], "PERMISSION_DENIED");
    let w = r.header("www-authenticate").unwrap();
    assert!(
        w.contains("error=\"insufficient_scope\"") && w.contains("https://www.googleapis.com/auth/gmail.send"),
        "{w}"
    );
}

#[test]
fn missing_raw_is_400_bad_request() {
    let s = start();
    let t = token(&s, SEND);
    let auth = format!("Bearer {t}");
    let r = request(
        &s,
        "POST",
        &api_send_url(&s),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 400);
    let e = api_error(&r);
    assert_eq!(
        e["message"],
        "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
    );
    assert_eq!(e["errors"][0]["reason"], "badRequest");
}

#[test]
fn json_payload_over_the_limit_is_400_and_upload_takes_it() {
    let s = start();
    let t = token(&s, SEND);
    let mut big = MSG.to_vec();
    big.extend(std::iter::repeat_n(b'x', 1_100_000));
    let r = api_send_raw(&s, &t, &big);
    assert_eq!(r.status, 400);
    assert_eq!(
        api_error(&r)["message"],
        "Request payload size exceeds the limit: 1048576 bytes."
    );
    let r = upload_media_send(&s, &t, "message/rfc822", &big);
    assert_eq!(r.status, 200);
}

#[test]
fn message_without_recipients_is_400_recipient_address_required() {
    let s = start();
    let t = token(&s, SEND);
    let r = api_send_raw(&s, &t, b"Subject: none\r\n\r\nx\r\n");
    assert_eq!(r.status, 400);
    let e = api_error(&r);
    assert_eq!(e["message"], "Recipient address required");
    assert_eq!(e["errors"][0]["reason"], "invalidArgument");
    assert_eq!(e["status"], "INVALID_ARGUMENT");
    let r = api_send_raw(&s, &t, b"To: not an address\r\n\r\nx\r\n");
    assert_eq!(api_error(&r)["message"], "Invalid To header");
}

#[test]
fn from_that_is_not_the_account_or_an_alias_is_rewritten_in_the_delivered_copy() {
    let s = start();
    let t = token(&s, SEND);
    let msg = b"From: Office <office@firma.ro>\r\nTo: a@example.com\r\n\r\nx\r\n";
    let r = api_send_raw(&s, &t, msg);
    assert_eq!(r.status, 200, "the rewrite is silent");
    let m = &s.messages()[0];
    assert_eq!(
        s.message_bytes(m["id"].as_str().unwrap()).unwrap(),
        msg,
        "the .eml keeps the bytes received"
    );
    assert_eq!(m["from_rewritten"]["original"], "Office <office@firma.ro>");
    assert_eq!(m["from_rewritten"]["delivered"], USER);
    let delivered = std::fs::read(
        std::path::Path::new(&s.info().mailbox_dir).join(m["from_rewritten"]["delivered_eml"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(delivered, b"From: erp.test@gmail.com\r\nTo: a@example.com\r\n\r\nx\r\n");
    // Once office@firma.ro is a send-as alias, nothing is rewritten.
    control(&s, "POST", "/users", json!({"aliases": {USER: ["office@firma.ro"]}}));
    api_send_raw(&s, &t, msg);
    assert_eq!(s.messages()[1]["from_rewritten"], Value::Null);
}

#[test]
fn sending_to_oneself_adds_inbox_and_unread() {
    let s = start();
    let t = token(&s, SEND);
    let r = api_send_raw(
        &s,
        &t,
        b"From: erp.test@gmail.com\r\nTo: erp.test@gmail.com\r\n\r\nx\r\n",
    );
    assert_eq!(r.json()["labelIds"], json!(["UNREAD", "SENT", "INBOX"]));
}

#[test]
fn disabled_gmail_api_is_403_access_not_configured() {
    let s = start();
    let t = token(&s, SEND);
    s.set_settings(&json!({"gmail_api_enabled": false})).unwrap();
    let r = api_send_raw(&s, &t, MSG);
    assert_eq!(r.status, 403);
    assert_eq!(api_error(&r)["errors"][0]["reason"], "accessNotConfigured");
}

#[test]
fn get_profile_needs_a_read_scope() {
    let s = start();
    let url = format!("{}/gmail/v1/users/me/profile", s.info().gmail_api);
    let auth = format!("Bearer {}", token(&s, MAIL));
    let r = request(&s, "GET", &url, &[("Authorization", &auth)], b"");
    assert_eq!(r.json()["emailAddress"], USER);
    let auth = format!("Bearer {}", token(&s, SEND));
    assert_eq!(request(&s, "GET", &url, &[("Authorization", &auth)], b"").status, 403);
}

#[test]
fn fault_status_503_on_token_endpoint_then_normal_service() {
    let s = start();
    let rt = mint(&s, MAIL)["refresh_token"].as_str().unwrap().to_string();
    control(
        &s,
        "POST",
        "/faults",
        json!({"endpoint": "token", "kind": "status", "status": 503}),
    );
    let r = refresh(&s, &rt);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert_eq!(refresh(&s, &rt).status, 200);
    assert_eq!(s.counters()["token"]["refresh_token"], 2);
}

#[test]
fn fault_rate_limit_on_gmail_send_is_429_with_retry_after() {
    let s = start();
    let t = token(&s, SEND);
    control(
        &s,
        "POST",
        "/faults",
        json!({"endpoint": "gmail_send", "kind": "rate_limit", "retry_after_s": 17, "count": 2}),
    );
    for _ in 0..2 {
        let r = api_send_raw(&s, &t, MSG);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("17"));
        assert_eq!(api_error(&r)["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(api_error(&r)["errors"][0]["reason"], "rateLimitExceeded");
    }
    assert_eq!(api_send_raw(&s, &t, MSG).status, 200);
}

#[test]
fn fault_500_on_gmail_send_is_backend_error() {
    let s = start();
    let t = token(&s, SEND);
    s.add_fault(&json!({"endpoint": "gmail_send", "kind": "status", "status": 500}))
        .unwrap();
    let r = api_send_raw(&s, &t, MSG);
    assert_eq!(r.status, 500);
    assert_eq!(api_error(&r)["errors"][0]["reason"], "backendError");
    assert!(s.messages().is_empty());
}

#[test]
fn fault_drop_cuts_the_response_mid_body() {
    use std::io::{Read, Write};
    let s = start();
    let rt = mint(&s, MAIL)["refresh_token"].as_str().unwrap().to_string();
    s.add_fault(&json!({"endpoint": "token", "kind": "drop"})).unwrap();
    let body = form(&[
        ("client_id", &s.info().client_id),
        ("client_secret", &s.info().client_secret),
        ("refresh_token", &rt),
        ("grant_type", "refresh_token"),
    ]);
    let mut c = Conn::connect(&s, port_of(&s.info().token_endpoint), true);
    c.write_all(&request_bytes(
        "POST",
        &s.info().token_endpoint,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    ))
    .unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got); // ends with EOF or a TLS error: both mean "dropped"
    let text = String::from_utf8_lossy(&got);
    let (head, body) = text.split_once("\r\n\r\n").expect("the head was sent");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        body.len() < len,
        "only part of the body arrives ({} of {len})",
        body.len()
    );
}

#[test]
fn fault_hang_accepts_and_never_answers() {
    use std::io::{Read, Write};
    let s = start();
    s.add_fault(&json!({"endpoint": "userinfo", "kind": "hang"})).unwrap();
    let mut c = Conn::connect(&s, port_of(&s.info().userinfo_endpoint), true);
    c.tcp()
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    c.write_all(&request_bytes("GET", &s.info().userinfo_endpoint, &[], b""))
        .unwrap();
    let mut b = [0u8; 16];
    let e = c.read(&mut b).unwrap_err();
    assert!(
        matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        "{e}"
    );
}

#[test]
fn fault_delay_answers_after_the_delay() {
    let s = start();
    s.add_fault(&json!({"endpoint": "any_http", "kind": "delay", "delay_ms": 300}))
        .unwrap();
    let t0 = std::time::Instant::now();
    let r = get(&s, &format!("{}?access_token=x", s.info().userinfo_endpoint));
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(r.status, 401);
}

#[test]
fn control_plane_validates_and_resets() {
    let s = start();
    let url = format!("{}/settings", s.info().control);
    let r = request(&s, "POST", &url, &[], br#"{"no_such_setting": 1}"#);
    assert_eq!(r.status, 400);
    let r = request(
        &s,
        "POST",
        &format!("{}/faults", s.info().control),
        &[],
        br#"{"endpoint": "smtp", "kind": "reply"}"#,
    );
    assert_eq!(r.status, 400, "an SMTP fault needs a stage");
    let t = token(&s, SEND);
    api_send_raw(&s, &t, MSG);
    let v = control(&s, "GET", "/mailbox", Value::Null);
    let id = v["messages"][0]["id"].as_str().unwrap().to_string();
    let one = control(&s, "GET", &format!("/mailbox/{id}"), Value::Null);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(one["raw_base64"].as_str().unwrap())
            .unwrap(),
        MSG
    );
    let eml = get(&s, &format!("{}/mailbox/{id}/eml", s.info().control));
    assert_eq!(eml.body, MSG);
    let clock = control(&s, "POST", "/clock", json!({"advance_s": 100}));
    assert_eq!(clock["offset_s"], 100);
    let grants = control(&s, "GET", "/grants", Value::Null);
    assert_eq!(grants[0]["email"], USER);
    assert_eq!(grants[0]["refresh_tokens_live"], 1);
    control(&s, "POST", "/reset", Value::Null);
    assert!(s.messages().is_empty());
    assert_eq!(control(&s, "GET", "/clock", Value::Null)["offset_s"], 0);
    assert_eq!(api_send_raw(&s, &t, MSG).status, 401, "tokens are forgotten");
    assert_eq!(
        control(&s, "GET", "/info", Value::Null)["token_endpoint"],
        s.info().token_endpoint.as_str()
    );
}

#[test]
fn minted_token_document_matches_the_token_endpoint_shape() {
    let s = start();
    let v = control(
        &s,
        "POST",
        "/tokens",
        json!({"email": USER, "scope": ["openid", "email", MAIL]}),
    );
    assert!(v["refresh_token"].as_str().unwrap().starts_with("1//"));
    assert_eq!(v["email"], USER);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_at"].as_i64().unwrap() > 0);
    assert!(v["id_token"].is_string());
    assert_eq!(refresh(&s, v["refresh_token"].as_str().unwrap()).status, 200);
}

#[test]
fn fault_status_401_on_gmail_send_is_the_invalid_credentials_body() {
    let s = start();
    let t = token(&s, SEND);
    s.add_fault(&json!({"endpoint": "gmail_send", "kind": "status", "status": 401}))
        .unwrap();
    let r = api_send_raw(&s, &t, MSG);
    assert_eq!(r.status, 401);
    assert_eq!(api_error(&r)["errors"][0]["reason"], "authError");
    assert_eq!(
        api_send_raw(&s, &t, MSG).status,
        200,
        "an intermittent 401: the retry works"
    );
}

#[test]
fn resumable_upload_session_then_put_delivers_byte_exact() {
    let s = start();
    let t = token(&s, SEND);
    let auth = format!("Bearer {t}");
    let url = format!(
        "{}/upload/gmail/v1/users/me/messages/send?uploadType=resumable",
        s.info().gmail_api
    );
    let len = MSG.len().to_string();
    let r = request(
        &s,
        "POST",
        &url,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json; charset=UTF-8"),
            ("X-Upload-Content-Type", "message/rfc822"),
            ("X-Upload-Content-Length", &len),
        ],
        br#"{"threadId": "18f00000000000aa"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let session = r.header("location").unwrap().to_string();
    assert!(session.contains("upload_id="));
    // Two chunks: the first gets 308 with the received range.
    let (a, b) = MSG.split_at(20);
    let range_a = format!("bytes 0-19/{}", MSG.len());
    let r = request(&s, "PUT", &session, &[("Content-Range", &range_a)], a);
    assert_eq!(r.status, 308);
    assert_eq!(r.header("range"), Some("bytes=0-19"));
    let range_b = format!("bytes 20-{}/{}", MSG.len() - 1, MSG.len());
    let r = request(&s, "PUT", &session, &[("Content-Range", &range_b)], b);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["threadId"], "18f00000000000aa");
    assert_eq!(s.message_bytes(v["id"].as_str().unwrap()).unwrap(), MSG);
    assert_eq!(s.messages()[0]["gmail_api"]["upload_type"], "resumable");
    // The session is gone afterwards.
    assert_eq!(request(&s, "PUT", &session, &[], MSG).status, 404);
}
