// The operator console: plain modules, no build step, served by the controller.
import { LiveCall, liveSupported } from '/console/live.js';
import { alertsPage, STRINGS as ALERT_STRINGS } from '/console/alerts.js';
import { speechSettings, STRINGS as SPEECH_STRINGS } from '/console/speech.js';
import { speakersPage, STRINGS as SPEAKER_STRINGS } from '/console/speakers.js';
import { mapView, STRINGS as MAP_STRINGS } from '/console/map.js';
import { speakerDetail, STRINGS as DETAIL_STRINGS } from '/console/speaker.js';
import { accountsPage, STRINGS as ACCOUNT_STRINGS } from '/console/accounts.js';
import { alarmsPage, STRINGS as ALARM_STRINGS } from '/console/alarms.js';
import { approvalsPage, STRINGS as APPROVAL_STRINGS } from '/console/approvals.js';
import { programmePage, STRINGS as PROGRAMME_STRINGS } from '/console/programme.js';

const T = {
  zh: {
    overview: '总览', broadcast: '播放', live: '实时喊话', media: '媒体库', programme: '节目编排',
    log: '播放记录', logout: '退出', login: '登录', user: '用户名', password: '密码',
    online: '在线', playing: '播放中', fault: '故障', offline: '离线', play_media: '播放媒体',
    send: '发送', live_call: '实时喊话', talk: '开始喊话', stop_talk: '结束喊话', live_live: '正在喊话', live_ended: '喊话结束',
    push_to_talk: '按住说话', media_library: '媒体库', upload: '上传', playlists: '播放列表',
    schedules: '定时任务', create: '创建', broadcast_log: '播放记录', name: '名称',
    all: '全部喇叭', villages: '村', speakers: '喇叭',
    stop: '停止', state: '状态', duration: '时长', coverage: '覆盖', kind: '类型', time: '时间',
    next_runs: '下次播放', target: '目标',
    live_hint: '先选择目标，再点击开始喊话。浏览器会请求使用麦克风。',
    no_webcodecs: '此浏览器不能编码 Opus（需要 WebCodecs，请用 Chromium/Chrome/Edge），或使用 dalaba-talk。',
    choose_target: '请先选择目标', sent: '已发送', held: '等待审批', volume: '音量', relays: '继电器',
    versions: '版本', last_error: '最近错误', playing_now: '正在播放', area: '区域',
    notice: '文字广播', notice_hint: '输入通知内容，先试听再发送（例：今晚18:30在村委会开会）',
    preview: '试听', speaking: '正在合成语音…', type_text: '请先输入内容',
    area_names: '区域名称', import: '导入', imported: '已更新 {n} 个名称',
    area_names_hint: '导入本县的村名（CSV 文件，每行“代码,名称”，例：330106001001,东村）；也可改任何区域的名称，名称留空则恢复内置名称。内置名称到乡镇（国家统计局 2023 年区划代码）。',
    voice: '播音', voice_default: '默认（系统设置）', voice_mandarin: '普通话', voice_cantonese: '粤语',
    voice_both: '普通话，再粤语',
    fold: '收起', unfold: '展开',
    role_admin: '管理员', role_operator: '操作员', role_village_head: '村干部', role_viewer: '查看',
    all_kinds: '全部类型',
  },
  en: {
    overview: 'Overview', broadcast: 'Broadcast', live: 'Live call', media: 'Media', programme: 'Programme',
    log: 'Log', logout: 'Log out', login: 'Log in', user: 'User', password: 'Password',
    online: 'online', playing: 'playing', fault: 'fault', offline: 'offline', play_media: 'Play media',
    send: 'Send', live_call: 'Live call', talk: 'Start talking', stop_talk: 'Stop talking', live_live: 'Live', live_ended: 'Ended',
    push_to_talk: 'push to talk', media_library: 'Media library', upload: 'Upload', playlists: 'Playlists',
    schedules: 'Schedules', create: 'Create', broadcast_log: 'Broadcast log', name: 'name',
    all: 'every speaker', villages: 'villages', speakers: 'speakers',
    stop: 'Stop', state: 'state', duration: 'duration', coverage: 'coverage', kind: 'kind', time: 'time',
    next_runs: 'next runs', target: 'target',
    live_hint: 'Choose the target first, then start talking. The browser asks for the microphone.',
    no_webcodecs: 'This browser cannot encode Opus (WebCodecs: use Chromium, Chrome or Edge), or use dalaba-talk.',
    choose_target: 'Choose a target first', sent: 'sent', held: 'waiting for approval', volume: 'volume', relays: 'relays',
    versions: 'versions', last_error: 'last error', playing_now: 'playing', area: 'area',
    notice: 'Spoken notice', notice_hint: 'Type the notice; listen first, then send (e.g. 今晚18:30在村委会开会)',
    preview: 'Listen', speaking: 'making speech…', type_text: 'Type the notice first',
    area_names: 'Area names', import: 'Import', imported: '{n} names updated',
    area_names_hint: 'Import your villages (a CSV file, one "code,name" per line, e.g. 330106001001,东村); any area can be renamed, and an empty name brings back the built-in one. Built-in names go down to townships (the statistics bureau\'s 2023 codes).',
    voice: 'voice', voice_default: 'default (as set up)', voice_mandarin: 'Mandarin', voice_cantonese: 'Cantonese',
    voice_both: 'Mandarin, then Cantonese',
    fold: 'fold', unfold: 'show speakers',
    role_admin: 'admin', role_operator: 'operator', role_village_head: 'village head', role_viewer: 'viewer',
    all_kinds: 'every kind',
  },
};
for (const strings of [ALERT_STRINGS, SPEECH_STRINGS, SPEAKER_STRINGS, MAP_STRINGS, DETAIL_STRINGS, ACCOUNT_STRINGS, ALARM_STRINGS, APPROVAL_STRINGS, PROGRAMME_STRINGS]) {
  Object.assign(T.zh, strings.zh);
  Object.assign(T.en, strings.en);
}
// Chinese unless this browser's user chose English.
let lang = localStorage.getItem('dalaba.lang') || 'zh';
const t = (k) => (T[lang] && T[lang][k]) || T.en[k] || k;

