//! Microsoft Graph mail (README "Microsoft Graph"): `sendMail` (MIME and JSON), drafts,
//! attachments, upload sessions with their range rules, `send`, throttling, and Graph's error
//! bodies `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::{json, Value};

use super::identity::short;
use super::*;
use crate::http::{Action, Request, Response};
use crate::mailbox::{self, Delivery};
use crate::mime;
use crate::state::URLSAFE;

const HOST: &str = "MN2PR05MB6446.namprd05.prod.outlook.com";

fn ids(req: &Request) -> (String, String) {
    let rid = guid();
    let cid = req
        .header("client-request-id")
        .map(String::from)
        .unwrap_or_else(|| rid.clone());
    (rid, cid)
}

fn with_graph_headers(r: Response, req: &Request) -> Response {
    let (rid, cid) = ids(req);
    r.with_header("Cache-Control", "private")
        .with_header("Strict-Transport-Security", "max-age=31536000")
        .with_header("request-id", &rid)
        .with_header("client-request-id", &cid)
        .with_header(
            "x-ms-ags-diagnostic",
            "{\"ServerInfo\":{\"DataCenter\":\"West Europe\",\"Slice\":\"E\",\"Ring\":\"5\",\"ScaleUnit\":\"003\",\"RoleInstance\":\"AM1PEPF0000STAND\"}}",
        )
}

pub fn graph_json(status: u16, v: &Value, req: &Request) -> Response {
    with_graph_headers(
        Response::new(
            status,
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            v.to_string(),
        ),
        req,
    )
}

/// Graph's error body.
pub fn graph_error(now: i64, status: u16, code: &str, message: &str, req: &Request) -> Response {
    let (rid, cid) = ids(req);
    let v = json!({"error": {"code": code, "message": message,
        "innerError": {"date": iso_seconds(now), "request-id": rid, "client-request-id": cid}}});
    Response::new(status, "application/json", v.to_string())
        .with_header("Cache-Control", "private")
        .with_header("Strict-Transport-Security", "max-age=31536000")
        .with_header("request-id", &rid)
        .with_header("client-request-id", &cid)
}

fn accepted(req: &Request) -> Response {
    with_graph_headers(Response::new(202, "text/plain", ""), req)
}

fn throttled(now: i64, f: &MsFault, req: &Request) -> Response {
    let status = f.status.unwrap_or(429);
    let after = f.retry_after_s.unwrap_or(5).to_string();
    let r = if status == 429 {
        graph_error(
            now,
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            req,
        )
    } else {
        graph_error(
            now,
            503,
            "ServiceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
            req,
        )
    };
    r.with_header("Retry-After", &after)
}

/// A JSON field by name, case-insensitively (Graph accepts `AttachmentItem` and `attachmentItem`).
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn field_str<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    field(v, name).and_then(Value::as_str)
}

struct Caller {
    user: String,
    mailbox: String,
    scopes: Vec<String>,
}

enum Fail {
    Resp(Box<Response>),
}

type R<T> = Result<T, Fail>;

fn fail(r: Response) -> Fail {
    Fail::Resp(Box::new(r))
}

/// The bearer token's account, the addressed mailbox (`me` or `users/{upn}`), the scopes.
fn caller(shared: &Shared, req: &Request, now: i64, user_seg: &str) -> R<Caller> {
    let st = shared.lock();
    let Some(token) = req.bearer().filter(|t| !t.is_empty()) else {
        return Err(fail(unauthorized(now, "Access token is empty.", req)));
    };
    let Some(at) = st.ms.access.get(&token).cloned() else {
        return Err(fail(unauthorized(now, "Access token validation failure.", req)));
    };
    if at.resource != GRAPH_RESOURCE {
        return Err(fail(unauthorized(
            now,
            "Access token validation failure. Invalid audience.",
            req,
        )));
    }
    if st.ms.live_access(&token, now).is_none() {
        return Err(fail(unauthorized(
            now,
            "Lifetime validation failed, the token is expired.",
            req,
        )));
    }
    let mailbox = if user_seg == "me" {
        at.user.clone()
    } else {
        let Some(m) = find_mailbox(user_seg) else {
            return Err(fail(graph_error(
                now,
                404,
                "ErrorInvalidUser",
                &format!("The requested user '{user_seg}' is invalid."),
                req,
            )));
        };
        if !MsState::may_act_for(&at.user, m) {
            return Err(fail(access_denied(now, req)));
        }
        m.to_string()
    };
    Ok(Caller {
        user: at.user,
        mailbox,
        scopes: at.scopes,
    })
}

