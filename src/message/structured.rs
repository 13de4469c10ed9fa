//! A message built from the document's fields: From, To, Cc, Bcc, Reply-To, Subject, custom
//! headers, text and HTML bodies, attachments and inline images. lettre writes the MIME
//! structure and the RFC 2047 / RFC 2231 encodings; the checks before it name the field at fault.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use lettre::message::header::{self, ContentType, HeaderName, HeaderValue, Headers};
use lettre::message::{Attachment, Body, Mailboxes, MultiPart, SinglePart};

use super::address::{no_line_breaks, parse_mailbox, RecipientList};
use super::id::{new_message_id, normalise_message_id};
use super::input::{decode_base64, open_attachment, AttachmentFile};
use super::raw::header_end;
use super::stream::FileBody;
use super::{AttachmentDocument, Envelope, MessageDocument, PreparedMessage, MAX_MESSAGE_BYTES};
use crate::error::{Error, Result};
use crate::hint;

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

pub(super) fn prepare_structured(doc: &MessageDocument) -> Result<PreparedMessage> {
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

    let (parts, streams) = read_attachments(&doc.attachments)?;

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
    drop(message);
    let files = cut_markers(&mut data, streams)?;
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
        files,
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

/// A path attachment that is encoded while the message is sent: the text lettre wrote as its body
/// (a random marker, pre-encoded), found in the formatted message and replaced by the file.
struct Streamed {
    marker: String,
    body: FileBody,
}

/// Takes each streamed attachment's marker out of the formatted message and says where its file
/// goes instead: (offset in `data`, file), in order. The headers always come before the first.
fn cut_markers(data: &mut Vec<u8>, streams: Vec<Streamed>) -> Result<Vec<(usize, Arc<FileBody>)>> {
    let mut found = Vec::with_capacity(streams.len());
    for s in streams {
        let at = data
            .windows(s.marker.len())
            .position(|w| w == s.marker.as_bytes())
            .ok_or_else(|| Error::internal("an attachment's place in the message was not found"))?;
        found.push((at, s.marker.len(), s.body));
    }
    found.sort_by_key(|(at, _, _)| std::cmp::Reverse(*at));
    for (at, len, _) in &found {
        data.drain(*at..*at + *len);
    }
    found.reverse();
    let mut removed = 0;
    Ok(found
        .into_iter()
        .map(|(at, len, body)| {
            let place = at - removed;
            removed += len;
            (place, Arc::new(body))
        })
        .collect())
}

/// A marker no message text can contain by chance: 128 random bits.
fn new_marker(i: usize) -> String {
    let mut random = [0u8; 16];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut random).is_err() {
        // Never expected; still unique within the message (checked when it is split).
        random[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    let mut text = String::from("oauthmailstream");
    for b in random {
        let _ = write!(text, "{b:02x}");
    }
    let _ = write!(text, "x{i}");
    text
}

fn read_attachments(docs: &[AttachmentDocument]) -> Result<(Vec<Part>, Vec<Streamed>)> {
    let mut parts = Vec::with_capacity(docs.len());
    let mut streams = Vec::new();
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
        let (content, default_name) = match (&a.path, &a.content_base64) {
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
                let file = open_attachment(path, &field("path"))?;
                let name = Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .filter(|n| !n.is_empty());
                (file, name)
            }
            (None, Some(b64)) => (
                AttachmentFile::Bytes(decode_base64(b64, &field("content_base64"))?),
                None,
            ),
        };
        let size = match &content {
            AttachmentFile::Bytes(b) => b.len(),
            AttachmentFile::Stream(f) => usize::try_from(f.size()).unwrap_or(usize::MAX),
        };
        total = total.saturating_add(size);
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
            match content {
                AttachmentFile::Bytes(bytes) => Body::new_with_encoding(bytes, header::ContentTransferEncoding::Base64)
                    .map_err(|_| Error::internal("base64 encoding refused"))?,
                AttachmentFile::Stream(body) => {
                    let marker = new_marker(i);
                    let pre_encoded = Body::dangerous_pre_encoded(
                        marker.clone().into_bytes(),
                        header::ContentTransferEncoding::Base64,
                    );
                    streams.push(Streamed { marker, body });
                    pre_encoded
                }
            },
            content_type,
        );
        parts.push(Part {
            inline: content_id.is_some(),
            part,
        });
    }
    Ok((parts, streams))
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
