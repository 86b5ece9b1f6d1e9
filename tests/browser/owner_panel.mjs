#!/usr/bin/env node
/*
 * owner_panel.mjs: drives the gateway's owner panel in Debian's Chromium
 * (playwright-core, no downloaded browser) the way an owner does, step by
 * step with the test that runs it (tests/blackbox/test_owner_panel_browser.py).
 *
 *   node owner_panel.mjs --url URL --pin PIN --shots DIR [--timeout-s 30]
 *
 * Talks with its caller by lines: it prints "READY <what>" on stdout and,
 * where it needs the caller to act, waits for one line on stdin.
 *   1. opens the page at 360x740 and waits for the calm, connected state;
 *      "READY fire": the caller publishes a smoke report; the page must turn
 *      red (body.fire, summary "fire"): prints "RED <epoch ms>";
 *      screenshots at 360x740 and 1280x800;
 *   2. a wrong PIN on the keypad shows the 401 refusal; the right one logs in;
 *      sensors and events pages at both sizes, no sideways scroll;
 *   3. reset with the detector still live: the gateway's refusal is shown
 *      ("reset refused: ..."); silence: the alarm becomes "silenced" (from
 *      the gateway's status): "READY silenced", waits for a line (the
 *      caller checks safehousectl and the upstream feed);
 *   4. "READY clear", waits for a line (the caller cleared the detector):
 *      reset succeeds and the page is calm again; the reset fire, listed
 *      under the recent alarms, is marked as a false alarm;
 *   5. "READY lockout", waits for a line (the caller made four wrong tries):
 *      logs out, a wrong PIN (the fifth) is refused and the right one is
 *      then refused as locked (429);
 *   6. "READY stop", waits for a line (the caller stopped the daemon): the
 *      page must show that it has lost the gateway and no calm summary.
 * Output: progress on stderr; a final JSON line {"ok":true,...} (exit 0) or
 * {"ok":false,"step":...,"error":...} (exit 1). Page errors and CSP
 * violations fail the run. A screenshot is saved on failure too.
 */
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

function parseArgs(argv) {
  const o = { timeoutS: 30, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--url') o.url = v;
    else if (a === '--pin') o.pin = v;
    else if (a === '--shots') o.shots = v;
    else if (a === '--timeout-s') o.timeoutS = Number(v);
    else if (a === '--chromium') o.chromium = v;
    else throw new Error(`unknown argument ${a}`);
    i++;
  }
  for (const k of ['url', 'pin', 'shots']) if (!o[k]) throw new Error(`--${k} is required`);
  return o;
}

const log = (...a) => console.error('[owner_panel]', ...a);
let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: e.message }));
  process.exit(2);
}
fs.mkdirSync(opts.shots, { recursive: true });
const T = opts.timeoutS * 1000;

const lines = [];
let lineWaiter = null;
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  if (lineWaiter) { const w = lineWaiter; lineWaiter = null; w(l); } else lines.push(l);
});
function nextLine() {
  if (lines.length) return Promise.resolve(lines.shift());
  return new Promise((res, rej) => {
    lineWaiter = res;
    setTimeout(() => rej(new Error('no word from the caller')), 120000);
  });
}
async function ready(what, wait) {
  console.log('READY ' + what);
  if (wait) await nextLine();
}

const shots = [];
const pageErrors = [];
let browser, page, step = 'start the browser';

async function shot(name) {
  const f = path.join(opts.shots, name + '.png');
  await page.screenshot({ path: f, fullPage: true });
  shots.push(f);
  return f;
}
async function noSidewaysScroll(what) {
  const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  if (sw > cw + 1) throw new Error(`${what}: the page scrolls sideways (${sw} > ${cw})`);
}
const summaryState = () => page.locator('#summary').getAttribute('data-state');
async function waitSummary(state) {
  await page.locator(`#summary[data-state="${state}"]`).waitFor({ timeout: T });
}
async function typePin(pin) {
  await page.locator('[data-testid=login-open]').click();
  await page.locator('#dlg-login').waitFor({ state: 'visible', timeout: T });
  for (const d of pin) await page.locator(`#keypad [data-key="${d}"]`).click();
  await page.locator('[data-testid=login-submit]').click();
}
async function messageText() {
  await page.locator('#message').waitFor({ state: 'visible', timeout: T });
  return (await page.locator('#message-text').textContent()) || '';
}

const PHONE = { width: 360, height: 740 }, TABLET = { width: 1280, height: 800 };

