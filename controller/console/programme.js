// The daily programme (节目编排): playlists of many items (media or text spoken, repeat and
// gap each, a jingle, the total length), schedules by times of day and weekdays (cron only
// as an advanced field), the holiday calendar (休 / 班), quiet hours per area, and the week
// view: what plays where and when, quiet hours and holidays shown, clashes marked.

export const STRINGS = {
  zh: {
    pg_new_playlist: '新建播放列表', pg_edit_playlist: '编辑播放列表', pg_jingle: '片头', pg_no_jingle: '无片头',
    pg_items: '节目', pg_add_media: '+ 媒体', pg_add_text: '+ 文字播报', pg_repeat: '重复', pg_gap: '间隔（秒）',
    pg_text_hint: '输入要播报的文字', pg_up: '上移', pg_down: '下移', pg_total: '总时长', pg_speech_extra: '另加文字播报',
    pg_items_count: '{n} 条', pg_delete: '删除', pg_edit: '编辑', pg_cancel: '取消', pg_saved: '已保存',
    pg_new_schedule: '新建定时任务', pg_edit_schedule: '编辑定时任务', pg_times: '播放时间', pg_add_time: '+ 时间',
    pg_days: '星期', pg_every_day: '每天', pg_workdays: '工作日', pg_weekend: '周末', pg_from: '开始日期', pg_until: '结束日期',
    pg_dates: '单次日期（只在这些日子播）', pg_add_date: '添加日期', pg_follow: '按节假日安排：法定节假日不播，调休上班日照常播',
    pg_priority: '优先级', pg_prio_scheduled: '日常', pg_prio_background: '背景', pg_volume: '音量（空为喇叭自身音量）',
    pg_preempt: '被插播打断后', pg_resume: '接着播', pg_restart: '从头播', pg_skip: '跳过', pg_enabled: '启用',
    pg_advanced: '高级：cron 表达式（填写后不按上面的时间）', pg_when: '时间', pg_playlist: '播放列表', pg_where: '范围',
    pg_disabled: '已停用', pg_next: '接下来', pg_week: '一周安排', pg_prev_week: '◀ 上周', pg_next_week: '下周 ▶',
    pg_all_areas: '全部区域', pg_quiet: '静音', pg_clash: '冲突', pg_with: '与', pg_speakers_n: '{n} 个喇叭',
    pg_quiet_n: '{n} 个在静音时段不播', pg_nothing: '无', pg_holiday: '休', pg_workday: '班', pg_waiting: '待审批',
    pg_quiet_hours: '静音时段', pg_quiet_hint: '静音时段内不播日常节目（紧急广播除外）。村的设置优先于乡镇和县。',
    pg_add_rule: '+ 添加', pg_start: '开始', pg_end: '结束', pg_admin_only: '只有管理员可以修改',
    pg_holidays: '节假日安排', pg_holidays_hint: '每行一天：日期 休/班 名称，例如 “2026-10-01 休 国庆节”、“2026-10-10 班 国庆节调休”。',
    pg_line: '第 {n} 行', pg_bad_line: '应为 “日期 休/班 名称”', pg_clashes_n: '{n} 处冲突', pg_runs_n: '{n} 次播放',
    pg_once: '单次', pg_follows: '按节假日安排', pg_rejected: '已驳回',
    day_mon: '周一', day_tue: '周二', day_wed: '周三', day_thu: '周四', day_fri: '周五', day_sat: '周六', day_sun: '周日',
  },
  en: {
    pg_new_playlist: 'New playlist', pg_edit_playlist: 'Edit playlist', pg_jingle: 'jingle', pg_no_jingle: 'no jingle',
    pg_items: 'Items', pg_add_media: '+ media', pg_add_text: '+ spoken text', pg_repeat: 'repeat', pg_gap: 'gap (s)',
    pg_text_hint: 'the text to speak', pg_up: 'up', pg_down: 'down', pg_total: 'total', pg_speech_extra: 'plus spoken text',
    pg_items_count: '{n} items', pg_delete: 'Delete', pg_edit: 'Edit', pg_cancel: 'Cancel', pg_saved: 'saved',
    pg_new_schedule: 'New schedule', pg_edit_schedule: 'Edit schedule', pg_times: 'times', pg_add_time: '+ time',
    pg_days: 'days', pg_every_day: 'every day', pg_workdays: 'weekdays', pg_weekend: 'weekend', pg_from: 'from', pg_until: 'until',
    pg_dates: 'one-off dates (only on these days)', pg_add_date: 'add date', pg_follow: 'Follow the holiday calendar: silent on public holidays, plays on make-up workdays',
    pg_priority: 'priority', pg_prio_scheduled: 'scheduled', pg_prio_background: 'background', pg_volume: 'volume (empty: the speaker\'s own)',
    pg_preempt: 'when cut off', pg_resume: 'resume', pg_restart: 'restart', pg_skip: 'skip', pg_enabled: 'enabled',
    pg_advanced: 'Advanced: cron expression (replaces the times above)', pg_when: 'when', pg_playlist: 'playlist', pg_where: 'where',
    pg_disabled: 'disabled', pg_next: 'next', pg_week: 'Week', pg_prev_week: '◀ week before', pg_next_week: 'week after ▶',
    pg_all_areas: 'every area', pg_quiet: 'quiet', pg_clash: 'clash', pg_with: 'with', pg_speakers_n: '{n} speakers',
    pg_quiet_n: '{n} left out for quiet hours', pg_nothing: 'nothing', pg_holiday: 'holiday', pg_workday: 'workday', pg_waiting: 'awaiting approval',
    pg_quiet_hours: 'Quiet hours', pg_quiet_hint: 'No daily content during quiet hours (emergency alerts excepted). A village\'s rule wins over its township\'s and county\'s.',
    pg_add_rule: '+ add', pg_start: 'start', pg_end: 'end', pg_admin_only: 'only an admin can change these',
    pg_holidays: 'Holiday calendar', pg_holidays_hint: 'One day a line: date 休/班 (or holiday/workday) name, e.g. "2026-10-01 休 国庆节".',
    pg_line: 'line {n}', pg_bad_line: 'expected "date 休/班 name"', pg_clashes_n: '{n} clashes', pg_runs_n: '{n} runs',
    pg_once: 'once', pg_follows: 'follows holidays', pg_rejected: 'turned down',
    day_mon: 'Mon', day_tue: 'Tue', day_wed: 'Wed', day_thu: 'Thu', day_fri: 'Fri', day_sat: 'Sat', day_sun: 'Sun',
  },
};

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const WORKDAYS = DAYS.slice(0, 5);

