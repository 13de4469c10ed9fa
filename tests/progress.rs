//! The upload progress callback (`Client::set_progress`, `oauthmail_client_set_progress`) on both
//! transports against the stand-in: calls on the sending thread, never decreasing, at most about
//! ten a second, ending at the total; a stop from the callback cancels the send before its final
//! data, so nothing is delivered.

mod send_common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use send_common::*;
use serde_json::json;

fn big_message(dir: &std::path::Path) -> oauthmail::message::MessageDocument {
    let path = dir.join("big.bin");
    std::fs::write(&path, (0..=255u8).cycle().take(700_000).collect::<Vec<u8>>()).unwrap();
    message(
        json!({"from": USER, "to": ["ion@example.ro"], "subject": "big", "text": "x",
        "attachments": [{"path": path.to_str().unwrap()}]}),
    )
}

type Calls = Arc<Mutex<Vec<(u64, u64, std::thread::ThreadId)>>>;

fn record(c: &oauthmail::Client, stop: impl Fn(u64, u64) -> bool + Send + Sync + 'static) -> Calls {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    c.set_progress(Some(Arc::new(move |done: u64, total: u64| {
        seen.lock().unwrap().push((done, total, std::thread::current().id()));
        !stop(done, total)
    })));
    calls
}

#[test]
fn progress_is_monotonic_throttled_on_the_calling_thread_and_ends_at_the_total() {
    let s = standin();
    let dir = temp_dir("progress");
    for (via, scope) in [(Via::GmailApi, SEND_SCOPE), (Via::Smtps, MAIL_SCOPE)] {
        let c = client(&s, via);
        let t = token(&s, scope);
        let calls = record(&c, |_, _| false);
        let started = Instant::now();
        c.send(&t, &big_message(&dir)).unwrap();
        let elapsed = started.elapsed();
        let calls = calls.lock().unwrap().clone();
        assert!(calls.len() >= 2, "{via:?}: {calls:?}");
        let total = calls[0].1;
        assert!(total > 700_000, "{via:?}: the whole message data is counted: {total}");
        assert!(
            calls.iter().all(|c| c.1 == total && c.2 == std::thread::current().id()),
            "{via:?}"
        );
        assert!(
            calls.windows(2).all(|w| w[0].0 <= w[1].0),
            "{via:?}: never decreasing: {calls:?}"
        );
        assert_eq!(calls.last().unwrap().0, total, "{via:?}: ends at the total");
        // Throttled: about ten a second, plus the one before the last piece and the last one.
        let allowed = 3 + (elapsed.as_millis() / 100) as usize;
        assert!(calls.len() <= allowed, "{via:?}: {} calls in {elapsed:?}", calls.len());
    }
    assert_eq!(s.messages().len(), 2);
}

#[test]
fn a_stop_from_the_callback_cancels_before_the_final_data_and_delivers_nothing() {
    let s = standin();
    let dir = temp_dir("progress-stop");
    for (via, scope) in [(Via::GmailApi, SEND_SCOPE), (Via::Smtps, MAIL_SCOPE)] {
        let c = client(&s, via);
        let t = token(&s, scope);
        // Stop at the last moment: the call before the last piece.
        let calls = record(&c, |done, total| done > 0 && done + 64 * 1024 >= total);
        let e = c.send(&t, &big_message(&dir)).unwrap_err();
        assert_eq!(e.status, oauthmail::Status::Cancelled, "{via:?}: {e:?}");
        assert!(e.message.contains("nothing was delivered"), "{via:?}: {}", e.message);
        assert!(!e.message.contains("may have been delivered"), "{via:?}: {}", e.message);
        let calls = calls.lock().unwrap().clone();
        assert!(
            calls.last().unwrap().0 < calls[0].1,
            "{via:?}: the total was never reached: {calls:?}"
        );
        // A stop at the very first call works too.
        record(&c, |_, _| true);
        assert_eq!(
            c.send(&t, &big_message(&dir)).unwrap_err().status,
            oauthmail::Status::Cancelled
        );
        // Without a callback the client sends again.
        c.set_progress(None);
        c.send(&t, &simple()).unwrap();
    }
    let list = s.messages();
    assert_eq!(list.len(), 2, "only the two sends without a stop arrived: {list:?}");
    assert!(list.iter().all(|m| m["size"].as_u64().unwrap() < 10_000));
    assert_eq!(counter(&s, "smtp_messages"), 1);
}

