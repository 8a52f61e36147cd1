// The speech settings card (administrators): engine, default voices, rate, time limit and
// the pronunciation lexicon, read from and saved to /api/settings/tts.

export const STRINGS = {
  zh: {
    speech_settings: '语音设置', engine: '引擎', engine_espeak: 'eSpeak NG（内置，离线）',
    engine_command: '外部程序', engine_http: '语音服务器（HTTP）', program: '程序', args: '参数（空格分隔）',
    server_url: '服务器地址', default_voices: '默认播音', rate: '语速（词/分钟，80–300）',
    timeout: '超时（秒）', lexicon: '读音词典（每行一条：写法=读法，例：长沙=常沙）', save: '保存', saved: '已保存',
    lexicon_line: '第 {n} 行应为“写法=读法”',
  },
  en: {
    speech_settings: 'Speech settings', engine: 'engine', engine_espeak: 'eSpeak NG (built in, offline)',
    engine_command: 'a program', engine_http: 'a speech server (HTTP)', program: 'program', args: 'arguments (space-separated)',
    server_url: 'server URL', default_voices: 'default voices', rate: 'rate (words a minute, 80–300)',
    timeout: 'time limit (s)', lexicon: 'lexicon (one per line: written=read, e.g. 长沙=常沙)', save: 'Save', saved: 'saved',
    lexicon_line: 'line {n} should be “written=read”',
  },
};

const VOICES = [['mandarin', 'voice_mandarin'], ['cantonese', 'voice_cantonese'], ['mandarin,cantonese', 'voice_both']];

// `ctx`: { api, el, $, t }.
export function speechSettings(ctx) {
  const { api, el, $, t } = ctx;

  function showEngine() {
    const kind = $('ts-engine').value;
    $('ts-command').hidden = kind !== 'command';
    $('ts-http').hidden = kind !== 'http';
  }

  async function render() {
    const s = await api('GET', '/api/settings/tts');
    $('ts-engine').replaceChildren(...['espeak', 'command', 'http'].map((k) => el('option', { value: k }, t('engine_' + k))));
    $('ts-voices').replaceChildren(...VOICES.map(([v, k]) => el('option', { value: v }, t(k))));
    $('ts-engine').value = s.engine.kind;
    $('ts-program').value = s.engine.program || '';
    $('ts-args').value = (s.engine.args || []).join(' ');
    $('ts-url').value = s.engine.url || '';
    $('ts-voices').value = s.voices.join(',');
    $('ts-rate').value = s.rate_wpm;
    $('ts-timeout').value = s.timeout_s;
    $('ts-lexicon').value = s.lexicon.map(([from, to]) => `${from}=${to}`).join('\n');
    showEngine();
  }

  async function save() {
    const status = $('ts-status');
    const lexicon = [];
    const lines = $('ts-lexicon').value.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line) continue;
      const at = line.indexOf('=');
      if (at < 1) { status.textContent = t('lexicon_line').replace('{n}', i + 1); return; }
      lexicon.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
    }
    const kind = $('ts-engine').value;
    const engine = kind === 'command'
      ? { kind, program: $('ts-program').value.trim(), args: $('ts-args').value.split(/\s+/).filter(Boolean) }
      : kind === 'http' ? { kind, url: $('ts-url').value.trim() } : { kind };
    try {
      await api('PUT', '/api/settings/tts', {
        engine,
        voices: $('ts-voices').value.split(','),
        rate_wpm: Number($('ts-rate').value),
        timeout_s: Number($('ts-timeout').value),
        lexicon,
      });
      status.textContent = t('saved');
    } catch (e) {
      status.textContent = e.message;
    }
  }

  $('ts-engine').addEventListener('change', showEngine);
  $('ts-save').addEventListener('click', save);
  return {
    // Shown to administrators only (the API refuses others the change anyway).
    async render(me) {
      $('tts-settings').hidden = !me || me.role !== 'admin';
      if (!$('tts-settings').hidden && !$('tts-settings').dataset.loaded) {
        $('tts-settings').dataset.loaded = '1';
        await render();
      }
    },
    reload: render,
  };
}
