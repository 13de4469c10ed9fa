//! Just enough RFC 5322 / MIME to read the header block of a message (From, To, Cc, Bcc),
//! rewrite From, and split a `multipart/related` upload.

/// The unfolded header fields of a message, in order.
pub fn headers(msg: &[u8]) -> Vec<(String, String)> {
    let end = header_end(msg);
    let text = String::from_utf8_lossy(&msg[..end]);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Byte offset where the header block ends (the start of the blank line), or the length.
pub fn header_end(msg: &[u8]) -> usize {
    if msg.starts_with(b"\r\n") || msg.starts_with(b"\n") {
        return 0;
    }
    for i in 0..msg.len() {
        if msg[i] == b'\n' {
            let rest = &msg[i + 1..];
            if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
                return i + 1;
            }
        }
    }
    msg.len()
}

pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Splits an address list on commas outside quotes, angle brackets and comments.
fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quote, mut angle, mut paren) = (false, false, 0);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            '"' if paren == 0 => quote = !quote,
            '<' if !quote && paren == 0 => angle = true,
            '>' if !quote && paren == 0 => angle = false,
            '(' if !quote => paren += 1,
            ')' if !quote && paren > 0 => paren -= 1,
            ',' if !quote && !angle && paren == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut quote) = (0, false);
    for c in s.chars() {
        match c {
            '"' if depth == 0 => {
                quote = !quote;
                out.push(c)
            }
            '(' if !quote => depth += 1,
            ')' if !quote && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

pub fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && domain.contains('.')
}

/// The addresses of an address-list header; `Err` when an entry is not an address.
pub fn addresses(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in split_list(value) {
        // Group syntax: "name: a@b, c@d;" (split_list already split the members).
        let part = match part.split_once(':') {
            Some((_, rest)) if !part.contains('<') || part.find(':') < part.find('<') => rest.trim().to_string(),
            _ => part,
        };
        let part = part.trim_end_matches(';').trim().to_string();
        if part.is_empty() {
            continue;
        }
        let part = strip_comments(&part);
        let addr = match (part.rfind('<'), part.rfind('>')) {
            (Some(a), Some(b)) if a < b => part[a + 1..b].trim().to_string(),
            (None, None) => part.trim().to_string(),
            _ => return Err(part),
        };
        if !valid_address(&addr) {
            return Err(part);
        }
        out.push(addr);
    }
    Ok(out)
}

/// Replaces the From field (with its folded lines) by `From: new`.
pub fn rewrite_from(msg: &[u8], new: &str) -> Vec<u8> {
    let end = header_end(msg);
    let mut out = Vec::with_capacity(msg.len() + new.len());
    let mut i = 0;
    let mut replaced = false;
    let mut skipping = false;
    while i < end {
        let nl = msg[i..end]
            .iter()
            .position(|b| *b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(end);
        let line = &msg[i..nl];
        let cont = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if cont && skipping {
            i = nl;
            continue;
        }
        skipping = false;
        if !cont && line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"from:") {
            skipping = true;
            if !replaced {
                out.extend_from_slice(format!("From: {new}\r\n").as_bytes());
                replaced = true;
            }
            i = nl;
            continue;
        }
        out.extend_from_slice(line);
        i = nl;
    }
    if !replaced {
        let mut v = format!("From: {new}\r\n").into_bytes();
        v.extend_from_slice(&out);
        out = v;
    }
    out.extend_from_slice(&msg[end..]);
    out
}

/// A content-type parameter (`boundary`), unquoted.
pub fn content_type_param(ct: &str, name: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Splits a multipart body on `--boundary` lines. The body of each part is byte-exact (the CRLF
/// before the next delimiter belongs to the delimiter).
pub fn multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delim = format!("--{boundary}").into_bytes();
    let mut positions = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if body[i..].starts_with(&delim) && (i == 0 || body[i - 1] == b'\n') {
            positions.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for w in positions.windows(2) {
        let start = w[0] + delim.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let mut s = start;
        // Skip transport padding and the line break after the delimiter.
        while s < w[1] && (body[s] == b' ' || body[s] == b'\t') {
            s += 1;
        }
        if body[s..].starts_with(b"\r\n") {
            s += 2;
        } else if body[s..].starts_with(b"\n") {
            s += 1;
        }
        let mut e = w[1];
        if e >= 2 && &body[e - 2..e] == b"\r\n" {
            e -= 2;
        } else if e >= 1 && body[e - 1] == b'\n' {
            e -= 1;
        }
        let part = &body[s..e.max(s)];
        let hend = header_end(part);
        let headers = headers(part);
        let mut bstart = hend;
        if part[bstart..].starts_with(b"\r\n") {
            bstart += 2;
        } else if part[bstart..].starts_with(b"\n") {
            bstart += 1;
        }
        parts.push(Part {
            headers,
            body: part[bstart.min(part.len())..].to_vec(),
        });
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_angle_form_and_skip_names_with_commas() {
        let v = addresses("\"Pop, Ion\" <ion@firma.ro>, b@y.example (x), Grup: c@z.example;").unwrap();
        assert_eq!(v, ["ion@firma.ro", "b@y.example", "c@z.example"]);
        assert!(addresses("not an address").is_err());
    }

    #[test]
    fn rewrite_from_replaces_folded_from_only() {
        let m = b"Subject: s\r\nFrom: A\r\n <a@x.example>\r\nTo: b@y.example\r\n\r\nFrom: body\r\n";
        let r = rewrite_from(m, "me@gmail.com");
        assert_eq!(
            r,
            b"Subject: s\r\nFrom: me@gmail.com\r\nTo: b@y.example\r\n\r\nFrom: body\r\n".to_vec()
        );
    }

    #[test]
    fn multipart_parts_are_byte_exact() {
        let b = b"--xx\r\nContent-Type: application/json\r\n\r\n{}\r\n--xx\r\nContent-Type: message/rfc822\r\n\r\nA: b\r\n\r\nbody\r\n\r\n--xx--\r\n";
        let p = multipart(b, "xx").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].body, b"{}");
        assert_eq!(p[1].body, b"A: b\r\n\r\nbody\r\n");
    }
}
