//! Message building (`oauthmail::message::prepare`): time per build, allocations and peak heap,
//! for a typical invoice e-mail and for a 10 MB attachment. No network.
//!
//! Run: `cargo bench --bench message` (or `scripts/bench.sh`).

mod support;

use std::hint::black_box;

use oauthmail::message::{prepare, MessageDocument};
use support::*;

fn main() {
    let scratch = Scratch::new("message");
    let (pdf, logo) = invoice_files(&scratch);
    let big = scratch.file("Arhiva_noiembrie.zip", b"PK\x03\x04", 10 * 1024 * 1024);

    section("Message building (`message::prepare`)");

    let mut t = Table::new(
        "Time per build (warm file cache; median of runs, min–max)",
        &["message", "encoded size", "time per build", "builds/s", "runs × iters"],
    );
    let invoice = doc(&invoice_json(&pdf, &logo));
    let small = doc(&small_json());
    let big_doc = doc(&attachment_json(&big));
    let big_b64_json = big_base64_json(&big);

    for (name, d, warm, runs, iters) in [
        ("short text + HTML, no attachment", &small, 50, 15, 200),
        ("invoice: text + HTML + 100 KB PDF + inline logo", &invoice, 5, 15, 20),
        ("10 MB attachment from a file", &big_doc, 1, 7, 1),
    ] {
        let size = prepare(d).expect("builds").smtp_len() as usize;
        let timing = time_it(warm, runs, iters, || prepare(d).expect("builds"));
        t.row(&[
            name.into(),
            bytes(size as u64),
            spread(&timing),
            timing.rate(),
            format!("{} × {}", timing.runs, timing.iters),
        ]);
    }
    // What a C host pays for the same 10 MB given inline: JSON parsing + base64 decoding + build.
    let timing = time_it(1, 7, 1, || {
        let d: MessageDocument = serde_json::from_str(&big_b64_json).expect("parses");
        prepare(&d).expect("builds")
    });
    t.row(&[
        "10 MB attachment as content_base64 (JSON parse + build)".into(),
        bytes(prepare(&big_doc).unwrap().smtp_len()),
        spread(&timing),
        timing.rate(),
        format!("{} × {}", timing.runs, timing.iters),
    ]);
    let timing = time_it(5, 15, 20, || {
        serde_json::from_str::<MessageDocument>(&invoice_json(&pdf, &logo).to_string()).expect("parses")
    });
    t.row(&[
        "invoice: message_json → MessageDocument only".into(),
        "–".into(),
        spread(&timing),
        timing.rate(),
        format!("{} × {}", timing.runs, timing.iters),
    ]);
    t.print();

    let mut m = Table::new(
        "Allocations and peak heap of one build",
        &[
            "message",
            "encoded size",
            "attachments in",
            "allocations",
            "bytes allocated",
            "peak heap",
            "peak / encoded size",
            "heap kept by the result",
        ],
    );
    let attach_in = |d: &MessageDocument| -> u64 {
        d.attachments
            .iter()
            .filter_map(|a| a.path.as_ref())
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    for (name, d) in [
        ("short text + HTML", &small),
        ("invoice (100 KB PDF + logo)", &invoice),
        ("10 MB attachment from a file", &big_doc),
    ] {
        let size = prepare(d).unwrap().smtp_len() as usize;
        let a = allocs_of(|| prepare(d).expect("builds"));
        let kept = kept_by(|| prepare(d).expect("builds"));
        m.row(&[
            name.into(),
            bytes(size as u64),
            bytes(attach_in(d)),
            format!("{} (+{} realloc)", a.allocs, a.reallocs),
            format!("{} ({:.1}× encoded)", bytes(a.bytes), a.bytes as f64 / size as f64),
            bytes(a.peak as u64),
            format!("{:.2}×", a.peak as f64 / size as f64),
            format!("{} ({:.2}× encoded)", bytes(kept as u64), kept as f64 / size as f64),
        ]);
    }
    // The JSON text is the host's; parsing it and building is what the library adds.
    let size = prepare(&big_doc).unwrap().smtp_len() as usize;
    let a = allocs_of(|| {
        let d: MessageDocument = serde_json::from_str(&big_b64_json).expect("parses");
        prepare(&d).expect("builds")
    });
    let kept = kept_by(|| {
        let d: MessageDocument = serde_json::from_str(&big_b64_json).expect("parses");
        prepare(&d).expect("builds")
    });
    m.row(&[
        "10 MB as content_base64 (parse + build; JSON text itself not counted)".into(),
        bytes(size as u64),
        bytes(10 * 1024 * 1024),
        format!("{} (+{} realloc)", a.allocs, a.reallocs),
        format!("{} ({:.1}× encoded)", bytes(a.bytes), a.bytes as f64 / size as f64),
        bytes(a.peak as u64),
        format!("{:.2}×", a.peak as f64 / size as f64),
        format!("{} ({:.2}× encoded)", bytes(kept as u64), kept as f64 / size as f64),
    ]);
    m.note(
        "A path attachment over 64 KiB is not read while the message is built: it is opened and \
         checked (regular file, size), and its base64 is written while a transport reads the message \
         (next table). So the build's peak and what the result keeps do not grow with the file. \
         content_base64 is decoded from the host's JSON and encoded again in memory.",
    );
    m.print();

    // The transports read the message through a MessageReader, which encodes the file in 64 KiB
    // chunks; gmail_api_bytes() (the whole message in memory) is what the graph transport uses.
    let mut bcc = attachment_json(&big);
    bcc["bcc"] = serde_json::json!(["arhiva@firma.ro"]);
    let bcc = doc(&bcc);
    let p_plain = prepare(&big_doc).unwrap();
    let p_bcc = prepare(&bcc).unwrap();
    let read_through = |r: &mut dyn std::io::Read| {
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0;
        loop {
            match r.read(&mut buf).expect("reads") {
                0 => return n,
                k => n += k,
            }
        }
    };
    let mut c = Table::new(
        "The message as a transport reads it (10 MB attachment from a file, message already built)",
        &["call", "allocations", "bytes allocated", "peak heap", "time"],
    );
    for (name, f) in [
        (
            "smtp_reader(), read to the end in 64 KiB reads (what SMTP DATA does)",
            Box::new(|| black_box(read_through(&mut p_plain.smtp_reader()))) as Box<dyn Fn() -> usize>,
        ),
        (
            "gmail_api_reader() with Bcc, read to the end (the Gmail API upload)",
            Box::new(|| black_box(read_through(&mut p_bcc.gmail_api_reader()))),
        ),
        (
            "gmail_api_bytes() with Bcc: the whole message in memory (the graph transport)",
            Box::new(|| black_box(p_bcc.gmail_api_bytes().unwrap().len())),
        ),
    ] {
        let a = allocs_of(&f);
        let timing = time_it(2, 7, 3, &f);
        c.row(&[
            name.into(),
            a.allocs.to_string(),
            bytes(a.bytes),
            bytes(a.peak as u64),
            spread(&timing),
        ]);
    }
    c.print();
}

/// Heap held by the value `f` returns (allocated, not necessarily touched: Vec capacity counts).
fn kept_by<T>(f: impl Fn() -> T) -> isize {
    black_box(f());
    let before = heap_now();
    let value = f();
    let kept = heap_now() as isize - before as isize;
    drop(black_box(value));
    kept
}

fn big_base64_json(path: &str) -> String {
    use base64::Engine as _;
    let content = std::fs::read(path).expect("read");
    serde_json::json!({
        "from": FROM,
        "to": ["Ion Popescu <ion.popescu@example.ro>"],
        "subject": "Arhiva documentelor — noiembrie 2026",
        "text": TEXT,
        "attachments": [{
            "filename": "Arhiva_noiembrie.zip",
            "content_base64": base64::engine::general_purpose::STANDARD.encode(content)
        }]
    })
    .to_string()
}
