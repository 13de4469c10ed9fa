//! The set-up and troubleshooting guides under `docs/` stay in step with the library.
//!
//! - every status code `#define`d in `include/oauthmail.h` appears, by name and number on one line,
//!   in both troubleshooting pages;
//! - every hint in `oauthmail::hint::ALL` has an entry in both pages, under an anchor
//!   `<a id="HINT-ID"></a>`; the English entry quotes the hint text word for word, the Romanian entry
//!   quotes the catalogue's Romanian text (`Hint::ro`, the text `ui_language: "ro"` puts into error
//!   documents) word for word in its `> **Indicație:**` block (`code` there is 'code' in the
//!   catalogue), and it is not the English text;
//! - an English page and its Romanian twin carry the same anchors;
//! - Romanian pages write ș and ț with a comma below, never with a cedilla (ş, ţ);
//! - every relative link in `docs/*.md` points at a file (and anchor) that exists, and the index
//!   `docs/README.md` links every guide.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use oauthmail::hint;
use oauthmail::Status;

const TROUBLESHOOTING_EN: &str = "docs/troubleshooting.en.md";
const TROUBLESHOOTING_RO: &str = "docs/troubleshooting.ro.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every `docs/*.md`, as paths relative to the repository root, sorted.
fn doc_pages() -> Vec<String> {
    let mut pages: Vec<String> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| {
            e.expect("readable docs/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages
}

fn fail_if_any(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  - {}", problems.join("\n  - "));
}

/// `#define OAUTHMAIL_<NAME> <number>` lines of the header, without the version macros.
fn header_status_codes(header: &str) -> Vec<(String, u32)> {
    header
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "#define" {
                return None;
            }
            let name = words.next()?;
            let value = words.next()?;
            if !name.starts_with("OAUTHMAIL_") || name.starts_with("OAUTHMAIL_VERSION") {
                return None;
            }
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `line` with no letter, digit or underscore right before or after it.
fn contains_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// The explicit anchors `<a id="..."></a>` of a page, in order, with their byte offsets.
fn explicit_anchors(text: &str) -> Vec<(String, usize)> {
    const OPEN: &str = "<a id=\"";
    let mut anchors = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(OPEN) {
        let start = from + i;
        let id_start = start + OPEN.len();
        let id_len = text[id_start..].find('"').expect("anchor id is closed by a quote");
        anchors.push((text[id_start..id_start + id_len].to_string(), start));
        from = id_start + id_len;
    }
    anchors
}

/// The text of each anchored entry: from its anchor up to the next anchor (or the end).
fn anchored_sections(text: &str) -> BTreeMap<String, Vec<&str>> {
    let anchors = explicit_anchors(text);
    let mut sections: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (k, (id, start)) in anchors.iter().enumerate() {
        let end = anchors.get(k + 1).map_or(text.len(), |(_, next)| *next);
        sections.entry(id.clone()).or_default().push(&text[*start..end]);
    }
    sections
}

/// GitHub's anchor for a heading: lowercase, spaces to hyphens, punctuation dropped.
fn heading_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Lines outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            lines.push((n + 1, line));
        }
    }
    lines
}

/// Every anchor a link can target in a page: explicit anchors and heading slugs.
fn link_targets(text: &str) -> BTreeSet<String> {
    let mut targets: BTreeSet<String> = explicit_anchors(text).into_iter().map(|(id, _)| id).collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let slug = heading_slug(&line[hashes..]);
            let n = seen.entry(slug.clone()).or_insert(0);
            targets.insert(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
            *n += 1;
        }
    }
    targets
}

/// The targets of the inline links `[text](target)` in a page's prose, with line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in prose_lines(text) {
        let mut from = 0;
        while let Some(i) = line[from..].find("](") {
            let start = from + i + 2;
            let Some(len) = line[start..].find(')') else { break };
            let target = line[start..start + len].split_whitespace().next().unwrap_or("");
            found.push((n, target.to_string()));
            from = start + len;
        }
    }
    found
}

