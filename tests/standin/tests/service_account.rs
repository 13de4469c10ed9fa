//! Service accounts with domain-wide delegation (issue 16) against the stand-in, driven by a
//! client that is not ours: Python's `cryptography` signs the JWT (tests/py/service_account.py,
//! installed by scripts/deps.d/15-python-crypto.sh), urllib and smtplib use the tokens. The control plane
//! is driven by the plain clients of tests/common.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const SUBJECT: &str = "facturi@firma.ro";
const UNAUTHORIZED: &str = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.";
const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

fn run(s: &oauthmail_standin::Standin, case: &str) -> Value {
    // key generation takes well under the bound
    run_python(s, "service_account.py", case, Duration::from_secs(90))
}

/// A control-plane call that may fail: (status, body).
fn control_status(s: &oauthmail_standin::Standin, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", s.info().control);
    let r = request(
        s,
        method,
        &url,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    (r.status, r.json())
}

fn google(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

#[test]
fn python_signs_with_the_key_file_and_sends_as_two_subjects_over_the_api_and_smtp() {
    let s = start();
    let v = run(&s, "key_file_sends_as_subjects_on_both_transports");
    assert_eq!(
        v["fields"],
        json!([
            "type",
            "project_id",
            "private_key_id",
            "private_key",
            "client_email",
            "client_id",
            "auth_uri",
            "token_uri",
            "auth_provider_x509_cert_url",
            "client_x509_cert_url",
            "universe_domain"
        ])
    );
    assert_eq!(v["key_bits"], 2048);
    assert_eq!(v["token_uri_is_standin"], true);
    assert_eq!(v["pem_header"], "-----BEGIN PRIVATE KEY-----");
    assert_eq!(v["api_token_status"], 200);
    assert_eq!(
        v["api_token_fields"],
        json!(["access_token", "expires_in", "token_type"])
    );
    assert_eq!(v["api_send_status"], 200);
    assert_eq!(v["smtp_token_status"], 200);
    assert_eq!(v["smtp_auth_code"], 235);
    assert_eq!(v["smtp_refused"], json!({}));
    assert_eq!(
        v["mailbox"],
        json!([["gmail_api", SUBJECT], ["smtp", "contabilitate@firma.ro"]])
    );
    assert_eq!(v["counters"]["token"]["jwt_bearer"], 2);
    assert_eq!(
        v["counters"]["jwt_bearer_by_subject"],
        json!({"contabilitate@firma.ro": 1, SUBJECT: 1})
    );
}

#[test]
fn python_registers_its_own_public_key_and_a_deleted_key_gets_invalid_jwt_signature() {
    let s = start();
    let v = run(&s, "uploaded_public_key_signs_and_deleted_key_is_refused");
    assert_eq!(v["uploaded_key"], 200);
    assert_eq!(v["uploaded_key_without_kid"], 200);
    assert_eq!(
        v["after_delete"],
        json!([400, google("invalid_grant", "Invalid JWT Signature.")])
    );
}

#[test]
fn python_sees_googles_error_for_each_wrong_assertion() {
    let s = start();
    let v = run(&s, "errors");
    assert_eq!(
        v["not_delegated_scope"],
        json!([401, google("unauthorized_client", UNAUTHORIZED)])
    );
    let bad_subject = json!([400, google("invalid_grant", "Invalid email or User ID")]);
    assert_eq!(v["unknown_subject"], bad_subject);
    assert_eq!(v["suspended_subject"], bad_subject);
    assert_eq!(
        v["wrong_key"],
        json!([400, google("invalid_grant", "Invalid JWT Signature.")])
    );
    let timeframe = json!([400, google("invalid_grant", TIMEFRAME)]);
    assert_eq!(v["clock_ahead"], timeframe);
    assert_eq!(v["clock_behind"], timeframe);
    assert_eq!(v["too_long"], timeframe);
    assert_eq!(
        v["wrong_audience"],
        json!([
            400,
            google(
                "invalid_grant",
                &format!(
                    "Invalid JWT: Failed audience check. The right audience is {}",
                    s.info().token_endpoint
                )
            )
        ])
    );
    assert_eq!(
        v["no_scope"],
        json!([400, google("invalid_scope", "Empty or missing scope not allowed.")])
    );
    assert_eq!(
        v["unknown_account"],
        json!([400, google("invalid_grant", "Invalid grant: account not found")])
    );
    // Without `sub` the token is the service account's own: Gmail has no mailbox for it.
    assert_eq!(v["own_token"], 200);
    assert_eq!(v["own_token_gmail"][0], 400);
    assert_eq!(
        v["own_token_gmail"][1]["error"]["errors"][0]["reason"],
        "failedPrecondition"
    );
    // Every request counted, failures too, under its subject (or the issuer without one).
    assert_eq!(v["counters"]["token"]["jwt_bearer"], 11);
    assert_eq!(v["counters"]["jwt_bearer_by_subject"][SUBJECT], 8);
    assert_eq!(v["counters"]["jwt_bearer_by_subject"]["nobody@firma.ro"], 1);
    assert_eq!(
        v["counters"]["jwt_bearer_by_subject"]["erp-mailer@firma-erp.iam.gserviceaccount.com"],
        1
    );
}

#[test]
fn error_bodies_carry_googles_token_endpoint_headers() {
    let s = start();
    let r = post_form(
        &s,
        &s.info().token_endpoint,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "x.y.z"),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(r.header("server"), Some("ESF"));
    let r = post_form(
        &s,
        &s.info().token_endpoint,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")],
    );
    assert_eq!(
        r.json(),
        google("invalid_request", "Missing required parameter: assertion")
    );
    assert_eq!(s.counters()["token"]["jwt_bearer"], 2);
}

#[test]
fn control_plane_manages_accounts_keys_delegation_and_the_domain() {
    let s = start();
    let kf = control(&s, "POST", "/service_accounts", json!({"name": "erp-mailer"}));
    let email = kf["client_email"].as_str().unwrap().to_string();
    assert_eq!(email, "erp-mailer@standin-project.iam.gserviceaccount.com");
    let client_id = kf["client_id"].as_str().unwrap();
    assert_eq!(client_id.len(), 21);
    assert!(client_id.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(kf["private_key_id"].as_str().unwrap().len(), 40);
    // Same name again is refused; a second key (rotation) is a second key file.
    let (status, again) = control_status(&s, "POST", "/service_accounts", json!({"name": "erp-mailer"}));
    assert_eq!(status, 400);
    assert!(again["error"].as_str().unwrap().contains("already exists"));
    let second = control(&s, "POST", &format!("/service_accounts/{email}/keys"), json!({}));
    assert_ne!(second["private_key_id"], kf["private_key_id"]);
    assert_ne!(second["private_key"], kf["private_key"]);
    let listed = control(&s, "GET", "/service_accounts", json!(null));
    assert_eq!(listed[0]["keys"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains("PRIVATE KEY"),
        "the list never holds a private key"
    );
    let (_, bad) = control_status(
        &s,
        "POST",
        &format!("/service_accounts/{email}/keys"),
        json!({"public_key_pem": "not a key"}),
    );
    assert!(bad["error"].as_str().unwrap().contains("RSA public key"));
    // Delegation is by numeric client id, for known scopes.
    let (_, by_email) = control_status(&s, "POST", "/delegation", json!({"client_id": email, "scope": MAIL}));
    assert!(by_email["error"].as_str().unwrap().contains("numeric client id"));
    let d = control(
        &s,
        "POST",
        "/delegation",
        json!({"client_id": client_id, "scope": [MAIL, SEND]}),
    );
    assert_eq!(d["scope"], format!("{MAIL} {SEND}"));
    assert_eq!(
        control(&s, "GET", "/delegation", json!(null))[client_id],
        json!([MAIL, SEND])
    );
    let w = control(&s, "POST", "/workspace", json!({"domain_users": ["ana@firma.ro"]}));
    assert_eq!(w["domain_users"], json!(["ana@firma.ro"]));
    assert_eq!(w["suspended_users"], json!(["fost.angajat@firma.ro"]));
    // Reset forgets it all.
    s.reset();
    assert_eq!(control(&s, "GET", "/service_accounts", json!(null)), json!([]));
    assert_eq!(control(&s, "GET", "/delegation", json!(null)), json!({}));
    assert_eq!(
        control(&s, "GET", "/workspace", json!(null))["domain_users"],
        json!(["facturi@firma.ro", "contabilitate@firma.ro", "vanzari@firma.ro"])
    );
}
