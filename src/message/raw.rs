//! A raw message: RFC 5322 bytes the host wrote itself (`raw_path`, `raw_base64`). Taken as it
//! is, except that line endings become CRLF, a Message-ID is added when it has none, and its Bcc
//! fields are kept apart for the Gmail API alone. The envelope comes from `envelope` or from
//! the From/Sender, To, Cc and Bcc fields.

use super::address::{no_line_breaks, parse_address, parse_address_list, RecipientList};
use super::id::{new_message_id, normalise_message_id};
use super::input::{decode_base64, read_file};
use super::{Envelope, EnvelopeDocument, PreparedMessage, MAX_MESSAGE_BYTES};
use crate::error::{Error, Result};
use crate::hint;

pub(super) enum RawSource<'a> {
    Path(&'a str),
    Base64(&'a str),
}

pub(super) fn prepare_raw(source: RawSource<'_>, envelope: Option<&EnvelopeDocument>) -> Result<PreparedMessage> {
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
        files: Vec::new(),
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
pub(super) fn header_end(data: &[u8]) -> usize {
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
