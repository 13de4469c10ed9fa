//! Messages over Graph's 4 MB request limit: a draft in Graph's JSON form, its attachments (small
//! ones in the draft or one `POST .../attachments` each, large ones through an upload session),
//! then `POST /me/messages/{id}/send`. Sources: tests/standin/README.md "What the stand-in
//! assumes (Microsoft)".
//!
//! - The draft is built from the message document (Graph's JSON message has no MIME body): Bcc
//!   goes in `bccRecipients`, never in a header; the library's Message-ID is `internetMessageId`;
//!   custom `X-` headers are `internetMessageHeaders` (Graph takes no other header in this form,
//!   so any other custom header is refused before anything is sent). With both a text and an HTML
//!   body, the HTML body is sent (Graph's message has one body). A raw message cannot be taken
//!   apart into Graph's fields and is refused (Graph's MIME form takes at most 4 MB).
//! - An attachment of [`UPLOAD_SESSION_MIN`] bytes or more goes through `createUploadSession`:
//!   `PUT`s of [`CHUNK`] bytes (a multiple of 320 KiB) with `Content-Range` and no
//!   `Authorization` header (the URL is pre-authenticated), read from the file one chunk at a
//!   time. A chunk that fails (lost answer, 5xx, 429/503, 416) is resumed from the session's
//!   `nextExpectedRanges` (a `GET` on the upload URL), at most [`RESUMES`] times per attachment.
//! - Nothing is delivered before the last request (`send`). A failure or a cancel before it
//!   deletes the draft (best effort), so no half-made message stays in Drafts.
//! - `send` saves the message in Sent Items, as `sendMail` does by default (`saveToSentItems`).
//! - Progress: one report before each request, counted in the attachments' bytes plus the draft's
//!   JSON; a stop from the callback (or `oauthmail_cancel`) between two requests cancels the send.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use lettre::message::Mailbox;
use serde_json::{json, Map, Value};
use url::Url;

use super::{answer, map_error, maybe_delivered, url};
use crate::cancel::{Call, POLL};
use crate::context::Ctx;
use crate::error::{Error, Result, Status};
use crate::hint;
use crate::http::Response;
use crate::message::{guess_mime, AttachmentDocument, MessageDocument, PreparedMessage};
use crate::progress::Reporter;
use crate::time::{now_unix, retry_after_s};
use crate::transport::{Failure, Sent};

/// Attachments this big or bigger need an upload session; smaller ones may not use one (Graph:
/// "between 3 MB and 150 MB").
pub const UPLOAD_SESSION_MIN: u64 = 3 * 1024 * 1024;
/// Graph's upload-session maximum.
pub const UPLOAD_SESSION_MAX: u64 = 150 * 1024 * 1024;
/// One `PUT`: ten times 320 KiB (ranges must be multiples of 320 KiB, each at most 4 MB).
pub const CHUNK: usize = 10 * 320 * 1024;
const _: () = assert!(CHUNK % (320 * 1024) == 0 && CHUNK <= 4 * 1024 * 1024);
/// Resumes per attachment after a failed chunk.
pub const RESUMES: u32 = 4;
/// The longest a throttled chunk waits for its `Retry-After` before the next try.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// Room for the JSON around an attachment's base64 in a request.
const JSON_ROOM: usize = 1024;

/// Where an attachment's bytes are: its file (read a chunk at a time) or decoded base64.
enum Content<'a> {
    File(&'a str),
    Bytes(Vec<u8>),
}

struct Attachment<'a> {
    field: String,
    name: String,
    content_type: String,
    content_id: Option<String>,
    content: Content<'a>,
    size: u64,
}