/// A path attachment bigger than 64 KiB is encoded from its file while it is sent (bounded
/// memory): it arrives byte for byte on both transports, with a Bcc recipient (the Gmail API
/// copy carries the `Bcc` header inserted into the streamed message, SMTP's never does).
#[test]
fn a_streamed_attachment_arrives_intact_on_both_transports() {
    let s = standin();
    let dir = temp_dir("progress-streamed");
    // Not a multiple of 57 (a base64 line) nor of the 64 KiB chunk: the last line is short.
    let content: Vec<u8> = (0..1_234_567u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.join("raport.bin");
    std::fs::write(&path, &content).unwrap();
    for (via, scope) in [(Via::GmailApi, SEND_SCOPE), (Via::Smtps, MAIL_SCOPE)] {
        let c = client(&s, via);
        let t = token(&s, scope);
        let calls = record(&c, |_, _| false);
        c.send(
            &t,
            &message(
                json!({"from": USER, "to": ["ion@example.ro"], "bcc": ["sef@example.ro"],
                "subject": "streamed", "text": "raportul",
                "attachments": [{"path": path.to_str().unwrap()}]}),
            ),
        )
        .unwrap();
        let (side, eml) = only_message(&s);
        assert_eq!(part_body(&eml, "raport.bin"), content, "{via:?}");
        if via == Via::Smtps {
            assert_eq!(envelope_to(&side), ["ion@example.ro", "sef@example.ro"]);
        }
        // The API learns Bcc from its header (Gmail removes it; the stand-in keeps what it got).
        let bcc = header(&eml, "Bcc");
        match via {
            Via::GmailApi => assert_eq!(bcc.as_deref(), Some("sef@example.ro")),
            _ => assert_eq!(bcc, None, "{via:?}: SMTP data never has a Bcc header"),
        }
        let calls = calls.lock().unwrap().clone();
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{via:?}: {calls:?}");
        assert_eq!(calls.last().unwrap().0, calls[0].1, "{via:?}: ends at the total");
        assert!(
            calls[0].1 as usize >= eml.len() - 200,
            "{via:?}: the total is the whole message"
        );
        s.reset();
    }
}

/// All or nothing with a streamed attachment: a file that becomes shorter, longer, or is
/// rewritten (same size, new modification time) after the message was prepared, while it is
/// being sent, ends the data before its end: the SMTP connection is dropped without the final
/// `.`, the HTTP body ends short of its Content-Length. Nothing is delivered; the error is IO
/// and names the file. The progress callback's first call (after the first chunk was read) is
/// where the file is changed.
#[test]
fn an_attachment_that_changes_while_it_is_sent_delivers_nothing() {
    let s = standin();
    let dir = temp_dir("progress-changed");
    let original: Vec<u8> = (0..=255u8).cycle().take(900_000).collect();
    type Change = fn(&std::path::Path);
    let changes: [(&str, Change); 3] = [
        ("shorter", |p| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(100_000)
                .unwrap()
        }),
        ("longer", |p| {
            use std::io::Write as _;
            std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .unwrap()
                .write_all(b"more")
                .unwrap()
        }),
        ("rewritten", |p| {
            use std::io::{Seek as _, Write as _};
            let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.seek(std::io::SeekFrom::Start(800_000)).unwrap();
            f.write_all(b"changed").unwrap();
            let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
            f.set_modified(later).unwrap();
        }),
    ];
    for (via, scope) in [(Via::GmailApi, SEND_SCOPE), (Via::Smtps, MAIL_SCOPE)] {
        let c = client(&s, via);
        let t = token(&s, scope);
        for (name, change) in changes {
            let path = dir.join(format!("{name}.bin"));
            std::fs::write(&path, &original).unwrap();
            let changed = Arc::new(Mutex::new(false));
            let flag = changed.clone();
            let p = path.clone();
            c.set_progress(Some(Arc::new(move |_done: u64, _total: u64| {
                let mut f = flag.lock().unwrap();
                if !*f {
                    change(&p);
                    *f = true;
                }
                true
            })));
            let doc = message(
                json!({"from": USER, "to": ["ion@example.ro"], "subject": name, "text": "x",
                "attachments": [{"path": path.to_str().unwrap()}]}),
            );
            let e = c.send(&t, &doc).unwrap_err();
            assert!(*changed.lock().unwrap(), "{via:?} {name}");
            assert_eq!(e.status, oauthmail::Status::Io, "{via:?} {name}: {e:?}");
            assert!(
                e.message.contains(&format!("{name}.bin")),
                "{via:?} {name}: {}",
                e.message
            );
            assert!(
                e.message.contains("nothing was delivered"),
                "{via:?} {name}: {}",
                e.message
            );
            assert!(s.messages().is_empty(), "{via:?} {name}: nothing arrived");
        }
        // The client sends again afterwards.
        c.set_progress(None);
        c.send(&t, &simple()).unwrap();
        assert_eq!(s.messages().len(), 1);
        s.reset();
    }
}