fn unauthorized(now: i64, msg: &str, req: &Request) -> Response {
    graph_error(now, 401, "InvalidAuthenticationToken", msg, req).with_header(
        "WWW-Authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    )
}

fn access_denied(now: i64, req: &Request) -> Response {
    graph_error(
        now,
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
        req,
    )
}

fn need_scope(c: &Caller, any_of: &[&str], now: i64, req: &Request) -> R<()> {
    if c.scopes.iter().any(|s| any_of.contains(&short(s))) {
        Ok(())
    } else {
        Err(fail(access_denied(now, req)))
    }
}

pub fn handle(shared: &Shared, req: &Request, rest: &[&str]) -> Response {
    let now = {
        let mut st = shared.lock();
        st.ms.counters.graph_requests += 1;
        st.now()
    };
    let fault = shared.lock().ms.take_fault("graph");
    if let Some(f) = &fault {
        shared.log(&format!("microsoft: graph fault {}", f.kind));
        if f.kind == "throttle" {
            return throttled(now, f, req);
        }
        if !f.processed {
            return dropped();
        }
    }
    let mut r = match route(shared, req, rest, now) {
        Ok(r) => r,
        Err(Fail::Resp(r)) => *r,
    };
    if fault.is_some() {
        r.action = Action::Drop;
    }
    r
}

fn route(shared: &Shared, req: &Request, rest: &[&str], now: i64) -> R<Response> {
    let (user_seg, tail): (&str, &[&str]) = match rest {
        ["me", t @ ..] => ("me", t),
        ["users", u, t @ ..] => (u, t),
        _ => return Ok(not_found(now, rest, req)),
    };
    if req.body.len() > shared.lock().ms.settings.graph_request_limit_bytes {
        return Ok(graph_error(
            now,
            413,
            "RequestEntityTooLarge",
            "The maximum request length supported is 4MB.",
            req,
        ));
    }
    let m = req.method.as_str();
    match (m, tail) {
        ("POST", ["sendMail"]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.Send", "Mail.Send.Shared"], now, req)?;
            send_mail(shared, req, &c, now)
        }
        ("POST", ["messages"]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.ReadWrite", "Mail.ReadWrite.Shared"], now, req)?;
            create_draft(shared, req, &c, now)
        }
        ("POST", ["messages", id, "attachments"]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.ReadWrite", "Mail.ReadWrite.Shared"], now, req)?;
            add_attachment(shared, req, &c, id, now)
        }
        ("POST", ["messages", id, "attachments", "createUploadSession"]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.ReadWrite", "Mail.ReadWrite.Shared"], now, req)?;
            create_upload_session(shared, req, &c, id, now)
        }
        ("PATCH", ["messages", id]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.ReadWrite", "Mail.ReadWrite.Shared"], now, req)?;
            update_draft(shared, req, &c, id, now)
        }
        ("DELETE", ["messages", id]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.ReadWrite", "Mail.ReadWrite.Shared"], now, req)?;
            delete_draft(shared, req, &c, id, now)
        }
        ("POST", ["messages", id, "send"]) => {
            let c = caller(shared, req, now, user_seg)?;
            need_scope(&c, &["Mail.Send", "Mail.Send.Shared"], now, req)?;
            send_draft(shared, req, &c, id, now)
        }
        ("GET", []) => {
            let c = caller(shared, req, now, user_seg)?;
            Ok(graph_json(
                200,
                &json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                    "displayName": c.mailbox.split('@').next().unwrap_or(""), "mail": c.mailbox,
                    "userPrincipalName": c.mailbox, "id": oid_for(&c.mailbox)}),
                req,
            ))
        }
        _ => Ok(not_found(now, rest, req)),
    }
}

fn not_found(now: i64, rest: &[&str], req: &Request) -> Response {
    let seg = rest.last().copied().unwrap_or("");
    graph_error(
        now,
        400,
        "BadRequest",
        &format!("Resource not found for the segment '{seg}'."),
        req,
    )
}

fn is_mime(req: &Request) -> bool {
    req.header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/plain"))
}

fn parse_json(req: &Request, now: i64) -> R<Value> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(graph_error(
            now,
            400,
            "BadRequest",
            "Empty Payload. JSON content expected.",
            req,
        )));
    }
    serde_json::from_slice(&req.body).map_err(|_| {
        fail(graph_error(
            now,
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            req,
        ))
    })
}

fn decode_mime(req: &Request, now: i64) -> R<Vec<u8>> {
    let text: Vec<u8> = req.body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, cfg)
        .decode(&text)
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| {
            fail(graph_error(
                now,
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
                req,
            ))
        })
}

struct Recipients {
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
}

impl Recipients {
    fn all(&self) -> Vec<String> {
        self.to.iter().chain(&self.cc).chain(&self.bcc).cloned().collect()
    }
    fn json(&self) -> Value {
        json!({"to": self.to, "cc": self.cc, "bcc": self.bcc})
    }
}

