/*
 * safehouse owner's panel (plain ES2020, no build step, nothing fetched from
 * outside the gateway). The API is described in gateway/wpanel.h.
 *
 * Rules this page keeps:
 *  - every server string reaches the DOM through textContent, never
 *    innerHTML;
 *  - what the page shows of the panel comes from the gateway's status (the
 *    stream's "status" events), never from what a button hoped to do;
 *  - a page that is not hearing the gateway says so in a black and yellow
 *    banner and shows no calm "normal": a stale page must never look calm.
 */
'use strict';

const I18N = {
  vi: {
    doc: 'Bảng điều khiển — {site}', doc_fire: 'CHÁY — {site}',
    nav_panel: 'Bảng báo', nav_sensors: 'Thiết bị', nav_events: 'Nhật ký',
    login: 'Đăng nhập', logout: 'Đăng xuất', lang: 'English',
    sound_on: 'Âm thanh: bật', sound_off: 'Bật âm thanh',
    connecting: 'Đang kết nối tới trung tâm báo cháy…',
    lost: 'MẤT KẾT NỐI VỚI TRUNG TÂM BÁO CHÁY — thông tin trên màn hình có thể đã cũ. Đang thử kết nối lại…',
    lost_summary: 'Không rõ tình trạng: mất kết nối', normal: 'Bình thường: không có báo động',
    fire_summary: 'CHÁY: {rooms}', alarm_summary: 'BÁO ĐỘNG: {rooms}', fault_summary: 'Có {n} lỗi thiết bị',
    silence: 'Tắt còi', ack_all: 'Xác nhận tất cả', arm_home: 'Canh có người', arm_night: 'Canh ban đêm',
    arm_away: 'Canh vắng nhà', disarm: 'Tắt canh', disable: 'Vô hiệu thiết bị…', test_start: 'Bắt đầu thử',
    test_stop: 'Dừng thử', ack: 'Xác nhận', reset: 'Khôi phục', false_alarm: 'Báo nhầm…', enable: 'Bật lại',
    h_alarms: 'Báo động', h_faults: 'Lỗi', h_disabled: 'Thiết bị bị vô hiệu', none: 'Không có.',
    h_sensors: 'Thiết bị', h_events: 'Nhật ký', h_recent: 'Báo động đã khôi phục (7 ngày qua)',
    mode_disarmed: 'Tắt canh', mode_armed_home: 'Canh có người', mode_armed_night: 'Canh ban đêm',
    mode_armed_away: 'Canh vắng nhà',
    cls_fire: 'Cháy', cls_gas: 'Rò rỉ gas', cls_panic: 'Khẩn cấp', cls_intrusion: 'Đột nhập',
    cls_tamper: 'Phá hoại thiết bị', cls_supervisory: 'Giám sát', cls_fault: 'Lỗi thiết bị',
    st_raised: 'Đang báo', st_acknowledged: 'Đã xác nhận', st_silenced: 'Đã tắt còi', st_cleared: 'Đã hết',
    st_reset: 'Đã khôi phục',
    by: 'bởi {by}', until: 'đến {t}', test_line: 'Đang thử thiết bị ({zone}) bởi {by}, đến {t}',
    all_zones: 'cả nhà',
    login_title: 'Nhập mã PIN', login_submit: 'Đăng nhập', cancel: 'Hủy', clear: 'Xóa',
    login_wrong: 'Sai mã PIN.', login_locked: 'Nhập sai quá nhiều lần: tạm khóa nhập mã. {e}',
    login_rate: 'Thử quá nhanh: chờ vài giây.', logged_in: 'Đã đăng nhập: {user}.',
    need_login: 'Hãy đăng nhập bằng mã PIN.',
    done: 'Đã thực hiện.', refused: 'Bị từ chối: {e}', net: 'Không gửi được tới trung tâm (lỗi mạng).',
    disable_title: 'Vô hiệu một thiết bị', dis_target: 'Thiết bị hoặc khu vực', dis_for: 'Trong',
    dis_reason: 'Lý do', dis_submit: 'Vô hiệu', dis_need_reason: 'Hãy ghi lý do.',
    false_title: 'Đánh dấu báo nhầm', false_reason: 'Lý do (ví dụ: khói nấu ăn)', false_submit: 'Ghi nhận',
    arm_title: 'Không canh được', arm_force: 'Vẫn canh (bỏ qua cửa đang mở)',
    c_room: 'Phòng', c_sensor: 'Thiết bị', c_state: 'Trạng thái', c_battery: 'Pin', c_link: 'Sóng',
    c_seen: 'Lần cuối', c_at: 'Lúc', c_by: 'Người/nguồn', c_type: 'Loại', c_detail: 'Chi tiết',
    c_class: 'Loại', c_since: 'Từ lúc',
    online: 'Liên lạc tốt', offline: 'MẤT LIÊN LẠC', unknown: 'Chưa rõ', low: 'yếu', dis: 'vô hiệu',
    since_1h: '1 giờ qua', since_24h: '24 giờ qua', since_7d: '7 ngày qua', all_types: 'Mọi loại',
    report_link: 'Báo cáo tuân thủ PCCC (30 ngày qua, để in)',
    compliance: 'Tự kiểm tra {at}: {passed} đạt, {failed} không đạt{list}',
    search: 'Tìm…', h1: '1 giờ', h4: '4 giờ', h24: '1 ngày', d7: '7 ngày',
  },
  en: {
    doc: 'Panel — {site}', doc_fire: 'FIRE — {site}',
    nav_panel: 'Panel', nav_sensors: 'Sensors', nav_events: 'Events',
    login: 'Log in', logout: 'Log out', lang: 'Tiếng Việt',
    sound_on: 'Sound: on', sound_off: 'Turn sound on',
    connecting: 'Connecting to the fire panel…',
    lost: 'LOST THE GATEWAY — what you see may be out of date. Reconnecting…',
    lost_summary: 'State unknown: connection lost', normal: 'Normal: no alarms',
    fire_summary: 'FIRE: {rooms}', alarm_summary: 'ALARM: {rooms}', fault_summary: '{n} fault(s)',
    silence: 'Silence', ack_all: 'Acknowledge all', arm_home: 'Arm home', arm_night: 'Arm night',
    arm_away: 'Arm away', disarm: 'Disarm', disable: 'Disable a sensor…', test_start: 'Start walk test',
    test_stop: 'Stop walk test', ack: 'Acknowledge', reset: 'Reset', false_alarm: 'False alarm…', enable: 'Enable',
    h_alarms: 'Alarms', h_faults: 'Faults', h_disabled: 'Disabled', none: 'None.',
    h_sensors: 'Sensors', h_events: 'Events', h_recent: 'Alarms reset (last 7 days)',
    mode_disarmed: 'Disarmed', mode_armed_home: 'Armed home', mode_armed_night: 'Armed night',
    mode_armed_away: 'Armed away',
    cls_fire: 'Fire', cls_gas: 'Gas leak', cls_panic: 'Panic', cls_intrusion: 'Intrusion',
    cls_tamper: 'Tamper', cls_supervisory: 'Supervisory', cls_fault: 'Fault',
    st_raised: 'Raised', st_acknowledged: 'Acknowledged', st_silenced: 'Silenced', st_cleared: 'Cleared',
    st_reset: 'Reset',
    by: 'by {by}', until: 'until {t}', test_line: 'Walk test ({zone}) by {by}, until {t}',
    all_zones: 'whole house',
    login_title: 'Enter your PIN', login_submit: 'Log in', cancel: 'Cancel', clear: 'Clear',
    login_wrong: 'Wrong PIN.', login_locked: 'Too many wrong codes: code entry is locked. {e}',
    login_rate: 'Too fast: wait a few seconds.', logged_in: 'Logged in: {user}.',
    need_login: 'Log in with your PIN.',
    done: 'Done.', refused: 'Refused: {e}', net: 'Could not reach the gateway (network error).',
    disable_title: 'Disable a sensor', dis_target: 'Sensor or zone', dis_for: 'For',
    dis_reason: 'Reason', dis_submit: 'Disable', dis_need_reason: 'A reason is required.',
    false_title: 'Mark as a false alarm', false_reason: 'Reason (e.g. cooking smoke)', false_submit: 'Record',
    arm_title: 'Cannot arm', arm_force: 'Arm anyway (bypass what is open)',
    c_room: 'Room', c_sensor: 'Sensor', c_state: 'State', c_battery: 'Battery', c_link: 'Link',
    c_seen: 'Last seen', c_at: 'At', c_by: 'By/origin', c_type: 'Type', c_detail: 'Detail',
    c_class: 'Class', c_since: 'Since',
    online: 'Online', offline: 'OFFLINE', unknown: 'Unknown', low: 'low', dis: 'disabled',
    since_1h: 'Last hour', since_24h: 'Last 24 h', since_7d: 'Last 7 days', all_types: 'All types',
    report_link: 'Fire-safety compliance report (last 30 days, printable)',
    compliance: 'Self-check {at}: {passed} passed, {failed} failed{list}',
    search: 'Search…', h1: '1 hour', h4: '4 hours', h24: '1 day', d7: '7 days',
  },
};

