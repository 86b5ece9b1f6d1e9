/*
 * safehouse-station duty console (plain ES2020, no build step, no framework).
 *
 * Contract with the server: /work/notes/station-api.md (GET /api/alarms,
 * /api/sites, /api/sites/ID, POST /api/login, /api/logout, /api/ack, the
 * /api/events stream). Rules this page keeps:
 *  - every server string reaches the DOM through textContent or an
 *    attribute set with setAttribute, never through innerHTML;
 *  - the state of an alarm changes only when the server says so (an SSE
 *    alarm event or a reload): pressing "Acknowledge" sends the ack and
 *    then shows the server's ack_pending, never a fake "acknowledged";
 *  - while the event stream is not open a red banner says so: a console
 *    that silently stopped updating must never look calm.
 */
'use strict';

/* ---------- strings (the only place with UI text) ---------- */

const I18N = {
  vi: {
    app_title: 'Trạm trực ban',
    doc_title: 'Trạm trực ban — safehouse',
    nav_alarms: 'Báo động', nav_sites: 'Nhà', nav_map: 'Bản đồ',
    logout: 'Đăng xuất', lang_other: 'English',
    mute: 'Tắt tiếng', unmute: 'Bật tiếng', sound_enable: 'Bấm để bật âm thanh',
    login_title: 'Đăng nhập', login_user: 'Tên đăng nhập', login_password: 'Mật khẩu',
    login_submit: 'Đăng nhập', login_wrong: 'Sai tên đăng nhập hoặc mật khẩu.',
    login_locked: 'Tài khoản tạm bị khóa. Thử lại sau {s}.',
    login_missing: 'Hãy nhập tên đăng nhập và mật khẩu.',
    session_expired: 'Phiên làm việc đã hết. Hãy đăng nhập lại.',
    role_officer: 'Trực ban', role_viewer: 'Chỉ xem',
    conn_lost: 'Mất kết nối tới trạm — thông tin trên màn hình có thể đã cũ. Đang kết nối lại…',
    broker_down: 'Trạm mất kết nối tới máy chủ tin nhắn (broker): báo động mới có thể không đến được.',
    db_down: 'Trạm không ghi được vào cơ sở dữ liệu: báo động mới đang chờ ở broker và chỉ hiện khi cơ sở dữ liệu hoạt động lại. Hãy gọi điện cho các nhà nếu cần.',
    fire_banner: 'CHÁY: {list}',
    fire_title: 'CHÁY ({n}) — Trạm trực ban',
    alarms_title: 'Báo động đang có', alarms_empty: 'Không có báo động nào.',
    col_class: 'Loại', col_house: 'Nhà', col_address: 'Địa chỉ', col_room: 'Phòng',
    col_sensor: 'Thiết bị', col_phone: 'Điện thoại', col_since: 'Thời gian', col_state: 'Trạng thái',
    col_action: '', col_group: 'Nhóm', col_online: 'Liên lạc', col_mode: 'Chế độ',
    col_active: 'Báo động', col_faults: 'Lỗi', col_disabled: 'Vô hiệu', col_heartbeat: 'Tín hiệu cuối',
    col_raised: 'Lúc báo', col_ack_s: 'Thời gian xác nhận', col_reset_s: 'Thời gian khôi phục',
    ev_login: 'Đăng nhập', ev_login_failed: 'Đăng nhập sai', ev_login_locked: 'Tài khoản bị khóa',
    ev_logout: 'Đăng xuất', ev_ack_sent: 'Đã gửi xác nhận', ev_ack: 'Xác nhận',
    ev_lost_contact: 'Mất liên lạc', ev_contact_back: 'Liên lạc lại',
    col_by: 'Người', col_at: 'Lúc', col_what: 'Sự kiện', col_detail: 'Chi tiết', col_message: 'Nội dung',
    ack: 'Xác nhận', ack_resend: 'Gửi lại xác nhận', ack_sending: 'Đang gửi…',
    ack_pending: 'Đã gửi, chờ nhà xác nhận',
    ack_by: 'bởi {by}',
    ack_sent: 'Đã gửi xác nhận tới {house}.',
    ack_station: 'Trạm đã xác nhận báo động của {house}.',
    err_already: 'Báo động này đã được xác nhận.',
    err_broker: 'Trạm chưa kết nối tới broker: xác nhận CHƯA được gửi. Hãy gọi điện cho nhà.',
    err_forbidden: 'Không được phép: {e}',
    err_viewer: 'Tài khoản chỉ xem không thể xác nhận báo động.',
    err_notfound: 'Không tìm thấy báo động (có thể đã hết).',
    err_generic: 'Lỗi {code}: {e}',
    err_network: 'Không gửi được tới trạm (lỗi mạng).',
    cls_fire: 'Cháy', cls_gas: 'Rò rỉ khí gas', cls_panic: 'Báo động khẩn cấp', cls_intrusion: 'Đột nhập',
    cls_tamper: 'Phá hoại thiết bị', cls_supervisory: 'Giám sát', cls_fault: 'Lỗi thiết bị',
    cls_lost_contact: 'Mất liên lạc',
    st_raised: 'Đang báo động', st_acknowledged: 'Đã xác nhận', st_silenced: 'Đã tắt còi',
    st_cleared: 'Đã hết', st_reset: 'Đã khôi phục', st_closed: 'Đã đóng',
    sites_title: 'Nhà trọ', sites_empty: 'Không có nhà nào.', search: 'Tìm tên, địa chỉ, mã nhà…',
    f_all: 'Tất cả', f_online: 'Đang liên lạc', f_lost: 'Mất liên lạc', f_alarm: 'Có báo động',
    f_faults: 'Có lỗi', f_disabled: 'Có vô hiệu',
    online: 'Đang liên lạc', lost: 'Mất liên lạc', lost_since: 'từ {t}', offline: 'Chưa liên lạc',
    first_seen: 'mới thấy', first_seen_title: 'Nhà chưa có trong danh bạ của trạm',
    never: 'chưa có', ago: '{d} trước',
    map_title: 'Bản đồ', map_empty: 'Chưa nhà nào có tọa độ.', map_nogeo: '{n} nhà không có tọa độ.',
    lg_alarm: 'Báo động', lg_lost: 'Mất liên lạc', lg_faults: 'Có lỗi', lg_online: 'Bình thường',
    back: '← Quay lại',
    site_loading: 'Đang tải…', site_unknown: 'Không có nhà này.',
    sum_status: 'Tình trạng', sum_site: 'Mã nhà', sum_window: 'Chu kỳ báo cáo', sum_first_seen: 'Thấy lần đầu',
    sum_log: 'Nhật ký của nhà', open_osm: 'Mở trên OpenStreetMap', open_geo: 'Mở bằng ứng dụng bản đồ',
    h_faults: 'Lỗi thiết bị', h_disabled: 'Thiết bị bị vô hiệu', h_history: 'Lịch sử báo động',
    h_events: 'Nhật ký trạm', none: 'Không có.', faults_count: '{n} lỗi',
    d_s: '{s} giây', d_ms: '{m} phút {s} giây', d_hm: '{h} giờ {m} phút', d_dh: '{d} ngày {h} giờ',
    mode_unknown: '—', mode_disarmed: 'Tắt canh', mode_armed_home: 'Canh khi có người', mode_armed_night: 'Canh ban đêm',
    mode_armed_away: 'Canh khi vắng nhà',
  },
  en: {
    app_title: 'Duty station',
    doc_title: 'Duty station — safehouse',
    nav_alarms: 'Alarms', nav_sites: 'Houses', nav_map: 'Map',
    logout: 'Log out', lang_other: 'Tiếng Việt',
    mute: 'Mute', unmute: 'Unmute', sound_enable: 'Click to enable sound',
    login_title: 'Log in', login_user: 'User name', login_password: 'Password',
    login_submit: 'Log in', login_wrong: 'Wrong user name or password.',
    login_locked: 'Account locked for now. Try again in {s}.',
    login_missing: 'Enter the user name and the password.',
    session_expired: 'Your session has ended. Please log in again.',
    role_officer: 'Duty officer', role_viewer: 'Viewer',
    conn_lost: 'Connection to the station lost — what you see may be out of date. Reconnecting…',
    broker_down: 'The station has lost its broker connection: new alarms may not arrive.',
    db_down: 'The station cannot write to its database: new alarms wait in the broker and show only once the database is back. Call the houses if needed.',
    fire_banner: 'FIRE: {list}',
    fire_title: 'FIRE ({n}) — Duty station',
    alarms_title: 'Active alarms', alarms_empty: 'No active alarms.',
    col_class: 'Class', col_house: 'House', col_address: 'Address', col_room: 'Room',
    col_sensor: 'Sensor', col_phone: 'Phone', col_since: 'Since', col_state: 'State',
    col_action: '', col_group: 'Group', col_online: 'Contact', col_mode: 'Mode',
    col_active: 'Alarms', col_faults: 'Faults', col_disabled: 'Disabled', col_heartbeat: 'Last heartbeat',
    col_raised: 'Raised', col_ack_s: 'Time to acknowledge', col_reset_s: 'Time to reset',
    ev_login: 'Logged in', ev_login_failed: 'Failed log-in', ev_login_locked: 'Account locked',
    ev_logout: 'Logged out', ev_ack_sent: 'Acknowledgment sent', ev_ack: 'Acknowledged',
    ev_lost_contact: 'Lost contact', ev_contact_back: 'Contact back',
    col_by: 'By', col_at: 'At', col_what: 'Event', col_detail: 'Detail', col_message: 'Message',
    ack: 'Acknowledge', ack_resend: 'Send again', ack_sending: 'Sending…',
    ack_pending: 'Sent, waiting for the house',
    ack_by: 'by {by}',
    ack_sent: 'Acknowledgment sent to {house}.',
    ack_station: 'The station acknowledged the alarm of {house}.',
    err_already: 'This alarm is already acknowledged.',
    err_broker: 'The station is not connected to the broker: the acknowledgment was NOT sent. Call the house.',
    err_forbidden: 'Not allowed: {e}',
    err_viewer: 'A viewer account cannot acknowledge alarms.',
    err_notfound: 'Alarm not found (it may have ended).',
    err_generic: 'Error {code}: {e}',
    err_network: 'Could not reach the station (network error).',
    cls_fire: 'Fire', cls_gas: 'Gas leak', cls_panic: 'Panic', cls_intrusion: 'Intrusion',
    cls_tamper: 'Tamper', cls_supervisory: 'Supervisory', cls_fault: 'Device fault',
    cls_lost_contact: 'Lost contact',
    st_raised: 'Raised', st_acknowledged: 'Acknowledged', st_silenced: 'Silenced',
    st_cleared: 'Cleared', st_reset: 'Reset', st_closed: 'Closed',
    sites_title: 'Houses', sites_empty: 'No houses.', search: 'Search name, address, id…',
    f_all: 'All', f_online: 'Online', f_lost: 'Lost contact', f_alarm: 'In alarm',
    f_faults: 'Faults', f_disabled: 'Disablements',
    online: 'Online', lost: 'Lost contact', lost_since: 'since {t}', offline: 'Not reporting',
    first_seen: 'first seen', first_seen_title: 'Not in the station\'s directory',
    never: 'never', ago: '{d} ago',
    map_title: 'Map', map_empty: 'No house has a position yet.', map_nogeo: '{n} houses without a position.',
    lg_alarm: 'Alarm', lg_lost: 'Lost contact', lg_faults: 'Faults', lg_online: 'Normal',
    back: '← Back',
    site_loading: 'Loading…', site_unknown: 'No such house.',
    sum_status: 'Status', sum_site: 'House id', sum_window: 'Reporting window', sum_first_seen: 'First seen',
    sum_log: 'House log', open_osm: 'Open in OpenStreetMap', open_geo: 'Open in a map app',
    h_faults: 'Device faults', h_disabled: 'Disabled devices', h_history: 'Alarm history',
    h_events: 'Station journal', none: 'None.', faults_count: '{n} faults',
    d_s: '{s} s', d_ms: '{m} min {s} s', d_hm: '{h} h {m} min', d_dh: '{d} d {h} h',
    mode_unknown: '—', mode_disarmed: 'Disarmed', mode_armed_home: 'Armed home', mode_armed_night: 'Armed night',
    mode_armed_away: 'Armed away',
  },
};

