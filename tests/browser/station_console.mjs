#!/usr/bin/env node
/*
 * station_console.mjs: drives the safehouse-station duty console in Debian's
 * Chromium (playwright-core, no downloaded browser) the way an officer does.
 *
 *   node station_console.mjs --url URL --user U --password P --shots DIR
 *        [--expect-site SITE] [--scenario ack|smoke] [--timeout-s 60]
 *
 * --scenario ack (default; needs --expect-site):
 *   1. a wrong password shows #login-error;
 *   2. the right one logs in and shows the live alarm list: prints "READY"
 *      on stdout (the caller raises the fire only after that line);
 *   3. waits up to --timeout-s for a fire row of SITE to arrive live;
 *   4. clicks its acknowledge button;
 *   5. waits for the row's state to become acknowledged (data-state, set
 *      by the page only from the server's alarm event);
 *   6. checks that POST /api/ack without X-CSRF-Token gets 403.
 * --scenario smoke: logs in, screenshots the alarms, houses and map views
 *   at 1366x768 and 360x740 and checks that the page does not scroll
 *   sideways on either (and, with --expect-site, that the house is listed).
 *
 * Output: progress lines on stderr; on stdout "READY" (ack only) and one
 * final JSON line {"ok":true,...} (exit 0) or {"ok":false,"error":...}
 * (exit 1). A screenshot is saved in DIR in every case, failures included.
 * Any uncaught page error or CSP violation fails the run.
 */
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const o = { scenario: 'ack', timeoutS: 60, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  const need = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--url': o.url = need(i); i++; break;
      case '--user': o.user = need(i); i++; break;
      case '--password': o.password = need(i); i++; break;
      case '--shots': o.shots = need(i); i++; break;
      case '--expect-site': o.site = need(i); i++; break;
      case '--scenario': o.scenario = need(i); i++; break;
      case '--timeout-s': o.timeoutS = Number(need(i)); i++; break;
      case '--chromium': o.chromium = need(i); i++; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  for (const k of ['url', 'user', 'password', 'shots']) if (!o[k]) throw new Error(`--${k} is required`);
  if (!['ack', 'smoke'].includes(o.scenario)) throw new Error(`--scenario must be ack or smoke, not ${o.scenario}`);
  if (o.scenario === 'ack' && !o.site) throw new Error('--scenario ack needs --expect-site SITE');
  if (!(o.timeoutS > 0)) throw new Error('--timeout-s must be a positive number');
  return o;
}

const log = (...a) => console.error('[station_console]', ...a);
const cssStr = (s) => JSON.stringify(String(s)); // a quoted CSS attribute value

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: e.message }));
  process.exit(2);
}
fs.mkdirSync(opts.shots, { recursive: true });

const shots = [];
const pageErrors = [];
let browser, page;
let step = 'start the browser'; // what was being done, for the failure line

async function shot(name) {
  const f = path.join(opts.shots, name + '.png');
  await page.screenshot({ path: f, fullPage: true });
  shots.push(f);
  log('screenshot', f);
  return f;
}

function checkPageErrors() {
  if (pageErrors.length) throw new Error('page errors: ' + pageErrors.join(' | '));
}

async function login(user, password) {
  await page.locator('#login-user').fill(user);
  await page.locator('#login-password').fill(password);
  await page.locator('#login-submit').click();
}

async function openAndLogin() {
  await page.goto(opts.url, { waitUntil: 'domcontentloaded' });
  await page.locator('#login-user').waitFor({ state: 'visible', timeout: 15000 });
}

async function waitLive() {
  // Logged in, alarm list shown, and the live stream open (no banner).
  await page.locator('#view-alarms').waitFor({ state: 'visible', timeout: 15000 });
  await page.locator('#nav-alarms').waitFor({ state: 'visible', timeout: 5000 });
  await page.locator('#conn-banner').waitFor({ state: 'hidden', timeout: 15000 });
}