impl Attachment<'_> {
    /// The whole content (small attachments only).
    fn bytes(&self) -> Result<Vec<u8>> {
        match &self.content {
            Content::Bytes(b) => Ok(b.clone()),
            Content::File(path) => {
                let mut out = Vec::with_capacity(self.size as usize);
                open(path, &self.field)?
                    .read_to_end(&mut out)
                    .map_err(|e| io_error(path, &self.field, e))?;
                self.check_len(out.len() as u64)?;
                Ok(out)
            }
        }
    }

    fn check_len(&self, n: u64) -> Result<()> {
        if n != self.size {
            return Err(Error::new(
                Status::Io,
                format!(
                    "the attachment changed while it was being sent ({} bytes when the message was built, {n} now); nothing was sent",
                    self.size
                ),
            )
            .with_field(self.field.clone()));
        }
        Ok(())
    }

    /// Graph's `fileAttachment` with the content inline.
    fn file_attachment(&self) -> Result<Value> {
        let bytes = self.bytes()?;
        let mut v = json!({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": self.name,
            "contentType": self.content_type,
            "contentBytes": base64::engine::general_purpose::STANDARD.encode(bytes),
        });
        if let Some(cid) = &self.content_id {
            v["isInline"] = json!(true);
            v["contentId"] = json!(cid);
        }
        Ok(v)
    }

    fn encoded_len(&self) -> usize {
        (self.size as usize).div_ceil(3) * 4 + self.name.len() + JSON_ROOM
    }
}

fn open(path: &str, field: &str) -> Result<File> {
    File::open(path).map_err(|e| io_error(path, field, e))
}

fn io_error(path: &str, field: &str, e: std::io::Error) -> Error {
    Error::new(Status::Io, format!("cannot read '{path}': {e}; nothing was sent")).with_field(field)
}

/// Graph's `recipient`: `{"emailAddress": {"address", "name"?}}`. The text was checked by
/// [`crate::message::prepare`].
fn recipient(text: &str) -> Value {
    match Mailbox::from_str(text.trim()) {
        Ok(m) => match m.name.filter(|n| !n.is_empty()) {
            Some(name) => json!({"emailAddress": {"address": m.email.to_string(), "name": name}}),
            None => json!({"emailAddress": {"address": m.email.to_string()}}),
        },
        Err(_) => json!({"emailAddress": {"address": text.trim()}}),
    }
}

/// The draft's JSON (without attachments) and the attachments, from the message document.
fn draft<'a>(doc: &'a MessageDocument, message: &PreparedMessage) -> Result<(Map<String, Value>, Vec<Attachment<'a>>)> {
    if doc.raw_path.is_some() || doc.raw_base64.is_some() {
        return Err(Error::new(
            Status::Rejected,
            format!(
                "the raw message is {} bytes: Graph takes a MIME message in one request of at most 4 MB, and a raw message cannot be split into Graph's fields and upload sessions; nothing was sent (send it as a structured message, or through the smtp transport)",
                message.smtp_len()
            ),
        )
        .with_field(if doc.raw_path.is_some() {
            "message.raw_path"
        } else {
            "message.raw_base64"
        })
        .with_hint(&hint::MESSAGE_TOO_LARGE));
    }
    let mut m = Map::new();
    m.insert("subject".into(), json!(doc.subject.clone().unwrap_or_default()));
    let body = match (&doc.html, &doc.text) {
        (Some(html), _) => json!({"contentType": "HTML", "content": html}),
        (None, Some(text)) => json!({"contentType": "Text", "content": text}),
        (None, None) => json!({"contentType": "Text", "content": ""}),
    };
    m.insert("body".into(), body);
    if let Some(from) = &doc.from {
        m.insert("from".into(), recipient(from));
    }
    for (key, list) in [
        ("toRecipients", &doc.to),
        ("ccRecipients", &doc.cc),
        ("bccRecipients", &doc.bcc),
    ] {
        if !list.is_empty() {
            m.insert(key.into(), Value::Array(list.iter().map(|a| recipient(a)).collect()));
        }
    }
    if let Some(r) = &doc.reply_to {
        m.insert("replyTo".into(), json!([recipient(r)]));
    }
    m.insert("internetMessageId".into(), json!(message.message_id));
    let mut headers = Vec::new();
    for (name, value) in &doc.headers {
        let lower = name.to_ascii_lowercase();
        if lower == "message-id" {
            continue;
        }
        if !lower.starts_with("x-") {
            return Err(Error::invalid(
                format!("message.headers.{name}"),
                format!("a message over 4 MB goes through Graph's JSON form, which carries only X- headers, not {name}; nothing was sent (use the smtp transport for it)"),
            ));
        }
        headers.push(json!({"name": name, "value": value.as_str().unwrap_or_default()}));
    }
    if !headers.is_empty() {
        m.insert("internetMessageHeaders".into(), Value::Array(headers));
    }
    let attachments = doc
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| attachment(i, a))
        .collect::<Result<Vec<_>>>()?;
    Ok((m, attachments))
}

