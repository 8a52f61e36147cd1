// Equipment alarms (设备告警): speakers offline too long, reporting a fault, or with a clock
// off. The page lists them (active first), each acknowledged with one press; the header
// shows how many are active and not yet acknowledged, on every page; an admin sets the
// thresholds and the webhooks (group-chat bots) alarms are sent to.

export const STRINGS = {
  zh: {
    alarms_page: '设备告警', alarm_kind_offline: '离线', alarm_kind_fault: '故障', alarm_kind_clock: '时钟偏差', alarm_kind_broadcast_failed: '播放失败',
    raised: '发生时间', speaker: '喇叭', detail: '详情', active: '未恢复', cleared_at: '{t} 恢复',
    acknowledge: '确认', acked: '{u} 于 {t} 确认', no_alarms: '没有告警', alarm_settings: '告警设置',
    offline_after: '离线多少分钟后告警', clock_limit: '时钟偏差超过（毫秒）', webhooks: '通知群机器人 / Webhook',
    hook_url: '地址', hook_format: '类型', hook_secret: '加签密钥（可空）', add_hook: '添加', remove: '删除', save: '保存',
    saved_settings: '已保存',
  },
  en: {
    alarms_page: 'Alarms', alarm_kind_offline: 'offline', alarm_kind_fault: 'fault', alarm_kind_clock: 'clock off', alarm_kind_broadcast_failed: 'broadcast failed',
    raised: 'raised', speaker: 'speaker', detail: 'detail', active: 'active', cleared_at: 'cleared {t}',
    acknowledge: 'Acknowledge', acked: 'acknowledged by {u} at {t}', no_alarms: 'No alarms', alarm_settings: 'Alarm settings',
    offline_after: 'minutes offline before an alarm', clock_limit: 'clock offset limit (ms)', webhooks: 'Group bots / webhooks',
    hook_url: 'address', hook_format: 'kind', hook_secret: 'signing secret (optional)', add_hook: 'Add', remove: 'Remove', save: 'Save',
    saved_settings: 'saved',
  },
};

const FORMATS = [['dingtalk', '钉钉 DingTalk'], ['wecom', '企业微信 WeCom'], ['feishu', '飞书 Feishu'], ['json', 'JSON']];

// `ctx`: { api, el, $, t, me() }.
export function alarmsPage({ api, el, $, t, me }) {
  const when = (us) => new Date(us / 1000).toLocaleString(document.documentElement.lang);

  // The header's count: active alarms nobody has acknowledged yet.
  async function count() {
    const list = await api('GET', '/api/alarms');
    const open = list.filter((a) => !a.cleared_at && !a.acked_at).length;
    $('alarm-count').textContent = open ? String(open) : '';
    $('alarm-count').hidden = !open;
    return list;
  }

  async function render() {
    const list = await count();
    $('alm-table').replaceChildren(
      el('tr', {}, el('th', {}, t('raised')), el('th', {}, t('speaker')), el('th', {}, t('kind')), el('th', {}, t('detail')), el('th', {}, t('state')), el('th', {}, '')),
      ...list.map((a) => el('tr', { id: 'alarm-' + a.id, class: a.cleared_at ? 'cleared' : 'active' },
        el('td', {}, when(a.raised_at)),
        el('td', {}, a.area_name ? `${a.area_name} · ` : '', el('b', {}, a.agent_name), ` (${a.agent_id})`),
        el('td', {}, el('span', { class: 'chip kind-' + a.kind }, t('alarm_kind_' + a.kind))),
        el('td', {}, a.detail || ''),
        el('td', {}, a.cleared_at ? t('cleared_at').replace('{t}', when(a.cleared_at)) : t('active')),
        el('td', {}, a.acked_at
          ? t('acked').replace('{u}', a.acked_by).replace('{t}', when(a.acked_at))
          : el('button', { type: 'button', class: 'ack', onclick: async () => { await api('POST', `/api/alarms/${a.id}/ack`); render(); } }, t('acknowledge'))))));
    $('alm-empty').hidden = list.length > 0;
    const admin = me() && me().role === 'admin';
    $('alm-settings').hidden = !admin;
    if (admin && !$('alm-form').dataset.loaded) await loadSettings();
  }

  // The settings form: thresholds, and one line per webhook.
  function hookLine(h = { url: '', format: 'dingtalk', secret: null }) {
    return el('div', { class: 'row hook' },
      el('label', {}, el('span', {}, t('hook_url')), el('input', { name: 'url', value: h.url, size: 48, required: true })),
      el('label', {}, el('span', {}, t('hook_format')), el('select', { name: 'format' }, FORMATS.map(([v, label]) => el('option', { value: v, selected: v === h.format }, label)))),
      el('label', {}, el('span', {}, t('hook_secret')), el('input', { name: 'secret', value: h.secret || '' })),
      el('button', { type: 'button', onclick: (e) => e.target.closest('.hook').remove() }, t('remove')));
  }

  async function loadSettings() {
    const s = await api('GET', '/api/settings/alarms');
    const f = $('alm-form');
    f.offline.value = Math.max(1, Math.round(s.offline_after_s / 60));
    f.dataset.minutes = f.offline.value;
    f.dataset.seconds = String(s.offline_after_s);
    f.clock.value = s.clock_offset_ms;
    $('alm-hooks').replaceChildren(...s.webhooks.map(hookLine));
    f.dataset.loaded = '1';
  }

  async function save(ev) {
    ev.preventDefault();
    const f = ev.target;
    const webhooks = [...$('alm-hooks').querySelectorAll('.hook')].map((h) => ({
      url: h.querySelector('[name=url]').value.trim(),
      format: h.querySelector('[name=format]').value,
      secret: h.querySelector('[name=secret]').value.trim() || null,
    }));
    // Minutes in the form; seconds kept as they were when the minutes did not change.
    const minutes = Number(f.offline.value);
    const seconds = Number(f.dataset.minutes) === minutes ? Number(f.dataset.seconds) : minutes * 60;
    try {
      await api('PUT', '/api/settings/alarms', { offline_after_s: seconds, clock_offset_ms: Number(f.clock.value), webhooks });
      $('alm-status').textContent = t('saved_settings');
      f.dataset.loaded = '';
      await loadSettings();
    } catch (e) {
      $('alm-status').textContent = e.message;
    }
  }

  $('alm-form').addEventListener('submit', save);
  $('alm-add-hook').addEventListener('click', () => $('alm-hooks').append(hookLine()));
  return { render, count };
}