/* Same order as the server's GET /api/alarms: class rank, then newest first. */
const CLASS_RANK = ['fire', 'gas', 'panic', 'intrusion', 'tamper', 'lost_contact', 'supervisory', 'fault'];
const LOUD = new Set(['fire', 'gas', 'panic']);
const GONE = new Set(['reset', 'closed']);

/* ---------- state ---------- */

const S = {
  lang: 'vi',
  me: null,            // {user, role, csrf}
  alarms: [],          // active alarms, sorted
  seen: new Set(),     // alarm keys already announced (beep once per alarm)
  sites: new Map(),    // site id -> SITE (all houses, for the map and names)
  siteList: null,      // last GET /api/sites?filter&q answer (houses view)
  filter: 'all',
  q: '',
  view: 'alarms',
  siteId: null,
  siteDetail: null,    // last GET /api/sites/ID answer
  skew: 0,             // server clock minus ours, ms
  es: null,
  esOpen: false,
  broker: true,
  database: true,
  muted: false,
  ackBusy: new Set(),
  msg: null,           // {key, vars, kind} shown in #message
  inflight: new Set(), // one Map per GET /api/alarms under way: events seen meanwhile
};

/* ---------- small helpers ---------- */

function t(key, vars) {
  let s = (I18N[S.lang] && I18N[S.lang][key]);
  if (s === undefined) s = I18N.vi[key] !== undefined ? I18N.vi[key] : key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
  return s;
}

