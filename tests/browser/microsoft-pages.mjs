// The stand-in's Microsoft sign-in pages in a real browser: Debian's Chromium (headless), driven by
// playwright-core, picks an account and clicks Accept (then, in a second round, Cancel); a small
// loopback listener here plays the application's redirect URI and redeems the code at the token
// endpoint as a public client (PKCE S256, no secret). The library is not involved: this checks the
// pages that run.mjs's Microsoft scenarios will click through once the library speaks Microsoft
// (issue 15). Screenshots go to tests/browser/artifacts/microsoft-*.png. No token is printed.
//
// Usage: node microsoft-pages.mjs   (scripts/test.d/40-browser.sh builds the stand-in first)

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const ART = path.join(HERE, 'artifacts');
const STANDIN = process.env.OAUTHMAIL_STANDIN || path.join(ROOT, 'target/debug/oauthmail-standin');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const USER = 'erp.test@contoso.onmicrosoft.com';

fs.mkdirSync(ART, { recursive: true });
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'oauthmail-ms-browser-'));
let failed = 0;
let passed = 0;

function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok' : 'not ok'} - microsoft pages: ${what}${!ok && detail ? ` (${detail})` : ''}`);
  if (ok) passed += 1; else failed += 1;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function startStandin() {
  const child = spawn(STANDIN, ['--state-dir', path.join(WORK, 'standin')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const rl = readline.createInterface({ input: child.stdout });
  const first = await withTimeout(new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`stand-in exited with ${code}`)));
  }), 20000, 'stand-in start');
  return { child, info: JSON.parse(first) };
}

/// The application's redirect URI: answers every request and hands its query to the waiter.
function startListener() {
  let waiter = null;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>app</title><p id="app">back in the app</p>');
    if (waiter) waiter(u);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server,
    port: server.address().port,
    next: (ms) => withTimeout(new Promise((r) => { waiter = r; }), ms, 'the redirect'),
  })));
}

function postForm(url, params, ca) {
  const body = new URLSearchParams(params).toString();
  return withTimeout(new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST',
      ca,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(body);
  }), 10000, 'token request');
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

const { child, info } = await startStandin();
const ms = info.microsoft;
const ca = fs.readFileSync(info.ca_file);
const listener = await startListener();
const redirect = `http://127.0.0.1:${listener.port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true }); // the stand-in's CA is made per start
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const verifier = crypto.randomBytes(48).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const scope = 'openid email offline_access https://outlook.office.com/SMTP.Send';
  const url = new URL(ms.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: ms.public_client_id, response_type: 'code', redirect_uri: redirect, scope,
    code_challenge: challenge, code_challenge_method: 'S256', state: 'browser-state',
    prompt: 'select_account', login_hint: USER,
  })) url.searchParams.set(k, v);

  // Round 1: pick the account, Accept, redeem the code.
  await page.goto(url.href);
  check('the account picker is shown (prompt=select_account)', await page.isVisible('#ms-picker-heading'));
  await page.screenshot({ path: path.join(ART, 'microsoft-1-picker.png') });
  await page.click(`button[data-test-id="${USER}"]`);
  await page.waitForSelector('#idBtn_Accept');
  check('the consent page lists SMTP.Send', (await page.textContent('body')).includes('https://outlook.office.com/SMTP.Send'));
  await page.screenshot({ path: path.join(ART, 'microsoft-2-consent.png') });
  const [back] = await Promise.all([listener.next(20000), page.click('#idBtn_Accept')]);
  await page.waitForSelector('#app');
  await page.screenshot({ path: path.join(ART, 'microsoft-3-redirected.png') });
  check('the redirect reaches the loopback URI with a trailing slash', back.pathname === '/', back.pathname);
  check('state comes back', back.searchParams.get('state') === 'browser-state');
  const code = back.searchParams.get('code') || '';
  check('a work-account code (1.AQEA...)', code.startsWith('1.AQEA'));
  const t = await postForm(ms.token_endpoint, {
    client_id: ms.public_client_id, grant_type: 'authorization_code', code, redirect_uri: redirect,
    code_verifier: verifier, scope,
  }, ca);
  check('the public client redeems the code without a secret', t.status === 200, `HTTP ${t.status} ${t.json.error || ''}`);
  check('the id_token names the account', t.status === 200 && claims(t.json.id_token).preferred_username === USER);
  check('the access token is for Outlook', t.status === 200 && claims(t.json.access_token).aud === 'https://outlook.office.com');
  check('a refresh token came with offline_access', t.status === 200 && typeof t.json.refresh_token === 'string');

  // Round 2: another account, Cancel.
  url.searchParams.set('login_hint', 'second.test@contoso.onmicrosoft.com');
  url.searchParams.delete('prompt');
  await page.goto(url.href);
  await page.waitForSelector('#idBtn_Back');
  const [cancelled] = await Promise.all([listener.next(20000), page.click('#idBtn_Back')]);
  check('Cancel redirects with error=access_denied', cancelled.searchParams.get('error') === 'access_denied');
  check('... and AADSTS65004', (cancelled.searchParams.get('error_description') || '').startsWith('AADSTS65004:'));
} catch (e) {
  check('the scenario ran to the end', false, String(e && e.message));
} finally {
  await browser.close().catch(() => {});
  listener.server.close();
  child.kill('SIGTERM');
  fs.rmSync(WORK, { recursive: true, force: true });
}
console.log(`# microsoft pages: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
