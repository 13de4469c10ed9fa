//! The message document and turning it into RFC 5322 bytes (or taking a raw message as it is).
//!
//! [`prepare`] checks every field and reads every file before anything touches the network, so bad
//! input can never produce a partly sent mail. Its result, [`PreparedMessage`], holds the bytes
//! once, the SMTP envelope, and the Message-ID; the `Bcc` header is kept apart because it goes to
//! one transport only (see [`PreparedMessage::gmail_api_bytes`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use lettre::message::header::{self, ContentType, HeaderName, HeaderValue, Headers};
use lettre::message::{Attachment, Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::Address;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result, Status};
use crate::hint;

/// Gmail's limit for a whole message, encoded (the upload endpoint's `maxSize`, providers.md §3.2).
pub const MAX_MESSAGE_BYTES: usize = 36_700_160;
/// Gmail's limit of recipients (To + Cc + Bcc) per message via SMTP or the API (providers.md §2.7).
pub const MAX_RECIPIENTS: usize = 100;

/// `message_json` of `oauthmail_send`. Unknown fields are refused: a misspelt `attachments`
/// must not silently send a mail without its attachment.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageDocument {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentDocument>,
    /// Custom headers in the order given; values must be strings (checked when building).
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub raw_path: Option<String>,
    #[serde(default)]
    pub raw_base64: Option<String>,
    #[serde(default)]
    pub envelope: Option<EnvelopeDocument>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentDocument {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_base64: Option<String>,
    #[serde(default)]
    pub content_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeDocument {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
}

/// One envelope recipient and the input field it came from (`message.bcc[0]`), so a refusal by
/// the server can name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub address: Address,
    pub field: String,
}

/// The SMTP envelope: `MAIL FROM` and every `RCPT TO` (To, Cc and Bcc, without duplicates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub from: Address,
    pub to: Vec<Recipient>,
}

/// A message ready for any transport.
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    /// The message without any `Bcc` header, CRLF line endings.
    data: Vec<u8>,
    /// The `Bcc` header field (with its CRLF) and where it goes into `data`.
    bcc: Option<(usize, Vec<u8>)>,
    pub envelope: Envelope,
    /// The `Message-ID` header's value, `<...@...>`.
    pub message_id: String,
}

impl PreparedMessage {
    /// The bytes for SMTP `DATA`: never a `Bcc` header (Gmail SMTP does not remove it, so every
    /// recipient would see the Bcc list; providers.md §2.7). Bcc recipients are in the envelope.
    pub fn smtp_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The bytes for the Gmail API. The API has no envelope: the `Bcc` header is the only way it
    /// learns the Bcc recipients, and Gmail removes the header before delivery (providers.md §3.5).
    /// So this, and only this, transport gets the header.
    pub fn gmail_api_bytes(&self) -> Cow<'_, [u8]> {
        match &self.bcc {
            None => Cow::Borrowed(&self.data),
            Some((at, field)) => {
                let mut out = Vec::with_capacity(self.data.len() + field.len());
                out.extend_from_slice(&self.data[..*at]);
                out.extend_from_slice(field);
                out.extend_from_slice(&self.data[*at..]);
                Cow::Owned(out)
            }
        }
    }

    /// The largest of the transports' byte counts.
    pub fn max_len(&self) -> usize {
        self.data.len() + self.bcc.as_ref().map_or(0, |(_, f)| f.len())
    }
}

/// Checks the document and builds the message. Reads the files it names; touches no network.
pub fn prepare(doc: &MessageDocument) -> Result<PreparedMessage> {
    let raw_source = match (&doc.raw_path, &doc.raw_base64) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "message.raw_base64",
                "give either raw_path or raw_base64, not both",
            ))
        }
        (Some(p), None) => Some(RawSource::Path(p)),
        (None, Some(b)) => Some(RawSource::Base64(b)),
        (None, None) => None,
    };
    let prepared = match raw_source {
        Some(source) => {
            if let Some(field) = structured_field_in(doc) {
                return Err(Error::invalid(
                    format!("message.{field}"),
                    format!("a raw message cannot be combined with '{field}': put it into the raw message"),
                ));
            }
            prepare_raw(source, doc.envelope.as_ref())?
        }
        None => {
            if doc.envelope.is_some() {
                return Err(Error::invalid(
                    "message.envelope",
                    "envelope applies only to raw messages (raw_path or raw_base64); the envelope of a structured message comes from to, cc and bcc",
                ));
            }
            prepare_structured(doc)?
        }
    };
    if prepared.max_len() > MAX_MESSAGE_BYTES {
        return Err(Error::new(
            Status::InvalidArgument,
            format!(
                "the message is {} bytes encoded; Gmail accepts at most {MAX_MESSAGE_BYTES} bytes (35 MiB)",
                prepared.max_len()
            ),
        )
        .with_field(if doc.raw_path.is_some() {
            "message.raw_path"
        } else if doc.raw_base64.is_some() {
            "message.raw_base64"
        } else {
            "message.attachments"
        })
        .with_hint(&hint::MESSAGE_TOO_LARGE));
    }
    Ok(prepared)
}

fn structured_field_in(doc: &MessageDocument) -> Option<&'static str> {
    [
        ("from", doc.from.is_some()),
        ("to", !doc.to.is_empty()),
        ("cc", !doc.cc.is_empty()),
        ("bcc", !doc.bcc.is_empty()),
        ("reply_to", doc.reply_to.is_some()),
        ("subject", doc.subject.is_some()),
        ("text", doc.text.is_some()),
        ("html", doc.html.is_some()),
        ("attachments", !doc.attachments.is_empty()),
        ("headers", !doc.headers.is_empty()),
    ]
    .into_iter()
    .find(|(_, present)| *present)
    .map(|(name, _)| name)
}

// ---------------------------------------------------------------------------------------------
// Structured messages

/// Headers with a field of their own in the document, or that the library writes.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "sender",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
];