fn attachment(i: usize, a: &AttachmentDocument) -> Result<Attachment<'_>> {
    let content_id = a.content_id.as_deref().map(|c| {
        let c = c.trim();
        c.strip_prefix('<')
            .and_then(|c| c.strip_suffix('>'))
            .unwrap_or(c)
            .to_string()
    });
    let (field, content, size, default_name) = match (&a.path, &a.content_base64) {
        (Some(path), _) => {
            let field = format!("message.attachments[{i}].path");
            let size = std::fs::metadata(path).map_err(|e| io_error(path, &field, e))?.len();
            let name = std::path::Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            (field, Content::File(path.as_str()), size, name)
        }
        (None, Some(b64)) => {
            let field = format!("message.attachments[{i}].content_base64");
            let bytes = crate::message::decode_base64(b64, &field)?;
            let size = bytes.len() as u64;
            (field, Content::Bytes(bytes), size, None)
        }
        (None, None) => return Err(Error::internal("an attachment without content passed prepare")),
    };
    let name = a
        .filename
        .clone()
        .or(default_name)
        .or_else(|| content_id.clone())
        .unwrap_or_else(|| "attachment".into());
    let content_type = a.content_type.clone().unwrap_or_else(|| guess_mime(&name).to_string());
    if size > UPLOAD_SESSION_MAX {
        return Err(Error::new(
            Status::Rejected,
            format!("the attachment is {size} bytes; Graph attaches at most 150 MB per file; nothing was sent"),
        )
        .with_field(field)
        .with_hint(&hint::MESSAGE_TOO_LARGE));
    }
    Ok(Attachment {
        field,
        name,
        content_type,
        content_id,
        content,
        size,
    })
}

/// The draft's calls share the token and the draft's URL.
struct Draft<'c> {
    ctx: Ctx<'c>,
    base: &'c Url,
    auth: &'c str,
    escaped: String,
}

impl Draft<'_> {
    fn post_json(&self, path: &str, body: &[u8]) -> Result<Response> {
        self.ctx.http.request(
            self.ctx.call,
            "POST",
            &url(self.base, &format!("me/messages/{}{path}", self.escaped))?,
            &[("Authorization", self.auth), ("Content-Type", "application/json")],
            Some(body),
        )
    }

    /// Best effort, and even when the call was cancelled: nothing half-made stays in Drafts.
    fn delete(&self) {
        let detached = Call::detached();
        let result = url(self.base, &format!("me/messages/{}", self.escaped)).and_then(|u| {
            self.ctx
                .http
                .request(&detached, "DELETE", &u, &[("Authorization", self.auth)], None)
        });
        match result {
            Ok(r) if (200..300).contains(&r.status) || r.status == 404 => {
                self.ctx.log.debug(|| "graph: the unsent draft was deleted".into());
            }
            Ok(r) => self.ctx.log.warn(|| {
                format!(
                    "graph: the unsent draft could not be deleted (HTTP {}); it stays in Drafts",
                    r.status
                )
            }),
            Err(e) => self.ctx.log.warn(|| {
                format!(
                    "graph: the unsent draft could not be deleted ({}); it stays in Drafts",
                    e.message
                )
            }),
        }
    }
}