const $ = (id) => document.getElementById(id);

/* Builds an element; text goes in as textContent, attributes with
 * setAttribute, so nothing from the server is ever parsed as HTML. */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function str(v) { return (v === null || v === undefined) ? '' : String(v); }
function alarmKey(a) { return str(a.site) + '\u0000' + str(a.id); }
function classLabel(c) { return I18N.vi['cls_' + c] !== undefined ? t('cls_' + c) : str(c); }
/* The gateway's panel modes (DESIGN.md); an unknown mode shows as sent. */
function modeLabel(m) {
  if (m === null || m === undefined || m === '') return t('mode_unknown');
  return I18N.vi['mode_' + m] !== undefined ? t('mode_' + m) : str(m);
}
function stateLabel(s) { return I18N.vi['st_' + s] !== undefined ? t('st_' + s) : str(s); }
function nowMs() { return Date.now() + S.skew; }
function parseT(s) { const v = s ? Date.parse(s) : NaN; return Number.isFinite(v) ? v : null; }

function setSkew(serverNow) {
  const v = parseT(serverNow);
  if (v !== null) S.skew = v - Date.now();
}

function fmtDuration(sec) {
  if (sec === null || sec === undefined || !Number.isFinite(Number(sec))) return '';
  let s = Math.max(0, Math.floor(Number(sec)));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60); s %= 60;
  if (d > 0) return t('d_dh', { d, h });
  if (h > 0) return t('d_hm', { h, m });
  if (m > 0) return t('d_ms', { m, s });
  return t('d_s', { s });
}

function since(iso) {
  const v = parseT(iso);
  return v === null ? null : (nowMs() - v) / 1000;
}

function fmtAgo(iso) {
  const s = since(iso);
  return s === null ? t('never') : t('ago', { d: fmtDuration(s) });
}

function fmtTime(iso) {
  const v = parseT(iso);
  if (v === null) return '';
  try {
    return new Date(v).toLocaleString(S.lang === 'en' ? 'en-GB' : 'vi-VN',
      { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  } catch (e) {
    return str(iso);
  }
}

/* The message area keeps the key, not the text, so that it follows a
 * language switch. Errors stay until closed; information fades. */
function showMessage(key, vars, kind) {
  S.msg = { key, vars, kind: kind || 'error' };
  renderMessage();
  clearTimeout(showMessage.timer);
  if (kind === 'info') showMessage.timer = setTimeout(() => { S.msg = null; renderMessage(); }, 8000);
}

function renderMessage() {
  $('message').hidden = !S.msg;
  if (!S.msg) return;
  $('message-text').textContent = t(S.msg.key, S.msg.vars);
  $('message').className = 'message ' + S.msg.kind;
}

/* ---------- API ---------- */

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && S.me && S.me.csrf) headers['X-CSRF-Token'] = S.me.csrf;
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { status: 0, data: { error: t('err_network') } };
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (data === null || typeof data !== 'object') data = {};
  if (res.status === 401 && S.me && path !== '/api/login') sessionEnded();
  return { status: res.status, data };
}

/* ---------- log in / out ---------- */

function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

async function boot() {
  const c = readCookie('lang');
  if (c === 'en' || c === 'vi') S.lang = c;
  try { S.muted = localStorage.getItem('safehouse.muted') === '1'; } catch (e) { S.muted = false; }
  wireStatic();
  renderChrome();
  const r = await api('GET', '/api/me');
  if (r.status === 200 && r.data.csrf) {
    if (!c && (r.data.language === 'en' || r.data.language === 'vi')) S.lang = r.data.language;
    loggedIn(r.data);
  } else {
    showLogin();
  }
  setInterval(tick, 1000);
  setInterval(checkHealth, 10000);
  // A heartbeat that says nothing new is not pushed (thousands of houses
  // beat every minute): the houses' "last heartbeat" is re-read instead.
  setInterval(() => {
    if (!S.me) return;
    if (S.view === 'sites') loadSites();
    else if (S.view === 'map') loadAllSites();
  }, 30000);
}

function showLogin() {
  S.me = null;
  renderChrome();
  showView('login');
  $('login-user').focus();
}

async function doLogin(ev) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  const err = $('login-error');
  err.hidden = true;
  if (!user || !password) {
    err.textContent = t('login_missing');
    err.hidden = false;
    return;
  }
  $('login-submit').disabled = true;
  const r = await api('POST', '/api/login', { user, password });
  $('login-submit').disabled = false;
  if (r.status === 200 && r.data.csrf) {
    $('login-password').value = '';
    loggedIn(r.data);
    return;
  }
  if (r.status === 429) err.textContent = t('login_locked', { s: fmtDuration(r.data.retry_s || 60) });
  else if (r.status === 401) err.textContent = t('login_wrong');
  else if (r.status === 0) err.textContent = t('err_network');
  else err.textContent = t('err_generic', { code: r.status, e: str(r.data.error) });
  err.hidden = false;
  $('login-password').select();
}

function loggedIn(me) {
  S.me = { user: str(me.user), role: str(me.role), csrf: str(me.csrf) };
  S.msg = null;
  $('login-error').hidden = true;
  renderChrome();
  route();
  reloadAll();
  connectEvents();
  checkHealth();
}

async function doLogout() {
  await api('POST', '/api/logout', {});
  closeEvents();
  resetData();
  showLogin();
}

function sessionEnded() {
  closeEvents();
  resetData();
  showLogin();
  showMessage('session_expired', null, 'error');
}

function resetData() {
  S.me = null;
  S.msg = null;
  S.alarms = [];
  S.seen.clear();
  S.sites.clear();
  S.siteList = null;
  S.siteDetail = null;
}

/* ---------- live events ---------- */

