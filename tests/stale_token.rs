//! A token the provider rejected is never retried as fresh (issue 11, defect 1), by both
//! transports, over real sockets against the stand-in.
//!
//! The story: a host keeps sending with the token document it stored at authorization. The
//! client refreshed once and remembered the fresh token. Then the provider invalidates every
//! access token of the account (`/tokens/expire`), later the user revokes the app (`/revoke`).
//! The host's token is rejected; the remembered one is just as dead, so the retry must use a
//! token refreshed after the rejection, and after the revoke the answer is REAUTHORIZE with
//! `invalid_grant`, never AUTH_FAILED with no refresh at all.

mod send_common;

use oauthmail::Status;
use send_common::*;
use serde_json::json;

fn a_rejected_token_is_refreshed_not_replaced_by_a_remembered_dead_one(via: Via) {
    let s = standin();
    let c = client(&s, via);
    let original = token(&s, MAIL_SCOPE);

    // One send with the token expired: one refresh, and the client remembers the fresh token.
    let first = c.send(&expired(original.clone(), &s), &simple()).expect("first send");
    assert!(first.token.is_some(), "the first send refreshed");
    assert_eq!(refreshes(&s), 1);

    // The provider invalidates every access token of the account, the remembered one included.
    control(&s, "POST", "/tokens/expire", Some(json!({"email": USER})));
    if via != Via::GmailApi {
        // The remembered token's pooled SMTP session dies too, so its AUTH is tried again.
        fault(&s, json!({"endpoint": "smtp", "stage": "rset", "kind": "drop"}));
    }

    // The host's original document (not expired by its own clock): rejected; the retry must
    // refresh, not take the remembered (dead) token. Later sends with the same document reuse
    // the token refreshed because of that rejection: one refresh for the three.
    let before = refreshes(&s);
    for n in 0..3 {
        let r = c
            .send(&original, &simple())
            .unwrap_or_else(|e| panic!("send {n} after the provider invalidated the tokens: {e:?}"));
        assert!(r.token.is_some(), "the send returned the refreshed document");
    }
    assert_eq!(refreshes(&s), before + 1, "one refresh for the three sends");
    assert_eq!(s.messages().len(), 4);

    // The user revokes the app: the next send must tell the host to authorize again.
    control(&s, "DELETE", "/faults", None);
    control(&s, "POST", "/revoke", Some(json!({"email": USER})));
    if via != Via::GmailApi {
        // A pooled session the server still keeps may carry on (it is authenticated already);
        // here the server ends it, so the remembered token's AUTH is tried again and refused.
        fault(&s, json!({"endpoint": "smtp", "stage": "rset", "kind": "drop"}));
    }
    for _ in 0..2 {
        let before = refreshes(&s);
        let e = c.send(&original, &simple()).unwrap_err();
        assert_eq!(refreshes(&s), before + 1, "the send asked the token endpoint");
        assert_eq!(e.status, Status::Reauthorize, "{e:?}");
        let p = e.provider.clone().expect("the token endpoint's answer");
        assert_eq!(p.error.as_deref(), Some("invalid_grant"), "{e:?}");
    }
    assert_eq!(s.messages().len(), 4);
}

#[test]
fn gmail_api_after_the_provider_invalidates_tokens_refreshes_and_after_a_revoke_is_reauthorize() {
    a_rejected_token_is_refreshed_not_replaced_by_a_remembered_dead_one(Via::GmailApi);
}

#[test]
fn smtp_after_the_provider_invalidates_tokens_refreshes_and_after_a_revoke_is_reauthorize() {
    a_rejected_token_is_refreshed_not_replaced_by_a_remembered_dead_one(Via::Smtps);
}
