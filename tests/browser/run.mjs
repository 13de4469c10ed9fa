// The consent round trip in a real browser: Debian's Chromium (headless), driven by playwright-core,
// goes through the Google stand-in's account chooser and consent page by clicking, follows the
// redirect to liboauthmail's loopback listener and shows our page. The library is called from a C
// host (host.c) whose url_opener hands the URL to this script. Screenshots of every step go to
// tests/browser/artifacts/ (kept by CI). Secrets are never printed: the host redacts them, and this
// script only reports whether they are present and how long they are.
//
// Usage: node run.mjs [SCENARIO-SUBSTRING...]   (scripts/test.d/40-browser.sh builds first)

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const ART = path.join(HERE, 'artifacts');
const HOST = process.env.OAUTHMAIL_E2E_HOST || path.join(ROOT, 'target/browser-e2e/host');
const STANDIN = process.env.OAUTHMAIL_STANDIN || path.join(ROOT, 'target/debug/oauthmail-standin');
const CLI = process.env.OAUTHMAIL_CLI || path.join(ROOT, 'target/debug/oauthmail');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FAKE_BROWSER = path.join(HERE, 'fake-browser.sh');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TEST_USER = 'erp.test@gmail.com';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

fs.mkdirSync(ART, { recursive: true });
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'oauthmail-browser-'));

// ---------------------------------------------------------------------------------------------
// Reporting

let passed = 0;
let failed = 0;
let current = '';
const results = [];

function check(what, ok, detail = '') {
  const line = `${ok ? 'ok' : 'not ok'} - ${current}: ${what}${!ok && detail ? ` (${detail})` : ''}`;
  if (ok) passed += 1; else failed += 1;
  results.push(line);
  console.log(line);
  return ok;
}

function note(text) {
  const line = `# ${current}: ${text}`;
  results.push(line);
  console.log(line);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// The stand-in

async function startStandin() {
  const dir = path.join(WORK, 'standin');
  const child = spawn(STANDIN, ['--state-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pipe(fs.createWriteStream(path.join(ART, 'standin.stderr.log')));
  const rl = readline.createInterface({ input: child.stdout });
  const first = await withTimeout(new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`stand-in exited with ${code} before it was ready`)));
    child.once('error', reject);
  }), 20000, 'stand-in start');
  return { child, info: JSON.parse(first) };
}