fn invalid_recipients(now: i64, detail: &str, req: &Request) -> Fail {
    fail(graph_error(
        now,
        400,
        "ErrorInvalidRecipients",
        &format!("At least one recipient isn't valid., {detail}"),
        req,
    ))
}

fn mime_recipients(bytes: &[u8], now: i64, req: &Request) -> R<Recipients> {
    let h = mime::headers(bytes);
    let list = |name: &str| -> R<Vec<String>> {
        let mut out = Vec::new();
        for v in mime::header(&h, name) {
            let a = mime::addresses(v).map_err(|_| invalid_recipients(now, &format!("Recipient '{v}' is not resolved. All recipients must be resolved before a message can be submitted."), req))?;
            out.extend(a);
        }
        Ok(out)
    };
    let r = Recipients {
        to: list("to")?,
        cc: list("cc")?,
        bcc: list("bcc")?,
    };
    if r.all().is_empty() {
        return Err(invalid_recipients(
            now,
            "A message can't be sent because it contains no recipients.",
            req,
        ));
    }
    Ok(r)
}

fn json_addresses(msg: &Value, name: &str, now: i64, req: &Request) -> R<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let Some(list) = field(msg, name) else { return Ok(out) };
    for r in list.as_array().into_iter().flatten() {
        let e = field(r, "emailAddress");
        let a = e.and_then(|e| field_str(e, "address")).unwrap_or("");
        if !mime::valid_address(a) {
            return Err(invalid_recipients(now, &format!("Recipient '{a}' is not resolved. All recipients must be resolved before a message can be submitted."), req));
        }
        out.push((a.to_string(), e.and_then(|e| field_str(e, "name")).map(String::from)));
    }
    Ok(out)
}

fn json_recipients(msg: &Value, now: i64, req: &Request) -> R<Recipients> {
    let addr = |v: Vec<(String, Option<String>)>| v.into_iter().map(|(a, _)| a).collect::<Vec<_>>();
    let r = Recipients {
        to: addr(json_addresses(msg, "toRecipients", now, req)?),
        cc: addr(json_addresses(msg, "ccRecipients", now, req)?),
        bcc: addr(json_addresses(msg, "bccRecipients", now, req)?),
    };
    if r.all().is_empty() {
        return Err(invalid_recipients(
            now,
            "A message can't be sent because it contains no recipients.",
            req,
        ));
    }
    Ok(r)
}

fn send_as_denied(now: i64, req: &Request) -> Fail {
    fail(graph_error(now, 403, "ErrorSendAsDenied", "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message.", req))
}

fn encode_word(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        s.to_string()
    } else {
        format!("=?utf-8?B?{}?=", STANDARD.encode(s))
    }
}

fn format_addr(a: &str, name: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) if n.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            format!("\"{}\" <{a}>", n.replace('\\', "\\\\").replace('"', "\\\""))
        }
        Some(n) => format!("{} <{a}>", encode_word(n)),
        None => a.to_string(),
    }
}

fn b64_lines(b: &[u8]) -> String {
    let e = STANDARD.encode(b);
    let mut out = String::with_capacity(e.len() + e.len() / 38);
    for chunk in e.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push_str("\r\n");
    }
    out
}

