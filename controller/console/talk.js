// The village head's handheld: one big button that speaks to the speakers this account
// may reach. The page only offers them; the controller decides (a village head's scope is
// checked on every request, whatever the page sends).
import { LiveCall, liveSupported } from '/console/live.js';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('dalaba.token');
let target = null;
let call = null;

async function api(method, path, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error((json && json.error && json.error.message) || r.statusText);
  return json;
}

async function ready() {
  const me = await api('GET', '/api/me');
  const agents = (await api('GET', '/api/agents')).filter((a) => !a.retired);
  // A village head speaks to their village; anyone else to the speakers listed.
  target = me.role === 'village_head' ? { areas: me.scopes } : { agents: agents.map((a) => a.id) };
  $('who').textContent = `${me.name}`;
  $('speakers').textContent = agents.map((a) => `${a.name}${a.online ? '' : ' (离线 offline)'}`).join(' · ');
  $('login').hidden = true;
  $('panel').hidden = false;
  if (!liveSupported()) $('status').textContent = '此浏览器不能喊话（需要 WebCodecs）· this browser cannot encode Opus';
}

async function begin() {
  if (call || !target) return;
  call = new LiveCall({
    api, token, target,
    onLevel: (l) => { $('level').style.width = Math.round(l * 100) + '%'; },
    onState: (s) => { $('status').textContent = s === 'live' ? '正在喊话 · live' : s === 'ended' ? '喊话结束 · ended' : s; },
    onHeard: (b) => { $('heard').textContent = heard(b); },
    countsAbove: 0, // the page shows counts only
  });
  $('heard').textContent = '';
  $('talk').classList.add('on');
  try { await call.start(); } catch (e) { $('status').textContent = e.message; await end(); }
}

// Who hears the call, in words: how many of the village's speakers play it, and why the
// others do not (yet).
function heard(b) {
  const n = b.receipt_counts;
  const total = b.targeted;
  const parts = [`${n.playing || 0}/${total} 个喇叭在播放 · playing`];
  const silent = total - Object.values(n).reduce((sum, k) => sum + k, 0);
  for (const [k, zh, en] of [
    ['done', '已播完', 'done'],
    ['waiting', '等待中', 'waiting'],
    ['preempted', '正在播更紧急的内容', 'busy with something more urgent'],
    ['unreachable', '离线', 'offline'],
    ['failed', '播放失败', 'failed'],
    ['cancelled', '已停止', 'stopped'],
  ]) {
    if (n[k]) parts.push(`${n[k]} 个${zh} · ${en}`);
  }
  if (silent > 0) parts.push(`${silent} 个未应答 · no answer yet`);
  return parts.join('；');
}

async function end() {
  const c = call;
  call = null;
  $('talk').classList.remove('on');
  if (c) await c.stop();
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const name = ev.target.name.value;
    const device = localStorage.getItem('dalaba.device.' + name) || undefined;
    const r = await api('POST', '/api/login', { name, password: ev.target.password.value, device });
    token = r.token;
    if (r.device) localStorage.setItem('dalaba.device.' + name, r.device);
    sessionStorage.setItem('dalaba.token', token);
    await ready();
  } catch (e) { $('error').textContent = e.message; }
});
const button = $('talk');
button.addEventListener('pointerdown', (e) => { e.preventDefault(); button.setPointerCapture(e.pointerId); begin(); });
button.addEventListener('pointerup', end);
button.addEventListener('pointercancel', end);
button.addEventListener('contextmenu', (e) => e.preventDefault());
if (token) ready().catch(() => { token = null; });
