//! Message-IDs: the one a message brings, checked, or a new one.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn normalise_message_id(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = v.strip_prefix('<').and_then(|v| v.strip_suffix('>')).unwrap_or(v);
    let ok = !inner.is_empty()
        && inner.contains('@')
        && inner.bytes().all(|b| (33..=126).contains(&b) && b != b'<' && b != b'>');
    ok.then(|| format!("<{inner}>"))
}

/// `<time.random@domain-of-the-sender>`: unique without revealing anything about the machine.
pub(super) fn new_message_id(domain: &str) -> String {
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