function connectEvents() {
  closeEvents();
  const es = new EventSource('/api/events');
  S.es = es;
  S.lastEvent = Date.now();
  es.addEventListener('open', () => { S.lastEvent = Date.now(); S.esOpen = true; renderConn(); });
  // The station sends a ping every 15 s: a stream that says nothing for
  // 40 s is stalled (a proxy, a dead link) even if the browser thinks it
  // is open, and the page must not look calm then.
  es.addEventListener('ping', () => { S.lastEvent = Date.now(); });
  for (const name of ['hello', 'alarm', 'site']) es.addEventListener(name, () => { S.lastEvent = Date.now(); });
  es.addEventListener('error', () => {
    S.esOpen = false;
    renderConn();
    // The browser retries by itself while CONNECTING; a CLOSED stream
    // (an HTTP error such as 401, or a wrong content type) is never
    // retried, so find out whether the session is gone, else start over.
    if (es.readyState === EventSource.CLOSED && S.es === es) {
      setTimeout(async () => {
        if (S.es !== es) return;
        const r = await api('GET', '/api/me');
        if (r.status === 200 && S.es === es && S.me) {
          if (r.data.csrf) S.me.csrf = str(r.data.csrf);
          connectEvents();
        }
        else if (r.status !== 401 && S.es === es) setTimeout(() => { if (S.es === es) connectEvents(); }, 3000);
      }, 2000);
    }
  });
  es.addEventListener('hello', (e) => {
    S.esOpen = true;
    renderConn();
    try { setSkew(JSON.parse(e.data).now); } catch (x) { /* ignore */ }
    reloadAll();
  });
  es.addEventListener('alarm', (e) => {
    let a;
    try { a = JSON.parse(e.data); } catch (x) { return; }
    if (a && typeof a === 'object') onAlarm(a);
  });
  es.addEventListener('site', (e) => {
    let s;
    try { s = JSON.parse(e.data); } catch (x) { return; }
    if (s && typeof s === 'object') onSite(s);
  });
  renderConn();
}

function closeEvents() {
  if (S.es) S.es.close();
  S.es = null;
  S.esOpen = false;
  renderConn();
}

function alarmCmp(a, b) {
  const ra = CLASS_RANK.indexOf(a.class), rb = CLASS_RANK.indexOf(b.class);
  const ka = ra < 0 ? CLASS_RANK.length : ra, kb = rb < 0 ? CLASS_RANK.length : rb;
  if (ka !== kb) return ka - kb;
  const ta = parseT(a.raised_at) || 0, tb = parseT(b.raised_at) || 0;
  if (ta !== tb) return tb - ta;
  return alarmKey(a) < alarmKey(b) ? -1 : 1;
}

function onAlarm(a) {
  const k = alarmKey(a);
  for (const m of S.inflight) m.set(k, a);
  const i = S.alarms.findIndex((x) => alarmKey(x) === k);
  if (GONE.has(a.state)) {
    if (i >= 0) S.alarms.splice(i, 1);
  } else if (i >= 0) {
    S.alarms[i] = a;
  } else {
    S.alarms.push(a);
  }
  S.alarms.sort(alarmCmp);
  announce();
  renderAlarms();
  renderFire();
  if (S.view === 'map') renderMap();
  if (S.view === 'site' && S.siteId === str(a.site)) loadSiteSoon();
}

function onSite(s) {
  const id = str(s.site);
  S.sites.set(id, s);
  if (S.siteList && Array.isArray(S.siteList.sites)) {
    const i = S.siteList.sites.findIndex((x) => str(x.site) === id);
    if (i >= 0) S.siteList.sites[i] = s;
  }
  // Counts and filter membership are the server's: ask again, at most
  // once a second however many heartbeats arrive.
  loadSitesSoon();
  if (S.view === 'sites') renderSites();
  if (S.view === 'map') renderMap();
  if (S.view === 'site' && S.siteId === id) loadSiteSoon();
}

async function reloadAll() {
  await Promise.all([loadAlarms(), loadAllSites(), loadSites()]);
  if (S.view === 'site' && S.siteId) loadSite();
}

/* The answer may be older than an event that arrived while it was on its
 * way (an alarm acknowledged just after the server built the list): such
 * an event is applied again on top unless the list has a newer copy. */
async function loadAlarms() {
  const meanwhile = new Map();
  S.inflight.add(meanwhile);
  let r;
  try {
    r = await api('GET', '/api/alarms');
  } finally {
    S.inflight.delete(meanwhile);
  }
  if (r.status !== 200 || !Array.isArray(r.data.alarms)) return;
  setSkew(r.data.now);
  const list = new Map();
  for (const a of r.data.alarms) if (a && typeof a === 'object') list.set(alarmKey(a), a);
  for (const [k, ev] of meanwhile) {
    const have = list.get(k);
    if (have && (parseT(have.updated_at) || 0) > (parseT(ev.updated_at) || 0)) continue;
    if (GONE.has(ev.state)) list.delete(k); else list.set(k, ev);
  }
  S.alarms = [...list.values()].filter((a) => !GONE.has(a.state)).sort(alarmCmp);
  announce();
  renderAlarms();
  renderFire();
}

async function loadAllSites() {
  const r = await api('GET', '/api/sites?filter=all');
  if (r.status !== 200 || !Array.isArray(r.data.sites)) return;
  S.sites.clear();
  for (const s of r.data.sites) if (s) S.sites.set(str(s.site), s);
  if (S.view === 'map') renderMap();
}

async function loadSites() {
  const p = new URLSearchParams({ filter: S.filter });
  if (S.q) p.set('q', S.q);
  const want = p.toString();
  const r = await api('GET', '/api/sites?' + want);
  if (r.status !== 200 || !Array.isArray(r.data.sites)) return;
  const now = new URLSearchParams({ filter: S.filter });
  if (S.q) now.set('q', S.q);
  if (now.toString() !== want) return; // an answer to an older search
  setSkew(r.data.now);
  S.siteList = r.data;
  renderSites();
}

function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}
const loadSitesSoon = debounce(() => { if (S.me) { loadSites(); loadAllSitesIfMap(); } }, 1000);
const loadSiteSoon = debounce(() => { if (S.me && S.view === 'site') loadSite(); }, 500);
function loadAllSitesIfMap() { if (S.view === 'map') loadAllSites(); }

async function checkHealth() {
  if (!S.me) return;
  try {
    const res = await fetch('/healthz', { cache: 'no-store' });
    const h = await res.json();
    S.broker = h.broker !== false;
    S.database = h.database !== false;
  } catch (e) {
    // The stream's own error shows the banner; nothing more to say here.
  }
  renderConn();
}

/* ---------- sound ---------- */

let audio = null;
function armAudio() {
  // Browsers allow sound only after a user gesture: make the context then.
  if (!audio) {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (AC) { try { audio = new AC(); } catch (e) { audio = null; } }
  }
  if (audio && !audio.onstatechange) audio.onstatechange = () => renderChrome();
  if (audio && audio.state === 'suspended') audio.resume().catch(() => {});
}

function beep(cls) {
  if (S.muted || !audio || audio.state !== 'running') return;
  const pattern = cls === 'fire' ? [1046, 784, 1046, 784] : cls === 'gas' ? [660, 660, 660] : [880, 440, 880];
  let at = audio.currentTime + 0.02;
  for (const f of pattern) {
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = 'square';
    o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, at);
    g.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    o.connect(g).connect(audio.destination);
    o.start(at);
    o.stop(at + 0.25);
    at += 0.3;
  }
}