const S = {
  lang: 'vi', info: null, me: null, status: null, sensors: [], events: [], recent: [],
  es: null, connected: false, lastEvent: 0, view: 'panel', soundOn: false, pendingArm: null,
};

const $ = (id) => document.getElementById(id);
function t(key, vars) {
  let s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
  return s;
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return d.toLocaleString(S.lang === 'vi' ? 'vi-VN' : 'en-GB', { hour12: false });
}

/* ---------- API ---------- */

async function api(method, path, body) {
  const h = {};
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (method === 'POST' && S.me && S.me.csrf) h['X-CSRF-Token'] = S.me.csrf;
  try {
    const r = await fetch(path, { method, headers: h, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { status: r.status, data: data || {} };
  } catch (e) {
    return { status: 0, data: {} };
  }
}

function say(text, kind) {
  $('message-text').textContent = text;
  $('message').className = 'message ' + (kind || 'info');
  $('message').hidden = false;
}

/* An operation: the gateway's own answer is shown, word for word. */
async function run(req, okText) {
  if (!S.me) { openLogin(); say(t('need_login'), 'warn'); return null; }
  const r = await api('POST', '/api/cmd', req);
  if (r.status === 401) { S.me = null; renderAll(); openLogin(); say(t('need_login'), 'warn'); return r; }
  if (r.status === 0) { say(t('net'), 'error'); return r; }
  if (r.status === 200) say(okText || t('done'), 'info');
  else say(t('refused', { e: r.data.error || r.status }), 'error');
  return r;
}

/* ---------- live stream ---------- */

function connect() {
  if (S.es) S.es.close();
  const es = new EventSource('/api/stream');
  S.es = es;
  es.addEventListener('status', (e) => {
    S.lastEvent = Date.now();
    try { S.status = JSON.parse(e.data); } catch (x) { return; }
    S.connected = true;
    renderAll();
    if (S.view === 'sensors') loadSensors();
    loadRecentSoon();
  });
  es.addEventListener('ping', () => { S.lastEvent = Date.now(); if (S.status) setConnected(true); });
  es.addEventListener('error', () => {
    setConnected(false);
    // CLOSED: an HTTP error (401 on a private panel): try again later.
    if (es.readyState === EventSource.CLOSED && S.es === es) setTimeout(() => { if (S.es === es) connect(); }, 3000);
  });
}

function setConnected(on) {
  if (S.connected === on) return;
  S.connected = on;
  renderAll();
}

// The gateway pings every 5 s: 15 s of silence is a lost link even if the
// browser still believes the stream is open (a frozen board, a dead AP).
setInterval(() => {
  if (S.connected && Date.now() - S.lastEvent > 15000) {
    setConnected(false);
    connect();
  }
}, 1000);

/* ---------- sound ---------- */

let audio = null, beepTimer = null;
function enableSound() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!audio && AC) { try { audio = new AC(); } catch (e) { audio = null; } }
  if (audio && audio.state === 'suspended') audio.resume().catch(() => {});
  S.soundOn = !!audio;
  renderChrome();
}
function beep() {
  if (!S.soundOn || !audio || audio.state !== 'running') return;
  let at = audio.currentTime + 0.02;
  for (const f of [1046, 784, 1046, 784]) {
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = 'square'; o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, at);
    g.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    o.connect(g).connect(audio.destination);
    o.start(at); o.stop(at + 0.25);
    at += 0.3;
  }
}
// A tone every 3 s while a fire is raised and not silenced.
function soundLoop(on) {
  if (on && !beepTimer) { beep(); beepTimer = setInterval(beep, 3000); }
  if (!on && beepTimer) { clearInterval(beepTimer); beepTimer = null; }
}

