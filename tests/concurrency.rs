//! Many threads sending at once while the grant changes under them: the access token expires at
//! the provider a third of the way through, and the user revokes the app two thirds of the way
//! through. Two hosts: one that keeps sending with the token document it started with (it never
//! stores the refreshed token a send returns), on one handle; and one that shares one token
//! document between two handles and stores the `token` a send returns, as API.md asks.
//!
//! The promises (docs/reliability.md, "Refreshes are shared"):
//! - every message is delivered at most once, and every send that returned OK exactly once;
//! - before the revoke every send succeeds: an expired token costs a refresh and one retry;
//! - refreshes are shared: for one expiry, a handle makes one token-endpoint call however many
//!   threads hit the expired token, whether or not the host stores the refreshed token; after
//!   the revoke, a send makes at most one;
//! - after the revoke, every send that starts returns REAUTHORIZE (`invalid_grant`), so the
//!   host's "connect the account again" flow starts; the sends already in flight when it happened
//!   may end either way.

mod send_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthmail::token::TokenDocument;
use oauthmail::{Client, Status};
use send_common::*;
use serde_json::json;

const THREADS: usize = 8;
const SENDS: usize = 250;

#[test]
fn eight_threads_on_one_handle_with_the_original_token_survive_expiry_and_stop_with_reauthorize_after_revoke() {
    run(1, Host::KeepsTheOriginalToken);
}

#[test]
fn eight_threads_on_two_handles_sharing_one_stored_token_survive_expiry_and_stop_with_reauthorize_after_revoke() {
    run(2, Host::StoresTheReturnedToken);
}

/// What the host does with the `token` a send result carries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Host {
    KeepsTheOriginalToken,
    StoresTheReturnedToken,
}

/// One send as a thread saw it.
struct Sent {
    recipient: String,
    started: Instant,
    ended: Instant,
    outcome: Result<(), (Status, String, Option<String>)>,
}

