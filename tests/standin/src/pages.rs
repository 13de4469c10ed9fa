//! The HTML pages of the authorization endpoint: account chooser, consent, and the error pages
//! Google shows in the browser instead of redirecting. Plain forms, no JavaScript, stable ids
//! (README "OAuth behaviour") so a real browser and a headless test can drive them.

use crate::state::{is_identity_scope, EMAIL_SCOPE, MAIL_SCOPE, PROFILE_SCOPE};

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:Roboto,Arial,sans-serif;background:#f0f4f9;margin:0}\
main{max-width:560px;margin:48px auto;background:#fff;border-radius:28px;padding:36px 40px}\
h1{font-weight:400;font-size:28px;margin:8px 0 16px}\
.who{color:#444;margin-bottom:20px}\
button{font-size:15px;border-radius:20px;padding:10px 24px;cursor:pointer}\
.account{display:block;width:100%;text-align:left;background:#fff;border:1px solid #dadce0;margin:6px 0;border-radius:8px}\
.actions{display:flex;flex-direction:row-reverse;justify-content:flex-start;gap:12px;margin-top:24px}\
#submit_approve_access{background:#0b57d0;color:#fff;border:0}\
#submit_deny_access{background:#fff;color:#0b57d0;border:1px solid #747775}\
.scope{margin:10px 0}.details{color:#555;font-size:13px;word-break:break-all}\
.tester{color:#b3261e;font-size:13px}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head>\n<body><main>\n\
<div class=\"logo\" aria-label=\"Google (stand-in)\">Google <small>(oauthmail-standin)</small></div>\n{body}\n</main></body></html>\n",
        esc(title)
    )
}

/// Google's error page: `Error NNN: code`, a description, and the request details.
pub fn error(status: u16, code: &str, description: &str, details: &[(String, String)]) -> String {
    let mut d = String::new();
    for (k, v) in details {
        d.push_str(&format!("{}={} ", esc(k), esc(v)));
    }
    page(
        &format!("Error {status}: {code}"),
        &format!(
            "<h1 id=\"error-code\">Error {status}: {}</h1>\n<p id=\"error-description\">{}</p>\n\
<p class=\"details\" id=\"request-details\">Request details: {}</p>",
            esc(code),
            esc(description),
            d.trim_end()
        ),
    )
}

pub fn chooser(flow: &str, app: &str, test_users: &[String], other_users: &[String]) -> String {
    let mut b = format!(
        "<h1 id=\"chooser-heading\">Choose an account</h1>\n<p class=\"who\">to continue to {}</p>\n\
<form method=\"post\" action=\"/o/oauth2/v2/auth/choose\">\n<input type=\"hidden\" name=\"flow\" value=\"{}\">\n",
        esc(app),
        esc(flow)
    );
    for (n, u) in test_users.iter().chain(other_users.iter()).enumerate() {
        b.push_str(&format!(
            "<button class=\"account\" type=\"submit\" id=\"account-{n}\" data-email=\"{0}\" name=\"account\" value=\"{0}\">{0}</button>\n",
            esc(u)
        ));
    }
    b.push_str("</form>");
    page("Sign in - Google Accounts", &b)
}

fn scope_text(s: &str) -> &'static str {
    match s {
        MAIL_SCOPE => "Read, compose, send, and permanently delete all your email from Gmail",
        "https://www.googleapis.com/auth/gmail.send" => "Send email on your behalf",
        "https://www.googleapis.com/auth/gmail.compose" => "Manage drafts and send emails",
        "https://www.googleapis.com/auth/gmail.modify" => "Read, compose, and send emails from your Gmail account",
        "https://www.googleapis.com/auth/gmail.readonly" => "View your email messages and settings",
        EMAIL_SCOPE => "See your primary Google Account email address",
        PROFILE_SCOPE => "See your personal info, including any personal info you've made publicly available",
        "openid" => "Associate you with your personal info on Google",
        _ => "Access your Google Account data",
    }
}

pub fn consent(flow: &str, app: &str, account: &str, scopes: &[String]) -> String {
    let mut b = format!(
        "<h1 id=\"consent-heading\">{} wants access to your Google Account</h1>\n\
<p class=\"who\" id=\"consent-account\">{}</p>\n\
<form method=\"post\" action=\"/o/oauth2/v2/auth/consent\">\n<input type=\"hidden\" name=\"flow\" value=\"{}\">\n\
<p>This will allow {} to:</p>\n",
        esc(app),
        esc(account),
        esc(flow),
        esc(app)
    );
    let mut n = 0;
    for s in scopes {
        if is_identity_scope(s) {
            b.push_str(&format!(
                "<div class=\"scope\">{} <span class=\"details\">({})</span></div>\n",
                esc(scope_text(s)),
                esc(s)
            ));
        } else {
            b.push_str(&format!(
                "<div class=\"scope\"><label><input type=\"checkbox\" name=\"scope\" id=\"scope-{n}\" value=\"{0}\" checked> {1} <span class=\"details\">({0})</span></label></div>\n",
                esc(s),
                esc(scope_text(s))
            ));
            n += 1;
        }
    }
    b.push_str(
        "<div class=\"actions\">\
<button type=\"submit\" id=\"submit_approve_access\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" id=\"submit_deny_access\" name=\"decision\" value=\"deny\">Deny</button>\
</div>\n</form>",
    );
    page("Sign in - Google Accounts", &b)
}

/// The "not a test user" page (Testing clients).
pub fn not_a_tester(app: &str, details: &[(String, String)]) -> String {
    let desc = format!(
        "{app} has not completed the Google verification process. The app is currently being \
tested, and can only be accessed by developer-approved testers. If you think you should have \
access, contact the developer."
    );
    error(403, "access_denied", &desc, details)
}