fn stopped_by_progress() -> Error {
    Error::new(
        Status::Cancelled,
        "the progress callback cancelled the send before Graph was asked to send the draft; nothing was delivered",
    )
}

/// Draft, attachments, send.
pub(super) fn send(
    ctx: Ctx<'_>,
    base: &Url,
    auth: &str,
    message: &PreparedMessage,
    doc: &MessageDocument,
) -> std::result::Result<Sent, Failure> {
    let (mut json_draft, attachments) = draft(doc, message)?;
    // Small attachments ride in the draft while it stays under the request limit.
    let mut room = super::REQUEST_LIMIT.saturating_sub(Value::Object(json_draft.clone()).to_string().len() + JSON_ROOM);
    let mut in_draft = Vec::new();
    let mut posted = Vec::new();
    let mut sessions = Vec::new();
    for a in &attachments {
        if a.size >= UPLOAD_SESSION_MIN {
            sessions.push(a);
        } else if a.encoded_len() <= room {
            room -= a.encoded_len();
            in_draft.push(a);
        } else {
            posted.push(a);
        }
    }
    let inline = in_draft
        .iter()
        .map(|a| a.file_attachment())
        .collect::<Result<Vec<_>>>()?;
    if !inline.is_empty() {
        json_draft.insert("attachments".into(), Value::Array(inline));
    }
    let body = Value::Object(json_draft).to_string().into_bytes();
    let later: u64 = posted.iter().chain(&sessions).map(|a| a.size).sum();
    let total = body.len() as u64 + later;
    let mut reporter = Reporter::new(ctx.progress, total);
    let call = ctx.call;
    call.check()?;
    if !reporter.before(0, false) {
        return Err(stopped_by_progress().into());
    }
    let r = ctx.http.request(
        call,
        "POST",
        &url(base, "me/messages")?,
        &[("Authorization", auth), ("Content-Type", "application/json")],
        Some(&body),
    )?;
    let created = answer(r, 201)?;
    let id = created
        .json()
        .and_then(|j| j.get("id").and_then(Value::as_str).map(String::from))
        .ok_or_else(|| Error::new(Status::Provider, "Graph created the draft without an id"))?;
    let d = Draft {
        ctx,
        base,
        auth,
        escaped: url::form_urlencoded::byte_serialize(id.as_bytes()).collect(),
    };
    ctx.log.debug(|| {
        format!(
            "graph: draft created ({} bytes, {} attachment(s) in it, {} posted, {} through upload sessions)",
            body.len(),
            in_draft.len(),
            posted.len(),
            sessions.len()
        )
    });
    let mut done = body.len() as u64;
    drop(body);
    let result = attach(&d, &posted, &sessions, &mut reporter, &mut done).and_then(|()| {
        call.check()?;
        if !reporter.before(total, true) {
            return Err(stopped_by_progress().into());
        }
        Ok(())
    });
    if let Err(e) = result {
        d.delete();
        return Err(e);
    }
    let r = d.post_json("/send", b"").map_err(|e| {
        // Graph may have the request: the draft is left for the user to see (or it is sent).
        Failure::Other(maybe_delivered(e))
    })?;
    match answer(r, 202) {
        Ok(_) => {
            reporter.finished();
            Ok(Sent { provider_id: None })
        }
        Err(e) => {
            d.delete();
            Err(e)
        }
    }
}