// A schedule's days and times in words: 工作日 07:00、18:00.
export function describeWhen(s, t) {
  const days = s.weekdays || [];
  let on = t('pg_every_day');
  if (s.dates && s.dates.length) on = `${t('pg_once')} ${s.dates.map((d) => d.slice(5)).join('、')}`;
  else if (days.length === 5 && WORKDAYS.every((d) => days.includes(d))) on = t('pg_workdays');
  else if (days.length === 2 && days.includes('sat') && days.includes('sun')) on = t('pg_weekend');
  else if (days.length) on = days.map((d) => t('day_' + d)).join('、');
  const at = s.cron ? `cron ${s.cron}` : (s.times || []).join('、');
  const range = s.from || s.until ? ` (${s.from || '…'} – ${s.until || '…'})` : '';
  return `${on} ${at}${range}` + (s.holidays === 'follow' ? ` · ${t('pg_follows')}` : '');
}

// `ctx`: { api, el, $, t, me(), agents(), renderTargets(box), targetOf(box) }.
export function programmePage({ api, el, $, t, me, agents, renderTargets, targetOf }) {
  const tn = (k, n) => t(k).replace('{n}', n);
  let media = [];
  let playlists = [];
  let editingPlaylist = null; // id, or null for a new one
  let editingSchedule = null;
  let weekFrom = null; // YYYY-MM-DD
  const names = new Map(); // area code → name, from the area tree
  const areaName = (code) => names.get(code);
  const admin = () => me() && me().role === 'admin';

  const ready = () => media.filter((m) => m.state === 'ready');
  const mediaById = (id) => media.find((m) => m.id === id);
  function length(ms) {
    const s = Math.round(ms / 1000);
    const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
    const zh = document.documentElement.lang.startsWith('zh');
    if (zh) return (h ? `${h}小时` : '') + (m ? `${m}分` : '') + `${r}秒`;
    return (h ? `${h} h ` : '') + (m ? `${m} min ` : '') + `${r} s`;
  }
  const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10); // Beijing date
  const addDays = (date, n) => new Date(Date.parse(date + 'T00:00:00Z') + n * 86400e3).toISOString().slice(0, 10);

  // ---- Playlists --------------------------------------------------------------------

  // One item row: media or text, repeat, gap, reorder and remove.
  function itemRow(item) {
    const isText = item.text !== undefined && item.text !== null;
    const what = isText
      ? el('input', { class: 'pl-text', value: item.text, placeholder: t('pg_text_hint'), size: 40 })
      : el('select', { class: 'pl-media' }, ...ready().map((m) => el('option', { value: m.id, selected: m.id === item.media_id },
        `${m.name} (${length(m.duration_ms)})`)));
    const li = el('li', { class: 'pl-item', draggable: 'true', 'data-kind': isText ? 'text' : 'media' },
      el('span', { class: 'grip', title: '⇅' }, '⋮⋮'), what,
      el('label', { class: 'small' }, el('span', {}, t('pg_repeat')), el('input', { class: 'pl-repeat', type: 'number', min: 1, max: 20, value: item.repeat || 1 })),
      el('label', { class: 'small' }, el('span', {}, t('pg_gap')), el('input', { class: 'pl-gap', type: 'number', min: 0, max: 600, step: 0.5, value: (item.gap_ms || 0) / 1000 })),
      el('button', { type: 'button', class: 'pl-up', title: t('pg_up'), onclick: () => { if (li.previousElementSibling) li.previousElementSibling.before(li); total(); } }, '↑'),
      el('button', { type: 'button', class: 'pl-down', title: t('pg_down'), onclick: () => { if (li.nextElementSibling) li.nextElementSibling.after(li); total(); } }, '↓'),
      el('button', { type: 'button', class: 'pl-remove', title: t('pg_delete'), onclick: () => { li.remove(); total(); } }, '✕'));
    li.addEventListener('input', total);
    li.addEventListener('dragstart', (e) => { li.classList.add('dragging'); e.dataTransfer.effectAllowed = 'move'; });
    li.addEventListener('dragend', () => { li.classList.remove('dragging'); total(); });
    li.addEventListener('dragover', (e) => {
      e.preventDefault();
      const moving = $('pl-items').querySelector('.dragging');
      if (!moving || moving === li) return;
      const below = e.offsetY > li.offsetHeight / 2;
      if (below) li.after(moving); else li.before(moving);
    });
    return li;
  }

  // The items as the API takes them.
  function itemsOf() {
    return [...$('pl-items').children].map((li) => {
      const common = { repeat: Number(li.querySelector('.pl-repeat').value) || 1, gap_ms: Math.round(Number(li.querySelector('.pl-gap').value || 0) * 1000) };
      return li.dataset.kind === 'text'
        ? { text: li.querySelector('.pl-text').value, ...common }
        : { media_id: Number(li.querySelector('.pl-media').value), ...common };
    });
  }

  // Total length as `plan` lays it out: the jingle and its 0.5 s gap, then each item's
  // plays with its gap between and after (the last gap does not count).
  function lengthOf(spec) {
    let ms = 0; let texts = 0; let gap = 0;
    const jingle = spec.jingle_media_id && mediaById(spec.jingle_media_id);
    if (jingle) { ms += jingle.duration_ms + 500; }
    for (const i of spec.items) {
      const m = i.text !== undefined && i.text !== null && !i.media_id ? null : mediaById(i.media_id);
      if (!m) { texts += 1; continue; }
      ms += i.repeat * m.duration_ms + (i.repeat - 1) * i.gap_ms + i.gap_ms;
      gap = i.gap_ms;
    }
    return { ms: Math.max(0, ms - gap), texts };
  }

  function total() {
    const jingle = Number($('pl-jingle').value) || null;
    // Text typed in the editor has no speech yet.
    const items = itemsOf().map((i) => (i.text !== undefined ? { ...i, media_id: 0 } : i));
    const { ms, texts } = lengthOf({ jingle_media_id: jingle, items });
    $('pl-total').textContent = `${t('pg_total')}: ${length(ms)}` + (texts ? ` ${t('pg_speech_extra')} ×${texts}` : '')
      + ` · ${tn('pg_items_count', items.length)}`;
  }

  function openPlaylist(p) {
    editingPlaylist = p ? p.id : null;
    $('pl-editor').hidden = false;
    $('pl-editor-title').textContent = t(p ? 'pg_edit_playlist' : 'pg_new_playlist');
    $('pl-name').value = p ? p.name : '';
    $('pl-jingle').replaceChildren(el('option', { value: '' }, t('pg_no_jingle')),
      ...ready().map((m) => el('option', { value: m.id, selected: p && p.jingle_media_id === m.id }, m.name)));
    $('pl-items').replaceChildren(...(p ? p.items : [{ media_id: ready()[0] && ready()[0].id }]).map(itemRow));
    $('pl-status').textContent = '';
    total();
    $('pl-name').focus();
  }

  async function savePlaylist() {
    const body = { name: $('pl-name').value.trim(), items: itemsOf() };
    const jingle = Number($('pl-jingle').value);
    if (jingle) body.jingle_media_id = jingle;
    try {
      const saved = editingPlaylist
        ? await api('PUT', `/api/playlists/${editingPlaylist}`, body)
        : await api('POST', '/api/playlists', body);
      $('pl-editor').hidden = true;
      $('programme-status').textContent = `${saved.name}: ${t('pg_saved')}`;
      await render();
    } catch (e) { $('pl-status').textContent = e.message; }
  }

  function renderPlaylists() {
    $('playlist-table').replaceChildren(
      el('tr', {}, el('th', {}, t('name')), el('th', {}, t('pg_items')), el('th', {}, t('pg_total')), el('th', {}, '')),
      ...playlists.map((p) => {
        const { ms, texts } = lengthOf(p);
        const names = p.items.map((i) => (i.text ? `“${i.text.slice(0, 12)}${i.text.length > 12 ? '…' : ''}”` : (mediaById(i.media_id) || { name: `#${i.media_id}` }).name)
          + (i.repeat > 1 ? ` ×${i.repeat}` : ''));
        return el('tr', { 'data-playlist': p.id }, el('td', {}, p.name),
          el('td', {}, (p.jingle_media_id ? `[${t('pg_jingle')}] ` : '') + names.join(' → ')),
          el('td', {}, length(ms) + (texts ? ` +${texts}` : '')),
          el('td', { class: 'actions' },
            el('button', { type: 'button', onclick: () => openPlaylist(p) }, t('pg_edit')),
            el('button', { type: 'button', onclick: () => removeThing(`/api/playlists/${p.id}`, p.name) }, t('pg_delete'))));
      }));
  }

  async function removeThing(path, name) {
    if (!window.confirm(`${t('pg_delete')} ${name}?`)) return;
    try { await api('DELETE', path); $('programme-status').textContent = ''; } catch (e) { $('programme-status').textContent = `${name}: ${e.message}`; }
    await render();
  }

  // ---- Schedules --------------------------------------------------------------------

  const timeInput = (value) => {
    const row = el('span', { class: 'sc-time' }, el('input', { type: 'time', value, required: true }),
      el('button', { type: 'button', title: t('pg_delete'), onclick: () => { if ($('sc-times').children.length > 1) row.remove(); } }, '✕'));
    return row;
  };
  const dateChip = (value) => {
    const chip = el('span', { class: 'chip sc-date', 'data-date': value }, value,
      el('button', { type: 'button', class: 'remove', onclick: () => chip.remove() }, '×'));
    return chip;
  };
  const setDays = (days) => $('sc-days').querySelectorAll('input').forEach((i) => { i.checked = days.includes(i.value); });

  function where(target) {
    if (!target) return '';
    if (target.all) return t('all');
    const speaker = (id) => (agents().find((a) => a.id === id) || { name: id }).name;
    const area = (code) => areaName(code) || (agents().find((x) => x.area_code === code && x.area_name) || {}).area_name;
    return [...(target.areas || []).map((a) => (area(a) ? `${area(a)} (${a})` : a)), ...(target.agents || []).map(speaker),
      ...(target.groups || [])].join('、');
  }

  function openSchedule(s) {
    editingSchedule = s ? s.id : null;
    $('sc-editor').hidden = false;
    $('sc-editor-title').textContent = t(s ? 'pg_edit_schedule' : 'pg_new_schedule');
    const f = $('sc-form');
    f.reset();
    f.name.value = s ? s.name : '';
    $('sc-playlist').replaceChildren(...playlists.map((p) => el('option', { value: p.id, selected: s && s.playlist_id === p.id }, p.name)));
    $('sc-times').replaceChildren(...(s && s.times && s.times.length ? s.times : (s ? [] : ['07:00'])).map(timeInput));
    if (!$('sc-times').children.length) $('sc-times').append(timeInput('07:00'));
    setDays(s ? s.weekdays || [] : WORKDAYS);
    f.from.value = (s && s.from) || '';
    f.until.value = (s && s.until) || '';
    $('sc-dates').replaceChildren(...((s && s.dates) || []).map(dateChip));
    f.follow.checked = s ? s.holidays === 'follow' : true;
    f.priority.value = (s && s.priority) || 'scheduled';
    f.volume.value = s && s.volume !== undefined && s.volume !== null ? s.volume : '';
    f.preempt.value = (s && s.on_preempt) || 'resume';
    f.enabled.checked = s ? s.enabled !== false : true;
    f.cron.value = (s && s.cron) || '';
    $('sc-advanced').open = Boolean(s && s.cron);
    renderTargets($('sc-target'));
    const chosen = s ? [...(s.target.all ? ['all'] : []), ...(s.target.areas || []).map((a) => 'area:' + a), ...(s.target.agents || []).map((a) => 'agent:' + a)] : [];
    $('sc-target').querySelectorAll('input').forEach((i) => { i.checked = chosen.includes(i.value); });
    $('sc-status').textContent = '';
  }

  async function saveSchedule(ev) {
    ev.preventDefault();
    const f = $('sc-form');
    const body = {
      name: f.name.value.trim(), playlist_id: Number(f.playlist.value),
      weekdays: [...$('sc-days').querySelectorAll('input:checked')].map((i) => i.value),
      dates: [...$('sc-dates').children].map((c) => c.dataset.date),
      holidays: f.follow.checked ? 'follow' : 'ignore', priority: f.priority.value, on_preempt: f.preempt.value,
      enabled: f.enabled.checked, target: targetOf($('sc-target')) || { agents: [] },
    };
    if (body.weekdays.length === 7 || body.dates.length) body.weekdays = [];
    if (f.from.value && !body.dates.length) body.from = f.from.value;
    if (f.until.value && !body.dates.length) body.until = f.until.value;
    if (f.volume.value !== '') body.volume = Number(f.volume.value);
    if (f.cron.value.trim()) body.cron = f.cron.value.trim();
    else body.times = [...$('sc-times').querySelectorAll('input')].map((i) => i.value).filter(Boolean);
    try {
      const saved = editingSchedule
        ? await api('PUT', `/api/schedules/${editingSchedule}`, body)
        : await api('POST', '/api/schedules', body);
      $('sc-editor').hidden = true;
      $('programme-status').textContent = `${saved.name}: ${t('pg_saved')}` + (saved.held ? ` (${t('held')}: ${saved.held})` : '')
        + (saved.next_runs.length ? ` · ${t('pg_next')}: ${saved.next_runs.slice(0, 3).map((r) => r.local.replace('T', ' ').slice(5, 16)).join('、')}` : '');
      await render();
    } catch (e) { $('sc-status').textContent = e.message; }
  }

  function renderSchedules(schedules) {
    const byId = new Map(playlists.map((p) => [p.id, p.name]));
    $('schedule-table').replaceChildren(
      el('tr', {}, el('th', {}, t('name')), el('th', {}, t('pg_when')), el('th', {}, t('pg_playlist')), el('th', {}, t('pg_where')),
        el('th', {}, t('next_runs')), el('th', {}, '')),
      ...schedules.map((s) => el('tr', { 'data-schedule': s.id, class: s.enabled === false ? 'muted' : '' },
        el('td', {}, s.name, s.held ? el('small', { class: 'badge held-badge' }, t('pg_waiting')) : null,
          s.enabled === false ? el('small', { class: 'badge' }, t('pg_disabled')) : null,
          s.rejected_by ? el('small', { class: 'badge held-badge' }, `${t('pg_rejected')}: ${s.rejected_by}`) : null),
        el('td', { class: 'sc-when' }, describeWhen(s, t)),
        el('td', {}, byId.get(s.playlist_id) || `#${s.playlist_id}`),
        el('td', {}, where(s.target)),
        el('td', { class: 'sc-next' }, s.next_runs.map((r) => r.local.replace('T', ' ').slice(5, 16)).join(' · ')),
        el('td', { class: 'actions' },
          el('button', { type: 'button', onclick: () => openSchedule(s) }, t('pg_edit')),
          el('button', { type: 'button', onclick: () => removeThing(`/api/schedules/${s.id}`, s.name) }, t('pg_delete'))))));
  }

  // ---- Week view --------------------------------------------------------------------

  async function renderWeek(tree) {
    const sel = $('wk-area');
    const keep = sel.value;
    const options = [el('option', { value: '' }, t('pg_all_areas'))];
    const walk = (nodes, depth) => nodes.forEach((n) => {
      options.push(el('option', { value: n.code }, '\u3000'.repeat(depth) + (n.name || n.code)));
      walk(n.children || [], depth + 1);
    });
    walk(tree, 0);
    sel.replaceChildren(...options);
    sel.value = keep;
    weekFrom = weekFrom || today();
    $('wk-from').value = weekFrom;
    const q = new URLSearchParams({ from: weekFrom });
    if (sel.value) q.set('area', sel.value);
    const week = await api('GET', `/api/programme/week?${q}`);
    const clashes = week.runs.filter((r) => r.clashes.length).length;
    $('wk-summary').textContent = `${tn('pg_speakers_n', week.speakers)} · ${tn('pg_runs_n', week.runs.length)}`
      + (clashes ? ` · ${tn('pg_clashes_n', clashes)}` : '');
    $('wk-summary').classList.toggle('error', clashes > 0);
    const quiet = week.quiet.map((q) => `${t('pg_quiet')} ${q.start}–${q.end}` + (week.quiet.length > 1 ? ` (${q.area_name || q.area})` : ''));
    $('wk-grid').replaceChildren(...week.days.map((d, i) => {
      const runs = week.runs.filter((r) => r.day === i);
      const cal = d.calendar;
      return el('div', { class: 'wk-day' + (cal ? ' cal-' + cal.kind : ''), 'data-date': d.date },
        el('h4', {}, `${t('day_' + d.weekday)} ${d.date.slice(5)}`,
          cal ? el('span', { class: 'cal ' + cal.kind, title: cal.name }, `${t('pg_' + cal.kind)} ${cal.name}`) : null),
        ...quiet.map((q) => el('div', { class: 'wk-quiet' }, q)),
        ...(runs.length ? runs.map((r) => el('div', {
          class: 'wk-run' + (r.clashes.length ? ' clash' : '') + (r.held ? ' held-run' : '') + (r.speakers ? '' : ' silent'),
          'data-schedule': r.schedule_id,
        }, el('b', {}, r.start_local + (r.end_local !== r.start_local ? `–${r.end_local}` : '')), ' ', r.name,
        el('small', { class: 'wk-length' }, length((r.end - r.start) / 1000)),
        el('small', {}, `${r.playlist} · ${tn('pg_speakers_n', r.speakers)}`),
        r.quiet ? el('small', { class: 'wk-left-out' }, tn('pg_quiet_n', r.quiet)) : null,
        r.held ? el('small', {}, t('pg_waiting')) : null,
        r.problem ? el('small', { class: 'error' }, r.problem) : null,
        ...r.clashes.map((c) => el('small', { class: 'wk-clash' }, `⚠ ${t('pg_clash')}: ${t('pg_with')} ${c.name} ${c.start_local} (${tn('pg_speakers_n', c.speakers)})`))))
          : [el('div', { class: 'muted' }, t('pg_nothing'))]));
    }));
  }

  // ---- Quiet hours and holidays -----------------------------------------------------

  function quietRow(rule, areaOptions) {
    const row = el('tr', { class: 'qh-rule' },
      el('td', {}, el('select', { class: 'qh-area' }, ...areaOptions.map(([code, label]) => el('option', { value: code, selected: code === rule.area }, label)))),
      el('td', {}, el('input', { class: 'qh-start', type: 'time', value: rule.start })),
      el('td', {}, el('input', { class: 'qh-end', type: 'time', value: rule.end })),
      el('td', {}, el('button', { type: 'button', onclick: () => row.remove() }, '✕')));
    return row;
  }

  async function renderQuiet(tree) {
    const rules = await api('GET', '/api/quiet-hours');
    const areaOptions = [];
    const walk = (nodes, depth) => nodes.forEach((n) => { areaOptions.push([n.code, '\u3000'.repeat(depth) + (n.name ? `${n.name} (${n.code})` : n.code)]); walk(n.children || [], depth + 1); });
    walk(tree, 0);
    for (const r of rules) if (!areaOptions.some(([c]) => c === r.area)) areaOptions.push([r.area, areaName(r.area) || r.area]);
    $('qh-table').replaceChildren(el('tr', {}, el('th', {}, t('area')), el('th', {}, t('pg_start')), el('th', {}, t('pg_end')), el('th', {}, '')),
      ...rules.map((r) => quietRow(r, areaOptions)));
    $('qh-add').onclick = () => $('qh-table').append(quietRow({ area: areaOptions[0] ? areaOptions[0][0] : '', start: '22:00', end: '06:00' }, areaOptions));
    const mayEdit = admin();
    $('qh-add').hidden = !mayEdit; $('qh-save').hidden = !mayEdit; $('qh-readonly').hidden = mayEdit;
  }

  async function saveQuiet() {
    const rules = [...$('qh-table').querySelectorAll('tr.qh-rule')].map((r) => ({
      area: r.querySelector('.qh-area').value, start: r.querySelector('.qh-start').value, end: r.querySelector('.qh-end').value,
    }));
    try { await api('PUT', '/api/quiet-hours', rules); $('qh-status').textContent = t('pg_saved'); await render(); } catch (e) { $('qh-status').textContent = e.message; }
  }

  async function renderHolidays() {
    const cal = await api('GET', '/api/holidays');
    $('hd-text').value = cal.days.map((d) => `${d.date} ${d.kind === 'holiday' ? '休' : '班'} ${d.name}`.trim()).join('\n');
    $('hd-save').hidden = !admin();
    $('hd-text').readOnly = !admin();
  }

  async function saveHolidays() {
    const days = [];
    const lines = $('hd-text').value.split('\n');
    for (let n = 0; n < lines.length; n += 1) {
      const line = lines[n].trim();
      if (!line) continue;
      const [date, kind, ...name] = line.split(/\s+/);
      const k = { 休: 'holiday', holiday: 'holiday', 班: 'workday', workday: 'workday' }[kind];
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !k) { $('hd-status').textContent = `${tn('pg_line', n + 1)}: ${t('pg_bad_line')}`; return; }
      days.push({ date, kind: k, name: name.join(' ') });
    }
    try { await api('PUT', '/api/holidays', { days }); $('hd-status').textContent = t('pg_saved'); await render(); } catch (e) { $('hd-status').textContent = e.message; }
  }

  // ---- The page ---------------------------------------------------------------------

  async function render() {
    let schedules; let tree;
    [playlists, schedules, media, tree] = await Promise.all([api('GET', '/api/playlists'), api('GET', '/api/schedules'),
      api('GET', '/api/media'), api('GET', '/api/areas')]);
    const walk = (nodes) => nodes.forEach((n) => { if (n.name) names.set(n.code, n.name); walk(n.children || []); });
    walk(tree);
    renderPlaylists();
    renderSchedules(schedules);
    await Promise.all([renderWeek(tree), renderQuiet(tree), renderHolidays()]);
  }

  $('pl-new').addEventListener('click', () => openPlaylist(null));
  $('pl-add-media').addEventListener('click', () => { $('pl-items').append(itemRow({ media_id: ready()[0] && ready()[0].id })); total(); });
  $('pl-add-text').addEventListener('click', () => { const li = itemRow({ text: '' }); $('pl-items').append(li); li.querySelector('input').focus(); total(); });
  $('pl-jingle').addEventListener('change', total);
  $('pl-save').addEventListener('click', savePlaylist);
  $('pl-cancel').addEventListener('click', () => { $('pl-editor').hidden = true; });
  $('sc-new').addEventListener('click', () => openSchedule(null));
  $('sc-add-time').addEventListener('click', () => $('sc-times').append(timeInput('12:00')));
  $('sc-add-date').addEventListener('click', () => { const v = $('sc-date').value; if (v && !$('sc-dates').querySelector(`[data-date="${v}"]`)) $('sc-dates').append(dateChip(v)); });
  $('sc-every-day').addEventListener('click', () => setDays(DAYS));
  $('sc-workdays').addEventListener('click', () => setDays(WORKDAYS));
  $('sc-weekend').addEventListener('click', () => setDays(['sat', 'sun']));
  $('sc-form').addEventListener('submit', saveSchedule);
  $('sc-cancel').addEventListener('click', () => { $('sc-editor').hidden = true; });
  $('wk-area').addEventListener('change', () => render());
  $('wk-from').addEventListener('change', () => { weekFrom = $('wk-from').value || today(); render(); });
  $('wk-prev').addEventListener('click', () => { weekFrom = addDays(weekFrom || today(), -7); render(); });
  $('wk-next').addEventListener('click', () => { weekFrom = addDays(weekFrom || today(), 7); render(); });
  $('qh-save').addEventListener('click', saveQuiet);
  $('hd-save').addEventListener('click', saveHolidays);
  $('sc-days').replaceChildren(...DAYS.map((d) => el('label', { class: 'chip' }, el('input', { type: 'checkbox', value: d }), el('span', { 'data-t': 'day_' + d }, t('day_' + d)))));

  return { render };
}