fn prepare_structured(doc: &MessageDocument) -> Result<PreparedMessage> {
    let from_text = doc
        .from
        .as_deref()
        .ok_or_else(|| Error::invalid("message.from", "the message has no 'from' address"))?;
    let from = parse_mailbox(from_text, "message.from")?;

    let mut recipients = RecipientList::default();
    let mut to = Vec::new();
    for (name, list) in [("to", &doc.to), ("cc", &doc.cc), ("bcc", &doc.bcc)] {
        let mut parsed = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            let field = format!("message.{name}[{i}]");
            let mailbox = parse_mailbox(text, &field)?;
            recipients.push(mailbox.email.clone(), field);
            parsed.push(mailbox);
        }
        to.push(parsed);
    }
    let (to, cc, bcc) = {
        let mut it = to.into_iter();
        (
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
        )
    };
    recipients.check("message.to")?;

    let reply_to = doc
        .reply_to
        .as_deref()
        .map(|r| parse_mailbox(r, "message.reply_to"))
        .transpose()?;
    if let Some(subject) = &doc.subject {
        no_line_breaks(subject, "message.subject")?;
    }

    // Custom headers: checked and encoded before the body is built.
    let mut custom = Vec::new();
    let mut message_id = None;
    for (name, value) in &doc.headers {
        let field = format!("message.headers.{name}");
        let value = value
            .as_str()
            .ok_or_else(|| Error::invalid(field.clone(), "a header value must be a string"))?;
        if name.is_empty() || name.len() > 76 || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            return Err(Error::invalid(
                field,
                "a header name must be 1 to 76 printable ASCII characters without ':' or spaces",
            ));
        }
        no_line_breaks(value, &field)?;
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::invalid(
                field,
                format!("the {name} header is set by the library or by its own field of the message document"),
            ));
        }
        if lower == "message-id" {
            message_id =
                Some(normalise_message_id(value).ok_or_else(|| {
                    Error::invalid(field.clone(), "a Message-ID must look like <unique-part@domain>")
                })?);
            continue;
        }
        let header_name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| Error::invalid(field.clone(), "not a valid header name"))?;
        custom.push(HeaderValue::new(header_name, value.to_string()));
    }

    let parts = read_attachments(&doc.attachments)?;

    let message_id = message_id.unwrap_or_else(|| new_message_id(from.email.domain()));
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .message_id(Some(message_id.clone()));
    for m in &to {
        builder = builder.to(m.clone());
    }
    for m in &cc {
        builder = builder.cc(m.clone());
    }
    if let Some(r) = reply_to {
        builder = builder.reply_to(r);
    }
    if let Some(s) = &doc.subject {
        builder = builder.subject(s.clone());
    }
    for h in custom {
        builder = builder.raw_header(h);
    }
    // lettre wants an envelope with at least one recipient; ours is kept separately.
    let lettre_envelope = lettre::address::Envelope::new(
        Some(from.email.clone()),
        recipients.list.iter().map(|r| r.address.clone()).collect(),
    )
    .map_err(|e| Error::internal(format!("envelope: {e}")))?;
    builder = builder.envelope(lettre_envelope);

    let message = builder
        .multipart_or_single(doc.text.as_deref(), doc.html.as_deref(), parts)
        .map_err(|e| Error::internal(format!("the message could not be built: {e}")))?;
    let mut data = message.formatted();
    // lettre grows the Vec by doubling and appends the closing boundary after the body, so a big
    // message comes back with about twice its length in capacity, held for the whole send.
    // (lettre's formatter into a caller's Vec is private, so it cannot be sized up front.)
    data.shrink_to_fit();

    let bcc = if bcc.is_empty() {
        None
    } else {
        let mut headers = Headers::new();
        headers.set(header::Bcc::from(bcc.into_iter().collect::<Mailboxes>()));
        Some((header_end(&data), headers.to_string().into_bytes()))
    };

    Ok(PreparedMessage {
        data,
        bcc,
        envelope: Envelope {
            from: from.email,
            to: recipients.list,
        },
        message_id,
    })
}

/// A prepared attachment part: either a normal attachment or an inline (related) one.
struct Part {
    inline: bool,
    part: SinglePart,
}

trait BuildBody {
    fn multipart_or_single(
        self,
        text: Option<&str>,
        html: Option<&str>,
        parts: Vec<Part>,
    ) -> std::result::Result<lettre::Message, lettre::error::Error>;
}

impl BuildBody for lettre::message::MessageBuilder {
    /// mixed( alternative( text, related( html, inline... ) ), attachments... ), with every level
    /// left out when it has one member.
    fn multipart_or_single(
        self,
        text: Option<&str>,
        html: Option<&str>,
        parts: Vec<Part>,
    ) -> std::result::Result<lettre::Message, lettre::error::Error> {
        let (inline, mut attached): (Vec<Part>, Vec<Part>) = parts.into_iter().partition(|p| p.inline);
        // Without a body, inline parts have nothing to be related to: they become plain parts.
        let inline = if text.is_none() && html.is_none() {
            attached.extend(inline);
            Vec::new()
        } else {
            inline
        };
        let text_part = text.map(|t| SinglePart::plain(t.to_string()));
        let html_part = html.map(|h| SinglePart::html(h.to_string()));

        enum Node {
            Single(SinglePart),
            Multi(MultiPart),
        }
        let add = |mp: MultiPart, n: Node| match n {
            Node::Single(s) => mp.singlepart(s),
            Node::Multi(m) => mp.multipart(m),
        };

        // The part that inline images belong to: the HTML, else the text.
        let (main, other_text) = match (html_part, text_part) {
            (Some(h), t) => (Some(h), t),
            (None, t) => (t, None),
        };
        let main = match main {
            Some(main) if !inline.is_empty() => {
                let mut related = MultiPart::related().singlepart(main);
                for p in inline {
                    related = related.singlepart(p.part);
                }
                Some(Node::Multi(related))
            }
            Some(main) => Some(Node::Single(main)),
            None => None,
        };
        let body = match (other_text, main) {
            (Some(t), Some(m)) => Some(Node::Multi(add(MultiPart::alternative().singlepart(t), m))),
            (Some(t), None) => Some(Node::Single(t)),
            (None, m) => m,
        };
        if attached.is_empty() {
            return match body {
                Some(Node::Single(s)) => self.singlepart(s),
                Some(Node::Multi(m)) => self.multipart(m),
                None => self.singlepart(SinglePart::plain(String::new())),
            };
        }
        let mut mixed = match body {
            Some(n) => add(MultiPart::mixed().build(), n),
            None => MultiPart::mixed().build(),
        };
        for p in attached {
            mixed = mixed.singlepart(p.part);
        }
        self.multipart(mixed)
    }
}