/* ---------- render ---------- */

function activeAlarms() {
  return ((S.status && S.status.alarms) || []).filter((a) => a.active !== false && a.state !== 'reset');
}
const LOUD = ['fire', 'gas', 'panic', 'intrusion', 'tamper'];

function renderChrome() {
  document.documentElement.lang = S.lang;
  $('lang').textContent = t('lang');
  $('sound').textContent = S.soundOn ? t('sound_on') : t('sound_off');
  $('login-open').textContent = t('login');
  $('logout').textContent = t('logout');
  $('login-open').hidden = !!S.me;
  $('logout').hidden = !S.me;
  $('who').hidden = !S.me;
  $('who').textContent = S.me ? S.me.user : '';
  for (const b of document.querySelectorAll('#nav button')) {
    b.textContent = t('nav_' + b.dataset.view);
    b.classList.toggle('active', b.dataset.view === S.view);
  }
  for (const v of ['panel', 'sensors', 'events']) $('view-' + v).hidden = S.view !== v;
  const labels = { 'op-silence': 'silence', 'op-ack-all': 'ack_all', 'op-arm-home': 'arm_home',
    'op-arm-night': 'arm_night', 'op-arm-away': 'arm_away', 'op-disarm': 'disarm', 'op-disable': 'disable',
    'h-alarms': 'h_alarms', 'h-faults': 'h_faults', 'h-disabled': 'h_disabled', 'h-sensors': 'h_sensors',
    'h-events': 'h_events', 'h-recent': 'h_recent', 'login-title': 'login_title', 'login-submit': 'login_submit',
    'login-cancel': 'cancel', 'disable-title': 'disable_title', 'dis-target-l': 'dis_target',
    'dis-for-l': 'dis_for', 'dis-reason-l': 'dis_reason', 'disable-submit': 'dis_submit',
    'disable-cancel': 'cancel', 'false-title': 'false_title', 'false-reason-l': 'false_reason',
    'false-submit': 'false_submit', 'false-cancel': 'cancel', 'arm-title': 'arm_title',
    'arm-force': 'arm_force', 'arm-cancel': 'cancel' };
  for (const [id, k] of Object.entries(labels)) $(id).textContent = t(k);
  $('ev-search').placeholder = t('search');
}