async function control(info, method, p, body) {
  const res = await fetch(info.control + p, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  return res.json();
}

function configFor(info, { lang = 'en', redirectHost = '127.0.0.1', authorizeS = 60 } = {}) {
  return {
    provider: 'google',
    client_id: info.client_id,
    client_secret: info.client_secret,
    endpoints: {
      authorization: info.authorization_endpoint,
      token: info.token_endpoint,
      revocation: info.revocation_endpoint,
      userinfo: info.userinfo_endpoint,
      gmail_api: info.gmail_api,
    },
    redirect: { host: redirectHost, port: 0, path: '/' },
    timeouts: { authorize_s: authorizeS, connect_s: 5, io_s: 10 },
    tls: { extra_ca_file: info.ca_file },
    ui_language: lang,
  };
}

// ---------------------------------------------------------------------------------------------
// The C host

function startHost(name, config, { options = null, opener = 'stdout', env = {} } = {}) {
  const cfgPath = path.join(WORK, `${name}.config.json`);
  fs.writeFileSync(cfgPath, JSON.stringify(config));
  const child = spawn(HOST, [cfgPath, options ? JSON.stringify(options) : 'null', opener], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  child.stderr.pipe(fs.createWriteStream(path.join(ART, `${name}.host.log`)));
  const lines = [];
  const waiters = [];
  const rl = readline.createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    lines.push(line);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('exit', () => { for (const w of waiters.splice(0)) w(); });

  async function waitLine(prefix, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find((l) => l.startsWith(prefix));
      if (hit !== undefined) return hit.slice(prefix.length);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`host exited before printing "${prefix.trim()}"`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`host printed no "${prefix.trim()}" within ${ms} ms`);
      await withTimeout(new Promise((r) => waiters.push(r)), left, `host line ${prefix}`).catch(() => {});
    }
  }

  return {
    child,
    /** The authorization URL the url_opener received. */
    url: async (ms = 15000) => waitLine('URL ', ms),
    /** STATUS, ELAPSED_MS and the redacted DOC, once authorize returned. */
    result: async (ms) => {
      const [nameAndCode, elapsed, doc] = [await waitLine('STATUS ', ms), await waitLine('ELAPSED_MS ', 2000), await waitLine('DOC ', 2000)];
      const [status, code] = nameAndCode.split(' ');
      return { status, code: Number(code), elapsedMs: Number(elapsed), doc: JSON.parse(doc) };
    },
    has: (prefix) => lines.some((l) => l.startsWith(prefix)),
    send: (line) => { if (child.stdin.writable) child.stdin.write(`${line}\n`); },
    /** Lets the host free its client and exit; kills it if it does not. */
    finish: async () => {
      if (child.stdin.writable) child.stdin.end('exit\n');
      const r = await withTimeout(exited, 10000, 'host exit').catch(() => null);
      if (r === null) { child.kill('SIGKILL'); return { code: null, signal: 'SIGKILL' }; }
      return r;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Network probes

/** True when nothing listens on host:port any more and we can bind it ourselves. */
function portIsFree(port, host) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A GET to host:port/path; resolves { status, headers, body } or { error }. */
function httpGet(host, port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: p, timeout: 5000, family: host.includes(':') ? 6 : 4 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}

/** Clients that never finish: one sends half a request, one (like a browser's preconnect)
 * opens a connection and sends nothing. */
function slowClients(host, port) {
  const half = net.connect({ host, port });
  half.on('error', () => {});
  half.on('connect', () => half.write('GET /?state=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
  const silent = net.connect({ host, port });
  silent.on('error', () => {});
  return { destroy: () => { half.destroy(); silent.destroy(); } };
}

// ---------------------------------------------------------------------------------------------
// The browser

async function launchBrowser(name) {
  const profile = fs.mkdtempSync(path.join(WORK, `profile-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ignoreHTTPSErrors: true, // the stand-in's CA is made per start; the library trusts it via tls.extra_ca_file
    viewport: { width: 900, height: 680 },
    timeout: 30000,
  });
  context.setDefaultTimeout(15000);
  const requested = [];
  context.on('request', (req) => requested.push(req.url()));
  return { context, requested };
}

let shotNo = 0;
async function shot(page, label) {
  shotNo += 1;
  const file = `${String(shotNo).padStart(2, '0')}-${label}.png`;
  await page.screenshot({ path: path.join(ART, file), fullPage: true });
  return file;
}

/** Waits for the browser's navigation to the loopback redirect; returns the Response. */
function loopbackResponse(page, redirect) {
  return page.waitForResponse((r) => {
    const u = new URL(r.url());
    return u.port === redirect.port && LOOPBACK_HOSTS.has(u.hostname) && r.request().isNavigationRequest();
  }, { timeout: 20000 });
}

async function ourPage(page) {
  return page.evaluate(() => {
    const q = (id) => document.getElementById(id);
    return {
      lang: document.documentElement.lang,
      title: document.title,
      outcome: q('oauthmail-result')?.dataset.outcome ?? null,
      heading: q('oauthmail-title')?.textContent ?? null,
      message: q('oauthmail-message')?.textContent ?? null,
      email: q('oauthmail-email')?.textContent ?? null,
      next: q('oauthmail-next')?.textContent ?? null,
      html: document.documentElement.outerHTML,
      text: document.body.innerText,
      scripts: document.scripts.length,
      externals: [...document.querySelectorAll('[src],[href]')].length,
    };
  });
}

const EXPECT = {
  en: {
    connected: { heading: 'Your account is connected', next: 'You can close this window and return to the application.' },
    denied: { heading: 'Access was not granted' },
    'state-mismatch': { heading: 'This answer does not belong to the current sign-in' },
    'not-found': { heading: 'There is nothing at this address' },
  },
  ro: {
    connected: { heading: 'Contul a fost conectat', next: 'Puteți închide această fereastră și reveni în aplicație.' },
    denied: { heading: 'Accesul nu a fost acordat' },
    'state-mismatch': { heading: 'Acest răspuns nu aparține conectării în curs' },
    'not-found': { heading: 'La această adresă nu se află nimic' },
  },
};

function checkOurPage(p, lang, outcome) {
  check(`page is ours with data-outcome=${outcome}`, p.outcome === outcome, `got ${p.outcome}`);
  check(`page has lang="${lang}"`, p.lang === lang, `got ${p.lang}`);
  check('page has a title', p.title.trim().length > 0);
  check(`heading is "${EXPECT[lang][outcome].heading}"`, p.heading === EXPECT[lang][outcome].heading, `got ${p.heading}`);
  if (EXPECT[lang][outcome].next) check('page says the window can be closed', p.next === EXPECT[lang][outcome].next, `got ${p.next}`);
  check('page has no script and loads nothing', p.scripts === 0 && p.externals === 0);
  if (lang === 'ro') check('Romanian text uses comma-below ș/ț, no cedilla', /[șț]/.test(p.text) && !/[şţŞŢ]/.test(p.text));
}

function checkOnlyLoopbackAndStandin(requested, info) {
  const standin = new URL(info.authorization_endpoint).host;
  const strays = requested.filter((u) => {
    const x = new URL(u);
    return !(x.host === standin || LOOPBACK_HOSTS.has(x.hostname)) && !u.startsWith('data:') && !u.startsWith('chrome');
  });
  check('browser asked nothing but the stand-in and the loopback listener', strays.length === 0, strays.map((u) => new URL(u).origin).join(' '));
}

function checkTokenDoc(doc, email) {
  check('token document names the account', doc.email === email, `got ${doc.email}`);
  check('token document has the gmail.send scope', typeof doc.scope === 'string' && doc.scope.split(' ').includes('https://www.googleapis.com/auth/gmail.send'), `got ${doc.scope}`);
  check('token document is a Bearer token for google', doc.token_type === 'Bearer' && doc.provider === 'google');
  const redactedLen = (v) => { const m = /^<redacted:(\d+)>$/.exec(v ?? ''); return m ? Number(m[1]) : 0; };
  const rt = redactedLen(doc.refresh_token);
  const at = redactedLen(doc.access_token);
  note(`refresh_token present: ${rt > 0} (length ${rt}); access_token present: ${at > 0} (length ${at})`);
  check('token document has a refresh token', rt > 0);
  check('token document has an access token', at > 0);
  check('token expires in the future', Number(doc.expires_at) > Date.now() / 1000, `expires_at ${doc.expires_at}`);
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function portChecks(port, hosts) {
  for (const h of hosts) check(`loopback port is free on ${h} after authorize returned`, await portIsFree(port, h));
}

/** The whole happy path, with stray requests and a stalled client during the wait. */
async function connected(info, lang, { redirectHost = '127.0.0.1', loginHint = null } = {}) {
  const name = `connected-${lang}-${redirectHost}`;
  const opened = path.join(WORK, `${name}.system-browser`);
  const host = startHost(name, configFor(info, { lang, redirectHost }), {
    options: loginHint ? { login_hint: loginHint } : null,
    env: { BROWSER: `${FAKE_BROWSER}`, FAKE_BROWSER_OUT: opened },
  });
  const { context, requested } = await launchBrowser(name);
  let slow;
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    check(`redirect_uri uses host ${redirectHost}`, redirect.hostname === (redirectHost === '::1' ? '[::1]' : redirectHost), redirect.hostname);
    const port = Number(redirect.port);

    // Stray traffic while the library waits: clients that never finish their request, the
    // favicon, an answer with a wrong state in a second tab. None of it may end or block the flow.
    slow = slowClients(redirectHost === 'localhost' ? '::1' : redirectHost, port);
    const tab2 = await context.newPage();
    const fav = await tab2.goto(`${redirect.origin}/favicon.ico`);
    check('favicon gets HTTP 404', fav.status() === 404, `got ${fav.status()}`);
    check('favicon answer has Cache-Control: no-store', /no-store/.test(fav.headers()['cache-control'] ?? ''), fav.headers()['cache-control']);
    checkOurPage(await ourPage(tab2), lang, 'not-found');
    await shot(tab2, `${lang}-stray-favicon`);
    await tab2.goto(`${redirect.origin}${redirect.pathname}?state=not-this-one&code=fake`);
    checkOurPage(await ourPage(tab2), lang, 'state-mismatch');
    await shot(tab2, `${lang}-wrong-state`);
    await tab2.close();
    if (redirectHost === 'localhost') {
      const v6 = await httpGet('::1', port, '/favicon.ico');
      check('listener answers on [::1] when the redirect host is localhost', v6.status === 404 && /data-outcome="not-found"/.test(v6.body ?? ''), v6.error ?? `HTTP ${v6.status}`);
      const v4 = await httpGet('127.0.0.1', port, '/favicon.ico');
      note(`listener on 127.0.0.1 too: ${v4.error ? `no (${v4.error})` : `yes (HTTP ${v4.status})`}`);
    }

    // The person's path: account chooser (unless login_hint), consent, Allow.
    const page = await context.newPage();
    await page.goto(url.href);
    if (!loginHint) {
      await page.waitForSelector('#chooser-heading');
      await shot(page, `${lang}-1-account-chooser`);
      await page.click(`button[data-email="${TEST_USER}"]`);
    }
    await page.waitForSelector('#consent-heading');
    await shot(page, `${lang}-2-consent`);
    const [resp] = await Promise.all([loopbackResponse(page, redirect), page.click('#submit_approve_access')]);
    await page.waitForLoadState('load');
    check('success page is HTTP 200', resp.status() === 200, `got ${resp.status()}`);
    check('success page has Cache-Control: no-store', /no-store/.test(resp.headers()['cache-control'] ?? ''), resp.headers()['cache-control']);
    check('success page is text/html; charset=utf-8', /^text\/html;\s*charset=utf-8$/i.test(resp.headers()['content-type'] ?? ''), resp.headers()['content-type']);
    const addr = await resp.serverAddr();
    note(`browser reached the listener at ${addr ? `${addr.ipAddress}:${addr.port}` : 'an unknown address'}`);
    const p = await ourPage(page);
    checkOurPage(p, lang, 'connected');
    check('success page names the account', p.email === TEST_USER, `got ${p.email}`);
    const code = new URL(page.url()).searchParams.get('code') ?? '';
    check('the authorization code arrived in the redirect', code.length > 0);
    check('page shows neither the code nor the state', code.length > 0 && !p.html.includes(code) && !p.html.includes(url.searchParams.get('state')));
    await shot(page, `${lang}-3-connected`);

    // The same redirect again (a reload, a second tab): never a second success.
    const again = await context.newPage();
    const replay = await again.goto(page.url()).then((r) => ({ r }), (e) => ({ e }));
    if (replay.e) {
      check('replayed redirect is refused (listener closed)', /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE/.test(replay.e.message), replay.e.message.split('\n')[0]);
    } else {
      const q = await ourPage(again);
      check('replayed redirect does not succeed twice', q.outcome !== 'connected' && q.outcome !== null, `got ${q.outcome}`);
      await shot(again, `${lang}-replayed-redirect`);
    }

    const r = await host.result(20000);
    check('authorize returned OK', r.status === 'ok', `${r.status}: ${r.doc?.error?.message}`);
    if (r.status === 'ok') checkTokenDoc(r.doc, TEST_USER);
    check('the url_opener was used, not the system browser', !fs.existsSync(opened));
    checkOnlyLoopbackAndStandin(requested, info);
    slow.destroy();
    await portChecks(port, redirectHost === 'localhost' ? ['127.0.0.1', '::1'] : ['127.0.0.1']);
  } finally {
    slow?.destroy();
    await context.close().catch(() => {});
    await host.finish();
  }
}

/** Microsoft through the library: the stand-in's account picker (no login_hint, so the library
 * asks for prompt=select_account) and consent page, then our page; a public client, no secret. */
async function microsoftConnected(info) {
  const ms = info.microsoft;
  const user = ms.work_users[0];
  const config = {
    provider: 'microsoft',
    client_id: ms.public_client_id,
    tenant: 'organizations',
    endpoints: {
      authorization: `${ms.authority}/{tenant}/oauth2/v2.0/authorize`,
      token: `${ms.authority}/{tenant}/oauth2/v2.0/token`,
      smtp: ms.smtp_starttls,
    },
    redirect: { host: '127.0.0.1', port: 0, path: '/' },
    timeouts: { authorize_s: 60, connect_s: 5, io_s: 10 },
    tls: { extra_ca_file: info.ca_file },
    ui_language: 'en',
  };
  const host = startHost('microsoft-connected', config);
  const { context, requested } = await launchBrowser('microsoft-connected');
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    check('the organizations tenant is in the path', url.pathname === '/organizations/oauth2/v2.0/authorize', url.pathname);
    check('no login_hint: prompt=select_account', url.searchParams.get('prompt') === 'select_account');
    check('PKCE S256 and offline_access', url.searchParams.get('code_challenge_method') === 'S256'
      && (url.searchParams.get('scope') || '').split(' ').includes('offline_access'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForSelector('#ms-picker-heading');
    await shot(page, 'microsoft-1-picker');
    await page.click(`button[data-test-id="${user}"]`);
    await page.waitForSelector('#idBtn_Accept');
    await shot(page, 'microsoft-2-consent');
    const [resp] = await Promise.all([loopbackResponse(page, redirect), page.click('#idBtn_Accept')]);
    await page.waitForLoadState('load');
    check('success page is HTTP 200', resp.status() === 200, `got ${resp.status()}`);
    const p = await ourPage(page);
    checkOurPage(p, 'en', 'connected');
    check('success page names the Microsoft account', p.email === user, `got ${p.email}`);
    await shot(page, 'microsoft-3-connected');
    const r = await host.result(20000);
    check('authorize returned OK', r.status === 'ok', `${r.status}: ${r.doc?.error?.message}`);
    if (r.status === 'ok') {
      check('token document is Microsoft\'s and names the account (from the id_token)', r.doc.provider === 'microsoft' && r.doc.email === user, `${r.doc.provider} ${r.doc.email}`);
      check('token document has SMTP.Send', (r.doc.scope || '').split(' ').includes('https://outlook.office.com/SMTP.Send'), r.doc.scope);
      check('token document has a refresh token', /^<redacted:\d+>$/.test(r.doc.refresh_token ?? ''));
    }
    checkOnlyLoopbackAndStandin(requested, info);
  } finally {
    await context.close().catch(() => {});
    await host.finish();
  }
}

async function denied(info, lang) {
  const name = `denied-${lang}`;
  const host = startHost(name, configFor(info, { lang }));
  const { context } = await launchBrowser(name);
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.click(`button[data-email="${TEST_USER}"]`);
    await page.waitForSelector('#submit_deny_access');
    const [resp] = await Promise.all([loopbackResponse(page, redirect), page.click('#submit_deny_access')]);
    await page.waitForLoadState('load');
    check('denied page has Cache-Control: no-store', /no-store/.test(resp.headers()['cache-control'] ?? ''));
    checkOurPage(await ourPage(page), lang, 'denied');
    await shot(page, `${lang}-4-denied`);
    const r = await host.result(20000);
    check('authorize returned ACCESS_DENIED', r.status === 'access_denied', `${r.status}: ${r.doc?.error?.message}`);
    check('the error document has a hint', typeof r.doc?.error?.hint === 'string' && r.doc.error.hint.length > 0);
    await portChecks(Number(redirect.port), ['127.0.0.1']);
  } finally {
    await context.close().catch(() => {});
    await host.finish();
  }
}

async function closedTab(info) {
  const name = 'closed-tab';
  const authorizeS = 4;
  const host = startHost(name, configFor(info, { authorizeS }));
  const { context } = await launchBrowser(name);
  try {
    const url = new URL(await host.url());
    const port = Number(new URL(url.searchParams.get('redirect_uri')).port);
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForSelector('#chooser-heading');
    await page.close();
    const r = await host.result((authorizeS + 15) * 1000);
    check('authorize returned TIMEOUT after the tab was closed', r.status === 'timeout', `${r.status}: ${r.doc?.error?.message}`);
    check(`it took about authorize_s (${authorizeS} s)`, r.elapsedMs >= authorizeS * 1000 - 500 && r.elapsedMs < authorizeS * 1000 + 5000, `${r.elapsedMs} ms`);
    note(`authorize returned after ${r.elapsedMs} ms`);
    await portChecks(port, ['127.0.0.1']);
  } finally {
    await context.close().catch(() => {});
    await host.finish();
  }
}

async function cancelled(info) {
  const name = 'cancel';
  const host = startHost(name, configFor(info, { authorizeS: 60 }));
  const { context } = await launchBrowser(name);
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.click(`button[data-email="${TEST_USER}"]`);
    await page.waitForSelector('#submit_approve_access');
    const t0 = Date.now();
    host.send('cancel');
    const r = await host.result(10000);
    const took = Date.now() - t0;
    check('authorize returned CANCELLED after oauthmail_cancel from another thread', r.status === 'cancelled', `${r.status}: ${r.doc?.error?.message}`);
    check('cancel took effect within 2 s', took < 2000, `${took} ms`);
    note(`authorize returned ${took} ms after the cancel line was sent`);
    await portChecks(Number(redirect.port), ['127.0.0.1']);
    // What the person sees if they click Allow after the application gave up.
    const failedNav = page.waitForEvent('requestfailed', {
      predicate: (req) => new URL(req.url()).port === redirect.port, timeout: 15000,
    });
    await page.click('#submit_approve_access').catch(() => {});
    const req = await failedNav.catch(() => null);
    check('Allow after cancel cannot reach the closed listener', req !== null, 'the redirect did not fail');
    if (req) note(`browser: ${req.failure()?.errorText}`);
    await page.waitForLoadState('load').catch(() => {});
    await shot(page, 'en-5-allow-after-cancel');
  } finally {
    await context.close().catch(() => {});
    await host.finish();
  }
}

/** An error redirect with the right state (what a provider sends for e.g. temporarily_unavailable),
 * whose description tries to inject markup: the page must show it as text. */
async function providerError(info) {
  const name = 'provider-error-ro';
  const host = startHost(name, configFor(info, { lang: 'ro' }));
  const { context } = await launchBrowser(name);
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const description = 'Serviciu indisponibil <img src=x onerror="document.title=1"><script>document.title=2</script> & "încă"';
    const target = new URL(redirect.href);
    target.searchParams.set('state', url.searchParams.get('state'));
    target.searchParams.set('error', 'temporarily_unavailable');
    target.searchParams.set('error_description', description);
    const page = await context.newPage();
    const resp = await page.goto(target.href);
    check('provider error page has Cache-Control: no-store', /no-store/.test(resp.headers()['cache-control'] ?? ''));
    const p = await ourPage(page);
    check('page is ours with data-outcome=provider-error', p.outcome === 'provider-error', `got ${p.outcome}`);
    check('page has lang="ro"', p.lang === 'ro', `got ${p.lang}`);
    const detail = await page.evaluate(() => document.getElementById('oauthmail-detail')?.textContent ?? null);
    check('the provider text is shown literally, markup and all', detail === `temporarily_unavailable: ${description}`, detail);
    check('nothing from the provider text became an element or ran', p.scripts === 0 && p.externals === 0
      && (await page.locator('img').count()) === 0 && !/^[12]$/.test(p.title));
    await shot(page, 'ro-6-provider-error');
    const r = await host.result(10000);
    check('authorize returned PROVIDER with the provider\'s error', r.status === 'provider' && r.doc?.error?.provider?.error === 'temporarily_unavailable', `${r.status}`);
    await portChecks(Number(redirect.port), ['127.0.0.1']);
  } finally {
    await context.close().catch(() => {});
    await host.finish();
  }
}

/** The user allowed access but the token endpoint fails: the page says so, the host gets the error. */
async function exchangeFailed(info) {
  const name = 'exchange-failed-en';
  await control(info, 'POST', '/faults', { endpoint: 'token', kind: 'status', status: 500, count: 5 });
  const host = startHost(name, configFor(info), { options: { login_hint: TEST_USER } });
  const { context } = await launchBrowser(name);
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForSelector('#submit_approve_access');
    const [resp] = await Promise.all([loopbackResponse(page, redirect), page.click('#submit_approve_access')]);
    await page.waitForLoadState('load');
    check('exchange failure page is HTTP 502', resp.status() === 502, `got ${resp.status()}`);
    const p = await ourPage(page);
    check('page is ours with data-outcome=exchange-failed', p.outcome === 'exchange-failed', `got ${p.outcome}`);
    check('page has lang="en"', p.lang === 'en');
    const code = new URL(page.url()).searchParams.get('code') ?? '';
    check('page does not show the code', code.length > 0 && !p.html.includes(code));
    await shot(page, 'en-7-exchange-failed');
    const r = await host.result(20000);
    check('authorize returned PROVIDER', r.status === 'provider', `${r.status}: ${r.doc?.error?.message}`);
    await portChecks(Number(redirect.port), ['127.0.0.1']);
  } finally {
    await control(info, 'DELETE', '/faults').catch(() => {});
    await context.close().catch(() => {});
    await host.finish();
  }
}

/** Cancel while the code exchange hangs (the browser is waiting for our page). */
async function cancelDuringExchange(info) {
  const name = 'cancel-during-exchange';
  await control(info, 'POST', '/faults', { endpoint: 'token', kind: 'hang', count: 1 });
  const host = startHost(name, configFor(info), { options: { login_hint: TEST_USER } });
  const { context } = await launchBrowser(name);
  try {
    const url = new URL(await host.url());
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForSelector('#submit_approve_access');
    const respP = loopbackResponse(page, redirect).then((r) => ({ r }), (e) => ({ e }));
    await page.click('#submit_approve_access', { noWaitAfter: true });
    await sleep(1000); // the listener has the redirect; the exchange hangs at the token endpoint
    const t0 = Date.now();
    host.send('cancel');
    const r = await host.result(15000);
    const took = Date.now() - t0;
    check('authorize returned CANCELLED while the exchange hung', r.status === 'cancelled', `${r.status}: ${r.doc?.error?.message}`);
    check('cancel took effect within 2 s', took < 2000, `${took} ms`);
    note(`authorize returned ${took} ms after the cancel line was sent`);
    const nav = await withTimeout(respP, 5000, 'the browser\'s answer').catch((e) => ({ e }));
    check('the waiting browser got an answer, not a hang', !!nav.r, nav.e?.message?.split('\n')[0]);
    if (nav.r) {
      await page.waitForLoadState('load');
      const p = await ourPage(page);
      check('the waiting browser does not see success', p.outcome !== 'connected' && p.outcome !== null, `got ${p.outcome}`);
      note(`browser shows data-outcome=${p.outcome} (HTTP ${nav.r.status()})`);
      await shot(page, 'en-8-cancel-during-exchange');
    }
    await portChecks(Number(redirect.port), ['127.0.0.1']);
  } finally {
    await control(info, 'DELETE', '/faults').catch(() => {});
    await context.close().catch(() => {});
    await host.finish();
  }
}

async function declined(info) {
  const host = startHost('declined', configFor(info), { opener: 'decline' });
  try {
    const url = new URL(await host.url());
    const r = await host.result(10000);
    check('a url_opener returning non-zero makes authorize CANCELLED at once', r.status === 'cancelled' && r.elapsedMs < 3000, `${r.status} after ${r.elapsedMs} ms`);
    await portChecks(Number(new URL(url.searchParams.get('redirect_uri')).port), ['127.0.0.1']);
  } finally {
    await host.finish();
  }
}

/** No url_opener: the library runs $BROWSER (a colon list with a missing entry first and %s). */
async function systemBrowser(info) {
  const name = 'system-browser';
  const opened = path.join(WORK, `${name}.args`);
  const host = startHost(name, configFor(info, { lang: 'ro' }), {
    opener: 'none',
    options: { login_hint: TEST_USER },
    env: { BROWSER: `oauthmail-no-such-browser:${FAKE_BROWSER} --url=%s`, FAKE_BROWSER_OUT: opened },
  });
  const { context } = await launchBrowser(name);
  try {
    const deadline = Date.now() + 15000;
    while (!fs.existsSync(opened) && Date.now() < deadline) await sleep(50);
    const args = fs.existsSync(opened) ? fs.readFileSync(opened, 'utf8').split('\n').filter(Boolean) : [];
    check('$BROWSER script was run with the URL in place of %s, after skipping a missing entry', args.length === 1 && args[0].startsWith('--url=https://'), `args: ${args.length}`);
    if (args.length !== 1) return;
    const url = new URL(args[0].slice('--url='.length));
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForSelector('#consent-heading');
    await Promise.all([loopbackResponse(page, redirect), page.click('#submit_approve_access')]);
    await page.waitForLoadState('load');
    const p = await ourPage(page);
    checkOurPage(p, 'ro', 'connected');
    check('Romanian success page names the account', p.email === TEST_USER);
    await shot(page, 'ro-system-browser-connected');
    const r = await host.result(20000);
    check('authorize through the system browser returned OK', r.status === 'ok', `${r.status}: ${r.doc?.error?.message}`);
    if (r.status === 'ok') checkTokenDoc(r.doc, TEST_USER);
  } finally {
    await context.close().catch(() => {});
    await host.finish();
  }
}

/** Runs the `oauthmail` tool to its end (at most `ms`): exit code, stdout, stderr. */
function runCli(name, args, { env = {}, ms = 60000 } = {}) {
  const child = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    done: () => withTimeout(exited, ms, `oauthmail ${args.join(' ')}`)
      .catch((e) => { child.kill('SIGKILL'); throw e; })
      .then((code) => {
        fs.writeFileSync(path.join(ART, `${name}.cli.log`), `exit ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}\n`);
        return { code, stdout, stderr };
      }),
  };
}

/** The administrator's tool: `oauthmail authorize` opens the system browser ($BROWSER: the URL is
 * handed to Chromium, which clicks through the account chooser and consent), saves the token
 * document; `oauthmail send` then delivers a message with it. */
async function cliAuthorizeSend(info) {
  const name = 'cli-authorize-send';
  const opened = path.join(WORK, `${name}.args`);
  const cfg = path.join(WORK, `${name}.config.json`);
  const token = path.join(WORK, `${name}.token.json`);
  fs.writeFileSync(cfg, JSON.stringify(configFor(info)));
  const common = ['--config', cfg, '--token-file', token];
  const auth = runCli(`${name}-authorize`, ['authorize', ...common], { env: { BROWSER: FAKE_BROWSER, FAKE_BROWSER_OUT: opened } });
  const { context, requested } = await launchBrowser(name);
  try {
    const deadline = Date.now() + 15000;
    while (!fs.existsSync(opened) && Date.now() < deadline) await sleep(50);
    const args = fs.existsSync(opened) ? fs.readFileSync(opened, 'utf8').split('\n').filter(Boolean) : [];
    check('oauthmail authorize ran $BROWSER with the authorization URL', args.length === 1 && args[0].startsWith(info.authorization_endpoint), `args: ${args.length}`);
    if (args.length !== 1) return;
    const url = new URL(args[0]);
    const redirect = new URL(url.searchParams.get('redirect_uri'));
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForSelector('#chooser-heading');
    await page.click(`button[data-email="${TEST_USER}"]`);
    await page.waitForSelector('#consent-heading');
    await shot(page, 'cli-consent');
    await Promise.all([loopbackResponse(page, redirect), page.click('#submit_approve_access')]);
    await page.waitForLoadState('load');
    checkOurPage(await ourPage(page), 'en', 'connected');
    await shot(page, 'cli-connected');
    const a = await auth.done();
    check('oauthmail authorize exits 0', a.code === 0, `exit ${a.code}: ${a.stderr.split('\n').slice(-3).join(' | ')}`);
    check('it prints the account and the granted scopes', a.stdout.includes(`Authorized: ${TEST_USER}`) && a.stdout.includes('https://www.googleapis.com/auth/gmail.send'));
    const mode = fs.existsSync(token) ? fs.statSync(token).mode & 0o777 : 0;
    check('the token document is saved, owner-only (0600)', mode === 0o600, `mode ${mode.toString(8)}`);
    const saved = mode ? JSON.parse(fs.readFileSync(token, 'utf8')) : {};
    check('the saved token names the account and has a refresh token', saved.email === TEST_USER && (saved.refresh_token ?? '').length > 0);
    check('no token on the screen', ![saved.access_token, saved.refresh_token, info.client_secret].some((t) => t && (a.stdout + a.stderr).includes(t)));
    checkOnlyLoopbackAndStandin(requested, info);

    const subject = `CLI e2e ${Date.now()} — șț`;
    const s = await runCli(`${name}-send`, ['send', ...common, '--to', 'ion@example.ro', '--subject', subject, '--text', 'Bună ziua']).done();
    check('oauthmail send exits 0 and prints the Message-ID', s.code === 0 && /^Sent\. Message-ID: <[^>]+>$/m.test(s.stdout), `exit ${s.code}: ${s.stdout.trim()} ${s.stderr.split('\n').slice(-2).join(' | ')}`);
    const id = /Message-ID: (<[^>]+>)/.exec(s.stdout)?.[1];
    const mailbox = info.mailbox_dir;
    const delivered = fs.readdirSync(mailbox).filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(mailbox, f), 'utf8')))
      .map((m) => ({ m, eml: fs.readFileSync(path.join(mailbox, m.eml), 'utf8') }))
      .filter(({ eml }) => id && eml.includes(`Message-ID: ${id}`));
    check('the stand-in\'s mailbox holds the message, sent over the Gmail API as the account', delivered.length === 1 && delivered[0].m.transport === 'gmail_api' && delivered[0].m.account === TEST_USER, `found ${delivered.length}${delivered[0] ? `: ${delivered[0].m.transport} ${delivered[0].m.account}` : ''}`);
  } finally {
    await context.close().catch(() => {});
    if (auth.child.exitCode === null) auth.child.kill('SIGKILL');
  }
}

async function noBrowser(info) {
  const host = startHost('no-browser', configFor(info), {
    opener: 'none',
    env: { BROWSER: '/nonexistent/oauthmail-browser', PATH: '/nonexistent' },
  });
  try {
    const r = await host.result(15000);
    check('no url_opener and no browser: INVALID_ARGUMENT', r.status === 'invalid_argument', `${r.status}: ${r.doc?.error?.message}`);
    check('the hint suggests a url_opener', /url_opener/.test(r.doc?.error?.hint ?? ''), r.doc?.error?.hint);
  } finally {
    await host.finish();
  }
}

// ---------------------------------------------------------------------------------------------

const SCENARIOS = [
  ['connected-en', (info) => connected(info, 'en')],
  ['connected-ro-localhost', (info) => connected(info, 'ro', { redirectHost: 'localhost', loginHint: TEST_USER })],
  ['microsoft-connected', microsoftConnected],
  ['denied-en', (info) => denied(info, 'en')],
  ['denied-ro', (info) => denied(info, 'ro')],
  ['closed-tab-timeout', closedTab],
  ['cancel', cancelled],
  ['provider-error-ro', providerError],
  ['exchange-failed-en', exchangeFailed],
  ['cancel-during-exchange', cancelDuringExchange],
  ['opener-declines', declined],
  ['system-browser', systemBrowser],
  ['no-browser', noBrowser],
  ['cli-authorize-send', cliAuthorizeSend],
];

async function main() {
  const wanted = process.argv.slice(2);
  for (const f of fs.readdirSync(ART)) if (/\.(png|log)$/.test(f)) fs.rmSync(path.join(ART, f));
  const t0 = Date.now();
  let standin;
  try {
    standin = await startStandin();
  } catch (e) {
    current = 'setup';
    check('stand-in starts', false, e.message);
    return;
  }
  try {
    for (const [name, run] of SCENARIOS) {
      if (wanted.length && !wanted.some((w) => name.includes(w))) continue;
      current = name;
      const s0 = Date.now();
      await control(standin.info, 'POST', '/reset').catch(() => {});
      try {
        await withTimeout(run(standin.info), 60000, name);
      } catch (e) {
        check('scenario ran to the end', false, e.message.split('\n')[0]);
      }
      note(`${((Date.now() - s0) / 1000).toFixed(1)} s`);
    }
  } finally {
    standin.child.kill('SIGTERM');
    current = 'total';
    note(`${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${path.relative(ROOT, ART)}/`);
  }
}

await main();
fs.writeFileSync(path.join(ART, 'results.txt'), `${results.join('\n')}\n${passed} passed, ${failed} failed\n`);
fs.rmSync(WORK, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