/* Beeps once for every fire, gas or panic alarm we have not announced yet. */
function announce() {
  let loud = null;
  for (const a of S.alarms) {
    const k = alarmKey(a);
    if (S.seen.has(k)) continue;
    S.seen.add(k);
    if (LOUD.has(a.class) && a.state === 'raised' &&
        (loud === null || CLASS_RANK.indexOf(a.class) < CLASS_RANK.indexOf(loud))) loud = a.class;
  }
  if (loud) beep(loud);
}

/* ---------- rendering: chrome ---------- */

function renderChrome() {
  document.documentElement.lang = S.lang;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.getAttribute('data-i18n'));
  $('lang-toggle').textContent = t('lang_other');
  $('site-search').placeholder = t('search');
  $('site-search').setAttribute('aria-label', t('search'));
  const inside = !!S.me;
  $('nav').hidden = !inside;
  $('logout').hidden = !inside;
  $('mute-toggle').hidden = !inside;
  // Until the browser lets us play sound the button says so: a duty
  // officer must know that the console is silent.
  const mode = S.muted ? 'unmute' : (audio && audio.state === 'running') ? 'mute' : 'enable';
  $('mute-toggle').textContent = t(mode === 'enable' ? 'sound_enable' : mode);
  $('mute-toggle').dataset.mode = mode;
  $('mute-toggle').setAttribute('aria-pressed', S.muted ? 'true' : 'false');
  $('who').hidden = !inside;
  $('who').textContent = inside ? S.me.user + ' · ' + (S.me.role === 'officer' ? t('role_officer') :
    S.me.role === 'viewer' ? t('role_viewer') : S.me.role) : '';
  $('who').setAttribute('data-role', inside ? S.me.role : '');
  for (const b of document.querySelectorAll('#nav button')) {
    const on = b.dataset.view === S.view || (S.view === 'site' && b.dataset.view === 'sites');
    b.classList.toggle('active', on);
    if (on) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  }
  renderConn();
  renderFire();
  renderMessage();
}

function renderConn() {
  const lost = !!S.me && !S.esOpen;
  const b = $('conn-banner');
  b.textContent = t('conn_lost');
  b.hidden = !lost;
  document.body.classList.toggle('disconnected', lost);
  // The database's failure explains the broker's (the station lets go of
  // the broker until it can store again): say the cause, once.
  $('broker-banner').textContent = t(S.database ? 'broker_down' : 'db_down');
  $('broker-banner').hidden = !S.me || (S.broker && S.database) || lost;
}

function renderFire() {
  const fires = S.me ? S.alarms.filter((a) => a.class === 'fire' && a.state !== 'cleared') : [];
  document.body.classList.toggle('fire', fires.length > 0);
  // The header pulses while a fire waits for someone to acknowledge it.
  document.body.classList.toggle('fire-raised', fires.some((a) => a.state === 'raised'));
  const b = $('fire-banner');
  if (fires.length) {
    const names = [...new Set(fires.map((a) => str(a.site_name || a.site) + (a.address ? ' (' + str(a.address) + ')' : '')))];
    b.textContent = t('fire_banner', { list: names.join(' · ') });
    b.hidden = false;
    document.title = t('fire_title', { n: fires.length });
  } else {
    b.hidden = true;
    document.title = t('doc_title');
  }
}

/* ---------- views and routing ---------- */

function showView(v) {
  for (const id of ['login', 'alarms', 'sites', 'map', 'site']) $('view-' + id).hidden = id !== v;
}

