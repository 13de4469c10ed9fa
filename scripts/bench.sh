#!/usr/bin/env bash
# Runs liboauthmail's benchmarks (benches/*.rs) in release mode, writes target/bench/results.md
# and prints it. Not part of `make test`. Loopback only; takes a few minutes on 2 cores (plus the
# release build with LTO the first time).
#
#   scripts/bench.sh                 # every benchmark
#   scripts/bench.sh message c_api   # some of them (message, c_api, e2e, memory)
#   OAUTHMAIL_BENCH_QUICK=1 scripts/bench.sh   # tiny loops: checks the benches run, measures nothing
#
# See docs/benchmarks.md for the method and how to read the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(message c_api e2e memory)
out=target/bench
mkdir -p "$out"
results="$out/results.md"

echo "building (release profile, LTO)..." >&2
cargo build --release --lib >&2
# Build once and run the executables built here, so a source change during the run (a shared
# tree) cannot mix versions.
cargo bench --no-run --message-format=json "${benches[@]/#/--bench=}" >"$out/build.json"
exe_of() {
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[2] and m.get("executable"):
        print(m["executable"])' "$out/build.json" "$1" | tail -n 1
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1024/1024}' /proc/meminfo 2>/dev/null || true)
{
    echo "# liboauthmail benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src benches 2>/dev/null || echo ' (with local changes)')"
    echo "- machine: ${cpu:-unknown CPU}, $(nproc) cores, ${mem:-? RAM}, $(uname -sr)"
    echo "- toolchain: $(rustc --version)"
    echo "- profile: release (lto = true, codegen-units = 1, panic = unwind)"
    echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the cores skews the timings; each section repeats it)"
    [ -z "${OAUTHMAIL_BENCH_QUICK:-}" ] || echo "- **QUICK MODE: loops cut to a tenth; not a measurement**"
    echo
} >"$results"

for b in "${benches[@]}"; do
    echo "running $b..." >&2
    started=$(date +%s)
    exe=$(exe_of "$b")
    [ -n "$exe" ] || { echo "no executable for benchmark $b" >&2; exit 1; }
    "$exe" --bench >>"$results" 2>"$out/$b.stderr" || {
        echo "benchmark $b failed (stderr in $out/$b.stderr):" >&2
        tail -n 20 "$out/$b.stderr" >&2
        exit 1
    }
    echo "  $b: $(($(date +%s) - started)) s" >&2
    echo >>"$results"
done

{
    echo "## Library size (target/release, stripped, LTO)"
    echo
    echo "| file | bytes | MiB | gzip -9 |"
    echo "|---|---|---|---|"
    row() {
        size=$(stat -c %s "$1")
        gz=$(gzip -9 -c "$1" | wc -c)
        awk -v f="$1" -v note="$2" -v s="$size" -v g="$gz" \
            'BEGIN { printf "| `%s`%s | %d | %.2f | %.2f MiB |\n", f, note, s, s / 1048576, g / 1048576 }'
    }
    for f in target/release/liboauthmail.so target/release/liboauthmail.a; do
        [ -f "$f" ] && row "$f" ""
    done
    # The Windows DLLs are not built here; listed when the Windows suite (scripts/test.d/60-windows.sh) left them.
    for f in target/i686-pc-windows-gnu/release/oauthmail.dll target/x86_64-pc-windows-gnu/release/oauthmail.dll; do
        [ -f "$f" ] && row "$f" " (built $(date -u -r "$f" '+%Y-%m-%d %H:%M UTC') by the Windows suite)"
    done
    true
} >>"$results"

cat "$results"