fn read_attachments(docs: &[AttachmentDocument]) -> Result<Vec<Part>> {
    let mut parts = Vec::with_capacity(docs.len());
    let mut content_ids = HashSet::new();
    let mut total = 0usize;
    for (i, a) in docs.iter().enumerate() {
        let field = |name: &str| format!("message.attachments[{i}].{name}");
        if let Some(f) = &a.filename {
            no_line_breaks(f, &field("filename"))?;
            if f.trim().is_empty() {
                return Err(Error::invalid(field("filename"), "filename is empty"));
            }
        }
        if let Some(ct) = &a.content_type {
            no_line_breaks(ct, &field("content_type"))?;
            if ContentType::parse(ct).is_err() {
                return Err(Error::invalid(
                    field("content_type"),
                    "not a MIME type such as application/pdf",
                ));
            }
        }
        let content_id = match &a.content_id {
            Some(cid) => {
                let cid = cid.trim();
                let cid = cid.strip_prefix('<').and_then(|c| c.strip_suffix('>')).unwrap_or(cid);
                if cid.is_empty()
                    || !cid
                        .bytes()
                        .all(|b| (33..=126).contains(&b) && !b"<>\"\\()[],;:".contains(&b))
                {
                    return Err(Error::invalid(
                        field("content_id"),
                        "a content_id must be printable ASCII without spaces or <>\"\\()[],;:",
                    ));
                }
                if !content_ids.insert(cid.to_string()) {
                    return Err(Error::invalid(field("content_id"), "this content_id is used twice"));
                }
                Some(cid.to_string())
            }
            None => None,
        };
        let (bytes, default_name) = match (&a.path, &a.content_base64) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    field("content_base64"),
                    "give either path or content_base64, not both",
                ))
            }
            (None, None) => {
                return Err(Error::invalid(
                    field("path"),
                    "an attachment needs a path or content_base64",
                ))
            }
            (Some(path), None) => {
                let bytes = read_file(path, &field("path"))?;
                let name = Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .filter(|n| !n.is_empty());
                (bytes, name)
            }
            (None, Some(b64)) => (decode_base64(b64, &field("content_base64"))?, None),
        };
        total = total.saturating_add(bytes.len());
        // Base64 grows data by 4/3: stop early instead of encoding hundreds of megabytes.
        if total / 3 * 4 > MAX_MESSAGE_BYTES {
            return Err(Error::invalid(
                field("path").replace(".path", if a.path.is_some() { ".path" } else { ".content_base64" }),
                format!("the attachments are {total} bytes, more than fits into a 35 MiB message"),
            )
            .with_hint(&hint::MESSAGE_TOO_LARGE));
        }
        let filename = a.filename.clone().or(default_name);
        if filename.is_none() && content_id.is_none() {
            return Err(Error::invalid(
                field("filename"),
                "an attachment given as content_base64 needs a filename (or a content_id for an inline image)",
            ));
        }
        let mime = a
            .content_type
            .clone()
            .unwrap_or_else(|| guess_mime(filename.as_deref().unwrap_or("")).to_string());
        let content_type = content_type_with_name(&mime, filename.as_deref())
            .map_err(|_| Error::invalid(field("content_type"), "not a MIME type such as application/pdf"))?;
        let part = match (&content_id, filename) {
            (Some(cid), Some(name)) => Attachment::new_inline_with_name(cid.clone(), name),
            (Some(cid), None) => Attachment::new_inline(cid.clone()),
            (None, Some(name)) => Attachment::new(name),
            (None, None) => unreachable!("checked above"),
        }
        // Always base64: lettre would pick 7bit for ASCII-looking content and rewrite its line
        // endings to CRLF, which corrupts a binary (or LF-only text) file.
        .body(
            Body::new_with_encoding(bytes, header::ContentTransferEncoding::Base64)
                .map_err(|_| Error::internal("base64 encoding refused"))?,
            content_type,
        );
        parts.push(Part {
            inline: content_id.is_some(),
            part,
        });
    }
    Ok(parts)
}

/// `type/subtype; name="..."`: the `name` parameter, in RFC 2047 form when it is not ASCII, is what
/// Outlook and older clients read; the RFC 2231 `filename*` of Content-Disposition (written by
/// lettre) is what standard readers use. Thunderbird writes the same pair.
fn content_type_with_name(mime: &str, name: Option<&str>) -> std::result::Result<ContentType, ()> {
    let mut text = mime.trim().trim_end_matches(';').to_string();
    let has_name = text
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("name="));
    if let (Some(name), false) = (name, has_name) {
        let value = if name.bytes().all(|b| (32..=126).contains(&b)) {
            name.to_string()
        } else {
            encoded_words(name)
        };
        let _ = write!(text, "; name={}", quoted(&value));
    }
    ContentType::parse(&text).map_err(|_| ())
}

