#!/usr/bin/env bash
# The latency-shaped benchmark (issue 17; docs/benchmarks.md "Latency-shaped"): liboauthmail
# through its C API next to Python smtplib, curl and Python http.client, against the stand-in
# behind a TCP delay proxy at RTT 0, 10 and 25 ms; then peak RSS of a 25 MB attachment. Prints
# the issue's Goals table and writes it to target/bench/latency.md. Not part of `make test`.
# Loopback only; about 3 minutes on 2 cores (plus the release build the first time).
#
#   scripts/bench-latency.sh                   # the whole run (5 rounds)
#   scripts/bench-latency.sh --rounds 3        # options go to benches/latency/bench_latency.py
#   scripts/bench-latency.sh --quick           # tiny loops: checks it runs, measures nothing
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out"
echo "building (release profile, LTO)..." >&2
# One invocation for both, so the dependencies are resolved (and cached) once.
cargo build --release --lib --bins -p oauthmail -p oauthmail-standin >&2
# Copies, so a rebuild in this tree during the run cannot mix versions.
cp target/release/liboauthmail.so "$out/liboauthmail.so"
cp target/release/oauthmail-standin "$out/oauthmail-standin"
{
    echo "# liboauthmail latency-shaped benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (with local changes)')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, $(uname -sr)"
    echo "- peers: $(python3 --version), $(curl --version | head -n 1 | cut -d' ' -f1-2)"
    echo
} >"$out/latency.md"
python3 benches/latency/bench_latency.py --lib "$out/liboauthmail.so" --standin "$out/oauthmail-standin" \
    --out "$out/latency-body.md" "$@"
cat "$out/latency-body.md" >>"$out/latency.md"
echo >&2
echo "written to $out/latency.md" >&2