/// The message Exchange would store for a JSON message: headers from the fields (Bcc never
/// written), the body, attachments as base64 parts.
fn build_eml(mailbox: &str, msg: &Value, atts: &[Attachment], now: i64, req: &Request) -> R<(Vec<u8>, String)> {
    let mut h = String::new();
    let from = json_addresses(
        &json!({"f": field(msg, "from").cloned().map(|f| vec![f]).unwrap_or_default()}),
        "f",
        now,
        req,
    )?;
    let (fa, fname) = from.into_iter().next().unwrap_or((mailbox.to_string(), None));
    h.push_str(&format!("From: {}\r\n", format_addr(&fa, fname.as_deref())));
    for (hdr, name) in [("To", "toRecipients"), ("Cc", "ccRecipients"), ("Reply-To", "replyTo")] {
        let list = json_addresses(msg, name, now, req)?;
        if !list.is_empty() {
            let v: Vec<String> = list.iter().map(|(a, n)| format_addr(a, n.as_deref())).collect();
            h.push_str(&format!("{hdr}: {}\r\n", v.join(", ")));
        }
    }
    h.push_str(&format!(
        "Subject: {}\r\n",
        encode_word(field_str(msg, "subject").unwrap_or(""))
    ));
    h.push_str(&format!(
        "Date: {}\r\n",
        crate::http::http_date(now).replace(" GMT", " +0000")
    ));
    let message_id = field_str(msg, "internetMessageId")
        .map(String::from)
        .unwrap_or_else(|| {
            format!(
                "<{}@{HOST}>",
                random_string(24, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            )
        });
    h.push_str(&format!("Message-ID: {message_id}\r\n"));
    for x in field(msg, "internetMessageHeaders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = field_str(x, "name").unwrap_or("");
        if !n.to_ascii_lowercase().starts_with("x-") {
            return Err(fail(graph_error(
                now,
                400,
                "InvalidInternetMessageHeader",
                &format!("The internet message header name '{n}' should start with 'x-' or 'X-'."),
                req,
            )));
        }
        h.push_str(&format!("{n}: {}\r\n", field_str(x, "value").unwrap_or("")));
    }
    h.push_str("MIME-Version: 1.0\r\n");
    let body = field(msg, "body");
    let html = body
        .and_then(|b| field_str(b, "contentType"))
        .is_some_and(|t| t.eq_ignore_ascii_case("html"));
    let content = body.and_then(|b| field_str(b, "content")).unwrap_or("");
    let text_part = format!(
        "Content-Type: text/{}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        if html { "html" } else { "plain" },
        b64_lines(content.as_bytes())
    );
    let mut out = h.into_bytes();
    if atts.is_empty() {
        out.extend_from_slice(text_part.as_bytes());
        return Ok((out, message_id));
    }
    let boundary = format!("_000_{}_", random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
    out.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes());
    out.extend_from_slice(format!("--{boundary}\r\n{text_part}").as_bytes());
    for a in atts {
        let disp = if a.is_inline { "inline" } else { "attachment" };
        let mut part = format!(
            "--{boundary}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Description: {1}\r\nContent-Disposition: {disp}; filename=\"{1}\"; size={}\r\n",
            a.content_type,
            encode_word(&a.name),
            a.bytes.len()
        );
        if let Some(cid) = &a.content_id {
            part.push_str(&format!("Content-ID: <{cid}>\r\n"));
        }
        part.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        out.extend_from_slice(part.as_bytes());
        out.extend_from_slice(b64_lines(&a.bytes).as_bytes());
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((out, message_id))
}

fn sha256_hex(b: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

struct Outgoing {
    form: &'static str,
    bytes: Vec<u8>,
    message_id: Option<String>,
    rcpts: Recipients,
    save_to_sent_items: bool,
    attachments: Vec<Value>,
}

fn deliver(shared: &Shared, c: &Caller, sender: &str, o: Outgoing, now: i64, req: &Request) -> R<Response> {
    if o.bytes.len() > shared.lock().ms.settings.max_message_bytes {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorMessageSizeExceeded",
            "The message exceeds the maximum supported size., Cannot save changes made to an item to store.",
            req,
        )));
    }
    let bcc_header = !mime::header(&mime::headers(&o.bytes), "bcc").is_empty();
    let extra = json!({"graph": {
        "form": o.form, "token_user": c.user, "save_to_sent_items": o.save_to_sent_items,
        "message_id": o.message_id, "recipients": o.rcpts.json(), "bcc_header_present": bcc_header,
        "attachments": o.attachments,
    }});
    let d = Delivery {
        transport: "graph",
        account: sender.to_string(),
        envelope_from: sender.to_string(),
        envelope_to: o.rcpts.all(),
        bytes: o.bytes,
        thread_id: None,
        upload_type: None,
        smtp: None,
    };
    match mailbox::deliver_with(shared, d, Some(("microsoft", extra))) {
        Ok(_) => {
            shared.lock().ms.counters.graph_messages += 1;
            Ok(accepted(req))
        }
        Err(e) => {
            shared.log(&format!("mailbox write failed: {e}"));
            Err(fail(graph_error(
                now,
                500,
                "InternalServerError",
                "An internal server error occurred. The operation failed.",
                req,
            )))
        }
    }
}

/// The sending mailbox: the `From` when the caller may act for it, else SendAsDenied.
fn sender(c: &Caller, from: Option<&str>, now: i64, req: &Request) -> R<String> {
    match from {
        None => Ok(c.mailbox.clone()),
        Some(f) if f.eq_ignore_ascii_case(&c.mailbox) => Ok(c.mailbox.clone()),
        Some(f) => match find_mailbox(f) {
            Some(m) if MsState::may_act_for(&c.user, m) => Ok(m.to_string()),
            _ => Err(send_as_denied(now, req)),
        },
    }
}

fn mime_from(bytes: &[u8]) -> Option<String> {
    let h = mime::headers(bytes);
    mime::header(&h, "from")
        .first()
        .and_then(|v| mime::addresses(v).ok())
        .and_then(|v| v.into_iter().next())
}