function translate() {
  renderVoices();
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-t]').forEach((e) => { e.textContent = t(e.dataset.t); });
  document.querySelectorAll('[data-tp]').forEach((e) => { e.placeholder = t(e.dataset.tp); });
  document.getElementById('lang').textContent = lang === 'zh' ? 'EN' : '中文';
}

// Builds an element; strings become text nodes (never HTML).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem('dalaba.token');
let me = null;
let agents = [];

// A request to the API: `body` as JSON, or as it is when `type` names another content type
// (a CSV file's text).
async function api(method, path, body, type) {
  const headers = { 'content-type': type || 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const r = await fetch(path, { method, headers, body: body === undefined || type ? body : JSON.stringify(body) });
  if (r.status === 401 && path !== '/api/login') { logout(); throw new Error('log in again'); }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { if (r.ok) throw e; }
  if (!r.ok && !json) throw new Error(text || r.statusText);
  if (!r.ok) throw new Error((json && json.error && json.error.message) || r.statusText);
  return json;
}

function logout() {
  if (watching) { watching.abort(); watching = null; }
  if (token) fetch('/api/logout', { method: 'POST', headers: { authorization: 'Bearer ' + token } });
  token = null;
  sessionStorage.removeItem('dalaba.token');
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('who').hidden = true;
  document.querySelectorAll('main > section').forEach((s) => { s.hidden = s.id !== 'login'; });
}

async function start() {
  me = await api('GET', '/api/me');
  $('who').textContent = `${me.name} (${t('role_' + me.role)})`;
  $('who').title = t('my_account');
  $('who').hidden = false;
  document.querySelectorAll('#nav .admin-only').forEach((b) => { b.hidden = me.role !== 'admin'; });
  $('nav').hidden = false;
  $('logout').hidden = false;
  $('login').hidden = true;
  show('overview');
  alarms.count().catch((e) => console.warn(e));
  approvals.count().catch((e) => console.warn(e));
  watchChanges();
}

// Live status: the controller says when something changed (GET /api/events, Server-Sent
// Events read through fetch, which can send the session token); the page then reads what
// it shows, once per burst. No polling. Counts are kept for the browser tests.
window.dalaba = { changes: 0, refreshes: 0, shows: 0 };
let watching = null;
async function watchChanges() {
  if (watching) return;
  watching = new AbortController();
  let retry = 1000;
  while (token && watching) {
    try {
      const r = await fetch('/api/events', { headers: { authorization: 'Bearer ' + token }, signal: watching.signal });
      if (r.status === 401) { logout(); return; }
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      retry = 1000;
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        const events = buffered.split('\n\n');
        buffered = events.pop();
        if (events.some((e) => e.includes('event: changed'))) {
          window.dalaba.changes += 1;
          changed();
        }
      }
    } catch (e) {
      if (!watching) return;
    }
    // The stream ended (the controller restarted): read everything again, then listen on.
    await new Promise((resume) => setTimeout(resume, retry));
    retry = Math.min(retry * 2, 30000);
    changed();
  }
}