function route() {
  if (!S.me) { showLogin(); return; }
  const h = location.hash.replace(/^#\/?/, '');
  let v = 'alarms';
  S.siteId = null;
  if (h === 'sites') v = 'sites';
  else if (h === 'map') v = 'map';
  else if (h.startsWith('site/')) {
    v = 'site';
    try { S.siteId = decodeURIComponent(h.slice(5)); } catch (e) { S.siteId = h.slice(5); }
  }
  const d = S.siteDetail;
  if (v !== 'site' || !d || !d.site || str(d.site.site) !== S.siteId) S.siteDetail = null;
  S.view = v;
  showView(v);
  renderChrome();
  if (v === 'alarms') renderAlarms();
  else if (v === 'sites') { renderSites(); loadSites(); }
  else if (v === 'map') { renderMap(); loadAllSites(); }
  else if (v === 'site') { renderSite(); loadSite(); }
}

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function openSite(id) { go('#/site/' + encodeURIComponent(id)); }

/* ---------- alarms view ---------- */

function headRow(tr, keys) {
  tr.replaceChildren(...keys.map((k) => el('th', { scope: 'col', text: k ? t(k) : '' })));
}

function canAck() { return S.me && S.me.role === 'officer'; }

function renderAlarms() {
  if (!S.me) return;
  const cols = ['col_class', 'col_house', 'col_address', 'col_room', 'col_sensor', 'col_phone', 'col_since', 'col_state'];
  if (canAck()) cols.push('col_action');
  headRow($('alarms-head'), cols);
  $('alarms-empty').textContent = t('alarms_empty');
  $('alarms-empty').hidden = S.alarms.length > 0;
  $('alarms-table').hidden = S.alarms.length === 0;
  $('alarms-body').replaceChildren(...S.alarms.map(alarmRow));
}

/* A cell's content goes in one wrapper so that the phone layout (label
 * and value side by side) sees one value; an empty cell stays empty and
 * is hidden there. */
function td(labelKey, ...kids) {
  const k = kids.filter((x) => x !== null && x !== undefined && x !== false && x !== '');
  return el('td', { 'data-label': labelKey ? t(labelKey) : null }, k.length ? el('div', { class: 'v' }, ...k) : null);
}

function phoneLink(p) {
  p = str(p);
  if (!p) return '';
  const dial = p.replace(/[^0-9+*#]/g, '');
  return dial ? el('a', { href: 'tel:' + dial, class: 'tel', text: p }) : p;
}

function stateCell(a) {
  const box = el('span', { 'data-testid': 'alarm-state', 'data-state': str(a.state), class: 'state st-' + str(a.state) },
    stateLabel(a.state));
  const wrap = el('div', null, box);
  if (a.acked_by && a.state !== 'raised') wrap.append(el('div', { class: 'by', text: t('ack_by', { by: str(a.acked_by) }) }));
  if (a.ack_pending) { // the server clears it once the house has acknowledged
    wrap.append(el('div', { class: 'pending', 'data-testid': 'ack-pending', text: t('ack_pending') +
      (a.ack_pending.by ? ' (' + str(a.ack_pending.by) + ')' : '') }));
  }
  return wrap;
}

function alarmRow(a) {
  const k = alarmKey(a);
  const house = el('a', { href: '#/site/' + encodeURIComponent(str(a.site)), class: 'house', text: str(a.site_name || a.site) });
  const sensor = [a.sensor, a.message].map(str).filter(Boolean).join(' — ');
  const tr = el('tr', {
    'data-testid': 'alarm-row', 'data-site': str(a.site), 'data-alarm': str(a.id), 'data-class': str(a.class),
    'data-state': str(a.state), class: 'alarm cls-' + str(a.class) + ' st-' + str(a.state),
  },
  td('col_class', el('span', { class: 'cls cls-' + str(a.class), text: classLabel(a.class) })),
  td('col_house', house),
  td('col_address', str(a.address)),
  td('col_room', str(a.zone_name || a.zone)),
  td('col_sensor', sensor),
  td('col_phone', phoneLink(a.phone)),
  td('col_since', el('span', { class: 'since', 'data-since': str(a.raised_at), title: fmtTime(a.raised_at), text: fmtDuration(since(a.raised_at)) })),
  td('col_state', stateCell(a)));
  if (canAck()) {
    const cell = td('col_action');
    if (a.state === 'raised') {
      const busy = S.ackBusy.has(k);
      cell.append(el('button', {
        type: 'button', class: 'ack', 'data-testid': 'ack-button', disabled: busy,
        text: busy ? t('ack_sending') : (a.ack_pending ? t('ack_resend') : t('ack')),
        on: { click: () => doAck(a) },
      }));
    }
    tr.append(cell);
  }
  return tr;
}

async function doAck(a) {
  const k = alarmKey(a);
  if (S.ackBusy.has(k)) return;
  S.ackBusy.add(k);
  renderAlarms();
  const r = await api('POST', '/api/ack', { site: a.site, alarm: a.id });
  S.ackBusy.delete(k);
  const house = str(a.site_name || a.site);
  if (r.status === 202) showMessage('ack_sent', { house }, 'info');
  else if (r.status === 200) showMessage('ack_station', { house }, 'info');
  else if (r.status === 409) showMessage('err_already', null, 'warn');
  else if (r.status === 503) showMessage('err_broker', null, 'error');
  else if (r.status === 403) showMessage(/viewer/i.test(str(r.data.error)) ? 'err_viewer' : 'err_forbidden', { e: str(r.data.error) }, 'error');
  else if (r.status === 404) showMessage('err_notfound', null, 'warn');
  else if (r.status !== 401) showMessage(r.status === 0 ? 'err_network' : 'err_generic', { code: r.status, e: str(r.data.error) }, 'error');
  renderAlarms();
}

/* ---------- houses view ---------- */

const FILTERS = ['all', 'online', 'lost', 'alarm', 'faults', 'disabled'];

function renderSites() {
  if (!S.me) return;
  const counts = (S.siteList && S.siteList.counts) || {};
  $('site-filters').replaceChildren(...FILTERS.map((f) => el('button', {
    type: 'button', id: 'filter-' + f, 'data-filter': f, class: 'filter' + (S.filter === f ? ' active' : ''),
    'aria-pressed': S.filter === f ? 'true' : 'false',
    on: { click: () => { S.filter = f; renderSites(); loadSites(); } },
  }, t('f_' + f) + ' ', el('span', { class: 'count', text: counts[f] !== undefined ? str(counts[f]) : '…' }))));
  headRow($('sites-head'), ['col_house', 'col_address', 'col_group', 'col_online', 'col_mode', 'col_active', 'col_faults', 'col_disabled', 'col_heartbeat']);
  const list = (S.siteList && Array.isArray(S.siteList.sites)) ? S.siteList.sites : [];
  $('sites-empty').textContent = t('sites_empty');
  $('sites-empty').hidden = !S.siteList || list.length > 0;
  $('sites-table').hidden = list.length === 0;
  $('sites-body').replaceChildren(...list.filter(Boolean).map(siteRow));
}

function contactCell(s) {
  if (s.lost_contact) {
    return el('span', { class: 'contact lost', 'data-contact': 'lost' }, t('lost'),
      s.lost_since ? el('span', { class: 'sub', title: fmtTime(s.lost_since), text: ' ' + t('lost_since', { t: fmtTime(s.lost_since) }) }) : null);
  }
  if (s.online) return el('span', { class: 'contact online', 'data-contact': 'online', text: t('online') });
  return el('span', { class: 'contact offline', 'data-contact': 'offline', text: t('offline') });
}

function num(v) {
  if (Array.isArray(v)) return v.length;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function siteRow(s) {
  const id = str(s.site);
  const name = el('a', { href: '#/site/' + encodeURIComponent(id), class: 'house', text: str(s.name || id) });
  const nameCell = td('col_house', name, s.known === false ? ' ' : null,
    s.known === false ? el('span', { class: 'badge new', title: t('first_seen_title'), text: t('first_seen') }) : null);
  const tr = el('tr', {
    'data-testid': 'site-row', 'data-site': id, class: 'site-row' + (s.lost_contact ? ' lost' : '') + (num(s.active_alarms) ? ' in-alarm' : ''),
    on: { click: (e) => { if (!e.target.closest('a')) openSite(id); } },
  },
  nameCell,
  td('col_address', str(s.address)),
  td('col_group', str(s.group)),
  td('col_online', contactCell(s)),
  td('col_mode', modeLabel(s.mode)),
  td('col_active', el('span', { class: num(s.active_alarms) ? 'n hot' : 'n', text: str(num(s.active_alarms)) })),
  td('col_faults', el('span', { class: num(s.faults) ? 'n warm' : 'n', text: str(num(s.faults)) })),
  td('col_disabled', el('span', { class: num(s.disablements) ? 'n warm' : 'n', text: str(num(s.disablements)) })),
  td('col_heartbeat', el('span', { class: 'ago', 'data-ago': str(s.last_heartbeat), title: fmtTime(s.last_heartbeat), text: fmtAgo(s.last_heartbeat) })));
  return tr;
}

/* ---------- map view ---------- */

const SVGNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  for (const k of kids) if (k) e.append(k);
  return e;
}

function siteColour(s) {
  // A house that only has its lost-contact alarm is grey, not red: red
  // means something happened inside it.
  const id = str(s.site);
  const mine = S.alarms.filter((a) => str(a.site) === id);
  const real = mine.some((a) => a.class !== 'lost_contact');
  const onlyLost = mine.length > 0 && !real && num(s.active_alarms) <= mine.length;
  if (real || (num(s.active_alarms) > 0 && !onlyLost)) return { key: 'alarm', fill: '#d3122b' };
  if (s.lost_contact || !s.online) return { key: 'lost', fill: '#7d8a96' };
  if (num(s.faults) > 0) return { key: 'faults', fill: '#e0a100' };
  return { key: 'online', fill: '#1f9d48' };
}

function geoOf(s) {
  const g = s && s.geo;
  if (!g || typeof g !== 'object') return null;
  const lat = Number(g.lat), lon = Number(g.lon);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

function renderMap() {
  if (!S.me) return;
  $('map-legend').replaceChildren(...['alarm', 'lost', 'faults', 'online'].map((k) =>
    el('span', { class: 'lg lg-' + k }, el('i'), t('lg_' + k))));
  const all = [...S.sites.values()];
  const pts = all.map((s) => ({ s, g: geoOf(s) })).filter((p) => p.g);
  const box = $('map-box');
  const nogeo = all.length - pts.length;
  $('map-empty').textContent = pts.length ? (nogeo ? t('map_nogeo', { n: nogeo }) : '') : t('map_empty');
  $('map-empty').hidden = pts.length > 0 && nogeo === 0;
  if (!pts.length) { box.replaceChildren(); return; }
  // Equirectangular projection: x = lon * cos(mean lat), y = -lat, then
  // fit the bounding box into the drawing with a margin on every side.
  const lat0 = pts.reduce((a, p) => a + p.g.lat, 0) / pts.length;
  const k = Math.cos(lat0 * Math.PI / 180);
  const xy = pts.map((p) => ({ p, x: p.g.lon * k, y: -p.g.lat }));
  let minx = Math.min(...xy.map((q) => q.x)), maxx = Math.max(...xy.map((q) => q.x));
  let miny = Math.min(...xy.map((q) => q.y)), maxy = Math.max(...xy.map((q) => q.y));
  const minSpan = 0.002; // about 200 m: one house, or houses on one street
  if (maxx - minx < minSpan) { const c = (minx + maxx) / 2; minx = c - minSpan / 2; maxx = c + minSpan / 2; }
  if (maxy - miny < minSpan) { const c = (miny + maxy) / 2; miny = c - minSpan / 2; maxy = c + minSpan / 2; }
  // Drawn at the box's own pixel size, so that a dot stays a finger-sized
  // target on a phone instead of a scaled-down speck.
  const W = Math.max(280, Math.round(box.clientWidth || 1000));
  const H = Math.round(Math.min(Math.max(W * 0.62, 300), Math.max(300, window.innerHeight - 200)));
  const M = 40;
  const scale = Math.min((W - 2 * M) / (maxx - minx), (H - 2 * M) / (maxy - miny));
  const ox = (W - (maxx - minx) * scale) / 2, oy = (H - (maxy - miny) * scale) / 2;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, id: 'map-svg', role: 'img', 'aria-label': t('map_title'), preserveAspectRatio: 'xMidYMid meet' });
  root.append(svg('rect', { x: 0, y: 0, width: W, height: H, class: 'map-bg' }));
  // Draw calm houses first so that red ones are on top.
  const order = { online: 0, faults: 1, lost: 2, alarm: 3 };
  xy.sort((a, b) => order[siteColour(a.p.s).key] - order[siteColour(b.p.s).key]);
  const labels = xy.length <= 60;
  for (const q of xy) {
    const s = q.p.s, c = siteColour(s), id = str(s.site);
    const cx = ox + (q.x - minx) * scale, cy = oy + (q.y - miny) * scale;
    const title = svg('title');
    title.textContent = str(s.name || id) + (s.address ? ' — ' + str(s.address) : '');
    const g = svg('g', { class: 'map-site st-' + c.key, 'data-testid': 'map-site', 'data-site': id, tabindex: 0, role: 'link' }, title,
      svg('circle', { cx: cx.toFixed(1), cy: cy.toFixed(1), r: c.key === 'alarm' ? 14 : 11, fill: c.fill }));
    if (labels) {
      const left = cx > W * 0.6; // keep the label inside the drawing
      const tx = svg('text', { x: (left ? cx - 17 : cx + 17).toFixed(1), y: (cy + 5).toFixed(1), class: 'map-label', 'text-anchor': left ? 'end' : 'start' });
      tx.textContent = str(s.name || id);
      g.append(tx);
    }
    g.addEventListener('click', () => openSite(id));
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openSite(id); } });
    root.append(g);
  }
  box.replaceChildren(root);
}

