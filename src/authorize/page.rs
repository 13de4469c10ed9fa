//! The page the browser shows after the redirect reaches our loopback listener.
//!
//! This is the one moment a person sees the library, so the page is calm, short and in the
//! configured `ui_language`: what happened, in one heading and one sentence, and what to do next.
//! It is a self-contained HTML document (inline CSS and SVG, no script, no external address), so
//! it renders the same offline, behind a proxy or with a strict browser. Everything interpolated
//! (the email, the provider's error text) is HTML-escaped; a code or token is never passed in.
//! Tests find the parts by id: `oauthmail-result` (with `data-outcome`), `oauthmail-title`,
//! `oauthmail-message`, `oauthmail-email`, `oauthmail-detail`, `oauthmail-next`.

use std::fmt::Write as _;

use crate::config::UiLanguage;

/// What happened, as far as the page needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The account was connected; the window can be closed.
    Connected { email: Option<&'a str> },
    /// The user chose Deny (`error=access_denied`).
    Denied,
    /// The request's `state` is missing or wrong: not an answer to this sign-in.
    StateMismatch,
    /// The provider redirected with another `error`.
    ProviderError {
        error: &'a str,
        description: Option<&'a str>,
    },
    /// The code exchange after a valid redirect failed (message is safe to show: no secrets).
    ExchangeFailed { message: &'a str },
    /// The application cancelled the sign-in (`oauthmail_cancel`) while the browser was waiting
    /// for this page, e.g. during the code exchange.
    Cancelled,
    /// A request after this sign-in already finished (reload, second tab).
    AlreadyFinished,
    /// Any other path (favicon, probes).
    NotFound,
}

impl Outcome<'_> {
    /// The stable `data-outcome` value tests and support staff can rely on.
    pub fn id(&self) -> &'static str {
        match self {
            Outcome::Connected { .. } => "connected",
            Outcome::Denied => "denied",
            Outcome::StateMismatch => "state-mismatch",
            Outcome::ProviderError { .. } => "provider-error",
            Outcome::ExchangeFailed { .. } => "exchange-failed",
            Outcome::Cancelled => "cancelled",
            Outcome::AlreadyFinished => "already-finished",
            Outcome::NotFound => "not-found",
        }
    }

    fn tone(&self) -> Tone {
        match self {
            Outcome::Connected { .. } => Tone::Success,
            Outcome::Denied | Outcome::Cancelled | Outcome::AlreadyFinished | Outcome::NotFound => Tone::Neutral,
            Outcome::StateMismatch => Tone::Warning,
            Outcome::ProviderError { .. } | Outcome::ExchangeFailed { .. } => Tone::Problem,
        }
    }
}

#[derive(Clone, Copy)]
enum Tone {
    Success,
    Neutral,
    Warning,
    Problem,
}

/// The words of one page. `message` may hold `{email}`, replaced by the escaped address.
struct Words {
    title: &'static str,
    heading: &'static str,
    message: &'static str,
    /// Lead-in for the escaped detail box (provider error, exchange failure).
    detail_intro: Option<&'static str>,
    next: &'static str,
    /// A reassuring last line, where one is true.
    note: Option<&'static str>,
}

/// Longest provider text we show, in characters: enough for any real error description, short
/// enough that a hostile redirect cannot fill the page.
const MAX_DETAIL_CHARS: usize = 300;

