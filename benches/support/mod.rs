//! Shared by the benchmark binaries (`benches/*.rs`, `harness = false`): a counting global
//! allocator, a timer with warm-up and repeated runs (median and spread), latency percentiles,
//! deterministic test files, and Markdown output. No benchmark framework: `std::time::Instant`.
//!
//! Every binary includes this module with `mod support;` and gets the counting allocator with it.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Counting allocator

/// The system allocator, counting calls, bytes and the heap's high-water mark.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only adds
// bookkeeping in atomics (which never allocate), so `System`'s guarantees carry over.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator (i.e. from `System`).
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            REALLOCS.fetch_add(1, Relaxed);
            // A realloc may move (copy) the block: counted at its new size.
            BYTES.fetch_add(new_size as u64, Relaxed);
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the allocator saw between [`AllocProbe::start`] and [`AllocProbe::stop`] (all threads).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocStats {
    /// alloc + alloc_zeroed calls.
    pub allocs: u64,
    pub reallocs: u64,
    /// Bytes requested (a realloc counts its new size).
    pub bytes: u64,
    /// Highest live heap above the heap at `start`.
    pub peak: usize,
    /// Live heap at `stop` minus at `start` (what the measured code kept).
    pub retained: isize,
}

pub struct AllocProbe {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
    base: usize,
}

impl AllocProbe {
    /// Starts counting; resets the high-water mark to the current heap.
    pub fn start() -> AllocProbe {
        let base = CURRENT.load(Relaxed);
        PEAK.store(base, Relaxed);
        AllocProbe {
            allocs: ALLOCS.load(Relaxed),
            reallocs: REALLOCS.load(Relaxed),
            bytes: BYTES.load(Relaxed),
            base,
        }
    }

    pub fn stop(self) -> AllocStats {
        let current = CURRENT.load(Relaxed);
        AllocStats {
            allocs: ALLOCS.load(Relaxed) - self.allocs,
            reallocs: REALLOCS.load(Relaxed) - self.reallocs,
            bytes: BYTES.load(Relaxed) - self.bytes,
            peak: PEAK.load(Relaxed).saturating_sub(self.base),
            retained: current as isize - self.base as isize,
        }
    }
}

/// The live heap right now (bytes).
pub fn heap_now() -> usize {
    CURRENT.load(Relaxed)
}

/// Allocations of one call of `f` (run once before, so one-time initialisation is not counted).
pub fn allocs_of<T>(mut f: impl FnMut() -> T) -> AllocStats {
    black_box(f());
    let probe = AllocProbe::start();
    let out = f();
    drop(black_box(out));
    probe.stop()
}

// ---------------------------------------------------------------------------------------------
// Timing

/// `OAUTHMAIL_BENCH_QUICK=1` shrinks every loop (a smoke run of the code, not a measurement).
pub fn quick() -> bool {
    std::env::var_os("OAUTHMAIL_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// Scales an iteration count down in quick mode (never below 1).
pub fn n(count: usize) -> usize {
    if quick() {
        count.div_ceil(10).max(1)
    } else {
        count
    }
}

/// Time per operation over several runs: median and spread (min..max) of the runs, in seconds
/// (f64: a call of a few nanoseconds keeps its fractions).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
    pub iters: usize,
}

impl Timing {
    pub fn per_second(&self) -> f64 {
        1.0 / self.median
    }

    /// Calls per second, readable: `11010`, `1.2 M`.
    pub fn rate(&self) -> String {
        rate(self.per_second())
    }

    /// The same timing divided by `k` (a timed body that made `k` calls).
    pub fn per(self, k: usize) -> Timing {
        let k = k as f64;
        Timing {
            median: self.median / k,
            min: self.min / k,
            max: self.max / k,
            ..self
        }
    }
}

pub fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.1} M", per_second / 1e6)
    } else if per_second >= 100.0 {
        format!("{per_second:.0}")
    } else {
        format!("{per_second:.1}")
    }
}