function renderConn() {
  const lost = !S.connected;
  document.body.classList.toggle('lost', lost);
  $('conn-banner').hidden = !lost;
  $('conn-banner').textContent = S.status ? t('lost') : t('connecting');
  $('conn-banner').dataset.state = lost ? 'lost' : 'ok';
}

function renderSummary() {
  const box = $('summary');
  const act = activeAlarms();
  const fires = act.filter((a) => a.class === 'fire');
  const loud = act.filter((a) => LOUD.includes(a.class));
  const faults = act.filter((a) => a.class === 'fault' || a.class === 'supervisory');
  const rooms = (list) => [...new Set(list.map((a) => a.zone_name || a.zone || '?'))].join(', ');
  let cls, text;
  if (!S.connected) { cls = 'unknown'; text = t('lost_summary'); }
  else if (fires.length) { cls = 'fire'; text = t('fire_summary', { rooms: rooms(fires) }); }
  else if (loud.length) { cls = 'alarm'; text = t('alarm_summary', { rooms: rooms(loud) }); }
  else if (faults.length) { cls = 'fault'; text = t('fault_summary', { n: faults.length }); }
  else { cls = 'normal'; text = t('normal'); }
  box.className = 'summary ' + cls;
  box.dataset.state = cls;
  box.textContent = text;
  // Red stays while the gateway is lost: the last thing it said was fire.
  const fire = fires.length > 0;
  document.body.classList.toggle('fire', fire);
  document.body.classList.toggle('fire-raised', fire && fires.some((a) => a.state === 'raised'));
  soundLoop(fire && S.status && S.status.sirens !== 'off' && fires.some((a) => a.state === 'raised'));
  const site = (S.status && (S.status.name || S.status.site)) || (S.info && (S.info.name || S.info.site)) || 'safehouse';
  $('site-name').textContent = site;
  document.title = fire ? t('doc_fire', { site }) : t('doc', { site });
  const mode = S.status ? S.status.mode : '';
  $('mode').textContent = mode ? t('mode_' + mode) : '';
  $('mode').dataset.mode = mode || '';
}