/// The full HTML document for `outcome`.
pub fn render(outcome: &Outcome<'_>, language: UiLanguage) -> String {
    let words = words(outcome, language);
    let (lang, footer) = match language {
        UiLanguage::En => ("en", "This page comes from the application on this computer."),
        UiLanguage::Ro => ("ro", "Această pagină provine de la aplicația de pe acest calculator."),
    };
    let tone = outcome.tone();

    let message = match outcome {
        Outcome::Connected { email: Some(email) } if !email.trim().is_empty() => words.message.replace(
            "{email}",
            &format!("<strong id=\"oauthmail-email\">{}</strong>", escape(email.trim())),
        ),
        _ => words.message.to_string(),
    };
    let detail = match outcome {
        Outcome::ProviderError { error, description } => {
            let mut text = clip(error).to_string();
            if let Some(d) = description.filter(|d| !d.trim().is_empty()) {
                text.push_str(": ");
                text.push_str(clip(d));
            }
            Some(text)
        }
        Outcome::ExchangeFailed { message } => Some(clip(message).to_string()),
        _ => None,
    };

    let mut html = String::with_capacity(4096);
    html.push_str("<!doctype html>\n");
    let _ = write!(html, "<html lang=\"{lang}\">\n<head>\n");
    html.push_str("<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Defence in depth for the interpolated provider text: nothing may load or run.
    html.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    // The address bar of this tab holds the authorization code: never send it anywhere.
    html.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    html.push_str("<meta name=\"robots\" content=\"noindex\">\n");
    let _ = writeln!(html, "<title>{}</title>", escape(words.title));
    html.push_str(STYLE);
    html.push_str("</head>\n<body>\n");
    let _ = writeln!(
        html,
        "<main id=\"oauthmail-result\" class=\"card {}\" data-outcome=\"{}\">",
        tone.class(),
        outcome.id()
    );
    html.push_str(tone.icon());
    let _ = writeln!(html, "<h1 id=\"oauthmail-title\">{}</h1>", escape(words.heading));
    let _ = writeln!(html, "<p id=\"oauthmail-message\">{message}</p>");
    if let Some(detail) = detail {
        if let Some(intro) = words.detail_intro {
            let _ = writeln!(html, "<p class=\"intro\">{}</p>", escape(intro));
        }
        let _ = writeln!(
            html,
            "<p id=\"oauthmail-detail\" class=\"detail\">{}</p>",
            escape(&detail)
        );
    }
    let _ = writeln!(
        html,
        "<p id=\"oauthmail-next\" class=\"next\">{}</p>",
        escape(words.next)
    );
    if let Some(note) = words.note {
        let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(note));
    }
    html.push_str("</main>\n");
    let _ = writeln!(html, "<footer>{}</footer>", escape(footer));
    html.push_str("</body>\n</html>\n");
    html
}