// Refreshes now, or once more after the refresh under way.
let refreshing = null;
let again = false;
function changed() {
  // The header's counts are on every page.
  if (current !== 'alarms') alarms.count().catch((e) => console.warn(e));
  if (current !== 'approvals') approvals.count().catch((e) => console.warn(e));
  // The alerts page follows its alert's receipts itself and keeps its form as typed.
  if (!['overview', 'log', 'speakers', 'alarms', 'approvals'].includes(current)) return;
  if (refreshing) { again = true; return; }
  refreshing = refresh().finally(() => {
    refreshing = null;
    if (again) { again = false; changed(); }
  });
}

let current = 'overview';
function show(view) {
  window.dalaba.shows += 1;
  current = view;
  document.querySelectorAll('main > section').forEach((s) => { s.hidden = s.id !== view; });
  document.querySelectorAll('#nav button').forEach((b) => b.classList.toggle('active', b.dataset.view === view));
  refresh();
}

async function refresh() {
  window.dalaba.refreshes += 1;
  try {
    agents = await api('GET', '/api/agents');
    if (current === 'overview') {
      await renderOverview();
      // When the overview was first drawn (the scale test reads it).
      if (!performance.getEntriesByName('overview-drawn').length) performance.mark('overview-drawn');
    }
    if (current === 'alerts') await alerts.render();
    if (current === 'speakers') speakers.render();
    if (current === 'broadcast') await renderBroadcast();
    if (current === 'live') renderTargets($('live-target'));
    if (current === 'media') await renderMedia();
    if (current === 'programme') await programme.render();
    if (current === 'log') await renderLog();
    if (current === 'alarms') await alarms.render();
    if (current === 'approvals') await approvals.render();
    if (current === 'users') await accounts.renderUsers();
    if (current === 'audit') await accounts.renderAudit();
  } catch (e) {
    console.warn(e);
  }
}

function stateOf(a) {
  if (!a.online) return 'offline';
  if (a.status && a.status.last_error) return 'fault';
  if (a.status && a.status.playing) return 'playing';
  return 'online';
}

// An area as people name it: its name first, the code small beside it (the code alone
// where no name is known).
function areaLabel(code, name) {
  return name ? el('span', { class: 'area-name', title: code }, name, ' ', el('small', { class: 'code' }, code)) : el('span', {}, code);
}

// A village's name from its speakers (`area_name`: county to village), else its code.
function villageName(code) {
  const a = agents.find((x) => x.area_code === code && x.area_name);
  return a ? a.area_name : null;
}

