//! The message document and turning it into RFC 5322 bytes (or taking a raw message as it is).
//!
//! [`prepare`] checks every field and reads every file before anything touches the network, so bad
//! input can never produce a partly sent mail. Its result, [`PreparedMessage`], holds the bytes
//! once, the SMTP envelope, and the Message-ID; the `Bcc` header is kept apart because it goes to
//! one transport only (see [`PreparedMessage::gmail_api_bytes`]).
//!
//! The rooms: this file holds the documents and [`prepare`]; `structured` builds a message from
//! its fields (lettre writes the MIME); `raw` takes a finished message and finds its envelope;
//! `address` parses addresses and address lists and guards header values; `input` reads the
//! files and base64 a document names; `id` makes and checks Message-IDs.
//!
//! The address-list parser and the raw header scanner are ours rather than `mail-parser`'s or
//! `mailparse`'s: the raw path needs the byte ranges of each header field (to insert a
//! Message-ID and to take the Bcc out without touching the rest), which neither exposes, and
//! swapping the address parser would change which inputs are accepted, which a restructuring
//! must not do. MIME types come from a fixed table for the same reason (`mime_guess` answers
//! `text/xml` for `.xml` where the table says `application/xml`).

mod address;
mod id;
mod input;
pub(crate) use input::decode_base64;
mod raw;
mod stream;
mod structured;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::io::Read as _;
use std::sync::Arc;

use lettre::Address;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result, Status};
use crate::hint;

pub use stream::MessageReader;
pub use structured::guess_mime;

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
///
/// Path attachments bigger than 64 KiB are not in memory: `files` says where the base64 of each
/// goes into `data`, and [`PreparedMessage::smtp_reader`] / [`PreparedMessage::gmail_api_reader`]
/// encode them from the open file while the transport writes (see `stream`).
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    /// The message without any `Bcc` header, CRLF line endings, without the streamed files.
    pub(super) data: Vec<u8>,
    /// Each streamed file and the offset in `data` where its base64 lines go, in order.
    pub(super) files: Vec<(usize, Arc<stream::FileBody>)>,
    /// The `Bcc` header field (with its CRLF) and where it goes into `data` (in the header
    /// section, so before any file).
    pub(super) bcc: Option<(usize, Vec<u8>)>,
    pub envelope: Envelope,
    /// The `Message-ID` header's value, `<...@...>`.
    pub message_id: String,
}

impl PreparedMessage {
    fn sources(&self, with_bcc: bool) -> Vec<stream::Source<'_>> {
        use stream::Source;
        let mut cuts: Vec<(usize, Source<'_>)> = self.files.iter().map(|(at, f)| (*at, Source::File(f))).collect();
        if let (true, Some((at, field))) = (with_bcc, &self.bcc) {
            // Before a file at the same offset: the Bcc field is in the header section.
            let i = cuts.partition_point(|(f, _)| *f < *at);
            cuts.insert(i, (*at, Source::Bytes(field)));
        }
        let mut out = Vec::with_capacity(cuts.len() * 2 + 1);
        let mut from = 0;
        for (at, source) in cuts {
            if at > from {
                out.push(Source::Bytes(&self.data[from..at]));
            }
            out.push(source);
            from = at;
        }
        out.push(Source::Bytes(&self.data[from..]));
        out
    }

    /// The message for SMTP `DATA`, read as it is encoded: never a `Bcc` header (Gmail SMTP does
    /// not remove it, so every recipient would see the Bcc list; providers.md §2.7). Bcc
    /// recipients are in the envelope. A read error means the message must not be finished.
    pub fn smtp_reader(&self) -> MessageReader<'_> {
        MessageReader::new(self.sources(false))
    }

    /// The message for the Gmail API, read as it is encoded. The API has no envelope: the `Bcc`
    /// header is the only way it learns the Bcc recipients, and Gmail removes the header before
    /// delivery (providers.md §3.5). So this, and only this, transport gets the header.
    pub fn gmail_api_reader(&self) -> MessageReader<'_> {
        MessageReader::new(self.sources(true))
    }

    /// The bytes of [`PreparedMessage::smtp_reader`] in memory (borrowed when no file is streamed).
    pub fn smtp_bytes(&self) -> Result<Cow<'_, [u8]>> {
        if self.files.is_empty() {
            return Ok(Cow::Borrowed(&self.data));
        }
        read_all(self.smtp_reader())
    }

    /// The bytes of [`PreparedMessage::gmail_api_reader`] in memory (borrowed when there is
    /// neither a Bcc header nor a streamed file).
    pub fn gmail_api_bytes(&self) -> Result<Cow<'_, [u8]>> {
        if self.files.is_empty() && self.bcc.is_none() {
            return Ok(Cow::Borrowed(&self.data));
        }
        read_all(self.gmail_api_reader())
    }

    /// The length of the SMTP message (without `Bcc`).
    pub fn smtp_len(&self) -> u64 {
        self.data.len() as u64 + self.files.iter().map(|(_, f)| f.encoded_len()).sum::<u64>()
    }

    /// The length of the Gmail API message (with `Bcc`).
    pub fn gmail_api_len(&self) -> u64 {
        self.smtp_len() + self.bcc.as_ref().map_or(0, |(_, f)| f.len() as u64)
    }

    /// The largest of the transports' byte counts.
    pub fn max_len(&self) -> usize {
        usize::try_from(self.gmail_api_len()).unwrap_or(usize::MAX)
    }

    /// Whether the message is all ASCII (base64 always is).
    pub fn is_ascii(&self) -> bool {
        self.data.is_ascii() && self.bcc.as_ref().is_none_or(|(_, f)| f.is_ascii())
    }

    /// For SMTP's dot-stuffing (RFC 5321 §4.5.2): how many lines of the SMTP message start with
    /// `.`, and whether a CRLF must be added before the final `.` (the message is not empty and
    /// does not end with one). Known without reading the files: base64 has no `.`, and a file's
    /// lines end in a base64 character.
    pub fn smtp_lines(&self) -> (u64, bool) {
        let mut dots = 0;
        let mut line_start = true;
        let mut ends_crlf = false;
        for source in self.sources(false) {
            match source {
                stream::Source::Bytes(b) => {
                    for &c in b {
                        if line_start && c == b'.' {
                            dots += 1;
                        }
                        line_start = c == b'\n';
                    }
                    if !b.is_empty() {
                        ends_crlf = b.ends_with(b"\r\n");
                    }
                }
                stream::Source::File(f) => {
                    if f.encoded_len() > 0 {
                        line_start = false;
                        ends_crlf = false;
                    }
                }
            }
        }
        (dots, self.smtp_len() > 0 && !ends_crlf)
    }
}

fn read_all(mut reader: MessageReader<'_>) -> Result<Cow<'static, [u8]>> {
    let mut out = Vec::with_capacity(usize::try_from(reader.len()).unwrap_or(0));
    reader
        .read_to_end(&mut out)
        .map_err(|e| Error::new(Status::Io, e.to_string()))?;
    Ok(Cow::Owned(out))
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
        (Some(p), None) => Some(raw::RawSource::Path(p)),
        (None, Some(b)) => Some(raw::RawSource::Base64(b)),
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
            raw::prepare_raw(source, doc.envelope.as_ref())?
        }
        None => {
            if doc.envelope.is_some() {
                return Err(Error::invalid(
                    "message.envelope",
                    "envelope applies only to raw messages (raw_path or raw_base64); the envelope of a structured message comes from to, cc and bcc",
                ));
            }
            structured::prepare_structured(doc)?
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