async function main() {
  const out = {};
  step = 'open the page and see it calm and connected';
  await page.setViewportSize(PHONE);
  await page.goto(opts.url, { waitUntil: 'domcontentloaded' });
  await waitSummary('normal');
  await page.locator('#conn-banner').waitFor({ state: 'hidden', timeout: T });
  await shot('phone-normal');

  step = 'turn red on a smoke report';
  await ready('fire', false);
  await page.waitForFunction(() => document.body.classList.contains('fire') &&
    document.getElementById('summary').dataset.state === 'fire', null, { timeout: T, polling: 'raf' });
  console.log('RED ' + Date.now());
  await shot('phone-fire');
  await page.setViewportSize(TABLET);
  await shot('tablet-fire');
  await page.setViewportSize(PHONE);
  await noSidewaysScroll('annunciator 360');

  step = 'a wrong PIN is refused';
  const wrong = opts.pin.split('').map((d) => String((Number(d) + 1) % 10)).join('');
  await typePin(wrong);
  await page.locator('#login-error').waitFor({ state: 'visible', timeout: T });
  if ((await page.locator('#login-error').getAttribute('data-status')) !== '401')
    throw new Error('a wrong PIN was not answered 401: ' + await page.locator('#login-error').textContent());
  out.wrong_pin = (await page.locator('#login-error').textContent()).trim();
  await page.locator('#login-cancel').click();
  if (await page.locator('[data-testid=logout]').isVisible()) throw new Error('a wrong PIN logged in');

  step = 'the right PIN logs in';
  await typePin(opts.pin);
  await page.locator('[data-testid=who]').waitFor({ state: 'visible', timeout: T });
  out.user = (await page.locator('[data-testid=who]').textContent()).trim();
  await page.locator('[data-testid=silence]').waitFor({ state: 'visible', timeout: T });
  await shot('phone-logged-in');
  await page.setViewportSize(TABLET);
  await shot('tablet-logged-in');

  step = 'sensors and events pages';
  for (const [name, size] of [['tablet', TABLET], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    await page.locator('#nav button[data-view=sensors]').click();
    await page.locator('[data-testid=sensor-row]').first().waitFor({ timeout: T });
    await shot(`${name}-sensors`);
    await noSidewaysScroll(`sensors ${name}`);
    await page.locator('#nav button[data-view=events]').click();
    await page.locator('[data-testid=event-row]').first().waitFor({ timeout: T });
    await shot(`${name}-events`);
    await page.locator('#nav button[data-view=panel]').click();
  }
  out.sensors = await page.evaluate(() => document.querySelectorAll('[data-testid=sensor-row]').length);

  step = 'reset over a live detector is refused with the reason';
  const fire = page.locator('[data-testid=alarm][data-class=fire]').first();
  await page.locator('#message-close').click();
  await fire.locator('[data-testid=reset]').click();
  await page.locator('#message.error').waitFor({ timeout: T });
  const refused = await messageText();
  if (!/reset refused: /.test(refused)) throw new Error('no refusal shown for the reset: ' + refused);
  out.reset_refused = refused.trim();
  await shot('phone-reset-refused');

  step = 'silence from the page';
  await page.locator('[data-testid=silence]').click();
  await page.locator('[data-testid=alarm][data-class=fire].st-silenced').waitFor({ timeout: T });
  await shot('phone-silenced');
  await ready('silenced', true);

  step = 'reset once the detector is clear';
  await ready('clear', true);
  await page.locator('[data-testid=alarm][data-class=fire] [data-testid=reset]').first().click();
  await waitSummary('normal');
  if (await page.evaluate(() => document.body.classList.contains('fire'))) throw new Error('still red after the reset');
  await shot('phone-reset');

  step = 'mark the reset fire as a false alarm';
  await page.locator('#message-close').click();
  await page.locator('#recent [data-testid=alarm][data-class=fire] [data-testid=false-alarm]').first().click();
  await page.locator('[data-testid=false-reason]').fill('khói nấu ăn');
  await page.locator('[data-testid=false-submit]').click();
  await page.locator('#message.info').waitFor({ timeout: T });
  if (await page.locator('#dlg-false').isVisible()) throw new Error('the false-alarm dialog stayed open: ' + await page.locator('#false-error').textContent());

  step = 'a wrong PIN counts towards the lock-out';
  await ready('lockout', true); // the caller made four wrong tries already
  await page.locator('[data-testid=logout]').click();
  await page.locator('[data-testid=login-open]').waitFor({ state: 'visible', timeout: T });
  await typePin(wrong);
  await page.locator('#login-error[data-status="401"]').waitFor({ timeout: T });
  await page.locator('#login-cancel').click();
  await typePin(opts.pin);
  await page.locator('#login-error[data-status="429"]').waitFor({ timeout: T });
  out.locked = (await page.locator('#login-error').textContent()).trim();
  await shot('phone-locked');
  await page.locator('#login-cancel').click();

  step = 'the page says it has lost the gateway';
  await ready('stop', true);
  await page.locator('#conn-banner[data-state=lost]').waitFor({ state: 'visible', timeout: T });
  if ((await summaryState()) === 'normal') throw new Error('a page without the gateway still says normal');
  out.lost_banner = (await page.locator('#conn-banner').textContent()).trim();
  await shot('phone-lost');
  await page.setViewportSize(TABLET);
  await shot('tablet-lost');
  if (pageErrors.length) throw new Error('page errors: ' + pageErrors.join(' | '));
  return out;
}

let code = 1;
try {
  browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e && e.message ? e.message : e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(m.text());
  });
  const result = await main();
  console.log(JSON.stringify({ ok: true, ...result, shots }));
  code = 0;
} catch (e) {
  log('FAILED while:', step, e && e.stack ? e.stack : e);
  if (page) { try { await shot('failure'); } catch (x) { /* ignore */ } }
  console.log(JSON.stringify({ ok: false, step, error: String(e && e.message ? e.message : e).split('\n')[0], page_errors: pageErrors, shots }));
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
