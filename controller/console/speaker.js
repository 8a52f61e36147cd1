// One speaker, looked at closely (the speakers page's detail card): its state and what it
// reports, its name, village and groups (editable), a test tone played on it alone, a
// configuration pushed to it (kept or rolled back: the version it then reports says
// which), and its history: what it played and when it came, went or had a fault.

export const STRINGS = {
  zh: {
    details: '详情', close: '关闭', edit: '修改', save_changes: '保存修改', test_tone: '播放测试音',
    test_tone_sent: '测试音已发送（广播 #{id}），约 3 秒后播放', push_config: '下发配置', config_version: '配置版本号',
    config_document: '配置文件（agent.toml 全文）', push: '下发', pushed: '已下发版本 {v}：喇叭接受则上报此版本，连不上控制器则自动回退到原配置',
    config_now: '当前配置版本', history_played: '播放记录', history_log: '上下线与故障', when: '时间', what: '内容',
    ev_online: '上线', ev_offline: '离线', ev_fault: '故障', ev_recovered: '恢复', uptime: '已运行', clock_offset: '时钟偏差',
    cache: '缓存', kind_media: '播放', kind_live: '喊话', kind_alert: '预警', kind_scheduled: '定时', kind_pending: '准备中',
    st_waiting: '等待', st_playing: '播放中', st_done: '完成', st_failed: '失败', st_cancelled: '已取消', st_unreachable: '未送达',
    manage: '管理',
  },
  en: {
    details: 'Details', close: 'Close', edit: 'Edit', save_changes: 'Save changes', test_tone: 'Play a test tone',
    test_tone_sent: 'test tone sent (broadcast #{id}); it plays in about 3 s', push_config: 'Push a configuration', config_version: 'version label',
    config_document: 'configuration file (the whole agent.toml)', push: 'Push', pushed: 'version {v} sent: the speaker reports it once kept, and rolls back by itself if it cannot reach the controller with it',
    config_now: 'configuration in use', history_played: 'What it played', history_log: 'Online, offline, faults', when: 'time', what: 'what',
    ev_online: 'online', ev_offline: 'offline', ev_fault: 'fault', ev_recovered: 'recovered', uptime: 'running for', clock_offset: 'clock offset',
    cache: 'cache', kind_media: 'clip', kind_live: 'live call', kind_alert: 'alert', kind_scheduled: 'scheduled', kind_pending: 'being made',
    st_waiting: 'waiting', st_playing: 'playing', st_done: 'done', st_failed: 'failed', st_cancelled: 'cancelled', st_unreachable: 'not reached',
    manage: 'Manage',
  },
};

const when = (us) => (us ? new Date(us / 1000).toLocaleString(document.documentElement.lang) : '—');