async function renderOverview() {
  const tree = await api('GET', '/api/areas');
  // A click on an area shows its speakers on the map.
  const render = (nodes) => el('ul', {}, nodes.map((n) =>
    el('li', { 'data-area': n.code },
      el('span', { onclick: (e) => { e.stopPropagation(); geo.focus(n.code); } }, areaLabel(n.code, n.name), ` · ${n.online}/${n.agents}`),
      n.children.length ? render(n.children) : null)));
  $('areas').replaceChildren(render(tree));
  await geo.render(agents);
  const byVillage = new Map();
  for (const a of agents.filter((x) => !x.retired)) {
    if (!byVillage.has(a.area_code)) byVillage.set(a.area_code, []);
    byVillage.get(a.area_code).push(a);
  }
  $('names-card').hidden = !me || me.role !== 'admin';
  // A county's thousands of speakers: each village as a line of counts, its speakers shown
  // when it is opened (a few hundred speakers are shown all at once).
  const many = agents.length > SHOWN_AT_ONCE;
  $('villages').replaceChildren(...[...byVillage.entries()].sort().map(([code, list]) => {
    const open = !many || openVillages.has(code);
    const counts = ['online', 'playing', 'fault', 'offline']
      .map((s) => [s, list.filter((a) => stateOf(a) === s).length]).filter(([, n]) => n > 0);
    const toggle = () => { if (openVillages.has(code)) openVillages.delete(code); else openVillages.add(code); renderOverview(); };
    return el('div', { class: 'village', 'data-village': code },
      el('h3', {}, areaLabel(code, villageName(code)), ' ',
        ...counts.map(([s, n]) => el('span', { class: 'count' }, el('span', { class: 'dot ' + s }), `${t(s)} ${n}`)),
        many ? el('button', { class: 'open-village', onclick: toggle }, t(open ? 'fold' : 'unfold')) : null),
      open ? el('div', { class: 'speakers' }, list.map((a) =>
        el('button', { class: 'speaker ' + stateOf(a), id: 'speaker-' + a.id, 'data-state': stateOf(a), onclick: () => detail(a.id) },
          a.name, el('small', {}, `${a.id} · ${t(stateOf(a))}`)))) : null);
  }));
}
// Above this many speakers the village list shows counts until a village is opened.
const SHOWN_AT_ONCE = 300;
const openVillages = new Set();

function detail(id) {
  const a = agents.find((x) => x.id === id);
  if (!a) return;
  const s = a.status || {};
  const rows = [
    [t('state'), t(stateOf(a))],
    [t('area'), a.area_name ? `${a.area_name} (${a.area_code})` : a.area_code],
    [t('playing_now'), s.playing ? `#${s.playing.broadcast_id} ${s.playing.priority} ${s.playing.mode}` : '—'],
    [t('volume'), s.volume ?? '—'],
    [t('relays'), (s.relays || []).map((r) => `${r.channel}:${r.state}`).join(' ') || '—'],
    [t('versions'), `firmware ${s.firmware_version || '?'} · config ${s.config_version || '?'} · schedule ${s.schedule_version ?? '?'}`],
    [t('last_error'), s.last_error || '—'],
    [t('location_col'), a.location ? `${a.location.lat}, ${a.location.lon}` : '—'],
  ];
  $('detail').hidden = false;
  $('detail').replaceChildren(el('h2', {}, `${a.name} (${a.id}) `,
    el('button', { id: 'detail-manage', onclick: () => { show('speakers'); speakerCard.show(a.id); } }, t('manage'))),
    el('table', {}, rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, String(v))))));
}

// Target chooser: villages and speakers the user can see; "all" for unscoped users.
function renderTargets(box) {
  const chosen = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  const villages = [...new Set(agents.filter((a) => !a.retired).map((a) => a.area_code))].sort();
  const items = [];
  if (me && me.role === 'admin') items.push(['all', t('all')]);
  for (const v of villages) items.push(['area:' + v, villageName(v) ? `${villageName(v)} (${v})` : `${t('area')} ${v}`]);
  for (const a of agents.filter((x) => !x.retired)) items.push(['agent:' + a.id, `${a.name} (${a.id})`]);
  box.replaceChildren(...items.map(([value, label]) =>
    el('label', {}, el('input', { type: 'checkbox', value, checked: chosen.has(value), 'data-target': value }), label)));
}

function targetOf(box) {
  const target = { agents: [], areas: [], groups: [], all: false };
  for (const i of box.querySelectorAll('input:checked')) {
    if (i.value === 'all') target.all = true;
    else if (i.value.startsWith('area:')) target.areas.push(i.value.slice(5));
    else if (i.value.startsWith('agent:')) target.agents.push(i.value.slice(6));
  }
  return (target.all || target.areas.length || target.agents.length) ? target : null;
}

async function renderBroadcast() {
  const media = (await api('GET', '/api/media')).filter((m) => m.state === 'ready');
  const sel = $('bc-media');
  const keep = sel.value;
  sel.replaceChildren(...media.map((m) => el('option', { value: m.id }, `${m.name} (${(m.duration_ms / 1000).toFixed(1)} s)`)));
  if (keep) sel.value = keep;
  renderTargets($('bc-target'));
  renderTargets($('tts-target'));
  await speech.render(me);
}

