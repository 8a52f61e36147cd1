// The approvals queue (待审批): broadcasts held for a second person by the rule, each with
// who asked, what, to where, and why it is held; approved (sent at once) or turned down
// (never sent) with one press, or withdrawn by its author. The header counts them on every
// page. An admin sets the rule here too.

import { describeWhen } from '/console/programme.js';

export const STRINGS = {
  zh: {
    approvals_page: '待审批', asked_by: '申请人', what: '内容', why_held: '需要审批的原因', approve: '批准', reject: '驳回',
    withdraw: '撤回', nothing_waiting: '没有待审批的广播', approved_sent: '已批准并发送', rejected_done: '已驳回',
    approval_rule: '审批规则', rule_all: '发给全部喇叭的需要审批', rule_prefix: '目标范围达到', rule_prefix_off: '不按范围',
    rule_prefix_2: '一个省及以上', rule_prefix_4: '一个市及以上', rule_prefix_6: '一个县及以上', rule_prefix_9: '一个乡镇及以上',
    rule_speakers: '喇叭数达到（0 为不限）', rule_quiet: '静音时段内的日常内容需要审批', media_item: '媒体 #{id}', schedule_item: '定时任务',
  },
  en: {
    approvals_page: 'Approvals', asked_by: 'asked by', what: 'what', why_held: 'why it waits', approve: 'Approve', reject: 'Turn down',
    withdraw: 'Withdraw', nothing_waiting: 'Nothing waits for approval', approved_sent: 'approved and sent', rejected_done: 'turned down',
    approval_rule: 'Approval rule', rule_all: 'Broadcasts to every speaker wait', rule_prefix: 'A target as wide as', rule_prefix_off: 'any width',
    rule_prefix_2: 'a province or wider', rule_prefix_4: 'a city or wider', rule_prefix_6: 'a county or wider', rule_prefix_9: 'a township or wider',
    rule_speakers: 'speakers reached (0: any number)', rule_quiet: 'Daily content during quiet hours waits', media_item: 'media #{id}', schedule_item: 'schedule',
  },
};

// `ctx`: { api, el, $, t, me() }.
export function approvalsPage({ api, el, $, t, me }) {
  const when = (us) => new Date(us / 1000).toLocaleString(document.documentElement.lang);
  let mediaNames = new Map();

  // What waits: held broadcasts, and held schedules (by the rule, or their playlist
  // changed after approval).
  async function count() {
    const [held, schedules] = await Promise.all([api('GET', '/api/broadcasts?held=true'), api('GET', '/api/schedules')]);
    const heldSchedules = schedules.filter((x) => x.held);
    const n = held.length + heldSchedules.length;
    $('approval-count').textContent = n ? String(n) : '';
    $('approval-count').hidden = !n;
    return [held, heldSchedules];
  }

  async function act(path, label, verb) {
    try {
      await api('POST', `${path}/${verb}`);
      $('ap-status').textContent = `${label}: ${t(verb === 'approve' ? 'approved_sent' : 'rejected_done')}`;
    } catch (e) {
      $('ap-status').textContent = `${label}: ${e.message}`;
    }
    await render();
  }

  const buttons = (mine, path, label) => el('td', {},
    mine ? null : el('button', { type: 'button', class: 'approve', onclick: () => act(path, label, 'approve') }, t('approve')),
    el('button', { type: 'button', class: 'reject', onclick: () => act(path, label, 'reject') }, mine ? t('withdraw') : t('reject')));

  async function render() {
    const [[held, heldSchedules], media, tree, playlists] = await Promise.all([count(), api('GET', '/api/media'), api('GET', '/api/areas'),
      api('GET', '/api/playlists')]);
    const playlistNames = new Map(playlists.map((p) => [p.id, p.name]));
    mediaNames = new Map(media.map((m) => [m.id, m.name]));
    // Areas by name (the tree has every area with speakers).
    const areaNames = new Map();
    const walk = (nodes) => nodes.forEach((n) => { if (n.name) areaNames.set(n.code, n.name); walk(n.children); });
    walk(tree);
    const areaLabel = (code) => (areaNames.has(code) ? `${areaNames.get(code)} (${code})` : code);
    const target = (b) => b.target && b.target.all ? t('all') : [
      ...((b.target && b.target.areas) || []).map(areaLabel), ...((b.target && b.target.agents) || []), ...((b.target && b.target.groups) || []),
    ].join(', ');
    $('ap-table').replaceChildren(
      el('tr', {}, el('th', {}, '#'), el('th', {}, t('time')), el('th', {}, t('asked_by')), el('th', {}, t('what')),
        el('th', {}, t('target')), el('th', {}, t('why_held')), el('th', {}, '')),
      ...held.map((b) => {
        const mine = me() && b.created_by === me().id;
        return el('tr', { id: 'held-' + b.id },
          el('td', {}, b.id),
          el('td', {}, when(b.created_at)),
          el('td', {}, b.created_by_name || ''),
          el('td', {}, mediaNames.get(b.media_id) || t('media_item').replace('{id}', b.media_id)),
          el('td', {}, `${target(b)} · ${b.agents.length} ${t('speakers')}`),
          el('td', { class: 'why' }, b.held),
          buttons(mine, `/api/broadcasts/${b.id}`, `#${b.id}`));
      }),
      ...heldSchedules.map((x) => el('tr', { id: 'held-schedule-' + x.id, class: 'schedule' },
        el('td', {}, t('schedule_item')),
        el('td', {}, when(x.updated_at)),
        el('td', {}, x.created_by_name || ''),
        el('td', {}, `${x.name}: ${describeWhen(x, t)} · ${playlistNames.get(x.playlist_id) || '#' + x.playlist_id}`),
        el('td', {}, target(x)),
        el('td', { class: 'why' }, x.held),
        buttons(me() && x.created_by === me().id, `/api/schedules/${x.id}`, x.name))));
    $('ap-empty').hidden = held.length + heldSchedules.length > 0;
    const admin = me() && me().role === 'admin';
    $('ap-rule-card').hidden = !admin;
    if (admin && !$('ap-rule').dataset.loaded) await loadRule();
  }

  async function loadRule() {
    const r = await api('GET', '/api/settings/approval');
    const f = $('ap-rule');
    f.all_targets.checked = r.all_targets;
    f.max_prefix_digits.replaceChildren(...[0, 2, 4, 6, 9].map((n) =>
      el('option', { value: n, selected: n === r.max_prefix_digits }, t(n ? `rule_prefix_${n}` : 'rule_prefix_off'))));
    f.min_speakers.value = r.min_speakers;
    f.quiet_hours.checked = r.quiet_hours;
    f.dataset.loaded = '1';
  }

  async function saveRule(ev) {
    ev.preventDefault();
    const f = ev.target;
    try {
      await api('PUT', '/api/settings/approval', {
        all_targets: f.all_targets.checked, max_prefix_digits: Number(f.max_prefix_digits.value),
        min_speakers: Number(f.min_speakers.value), quiet_hours: f.quiet_hours.checked,
      });
      $('ap-rule-status').textContent = t('saved');
    } catch (e) {
      $('ap-rule-status').textContent = e.message;
    }
  }

  $('ap-rule').addEventListener('submit', saveRule);
  return { render, count };
}