async function scenarioAck() {
  const t0 = Date.now();
  await openAndLogin();
  // 1. a wrong password is refused visibly
  step = 'a wrong password shows #login-error';
  await login(opts.user, opts.password + '-wrong');
  await page.locator('#login-error').waitFor({ state: 'visible', timeout: 10000 });
  const wrongText = (await page.locator('#login-error').textContent()) || '';
  log('wrong password refused:', wrongText.trim());
  if (await page.locator('#view-alarms').isVisible()) throw new Error('a wrong password opened the console');

  // 2. log in
  step = 'log in and show the live alarm list';
  await login(opts.user, opts.password);
  await waitLive();
  const who = ((await page.locator('#who').textContent()) || '').trim();
  log('logged in as', who);
  console.log('READY');

  // 3. the fire arrives live
  step = `wait for a fire row of ${opts.site} (up to ${opts.timeoutS} s)`;
  const row = page.locator(`[data-testid=alarm-row][data-site=${cssStr(opts.site)}][data-class="fire"]`).first();
  await row.waitFor({ state: 'visible', timeout: opts.timeoutS * 1000 });
  const alarmId = await row.getAttribute('data-alarm');
  const tFire = Date.now();
  log('fire row appeared: site', opts.site, 'alarm', alarmId);
  if (!(await page.locator('#fire-banner').isVisible())) throw new Error('a raised fire but no fire banner');
  await shot('ack-1-fire');

  // 4. acknowledge it (the row is looked up again by its ids: the page
  // re-renders rows on every event)
  const sel = `[data-testid=alarm-row][data-site=${cssStr(opts.site)}][data-alarm=${cssStr(alarmId)}]`;
  step = 'click the acknowledge button';
  const button = page.locator(sel + ' [data-testid=ack-button]');
  await button.waitFor({ state: 'visible', timeout: 5000 });
  await button.click();

  // 5. the state turns acknowledged only from the server's event
  step = `wait for alarm ${alarmId} to read acknowledged (up to ${opts.timeoutS} s)`;
  await page.locator(sel + ' [data-testid=alarm-state][data-state="acknowledged"]')
    .waitFor({ state: 'visible', timeout: opts.timeoutS * 1000 });
  const tAck = Date.now();
  const stateText = ((await page.locator(sel + ' [data-testid=alarm-state]').textContent()) || '').trim();
  if (await page.locator(sel + ' [data-testid=ack-button]').count()) throw new Error('acknowledged alarm still shows an acknowledge button');
  log('acknowledged:', stateText);
  await shot('ack-2-acknowledged');

  // 6. a state change without the CSRF header is refused
  step = 'POST /api/ack without X-CSRF-Token';
  const noCsrf = await page.evaluate(async ({ site, alarm }) => {
    const r = await fetch('/api/ack', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
      body: JSON.stringify({ site, alarm: Number(alarm) }),
    });
    return r.status;
  }, { site: opts.site, alarm: alarmId });
  if (noCsrf !== 403) throw new Error(`POST /api/ack without X-CSRF-Token answered ${noCsrf}, not 403`);
  log('POST /api/ack without CSRF header: 403');
  checkPageErrors();
  return {
    site: opts.site, alarm: Number(alarmId), who, state_text: stateText, wrong_password_text: wrongText.trim(),
    no_csrf_status: noCsrf, ms_fire_to_acked: tAck - tFire, ms_total: Date.now() - t0,
  };
}

async function noSidewaysScroll(label) {
  const w = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, vw: window.innerWidth }));
  if (w.sw > w.vw + 1) throw new Error(`${label}: the page scrolls sideways (${w.sw}px content in a ${w.vw}px window)`);
}

async function scenarioSmoke() {
  step = 'log in';
  await openAndLogin();
  await login(opts.user, opts.password);
  await waitLive();
  const sizes = [['1366x768', 1366, 768], ['360x740', 360, 740]];
  const seen = {};
  for (const [name, w, h] of sizes) {
    step = `views at ${name}`;
    await page.setViewportSize({ width: w, height: h });
    await page.locator('#nav-alarms').click();
    await page.locator('#view-alarms').waitFor({ state: 'visible' });
    await shot(`smoke-alarms-${name}`);
    await noSidewaysScroll(`alarms ${name}`);

    await page.locator('#nav-sites').click();
    await page.locator('#view-sites').waitFor({ state: 'visible' });
    await page.locator('#filter-all .count').filter({ hasNotText: '…' }).waitFor({ timeout: 10000 });
    if (opts.site) await page.locator(`[data-testid=site-row][data-site=${cssStr(opts.site)}]`).waitFor({ timeout: 10000 });
    seen.sites = await page.locator('[data-testid=site-row]').count();
    await shot(`smoke-sites-${name}`);
    await noSidewaysScroll(`houses ${name}`);

    await page.locator('#nav-map').click();
    await page.locator('#view-map').waitFor({ state: 'visible' });
    if (opts.site) await page.locator(`[data-testid=map-site][data-site=${cssStr(opts.site)}]`).waitFor({ timeout: 10000 });
    seen.map_sites = await page.locator('[data-testid=map-site]').count();
    await shot(`smoke-map-${name}`);
    await noSidewaysScroll(`map ${name}`);
  }
  if (opts.site) {
    step = `open ${opts.site} from the map`;
    await page.locator(`[data-testid=map-site][data-site=${cssStr(opts.site)}]`).click();
    await page.locator('#view-site [data-testid=site-name]').waitFor({ state: 'visible', timeout: 10000 });
    await shot('smoke-house-360x740');
    await noSidewaysScroll('house 360x740');
  }
  checkPageErrors();
  return { sites_listed: seen.sites, sites_on_map: seen.map_sites };
}

let code = 1;
try {
  browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e && e.message ? e.message : e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(m.text());
  });
  step = `open ${opts.url}`;
  const result = opts.scenario === 'ack' ? await scenarioAck() : await scenarioSmoke();
  console.log(JSON.stringify({ ok: true, scenario: opts.scenario, ...result, shots }));
  code = 0;
} catch (e) {
  const msg = String(e && e.message ? e.message : e).split('\n')[0];
  log('FAILED while:', step);
  log('FAILED:', e && e.stack ? e.stack : e);
  let rows = null, banners = null;
  if (page) {
    try { await shot('failure'); } catch (x) { log('no failure screenshot:', x.message); }
    // What the officer saw, to tell "no fire arrived" from "wrong row".
    try {
      rows = await page.$$eval('[data-testid=alarm-row]', (l) => l.map((r) => ({
        site: r.dataset.site, alarm: r.dataset.alarm, class: r.dataset.class, state: r.dataset.state })));
      banners = await page.evaluate(() => ({
        conn_lost: !document.getElementById('conn-banner').hidden,
        message: document.getElementById('message').hidden ? null : document.getElementById('message-text').textContent,
        login_error: document.getElementById('login-error').hidden ? null : document.getElementById('login-error').textContent }));
    } catch (x) { log('no page state:', x.message); }
  }
  console.log(JSON.stringify({ ok: false, scenario: opts.scenario, step, error: msg, alarm_rows: rows, page: banners, page_errors: pageErrors, shots }));
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