fn attach(
    d: &Draft<'_>,
    posted: &[&Attachment<'_>],
    sessions: &[&Attachment<'_>],
    reporter: &mut Reporter<'_>,
    done: &mut u64,
) -> std::result::Result<(), Failure> {
    let call = d.ctx.call;
    for a in posted {
        call.check()?;
        if !reporter.before(*done, false) {
            return Err(stopped_by_progress().into());
        }
        let body = a.file_attachment()?.to_string();
        answer(d.post_json("/attachments", body.as_bytes())?, 201)?;
        *done += a.size;
    }
    for a in sessions {
        call.check()?;
        let mut item = json!({"attachmentType": "file", "name": a.name, "size": a.size, "contentType": a.content_type});
        if let Some(cid) = &a.content_id {
            item["isInline"] = json!(true);
            item["contentId"] = json!(cid);
        }
        let body = json!({ "AttachmentItem": item }).to_string();
        let session = answer(d.post_json("/attachments/createUploadSession", body.as_bytes())?, 201)?;
        let upload_url = session
            .json()
            .and_then(|j| j.get("uploadUrl").and_then(Value::as_str).map(String::from))
            .and_then(|u| Url::parse(&u).ok())
            .ok_or_else(|| {
                Error::new(
                    Status::Provider,
                    "Graph created the upload session without an uploadUrl",
                )
            })?;
        upload(d.ctx, &upload_url, a, reporter, *done)?;
        *done += a.size;
    }
    Ok(())
}

/// Where the session expects the next byte: `nextExpectedRanges[0]`, `"N"` or `"N-M"`.
fn next_expected(response: &Response) -> Option<u64> {
    let json = response.json()?;
    let first = json
        .get("nextExpectedRanges")?
        .as_array()?
        .first()?
        .as_str()?
        .to_string();
    first.split('-').next()?.trim().parse().ok()
}

/// The PUTs of one upload session, resumed after a failed chunk.
fn upload(
    ctx: Ctx<'_>,
    upload_url: &Url,
    a: &Attachment<'_>,
    reporter: &mut Reporter<'_>,
    done_before: u64,
) -> std::result::Result<(), Failure> {
    let call = ctx.call;
    let mut file = match &a.content {
        Content::File(path) => Some(open(path, &a.field)?),
        Content::Bytes(_) => None,
    };
    let mut buf = vec![0u8; CHUNK.min(a.size as usize)];
    let mut offset = 0u64;
    let mut resumes = 0u32;
    let content_type = [("Content-Type", "application/octet-stream")];
    while offset < a.size {
        call.check()?;
        if !reporter.before(done_before + offset, false) {
            return Err(stopped_by_progress().into());
        }
        let n = (CHUNK as u64).min(a.size - offset) as usize;
        let chunk: &[u8] = match (&mut file, &a.content) {
            (Some(f), _) => {
                let path = match &a.content {
                    Content::File(p) => *p,
                    Content::Bytes(_) => "",
                };
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.read_exact(&mut buf[..n]))
                    .map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            a.check_len(offset).unwrap_err()
                        } else {
                            io_error(path, &a.field, e)
                        }
                    })?;
                &buf[..n]
            }
            (None, Content::Bytes(b)) => &b[offset as usize..offset as usize + n],
            (None, Content::File(_)) => return Err(Error::internal("the attachment file is not open").into()),
        };
        let range = format!("bytes {}-{}/{}", offset, offset + n as u64 - 1, a.size);
        let headers = [content_type[0], ("Content-Range", range.as_str())];
        // No Authorization header: the upload URL carries its own token (Graph refuses both).
        let failed = match ctx.http.request_once(call, "PUT", upload_url, &headers, Some(chunk)) {
            Ok(r) if r.status == 201 || (r.status == 200 && offset + n as u64 == a.size) => {
                offset = a.size;
                continue;
            }
            Ok(r) if r.status == 200 => {
                let next = offset + n as u64;
                offset = next_expected(&r).filter(|&e| e <= a.size).unwrap_or(next);
                continue;
            }
            Ok(r) if matches!(r.status, 416 | 429 | 500..=599) => {
                let wait = retry_after_s(r.header("Retry-After"), "", now_unix());
                let error = map_error(&r);
                (error, wait)
            }
            Ok(r) => return Err(Failure::Other(map_error(&r))),
            Err(f) => {
                call.check()?;
                (f.error, None)
            }
        };
        let (error, wait) = failed;
        resumes += 1;
        if resumes > RESUMES {
            return Err(Failure::Other(Error::new(
                error.status,
                format!(
                    "uploading the attachment '{}' failed {resumes} times, last: {}; nothing was sent",
                    a.name, error.message
                ),
            )));
        }
        ctx.log.info(|| {
            format!(
                "graph: a chunk of '{}' at byte {offset} failed ({}); resuming ({resumes} of {RESUMES})",
                a.name, error.message
            )
        });
        if let Some(s) = wait {
            pause(call, Duration::from_secs(s).min(MAX_WAIT))?;
        }
        offset = resume_point(ctx, upload_url, a)?;
    }
    Ok(())
}

