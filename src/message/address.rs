//! Addresses: one mailbox of a document field, an RFC 5322 address list of a raw message's
//! header, the envelope's recipient list (one RCPT per address, at most 100), and the check
//! that keeps line breaks out of header values.

use std::collections::HashSet;
use std::str::FromStr;

use lettre::message::Mailbox;
use lettre::Address;

use super::{Recipient, MAX_RECIPIENTS};
use crate::error::{Error, Result};

/// The addr-specs of an RFC 5322 address list (display names, comments, groups and RFC 2047 words
/// allowed); `Err` carries the first item that is not an address.
pub(super) fn parse_address_list(value: &str) -> std::result::Result<Vec<Address>, String> {
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

pub(super) fn parse_address(s: &str) -> Option<Address> {
    let s = s.trim();
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Address::from_str(s).ok()
}

#[derive(Default)]
pub(super) struct RecipientList {
    pub(super) list: Vec<Recipient>,
    seen: HashSet<String>,
}

impl RecipientList {
    pub(super) fn push(&mut self, address: Address, field: String) {
        // One RCPT per address: Gmail counts every RCPT against the 100-recipient limit.
        if self.seen.insert(address.to_string().to_ascii_lowercase()) {
            self.list.push(Recipient { address, field });
        }
    }

    pub(super) fn check(&self, empty_field: &str) -> Result<()> {
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
pub(super) fn no_line_breaks(value: &str, field: &str) -> Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(Error::invalid(
            field,
            "the value contains a line break (CR or LF), which is not allowed in a header",
        ));
    }
    Ok(())
}

/// One address with an optional display name: `Ion Popescu <ion@example.ro>` or `ion@example.ro`.
pub(super) fn parse_mailbox(text: &str, field: &str) -> Result<Mailbox> {
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
