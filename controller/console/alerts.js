// The alerts page: compose and issue an emergency alert (drill, test or real, a real one
// confirmed a second time with the number of speakers that will sound), follow its
// receipts village by village, cancel it, and decide on alerts held for review.

export const STRINGS = {
  zh: {
    alerts: '应急预警', issue_alert: '发布预警', event: '事件', severity: '级别', mode: '模式',
    red: '红色', orange: '橙色', yellow: '黄色', blue: '蓝色',
    drill: '演练', test: '测试', real: '真实',
    valid_for: '有效期', repeat: '播放次数', message: '内容', message_hint: '输入预警内容，将在提示音后播报（例：山洪预警：请沿河村民立即转移到高处）',
    recorded: '录音（可选，不选则播报文字）', none_spoken: '— 播报文字 —', areas: '区域',
    issue: '发布', confirm_real: '确认发布真实预警', back: '返回修改',
    real_warning: '这是真实预警，不是演练：将在 {n} 个喇叭上播放（{v} 个村）。',
    choose_areas: '请先选择区域', type_event: '请填写事件', held_alerts: '待审核预警',
    receipts: '播放回执', receipts_hint: '发布预警或点击下方记录，查看各村喇叭的回执',
    approve: '批准发布', reject: '驳回', alert_log: '预警记录', cancel_alert: '撤销',
    nothing_held: '没有待审核的预警', source: '来源', sent_at: '发布时间', status: '状态',
    sent: '已发布', held: '待审核', cancelled: '已撤销', rejected: '已驳回', expired: '已过期',
    waiting: '等待', playing: '播放中', done: '已播完', failed: '失败', preempted: '被打断',
    unreachable: '不可达', not_yet: '尚无回执', village: '村', speakers_n: '{n} 个喇叭', more_n: '…另有 {n} 个',
    minutes: '{n} 分钟', hours: '{n} 小时', speech_failed: '文字未能转为语音，仅播放提示音：',
    ev_flood: '山洪', ev_rain: '暴雨', ev_typhoon: '台风', ev_quake: '地震', ev_fire: '森林火灾',
    ev_geo: '地质灾害', ev_epidemic: '疫情', ev_other: '其他',
  },
  en: {
    alerts: 'Alerts', issue_alert: 'Issue an alert', event: 'event', severity: 'severity', mode: 'mode',
    red: 'red', orange: 'orange', yellow: 'yellow', blue: 'blue',
    drill: 'drill', test: 'test', real: 'real',
    valid_for: 'valid for', repeat: 'times played', message: 'message', message_hint: 'Type the warning; it is spoken after the attention tone',
    recorded: 'recording (optional; without one the text is spoken)', none_spoken: '— speak the text —', areas: 'areas',
    issue: 'Issue', confirm_real: 'Issue the REAL alert', back: 'Go back',
    real_warning: 'This is a REAL alert, not a drill: {n} speakers will sound ({v} villages).',
    choose_areas: 'Choose the areas first', type_event: 'Give the event', held_alerts: 'Alerts waiting for review',
    receipts: 'Receipts', receipts_hint: 'Issue an alert or choose one in the log to follow its speakers',
    approve: 'Approve', reject: 'Reject', alert_log: 'Alert log', cancel_alert: 'Cancel',
    nothing_held: 'No alert is waiting for review', source: 'source', sent_at: 'issued', status: 'status',
    sent: 'sent', held: 'held', cancelled: 'cancelled', rejected: 'rejected', expired: 'expired',
    waiting: 'waiting', playing: 'playing', done: 'done', failed: 'failed', preempted: 'preempted',
    unreachable: 'unreachable', not_yet: 'no receipt yet', village: 'village', speakers_n: '{n} speakers', more_n: '… {n} more',
    minutes: '{n} min', hours: '{n} h', speech_failed: 'the text could not be spoken; the tone went out alone: ',
    ev_flood: 'flash flood', ev_rain: 'rainstorm', ev_typhoon: 'typhoon', ev_quake: 'earthquake', ev_fire: 'forest fire',
    ev_geo: 'landslide', ev_epidemic: 'epidemic', ev_other: 'other',
  },
};

