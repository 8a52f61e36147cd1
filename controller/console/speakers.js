// The speakers page: add a speaker and get the file its terminal needs (with its one-time
// enrolment token), find speakers by name or code, see their state, retire one.

export const STRINGS = {
  zh: {
    speakers_page: '喇叭管理', add_speaker: '添加喇叭', speaker_id: '编号（字母、数字、- _ .）', speaker_name: '名称',
    area_code: '区域代码（12 位村代码）', groups: '分组（逗号分隔）', agent_url: '喇叭连接控制器的地址',
    add: '添加', search: '搜索名称、编号、区域或分组', last_seen: '最后在线', retire: '退役', confirm_retire: '确认退役？',
    install_hint: '把下面的内容保存为喇叭终端上的 /etc/dalaba/agent.toml，然后启动 dalaba-agent。令牌只显示这一次，{d} 前有效。',
    copy: '复制', copied: '已复制', all_speakers: '全部喇叭', retired: '已退役', unknown_area: '（未命名区域）',
    import_speakers: '批量导入', import_hint: 'CSV 文件，每行“编号,名称,区域代码,分组,纬度,经度”（分组用分号隔开，经纬度可空），可有标题行。有一行不对就一个也不导入，并列出每个错行。导入后可下载全部终端配置文件。',
    download_configs: '下载全部配置文件', imported_n: '已导入 {n} 个喇叭', show_config: '显示配置',
    groups_col: '分组', location: '位置（纬度,经度）', location_col: '位置', edit_location: '改位置', bad_location: '位置请写成“纬度,经度”，例：30.2741,120.1210',
  },
  en: {
    speakers_page: 'Speakers', add_speaker: 'Add a speaker', speaker_id: 'id (letters, digits, - _ .)', speaker_name: 'name',
    area_code: 'area code (the 12-digit village code)', groups: 'groups (comma-separated)', agent_url: 'where speakers reach the controller',
    add: 'Add', search: 'search by name, id, area or group', last_seen: 'last seen', retire: 'Retire', confirm_retire: 'Retire it?',
    install_hint: 'Save this as /etc/dalaba/agent.toml on the speaker terminal, then start dalaba-agent. The token is shown only now and is valid until {d}.',
    copy: 'Copy', copied: 'copied', all_speakers: 'All speakers', retired: 'retired', unknown_area: '(unnamed area)',
    import_speakers: 'Import many', import_hint: 'A CSV file, one "id,name,area_code,groups,lat,lon" per line (groups separated by ;, location optional), a header allowed. One bad line and nothing is imported; every bad line is listed. Then download every terminal\'s file.',
    download_configs: 'Download every configuration file', imported_n: '{n} speakers imported', show_config: 'Show file',
    groups_col: 'groups', location: 'location (latitude,longitude)', location_col: 'location', edit_location: 'Set location', bad_location: 'Write the location as "latitude,longitude", e.g. 30.2741,120.1210',
  },
};

// "30.2741, 120.1210" (as a phone's map app copies it; a Chinese comma or a space will do)
// as `{lat, lon}`; nothing for an empty text; `undefined` for one that is not a location
// (the controller checks the ranges and says what is wrong).
export function parseLocation(text) {
  const s = text.trim();
  if (!s) return null;
  const parts = s.split(/[\s,，]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n))) return undefined;
  return { lat: parts[0], lon: parts[1] };
}

const showLocation = (l) => (l ? `${l.lat.toFixed(5)}, ${l.lon.toFixed(5)}` : '—');