fn run(handles: usize, host: Host) {
    let s = standin();
    let clients: Vec<Arc<Client>> = (0..handles)
        .map(|_| {
            Arc::new(
                Client::new(config(
                    &s,
                    Via::GmailApi,
                    json!({"timeouts": {"connect_s": 5, "io_s": 10}}),
                ))
                .unwrap(),
            )
        })
        .collect();
    // The host's one token document, shared by every thread and handle.
    let doc: Arc<Mutex<Arc<TokenDocument>>> = Arc::new(Mutex::new(Arc::new(token(&s, SEND_SCOPE))));
    let total = THREADS * SENDS;
    let done = Arc::new(AtomicUsize::new(0));
    let log: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let started = Instant::now();

    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (c, doc, done, log) = (
                Arc::clone(&clients[i % handles]),
                Arc::clone(&doc),
                Arc::clone(&done),
                Arc::clone(&log),
            );
            std::thread::spawn(move || {
                for n in 0..SENDS {
                    let recipient = format!("t{i}.{n}@example.ro");
                    let m = message(json!({"from": USER, "to": [recipient.clone()], "text": "x"}));
                    let t0 = Instant::now();
                    let current = Arc::clone(&doc.lock().unwrap());
                    let outcome = c.send(&*current, &m).map(|r| {
                        if let (Some(fresh), Host::StoresTheReturnedToken) = (r.token, host) {
                            *doc.lock().unwrap() = Arc::new(fresh);
                        }
                    });
                    let outcome = outcome.map_err(|e| {
                        let provider_error = e.to_document()["error"]["provider"]["error"]
                            .as_str()
                            .map(str::to_string);
                        (e.status, e.message.clone(), provider_error)
                    });
                    let sent = Sent {
                        recipient,
                        started: t0,
                        ended: Instant::now(),
                        outcome,
                    };
                    log.lock().unwrap().push(sent);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // The controller: expire at a third, revoke at two thirds, reading the token counter around each.
    let wait_for = |n: usize| {
        let limit = Instant::now() + Duration::from_secs(300);
        while done.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < limit,
                "the sends stalled at {}",
                done.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for(total / 3);
    let refreshes_before_expiry = refreshes(&s);
    let expired = control(&s, "POST", "/tokens/expire", Some(json!({"email": USER})));
    assert!(expired["expired"].as_i64().unwrap() >= 1, "{expired}");
    wait_for(2 * total / 3);
    let refreshes_before_revoke = refreshes(&s);
    let revoking_at = Instant::now();
    let revoked = control(&s, "POST", "/revoke", Some(json!({"email": USER})));
    assert!(revoked["revoked"].as_i64().unwrap() >= 1, "{revoked}");
    let revoked_at = Instant::now();
    let refreshes_at_revoke = refreshes(&s);
    for w in workers {
        w.join().unwrap();
    }
    let refreshes_after = refreshes(&s);
    let elapsed = started.elapsed();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), total);

    // At most once; OK means exactly once; a failure that did not say "may have been delivered"
    // means not at all.
    let mut delivered = std::collections::HashMap::<String, usize>::new();
    for m in s.messages() {
        for to in envelope_to(&m) {
            *delivered.entry(to.to_string()).or_default() += 1;
        }
    }
    let mut broken = Vec::new();
    for sent in log.iter() {
        let n = delivered.get(&sent.recipient).copied().unwrap_or(0);
        match &sent.outcome {
            Ok(()) if n != 1 => broken.push(format!("{}: OK but delivered {n} times", sent.recipient)),
            Err((_, msg, _)) if n > 1 || (n == 1 && !msg.contains("may have")) => {
                broken.push(format!("{}: failed ({msg}) but delivered {n} times", sent.recipient))
            }
            _ => {}
        }
    }

    // Before the revoke every send succeeds (the expiry is absorbed by one refresh and one retry).
    let before_revoke: Vec<&Sent> = log.iter().filter(|m| m.ended < revoking_at).collect();
    for m in before_revoke.iter().filter(|m| m.outcome.is_err()) {
        broken.push(format!(
            "{} failed before the revoke: {:?}",
            m.recipient,
            m.outcome.as_ref().unwrap_err()
        ));
    }
    // After it, every send that started returns REAUTHORIZE with invalid_grant.
    let after: Vec<&Sent> = log.iter().filter(|m| m.started > revoked_at).collect();
    let mut wrong_after = std::collections::BTreeMap::<String, usize>::new();
    for m in &after {
        match &m.outcome {
            Err((Status::Reauthorize, _, Some(e))) if e == "invalid_grant" => {}
            Ok(()) => *wrong_after.entry("OK".into()).or_default() += 1,
            Err((status, msg, _)) => *wrong_after.entry(format!("{status:?}: {msg}")).or_default() += 1,
        }
    }
    for (what, n) in &wrong_after {
        broken.push(format!(
            "{n} of {} sends started after the revoke returned {what}",
            after.len()
        ));
    }
    // Sends that straddled the revoke may end either way, but are few: at most one per thread.
    let straddling = log
        .iter()
        .filter(|m| m.started <= revoked_at && m.ended >= revoked_at)
        .count();
    assert!(
        straddling <= THREADS,
        "{straddling} sends in flight at once with {THREADS} threads"
    );

    // Refresh calls: none while the token is good; one per handle for the expiry; after the
    // revoke, at most one per send.
    let expiry_refreshes = refreshes_before_revoke - refreshes_before_expiry;
    if refreshes_before_expiry != 0 {
        broken.push(format!("{refreshes_before_expiry} refreshes before the token expired"));
    }
    let bound = handles as i64;
    if expiry_refreshes < 1 || expiry_refreshes > bound {
        broken.push(format!(
            "{expiry_refreshes} refreshes for one expiry on {handles} handle(s), want 1..={bound} ({host:?})"
        ));
    }
    let sends_after_revoke = log.iter().filter(|m| m.ended >= revoked_at).count() as i64;
    let revoke_refreshes = refreshes_after - refreshes_at_revoke;
    if revoke_refreshes > sends_after_revoke {
        broken.push(format!(
            "{revoke_refreshes} refreshes after the revoke for {sends_after_revoke} sends (more than one per send)"
        ));
    }
    if !after.is_empty() && revoke_refreshes == 0 {
        broken.push("no refresh at all after the revoke: a cached token was trusted".into());
    }

    println!(
        "{host:?}, {handles} handle(s), {THREADS}×{SENDS} sends in {elapsed:?}: {} delivered, {} after the revoke, \
         refreshes {refreshes_before_expiry}/{expiry_refreshes}/{revoke_refreshes} (before expiry/expiry/after revoke)",
        delivered.len(),
        after.len()
    );
    assert!(
        broken.is_empty(),
        "{} promise(s) broken:\n{}",
        broken.len(),
        broken.join("\n")
    );
}