/* ---------- house page ---------- */

async function loadSite() {
  const id = S.siteId;
  if (!id) return;
  const r = await api('GET', '/api/sites/' + encodeURIComponent(id));
  if (S.siteId !== id || S.view !== 'site') return;
  if (r.status === 200 && r.data.site) S.siteDetail = r.data;
  else if (r.status === 404) S.siteDetail = { missing: true };
  else return;
  renderSite();
}

function dl(pairs) {
  const d = el('dl', { class: 'summary' });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === '') continue;
    d.append(el('dt', { text: t(k) }), el('dd', null, v));
  }
  return d;
}

function table(cols, rows) {
  if (!rows.length) return el('p', { class: 'empty', text: t('none') });
  const thead = el('thead', null, el('tr', null, ...cols.map(([k]) => el('th', { scope: 'col', text: t(k) }))));
  const tbody = el('tbody', null, ...rows.map((r) => el('tr', null, ...cols.map(([k, f]) => td(k, f(r))))));
  return el('table', { class: 'grid small' }, thead, tbody);
}

/* status.faults / status.disablements may be a count, a list of strings or
 * a list of objects (the gateway's status JSON is not ours to fix): show
 * what is there without trusting its shape. */
function itemText(x) {
  if (x === null || x === undefined) return '';
  if (typeof x !== 'object') return str(x);
  const parts = [];
  for (const k of ['sensor', 'device', 'id', 'zone_name', 'zone', 'kind', 'fault', 'what', 'reason', 'message', 'since', 'until', 'by']) {
    if (x[k] !== undefined && x[k] !== null && typeof x[k] !== 'object') parts.push(str(x[k]));
  }
  if (parts.length) return parts.join(' · ');
  try { return JSON.stringify(x); } catch (e) { return ''; }
}

function listBlock(titleKey, v) {
  const sec = el('section', { class: 'block', 'data-testid': 'site-' + titleKey.replace('h_', '') }, el('h2', { text: t(titleKey) }));
  if (Array.isArray(v)) {
    if (!v.length) sec.append(el('p', { class: 'empty', text: t('none') }));
    else sec.append(el('ul', null, ...v.map((x) => el('li', { text: itemText(x) }))));
  } else if (v !== null && typeof v === 'object') {
    const items = Object.entries(v);
    sec.append(items.length ? el('ul', null, ...items.map(([k, x]) => el('li', { text: k + ': ' + itemText(x) })))
      : el('p', { class: 'empty', text: t('none') }));
  } else if (num(v) > 0) {
    sec.append(el('p', { class: 'warm', text: t('faults_count', { n: num(v) }) }));
  } else {
    sec.append(el('p', { class: 'empty', text: t('none') }));
  }
  return sec;
}

