// Accounts: the admin's users page (create a user with a role and areas chosen by name,
// change a role or areas, disable, give a new password), the admin's audit log (filtered
// by user, action, area and date; CSV export), and every user's own password.

export const STRINGS = {
  zh: {
    users_page: '用户管理', audit_page: '操作日志', my_account: '修改密码', add_user: '新建用户', role: '角色',
    user_areas: '负责区域', add_area: '加入', no_areas: '（全部区域）', disable: '停用', enable: '启用',
    disabled: '已停用', new_password: '重置密码', password_once: '{name} 的密码：{p}（只显示这一次，请转交本人，首次登录后修改）',
    current_password: '当前密码', new_password_1: '新密码（至少 12 个字符）', new_password_2: '再输入一次新密码',
    change: '修改', passwords_differ: '两次输入的新密码不一样', password_changed: '密码已修改，请用新密码重新登录。',
    action: '操作', result: '结果', source: '来源', from_date: '从', to_date: '到', any_user: '全部用户',
    any_area: '全部区域', action_hint: '包含的文字，例：users、broadcasts、POST', filter: '查询', export_csv: '导出 CSV',
    records: '{n} 条记录', saved: '已保存',
  },
  en: {
    users_page: 'Users', audit_page: 'Audit log', my_account: 'My password', add_user: 'New user', role: 'role',
    user_areas: 'areas', add_area: 'Add', no_areas: '(every area)', disable: 'Disable', enable: 'Enable',
    disabled: 'disabled', new_password: 'New password', password_once: 'Password for {name}: {p} (shown only now; hand it over, to be changed at the first login)',
    current_password: 'current password', new_password_1: 'new password (12 characters or more)', new_password_2: 'the new password again',
    change: 'Change', passwords_differ: 'The two new passwords differ', password_changed: 'Password changed: log in again with the new one.',
    action: 'action', result: 'result', source: 'from', from_date: 'from', to_date: 'to', any_user: 'every user',
    any_area: 'every area', action_hint: 'text it contains, e.g. users, broadcasts, POST', filter: 'Search', export_csv: 'Export CSV',
    records: '{n} records', saved: 'saved',
  },
};

const ROLES = ['admin', 'operator', 'village_head', 'viewer'];