function alarmCard(a) {
  const kids = [
    el('div', { class: 'a-head' },
      el('span', { class: 'a-class', text: t('cls_' + a.class) }),
      el('span', { class: 'a-room', text: a.zone_name || a.zone || '' }),
      el('span', { class: 'a-state', 'data-testid': 'alarm-state', text: t('st_' + a.state) })),
    el('div', { class: 'a-body' },
      el('span', { text: fmtTime(a.raised_at) }),
      a.sensor ? el('span', { text: ' · ' + a.sensor }) : null,
      a.message ? el('span', { text: ' · ' + a.message }) : null,
      a.acknowledged_by ? el('span', { text: ' · ' + t('by', { by: a.acknowledged_by }) }) : null),
  ];
  if (S.me) {
    const btns = el('div', { class: 'row' });
    const closed = a.state === 'reset';
    if (a.state === 'raised')
      btns.append(el('button', { type: 'button', class: 'mid', 'data-testid': 'ack', text: t('ack'),
        on: { click: () => run({ cmd: 'ack', id: a.id }) } }));
    if (!closed)
      btns.append(el('button', { type: 'button', class: 'mid', 'data-testid': 'reset', text: t('reset'),
        on: { click: () => run({ cmd: 'reset', id: a.id }) } }));
    if (a.class !== 'fault' && a.class !== 'supervisory')
      btns.append(el('button', { type: 'button', class: 'mid', 'data-testid': 'false-alarm', text: t('false_alarm'),
        on: { click: () => openFalse(a.id) } }));
    kids.push(btns);
  }
  return el('div', { class: 'alarm cls-' + a.class + ' st-' + a.state, 'data-testid': 'alarm',
    'data-id': a.id, 'data-class': a.class }, ...kids);
}