function renderSite() {
  const box = $('site-detail');
  const d = S.siteDetail;
  if (!d) { box.replaceChildren(el('p', { class: 'empty', text: t('site_loading') })); return; }
  if (d.missing) { box.replaceChildren(el('p', { class: 'empty', text: t('site_unknown') })); return; }
  const s = d.site, id = str(s.site);
  const status = (d.status && typeof d.status === 'object') ? d.status : null;
  const h = el('h1', { 'data-testid': 'site-name', text: str(s.name || id) });
  if (s.known === false) h.append(' ', el('span', { class: 'badge new', title: t('first_seen_title'), text: t('first_seen') }));
  const g = geoOf(s);
  const links = g ? el('p', { class: 'maplinks' },
    el('a', { href: `https://www.openstreetmap.org/?mlat=${g.lat}&mlon=${g.lon}#map=18/${g.lat}/${g.lon}`, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'osm-link', text: t('open_osm') }),
    ' · ',
    el('a', { href: `geo:${g.lat},${g.lon}`, 'data-testid': 'geo-link', text: t('open_geo') + ` (${g.lat.toFixed(5)}, ${g.lon.toFixed(5)})` })) : null;
  const summary = dl([
    ['sum_site', id],
    ['col_address', str(s.address)],
    ['col_phone', s.phone ? phoneLink(s.phone) : ''],
    ['col_group', str(s.group)],
    ['sum_status', contactCell(s)],
    ['col_mode', s.mode ? modeLabel(s.mode) : ''],
    ['col_active', str(num(s.active_alarms))],
    ['col_faults', str(num(s.faults))],
    ['col_disabled', str(num(s.disablements))],
    ['col_heartbeat', s.last_heartbeat ? fmtAgo(s.last_heartbeat) + ' (' + fmtTime(s.last_heartbeat) + ')' : t('never')],
    ['sum_window', s.window_s ? fmtDuration(s.window_s) : ''],
    ['sum_first_seen', fmtTime(s.first_seen)],
    ['sum_log', s.log && typeof s.log === 'object' ? str(s.log.row) + ' · ' + str(s.log.hash).slice(0, 16) : ''],
  ]);
  const kids = [h, links, summary];
  const faults = status && status.faults !== undefined ? status.faults : s.faults;
  kids.push(listBlock('h_faults', faults));
  if (status && status.disablements !== undefined) kids.push(listBlock('h_disabled', status.disablements));
  const alarms = Array.isArray(d.alarms) ? d.alarms.filter(Boolean) : [];
  kids.push(el('section', { class: 'block', 'data-testid': 'site-history' }, el('h2', { text: t('h_history') }), table([
    ['col_raised', (a) => fmtTime(a.raised_at)],
    ['col_class', (a) => el('span', { class: 'cls cls-' + str(a.class), text: classLabel(a.class) })],
    ['col_room', (a) => str(a.zone_name || a.zone)],
    ['col_sensor', (a) => [a.sensor, a.message].map(str).filter(Boolean).join(' — ')],
    ['col_state', (a) => el('span', { class: 'state st-' + str(a.state), 'data-state': str(a.state), text: stateLabel(a.state) })],
    ['col_by', (a) => str(a.acked_by)],
    ['col_ack_s', (a) => fmtDuration(a.ack_s)],
    ['col_reset_s', (a) => fmtDuration(a.reset_s)],
  ], alarms)));
  const events = Array.isArray(d.events) ? d.events.filter(Boolean) : [];
  kids.push(el('section', { class: 'block', 'data-testid': 'site-events' }, el('h2', { text: t('h_events') }), table([
    ['col_at', (e) => fmtTime(e.at)],
    ['col_what', (e) => { const w = str(e.what); const k = 'ev_' + w; return t(k) === k ? w : t(k); }],
    ['col_by', (e) => str(e.by)],
    ['col_detail', (e) => (e.detail !== null && typeof e.detail === 'object') ? itemText(e.detail) : str(e.detail)],
  ], events)));
  box.replaceChildren(...kids.filter(Boolean));
}

/* ---------- clock ---------- */

function tick() {
  for (const e of document.querySelectorAll('.since[data-since]')) {
    const txt = fmtDuration(since(e.getAttribute('data-since')));
    if (e.textContent !== txt) e.textContent = txt;
  }
  for (const e of document.querySelectorAll('.ago[data-ago]')) {
    const v = e.getAttribute('data-ago');
    const txt = v ? fmtAgo(v) : t('never');
    if (e.textContent !== txt) e.textContent = txt;
  }
  // Belt and braces: the banner follows the stream's real state even if
  // an error event was missed.
  const open = !!(S.es && S.es.readyState === EventSource.OPEN);
  if (S.me && open !== S.esOpen) { S.esOpen = open; renderConn(); }
  if (S.me && S.es && open && Date.now() - (S.lastEvent || 0) > 40000) {
    S.esOpen = false;
    renderConn();
    connectEvents();
  }
}

/* ---------- wiring ---------- */

function wireStatic() {
  $('login-form').addEventListener('submit', doLogin);
  $('logout').addEventListener('click', doLogout);
  $('lang-toggle').addEventListener('click', () => {
    S.lang = S.lang === 'vi' ? 'en' : 'vi';
    document.cookie = 'lang=' + S.lang + '; Path=/; Max-Age=31536000; SameSite=Strict';
    renderChrome();
    if (S.me) route();
    else if (!$('login-error').hidden) $('login-error').hidden = true;
  });
  $('mute-toggle').addEventListener('click', () => {
    if ($('mute-toggle').dataset.mode === 'enable') { armAudio(); renderChrome(); return; }
    S.muted = !S.muted;
    try { localStorage.setItem('safehouse.muted', S.muted ? '1' : '0'); } catch (e) { /* private mode */ }
    renderChrome();
  });
  $('message-close').addEventListener('click', () => { S.msg = null; renderMessage(); });
  for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => go('#/' + b.dataset.view));
  $('site-back').addEventListener('click', () => { if (history.length > 1) history.back(); else go('#/sites'); });
  const search = debounce(() => { S.q = $('site-search').value.trim(); loadSites(); }, 300);
  $('site-search').addEventListener('input', search);
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', debounce(() => { if (S.view === 'map') renderMap(); }, 200));
  for (const ev of ['pointerdown', 'keydown', 'touchstart']) window.addEventListener(ev, armAudio, { passive: true });
}

boot();