fn send_mail(shared: &Shared, req: &Request, c: &Caller, now: i64) -> R<Response> {
    if is_mime(req) {
        let bytes = decode_mime(req, now)?;
        let rcpts = mime_recipients(&bytes, now, req)?;
        let from = sender(c, mime_from(&bytes).as_deref(), now, req)?;
        let mid = mime::header(&mime::headers(&bytes), "message-id")
            .first()
            .map(|s| s.to_string());
        let o = Outgoing {
            form: "mime",
            bytes,
            message_id: mid,
            rcpts,
            save_to_sent_items: true,
            attachments: vec![],
        };
        return deliver(shared, c, &from, o, now, req);
    }
    let v = parse_json(req, now)?;
    let Some(msg) = field(&v, "message") else {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidParameter",
            "The value of the parameter 'Message' is empty.",
            req,
        )));
    };
    let rcpts = json_recipients(msg, now, req)?;
    let from_addr = field(msg, "from")
        .and_then(|f| field(f, "emailAddress"))
        .and_then(|e| field_str(e, "address"));
    let from = sender(c, from_addr, now, req)?;
    let atts = inline_attachments(msg, now, req)?;
    let (bytes, mid) = build_eml(&from, msg, &atts, now, req)?;
    let o = Outgoing {
        form: "json",
        bytes,
        message_id: Some(mid),
        rcpts,
        save_to_sent_items: field(&v, "saveToSentItems").and_then(Value::as_bool).unwrap_or(true),
        attachments: atts.iter().map(att_json).collect(),
    };
    deliver(shared, c, &from, o, now, req)
}

fn att_json(a: &Attachment) -> Value {
    json!({"name": a.name, "content_type": a.content_type, "size": a.bytes.len(), "is_inline": a.is_inline,
        "via": a.via, "sha256": sha256_hex(&a.bytes)})
}

fn file_attachment(a: &Value, via: &'static str, now: i64, req: &Request) -> R<Attachment> {
    let t = field_str(a, "@odata.type").unwrap_or("");
    if !t.eq_ignore_ascii_case("#microsoft.graph.fileAttachment") {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidAttachmentType",
            "The attachment type is not supported; use #microsoft.graph.fileAttachment.",
            req,
        )));
    }
    let bytes = field_str(a, "contentBytes")
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| {
            fail(graph_error(
                now,
                400,
                "ErrorInvalidProperty",
                "The property 'ContentBytes' is required and must be valid base64.",
                req,
            ))
        })?;
    Ok(Attachment {
        id: format!("AAMkAD{}=", random_string(40, URLSAFE)),
        name: field_str(a, "name").unwrap_or("attachment").to_string(),
        content_type: field_str(a, "contentType")
            .unwrap_or("application/octet-stream")
            .to_string(),
        bytes,
        is_inline: field(a, "isInline").and_then(Value::as_bool).unwrap_or(false),
        content_id: field_str(a, "contentId").map(String::from),
        via,
    })
}

fn inline_attachments(msg: &Value, now: i64, req: &Request) -> R<Vec<Attachment>> {
    field(msg, "attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| file_attachment(a, "message_json", now, req))
        .collect()
}

fn message_resource(d: &Draft) -> Value {
    let mut m = d.message.clone();
    if !m.is_object() {
        m = json!({});
    }
    m["@odata.context"] = json!(format!(
        "https://graph.microsoft.com/v1.0/$metadata#users('{}')/messages/$entity",
        oid_for(&d.mailbox)
    ));
    m["@odata.etag"] = json!(format!("W/\"CQAAABYAAAD{}\"", random_string(16, URLSAFE)));
    m["id"] = json!(d.id);
    m["createdDateTime"] = json!(iso_seconds(d.created) + "Z");
    m["lastModifiedDateTime"] = json!(iso_seconds(d.created) + "Z");
    m["isDraft"] = json!(true);
    m["hasAttachments"] = json!(!d.attachments.is_empty());
    m["parentFolderId"] = json!("AQMkADrafts");
    if m.get("attachments").is_some() {
        m.as_object_mut().map(|o| o.remove("attachments"));
    }
    m
}

fn create_draft(shared: &Shared, req: &Request, c: &Caller, now: i64) -> R<Response> {
    let (message, mime_bytes, atts) = if is_mime(req) {
        let b = decode_mime(req, now)?;
        let subject = mime::header(&mime::headers(&b), "subject")
            .first()
            .map(|s| s.to_string());
        (json!({"subject": subject}), Some(b), vec![])
    } else {
        let v = parse_json(req, now)?;
        let atts = inline_attachments(&v, now, req)?;
        (v, None, atts)
    };
    let d = Draft {
        id: format!("AAMkAD{}=", random_string(60, URLSAFE)),
        mailbox: c.mailbox.clone(),
        message,
        mime: mime_bytes,
        attachments: atts,
        created: now,
    };
    let body = message_resource(&d);
    shared.lock().ms.drafts.insert(d.id.clone(), d);
    Ok(graph_json(201, &body, req))
}

fn draft_for(shared: &Shared, c: &Caller, id: &str, now: i64, req: &Request) -> R<Draft> {
    let st = shared.lock();
    match st.ms.drafts.get(id) {
        Some(d) if d.mailbox.eq_ignore_ascii_case(&c.mailbox) => Ok(d.clone()),
        _ => Err(fail(graph_error(
            now,
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
            req,
        ))),
    }
}

fn add_attachment(shared: &Shared, req: &Request, c: &Caller, id: &str, now: i64) -> R<Response> {
    let d = draft_for(shared, c, id, now, req)?;
    if d.mime.is_some() {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidRequest",
            "The stand-in does not add attachments to a draft created from MIME.",
            req,
        )));
    }
    let v = parse_json(req, now)?;
    let a = file_attachment(&v, "attachment_post", now, req)?;
    if a.bytes.len() > shared.lock().ms.settings.inline_attachment_max_bytes {
        return Err(fail(graph_error(
            now,
            413,
            "RequestEntityTooLarge",
            "The maximum request length supported is 4MB.",
            req,
        )));
    }
    let out = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{}')/messages('{}')/attachments/$entity", oid_for(&d.mailbox), d.id),
        "@odata.type": "#microsoft.graph.fileAttachment", "id": a.id, "lastModifiedDateTime": iso_seconds(now) + "Z",
        "name": a.name, "contentType": a.content_type, "size": a.bytes.len(), "isInline": a.is_inline, "contentId": a.content_id
    });
    if let Some(d) = shared.lock().ms.drafts.get_mut(id) {
        d.attachments.push(a);
    }
    Ok(graph_json(201, &out, req))
}