function renderPanel() {
  const act = activeAlarms();
  const alarms = act.filter((a) => a.class !== 'fault' && a.class !== 'supervisory');
  const faults = act.filter((a) => a.class === 'fault' || a.class === 'supervisory');
  const fill = (box, list, make) => {
    box.replaceChildren(...(list.length ? list.map(make) : [el('p', { class: 'empty', text: t('none') })]));
  };
  fill($('alarms'), alarms, alarmCard);
  fill($('faults'), faults, alarmCard);
  const dis = (S.status && S.status.disablements) || [];
  fill($('disabled'), dis, (d) => el('div', { class: 'line', 'data-testid': 'disabled-row', 'data-target': d.target },
    el('span', { text: d.target + ' — ' + d.reason + ' (' + t('by', { by: d.by }) + ', ' + t('until', { t: fmtTime(d.until) }) + ')' }),
    S.me ? el('button', { type: 'button', class: 'mid', text: t('enable'), 'data-testid': 'enable',
      on: { click: () => run({ cmd: 'enable', target: d.target }) } }) : null));
  const test = S.status && S.status.test;
  $('test-line').hidden = !test;
  if (test) $('test-line').textContent = t('test_line', { zone: test.zone || t('all_zones'), by: test.by, t: fmtTime(test.until) });
  // The daily self-check against the inspection criteria (the full
  // report: safehousectl report --format html).
  const cp = S.status && S.status.compliance;
  $('compliance').hidden = !(cp && cp.at);
  if (cp && cp.at) {
    const failing = (cp.failing || []).map((f) => (typeof f === 'string' ? f : (f.id || f.title || ''))).filter(Boolean);
    $('compliance').textContent = t('compliance', { at: fmtTime(cp.at), passed: cp.passed, failed: cp.failed,
      list: failing.length ? ': ' + failing.join(', ') : '' });
  }
  // The report exists where the gateway has its report thread (the
  // status then carries "compliance").
  $('report').hidden = !(cp && cp.at);
  $('report-link').textContent = t('report_link');
  // Alarms already reset may still be marked as false alarms.
  const week = Date.now() - 7 * 86400000;
  const recent = S.me ? S.recent.filter((a) => a.state === 'reset' &&
    a.class !== 'fault' && a.class !== 'supervisory' && Date.parse(a.raised_at) >= week).slice(0, 10) : [];
  $('h-recent').hidden = $('recent').hidden = !recent.length;
  $('recent').replaceChildren(...recent.map(alarmCard));
  $('ops').hidden = !S.me;
  $('op-test').textContent = test ? t('test_stop') : t('test_start');
}

function sensorRank(s) {
  if (s.link === 'offline') return 0;
  if ((s.values && s.values.battery_low) || (typeof s.battery === 'number' && s.battery < 20)) return 1;
  if (s.link === 'unknown') return 2;
  return 3;
}

function renderSensors() {
  $('sensors-head').replaceChildren(...['c_room', 'c_sensor', 'c_state', 'c_battery', 'c_link', 'c_seen']
    .map((k) => el('th', { text: t(k) })));
  const list = [...S.sensors].sort((a, b) => sensorRank(a) - sensorRank(b) || String(a.zone_name).localeCompare(String(b.zone_name)));
  $('sensors-body').replaceChildren(...list.map((s) => {
    const low = sensorRank(s) === 1;
    const lq = s.values && typeof s.values.linkquality === 'number' ? s.values.linkquality : null;
    return el('tr', { 'data-testid': 'sensor-row', 'data-sensor': s.id, class: 'rank' + sensorRank(s) },
      el('td', { text: s.zone_name || s.zone }),
      el('td', { text: s.name || s.id }),
      el('td', { text: s.state + (s.disabled ? ' (' + t('dis') + ')' : '') }),
      el('td', { text: typeof s.battery === 'number' ? s.battery + '%' + (low ? ' ' + t('low') : '') : '—' }),
      el('td', { text: (s.link === 'offline' ? t('offline') : s.link === 'online' ? t('online') : t('unknown')) + (lq !== null ? ' · ' + lq : '') }),
      el('td', { text: fmtTime(s.last_seen) }));
  }));
}

function renderEvents() {
  $('events-head').replaceChildren(...['c_at', 'c_by', 'c_type', 'c_sensor', 'c_detail'].map((k) => el('th', { text: t(k) })));
  const sinceSel = $('ev-since');
  if (!sinceSel.options.length)
    for (const v of ['1h', '24h', '7d']) sinceSel.append(el('option', { value: v }));
  for (const o of sinceSel.options) o.textContent = t('since_' + o.value);
  const typeSel = $('ev-type'), cur = typeSel.value;
  const types = [...new Set(S.events.map((e) => e.type))].sort();
  typeSel.replaceChildren(el('option', { value: '', text: t('all_types') }), ...types.map((x) => el('option', { value: x, text: x })));
  typeSel.value = types.includes(cur) ? cur : '';
  const q = $('ev-search').value.trim().toLowerCase();
  const rows = S.events.filter((e) => (!typeSel.value || e.type === typeSel.value) &&
    (!q || JSON.stringify(e).toLowerCase().includes(q)));
  $('events-body').replaceChildren(...rows.map((e) => el('tr', { 'data-testid': 'event-row' },
    el('td', { text: fmtTime(e.at) }), el('td', { text: e.origin }), el('td', { text: e.type }),
    el('td', { text: e.sensor || '' }), el('td', { text: e.detail || (e.value !== undefined ? String(e.value) : '') }))));
}