/// `warmup` untimed runs, then `runs` timed runs of `iters` calls each; the time per call of each
/// run is `elapsed / iters`.
pub fn time_it<T>(warmup: usize, runs: usize, iters: usize, mut f: impl FnMut() -> T) -> Timing {
    let (warmup, runs, iters) = (n(warmup), n(runs).max(3), n(iters));
    for _ in 0..warmup * iters {
        black_box(f());
    }
    let mut per: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    per.sort_by(f64::total_cmp);
    let m = per.len() / 2;
    Timing {
        median: if per.len() % 2 == 1 {
            per[m]
        } else {
            (per[m - 1] + per[m]) / 2.0
        },
        min: per[0],
        max: per[per.len() - 1],
        runs,
        iters,
    }
}

/// Latency samples of single operations: percentiles by the nearest-rank method.
#[derive(Clone, Debug, Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0 < p <= 100), nearest rank.
    pub fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting

pub fn dur(d: Duration) -> String {
    secs(d.as_secs_f64())
}

/// Seconds, in the unit that reads best.
pub fn secs(s: f64) -> String {
    let ns = s * 1e9;
    if ns < 10.0 {
        format!("{ns:.2} ns")
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `median (min–max)`.
pub fn spread(t: &Timing) -> String {
    format!("{} ({}–{})", secs(t.median), secs(t.min), secs(t.max))
}

pub fn bytes(b: u64) -> String {
    let f = b as f64;
    if b < 10 * 1024 {
        format!("{b} B")
    } else if f < 10.0 * 1024.0 * 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{:.1} MiB", f / 1024.0 / 1024.0)
    }
}

/// A Markdown table written row by row to stdout (and kept for a summary).
pub struct Table {
    text: String,
}

impl Table {
    pub fn new(title: &str, columns: &[&str]) -> Table {
        let mut text = format!("\n### {title}\n\n| {} |\n|", columns.join(" | "));
        for _ in columns {
            text.push_str("---|");
        }
        text.push('\n');
        Table { text }
    }

    pub fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.text, "| {} |", cells.join(" | "));
    }

    pub fn note(&mut self, line: &str) {
        let _ = writeln!(self.text, "\n{line}");
    }

    pub fn print(self) {
        print!("{}", self.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Files

/// A scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("oauthmail-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }

    /// Writes `len` deterministic pseudo-random bytes (incompressible, like a PDF's streams)
    /// starting with `head`; returns the path as a string.
    pub fn file(&self, name: &str, head: &[u8], len: usize) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, pseudo_random(head, len, name.len() as u64)).expect("write a test file");
        path.to_str().expect("a UTF-8 temp path").to_string()
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn pseudo_random(head: &[u8], len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&head[..head.len().min(len)]);
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    while out.len() < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&v[..take]);
    }
    out
}