// One speaker's receipt, by name, its state in words (the state itself in `data-state`).
function receiptChip(id, state, byId) {
  const a = byId.get(id);
  return el('span', { class: 'receipt ' + state, 'data-agent': id, 'data-state': state }, `${a ? a.name : id}: ${t(state)}`);
}

// A broadcast's receipts: each speaker's, or for one to more than MANY speakers how many
// are in each state (`counts`, the log's `receipt_counts`, or counted here).
const MANY = 300;
function receiptsView(count, receipts, counts) {
  if (count <= MANY) {
    const byId = new Map(agents.map((a) => [a.id, a]));
    return receipts.map((r) => receiptChip(r.agent_id, r.state, byId));
  }
  let n = counts;
  if (!n) {
    n = {};
    for (const r of receipts) n[r.state] = (n[r.state] || 0) + 1;
  }
  return Object.entries(n).map(([state, k]) => el('span', { class: 'receipt ' + state, 'data-count': state }, `${t(state)} ${k}`));
}

// Who a broadcast reached: their names (an id not in the list as itself), or for more
// than MANY how many.
function reachedView(ids) {
  if (ids.length > MANY) return `${ids.length} ${t('speakers')}`;
  const byId = new Map(agents.map((a) => [a.id, a.name]));
  return ids.map((id) => byId.get(id) || id).join('、');
}

// The voice choosers: the deployment's voices, or one chosen for this text.
const VOICES = [['', 'voice_default'], ['mandarin', 'voice_mandarin'], ['cantonese', 'voice_cantonese'], ['mandarin,cantonese', 'voice_both']];
function renderVoices() {
  for (const sel of document.querySelectorAll('select.voices')) {
    const keep = sel.value;
    sel.replaceChildren(...VOICES.map(([v, k]) => el('option', { value: v }, t(k))));
    sel.value = keep;
  }
}
// `{voices: [...]}` for the chooser `id`, or nothing for the deployment's own.
function voicesOf(id) {
  const v = $(id).value;
  return v ? { voices: v.split(',') } : {};
}

// Sends a broadcast (`what`: a media item or a text) to the target chosen in `prefix`-target,
// then follows its receipts in `prefix`-status.
async function sendTo(prefix, what) {
  const status = $(prefix + '-status');
  const target = targetOf($(prefix + '-target'));
  if (!target) { status.textContent = t('choose_target'); return; }
  try {
    const r = await api('POST', '/api/broadcasts', { ...what, target });
    if (r.held) { status.textContent = `#${r.id} ${t('held')}: ${r.held}`; return; }
    status.replaceChildren(`#${r.id} ${t('sent')} → ${reachedView(r.agents)} `,
      el('button', { id: prefix + '-stop', onclick: () => api('POST', `/api/broadcasts/${r.id}/stop`) }, t('stop')),
      el('span', { id: prefix + '-receipts', class: 'receipts' }));
    for (let i = 0; i < 30; i++) {
      const b = await api('GET', `/api/broadcasts/${r.id}?wait_ms=2000`);
      const box = $(prefix + '-receipts');
      if (box) box.replaceChildren(...receiptsView(b.agents.length, b.receipts));
      if (b.final) break;
    }
  } catch (e) {
    status.textContent = e.message;
  }
}

const sendBroadcast = () => sendTo('bc', { media_id: Number($('bc-media').value) });

// The text typed in `prefix`-text, or nothing (and `prefix`-status says to type it).
function typed(prefix) {
  const text = $(prefix + '-text').value.trim();
  if (!text) $(prefix + '-status').textContent = t('type_text');
  return text;
}

// Speaks `prefix`-text in the voices chosen in `prefix`-voices for the operator to hear
// first (the same speech a send plays) in `prefix`-audio; no autoplay.
async function listenFirst(prefix) {
  const text = typed(prefix);
  if (!text) return;
  const status = $(prefix + '-status');
  status.textContent = t('speaking');
  try {
    const r = await fetch('/api/tts/preview', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify({ text, ...voicesOf(prefix + '-voices') }),
    });
    if (!r.ok) { const j = await r.json(); throw new Error(j.error.message); }
    const media = await api('GET', '/api/media/' + r.headers.get('x-dalaba-media-id'));
    const audio = $(prefix + '-audio');
    audio.src = '/media/' + media.hash;
    audio.hidden = false;
    status.textContent = `${(media.duration_ms / 1000).toFixed(1)} s`;
  } catch (e) {
    status.textContent = e.message;
  }
}