// `ctx`: { api, el, $, t, agents() (the speakers the user sees), stateOf(agent), refresh(),
// detail (the detail card, speaker.js) }.
export function speakersPage(ctx) {
  const { api, el, $, t } = ctx;

  function defaultUrl() {
    return localStorage.getItem('dalaba.agent_url') || `wss://${location.hostname}:8443/agent/ws`;
  }

  async function add(ev) {
    ev.preventDefault();
    const f = ev.target;
    const status = $('sp-status');
    const agentUrl = f.agent_url.value.trim();
    const location = parseLocation(f.location.value);
    if (location === undefined) { status.textContent = t('bad_location'); return; }
    try {
      const r = await api('POST', '/api/agents', {
        id: f.id_.value.trim(),
        name: f.name_.value.trim(),
        area_code: f.area.value.trim(),
        groups: f.groups.value.split(/[,，]/).map((g) => g.trim()).filter(Boolean),
        agent_url: agentUrl,
        location,
      });
      localStorage.setItem('dalaba.agent_url', agentUrl);
      status.textContent = '';
      const until = new Date(r.enrolment_token_expires_at / 1000).toLocaleString(document.documentElement.lang);
      $('sp-created').hidden = false;
      $('sp-install').textContent = t('install_hint').replace('{d}', until);
      $('sp-config').textContent = r.agent_config;
      f.id_.value = '';
      f.name_.value = '';
      f.location.value = '';
      await ctx.refresh();
    } catch (e) {
      status.textContent = e.message;
    }
  }

  // An installation list: every speaker created (or none), each terminal's file shown on
  // demand and all of them downloadable as one text file.
  let imported = [];
  async function importList() {
    const file = $('sp-file').files[0];
    const status = $('sp-import-status');
    if (!file) return;
    const agentUrl = $('sp-form').agent_url.value.trim();
    try {
      const j = await api('POST', `/api/agents/import?agent_url=${encodeURIComponent(agentUrl)}`, await file.text(), 'text/csv; charset=utf-8');
      imported = j;
      status.textContent = t('imported_n').replace('{n}', j.length);
      $('sp-imported').hidden = false;
      $('sp-imported-table').replaceChildren(...j.map((c) => el('tr', { 'data-agent': c.agent.id },
        el('td', {}, c.agent.name), el('td', {}, c.agent.id), el('td', {}, c.agent.area_name || c.agent.area_code),
        el('td', {}, el('button', { onclick: () => showConfig(c) }, t('show_config'))))));
      await ctx.refresh();
    } catch (e) {
      status.textContent = e.message;
    }
  }

  function showConfig(c) {
    const until = new Date(c.enrolment_token_expires_at / 1000).toLocaleString(document.documentElement.lang);
    $('sp-created').hidden = false;
    $('sp-install').textContent = `${c.agent.name} (${c.agent.id}): ` + t('install_hint').replace('{d}', until);
    $('sp-config').textContent = c.agent_config;
  }

  function download() {
    const text = imported.map((c) => `# ===== ${c.agent.id} (${c.agent.name}): /etc/dalaba/agent.toml =====\n${c.agent_config}`).join('\n');
    const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/plain' })), download: 'dalaba-speakers.txt' });
    a.click();
    URL.revokeObjectURL(a.href);
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText($('sp-config').textContent);
      $('sp-copy').textContent = t('copied');
    } catch (e) {
      // Without clipboard access (plain http), the text stays selectable.
      getSelection().selectAllChildren($('sp-config'));
    }
  }

  // Retiring takes a second press on the same button (kept armed across redraws).
  const armed = new Set();
  async function retire(button, id) {
    if (!armed.has(id)) {
      armed.add(id);
      button.textContent = t('confirm_retire');
      return;
    }
    armed.delete(id);
    try { await api('DELETE', `/api/agents/${encodeURIComponent(id)}`); } catch (e) { $('sp-list-status').textContent = e.message; }
    await ctx.refresh();
  }

  // The location cell becomes a field and a button; the new location is saved at once.
  function editLocation(cell, a) {
    const first = !editing.has(a.id);
    const typed = first ? (a.location ? `${a.location.lat}, ${a.location.lon}` : '') : editing.get(a.id);
    const input = el('input', { class: 'sp-location', size: 22, value: typed, placeholder: '30.2741, 120.1210' });
    input.addEventListener('input', () => editing.set(a.id, input.value));
    const save = async () => {
      const location = parseLocation(input.value);
      if (location === undefined) { $('sp-list-status').textContent = t('bad_location'); return; }
      try {
        await api('PATCH', `/api/agents/${encodeURIComponent(a.id)}`, { location });
        $('sp-list-status').textContent = '';
        editing.delete(a.id);
        await ctx.refresh();
      } catch (e) { $('sp-list-status').textContent = e.message; }
    };
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') save(); });
    editing.set(a.id, typed);
    cell.replaceChildren(input, ' ', el('button', { class: 'sp-save-location', onclick: save }, t('save')));
    if (first) input.focus();
  }
  // Rows whose location is being edited keep their field, as typed, across redraws.
  const editing = new Map();
  // A redraw waits for the field being typed in to be left.
  let deferred = false;

  function render() {
    // Not while a field in the list is being typed in (it would lose the caret); once
    // the field is left, unless for its save button (saving redraws).
    const typing = document.activeElement;
    if (typing && typing.tagName === 'INPUT' && $('sp-table').contains(typing)) {
      if (!deferred) {
        deferred = true;
        typing.addEventListener('blur', (e) => {
          deferred = false;
          if (!(e.relatedTarget && e.relatedTarget.classList.contains('sp-save-location'))) render();
        }, { once: true });
      }
      return;
    }
    if (!$('sp-form').agent_url.value) $('sp-form').agent_url.value = defaultUrl();
    const q = $('sp-search').value.trim().toLowerCase();
    const all = ctx.agents();
    const shown = all.filter((a) => !q || [a.id, a.name, a.area_code, a.area_name || '', ...(a.groups || [])].some((s) => s.toLowerCase().includes(q)));
    // The groups, each with how many speakers are in it: a click lists them.
    const groups = new Map();
    for (const a of all.filter((x) => !x.retired)) for (const g of a.groups || []) groups.set(g, (groups.get(g) || 0) + 1);
    $('sp-groups').replaceChildren(...[...groups].sort().map(([g, n]) =>
      el('button', { class: 'chip group', 'data-group': g, onclick: () => { $('sp-search').value = g; render(); } }, `${g} · ${n}`)));
    $('sp-table').replaceChildren(
      el('tr', {}, el('th', {}, t('speaker_name')), el('th', {}, '#'), el('th', {}, t('area')), el('th', {}, t('state')), el('th', {}, t('last_seen')), el('th', {}, t('location_col')), el('th', {}, '')),
      ...shown.map((a) => {
        const state = a.retired ? 'retired' : ctx.stateOf(a);
        return el('tr', { 'data-agent': a.id, 'data-state': state },
          el('td', { class: 'name', onclick: () => ctx.detail.show(a.id) }, a.name), el('td', {}, a.id),
          el('td', {}, a.area_name || t('unknown_area'), ' ', el('small', { class: 'code' }, a.area_code)),
          el('td', {}, el('span', { class: 'dot ' + state }), ' ', t(state)),
          el('td', {}, a.last_seen ? new Date(a.last_seen / 1000).toLocaleString(document.documentElement.lang) : '—'),
          locationCell(a),
          el('td', {}, a.retired ? null : el('button', { class: 'retire', onclick: (e) => retire(e.target, a.id) }, t(armed.has(a.id) ? 'confirm_retire' : 'retire'))));
      }));
  }

  function locationCell(a) {
    const cell = el('td', { class: 'location' });
    if (a.retired) { cell.append(showLocation(a.location)); return cell; }
    if (editing.has(a.id)) { editLocation(cell, a); return cell; }
    cell.append(showLocation(a.location), ' ', el('button', { class: 'sp-edit-location', onclick: () => editLocation(cell, a) }, t('edit_location')));
    return cell;
  }

  function renderAll() {
    render();
    ctx.detail.render();
  }

  $('sp-form').addEventListener('submit', add);
  $('sp-copy').addEventListener('click', copy);
  $('sp-import').addEventListener('click', importList);
  $('sp-download').addEventListener('click', download);
  $('sp-search').addEventListener('input', render);
  return { render: renderAll };
}