/// `base/rel` with `.` and `..` resolved lexically; None if it climbs above the repository root.
fn resolve(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = base
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[test]
fn every_status_code_of_the_header_is_in_both_troubleshooting_pages_by_name_and_number() {
    let codes = header_status_codes(&read("include/oauthmail.h"));
    let expected: Vec<(String, u32)> = Status::ALL
        .iter()
        .map(|s| (format!("OAUTHMAIL_{}", s.name().to_uppercase()), s.code()))
        .collect();
    assert_eq!(
        codes, expected,
        "the header's status codes, as this test parses them, differ from Status::ALL"
    );

    let mut problems = Vec::new();
    for page in [TROUBLESHOOTING_EN, TROUBLESHOOTING_RO] {
        let text = read(page);
        for (name, number) in &codes {
            let number = number.to_string();
            let on_one_line = text
                .lines()
                .any(|line| contains_word(line, name) && contains_word(line, &number));
            if !on_one_line {
                problems.push(format!(
                    "{page}: no line names {name} together with its number {number}"
                ));
            }
        }
    }
    fail_if_any("status codes missing from the troubleshooting pages", problems);
}

/// The text of the `> **Indicație:** …` block of a Romanian entry, unwrapped, with `code` spans
/// written 'code' as in the catalogue.
fn romanian_hint_quote(section: &str) -> Option<String> {
    const OPEN: &str = "> **Indicație:** ";
    let start = section.find(OPEN)? + OPEN.len();
    let mut lines = Vec::new();
    for (i, line) in section[start..].lines().enumerate() {
        let line = if i == 0 { Some(line) } else { line.strip_prefix("> ") };
        match line {
            Some(l) if !l.trim().is_empty() => lines.push(l.trim()),
            _ => break,
        }
    }
    let joined = lines.join(" ");
    let mut out = String::new();
    for (i, part) in joined.split('`').enumerate() {
        if i > 0 {
            out.push('\'');
        }
        out.push_str(part);
    }
    Some(out)
}

#[test]
fn every_hint_has_an_anchored_entry_in_both_pages_and_the_english_one_quotes_it_word_for_word() {
    assert!(!hint::ALL.is_empty());
    let en = read(TROUBLESHOOTING_EN);
    let ro = read(TROUBLESHOOTING_RO);
    let en_sections = anchored_sections(&en);
    let ro_sections = anchored_sections(&ro);
    let mut problems = Vec::new();
    for h in hint::ALL {
        let anchor = format!("<a id=\"{}\"></a>", h.id);
        for (page, sections) in [(TROUBLESHOOTING_EN, &en_sections), (TROUBLESHOOTING_RO, &ro_sections)] {
            match sections.get(h.id).map(Vec::as_slice) {
                None => problems.push(format!("{page}: no entry {anchor} for hint '{}'", h.id)),
                Some([_]) => {}
                Some(more) => problems.push(format!("{page}: {} entries with {anchor}", more.len())),
            }
        }
        if let Some([section]) = en_sections.get(h.id).map(Vec::as_slice) {
            if !section.contains(h.text) {
                problems.push(format!(
                    "{TROUBLESHOOTING_EN}: the entry {anchor} does not quote the hint text word for word: {:?}",
                    h.text
                ));
            }
        }
        if let Some([section]) = ro_sections.get(h.id).map(Vec::as_slice) {
            if section.contains(h.text) {
                problems.push(format!(
                    "{TROUBLESHOOTING_RO}: the entry {anchor} has the English text, not Romanian"
                ));
            }
            match romanian_hint_quote(section) {
                Some(quoted) if quoted == h.ro => {}
                Some(quoted) => problems.push(format!(
                    "{TROUBLESHOOTING_RO}: the entry {anchor} quotes {quoted:?}, but the catalogue's Romanian text is {:?}",
                    h.ro
                )),
                None => problems.push(format!(
                    "{TROUBLESHOOTING_RO}: the entry {anchor} has no '> **Indicație:**' block"
                )),
            }
            let body = section.trim_start_matches(anchor.as_str()).trim();
            if body.chars().filter(|c| c.is_alphabetic()).count() < 20 {
                problems.push(format!("{TROUBLESHOOTING_RO}: the entry {anchor} is (nearly) empty"));
            }
        }
    }
    fail_if_any("hints without a matching troubleshooting entry", problems);
}

#[test]
fn each_english_page_has_a_romanian_twin_with_the_same_anchors() {
    let pages = doc_pages();
    let mut problems = Vec::new();
    for en_page in pages.iter().filter(|p| p.ends_with(".en.md")) {
        let ro_page = en_page.replace(".en.md", ".ro.md");
        if !pages.contains(&ro_page) {
            problems.push(format!("{en_page} has no Romanian twin {ro_page}"));
            continue;
        }
        let ids =
            |page: &str| -> BTreeSet<String> { explicit_anchors(&read(page)).into_iter().map(|(id, _)| id).collect() };
        let (en_ids, ro_ids) = (ids(en_page), ids(&ro_page));
        for id in en_ids.difference(&ro_ids) {
            problems.push(format!("anchor '{id}' is in {en_page} but not in {ro_page}"));
        }
        for id in ro_ids.difference(&en_ids) {
            problems.push(format!("anchor '{id}' is in {ro_page} but not in {en_page}"));
        }
    }
    for ro_page in pages.iter().filter(|p| p.ends_with(".ro.md")) {
        if !pages.contains(&ro_page.replace(".ro.md", ".en.md")) {
            problems.push(format!("{ro_page} has no English twin"));
        }
    }
    fail_if_any("English and Romanian pages out of step", problems);
}

#[test]
fn romanian_pages_write_s_and_t_with_comma_below_never_cedilla() {
    let mut problems = Vec::new();
    let ro_pages: Vec<String> = doc_pages().into_iter().filter(|p| p.ends_with(".ro.md")).collect();
    assert!(!ro_pages.is_empty(), "no Romanian pages under docs/");
    for page in &ro_pages {
        let text = read(page);
        for (n, line) in text.lines().enumerate() {
            for c in line.chars().filter(|c| matches!(c, 'ş' | 'Ş' | 'ţ' | 'Ţ')) {
                problems.push(format!(
                    "{page}:{}: cedilla letter {c:?} (U+{:04X}); use {}",
                    n + 1,
                    c as u32,
                    match c {
                        'ş' => "ș (U+0219)",
                        'Ş' => "Ș (U+0218)",
                        'ţ' => "ț (U+021B)",
                        _ => "Ț (U+021A)",
                    }
                ));
            }
        }
        for c in ['ș', 'ț', 'ă', 'î', 'â'] {
            if !text.contains(c) {
                problems.push(format!("{page}: never uses {c:?}: are the diacritics missing?"));
            }
        }
    }
    fail_if_any("Romanian spelling", problems);
}

#[test]
fn every_relative_link_in_the_docs_resolves_to_an_existing_file_and_anchor() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in doc_pages() {
        let text = read(&page);
        let dir = Path::new(&page).parent().expect("a page lives in docs/").to_path_buf();
        for (line, target) in links(&text) {
            if target.is_empty() {
                problems.push(format!("{page}:{line}: empty link target"));
                continue;
            }
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                PathBuf::from(&page)
            } else {
                match resolve(&dir, path) {
                    Some(f) => f,
                    None => {
                        problems.push(format!("{page}:{line}: '{target}' leaves the repository"));
                        continue;
                    }
                }
            };
            let full = root.join(&file);
            if !full.exists() {
                problems.push(format!("{page}:{line}: '{target}': {} does not exist", file.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                if file.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let anchors = link_targets(&fs::read_to_string(&full).expect("readable linked page"));
                if !anchors.contains(fragment) {
                    problems.push(format!(
                        "{page}:{line}: '{target}': no anchor '{fragment}' in {}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "no relative links found: is the link parser broken?");
    fail_if_any("broken links in docs/", problems);
}

#[test]
fn the_docs_index_links_every_guide() {
    let index = read("docs/README.md");
    let linked: BTreeSet<String> = links(&index)
        .into_iter()
        .map(|(_, t)| t.split('#').next().unwrap_or("").to_string())
        .collect();
    let mut problems = Vec::new();
    for page in doc_pages() {
        let name = page.trim_start_matches("docs/");
        if name != "README.md" && !linked.contains(name) {
            problems.push(format!("docs/README.md does not link {name}"));
        }
    }
    fail_if_any("guides missing from the index", problems);
}

#[test]
fn the_checkers_themselves_catch_what_they_are_for() {
    // A broken page must fail: these pin the helpers the tests above rely on.
    assert!(contains_word(
        "### 5 · `OAUTHMAIL_REAUTHORIZE`",
        "OAUTHMAIL_REAUTHORIZE"
    ));
    assert!(contains_word("### 5 · `OAUTHMAIL_REAUTHORIZE`", "5"));
    assert!(!contains_word("### 15 · OAUTHMAIL_REAUTHORIZE_X", "5"));
    assert!(!contains_word("OAUTHMAIL_REAUTHORIZE_X", "OAUTHMAIL_REAUTHORIZE"));
    assert_eq!(
        header_status_codes("#define OAUTHMAIL_H\n#define OAUTHMAIL_VERSION_MAJOR 0\n#define OAUTHMAIL_OK 0\n"),
        [("OAUTHMAIL_OK".to_string(), 0)]
    );
    let page = "<a id=\"a\"></a>\n### A\ntext one\n<a id=\"b\"></a>\n### B\ntext two\n";
    let sections = anchored_sections(page);
    assert!(sections["a"][0].contains("text one") && !sections["a"][0].contains("text two"));
    assert_eq!(
        heading_slug(" 5 · `OAUTHMAIL_REAUTHORIZE` — reautorizare"),
        "5--oauthmail_reauthorize--reautorizare"
    );
    let targets = link_targets("# Ghid de configurare\n## Pași\n## Pași\n```\n# not a heading\n```\n");
    assert!(targets.contains("ghid-de-configurare") && targets.contains("pași") && targets.contains("pași-1"));
    assert!(!targets.contains("not-a-heading"));
    assert_eq!(
        links("See [a](x.md#y) and [b](https://e.x \"t\").\n```\n[c](in-code.md)\n```\n"),
        [(1, "x.md#y".to_string()), (1, "https://e.x".to_string())]
    );
    assert_eq!(
        resolve(Path::new("docs"), "../include/oauthmail.h"),
        Some(PathBuf::from("include/oauthmail.h"))
    );
    assert_eq!(resolve(Path::new("docs"), "../../etc/passwd"), None);
}