fn session_url(shared: &Shared, mailbox: &str, draft: &str, sid: &str) -> String {
    let base = shared.info.get().map(|i| i.microsoft.graph.clone()).unwrap_or_default();
    format!(
        "{base}/api/v2.0/Users('{}@{}')/Messages('{draft}')/AttachmentSessions('{sid}')",
        oid_for(mailbox),
        tenant_of(mailbox)
    )
}

fn create_upload_session(shared: &Shared, req: &Request, c: &Caller, id: &str, now: i64) -> R<Response> {
    let d = draft_for(shared, c, id, now, req)?;
    if d.mime.is_some() {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidRequest",
            "The stand-in does not add attachments to a draft created from MIME.",
            req,
        )));
    }
    let v = parse_json(req, now)?;
    let Some(item) = field(&v, "AttachmentItem") else {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidParameter",
            "The value of the parameter 'AttachmentItem' is empty.",
            req,
        )));
    };
    if !field_str(item, "attachmentType").is_some_and(|t| t.eq_ignore_ascii_case("file")) {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidParameter",
            "The attachmentType must be 'file'.",
            req,
        )));
    }
    let size = field(item, "size").and_then(Value::as_u64).unwrap_or(0) as usize;
    let (min, max) = {
        let s = &shared.lock().ms.settings;
        (s.upload_session_min_bytes, 150 * 1024 * 1024)
    };
    if size < min {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
            req,
        )));
    }
    if size > max {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorAttachmentSizeExceedsLimit",
            "The attachment size exceeds the maximum of 150 MB.",
            req,
        )));
    }
    let sid = format!("AAMkAD{}=", random_string(40, URLSAFE));
    let authtoken = format!("eyJ0eXAiOiJKV1Qi{}", random_string(200, URLSAFE));
    let expires = now + 6 * 3600;
    let up = MsUpload {
        authtoken: authtoken.clone(),
        mailbox: d.mailbox.clone(),
        draft_id: d.id.clone(),
        name: field_str(item, "name").unwrap_or("attachment").to_string(),
        content_type: field_str(item, "contentType")
            .unwrap_or("application/octet-stream")
            .to_string(),
        is_inline: field(item, "isInline").and_then(Value::as_bool).unwrap_or(false),
        content_id: field_str(item, "contentId").map(String::from),
        size,
        bytes: Vec::with_capacity(size),
        expires_at: expires,
    };
    let url = format!("{}?authtoken={authtoken}", session_url(shared, &d.mailbox, &d.id, &sid));
    shared.lock().ms.uploads.insert(sid, up);
    Ok(graph_json(
        201,
        &json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": url, "expirationDateTime": iso_graph(expires), "nextExpectedRanges": ["0-"]}),
        req,
    ))
}

