//! The mailbox: one `.eml` (bytes as received) plus a `.json` sidecar per accepted message
//! (README "Mailbox"). The sidecar is written last, through a rename, so a reader that sees it
//! also sees the complete `.eml`.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::mime;
use crate::state::{random_string, Shared, HEX};

pub struct Delivery {
    pub transport: &'static str,
    pub account: String,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub bytes: Vec<u8>,
    /// For the API: `threadId` from the request, if any.
    pub thread_id: Option<String>,
    pub upload_type: Option<&'static str>,
    pub smtp: Option<Value>,
}

pub struct Delivered {
    pub id: String,
    pub thread_id: String,
    pub label_ids: Vec<String>,
}

pub fn deliver(shared: &Shared, d: Delivery) -> std::io::Result<Delivered> {
    deliver_with(shared, d, None)
}

/// [`deliver`] with one more sidecar field (`(name, value)`, e.g. Microsoft's `"microsoft"`).
pub fn deliver_with(shared: &Shared, d: Delivery, extra: Option<(&str, Value)>) -> std::io::Result<Delivered> {
    let (seq, now, may_send) = {
        let mut st = shared.lock();
        st.mail_seq += 1;
        let h = mime::headers(&d.bytes);
        let from = mime::header(&h, "from")
            .first()
            .and_then(|v| mime::addresses(v).ok())
            .and_then(|v| v.into_iter().next());
        let may = from.as_deref().map(|f| st.users.may_send_as(&d.account, f));
        st.counters.smtp_messages += u64::from(d.transport == "smtp");
        (st.mail_seq, st.now(), may)
    };
    let id = format!("19{}", random_string(14, HEX));
    let thread_id = d.thread_id.clone().unwrap_or_else(|| id.clone());
    let mut labels = vec!["SENT".to_string()];
    if d.envelope_to.iter().any(|t| t.eq_ignore_ascii_case(&d.account)) {
        labels = vec!["UNREAD".into(), "SENT".into(), "INBOX".into()];
    }
    let base = format!("{seq:06}-{id}");
    let dir = &shared.mailbox_dir;
    fs::write(dir.join(format!("{base}.eml")), &d.bytes)?;
    let headers = mime::headers(&d.bytes);
    let from_header = mime::header(&headers, "from").first().map(|s| s.to_string());
    let from_rewritten = if may_send != Some(true) {
        let delivered_eml = format!("{base}.delivered.eml");
        fs::write(dir.join(&delivered_eml), mime::rewrite_from(&d.bytes, &d.account))?;
        json!({"original": from_header, "delivered": d.account, "delivered_eml": delivered_eml})
    } else {
        Value::Null
    };
    let gmail_api = if d.transport == "gmail_api" {
        json!({"id": id, "threadId": thread_id, "labelIds": labels, "upload_type": d.upload_type})
    } else {
        Value::Null
    };
    let sidecar = json!({
        "id": id,
        "seq": seq,
        "transport": d.transport,
        "account": d.account,
        "envelope": {"from": d.envelope_from, "to": d.envelope_to},
        "gmail_api": gmail_api,
        "smtp": d.smtp.unwrap_or(Value::Null),
        "size": d.bytes.len(),
        "received_at": now,
        "eml": format!("{base}.eml"),
        "from_header": from_header,
        "from_rewritten": from_rewritten,
    });
    let mut sidecar = sidecar;
    if let Some((k, v)) = extra {
        sidecar[k] = v;
    }
    let tmp = dir.join(format!(".{base}.json.tmp"));
    fs::write(&tmp, serde_json::to_vec_pretty(&sidecar).unwrap_or_default())?;
    fs::rename(&tmp, dir.join(format!("{base}.json")))?;
    shared.log(&format!(
        "mailbox: {} message {id} from {} ({} bytes)",
        d.transport,
        d.account,
        d.bytes.len()
    ));
    Ok(Delivered {
        id,
        thread_id,
        label_ids: labels,
    })
}

/// Every sidecar, in arrival order.
pub fn list(dir: &Path) -> Vec<Value> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|n| fs::read(dir.join(n)).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

pub fn find(dir: &Path, id: &str) -> Option<Value> {
    list(dir).into_iter().find(|m| m["id"].as_str() == Some(id))
}

pub fn clear(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            let _ = fs::remove_file(e.path());
        }
    }
}
