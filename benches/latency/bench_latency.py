#!/usr/bin/env python3
"""Latency-shaped benchmark (issue 17): liboauthmail through its C API next to Python smtplib,
curl and Python http.client, all against the local Google stand-in behind a TCP delay proxy.

    scripts/bench-latency.sh            # builds the release library + stand-in, runs this, prints the table
    bench_latency.py --lib LIB.so --standin STANDIN [--rounds N] [--quick] [--out FILE]

Method (docs/benchmarks.md "Latency-shaped"):
- The proxy (a separate process, asyncio) sits on 127.0.0.1 in front of the stand-in's HTTPS and
  SMTPS ports. Every chunk it reads is written to the other side RTT/2 after it arrived, in
  order, in each direction: commands a client pipelines in one write share one delay, as on a
  real network. Bandwidth is not limited. The TCP handshake is not delayed (the kernel completes
  it before the proxy sees the connection), so a new connection costs one RTT less than on a real
  network, for every client alike. RTT 0 means no proxy (straight to the stand-in).
- The RTT is measured, not assumed: a one-byte echo through the proxy (median of 20); latencies
  "in RTTs" divide by that measured RTT.
- Rounds: every round runs every (RTT, client) cell once, in an order rotated per round, so
  drifting load on a shared machine spreads over all cells. A cell's figure is the median of its
  rounds, with the spread (min-max of the rounds). Inside a round: the median latency of the
  timed sends and sends/s = sends / wall time.
- Server-side round trips: the stand-in counts flights per SMTP session (GET /smtp/sessions);
  "flights/send" is their increase over the timed sends divided by the sends.
- Peak RSS: a fresh Python process per case (the library through ctypes, or Python's email +
  smtplib / http.client), straight to the stand-in; after one small warm-up send it reads
  VmHWM, sends a 25 MB file attachment (1 send, then in another process 4 sends in 4 threads),
  and reports the increase of VmHWM.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import http.client
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

SCOPE = "openid email https://mail.google.com/"
RCPT = "friend@example.com"
TEXT = "Buna ziua,\n\nFactura nr. 123 este atasata.\n\nO zi buna!\n"
ATTACHMENT_BYTES = 25_000_000


# ---------------------------------------------------------------------------------------------
# The delay proxy (its own process: `bench_latency.py proxy RTT_MS HOST:PORT...`)
# ---------------------------------------------------------------------------------------------

async def _pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def out():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(out())
    try:
        while True:
            data = await reader.read(256 * 1024)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await task
    except (ConnectionError, OSError):
        task.cancel()


def _nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _proxy_main(rtt_ms, upstreams):
    delay = rtt_ms / 2000.0
    ports = {}

    async def echo(reader, writer):
        _nodelay(writer)
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    echo_server = await asyncio.start_server(echo, "127.0.0.1", 0)
    echo_port = echo_server.sockets[0].getsockname()[1]
    for name, target in list(upstreams.items()) + [("echo", ("127.0.0.1", echo_port))]:
        async def handle(reader, writer, target=target):
            _nodelay(writer)
            try:
                ur, uw = await asyncio.open_connection(*target)
            except OSError:
                writer.close()
                return
            _nodelay(uw)
            await asyncio.gather(_pipe(reader, uw, delay), _pipe(ur, writer, delay))
            uw.close()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ports[name] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


def proxy_process(rtt_ms, upstreams):
    """Starts a proxy process; returns (process, {name: port})."""
    args = [sys.executable, os.path.abspath(__file__), "proxy", str(rtt_ms)]
    args += [f"{n}={h}:{p}" for n, (h, p) in upstreams.items()]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        raise RuntimeError("the delay proxy did not start")
    return p, json.loads(line)


def measure_rtt(port, n=20):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo")
        times.append(time.perf_counter() - t)
    s.close()
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------
# The stand-in and its control plane
# ---------------------------------------------------------------------------------------------

class Standin:
    def __init__(self, exe):
        self.dir = tempfile.mkdtemp(prefix="oauthmail-bench-")
        self.proc = subprocess.Popen([exe, "--state-dir", self.dir], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the stand-in did not start")
        self.info = json.loads(line)
        self.user = self.info["users"][0]

    def port(self, key):
        return int(self.info[key].rsplit(":", 1)[1].split("/")[0])

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.info["control"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def token(self):
        t = self.control("POST", "/tokens", {"email": self.user, "scope": SCOPE})
        return {"provider": "google", "email": t["email"], "scope": t["scope"], "token_type": "Bearer",
                "access_token": t["access_token"], "expires_at": t["expires_at"],
                "refresh_token": t["refresh_token"]}

    def flights(self):
        return sum(s["flights"] for s in self.control("GET", "/smtp/sessions")["sessions"])

    def clear_mailbox(self):
        self.control("DELETE", "/mailbox")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def library_config(info, transport, https_port, smtps_port):
    base = f"https://127.0.0.1:{https_port}"
    return {
        "provider": "google", "client_id": info["client_id"], "client_secret": info["client_secret"],
        "transport": transport, "scopes": ["openid", "email", "https://mail.google.com/"],
        "endpoints": {"authorization": base + "/o/oauth2/v2/auth", "token": base + "/token",
                      "revocation": base + "/revoke", "userinfo": base + "/v1/userinfo",
                      "gmail_api": base, "smtp": f"smtps://127.0.0.1:{smtps_port}"},
        "tls": {"extra_ca_file": info["ca_file"]},
        "timeouts": {"authorize_s": 30, "connect_s": 10, "io_s": 60},
    }


def library_message(user, attachment=None):
    m = {"from": user, "to": [RCPT], "subject": "Factura 123", "text": TEXT}
    if attachment:
        m["attachments"] = [{"path": attachment}]
    return m


def python_message(user, attachment=None):
    m = EmailMessage()
    m["From"] = user
    m["To"] = RCPT
    m["Subject"] = "Factura 123"
    m.set_content(TEXT)
    if attachment:
        with open(attachment, "rb") as f:
            m.add_attachment(f.read(), maintype="application", subtype="octet-stream",
                             filename=os.path.basename(attachment))
    return m


def xoauth2(user, token):
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


# ---------------------------------------------------------------------------------------------
# The clients; each returns a list of per-send latencies (seconds) and the wall time
# ---------------------------------------------------------------------------------------------

def timed(env, n, one):
    lat = []
    env.mark()
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        one()
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    env.mark()
    return lat, wall


class Env:
    """What a cell needs: the stand-in, ports for this RTT, a token."""

    def __init__(self, standin, rtt_ms, https_port, smtps_port, token):
        self.s, self.rtt_ms, self.https, self.smtps, self.token = standin, rtt_ms, https_port, smtps_port, token
        self.ctx = ssl.create_default_context(cafile=standin.info["ca_file"])
        self.count_flights = False
        self.marks = []

    def mark(self):
        """Called right before and right after the timed sends: the stand-in's flight count."""
        if self.count_flights:
            self.marks.append(self.s.flights())

    def flights(self):
        return self.marks[-1] - self.marks[0] if len(self.marks) >= 2 else None