function renderAll() {
  renderChrome();
  renderConn();
  renderSummary();
  renderPanel();
  if (S.view === 'sensors') renderSensors();
  if (S.view === 'events') renderEvents();
}

// At most one load in flight per half second, and always one after the
// last change.
let recentTimer = null;
function loadRecentSoon() {
  if (!recentTimer) recentTimer = setTimeout(() => { recentTimer = null; loadRecent(); }, 500);
}
async function loadRecent() {
  if (!S.me) return;
  const r = await api('GET', '/api/alarms?all=1');
  if (r.status === 200) { S.recent = r.data.alarms || []; renderPanel(); }
}

async function loadSensors() {
  const r = await api('GET', '/api/sensors');
  if (r.status === 200) { S.sensors = r.data.sensors || []; renderSensors(); }
}
async function loadEvents() {
  const r = await api('GET', '/api/events?since=' + encodeURIComponent($('ev-since').value || '24h') + '&limit=500');
  if (r.status === 200) { S.events = r.data.events || []; renderEvents(); }
}

/* ---------- dialogs ---------- */

function openLogin() {
  $('pin').value = '';
  $('login-error').hidden = true;
  if (!$('dlg-login').open) $('dlg-login').showModal();
  $('pin').focus();
}

async function submitLogin(ev) {
  ev.preventDefault();
  const pin = $('pin').value;
  $('pin').value = '';
  const r = await api('POST', '/api/login', { pin });
  const err = $('login-error');
  if (r.status === 200) {
    S.me = r.data;
    $('dlg-login').close();
    say(t('logged_in', { user: r.data.user }), 'info');
    renderAll();
    loadRecent();
    return;
  }
  err.hidden = false;
  err.dataset.status = r.status;
  err.textContent = r.status === 401 ? t('login_wrong') + ' (' + (r.data.error || '') + ')'
    : r.status === 429 ? (String(r.data.error || '').includes('locked') ? t('login_locked', { e: r.data.error }) : t('login_rate'))
    : r.status === 0 ? t('net') : (r.data.error || String(r.status));
}

function openFalse(id) {
  $('dlg-false').dataset.id = id;
  $('false-reason').value = '';
  $('false-error').hidden = true;
  $('dlg-false').showModal();
}

function openDisable() {
  const sel = $('dis-target');
  sel.replaceChildren(...S.sensors.map((s) => el('option', { value: s.id, text: (s.zone_name || s.zone) + ' — ' + (s.name || s.id) })));
  const f = $('dis-for');
  f.replaceChildren(...[['h1', 3600], ['h4', 14400], ['h24', 86400], ['d7', 604800]]
    .map(([k, v]) => el('option', { value: v, text: t(k) })));
  $('dis-reason').value = '';
  $('disable-error').hidden = true;
  $('dlg-disable').showModal();
}

async function arm(mode, force) {
  const r = await run(mode ? { cmd: 'arm', mode, force: !!force } : { cmd: 'disarm' });
  if (r && r.status === 409 && mode && !force) {
    // The gateway names what is open; the owner may bypass it until disarm.
    S.pendingArm = mode;
    $('arm-why').textContent = r.data.error || '';
    $('dlg-arm').showModal();
  }
}

/* ---------- wiring ---------- */