/// The machine's load average (1, 5, 15 min) from /proc/loadavg: other work on the cores skews
/// every timing, so each benchmark prints it.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The section heading of a benchmark, with the load average at its start.
pub fn section(title: &str) {
    println!("## {title}\n\n_load average at start: {}_", load());
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in bytes, from /proc/self/status.
pub fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

// ---------------------------------------------------------------------------------------------
// The typical messages

pub const FROM: &str = "Firma Exemplu SRL <erp.test@gmail.com>";

pub const TEXT: &str = "Bună ziua,\n\nVă transmitem atașat factura nr. 2026-00123 din 25.11.2026, în valoare de \
1.234,56 lei (TVA inclus), cu scadența la 15.12.2026.\n\nVă rugăm să efectuați plata în contul \
RO49 AAAA 1B31 0075 9384 0000, deschis la Banca Exemplu, menționând numărul facturii.\n\n\
Pentru întrebări privind această factură ne puteți contacta la 021 123 45 67 sau răspunzând \
acestui mesaj.\n\nCu stimă,\nDepartamentul Financiar-Contabilitate\nFirma Exemplu SRL\n\
Str. Ștefan cel Mare nr. 10, București\nCUI RO12345678, J40/1234/2010\n";

pub fn html() -> String {
    let mut h = String::from(
        "<!DOCTYPE html><html lang=\"ro\"><head><meta charset=\"utf-8\"><title>Factura 2026-00123</title></head>\
<body style=\"font-family:Arial,sans-serif;font-size:14px;color:#222\">\
<p><img src=\"cid:logo\" alt=\"Firma Exemplu\" width=\"160\" height=\"48\"></p>\
<p>Bună ziua,</p><p>Vă transmitem atașat <b>factura nr. 2026-00123</b> din 25.11.2026.</p>\
<table style=\"border-collapse:collapse\" cellpadding=\"6\" border=\"1\">\
<tr><th>Nr.</th><th>Denumire produs/serviciu</th><th>Cant.</th><th>Preț unitar</th><th>Valoare</th></tr>",
    );
    for i in 1..=8 {
        let _ = write!(
            h,
            "<tr><td>{i}</td><td>Servicii de mentenanță și asistență tehnică, luna {i}</td><td>1</td>\
<td>{}.000,00 lei</td><td>{}.000,00 lei</td></tr>",
            i, i
        );
    }
    h.push_str(
        "</table><p>Total de plată: <b>1.234,56 lei</b> (TVA inclus), scadență <b>15.12.2026</b>.</p>\
<p>Cont: RO49 AAAA 1B31 0075 9384 0000, Banca Exemplu.</p>\
<p>Cu stimă,<br>Departamentul Financiar-Contabilitate<br>Firma Exemplu SRL<br>\
Str. Ștefan cel Mare nr. 10, București</p></body></html>",
    );
    h
}

/// The invoice document: text + HTML with diacritics, the PDF from a file, the inline logo.
pub fn invoice_json(pdf_path: &str, logo_path: &str) -> serde_json::Value {
    serde_json::json!({
        "from": FROM,
        "to": ["Ion Popescu <ion.popescu@example.ro>"],
        "cc": ["Contabilitate Client <contabilitate@example.ro>"],
        "reply_to": "contabilitate@firma.ro",
        "subject": "Factura nr. 2026-00123 — scadență 15.12.2026",
        "text": TEXT,
        "html": html(),
        "attachments": [
            {"path": pdf_path},
            {"path": logo_path, "content_id": "logo"}
        ],
        "headers": {"X-Document-Id": "2026-00123"}
    })
}

/// A short text + HTML notification without attachments.
pub fn small_json() -> serde_json::Value {
    serde_json::json!({
        "from": FROM,
        "to": ["Ion Popescu <ion.popescu@example.ro>"],
        "subject": "Confirmare comandă nr. 4567 — mulțumim!",
        "text": "Bună ziua,\n\nComanda dumneavoastră nr. 4567 a fost înregistrată și va fi livrată în 2–3 zile lucrătoare.\n\nCu stimă,\nFirma Exemplu SRL\n",
        "html": "<p>Bună ziua,</p><p>Comanda dumneavoastră <b>nr. 4567</b> a fost înregistrată și va fi livrată în 2–3 zile lucrătoare.</p><p>Cu stimă,<br>Firma Exemplu SRL</p>"
    })
}

/// A text message with one attachment file.
pub fn attachment_json(path: &str) -> serde_json::Value {
    serde_json::json!({
        "from": FROM,
        "to": ["Ion Popescu <ion.popescu@example.ro>"],
        "subject": "Arhiva documentelor — noiembrie 2026",
        "text": TEXT,
        "attachments": [{"path": path}]
    })
}

pub fn doc(v: &serde_json::Value) -> oauthmail::message::MessageDocument {
    serde_json::from_value(v.clone()).expect("a valid message document")
}

/// The size of a 100 KB invoice PDF, a small logo and the big attachment.
pub const PDF_BYTES: usize = 100 * 1024;
pub const LOGO_BYTES: usize = 6 * 1024;
pub const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n";
pub const PDF_HEAD: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

/// Writes the invoice's files into `scratch`; returns (pdf, logo) paths.
pub fn invoice_files(scratch: &Scratch) -> (String, String) {
    (
        scratch.file("Factura_2026-00123.pdf", PDF_HEAD, PDF_BYTES),
        scratch.file("logo.png", PNG_HEAD, LOGO_BYTES),
    )
}