/// `PATCH /messages/{id}`: the given properties replace the draft's (a draft made from MIME takes
/// only `bccRecipients`).
fn update_draft(shared: &Shared, req: &Request, c: &Caller, id: &str, now: i64) -> R<Response> {
    let d = draft_for(shared, c, id, now, req)?;
    let v = parse_json(req, now)?;
    let Some(patch) = v.as_object() else {
        return Err(fail(graph_error(
            now,
            400,
            "BadRequest",
            "Empty Payload. JSON content expected.",
            req,
        )));
    };
    if d.mime.is_some() && patch.keys().any(|k| !k.eq_ignore_ascii_case("bccRecipients")) {
        return Err(fail(graph_error(
            now,
            400,
            "ErrorInvalidRequest",
            "The stand-in updates only bccRecipients of a draft created from MIME.",
            req,
        )));
    }
    for name in ["toRecipients", "ccRecipients", "bccRecipients", "replyTo"] {
        json_addresses(&v, name, now, req)?;
    }
    let mut st = shared.lock();
    let Some(d) = st.ms.drafts.get_mut(id) else {
        return Err(fail(graph_error(
            now,
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
            req,
        )));
    };
    if !d.message.is_object() {
        d.message = json!({});
    }
    for (k, val) in patch {
        d.message[k.as_str()] = val.clone();
    }
    let body = message_resource(d);
    Ok(graph_json(200, &body, req))
}

/// `DELETE /messages/{id}`: the draft and its open upload sessions are gone -> `204`.
fn delete_draft(shared: &Shared, req: &Request, c: &Caller, id: &str, now: i64) -> R<Response> {
    draft_for(shared, c, id, now, req)?;
    let mut st = shared.lock();
    st.ms.drafts.remove(id);
    st.ms.uploads.retain(|_, u| u.draft_id != id);
    st.ms.counters.graph_drafts_deleted += 1;
    drop(st);
    Ok(with_graph_headers(Response::new(204, "text/plain", ""), req))
}