function sendNotice() {
  const text = typed('tts');
  if (text) sendTo('tts', { text, ...voicesOf('tts-voices') });
}

let call = null;
async function talk(on) {
  if (on && !call) {
    if (!liveSupported()) { $('live-status').textContent = t('no_webcodecs'); return; }
    const target = targetOf($('live-target'));
    if (!target) { $('live-status').textContent = t('choose_target'); return; }
    const c = new LiveCall({
      api, token, target,
      onLevel: (l) => { $('level').style.width = Math.round(l * 100) + '%'; },
      onState: (s) => { $('live-status').textContent = (s === 'live' || s === 'ended' ? t('live_' + s) : s) + (c.id ? ` #${c.id} → ${reachedView(c.agents)}` : ''); },
      onHeard: (b) => { $('live-heard').replaceChildren(...receiptsView(b.targeted, b.receipts || [], b.receipt_counts)); },
      countsAbove: MANY,
    });
    call = c;
    $('live-heard').replaceChildren();
    $('talk').classList.add('on');
    $('talk').textContent = t('stop_talk');
    try { await call.start(); } catch (e) { $('live-status').textContent = e.message; await stopTalk(); }
  } else if (!on && call) {
    await stopTalk();
  }
}
async function stopTalk() {
  const c = call;
  call = null;
  $('talk').classList.remove('on');
  $('talk').textContent = t('talk');
  if (c) await c.stop();
}

async function renderMedia() {
  const media = await api('GET', '/api/media');
  $('media-table').replaceChildren(el('tr', {}, el('th', {}, '#'), el('th', {}, t('name')), el('th', {}, t('state')), el('th', {}, t('duration'))),
    ...media.map((m) => el('tr', {}, el('td', {}, m.id), el('td', {}, m.name),
      el('td', {}, m.state === 'transcoding' ? `${m.state} ${Math.round(m.progress * 100)}%` : (m.error || m.state)),
      el('td', {}, m.duration_ms ? (m.duration_ms / 1000).toFixed(1) + ' s' : ''))));
  if (media.some((m) => m.state === 'transcoding')) setTimeout(() => { if (current === 'media') renderMedia(); }, 1000);
}