def lib_warm(env, n, transport):
    import oauthmail
    c = oauthmail.Client(library_config(env.s.info, transport, env.https, env.smtps))
    msg = library_message(env.s.user)
    for _ in range(2):
        c.send(env.token, msg)
    lat, wall = timed(env, n, lambda: c.send(env.token, msg))
    c.close()
    return lat, wall


def lib_first(env, n, transport):
    import oauthmail
    cfg = library_config(env.s.info, transport, env.https, env.smtps)
    msg = library_message(env.s.user)
    lat = []
    env.mark()
    t0 = time.perf_counter()
    for _ in range(n):
        c = oauthmail.Client(cfg)
        t = time.perf_counter()
        c.send(env.token, msg)
        lat.append(time.perf_counter() - t)
        c.close()
    wall = time.perf_counter() - t0
    env.mark()
    return lat, wall


def lib_threads(env, n, transport, threads=8):
    import oauthmail
    c = oauthmail.Client(library_config(env.s.info, transport, env.https, env.smtps))
    msg = library_message(env.s.user)
    per = max(1, n // threads)
    lat, lock, errors = [], threading.Lock(), []

    def worker(k):
        try:
            for _ in range(k):
                t = time.perf_counter()
                c.send(env.token, msg)
                d = time.perf_counter() - t
                with lock:
                    lat.append(d)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def run(k):
        ts = [threading.Thread(target=worker, args=(k,)) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        return time.perf_counter() - t0

    run(1)  # warm-up: every thread's first send (connections, TLS)
    lat.clear()
    env.mark()
    wall = run(per)
    env.mark()
    c.close()
    if errors:
        raise errors[0]
    return lat, wall


def smtplib_kept(env, n):
    c = smtplib.SMTP_SSL("127.0.0.1", env.smtps, context=env.ctx, timeout=60)
    c.ehlo("bench")
    code, _ = c.docmd("AUTH", "XOAUTH2 " + xoauth2(env.s.user, env.token["access_token"]))
    assert code == 235, code
    msg = python_message(env.s.user)
    for _ in range(2):
        c.send_message(msg)
    lat, wall = timed(env, n, lambda: c.send_message(msg))
    c.quit()
    return lat, wall


def smtplib_per_message(env, n):
    msg = python_message(env.s.user)

    def one():
        c = smtplib.SMTP_SSL("127.0.0.1", env.smtps, context=env.ctx, timeout=60)
        c.ehlo("bench")
        code, _ = c.docmd("AUTH", "XOAUTH2 " + xoauth2(env.s.user, env.token["access_token"]))
        assert code == 235, code
        c.send_message(msg)
        c.quit()

    return timed(env, n, one)


def curl_per_message(env, n):
    body = python_message(env.s.user).as_bytes()
    args = ["curl", "-sS", "--max-time", "60", f"smtps://127.0.0.1:{env.smtps}", "--cacert",
            env.s.info["ca_file"], "--mail-from", env.s.user, "--mail-rcpt", RCPT, "--user",
            env.s.user + ":", "--oauth2-bearer", env.token["access_token"], "--upload-file", "-"]

    def one():
        r = subprocess.run(args, input=body, capture_output=True, timeout=90)
        if r.returncode != 0:
            raise RuntimeError(f"curl exited {r.returncode}")

    return timed(env, n, one)


def http_client_kept(env, n):
    c = http.client.HTTPSConnection("127.0.0.1", env.https, context=env.ctx, timeout=60)
    body = python_message(env.s.user).as_bytes()
    headers = {"Authorization": "Bearer " + env.token["access_token"], "Content-Type": "message/rfc822"}

    def one():
        c.request("POST", "/upload/gmail/v1/users/me/messages/send?uploadType=media", body, headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}")

    for _ in range(2):
        one()
    lat, wall = timed(env, n, one)
    c.close()
    return lat, wall


# (key, label, function, sends at RTT 0, sends at RTT > 0, counts SMTP flights)
CELLS = [
    ("lib_smtp_warm", "liboauthmail SMTP, kept connection", lambda e, n: lib_warm(e, n, "smtp"), 300, 12, True),
    ("lib_api_warm", "liboauthmail Gmail API, kept connection", lambda e, n: lib_warm(e, n, "gmail_api"), 300, 20, False),
    ("lib_smtp_first", "liboauthmail SMTP, first send after client_new", lambda e, n: lib_first(e, n, "smtp"), 20, 4, True),
    ("lib_api_first", "liboauthmail Gmail API, first send after client_new", lambda e, n: lib_first(e, n, "gmail_api"), 20, 4, False),
    ("lib_smtp_8t", "liboauthmail SMTP, 8 threads on one client", lambda e, n: lib_threads(e, n, "smtp"), 400, 48, True),
    ("lib_api_8t", "liboauthmail Gmail API, 8 threads on one client", lambda e, n: lib_threads(e, n, "gmail_api"), 400, 80, False),
    ("smtplib_kept", "Python smtplib, kept connection", smtplib_kept, 300, 12, True),
    ("smtplib_each", "Python smtplib, connection per message", smtplib_per_message, 40, 4, True),
    ("curl_each", "curl, process per message", curl_per_message, 20, 4, True),
    ("httpclient_kept", "Python http.client, keep-alive (Gmail API upload)", http_client_kept, 300, 20, False),
]


# ---------------------------------------------------------------------------------------------
# Peak RSS (a fresh process per case: `bench_latency.py rss CASE PARALLEL STANDIN_JSON LIB FILE`)
# ---------------------------------------------------------------------------------------------

def vm(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss_worker(case, parallel, info_path, lib, path):
    info = json.load(open(info_path))
    os.environ["OAUTHMAIL_LIBRARY"] = lib
    s = Standin.__new__(Standin)
    s.info, s.user = info, info["users"][0]
    token = s.token()
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    https, smtps = s.port("gmail_api"), s.port("smtps")
    if case.startswith("lib_"):
        import oauthmail
        c = oauthmail.Client(library_config(info, "smtp" if case == "lib_smtp" else "gmail_api", https, smtps))

        def send(attachment):
            c.send(token, library_message(s.user, attachment))
    elif case == "py_smtp":
        def send(attachment):
            with smtplib.SMTP_SSL("127.0.0.1", smtps, context=ctx, timeout=120) as c:
                c.ehlo("bench")
                c.docmd("AUTH", "XOAUTH2 " + xoauth2(s.user, token["access_token"]))
                c.send_message(python_message(s.user, attachment))
    else:
        def send(attachment):
            c = http.client.HTTPSConnection("127.0.0.1", https, context=ctx, timeout=120)
            c.request("POST", "/upload/gmail/v1/users/me/messages/send?uploadType=media",
                      python_message(s.user, attachment).as_bytes(),
                      {"Authorization": "Bearer " + token["access_token"], "Content-Type": "message/rfc822"})
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
            c.close()
    send(None)  # warm-up: imports, connection, TLS buffers
    base = vm("VmHWM")
    errors = []

    def one():
        try:
            send(path)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=one) for _ in range(parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(600)
    print(json.dumps({"base": base, "peak": vm("VmHWM"), "errors": errors}))


RSS_CASES = [("lib_smtp", "liboauthmail SMTP"), ("py_smtp", "Python email + smtplib"),
             ("lib_api", "liboauthmail Gmail API"), ("py_api", "Python email + http.client (upload)")]


def run_rss(standin, lib, workdir, quick):
    size = ATTACHMENT_BYTES // (20 if quick else 1)
    path = os.path.join(workdir, "attachment.bin")
    with open(path, "wb") as f:
        for _ in range(size // 1_000_000):
            f.write(random.randbytes(1_000_000))
        f.write(random.randbytes(size % 1_000_000))
    info_path = os.path.join(standin.dir, "standin.json")
    out = {}
    for case, _ in RSS_CASES:
        for parallel in (1, 4):
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "rss", case, str(parallel), info_path, lib, path],
                               capture_output=True, text=True, timeout=900)
            standin.clear_mailbox()
            if r.returncode != 0:
                raise RuntimeError(f"rss {case} x{parallel} failed: {r.stderr[-2000:]}")
            v = json.loads(r.stdout.strip().splitlines()[-1])
            if v["errors"]:
                raise RuntimeError(f"rss {case} x{parallel}: {v['errors']}")
            out[(case, parallel)] = (v["peak"] - v["base"], v["base"])
    os.unlink(path)
    return size, out


# ---------------------------------------------------------------------------------------------
# The run and the table
# ---------------------------------------------------------------------------------------------

def med_spread(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt_spread(xs, f="{:.2f}"):
    m, lo, hi = med_spread(xs)
    return f"{f.format(m)} ({f.format(lo)}–{f.format(hi)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--standin", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rtts", default="0,10,25")
    ap.add_argument("--quick", action="store_true", help="tiny loops: checks the benchmark runs, measures nothing")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated cell keys")
    ap.add_argument("--out")
    a = ap.parse_args()
    os.environ["OAUTHMAIL_LIBRARY"] = os.path.abspath(a.lib)
    import oauthmail  # noqa: F401 - loads the library once, before any timing
    rtts = [int(x) for x in a.rtts.split(",")]
    rounds = 1 if a.quick else a.rounds
    cells = [c for c in CELLS if not a.only or c[0] in a.only.split(",")]
    standin = Standin(a.standin)
    proxies = []
    results = {}  # (key, rtt) -> list of (median latency, sends/s, flights/send)
    measured_rtt = {0: 0.0}
    started = time.time()
    load_before = open("/proc/loadavg").read().split()[:3]
    try:
        ports = {0: (standin.port("gmail_api"), standin.port("smtps"))}
        for rtt in rtts:
            if rtt == 0:
                continue
            p, pp = proxy_process(rtt, {"https": ("127.0.0.1", standin.port("gmail_api")),
                                        "smtps": ("127.0.0.1", standin.port("smtps"))})
            proxies.append(p)
            ports[rtt] = (pp["https"], pp["smtps"])
            measured_rtt[rtt] = measure_rtt(pp["echo"])
        token = standin.token()
        order = [(rtt, c) for rtt in rtts for c in cells]
        for r in range(rounds):
            shift = (r * len(order)) // max(1, rounds)
            for rtt, (key, label, fn, n0, n1, smtp) in order[shift:] + order[:shift]:
                n = n0 if rtt == 0 else n1
                if a.quick:
                    n = 16 if key.endswith("8t") else max(2, n // 10)
                env = Env(standin, rtt, ports[rtt][0], ports[rtt][1], token)
                env.count_flights = smtp
                lat, wall = fn(env, n)
                fl = env.flights()
                standin.clear_mailbox()
                sends = len(lat)
                results.setdefault((key, rtt), []).append(
                    (statistics.median(lat), sends / wall, None if fl is None else fl / sends))
                print(f"  round {r + 1}/{rounds} rtt {rtt:>2} ms {key:<16} {sends:>4} sends "
                      f"p50 {statistics.median(lat) * 1000:8.2f} ms {sends / wall:8.1f}/s", file=sys.stderr)
        rss = None if a.no_rss else run_rss(standin, os.path.abspath(a.lib), standin.dir, a.quick)
    finally:
        for p in proxies:
            p.terminate()
        standin.stop()
    text = report(results, measured_rtt, rtts, cells, rss, rounds, load_before, time.time() - started, a.quick)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


def report(results, measured_rtt, rtts, cells, rss, rounds, load_before, seconds, quick):
    L = []
    w = L.append
    w("## Latency-shaped benchmark (issue 17)")
    w("")
    if quick:
        w("**QUICK MODE: tiny loops; not a measurement**")
        w("")
    w(f"- {rounds} rounds, interleaved; RTTs {', '.join(f'{r} ms' for r in rtts)} (0 = no proxy); "
      f"measured RTT through the proxy: "
      + ", ".join(f"{r} ms → {measured_rtt[r] * 1000:.2f} ms" for r in rtts if r) + ".")
    w(f"- load average before: {' '.join(load_before)}, after: {' '.join(open('/proc/loadavg').read().split()[:3])}; "
      f"{seconds:.0f} s in all.")
    w("- figures: median of the rounds (spread min–max of the rounds); each round's figure is the median latency "
      "of its timed sends, or sends / wall time.")
    w("")

    def cell(key, rtt, i):
        v = results.get((key, rtt))
        return None if not v else [x[i] for x in v]

    def in_rtt(key, rtt):
        v = cell(key, rtt, 0)
        return None if v is None or not measured_rtt.get(rtt) else [x / measured_rtt[rtt] for x in v]

    def ratio(k1, k2, rtt, i=1):
        a, b = cell(k1, rtt, i), cell(k2, rtt, i)
        if not a or not b:
            return None
        return [x / y for x, y in zip(a, b)]

    goals = []

    def goal(metric, target, vals, f="{:.2f}"):
        goals.append((metric, target, "n/a" if not vals else fmt_spread(vals, f)))

    top = max(rtts)
    goal(f"warm SMTP send on a kept connection (RTT {top} ms), RTTs", "≤ 2.2 (today 5)", in_rtt("lib_smtp_warm", top))
    goal(f"warm Gmail API send on a kept connection (RTT {top} ms), RTTs", "≤ 1.2", in_rtt("lib_api_warm", top))
    goal(f"first SMTP send after client_new, valid token, implicit TLS (RTT {top} ms), RTTs "
         "(the proxy does not delay TCP's handshake: +1 on a real network)", "≤ 6", in_rtt("lib_smtp_first", top))
    goal(f"8 threads ÷ 1 thread, SMTP (RTT {top} ms), sends/s", "≥ 6×", ratio("lib_smtp_8t", "lib_smtp_warm", top))
    goal(f"8 threads ÷ 1 thread, Gmail API (RTT {top} ms), sends/s", "≥ 6×", ratio("lib_api_8t", "lib_api_warm", top))
    goal(f"library ÷ smtplib on one kept connection (RTT {top} ms), sends/s", "≥ 2×", ratio("lib_smtp_warm", "smtplib_kept", top))
    if rss:
        size, r = rss
        goal("peak RSS increase, one 25 MB path attachment, SMTP (× the attachment)", "≤ 1.0× (today ~2.8×)",
             [r[("lib_smtp", 1)][0] / size])
        goal("peak RSS increase, one 25 MB path attachment, Gmail API (× the attachment)", "≤ 1.0×",
             [r[("lib_api", 1)][0] / size])
        goal("peak RSS increase, 4 parallel sends, SMTP (× the attachment)", "≤ 4×", [r[("lib_smtp", 4)][0] / size])
        goal("peak RSS increase, 4 parallel sends, Gmail API (× the attachment)", "≤ 4×", [r[("lib_api", 4)][0] / size])
    if 0 in rtts:
        goal("loopback, RTT 0: library ÷ smtplib kept connection, sends/s", "≥ 1.5× (today about 1.2–1.9×)",
             ratio("lib_smtp_warm", "smtplib_kept", 0))
    w("### Goals")
    w("")
    w("| metric | target | measured |")
    w("|---|---|---|")
    for m, t, v in goals:
        w(f"| {m} | {t} | {v} |")
    w("")
    w("### Every cell")
    w("")
    w("| RTT | client | sends/s | p50 latency | p50 in RTTs | SMTP flights per send (stand-in) |")
    w("|---|---|---|---|---|---|")
    for rtt in rtts:
        for key, label, *_ in cells:
            sps, lat = cell(key, rtt, 1), cell(key, rtt, 0)
            if not sps:
                continue
            fl = cell(key, rtt, 2)
            r = in_rtt(key, rtt)
            w(f"| {rtt} ms | {label} | {fmt_spread(sps, '{:.1f}')} | {fmt_spread([x * 1000 for x in lat], '{:.2f}')} ms | "
              f"{fmt_spread(r) if r else '–'} | {fmt_spread(fl) if fl and fl[0] is not None else '–'} |")
    w("")
    w("### Ratios (sends/s; median of the per-round ratios)")
    w("")
    w("| RTT | library SMTP ÷ smtplib kept | ÷ smtplib per message | ÷ curl per message | library Gmail API ÷ http.client keep-alive | SMTP 8 threads ÷ 1 | Gmail API 8 threads ÷ 1 |")
    w("|---|---|---|---|---|---|---|")
    for rtt in rtts:
        rs = [ratio("lib_smtp_warm", "smtplib_kept", rtt), ratio("lib_smtp_warm", "smtplib_each", rtt),
              ratio("lib_smtp_warm", "curl_each", rtt), ratio("lib_api_warm", "httpclient_kept", rtt),
              ratio("lib_smtp_8t", "lib_smtp_warm", rtt), ratio("lib_api_8t", "lib_api_warm", rtt)]
        w(f"| {rtt} ms | " + " | ".join("–" if not x else fmt_spread(x) + "×" for x in rs) + " |")
    w("")
    if rss:
        size, r = rss
        w(f"### Peak RSS increase, {size / 1e6:.0f} MB file attachment (straight to the stand-in)")
        w("")
        w("| client | 1 send | × attachment | 4 sends in 4 threads | × attachment | VmHWM before |")
        w("|---|---|---|---|---|---|")
        for case, label in RSS_CASES:
            (d1, b1), (d4, _) = r[(case, 1)], r[(case, 4)]
            w(f"| {label} | {d1 / 2**20:.1f} MiB | {d1 / size:.2f}× | {d4 / 2**20:.1f} MiB | {d4 / size:.2f}× | {b1 / 2**20:.1f} MiB |")
        w("")
    return "\n".join(L)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "proxy":
        ups = {}
        for spec in sys.argv[3:]:
            name, hp = spec.split("=", 1)
            h, p = hp.rsplit(":", 1)
            ups[name] = (h, int(p))
        try:
            asyncio.run(_proxy_main(float(sys.argv[2]), ups))
        except KeyboardInterrupt:
            pass
    elif len(sys.argv) > 1 and sys.argv[1] == "rss":
        rss_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    else:
        main()