const EVENTS = ['ev_flood', 'ev_rain', 'ev_typhoon', 'ev_quake', 'ev_fire', 'ev_geo', 'ev_epidemic', 'ev_other'];
const SEVERITIES = ['red', 'orange', 'yellow', 'blue'];
const MODES = ['drill', 'test', 'real'];
const VALIDITY_MIN = [30, 60, 120, 360, 1440];
const HEARD = ['playing', 'done'];
// Above this many speakers an alert's receipts are shown as counts per village, with the
// first SHOWN speakers of each village not yet heard.
const MANY = 300;
const SHOWN = 6;

// `ctx`: { api, el, $, t, agents() (the speakers the user sees), me(), listenFirst(prefix) }.
export function alertsPage(ctx) {
  const { api, el, $, t } = ctx;
  const fill = (k, vars) => Object.entries(vars).reduce((s, [n, v]) => s.replace('{' + n + '}', v), t(k));
  let following = null; // the alert whose receipts are shown
  const names = new Map(); // area code → name, from the area tree
  const areaName = (code) => names.get(code) || code;

  const live = () => ctx.agents().filter((a) => !a.retired);
  const chosenAreas = () => [...$('al-areas').querySelectorAll('input:checked')].map((i) => i.value);
  // Speakers and villages an alert to `areas` reaches.
  function reach(areas) {
    const hit = live().filter((a) => areas.some((p) => a.area_code.startsWith(p)));
    return { speakers: hit.length, villages: new Set(hit.map((a) => a.area_code)).size };
  }

  function renderForm(media) {
    const radios = (name, values, checked) => el('div', { class: 'choices' }, values.map((v) =>
      el('label', { class: 'chip ' + name + '-' + v }, el('input', { type: 'radio', name, value: v, checked: v === checked, 'data-value': v }), el('span', {}, t(v)))));
    if (!$('al-event-list').childElementCount) {
      $('al-event-list').replaceChildren(...EVENTS.map((k) => el('option', { value: t(k) })));
    }
    $('al-severity').replaceChildren(radios('severity', SEVERITIES, $('al-severity').dataset.v || 'orange'));
    $('al-mode').replaceChildren(radios('mode', MODES, $('al-mode').dataset.v || 'drill'));
    $('al-valid').replaceChildren(...VALIDITY_MIN.map((m) => el('option', { value: m, selected: m === 120 },
      m < 60 ? fill('minutes', { n: m }) : fill('hours', { n: m / 60 }))));
    const keep = $('al-media').value;
    $('al-media').replaceChildren(el('option', { value: '' }, t('none_spoken')),
      ...media.filter((m) => m.state === 'ready').map((m) => el('option', { value: m.id }, `${m.name} (${(m.duration_ms / 1000).toFixed(1)} s)`)));
    $('al-media').value = keep;
  }

  async function renderAreas() {
    const chosen = new Set(chosenAreas());
    const tree = await api('GET', '/api/areas');
    // Counties, townships and villages can be chosen; provinces and cities only hold them.
    const label = (n) => n.name ? [n.name, ' ', el('small', { class: 'code' }, n.code)] : [n.code];
    const node = (n) => {
      if (n.name) names.set(n.code, n.name);
      return el('li', {},
        ['county', 'township', 'village'].includes(n.level)
          ? el('label', { class: 'area-name' }, el('input', { type: 'checkbox', value: n.code, checked: chosen.has(n.code), 'data-area': n.code }),
            el('span', {}, ...label(n), ` · ${n.online}/${n.agents}`))
          : el('span', { class: 'hint' }, ...label(n)),
        n.children.length ? el('ul', {}, n.children.map(node)) : null);
    };
    $('al-areas').replaceChildren(el('ul', {}, tree.map(node)));
  }

  function request() {
    const form = $('al-form');
    const areas = chosenAreas();
    const mode = form.querySelector('input[name=mode]:checked').value;
    const media = $('al-media').value;
    return {
      severity: form.querySelector('input[name=severity]:checked').value,
      event: $('al-event').value.trim(),
      areas,
      expires_at: Date.now() * 1000 + Number($('al-valid').value) * 60e6,
      text: $('al-text').value.trim(),
      media_id: media ? Number(media) : undefined,
      voices: $('al-voices').value ? $('al-voices').value.split(',') : undefined,
      repeat: Number($('al-repeat').value),
      mode,
    };
  }

  // First press: checks, and for a real alert asks once more, naming its reach.
  function issue(ev) {
    ev.preventDefault();
    const req = request();
    const status = $('al-status');
    if (!req.event) { status.textContent = t('type_event'); return; }
    if (!req.areas.length) { status.textContent = t('choose_areas'); return; }
    if (req.mode === 'real') {
      const r = reach(req.areas);
      $('al-real-text').textContent = fill('real_warning', { n: r.speakers, v: r.villages });
      $('al-confirm').hidden = false;
      $('al-issue').disabled = true;
      return;
    }
    send(req);
  }

  async function send(req) {
    $('al-confirm').hidden = true;
    $('al-issue').disabled = false;
    const status = $('al-status');
    status.textContent = req.text && !req.media_id ? '…' : '';
    try {
      const a = await api('POST', '/api/alerts', req);
      status.textContent = `#${a.id} ${t(a.status)}` + (a.speech_error ? ` · ${t('speech_failed')}${a.speech_error}` : '');
      follow(a);
      renderLog();
    } catch (e) {
      status.textContent = e.message;
    }
  }

  // Shows alert `a`'s receipts village by village until every speaker has a final state:
  // each speaker by name, or for a county-wide alert (more than MANY speakers) each
  // village's count heard and the speakers not yet heard, so that 10,000 receipts are 200
  // rows, not 10,000 chips.
  async function follow(a) {
    following = a.id;
    const box = $('al-follow');
    const speakers = new Map(ctx.agents().map((x) => [x.id, x]));
    // A village by its own name, or the nearest named area above it and its code.
    const within = new Map(ctx.agents().filter((x) => x.area_name).map((x) => [x.area_code, x.area_name]));
    const villageName = (code) => names.get(code)
      || [within.get(code) || '', ' ', el('small', { class: 'code' }, code)];
    // A speaker and its state; `short`: its name alone, the state in its colour and title
    // (a county's view, where the counts above name the colours).
    const chip = (id, state, short) => {
      const name = speakers.get(id) ? speakers.get(id).name : id;
      const said = state ? t(state) : t('not_yet');
      return el('span', { class: 'receipt ' + (state || 'none'), 'data-agent': id, 'data-state': state || '', title: said },
        short ? name : `${name}: ${said}`);
    };
    const draw = (b) => {
      const receipt = new Map(b.receipts.map((r) => [r.agent_id, r.state]));
      for (const id of b.unreachable || []) if (!receipt.has(id)) receipt.set(id, 'unreachable');
      const byVillage = new Map();
      for (const id of b.agents) {
        const area = speakers.get(id) ? speakers.get(id).area_code : '?';
        if (!byVillage.has(area)) byVillage.set(area, []);
        byVillage.get(area).push(id);
      }
      const isHeard = (id) => HEARD.includes(receipt.get(id));
      const heard = b.agents.filter(isHeard).length;
      const counts = new Map();
      for (const id of b.agents) {
        const state = receipt.get(id) || 'not_yet';
        counts.set(state, (counts.get(state) || 0) + 1);
      }
      const many = b.agents.length > MANY;
      const row = ([area, ids]) => {
        const village = villageName(area);
        if (!many) return el('tr', { 'data-village': area }, el('th', {}, village), el('td', {}, ids.map((id) => chip(id, receipt.get(id)))));
        const missing = ids.filter((id) => !isHeard(id));
        const n = ids.length - missing.length;
        return el('tr', { 'data-village': area, 'data-heard': n, 'data-total': ids.length, class: missing.length ? 'missing' : 'heard' },
          el('th', {}, village),
          el('td', { class: 'count' }, `${n}/${ids.length}`),
          el('td', {}, missing.slice(0, SHOWN).map((id) => chip(id, receipt.get(id), true)),
            missing.length > SHOWN ? el('span', { class: 'hint' }, fill('more_n', { n: missing.length - SHOWN })) : null));
      };
      // Villages with speakers not yet heard first, then by code.
      const order = [...byVillage.entries()].sort(([x, xs], [y, ys]) =>
        (many ? (xs.every(isHeard) - ys.every(isHeard)) : 0) || (x < y ? -1 : x > y ? 1 : 0));
      box.replaceChildren(
        el('h3', {}, `#${a.id} ${a.request.event} · ${t(a.request.severity)} · ${t(a.request.mode)} — ${heard}/${b.agents.length}`),
        el('p', { id: 'al-counts', class: 'receipts' }, [...counts.entries()].map(([state, n]) =>
          el('span', { class: 'receipt ' + state, 'data-count': state }, `${t(state)} ${n}`))),
        el('table', { id: 'al-receipts', 'data-alert': a.id, class: many ? 'county' : '' }, order.map(row)));
      return b.final;
    };
    if (!a.broadcast_id) { box.replaceChildren(el('h3', {}, `#${a.id} ${t(a.status)}`)); return; }
    for (let i = 0; i < 300 && following === a.id && !$('alerts').hidden; i++) {
      const b = await api('GET', `/api/broadcasts/${a.broadcast_id}?wait_ms=2000`);
      if (draw(b)) break;
    }
  }

  async function decide(id, what) {
    try {
      const a = await api('POST', `/api/alerts/${id}/${what}`);
      if (what === 'approve') follow(a);
    } catch (e) {
      $('al-status').textContent = e.message;
    }
    renderLog();
  }

  async function cancel(id) {
    try { await api('POST', `/api/alerts/${id}/cancel`); } catch (e) { $('al-status').textContent = e.message; }
    renderLog();
  }

  async function renderLog() {
    const alerts = await api('GET', '/api/alerts');
    const held = alerts.filter((a) => a.status === 'held');
    const areas = (a) => a.request.areas.map(areaName).join('、');
    $('al-held').replaceChildren(...(held.length ? held.map((a) => el('div', { class: 'held', id: 'held-' + a.id },
      el('p', {}, el('b', { class: 'sev ' + a.request.severity }, t(a.request.severity)), ` ${a.request.event} · ${t(a.request.mode)} · ${t('areas')} ${areas(a)} (${a.request.areas.join(', ')}) · ${t('source')} ${a.source}`),
      el('p', {}, a.request.text),
      el('button', { class: 'approve', onclick: () => decide(a.id, 'approve') }, t('approve')),
      el('button', { class: 'reject', onclick: () => decide(a.id, 'reject') }, t('reject'))))
      : [el('p', { class: 'hint' }, t('nothing_held'))]));
    $('al-table').replaceChildren(
      el('tr', {}, el('th', {}, '#'), el('th', {}, t('sent_at')), el('th', {}, t('severity')), el('th', {}, t('event')),
        el('th', {}, t('mode')), el('th', {}, t('areas')), el('th', {}, t('status')), el('th', {}, '')),
      ...alerts.slice(0, 50).map((a) => el('tr', { id: 'alert-' + a.id, onclick: () => follow(a) },
        el('td', {}, a.id), el('td', {}, new Date(a.created_at / 1000).toLocaleString(document.documentElement.lang)),
        el('td', {}, el('span', { class: 'sev ' + a.request.severity }, t(a.request.severity))),
        el('td', {}, a.request.event), el('td', {}, t(a.request.mode)), el('td', {}, areas(a)),
        el('td', { class: 'al-state' }, t(a.status)),
        el('td', {}, a.status === 'sent'
          ? el('button', { class: 'cancel', onclick: (e) => { e.stopPropagation(); cancel(a.id); } }, t('cancel_alert')) : null))));
  }

  $('al-form').addEventListener('submit', issue);
  $('al-preview').addEventListener('click', () => ctx.listenFirst('al'));
  // Only this second press says the real alert is meant.
  $('al-confirm-real').addEventListener('click', () => send({ ...request(), confirm_real: true }));
  $('al-back').addEventListener('click', () => { $('al-confirm').hidden = true; $('al-issue').disabled = false; });
  $('al-form').addEventListener('change', (e) => {
    if (e.target.name === 'severity') $('al-severity').dataset.v = e.target.value;
    if (e.target.name === 'mode') { $('al-mode').dataset.v = e.target.value; $('al-confirm').hidden = true; $('al-issue').disabled = false; }
  });

  return {
    async render() {
      renderForm(await api('GET', '/api/media'));
      await renderAreas();
      await renderLog();
    },
  };
}