function wire() {
  $('lang').addEventListener('click', () => {
    S.lang = S.lang === 'vi' ? 'en' : 'vi';
    document.cookie = 'lang=' + S.lang + '; Path=/; SameSite=Strict; Max-Age=31536000';
    renderAll();
  });
  $('sound').addEventListener('click', enableSound);
  $('message-close').addEventListener('click', () => { $('message').hidden = true; });
  $('login-open').addEventListener('click', openLogin);
  $('logout').addEventListener('click', async () => { await api('POST', '/api/logout', {}); S.me = null; renderAll(); });
  for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => {
    S.view = b.dataset.view;
    renderAll();
    if (S.view === 'sensors') loadSensors();
    if (S.view === 'events') loadEvents();
  });
  const pad = $('keypad');
  for (const k of ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'C', '0', '⌫'])
    pad.append(el('button', { type: 'button', class: 'key', 'data-key': k, text: k === 'C' ? t('clear') : k, on: { click: () => {
      const p = $('pin');
      if (k === 'C') p.value = '';
      else if (k === '⌫') p.value = p.value.slice(0, -1);
      else if (p.value.length < 8) p.value += k;
    } } }));
  $('login-form').addEventListener('submit', submitLogin);
  $('login-cancel').addEventListener('click', () => $('dlg-login').close());
  $('op-silence').addEventListener('click', () => { enableSound(); run({ cmd: 'silence' }); });
  $('op-ack-all').addEventListener('click', () => run({ cmd: 'ack' }));
  $('op-arm-home').addEventListener('click', () => arm('home'));
  $('op-arm-night').addEventListener('click', () => arm('night'));
  $('op-arm-away').addEventListener('click', () => arm('away'));
  $('op-disarm').addEventListener('click', () => arm(null));
  $('op-test').addEventListener('click', () => run({ cmd: 'test', action: S.status && S.status.test ? 'stop' : 'start' }));
  $('op-disable').addEventListener('click', async () => { await loadSensors(); openDisable(); });
  $('disable-cancel').addEventListener('click', () => $('dlg-disable').close());
  $('disable-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const reason = $('dis-reason').value.trim();
    if (!reason) { $('disable-error').textContent = t('dis_need_reason'); $('disable-error').hidden = false; return; }
    const r = await run({ cmd: 'disable', target: $('dis-target').value, for_s: Number($('dis-for').value), reason });
    if (r && r.status === 200) $('dlg-disable').close();
    else if (r) { $('disable-error').textContent = r.data.error || ''; $('disable-error').hidden = false; }
  });
  $('false-cancel').addEventListener('click', () => $('dlg-false').close());
  $('false-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = await run({ cmd: 'false_alarm', id: Number($('dlg-false').dataset.id), reason: $('false-reason').value.trim() });
    if (r && r.status === 200) $('dlg-false').close();
    else if (r) { $('false-error').textContent = r.data.error || ''; $('false-error').hidden = false; }
  });
  $('arm-cancel').addEventListener('click', () => $('dlg-arm').close());
  $('arm-form').addEventListener('submit', (ev) => { ev.preventDefault(); $('dlg-arm').close(); arm(S.pendingArm, true); });
  $('ev-since').addEventListener('change', loadEvents);
  $('ev-type').addEventListener('change', renderEvents);
  $('ev-search').addEventListener('input', renderEvents);
  // A tablet by the door: the first touch anywhere may turn the sound on.
  document.addEventListener('pointerdown', () => { if (!S.soundOn) enableSound(); }, { once: true });
}

async function start() {
  wire();
  const r = await api('GET', '/api/info');
  if (r.status === 200) {
    S.info = r.data;
    const m = document.cookie.match(/(?:^|; )lang=(vi|en)/);
    S.lang = m ? m[1] : (r.data.language || 'vi');
    if (r.data.user) S.me = { user: r.data.user, role: r.data.role, csrf: r.data.csrf };
  }
  renderAll();
  if (S.info && !S.info.public && !S.me) openLogin();
  connect();
}

document.addEventListener('DOMContentLoaded', start);