fn send_draft(shared: &Shared, req: &Request, c: &Caller, id: &str, now: i64) -> R<Response> {
    let d = draft_for(shared, c, id, now, req)?;
    let o = if let Some(bytes) = &d.mime {
        // Bcc recipients set by PATCH join the MIME's To/Cc/Bcc.
        let extra: Vec<String> = json_addresses(&d.message, "bccRecipients", now, req)?
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        let mut rcpts = match mime_recipients(bytes, now, req) {
            Ok(r) => r,
            Err(_) if !extra.is_empty() => Recipients {
                to: vec![],
                cc: vec![],
                bcc: vec![],
            },
            Err(e) => return Err(e),
        };
        rcpts.bcc.extend(extra);
        sender(c, mime_from(bytes).as_deref(), now, req)?;
        let mid = mime::header(&mime::headers(bytes), "message-id")
            .first()
            .map(|s| s.to_string());
        Outgoing {
            form: "draft_mime",
            bytes: bytes.clone(),
            message_id: mid,
            rcpts,
            save_to_sent_items: true,
            attachments: vec![],
        }
    } else {
        let rcpts = json_recipients(&d.message, now, req)?;
        let from_addr = field(&d.message, "from")
            .and_then(|f| field(f, "emailAddress"))
            .and_then(|e| field_str(e, "address"));
        let from = sender(c, from_addr, now, req)?;
        let (bytes, mid) = build_eml(&from, &d.message, &d.attachments, now, req)?;
        Outgoing {
            form: "draft",
            bytes,
            message_id: Some(mid),
            rcpts,
            save_to_sent_items: true,
            attachments: d.attachments.iter().map(att_json).collect(),
        }
    };
    let from = mime_from(&o.bytes)
        .and_then(|f| find_mailbox(&f).map(String::from))
        .unwrap_or_else(|| d.mailbox.clone());
    let r = deliver(shared, c, &from, o, now, req)?;
    shared.lock().ms.drafts.remove(id);
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Upload sessions (the pre-authenticated uploadUrl; no Authorization header)

fn outlook_error(status: u16, code: &str, message: &str) -> Response {
    Response::new(
        status,
        "application/json",
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
    .with_header("request-id", &guid())
}

fn session_state(shared: &Shared, up: &MsUpload, sid: &str) -> Value {
    let url = session_url(shared, &up.mailbox, &up.draft_id, sid);
    let ctx = url.replacen("/Users(", "/$metadata#Users(", 1);
    let ctx = ctx
        .rsplit_once("/AttachmentSessions(")
        .map(|(a, _)| a)
        .unwrap_or(&ctx)
        .to_string();
    json!({"@odata.context": format!("{ctx}/AttachmentSessions/$entity"),
        "ExpirationDateTime": iso_graph(up.expires_at), "nextExpectedRanges": [up.bytes.len().to_string()]})
}

/// `bytes A-B/TOTAL`.
fn content_range(v: &str) -> Option<(usize, usize, usize)> {
    let r = v.trim().strip_prefix("bytes ")?;
    let (range, total) = r.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

pub fn upload(shared: &Shared, req: &Request, path: &str) -> Response {
    let sid = path
        .split("/AttachmentSessions('")
        .nth(1)
        .and_then(|r| r.split("')").next())
        .unwrap_or("")
        .to_string();
    let (now, up) = {
        let st = shared.lock();
        (st.now(), st.ms.uploads.get(&sid).cloned())
    };
    let Some(up) = up.filter(|u| req.query_param("authtoken").as_deref() == Some(u.authtoken.as_str())) else {
        return outlook_error(
            404,
            "ErrorItemNotFound",
            "The upload session was not found or its authtoken is invalid.",
        );
    };
    if up.expires_at <= now {
        shared.lock().ms.uploads.remove(&sid);
        return outlook_error(404, "ErrorItemNotFound", "The upload session has expired.");
    }
    if req.header("authorization").is_some() {
        return outlook_error(
            401,
            "InvalidAuthenticationToken",
            "Do not send an Authorization header to the pre-authenticated uploadUrl.",
        );
    }
    match req.method.as_str() {
        "GET" => return Response::json(200, &session_state(shared, &up, &sid)),
        "DELETE" => {
            shared.lock().ms.uploads.remove(&sid);
            return Response::new(204, "text/plain", "");
        }
        "PUT" => {}
        _ => {
            return outlook_error(
                405,
                "ErrorInvalidRequest",
                "The method is not allowed on an upload session.",
            )
        }
    }
    shared.lock().ms.counters.upload_chunks += 1;
    let fault = shared.lock().ms.take_fault("upload");
    if fault.as_ref().is_some_and(|f| f.kind == "throttle") {
        let f = fault.unwrap_or_else(|| unreachable!());
        let r = if f.status.unwrap_or(429) == 429 {
            outlook_error(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
        } else {
            outlook_error(
                503,
                "ServiceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            )
        };
        return r.with_header("Retry-After", &f.retry_after_s.unwrap_or(5).to_string());
    }
    let drop_kind = fault.as_ref().map(|f| f.processed);
    if drop_kind == Some(false) {
        shared.log("microsoft: upload chunk dropped unprocessed (fault)");
        return dropped();
    }
    let Some((a, b, total)) = req.header("content-range").and_then(content_range) else {
        return outlook_error(
            400,
            "ErrorInvalidContentRange",
            "The Content-Range header is missing or malformed; expected 'bytes {start}-{end}/{total}'.",
        );
    };
    if total != up.size {
        return outlook_error(
            400,
            "ErrorInvalidContentRange",
            "The total in Content-Range does not match the size of the upload session.",
        );
    }
    if b < a || b >= total || b - a + 1 != req.body.len() {
        return outlook_error(
            400,
            "ErrorInvalidContentRange",
            "The Content-Range does not match the number of bytes in the request body.",
        );
    }
    if a != up.bytes.len() {
        return outlook_error(
            416,
            "ErrorInvalidRange",
            &format!("The range does not start at the next expected byte {}.", up.bytes.len()),
        );
    }
    let last = b + 1 == total;
    let multiple = shared.lock().ms.settings.upload_chunk_multiple;
    if !last && !req.body.len().is_multiple_of(multiple) {
        return outlook_error(
            400,
            "ErrorInvalidFragmentSize",
            &format!("Each range except the last must be a multiple of {multiple} bytes (320 KiB)."),
        );
    }
    let mut st = shared.lock();
    let Some(u) = st.ms.uploads.get_mut(&sid) else {
        return outlook_error(404, "ErrorItemNotFound", "The upload session was not found.");
    };
    u.bytes.extend_from_slice(&req.body);
    let mut resp = if last {
        let u = st.ms.uploads.remove(&sid).unwrap_or_else(|| unreachable!());
        let att = Attachment {
            id: format!("AAMkAD{}=", random_string(40, URLSAFE)),
            name: u.name.clone(),
            content_type: u.content_type.clone(),
            bytes: u.bytes,
            is_inline: u.is_inline,
            content_id: u.content_id.clone(),
            via: "upload_session",
        };
        let loc = session_url(shared, &u.mailbox, &u.draft_id, &sid);
        let loc = format!(
            "{}/Attachments('{}')",
            loc.rsplit_once("/AttachmentSessions(").map(|x| x.0).unwrap_or(&loc),
            att.id
        );
        match st.ms.drafts.get_mut(&u.draft_id) {
            Some(d) => d.attachments.push(att),
            None => {
                return outlook_error(
                    404,
                    "ErrorItemNotFound",
                    "The message of this upload session no longer exists.",
                )
            }
        }
        Response::new(201, "text/plain", "").with_header("Location", &loc)
    } else {
        let u = u.clone();
        drop(st);
        Response::json(200, &session_state(shared, &u, &sid))
    };
    if drop_kind == Some(true) {
        shared.log("microsoft: upload chunk stored, answer dropped (fault)");
        resp.action = Action::Drop;
    }
    resp
}
