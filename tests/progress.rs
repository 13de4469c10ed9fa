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