// A password for the admin to hand over: 16 letters and digits from the browser's
// cryptographic generator (the controller checks it like any other).
function randomPassword() {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

// `ctx`: { api, el, $, t, me(), logout(), download(path, name) }.
export function accountsPage({ api, el, $, t, me, logout, download }) {
  let areas = [];   // [{ code, label }], every area with speakers, names first
  let users = [];

  // The area tree as one list, each area by its name with its parents (县 › 镇 › 村).
  async function loadAreas() {
    const tree = await api('GET', '/api/areas');
    areas = [];
    const walk = (nodes, path) => {
      for (const n of nodes) {
        const name = n.name || n.code;
        const label = path.length ? `${path.join(' › ')} › ${name}` : name;
        areas.push({ code: n.code, label });
        walk(n.children, [...path, name]);
      }
    };
    walk(tree, []);
  }
  const areaLabel = (code) => (areas.find((a) => a.code === code) || { label: code }).label;
  const areaOptions = (first) => [el('option', { value: '' }, first),
    ...areas.map((a) => el('option', { value: a.code }, `${a.label} (${a.code})`))];

  // Chips for `scopes`, each with a × that removes it, and a chooser that adds one.
  function scopeEditor(scopes, onChange) {
    const select = el('select', { class: 'area-choice' }, ...areaOptions(''));
    return el('span', { class: 'scopes' },
      scopes.length ? scopes.map((code) => el('span', { class: 'chip', 'data-code': code }, areaLabel(code),
        el('button', { type: 'button', class: 'remove', title: code, onclick: () => onChange(scopes.filter((c) => c !== code)) }, '×')))
        : el('span', { class: 'muted' }, t('no_areas')),
      select,
      el('button', { type: 'button', class: 'add-area', onclick: () => { if (select.value && !scopes.includes(select.value)) onChange([...scopes, select.value]); } }, t('add_area')));
  }

  async function patch(u, body, said) {
    try {
      await api('PATCH', `/api/users/${u.id}`, body);
      $('us-status').textContent = said || `${u.name}: ${t('saved')}`;
    } catch (e) {
      $('us-status').textContent = `${u.name}: ${e.message}`;
    }
    await renderUsers();
  }

  async function renderUsers() {
    await loadAreas();
    users = await api('GET', '/api/users');
    $('us-table').replaceChildren(
      el('tr', {}, el('th', {}, t('user')), el('th', {}, t('role')), el('th', {}, t('user_areas')), el('th', {}, t('state')), el('th', {}, '')),
      ...users.map((u) => el('tr', { id: 'user-' + u.name, class: u.disabled ? 'retired' : '' },
        el('td', {}, u.name),
        el('td', {}, el('select', { class: 'role', onchange: (e) => patch(u, { role: e.target.value }) },
          ROLES.map((r) => el('option', { value: r, selected: r === u.role }, t('role_' + r))))),
        el('td', {}, scopeEditor(u.scopes, (scopes) => patch(u, { scopes }))),
        el('td', {}, u.disabled ? t('disabled') : ''),
        el('td', {},
          el('button', { type: 'button', class: 'toggle', onclick: () => patch(u, { disabled: !u.disabled }) }, u.disabled ? t('enable') : t('disable')),
          el('button', { type: 'button', class: 'reset', onclick: () => {
            const p = randomPassword();
            patch(u, { password: p }, t('password_once').replace('{name}', u.name).replace('{p}', p));
          } }, t('new_password'))))));
    // The new user's form keeps what was chosen.
    const chosen = [...$('us-areas').querySelectorAll('[data-code]')].map((c) => c.dataset.code);
    drawNewScopes(chosen);
    $('us-role').replaceChildren(...ROLES.map((r) => el('option', { value: r, selected: r === ($('us-role').value || 'operator') }, t('role_' + r))));
  }

  function drawNewScopes(scopes) {
    $('us-areas').replaceChildren(scopeEditor(scopes, drawNewScopes));
  }

  async function createUser(ev) {
    ev.preventDefault();
    const f = ev.target;
    const scopes = [...$('us-areas').querySelectorAll('[data-code]')].map((c) => c.dataset.code);
    try {
      const made = await api('POST', '/api/users', { name: f.name.value.trim(), role: $('us-role').value, scopes });
      $('us-created').textContent = t('password_once').replace('{name}', made.name).replace('{p}', made.password);
      f.reset();
      drawNewScopes([]);
      await renderUsers();
    } catch (e) {
      $('us-created').textContent = e.message;
    }
  }

  // The filters as a query string; dates are this browser's local days.
  function auditQuery(format) {
    const q = new URLSearchParams({ limit: '1000' });
    const user = $('au-user').value;
    const action = $('au-action').value.trim();
    const area = $('au-area').value;
    if (user) q.set('user', user);
    if (action) q.set('action', action);
    if (area) q.set('target', area);
    if ($('au-from').value) q.set('since', String(new Date($('au-from').value + 'T00:00').getTime() * 1000));
    if ($('au-to').value) q.set('until', String((new Date($('au-to').value + 'T00:00').getTime() + 86400000) * 1000));
    if (format) q.set('format', format);
    return '/api/audit?' + q;
  }

  async function renderAudit() {
    if (!$('au-user').options.length) {
      await loadAreas();
      users = await api('GET', '/api/users');
      $('au-user').replaceChildren(el('option', { value: '' }, t('any_user')), ...users.map((u) => el('option', { value: u.name }, u.name)));
      $('au-area').replaceChildren(...areaOptions(t('any_area')));
    }
    const log = await api('GET', auditQuery());
    $('au-count').textContent = t('records').replace('{n}', log.length);
    $('au-table').replaceChildren(
      el('tr', {}, el('th', {}, t('time')), el('th', {}, t('user')), el('th', {}, t('action')), el('th', {}, t('target')), el('th', {}, t('result')), el('th', {}, t('source'))),
      ...log.map((r) => el('tr', { id: 'audit-' + r.id },
        el('td', {}, new Date(r.at / 1000).toLocaleString(document.documentElement.lang)),
        el('td', {}, r.user), el('td', {}, r.action), el('td', { class: 'aimed' }, r.target || ''),
        el('td', {}, r.result), el('td', {}, r.source || ''))));
  }

  async function exportCsv() {
    try {
      await download(auditQuery('csv'), 'dalaba-audit.csv');
    } catch (e) {
      $('au-count').textContent = e.message;
    }
  }

  async function changePassword(ev) {
    ev.preventDefault();
    const f = ev.target;
    if (f.new1.value !== f.new2.value) { $('pw-status').textContent = t('passwords_differ'); return; }
    try {
      await api('POST', '/api/me/password', { current: f.current.value, new: f.new1.value });
      f.reset();
      $('pw-status').textContent = '';
      logout();
      $('login-error').textContent = t('password_changed');
    } catch (e) {
      $('pw-status').textContent = e.message;
    }
  }

  $('us-form').addEventListener('submit', createUser);
  $('au-form').addEventListener('submit', (ev) => { ev.preventDefault(); renderAudit(); });
  $('au-csv').addEventListener('click', exportCsv);
  $('pw-form').addEventListener('submit', changePassword);
  return { renderUsers, renderAudit, isAdmin: () => me() && me().role === 'admin' };
}