fn words(outcome: &Outcome<'_>, language: UiLanguage) -> Words {
    let has_email = matches!(outcome, Outcome::Connected { email: Some(e) } if !e.trim().is_empty());
    match (language, outcome) {
        (UiLanguage::En, Outcome::Connected { .. }) => Words {
            title: "Account connected",
            heading: "Your account is connected",
            message: if has_email {
                "{email} is now connected to the application."
            } else {
                "Your account is now connected to the application."
            },
            detail_intro: None,
            next: "You can close this window and return to the application.",
            note: Some("Your password was not shared with the application. You can remove its access at any time in your account's security settings."),
        },
        (UiLanguage::Ro, Outcome::Connected { .. }) => Words {
            title: "Cont conectat",
            heading: "Contul a fost conectat",
            message: if has_email {
                "Contul {email} este acum conectat la aplicație."
            } else {
                "Contul dumneavoastră este acum conectat la aplicație."
            },
            detail_intro: None,
            next: "Puteți închide această fereastră și reveni în aplicație.",
            note: Some("Parola nu a fost transmisă aplicației. Puteți retrage oricând acest acces din setările de securitate ale contului."),
        },
        (UiLanguage::En, Outcome::Denied) => Words {
            title: "Access not granted",
            heading: "Access was not granted",
            message: "You chose not to give the application access to your account. Nothing was changed.",
            detail_intro: None,
            next: "Close this window. To connect the account, start the sign-in again from the application and allow access.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::Denied) => Words {
            title: "Acces neacordat",
            heading: "Accesul nu a fost acordat",
            message: "Ați ales să nu permiteți aplicației accesul la cont. Nu s-a modificat nimic.",
            detail_intro: None,
            next: "Închideți această fereastră. Pentru a conecta contul, reluați conectarea din aplicație și permiteți accesul.",
            note: None,
        },
        (UiLanguage::En, Outcome::StateMismatch) => Words {
            title: "Sign-in not recognised",
            heading: "This answer does not belong to the current sign-in",
            message: "The browser returned to the application with an answer it is not waiting for. It may come from an older tab or window.",
            detail_intro: None,
            next: "Close this tab. If the application is still waiting, finish the sign-in in the most recent tab it opened, or start again from the application.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::StateMismatch) => Words {
            title: "Conectare nerecunoscută",
            heading: "Acest răspuns nu aparține conectării în curs",
            message: "Browserul a revenit în aplicație cu un răspuns pe care aceasta nu îl așteaptă. Poate proveni dintr-o filă sau fereastră mai veche.",
            detail_intro: None,
            next: "Închideți această filă. Dacă aplicația încă așteaptă, finalizați conectarea în cea mai recentă filă deschisă de aplicație sau reluați conectarea din aplicație.",
            note: None,
        },
        (UiLanguage::En, Outcome::ProviderError { .. }) => Words {
            title: "Sign-in not completed",
            heading: "The sign-in could not be completed",
            message: "The account provider stopped the sign-in and did not give the application access.",
            detail_intro: Some("The provider said:"),
            next: "Close this window and try again from the application. If it happens again, show this message to your administrator.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::ProviderError { .. }) => Words {
            title: "Conectare nefinalizată",
            heading: "Conectarea nu a putut fi finalizată",
            message: "Furnizorul contului a oprit conectarea și nu a acordat acces aplicației.",
            detail_intro: Some("Mesajul furnizorului:"),
            next: "Închideți această fereastră și încercați din nou din aplicație. Dacă problema se repetă, arătați acest mesaj administratorului.",
            note: None,
        },
        (UiLanguage::En, Outcome::ExchangeFailed { .. }) => Words {
            title: "Account not connected",
            heading: "The account could not be connected",
            message: "You allowed access, but the application could not finish connecting the account.",
            detail_intro: Some("What went wrong:"),
            next: "Close this window and return to the application, which shows the details. Try again; if it happens again, contact your administrator.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::ExchangeFailed { .. }) => Words {
            title: "Cont neconectat",
            heading: "Contul nu a putut fi conectat",
            message: "Ați permis accesul, dar aplicația nu a putut finaliza conectarea contului.",
            detail_intro: Some("Ce nu a funcționat:"),
            next: "Închideți această fereastră și reveniți în aplicație, unde găsiți detaliile. Încercați din nou; dacă problema se repetă, contactați administratorul.",
            note: None,
        },
        (UiLanguage::En, Outcome::Cancelled) => Words {
            title: "Sign-in cancelled",
            heading: "The sign-in was cancelled",
            message: "The application stopped this sign-in, so the account was not connected.",
            detail_intro: None,
            next: "Close this window. To connect the account, start the sign-in again from the application.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::Cancelled) => Words {
            title: "Conectare anulată",
            heading: "Conectarea a fost anulată",
            message: "Aplicația a oprit această conectare, iar contul nu a fost conectat.",
            detail_intro: None,
            next: "Închideți această fereastră. Pentru a conecta contul, reluați conectarea din aplicație.",
            note: None,
        },
        (UiLanguage::En, Outcome::AlreadyFinished) => Words {
            title: "Sign-in already finished",
            heading: "This sign-in is already finished",
            message: "The application has already received the answer for this sign-in. Nothing more is needed here.",
            detail_intro: None,
            next: "You can close this window and return to the application.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::AlreadyFinished) => Words {
            title: "Conectare încheiată",
            heading: "Această conectare s-a încheiat deja",
            message: "Aplicația a primit deja răspunsul pentru această conectare. Nu mai este nevoie de nimic aici.",
            detail_intro: None,
            next: "Puteți închide această fereastră și reveni în aplicație.",
            note: None,
        },
        (UiLanguage::En, Outcome::NotFound) => Words {
            title: "Page not found",
            heading: "There is nothing at this address",
            message: "This address is only used to finish signing in to the application.",
            detail_intro: None,
            next: "You can close this window.",
            note: None,
        },
        (UiLanguage::Ro, Outcome::NotFound) => Words {
            title: "Pagină inexistentă",
            heading: "La această adresă nu se află nimic",
            message: "Această adresă este folosită doar pentru finalizarea conectării în aplicație.",
            detail_intro: None,
            next: "Puteți închide această fereastră.",
            note: None,
        },
    }
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Success => "success",
            Tone::Neutral => "neutral",
            Tone::Warning => "warning",
            Tone::Problem => "problem",
        }
    }

    /// A decorative inline SVG (hidden from screen readers: the heading says it all).
    fn icon(self) -> &'static str {
        match self {
            Tone::Success => concat!(
                "<svg class=\"icon\" viewBox=\"0 0 48 48\" aria-hidden=\"true\">",
                "<circle cx=\"24\" cy=\"24\" r=\"22\"/>",
                "<path d=\"M14 24.5l7 7 13-14\" fill=\"none\" stroke=\"#fff\" stroke-width=\"4\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>",
                "</svg>\n"
            ),
            Tone::Neutral => concat!(
                "<svg class=\"icon\" viewBox=\"0 0 48 48\" aria-hidden=\"true\">",
                "<circle cx=\"24\" cy=\"24\" r=\"22\"/>",
                "<path d=\"M24 22v12\" stroke=\"#fff\" stroke-width=\"4\" stroke-linecap=\"round\"/>",
                "<circle cx=\"24\" cy=\"15\" r=\"2.6\" fill=\"#fff\"/>",
                "</svg>\n"
            ),
            Tone::Warning | Tone::Problem => concat!(
                "<svg class=\"icon\" viewBox=\"0 0 48 48\" aria-hidden=\"true\">",
                "<circle cx=\"24\" cy=\"24\" r=\"22\"/>",
                "<path d=\"M24 13v13\" stroke=\"#fff\" stroke-width=\"4\" stroke-linecap=\"round\"/>",
                "<circle cx=\"24\" cy=\"33.5\" r=\"2.6\" fill=\"#fff\"/>",
                "</svg>\n"
            ),
        }
    }
}