fn quoted(v: &str) -> String {
    let mut q = String::with_capacity(v.len() + 2);
    q.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// RFC 2047 `=?utf-8?B?...?=` words of at most 75 characters, separated by spaces, never splitting
/// a character.
fn encoded_words(s: &str) -> String {
    const MAX_BYTES: usize = 45; // 60 base64 characters + 15 of framing = 75
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > MAX_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The content type of a file, from its extension; `application/octet-stream` when unknown.
pub fn guess_mime(filename: &str) -> &'static str {
    let ext = Path::new(filename)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "htm" | "html" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "tif" | "tiff" => "image/tiff",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "7z" => "application/x-7z-compressed",
        "rar" => "application/vnd.rar",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "rtf" => "application/rtf",
        "ics" => "text/calendar",
        "p7m" => "application/pkcs7-mime",
        "p7s" => "application/pkcs7-signature",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

// ---------------------------------------------------------------------------------------------
// Raw messages

enum RawSource<'a> {
    Path(&'a str),
    Base64(&'a str),
}

fn prepare_raw(source: RawSource<'_>, envelope: Option<&EnvelopeDocument>) -> Result<PreparedMessage> {
    let (bytes, source_field) = match source {
        RawSource::Path(p) => (read_file(p, "message.raw_path")?, "message.raw_path"),
        RawSource::Base64(b) => (decode_base64(b, "message.raw_base64")?, "message.raw_base64"),
    };
    if bytes.len() > MAX_MESSAGE_BYTES + MAX_MESSAGE_BYTES / 8 {
        return Err(Error::invalid(
            source_field,
            format!(
                "the message is {} bytes; Gmail accepts at most {MAX_MESSAGE_BYTES} bytes (35 MiB)",
                bytes.len()
            ),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::invalid(source_field, "the raw message is empty"));
    }
    let mut data = crlf_line_endings(bytes);
    let fields = parse_header_fields(&data);
    if fields.is_empty() {
        return Err(Error::invalid(source_field, "the raw message has no header fields"));
    }
    fn find<'a>(fields: &'a [HeaderField], name: &'a str) -> impl Iterator<Item = &'a HeaderField> + 'a {
        fields.iter().filter(move |f| f.name.eq_ignore_ascii_case(name))
    }
    let find = |name: &'static str| find(&fields, name);
    let value_of = |f: &HeaderField| String::from_utf8_lossy(&data[f.value.0..f.value.1]).into_owned();

    // Envelope sender: envelope.from, else From, else Sender.
    let env_from = match envelope.and_then(|e| e.from.as_deref()) {
        Some(f) => {
            no_line_breaks(f, "message.envelope.from")?;
            parse_address(f).ok_or_else(|| Error::invalid("message.envelope.from", "not an email address"))?
        }
        None => {
            let header = find("from").next().or_else(|| find("sender").next()).ok_or_else(|| {
                Error::invalid(
                    source_field,
                    "the raw message has no From header (and no envelope.from)",
                )
            })?;
            let list = parse_address_list(&value_of(header)).map_err(|bad| {
                Error::invalid(source_field, format!("the From header holds an invalid address: {bad}"))
            })?;
            list.into_iter()
                .next()
                .ok_or_else(|| Error::invalid(source_field, "the From header holds no address"))?
        }
    };

    let mut recipients = RecipientList::default();
    match envelope.filter(|e| !e.to.is_empty()) {
        Some(e) => {
            for (i, t) in e.to.iter().enumerate() {
                let field = format!("message.envelope.to[{i}]");
                no_line_breaks(t, &field)?;
                let a = parse_address(t).ok_or_else(|| Error::invalid(field.clone(), "not an email address"))?;
                recipients.push(a, field);
            }
        }
        None => {
            for name in ["to", "cc", "bcc"] {
                for header in find(name) {
                    let list = parse_address_list(&value_of(header)).map_err(|bad| {
                        Error::invalid(
                            source_field,
                            format!("the {} header holds an invalid address: {bad}", header.name),
                        )
                    })?;
                    for a in list {
                        recipients.push(a, source_field.to_string());
                    }
                }
            }
        }
    }
    recipients.check(if envelope.is_some_and(|e| !e.to.is_empty()) {
        "message.envelope.to"
    } else {
        source_field
    })?;

    let header_end_at = header_end(&data);
    let message_id = match find("message-id").next() {
        Some(f) => normalise_message_id(value_of(f).trim())
            .ok_or_else(|| Error::invalid(source_field, "the Message-ID header is not of the form <id@domain>"))?,
        None => {
            let id = new_message_id(env_from.domain());
            let line = format!("Message-ID: {id}\r\n");
            data.splice(header_end_at..header_end_at, line.into_bytes());
            id
        }
    };

    // Take every Bcc field out of the data; the first one's place is where the API copy gets it back.
    let mut bcc: Option<(usize, Vec<u8>)> = None;
    let bcc_ranges: Vec<(usize, usize)> = parse_header_fields(&data)
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("bcc"))
        .map(|f| f.whole)
        .collect();
    for (start, end) in bcc_ranges.into_iter().rev() {
        let field: Vec<u8> = data.drain(start..end).collect();
        bcc = Some(match bcc {
            None => (start, field),
            Some((_, mut later)) => {
                let mut joined = field;
                joined.append(&mut later);
                (start, joined)
            }
        });
    }

    Ok(PreparedMessage {
        data,
        bcc,
        envelope: Envelope {
            from: env_from,
            to: recipients.list,
        },
        message_id,
    })
}

/// A header field's name and byte ranges: the whole field including its final CRLF, and the value.
struct HeaderField {
    name: String,
    whole: (usize, usize),
    value: (usize, usize),
}

/// The offset just after the header section's last CRLF (where the empty line starts).
fn header_end(data: &[u8]) -> usize {
    if data.starts_with(b"\r\n") {
        return 0;
    }
    match data.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => i + 2,
        None if data.ends_with(b"\r\n") => data.len(),
        None => data.len(),
    }
}

fn parse_header_fields(data: &[u8]) -> Vec<HeaderField> {
    let end = header_end(data);
    let mut fields: Vec<HeaderField> = Vec::new();
    let mut pos = 0;
    while pos < end {
        let line_end = data[pos..end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(end, |i| pos + i + 2);
        let line = &data[pos..line_end];
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(last) = fields.last_mut() {
                last.whole.1 = line_end;
                last.value.1 = line_end;
            }
        } else if let Some(colon) = line.iter().position(|b| *b == b':') {
            fields.push(HeaderField {
                name: String::from_utf8_lossy(&line[..colon]).trim().to_string(),
                whole: (pos, line_end),
                value: (pos + colon + 1, line_end),
            });
        }
        pos = line_end;
    }
    fields
}

/// Bare LF (and bare CR) become CRLF: SMTP forbids bare line feeds, and Gmail refuses them.
fn crlf_line_endings(bytes: Vec<u8>) -> Vec<u8> {
    let needs = bytes.iter().enumerate().any(|(i, b)| {
        (*b == b'\n' && (i == 0 || bytes[i - 1] != b'\r')) || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
    });
    if !needs {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The addr-specs of an RFC 5322 address list (display names, comments, groups and RFC 2047 words
/// allowed); `Err` carries the first item that is not an address.
pub(crate) fn parse_address_list(value: &str) -> std::result::Result<Vec<Address>, String> {
    let unfolded: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let mut items = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut comment, mut angle) = (false, false, 0u32, false);
    for c in unfolded.chars() {
        if escaped {
            escaped = false;
            if comment == 0 {
                current.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || comment > 0 => escaped = true,
            '"' if comment == 0 => {
                quoted = !quoted;
                current.push(c);
            }
            '(' if !quoted => comment += 1,
            ')' if !quoted && comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            '<' if !quoted => {
                angle = true;
                current.push(c);
            }
            '>' if !quoted => {
                angle = false;
                current.push(c);
            }
            // A group's display name ends at ':'; its list ends at ';'.
            ':' if !quoted && !angle => current.clear(),
            ',' | ';' if !quoted && !angle => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    let mut out = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let spec = match (item.find('<'), item.rfind('>')) {
            (Some(open), Some(close)) if open < close => {
                let inner = &item[open + 1..close];
                // Obsolete source routes: "<@relay:user@host>".
                inner.rsplit(':').next().unwrap_or(inner).trim()
            }
            _ => item,
        };
        match parse_address(spec) {
            Some(a) => out.push(a),
            None => return Err(item.to_string()),
        }
    }
    Ok(out)
}

fn parse_address(s: &str) -> Option<Address> {
    let s = s.trim();
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Address::from_str(s).ok()
}

// ---------------------------------------------------------------------------------------------
// Shared checks

#[derive(Default)]
struct RecipientList {
    list: Vec<Recipient>,
    seen: HashSet<String>,
}

impl RecipientList {
    fn push(&mut self, address: Address, field: String) {
        // One RCPT per address: Gmail counts every RCPT against the 100-recipient limit.
        if self.seen.insert(address.to_string().to_ascii_lowercase()) {
            self.list.push(Recipient { address, field });
        }
    }

    fn check(&self, empty_field: &str) -> Result<()> {
        if self.list.is_empty() {
            return Err(Error::invalid(
                empty_field,
                "the message has no recipient (to, cc or bcc)",
            ));
        }
        if let Some(r) = self.list.get(MAX_RECIPIENTS) {
            return Err(Error::invalid(
                r.field.clone(),
                format!(
                    "the message has {} recipients; Gmail accepts at most {MAX_RECIPIENTS} per message (to + cc + bcc)",
                    self.list.len()
                ),
            ));
        }
        Ok(())
    }
}

/// Header injection: a CR or LF in a value would start a new header field (or the body).
fn no_line_breaks(value: &str, field: &str) -> Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(Error::invalid(
            field,
            "the value contains a line break (CR or LF), which is not allowed in a header",
        ));
    }
    Ok(())
}

/// One address with an optional display name: `Ion Popescu <ion@example.ro>` or `ion@example.ro`.
fn parse_mailbox(text: &str, field: &str) -> Result<Mailbox> {
    no_line_breaks(text, field)?;
    let invalid = || {
        Error::invalid(
            field,
            "not an email address (expected name@domain or Name <name@domain>, one address per entry)",
        )
    };
    if text.trim().is_empty() {
        return Err(invalid());
    }
    // lettre's parser stops after the first mailbox and ignores the rest of the text; our list
    // parser sees the whole text, so "a@x.ro, b@y.ro" and trailing junk are refused.
    let whole = parse_address_list(text).map_err(|_| invalid())?;
    if whole.len() != 1 {
        return Err(invalid());
    }
    let mailbox = Mailbox::from_str(text.trim()).map_err(|_| invalid())?;
    if mailbox.email != whole[0] {
        return Err(invalid());
    }
    if let Some(name) = &mailbox.name {
        if name.chars().any(char::is_control) {
            return Err(invalid());
        }
    }
    Ok(mailbox)
}

fn read_file(path: &str, field: &str) -> Result<Vec<u8>> {
    if path.is_empty() {
        return Err(Error::invalid(field, "the path is empty"));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::new(Status::Io, format!("cannot read '{path}': {e}")).with_field(field))?;
    if !meta.is_file() {
        return Err(Error::new(Status::Io, format!("'{path}' is not a file")).with_field(field));
    }
    if meta.len() > (MAX_MESSAGE_BYTES as u64) * 2 {
        return Err(Error::invalid(
            field,
            format!("'{path}' is {} bytes, more than fits into a 35 MiB message", meta.len()),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE));
    }
    std::fs::read(path).map_err(|e| Error::new(Status::Io, format!("cannot read '{path}': {e}")).with_field(field))
}

/// Standard or URL-safe base64, padded or not; whitespace (MIME line breaks) is ignored.
fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(&compact)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(&compact))
        .map_err(|e| Error::invalid(field, format!("not valid base64: {e}")))
}

fn normalise_message_id(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = v.strip_prefix('<').and_then(|v| v.strip_suffix('>')).unwrap_or(v);
    let ok = !inner.is_empty()
        && inner.contains('@')
        && inner.bytes().all(|b| (33..=126).contains(&b) && b != b'<' && b != b'>');
    ok.then(|| format!("<{inner}>"))
}

/// `<time.random@domain-of-the-sender>`: unique without revealing anything about the machine.
fn new_message_id(domain: &str) -> String {
    let mut random = [0u8; 12];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut random).is_err() {
        // Never expected; fall back to something still unique within this process.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        random[..8].copy_from_slice(&n.to_le_bytes());
        random[8..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut hex = String::with_capacity(24);
    for b in random {
        let _ = write!(hex, "{b:02x}");
    }
    let domain = if domain.is_ascii() && !domain.is_empty() {
        domain.to_string()
    } else {
        "oauthmail.invalid".to_string()
    };
    format!("<{millis:x}.{hex}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(json: Value) -> MessageDocument {
        serde_json::from_value(json).unwrap()
    }

    fn err(json: Value) -> Error {
        prepare(&doc(json)).unwrap_err()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The unfolded value of the first header field `name` in a header block.
    fn header(block: &str, name: &str) -> Option<String> {
        let unfolded = block.replace("\r\n ", " ").replace("\r\n\t", "\t");
        let head = unfolded.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// RFC 2047 decoding as a mail reader does it: whitespace between encoded words is dropped.
    fn decode_2047(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        let mut last_was_word = false;
        while !rest.is_empty() {
            let start = rest.find("=?");
            let pending_ws_only = start.is_some_and(|i| rest[..i].trim().is_empty());
            match start {
                Some(i) => {
                    if !(last_was_word && pending_ws_only) {
                        out.push_str(&rest[..i]);
                    }
                    let word = &rest[i + 2..];
                    let mut it = word.splitn(3, '?');
                    let (_charset, enc, tail) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
                    let end = tail.find("?=").unwrap();
                    let text = &tail[..end];
                    let bytes = if enc.eq_ignore_ascii_case("b") {
                        base64::engine::general_purpose::STANDARD.decode(text).unwrap()
                    } else {
                        let mut v = Vec::new();
                        let b = text.as_bytes();
                        let mut j = 0;
                        while j < b.len() {
                            match b[j] {
                                b'_' => v.push(b' '),
                                b'=' => {
                                    v.push(u8::from_str_radix(&text[j + 1..j + 3], 16).unwrap());
                                    j += 2;
                                }
                                c => v.push(c),
                            }
                            j += 1;
                        }
                        v
                    };
                    out.push_str(&String::from_utf8(bytes).unwrap());
                    rest = &tail[end + 2..];
                    last_was_word = true;
                }
                None => {
                    out.push_str(rest);
                    rest = "";
                }
            }
        }
        out
    }

    /// An RFC 2231 parameter (`key*=` or `key*0*=`, `key*1*=`, ...) decoded to UTF-8.
    fn decode_2231(params: &str, key: &str) -> String {
        let mut parts: Vec<(usize, String)> = Vec::new();
        for p in params.split(';').map(str::trim) {
            let Some((k, v)) = p.split_once('=') else { continue };
            let Some(rest) = k.strip_prefix(key).and_then(|r| r.strip_prefix('*')) else {
                continue;
            };
            let n = rest.trim_end_matches('*').parse().unwrap_or(0);
            let v = v.trim_matches('"');
            let v = v.split_once("''").map_or(v, |(_, v)| v);
            parts.push((n, v.to_string()));
        }
        parts.sort();
        let joined: String = parts.into_iter().map(|(_, v)| v).collect();
        let mut bytes = Vec::new();
        let b = joined.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                bytes.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                bytes.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    /// The header blocks of every MIME part whose headers contain `needle`.
    fn parts_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
        text.split("\r\n--").filter(|p| p.contains(needle)).collect()
    }

    const DIACRITICS: &str = "ă â î ș ț Ă Â Î Ș Ț";

    #[test]
    fn romanian_diacritics_survive_in_subject_from_to_and_custom_headers() {
        let p = prepare(&doc(json!({
            "from": format!("Firmă SRL {DIACRITICS} <office@firma.ro>"),
            "to": ["Ștefan Țăran <stefan@example.ro>", "\"Popescu, Ana\" <ana@example.ro>"],
            "subject": format!("Factura nr. 123 — scadență {DIACRITICS}"),
            "text": format!("Bună ziua, {DIACRITICS}"),
            "headers": {"X-Nota": format!("notă {DIACRITICS}")}
        })))
        .unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap();
        assert!(head.is_ascii(), "headers must be 7-bit (RFC 2047): {head}");
        assert!(
            head.split("\r\n").all(|l| l.len() <= 998),
            "header lines are folded: {head}"
        );
        for word in head.split([' ', '"']).filter(|w| w.starts_with("=?")) {
            assert!(word.len() <= 75, "RFC 2047 words are at most 75 characters: {word}");
        }
        assert_eq!(
            decode_2047(&header(&text, "Subject").unwrap()),
            format!("Factura nr. 123 — scadență {DIACRITICS}")
        );
        assert_eq!(
            decode_2047(&header(&text, "From").unwrap()),
            format!("Firmă SRL {DIACRITICS} <office@firma.ro>")
        );
        let to = decode_2047(&header(&text, "To").unwrap());
        assert!(to.contains("Ștefan Țăran <stefan@example.ro>"), "{to}");
        assert!(to.contains("Popescu, Ana") && to.contains("<ana@example.ro>"), "{to}");
        assert_eq!(
            decode_2047(&header(&text, "X-Nota").unwrap()),
            format!("notă {DIACRITICS}")
        );
    }

    #[test]
    fn attachment_filename_with_diacritics_is_in_rfc2231_and_rfc2047_form() {
        let name = "Factură 123 ăâîșț ĂÂÎȘȚ.pdf";
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
            "attachments": [{"filename": name, "content_base64": b64(b"%PDF-1.4\n%\xe2\xe3\n")}]
        })))
        .unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        let part = parts_with(&text, "Content-Disposition: attachment")[0];
        assert!(part.is_ascii());
        let disposition = header(part.split_once("\r\n").unwrap().1, "Content-Disposition").unwrap();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert_eq!(decode_2231(&disposition, "filename"), name);
        let content_type = header(part.split_once("\r\n").unwrap().1, "Content-Type").unwrap();
        assert!(content_type.starts_with("application/pdf;"), "{content_type}");
        let quoted_name = content_type.split("name=").nth(1).unwrap().trim_matches('"');
        assert_eq!(decode_2047(quoted_name), name);
    }

    #[test]
    fn a_big_message_does_not_keep_twice_its_size_in_capacity() {
        let content = vec![0x5au8; 1024 * 1024];
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
            "attachments": [{"filename": "mare.bin", "content_base64": b64(&content)}]
        })))
        .unwrap();
        assert!(p.data.len() > 1024 * 1024 * 4 / 3);
        // lettre's formatted() returns about 2x the length in capacity for a message this size.
        assert!(
            p.data.capacity() <= p.data.len() + p.data.len() / 64,
            "capacity {} for {} bytes",
            p.data.capacity(),
            p.data.len()
        );
    }

    #[test]
    fn attachment_bytes_are_base64_and_unchanged() {
        let content = b"line1\nline2\n.\n\x00\xff binary";
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
            "attachments": [{"filename": "date.csv", "content_type": "text/csv", "content_base64": b64(content)}]
        })))
        .unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        let part = parts_with(&text, "date.csv")[0];
        assert!(part.contains("Content-Transfer-Encoding: base64"));
        assert!(part.contains("Content-Type: text/csv; name=\"date.csv\""), "{part}");
        let body: String = part.split("\r\n\r\n").nth(1).unwrap().split_whitespace().collect();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(body).unwrap(), content);
    }

    #[test]
    fn path_attachment_is_named_after_the_file_and_typed_by_its_extension() {
        let dir = std::env::temp_dir().join(format!("oauthmail-msg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("raport lunar.xlsx");
        std::fs::write(&path, b"PK\x03\x04").unwrap();
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
            "attachments": [{"path": path.to_str().unwrap()}, {"path": path.to_str().unwrap(), "filename": "altul.bin"}]
        })))
        .unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        let first = parts_with(&text, "raport lunar.xlsx");
        assert_eq!(first.len(), 1, "{text}");
        assert!(first[0].contains("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"));
        assert!(parts_with(&text, "filename=\"altul.bin\"")[0].contains("application/octet-stream"));
    }

    #[test]
    fn inline_image_goes_into_multipart_related_with_the_html() {
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"],
            "text": "plain", "html": "<img src=\"cid:logo\">",
            "attachments": [
                {"filename": "logo.png", "content_base64": b64(b"\x89PNG\r\n\x1a\n"), "content_id": "logo"},
                {"filename": "f.pdf", "content_base64": b64(b"%PDF")}
            ]
        })))
        .unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        let ct = header(&text, "Content-Type").unwrap();
        assert!(ct.starts_with("multipart/mixed"), "{ct}");
        let alt = text.find("Content-Type: multipart/alternative").expect("alternative");
        let related = text.find("Content-Type: multipart/related").expect("related");
        let html = text.find("Content-Type: text/html").unwrap();
        let image = text.find("Content-ID: <logo>").unwrap();
        let pdf = text.find("filename=\"f.pdf\"").unwrap();
        let plain = text.find("Content-Type: text/plain").unwrap();
        assert!(alt < plain && plain < related && related < html && html < image && image < pdf);
        assert!(parts_with(&text, "Content-ID: <logo>")[0].contains("Content-Disposition: inline"));
    }

    #[test]
    fn text_only_and_html_only_messages_are_single_parts() {
        let p = prepare(&doc(
            json!({"from": "a@firma.ro", "to": ["b@example.ro"], "html": "<b>x</b>"}),
        ))
        .unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        assert!(header(&text, "Content-Type").unwrap().starts_with("text/html"));
        let p = prepare(&doc(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "text": "x"}))).unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        assert!(header(&text, "Content-Type").unwrap().starts_with("text/plain"));
    }

    #[test]
    fn bcc_is_never_in_the_smtp_bytes_but_is_in_the_envelope_and_the_gmail_api_bytes() {
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "cc": ["cc@example.ro"],
            "bcc": ["Șef <sef@example.ro>", "ascuns@example.ro"], "text": "x"
        })))
        .unwrap();
        let smtp = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        // No Bcc field (not a substring search: the random Message-ID and boundary may hold "bcc").
        assert!(
            !smtp.split("\r\n").any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{smtp}"
        );
        assert!(!smtp.contains("sef@example.ro") && !smtp.contains("ascuns@"));
        let api = String::from_utf8(p.gmail_api_bytes().into_owned()).unwrap();
        let bcc = decode_2047(&header(&api, "Bcc").unwrap());
        assert_eq!(bcc, "Șef <sef@example.ro>, ascuns@example.ro");
        // Apart from the Bcc field, the two are the same bytes.
        assert_eq!(
            api.replace(&format!("Bcc: {}\r\n", header(&api, "Bcc").unwrap()), ""),
            smtp
        );
        let rcpt: Vec<_> = p
            .envelope
            .to
            .iter()
            .map(|r| (r.address.to_string(), r.field.as_str()))
            .collect();
        assert_eq!(
            rcpt,
            [
                ("ion@example.ro".to_string(), "message.to[0]"),
                ("cc@example.ro".to_string(), "message.cc[0]"),
                ("sef@example.ro".to_string(), "message.bcc[0]"),
                ("ascuns@example.ro".to_string(), "message.bcc[1]"),
            ]
        );
        assert_eq!(p.envelope.from.to_string(), "office@firma.ro");
    }

    #[test]
    fn duplicate_recipients_get_one_rcpt() {
        let p = prepare(&doc(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"], "cc": ["B@Example.ro"], "bcc": ["b@example.ro"], "text": "x"
        })))
        .unwrap();
        assert_eq!(p.envelope.to.len(), 1);
    }

    #[test]
    fn message_id_is_added_and_reported_or_taken_from_the_headers() {
        let p = prepare(&doc(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "text": "x"}))).unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        assert_eq!(header(&text, "Message-ID").unwrap(), p.message_id);
        assert!(p.message_id.starts_with('<') && p.message_id.ends_with("@firma.ro>"));
        let q = prepare(&doc(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "text": "x"}))).unwrap();
        assert_ne!(p.message_id, q.message_id);

        let p = prepare(&doc(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"], "text": "x",
            "headers": {"Message-ID": "factura-123@firma.ro", "In-Reply-To": "<x@y.ro>"}
        })))
        .unwrap();
        assert_eq!(p.message_id, "<factura-123@firma.ro>");
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        assert_eq!(header(&text, "Message-ID").unwrap(), "<factura-123@firma.ro>");
        assert_eq!(text.matches("Message-ID:").count(), 1);
        assert_eq!(header(&text, "In-Reply-To").unwrap(), "<x@y.ro>");
    }

    #[test]
    fn reply_to_is_written() {
        let p = prepare(&doc(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"], "reply_to": "Contabilitate <contabilitate@firma.ro>", "text": "x"
        })))
        .unwrap();
        let text = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        assert_eq!(
            header(&text, "Reply-To").unwrap(),
            "Contabilitate <contabilitate@firma.ro>"
        );
    }

    #[test]
    fn line_breaks_in_any_header_value_are_refused_naming_the_field() {
        let base = json!({"from": "a@firma.ro", "to": ["b@example.ro", "c@example.ro"], "text": "x"});
        let with = |k: &str, v: Value| {
            let mut j = base.clone();
            j[k] = v;
            j
        };
        let cases = [
            (
                with("subject", json!("Hi\r\nBcc: victim@example.com")),
                "message.subject",
            ),
            (with("subject", json!("Hi\nX: y")), "message.subject"),
            (
                with("to", json!(["b@example.ro", "Ion\r\n <c@example.ro>"])),
                "message.to[1]",
            ),
            (with("from", json!("Firma\r\nX-Evil: 1 <a@firma.ro>")), "message.from"),
            (with("reply_to", json!("r@firma.ro\rX")), "message.reply_to"),
            (
                with("headers", json!({"X-Foo": "bar\r\nBcc: v@example.com"})),
                "message.headers.X-Foo",
            ),
            (
                with(
                    "attachments",
                    json!([{"filename": "a\r\n.pdf", "content_base64": "AA=="}]),
                ),
                "message.attachments[0].filename",
            ),
            (
                with(
                    "attachments",
                    json!([{"filename": "a.pdf", "content_type": "text/plain\r\nX: y", "content_base64": "AA=="}]),
                ),
                "message.attachments[0].content_type",
            ),
        ];
        for (json, field) in cases {
            let e = err(json);
            assert_eq!(e.status, Status::InvalidArgument, "{field}");
            assert_eq!(e.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn invalid_addresses_are_refused_naming_the_field() {
        for (to, field) in [
            (json!(["b@example.ro", "not an address"]), "message.to[1]"),
            (json!(["b@example.ro", "x@y.ro, z@w.ro"]), "message.to[1]"),
            (json!(["Ion <ion@>"]), "message.to[0]"),
            (json!([""]), "message.to[0]"),
        ] {
            let e = err(json!({"from": "a@firma.ro", "to": to, "text": "x"}));
            assert_eq!((e.status, e.field.as_deref()), (Status::InvalidArgument, Some(field)));
        }
        let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "bcc": ["@x"], "text": "x"}));
        assert_eq!(e.field.as_deref(), Some("message.bcc[0]"));
    }

    #[test]
    fn missing_from_or_recipients_are_refused() {
        let e = err(json!({"to": ["b@example.ro"], "text": "x"}));
        assert_eq!(e.field.as_deref(), Some("message.from"));
        let e = err(json!({"from": "a@firma.ro", "text": "x"}));
        assert_eq!(
            (e.status, e.field.as_deref()),
            (Status::InvalidArgument, Some("message.to"))
        );
    }

    #[test]
    fn more_than_100_recipients_are_refused_naming_the_first_extra_one() {
        let to: Vec<String> = (0..60).map(|i| format!("t{i}@example.ro")).collect();
        let bcc: Vec<String> = (0..41).map(|i| format!("b{i}@example.ro")).collect();
        let e = err(json!({"from": "a@firma.ro", "to": to, "bcc": bcc, "text": "x"}));
        assert_eq!(e.field.as_deref(), Some("message.bcc[40]"));
        let bcc: Vec<String> = (0..40).map(|i| format!("b{i}@example.ro")).collect();
        assert!(prepare(&doc(json!({"from": "a@firma.ro", "to": to, "bcc": bcc, "text": "x"}))).is_ok());
    }

    #[test]
    fn custom_headers_must_be_strings_with_valid_names_and_not_reserved() {
        let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "headers": {"X-Foo": 5}}));
        assert_eq!(e.field.as_deref(), Some("message.headers.X-Foo"));
        let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "headers": {"X Foo": "v"}}));
        assert_eq!(e.field.as_deref(), Some("message.headers.X Foo"));
        let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "headers": {"bcc": "v@example.ro"}}));
        assert_eq!(e.field.as_deref(), Some("message.headers.bcc"));
        let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "headers": {"Message-ID": "no-at-sign"}}));
        assert_eq!(e.field.as_deref(), Some("message.headers.Message-ID"));
    }

    #[test]
    fn bad_base64_and_bad_attachments_are_refused_naming_the_field() {
        let base = |a: Value| json!({"from": "a@firma.ro", "to": ["b@example.ro"], "text": "x", "attachments": a});
        let e = err(base(
            json!([{"filename": "a.pdf", "content_base64": "AA=="}, {"filename": "b.pdf", "content_base64": "not*base64!"}]),
        ));
        assert_eq!(
            (e.status, e.field.as_deref()),
            (Status::InvalidArgument, Some("message.attachments[1].content_base64"))
        );
        let e = err(base(json!([{"content_base64": "AA=="}])));
        assert_eq!(e.field.as_deref(), Some("message.attachments[0].filename"));
        let e = err(base(json!([{"filename": "x"}])));
        assert_eq!(e.field.as_deref(), Some("message.attachments[0].path"));
        let e = err(base(json!([{"path": "/x", "content_base64": "AA=="}])));
        assert_eq!(e.field.as_deref(), Some("message.attachments[0].content_base64"));
        let e = err(base(
            json!([{"filename": "a", "content_type": "not a type", "content_base64": "AA=="}]),
        ));
        assert_eq!(e.field.as_deref(), Some("message.attachments[0].content_type"));
        let e = err(base(json!([
            {"filename": "a.png", "content_base64": "AA==", "content_id": "x"},
            {"filename": "b.png", "content_base64": "AA==", "content_id": "<x>"}
        ])));
        assert_eq!(e.field.as_deref(), Some("message.attachments[1].content_id"));
        // Base64 with MIME line breaks and without padding is fine.
        assert!(prepare(&doc(base(
            json!([{"filename": "a", "content_base64": "QUJD\r\nREVG\nR0g"}])
        )))
        .is_ok());
    }

    #[test]
    fn missing_attachment_file_is_io_naming_the_field() {
        let e = err(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"], "text": "x",
            "attachments": [{"filename": "a.pdf", "content_base64": "AA=="}, {"path": "/nonexistent/dir/factura.pdf"}]
        }));
        assert_eq!(e.status, Status::Io);
        assert_eq!(e.field.as_deref(), Some("message.attachments[1].path"));
        assert!(e.message.contains("/nonexistent/dir/factura.pdf"));
        let e =
            err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "attachments": [{"path": std::env::temp_dir()}]}));
        assert_eq!(
            (e.status, e.field.as_deref()),
            (Status::Io, Some("message.attachments[0].path"))
        );
    }

    #[test]
    fn a_message_over_35_mib_is_refused_before_sending() {
        // 26 MiB of attachment is about 36.3 MB once base64-encoded with line breaks: over the limit.
        let big = vec![0x5au8; 26 * 1024 * 1024];
        let e = err(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"], "text": "x",
            "attachments": [{"filename": "big.bin", "content_base64": b64(&big)}]
        }));
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.hint, hint::MESSAGE_TOO_LARGE.text);
        assert_eq!(e.field.as_deref(), Some("message.attachments"));
        // Far over the limit is refused before encoding.
        let e = err(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"],
            "attachments": [{"filename": "a.bin", "content_base64": b64(&big)}, {"filename": "b.bin", "content_base64": b64(&big)}]
        }));
        assert_eq!(e.field.as_deref(), Some("message.attachments[1].content_base64"));
        assert_eq!(e.hint, hint::MESSAGE_TOO_LARGE.text);
        // 24 MiB fits.
        let ok = vec![0x5au8; 24 * 1024 * 1024];
        let p = prepare(&doc(json!({
            "from": "a@firma.ro", "to": ["b@example.ro"],
            "attachments": [{"filename": "ok.bin", "content_base64": b64(&ok)}]
        })))
        .unwrap();
        assert!(p.max_len() <= MAX_MESSAGE_BYTES && p.max_len() > 32_000_000);
    }

    #[test]
    fn raw_and_structured_fields_together_are_refused() {
        let e = err(json!({"raw_base64": b64(b"From: a@x.ro\r\nTo: b@y.ro\r\n\r\nhi"), "subject": "x"}));
        assert_eq!(
            (e.status, e.field.as_deref()),
            (Status::InvalidArgument, Some("message.subject"))
        );
        let e = err(json!({"raw_base64": "AA==", "raw_path": "/x"}));
        assert_eq!(e.field.as_deref(), Some("message.raw_base64"));
        let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "envelope": {"to": ["c@x.ro"]}}));
        assert_eq!(e.field.as_deref(), Some("message.envelope"));
    }

    #[test]
    fn raw_message_gets_a_message_id_and_loses_its_bcc_for_smtp_only() {
        let raw = b"From: Firma <a@firma.ro>\nTo: \"Pop, Ion\" <ion@example.ro>, ana@example.ro\nBcc: ascuns@example.ro,\n  sef@example.ro\nSubject: hi\n\nbody\n";
        let p = prepare(&doc(json!({"raw_base64": b64(raw)}))).unwrap();
        let smtp = String::from_utf8(p.smtp_bytes().to_vec()).unwrap();
        assert_eq!(
            smtp,
            format!(
                "From: Firma <a@firma.ro>\r\nTo: \"Pop, Ion\" <ion@example.ro>, ana@example.ro\r\nSubject: hi\r\nMessage-ID: {}\r\n\r\nbody\r\n",
                p.message_id
            )
        );
        assert!(p.message_id.ends_with("@firma.ro>"));
        let api = String::from_utf8(p.gmail_api_bytes().into_owned()).unwrap();
        assert_eq!(
            api,
            format!(
                "From: Firma <a@firma.ro>\r\nTo: \"Pop, Ion\" <ion@example.ro>, ana@example.ro\r\nBcc: ascuns@example.ro,\r\n  sef@example.ro\r\nSubject: hi\r\nMessage-ID: {}\r\n\r\nbody\r\n",
                p.message_id
            )
        );
        let to: Vec<_> = p.envelope.to.iter().map(|r| r.address.to_string()).collect();
        assert_eq!(
            to,
            [
                "ion@example.ro",
                "ana@example.ro",
                "ascuns@example.ro",
                "sef@example.ro"
            ]
        );
        assert_eq!(p.envelope.from.to_string(), "a@firma.ro");
    }

    #[test]
    fn raw_message_keeps_its_message_id_and_honours_the_envelope() {
        let raw = b"Message-ID: <abc@firma.ro>\r\nFrom: a@firma.ro\r\nTo: undisclosed-recipients:;\r\n\r\nx";
        let p = prepare(&doc(json!({
            "raw_base64": b64(raw), "envelope": {"from": "bounce@firma.ro", "to": ["x@example.ro"]}
        })))
        .unwrap();
        assert_eq!(p.message_id, "<abc@firma.ro>");
        assert_eq!(p.smtp_bytes(), raw);
        assert_eq!(p.envelope.from.to_string(), "bounce@firma.ro");
        assert_eq!(p.envelope.to[0].field, "message.envelope.to[0]");
        // Without the envelope there is no recipient.
        let e = err(json!({"raw_base64": b64(raw)}));
        assert_eq!(e.field.as_deref(), Some("message.raw_base64"));
        let e = err(json!({"raw_base64": b64(raw), "envelope": {"to": ["bad"]}}));
        assert_eq!(e.field.as_deref(), Some("message.envelope.to[0]"));
    }

    /// Windows hosts keep invoices under folders such as `C:\Facturi ș\`: a path with non-ASCII
    /// characters reaches the file system unchanged (std turns UTF-8 into UTF-16 on Windows) and
    /// the attachment is named after the file's base name, diacritics included.
    #[test]
    fn paths_with_diacritics_are_read_and_name_the_attachment() {
        let dir = std::env::temp_dir().join(format!("oauthmail-msg-ăîș-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("Factură țeavă.pdf");
        std::fs::write(&file, b"%PDF-1.4").unwrap();
        let raw = dir.join("mesaj ș.eml");
        std::fs::write(&raw, b"From: a@firma.ro\r\nTo: b@example.ro\r\nSubject: s\r\n\r\nx\r\n").unwrap();
        let structured = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
            "attachments": [{"path": file.to_str().unwrap()}]
        })));
        let raw = prepare(&doc(json!({"raw_path": raw.to_str().unwrap()})));
        std::fs::remove_dir_all(&dir).ok();
        let text = String::from_utf8(structured.unwrap().smtp_bytes().to_vec()).unwrap();
        let part = parts_with(&text, "Content-Disposition: attachment")[0];
        let disposition = header(part.split_once("\r\n").unwrap().1, "Content-Disposition").unwrap();
        assert_eq!(decode_2231(&disposition, "filename"), "Factură țeavă.pdf");
        assert_eq!(raw.unwrap().envelope.to[0].address.to_string(), "b@example.ro");
    }

    #[test]
    fn raw_path_that_does_not_exist_is_io_naming_the_field() {
        let e = err(json!({"raw_path": "/nonexistent/message.eml"}));
        assert_eq!((e.status, e.field.as_deref()), (Status::Io, Some("message.raw_path")));
        let e = err(json!({"raw_base64": "@@@"}));
        assert_eq!(
            (e.status, e.field.as_deref()),
            (Status::InvalidArgument, Some("message.raw_base64"))
        );
    }

    #[test]
    fn address_lists_are_parsed_with_groups_comments_and_quotes() {
        let list = parse_address_list(
            "\"Doe, John\" <j@x.ro>, (comment) k@y.ro, Team: a@t.ro, b@t.ro;, =?utf-8?b?yJk=?= <s@z.ro>",
        )
        .unwrap();
        let list: Vec<_> = list.iter().map(|a| a.to_string()).collect();
        assert_eq!(list, ["j@x.ro", "k@y.ro", "a@t.ro", "b@t.ro", "s@z.ro"]);
        assert!(parse_address_list("ok@x.ro, not-an-address").is_err());
    }
}
