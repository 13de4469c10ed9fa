//! The message path end to end: documents in, bytes and envelopes out.

use base64::Engine as _;

use super::address::parse_address_list;
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
    assert!(header(&text, "Content-Type").unwrap().starts_with("text/html"));
    let p = prepare(&doc(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "text": "x"}))).unwrap();
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
    assert!(header(&text, "Content-Type").unwrap().starts_with("text/plain"));
}

#[test]
fn bcc_is_never_in_the_smtp_bytes_but_is_in_the_envelope_and_the_gmail_api_bytes() {
    let p = prepare(&doc(json!({
        "from": "office@firma.ro", "to": ["ion@example.ro"], "cc": ["cc@example.ro"],
        "bcc": ["Șef <sef@example.ro>", "ascuns@example.ro"], "text": "x"
    })))
    .unwrap();
    let smtp = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
    // No Bcc field (not a substring search: the random Message-ID and boundary may hold "bcc").
    assert!(
        !smtp.split("\r\n").any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{smtp}"
    );
    assert!(!smtp.contains("sef@example.ro") && !smtp.contains("ascuns@"));
    let api = String::from_utf8(p.gmail_api_bytes().unwrap().into_owned()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let text = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
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
    let e = err(json!({"from": "a@firma.ro", "to": ["b@example.ro"], "attachments": [{"path": std::env::temp_dir()}]}));
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
    let smtp = String::from_utf8(p.smtp_bytes().unwrap().to_vec()).unwrap();
    assert_eq!(
        smtp,
        format!(
            "From: Firma <a@firma.ro>\r\nTo: \"Pop, Ion\" <ion@example.ro>, ana@example.ro\r\nSubject: hi\r\nMessage-ID: {}\r\n\r\nbody\r\n",
            p.message_id
        )
    );
    assert!(p.message_id.ends_with("@firma.ro>"));
    let api = String::from_utf8(p.gmail_api_bytes().unwrap().into_owned()).unwrap();
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
    assert_eq!(&*p.smtp_bytes().unwrap(), raw);
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
    let text = String::from_utf8(structured.unwrap().smtp_bytes().unwrap().to_vec()).unwrap();
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

/// Files over 64 KiB are streamed: the message holds only the text around them, and what the
/// readers give is byte for byte what lettre writes for the same bytes in memory (76-character
/// lines, CRLF between them, none after the last), at sizes around a line and a chunk.
#[test]
fn a_big_path_attachment_is_streamed_as_lettre_would_encode_it() {
    use lettre::message::header::ContentTransferEncoding;
    use lettre::message::Body;
    let dir = std::env::temp_dir().join(format!("oauthmail-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for size in [65_537usize, 57 * 1150, 57 * 1150 + 1, 57 * 2300 - 1, 300_001] {
        let content: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
        let path = dir.join(format!("f{size}.bin"));
        std::fs::write(&path, &content).unwrap();
        let p = prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "bcc": ["sef@example.ro"],
            "text": ".dot at a line start\r\nx",
            "attachments": [{"path": path.to_str().unwrap()}, {"filename": "mic.txt", "content_base64": b64(b"mic")}]
        })))
        .unwrap();
        assert_eq!(p.files.len(), 1, "{size}");
        assert!(
            p.data.len() < 4096,
            "{size}: the file is not in the message: {}",
            p.data.len()
        );
        let smtp = p.smtp_bytes().unwrap();
        assert_eq!(smtp.len() as u64, p.smtp_len(), "{size}");
        let expected = Body::new_with_encoding(content.clone(), ContentTransferEncoding::Base64).unwrap();
        let expected = std::str::from_utf8(expected.as_ref()).unwrap();
        let text = std::str::from_utf8(&smtp).unwrap();
        assert!(text.contains(&format!("\r\n\r\n{expected}\r\n--")), "{size}");
        assert!(!text.contains("oauthmailstream"), "{size}: no marker left");
        let api = p.gmail_api_bytes().unwrap();
        assert_eq!(api.len() as u64, p.gmail_api_len(), "{size}");
        let api = std::str::from_utf8(&api).unwrap();
        assert_eq!(header(api, "Bcc").as_deref(), Some("sef@example.ro"), "{size}");
        assert_eq!(api.replace("Bcc: sef@example.ro\r\n", ""), text, "{size}");
        // The dot-stuffing figures agree with the bytes.
        let dots = text.split("\r\n").filter(|l| l.starts_with('.')).count() as u64;
        assert_eq!(p.smtp_lines(), (dots, !text.ends_with("\r\n")), "{size}");
        assert_eq!(dots, 1);
        // A clone reads the same file again from its start.
        assert_eq!(p.clone().smtp_bytes().unwrap(), smtp, "{size}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The file is checked when the message is prepared and again while it is read: shorter,
/// longer, or the same size with another modification time fails the read (never a message
/// cut short that looks whole); the size limit counts a streamed file before anything is sent.
#[test]
fn a_streamed_file_that_changed_fails_the_read() {
    use std::io::Read as _;
    let dir = std::env::temp_dir().join(format!("oauthmail-stream-changed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f.bin");
    let prepared = || {
        std::fs::write(&path, vec![1u8; 200_000]).unwrap();
        prepare(&doc(json!({
            "from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
            "attachments": [{"path": path.to_str().unwrap()}]
        })))
        .unwrap()
    };
    let read = |p: &PreparedMessage| {
        let mut out = Vec::new();
        p.smtp_reader().read_to_end(&mut out).map(|_| out.len())
    };
    let p = prepared();
    assert_eq!(read(&p).unwrap() as u64, p.smtp_len());
    std::fs::write(&path, vec![1u8; 100_000]).unwrap();
    let e = read(&p).unwrap_err();
    assert!(e.to_string().contains("became shorter"), "{e}");
    let p = prepared();
    std::fs::write(&path, vec![1u8; 200_001]).unwrap();
    assert!(read(&p).unwrap_err().to_string().contains("changed its size"));
    let p = prepared();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(9))
        .unwrap();
    drop(f);
    let e = read(&p).unwrap_err();
    assert!(
        e.to_string().contains("was modified") && e.to_string().contains("f.bin"),
        "{e}"
    );
    assert_eq!(p.smtp_bytes().unwrap_err().status, Status::Io);

    // Over the limit: refused while preparing, from the file's size.
    let big = dir.join("big.bin");
    std::fs::File::create(&big).unwrap().set_len(28 * 1024 * 1024).unwrap();
    let e = err(json!({"from": "office@firma.ro", "to": ["ion@example.ro"], "text": "x",
        "attachments": [{"path": big.to_str().unwrap()}]}));
    assert_eq!(e.status, Status::InvalidArgument, "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