const STYLE: &str = r#"<style>
:root { color-scheme: light dark; --bg: #f3f5f8; --card: #ffffff; --text: #1f2933; --muted: #52606d;
  --line: #e1e6ec; --success: #1e7d4f; --neutral: #3d6a99; --warning: #a8610a; --problem: #b03a2e; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15191e; --card: #1f252c; --text: #e6eaef; --muted: #a7b1bc; --line: #323a44;
    --success: #4cae7f; --neutral: #7aa7d6; --warning: #e0a24a; --problem: #e07a6e; } }
* { box-sizing: border-box; }
html, body { margin: 0; }
body { min-height: 100vh; display: flex; flex-direction: column; align-items: center; justify-content: center;
  padding: 24px; background: var(--bg); color: var(--text);
  font: 16px/1.55 "Segoe UI", system-ui, -apple-system, "Helvetica Neue", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
.card { width: 100%; max-width: 480px; background: var(--card); border: 1px solid var(--line); border-radius: 14px;
  padding: 36px 36px 28px;
  box-shadow: inset 0 5px 0 var(--accent), 0 1px 2px rgba(16,24,40,.05), 0 8px 24px rgba(16,24,40,.06); }
.success { --accent: var(--success); } .neutral { --accent: var(--neutral); }
.warning { --accent: var(--warning); } .problem { --accent: var(--problem); }
.icon { width: 48px; height: 48px; display: block; margin-bottom: 16px; }
.icon circle:first-child { fill: var(--accent); }
h1 { font-size: 22px; line-height: 1.3; font-weight: 600; margin: 0 0 12px; }
p { margin: 0 0 12px; }
#oauthmail-email { font-weight: 600; overflow-wrap: anywhere; }
.intro { color: var(--muted); font-size: 14px; margin-bottom: 6px; }
.detail { font: 14px/1.5 ui-monospace, "Cascadia Mono", Consolas, "DejaVu Sans Mono", monospace;
  background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px;
  overflow-wrap: anywhere; white-space: pre-wrap; }
.next { font-weight: 500; margin-top: 18px; }
.note { color: var(--muted); font-size: 14px; border-top: 1px solid var(--line); padding-top: 14px; margin: 18px 0 0; }
footer { color: var(--muted); font-size: 13px; margin-top: 18px; text-align: center; }
</style>
"#;

/// At most [`MAX_DETAIL_CHARS`] characters of provider text, cut at a character boundary.
fn clip(text: &str) -> &str {
    let text = text.trim();
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no business on the page (and NUL would end a C string).
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANGS: [UiLanguage; 2] = [UiLanguage::En, UiLanguage::Ro];

    fn all_outcomes() -> Vec<Outcome<'static>> {
        vec![
            Outcome::Connected {
                email: Some("ana@example.ro"),
            },
            Outcome::Connected { email: None },
            Outcome::Denied,
            Outcome::StateMismatch,
            Outcome::ProviderError {
                error: "invalid_scope",
                description: Some("Some requested scopes were invalid."),
            },
            Outcome::ExchangeFailed {
                message: "the token endpoint answered HTTP 500",
            },
            Outcome::Cancelled,
            Outcome::AlreadyFinished,
            Outcome::NotFound,
        ]
    }

    fn between<'h>(html: &'h str, start: &str, end: &str) -> &'h str {
        let from = html.find(start).unwrap_or_else(|| panic!("{start} missing in {html}")) + start.len();
        let to = html[from..].find(end).expect("end marker") + from;
        &html[from..to]
    }

    #[test]
    fn every_outcome_in_every_language_is_a_complete_document() {
        for lang in LANGS {
            for outcome in all_outcomes() {
                let html = render(&outcome, lang);
                assert!(html.starts_with("<!doctype html>\n"), "{outcome:?}");
                assert!(html.contains("<meta charset=\"utf-8\">"), "{outcome:?}");
                let title = between(&html, "<title>", "</title>");
                assert!(!title.trim().is_empty(), "{outcome:?} {lang:?}");
                assert!(!between(&html, "<h1 id=\"oauthmail-title\">", "</h1>").is_empty());
                assert!(!between(&html, "<p id=\"oauthmail-message\">", "</p>").is_empty());
                assert!(!between(&html, "<p id=\"oauthmail-next\" class=\"next\">", "</p>").is_empty());
                assert!(
                    html.contains(&format!(
                        "id=\"oauthmail-result\" class=\"card {}\" data-outcome=\"{}\"",
                        outcome.tone().class(),
                        outcome.id()
                    )),
                    "{outcome:?}"
                );
                assert!(html.trim_end().ends_with("</html>"));
            }
        }
    }

    #[test]
    fn lang_attribute_follows_ui_language() {
        for outcome in all_outcomes() {
            assert!(render(&outcome, UiLanguage::En).contains("<html lang=\"en\">"));
            assert!(render(&outcome, UiLanguage::Ro).contains("<html lang=\"ro\">"));
        }
    }

    #[test]
    fn english_and_romanian_pages_differ_for_every_outcome() {
        for outcome in all_outcomes() {
            let en = render(&outcome, UiLanguage::En);
            let ro = render(&outcome, UiLanguage::Ro);
            assert_ne!(between(&en, "<title>", "</title>"), between(&ro, "<title>", "</title>"));
            assert_ne!(
                between(&en, "<p id=\"oauthmail-next\" class=\"next\">", "</p>"),
                between(&ro, "<p id=\"oauthmail-next\" class=\"next\">", "</p>")
            );
        }
    }

    #[test]
    fn page_has_no_external_url_script_or_form() {
        for lang in LANGS {
            for outcome in all_outcomes() {
                let html = render(&outcome, lang).to_ascii_lowercase();
                for banned in [
                    "http://", "https://", "//", "<script", "<form", "<link", "<img", "<iframe", "url(", "@import",
                    "src=",
                ] {
                    assert!(!html.contains(banned), "{banned} in {outcome:?} {lang:?}");
                }
            }
        }
    }

    #[test]
    fn romanian_uses_comma_below_letters_and_never_cedilla() {
        let mut all = String::new();
        for outcome in all_outcomes() {
            let html = render(&outcome, UiLanguage::Ro);
            assert!(
                !html.contains(['\u{015e}', '\u{015f}', '\u{0162}', '\u{0163}']),
                "cedilla in {outcome:?}"
            );
            all.push_str(&html);
        }
        for letter in ['ș', 'ț', 'ă', 'î', 'â', 'Î'] {
            assert!(all.contains(letter), "{letter} never used");
        }
        let connected = render(&Outcome::Connected { email: None }, UiLanguage::Ro);
        assert!(connected.contains("Puteți închide această fereastră și reveni în aplicație."));
    }

    #[test]
    fn connected_page_names_the_email_escaped() {
        let email = "o'brien+<b>x</b>&co@example.com";
        for lang in LANGS {
            let html = render(&Outcome::Connected { email: Some(email) }, lang);
            assert!(html.contains(
                "<strong id=\"oauthmail-email\">o&#39;brien+&lt;b&gt;x&lt;/b&gt;&amp;co@example.com</strong>"
            ));
            assert!(!html.contains("<b>x</b>"));
        }
        let plain = render(
            &Outcome::Connected {
                email: Some("ana@example.ro"),
            },
            UiLanguage::En,
        );
        assert_eq!(
            between(&plain, "<p id=\"oauthmail-message\">", "</p>"),
            "<strong id=\"oauthmail-email\">ana@example.ro</strong> is now connected to the application."
        );
    }

    #[test]
    fn connected_page_without_email_has_no_email_element_or_placeholder() {
        for lang in LANGS {
            for email in [None, Some(""), Some("  ")] {
                let html = render(&Outcome::Connected { email }, lang);
                assert!(!html.contains("oauthmail-email\""), "{lang:?}");
                assert!(!html.contains("{email}"));
            }
        }
    }

    #[test]
    fn provider_error_text_is_escaped_and_shown() {
        let outcome = Outcome::ProviderError {
            error: "invalid_request<script>alert(1)</script>",
            description: Some("Bad \"redirect_uri\" & <img src=x onerror=alert(1)>"),
        };
        for lang in LANGS {
            let html = render(&outcome, lang);
            assert!(!html.contains("<script"));
            assert!(!html.contains("<img"));
            let detail = between(&html, "<p id=\"oauthmail-detail\" class=\"detail\">", "</p>");
            assert_eq!(
                detail,
                "invalid_request&lt;script&gt;alert(1)&lt;/script&gt;: Bad &quot;redirect_uri&quot; &amp; &lt;img src=x onerror=alert(1)&gt;"
            );
        }
    }

    #[test]
    fn exchange_failure_message_is_escaped_and_shown() {
        let html = render(
            &Outcome::ExchangeFailed {
                message: "token endpoint said <b>no</b>",
            },
            UiLanguage::Ro,
        );
        assert_eq!(
            between(&html, "<p id=\"oauthmail-detail\" class=\"detail\">", "</p>"),
            "token endpoint said &lt;b&gt;no&lt;/b&gt;"
        );
        assert!(html.contains("Ce nu a funcționat:"));
    }

    #[test]
    fn long_provider_text_is_clipped() {
        let long = "x".repeat(5000);
        let html = render(
            &Outcome::ProviderError {
                error: "server_error",
                description: Some(&long),
            },
            UiLanguage::En,
        );
        let detail = between(&html, "<p id=\"oauthmail-detail\" class=\"detail\">", "</p>");
        assert_eq!(detail.len(), "server_error: ".len() + MAX_DETAIL_CHARS);
        // Clipping respects character boundaries.
        assert_eq!(clip(&"ț".repeat(400)).chars().count(), MAX_DETAIL_CHARS);
    }

    #[test]
    fn control_characters_in_provider_text_are_replaced() {
        let html = render(
            &Outcome::ProviderError {
                error: "bad\u{0}\u{1b}[31m",
                description: None,
            },
            UiLanguage::En,
        );
        let detail = between(&html, "<p id=\"oauthmail-detail\" class=\"detail\">", "</p>");
        assert_eq!(detail, "bad\u{fffd}\u{fffd}[31m");
    }

    #[test]
    fn only_outcomes_with_details_have_a_detail_box() {
        for lang in LANGS {
            for outcome in all_outcomes() {
                let has = render(&outcome, lang).contains("id=\"oauthmail-detail\"");
                let expected = matches!(outcome, Outcome::ProviderError { .. } | Outcome::ExchangeFailed { .. });
                assert_eq!(has, expected, "{outcome:?}");
            }
        }
    }

    #[test]
    fn each_outcome_says_what_happened_in_english() {
        let title = |o: &Outcome<'_>| {
            let html = render(o, UiLanguage::En);
            between(&html, "<h1 id=\"oauthmail-title\">", "</h1>").to_string()
        };
        assert_eq!(title(&Outcome::Connected { email: None }), "Your account is connected");
        assert_eq!(title(&Outcome::Denied), "Access was not granted");
        assert_eq!(title(&Outcome::AlreadyFinished), "This sign-in is already finished");
        assert_eq!(title(&Outcome::NotFound), "There is nothing at this address");
        assert_eq!(title(&Outcome::Cancelled), "The sign-in was cancelled");
        assert!(render(&Outcome::Connected { email: None }, UiLanguage::En)
            .contains("You can close this window and return to the application."));
    }

    #[test]
    fn each_outcome_says_what_happened_in_romanian() {
        let title = |o: &Outcome<'_>| {
            let html = render(o, UiLanguage::Ro);
            between(&html, "<h1 id=\"oauthmail-title\">", "</h1>").to_string()
        };
        assert_eq!(title(&Outcome::Connected { email: None }), "Contul a fost conectat");
        assert_eq!(title(&Outcome::Denied), "Accesul nu a fost acordat");
        assert_eq!(
            title(&Outcome::StateMismatch),
            "Acest răspuns nu aparține conectării în curs"
        );
        assert_eq!(title(&Outcome::AlreadyFinished), "Această conectare s-a încheiat deja");
        assert_eq!(title(&Outcome::Cancelled), "Conectarea a fost anulată");
    }

    #[test]
    fn outcome_ids_are_distinct() {
        let mut ids: Vec<_> = all_outcomes().iter().map(Outcome::id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 8);
    }
}