/// Asks the session where it stands (`GET` on the upload URL).
fn resume_point(ctx: Ctx<'_>, upload_url: &Url, a: &Attachment<'_>) -> Result<u64> {
    let r = ctx.http.request(ctx.call, "GET", upload_url, &[], None)?;
    if r.status == 200 {
        if let Some(n) = next_expected(&r).filter(|&n| n <= a.size) {
            ctx.log
                .debug(|| format!("graph: the upload session expects byte {n} next"));
            return Ok(n);
        }
    }
    let e = map_error(&r);
    Err(Error::new(
        e.status,
        format!(
            "the upload session of '{}' cannot be resumed ({}); nothing was sent",
            a.name, e.message
        ),
    )
    .with_provider(
        e.provider
            .clone()
            .unwrap_or_else(|| crate::error::ProviderReply::http(r.status, None, None)),
    ))
}

/// Waits `d`, looking at the cancel flag every [`POLL`].
fn pause(call: &Call, d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        call.check()?;
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    call.check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_expected_ranges_take_a_start_or_a_range() {
        for (body, want) in [
            (r#"{"nextExpectedRanges":["327680"]}"#, Some(327680)),
            (r#"{"nextExpectedRanges":["0-"]}"#, Some(0)),
            (r#"{"nextExpectedRanges":["12-99","200-"]}"#, Some(12)),
            (r#"{"nextExpectedRanges":[]}"#, None),
            ("not json", None),
        ] {
            let r = Response {
                status: 200,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            };
            assert_eq!(next_expected(&r), want, "{body}");
        }
    }

    #[test]
    fn the_draft_carries_bcc_in_recipients_the_message_id_and_only_x_headers() {
        let doc: MessageDocument = serde_json::from_value(json!({
            "from": "Ana <ana@contoso.ro>", "to": ["b@x.ro"], "bcc": ["hidden@x.ro"],
            "subject": "s", "text": "t", "html": "<p>h</p>", "headers": {"X-Erp": "7"}
        }))
        .unwrap();
        let prepared = crate::message::prepare(&doc).unwrap();
        let (m, atts) = draft(&doc, &prepared).unwrap();
        assert!(atts.is_empty());
        assert_eq!(
            m["bccRecipients"],
            json!([{"emailAddress": {"address": "hidden@x.ro"}}])
        );
        assert_eq!(m["from"]["emailAddress"]["name"], "Ana");
        assert_eq!(m["internetMessageId"], json!(prepared.message_id));
        assert_eq!(m["body"]["contentType"], "HTML");
        assert_eq!(m["internetMessageHeaders"], json!([{"name": "X-Erp", "value": "7"}]));

        let mut other = doc.clone();
        other.headers.insert("References".into(), json!("<a@b>"));
        let prepared = crate::message::prepare(&other).unwrap();
        let e = draft(&other, &prepared).err().unwrap();
        assert_eq!(e.field.as_deref(), Some("message.headers.References"));
    }
}