// `ctx`: { api, el, $, t, agents(), stateOf(agent), refresh(), me() }.
export function speakerDetail(ctx) {
  const { api, el, $, t } = ctx;
  let open = null;

  function show(id) {
    open = id;
    $('sp-detail').hidden = false;
    render(true);
    $('sp-detail').scrollIntoView({ block: 'start' });
  }

  function close() {
    open = null;
    $('sp-detail').hidden = true;
  }

  // Redraws the card (and reads the history again) when what it shows may have changed;
  // `first`: also fills the edit fields.
  async function render(first) {
    const a = open && ctx.agents().find((x) => x.id === open);
    if (!a) { if (open) close(); return; }
    const s = a.status || {};
    const state = a.retired ? 'retired' : ctx.stateOf(a);
    $('sd-title').replaceChildren(el('span', { class: 'dot ' + state }), ` ${a.name} `, el('small', { class: 'code' }, a.id), ` · ${t(state)}`);
    $('sd-title').dataset.state = state;
    const rows = [
      [t('area'), a.area_name ? `${a.area_name} (${a.area_code})` : a.area_code],
      [t('groups_col'), (a.groups || []).join('、') || '—'],
      [t('location_col'), a.location ? `${a.location.lat}, ${a.location.lon}` : '—'],
      [t('last_seen'), when(a.last_seen)],
      [t('playing_now'), s.playing ? `#${s.playing.broadcast_id} ${s.playing.priority} ${s.playing.mode}` : '—'],
      [t('volume'), s.volume ?? '—'],
      [t('relays'), (s.relays || []).map((r) => `${r.channel}:${r.state}`).join(' ') || '—'],
      [t('config_now'), s.config_version || '—'],
      [t('versions'), `firmware ${s.firmware_version || '?'} · schedule ${s.schedule_version ?? '?'}`],
      [t('clock_offset'), s.clock_offset_us == null ? '—' : `${(s.clock_offset_us / 1000).toFixed(1)} ms`],
      [t('cache'), s.cache ? `${(s.cache.used_bytes / 1e6).toFixed(1)} / ${(s.cache.capacity_bytes / 1e6).toFixed(0)} MB, ${s.cache.items}` : '—'],
      [t('uptime'), s.uptime_s == null ? '—' : `${Math.floor(s.uptime_s / 3600)} h ${Math.floor((s.uptime_s % 3600) / 60)} min`],
      [t('last_error'), s.last_error || '—'],
    ];
    $('sd-info').replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, String(v)))));
    if (first) {
      $('sd-name').value = a.name;
      $('sd-area').value = a.area_code;
      $('sd-groups').value = (a.groups || []).join(', ');
      $('sd-status').textContent = '';
    }
    for (const b of document.querySelectorAll('#sp-detail .manage')) b.disabled = a.retired;
    try {
      const h = await api('GET', `/api/agents/${encodeURIComponent(a.id)}/history`);
      if (open !== a.id) return;
      $('sd-played').replaceChildren(el('tr', {}, el('th', {}, t('when')), el('th', {}, t('kind')), el('th', {}, t('what')), el('th', {}, t('state'))),
        ...h.played.map((p) => el('tr', { 'data-broadcast': p.broadcast_id, 'data-state': p.state },
          el('td', {}, when(p.started_at || p.at)), el('td', {}, t('kind_' + p.kind)), el('td', {}, `#${p.broadcast_id} ${p.what || ''}`),
          el('td', {}, el('span', { class: 'receipt ' + p.state }, t('st_' + p.state)), p.detail ? ` ${p.detail}` : ''))));
      $('sd-log').replaceChildren(el('tr', {}, el('th', {}, t('when')), el('th', {}, t('kind')), el('th', {}, '')),
        ...h.log.map((e) => el('tr', { 'data-kind': e.kind }, el('td', {}, when(e.at)), el('td', {}, t('ev_' + e.kind)), el('td', {}, e.detail || ''))));
    } catch (e) {
      $('sd-status').textContent = e.message;
    }
  }

  async function save() {
    try {
      await api('PATCH', `/api/agents/${encodeURIComponent(open)}`, {
        name: $('sd-name').value.trim(),
        area_code: $('sd-area').value.trim(),
        groups: $('sd-groups').value.split(/[,，、]/).map((g) => g.trim()).filter(Boolean),
      });
      $('sd-status').textContent = t('saved');
      await ctx.refresh();
    } catch (e) {
      $('sd-status').textContent = e.message;
    }
  }

  async function testTone() {
    try {
      const b = await api('POST', `/api/agents/${encodeURIComponent(open)}/test-tone`);
      $('sd-status').textContent = b.held ? `#${b.id} ${t('held')}: ${b.held}` : t('test_tone_sent').replace('{id}', b.id);
    } catch (e) {
      $('sd-status').textContent = e.message;
    }
  }

  async function pushConfig() {
    const version = $('sd-version').value.trim();
    try {
      await api('POST', `/api/agents/${encodeURIComponent(open)}/config`, { config_version: version, document: $('sd-config').value });
      $('sd-status').textContent = t('pushed').replace('{v}', version);
    } catch (e) {
      $('sd-status').textContent = e.message;
    }
  }

  $('sd-close').addEventListener('click', close);
  $('sd-save').addEventListener('click', save);
  $('sd-tone').addEventListener('click', testTone);
  $('sd-push').addEventListener('click', pushConfig);
  return { show, render: () => render(false), isOpen: () => open !== null };
}