function upload(ev) {
  ev.preventDefault();
  const file = $('upload-file').files[0];
  if (!file) return;
  const form = new FormData();
  form.append('file', file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/media');
  xhr.setRequestHeader('authorization', 'Bearer ' + token);
  const bar = $('upload-progress');
  bar.hidden = false;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  xhr.onload = () => { bar.hidden = true; renderMedia(); };
  xhr.send(form);
}

// The log's filters as a query; dates are this browser's local days.
function logQuery(format) {
  const q = new URLSearchParams({ limit: '200' });
  if ($('log-kind').value) q.set('kind', $('log-kind').value);
  if ($('log-area').value) q.set('area', $('log-area').value);
  if ($('log-from').value) q.set('since', String(new Date($('log-from').value + 'T00:00').getTime() * 1000));
  if ($('log-to').value) q.set('until', String((new Date($('log-to').value + 'T00:00').getTime() + 86400000) * 1000));
  if (format) q.set('format', format);
  return '/api/broadcasts?' + q;
}

async function renderLog() {
  if (!$('log-kind').options.length) {
    $('log-kind').replaceChildren(el('option', { value: '' }, t('all_kinds')),
      ...['media', 'scheduled', 'live', 'alert'].map((k) => el('option', { value: k }, t('kind_' + k))));
    const tree = await api('GET', '/api/areas');
    const options = [el('option', { value: '' }, t('any_area'))];
    const walk = (nodes, depth) => nodes.forEach((n) => {
      options.push(el('option', { value: n.code }, `${'\u3000'.repeat(depth)}${n.name ? `${n.name} (${n.code})` : n.code}`));
      walk(n.children, depth + 1);
    });
    walk(tree, 0);
    $('log-area').replaceChildren(...options);
  }
  const log = await api('GET', logQuery());
  const villageLine = (b) => b.villages.map((v) => `${v.name || v.code} ${v.confirmed_playing}/${v.targeted}`).join(' · ');
  $('log-table').replaceChildren(el('tr', {}, el('th', {}, '#'), el('th', {}, t('kind')), el('th', {}, t('time')), el('th', {}, t('target')), el('th', {}, t('coverage')), el('th', {}, t('state'))),
    ...log.map((b) => el('tr', { id: 'log-' + b.id }, el('td', {}, b.id),
      el('td', {}, t('kind_' + b.kind) + (b.held ? ` (${t('held')})` : '') + (b.rejected_by ? ` (${t('rejected_done')})` : '')),
      el('td', {}, new Date((b.start_at || b.created_at) / 1000).toLocaleString(document.documentElement.lang)),
      el('td', {}, reachedView(b.agents || [])),
      el('td', { class: 'coverage' }, `${b.coverage.confirmed_playing}/${b.coverage.targeted}`, el('div', { class: 'villages-line' }, villageLine(b))),
      el('td', { class: 'receipts' }, receiptsView(b.receipts_listed ? b.receipts.length : Infinity, b.receipts, b.receipt_counts)))));
}

// A CSV the API answers, saved as a file (a plain link could not send the session token).
async function download(path, name) {
  const r = await fetch(path, { headers: { authorization: 'Bearer ' + token } });
  if (!r.ok) throw new Error(r.statusText);
  const a = el('a', { href: URL.createObjectURL(await r.blob()), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// Imports the chosen CSV of area names (code,name lines) as they are.
async function importNames() {
  const file = $('names-file').files[0];
  const status = $('names-status');
  if (!file) return;
  try {
    const j = await api('PUT', '/api/areas/names', await file.text(), 'text/csv; charset=utf-8');
    status.textContent = t('imported').replace('{n}', j.changed);
    refresh();
  } catch (e) {
    status.textContent = e.message;
  }
}

// Wiring.
const alerts = alertsPage({ api, el, $, t, agents: () => agents, me: () => me, listenFirst });
const speech = speechSettings({ api, el, $, t });
const speakerCard = speakerDetail({ api, el, $, t, agents: () => agents, stateOf, refresh, me: () => me });
const speakers = speakersPage({ api, el, $, t, agents: () => agents, stateOf, refresh, detail: speakerCard });
const geo = mapView({ api, el, $, t, stateOf, detail, me: () => me });
const accounts = accountsPage({ api, el, $, t, me: () => me, logout, download });
const alarms = alarmsPage({ api, el, $, t, me: () => me });
const approvals = approvalsPage({ api, el, $, t, me: () => me });
const programme = programmePage({ api, el, $, t, me: () => me, agents: () => agents, renderTargets, targetOf });
$('lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('dalaba.lang', lang);
  translate();
  if (me) $('who').textContent = `${me.name} (${t('role_' + me.role)})`;
  refresh();
});
$('logout').addEventListener('click', logout);
$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    // The device token exempts this browser from lockouts caused by others' guesses.
    const device = localStorage.getItem('dalaba.device.' + f.name.value) || undefined;
    const r = await api('POST', '/api/login', { name: f.name.value, password: f.password.value, device });
    token = r.token;
    if (r.device) localStorage.setItem('dalaba.device.' + f.name.value, r.device);
    sessionStorage.setItem('dalaba.token', token);
    $('login-error').textContent = '';
    await start();
  } catch (e) { $('login-error').textContent = e.message; }
});
document.querySelectorAll('#nav button').forEach((b) => b.addEventListener('click', () => show(b.dataset.view)));
$('who').addEventListener('click', () => { if (me) show('account'); });
$('bc-send').addEventListener('click', sendBroadcast);
$('names-import').addEventListener('click', importNames);
$('tts-preview').addEventListener('click', () => listenFirst('tts'));
$('tts-send').addEventListener('click', sendNotice);
$('talk').addEventListener('click', () => { if (!$('ptt').checked) talk(!call); });
$('talk').addEventListener('pointerdown', () => { if ($('ptt').checked) talk(true); });
$('talk').addEventListener('pointerup', () => { if ($('ptt').checked) talk(false); });
$('upload-form').addEventListener('submit', upload);
$('log-form').addEventListener('submit', (ev) => { ev.preventDefault(); renderLog(); });
$('log-csv').addEventListener('click', () => download(logQuery('csv'), 'dalaba-broadcasts.csv').catch((e) => console.warn(e)));
translate();
if (token) start().catch(() => logout()); else logout();
