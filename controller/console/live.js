// A live call from the browser: microphone → Opus (WebCodecs AudioEncoder) → the
// controller's live-source WebSocket, one 24-byte header + Opus packet per message
// (PROTOCOL.md section 8). The controller relays the frames unchanged to the agents,
// which play each frame at capture time + latency, all in step.
//
// Capture times are controller time: the page estimates the controller's clock with
// ping/pong on the source socket (the exchange with the smallest round trip wins).

const FRAME = 960; // 20 ms at 48 kHz

export function liveSupported() {
  return typeof window.AudioEncoder === 'function' &&
    !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) &&
    typeof window.AudioWorkletNode === 'function';
}

function nowUs() {
  return (performance.timeOrigin + performance.now()) * 1000;
}

export class LiveCall {
  // api(method, path, body) → JSON; token: the session token; target: a Target;
  // onLevel(0..1); onState(text); onHeard(broadcast): who hears the call, each time a
  // speaker's receipt changes (the broadcast as `GET /api/broadcasts/{id}` gives it: only
  // its `receipt_counts` for a call to more than `countsAbove` speakers).
  constructor({ api, token, target, latencyMs, onLevel, onState, onHeard, countsAbove = Infinity }) {
    this.api = api;
    this.token = token;
    this.target = target;
    this.latencyMs = latencyMs;
    this.onLevel = onLevel || (() => {});
    this.onState = onState || (() => {});
    this.onHeard = onHeard || (() => {});
    this.countsAbove = countsAbove;
    this.seq = 0;
    this.sent = 0;
    this.offsetUs = 0;
    this.pending = new Float32Array(FRAME);
    this.filled = 0;
    this.samples = 0;
    this.stopped = false;
  }

  async start() {
    const body = { target: this.target };
    if (this.latencyMs) body.latency_ms = this.latencyMs;
    const call = await this.api('POST', '/api/live', body);
    this.id = call.id;
    this.streamId = call.stream_id;
    this.agents = call.agents;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(`${scheme}//${location.host}${call.source_url}`,
      ['dalaba', 'bearer.' + this.token]);
    this.ws.binaryType = 'arraybuffer';
    await new Promise((ok, fail) => {
      this.ws.onopen = ok;
      this.ws.onerror = () => fail(new Error('the live connection was refused'));
    });
    this.ws.onclose = () => { if (!this.stopped) this.onState('closed'); };
    await this.syncClock();
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.ctx = new AudioContext({ sampleRate: 48000 });
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    source.connect(this.analyser);
    const tap = 'class Tap extends AudioWorkletProcessor {' +
      ' process(inputs) { const c = inputs[0] && inputs[0][0]; if (c) this.port.postMessage(c.slice(0)); return true; } }' +
      ' registerProcessor("dalaba-tap", Tap);';
    await this.ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([tap], { type: 'application/javascript' })));
    this.node = new AudioWorkletNode(this.ctx, 'dalaba-tap');
    const mute = this.ctx.createGain();
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(this.ctx.destination);
    this.encoder = new AudioEncoder({
      output: (chunk) => this.send(chunk),
      error: (e) => this.onState('encoder error: ' + e.message),
    });
    this.encoder.configure({
      codec: 'opus', sampleRate: 48000, numberOfChannels: 1, bitrate: 24000,
      opus: { frameDuration: 20000, useinbandfec: true, packetlossperc: 5 },
    });
    this.node.port.onmessage = (e) => this.capture(e.data);
    this.meter = setInterval(() => this.onLevel(this.level()), 50);
    this.onState('live');
    this.follow();
  }

  // Who hears the call: its receipts, long-polled (the controller answers as soon as one
  // changes) while it lasts, and until every speaker's is final once it has ended.
  async follow() {
    const counts = this.agents.length > this.countsAbove ? '&counts=true' : '';
    for (let after = 0; after < 10;) {
      let b;
      try {
        b = await this.api('GET', `/api/broadcasts/${this.id}?wait_ms=2000${counts}`);
      } catch (_) {
        return; // the call's page is gone or the session ended: nothing to show
      }
      this.onHeard(b);
      if (this.stopped) {
        if (b.final) return;
        after += 1;
      }
    }
  }

  // Controller time = local time + offset; the exchange with the smallest round trip.
  async syncClock() {
    let best = null;
    for (let i = 0; i < 8; i++) {
      const t1 = Math.round(nowUs());
      const pong = await new Promise((ok) => {
        const timer = setTimeout(() => ok(null), 1000);
        this.ws.onmessage = (m) => {
          if (typeof m.data !== 'string') return;
          const p = JSON.parse(m.data);
          if (p.type === 'pong' && p.id === i) { clearTimeout(timer); ok(p); }
        };
        this.ws.send(JSON.stringify({ type: 'ping', id: i, t1 }));
      });
      if (!pong) continue;
      const t4 = nowUs();
      const rtt = (t4 - t1) - (pong.t3 - pong.t2);
      const offset = ((pong.t2 - t1) + (pong.t3 - t4)) / 2;
      if (!best || rtt < best.rtt) best = { rtt, offset };
    }
    this.offsetUs = best ? best.offset : 0;
    this.ws.onmessage = null;
  }

  level() {
    const buf = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const s of buf) sum += s * s;
    // RMS on a dB scale from −60 dBFS (0) to 0 dBFS (1).
    const db = 10 * Math.log10(sum / buf.length + 1e-12);
    return Math.max(0, Math.min(1, (db + 60) / 60));
  }

  capture(block) {
    if (this.stopped) return;
    if (this.t0 === undefined) {
      // The block just arrived: its first sample was captured one block ago.
      this.t0 = nowUs() + this.offsetUs - (block.length / 48000) * 1e6;
    }
    let i = 0;
    while (i < block.length) {
      const n = Math.min(FRAME - this.filled, block.length - i);
      this.pending.set(block.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === FRAME) {
        const data = new AudioData({
          format: 'f32-planar', sampleRate: 48000, numberOfFrames: FRAME, numberOfChannels: 1,
          timestamp: Math.round(this.t0 + (this.samples / 48000) * 1e6), data: this.pending,
        });
        this.encoder.encode(data);
        data.close();
        this.samples += FRAME;
        this.filled = 0;
        this.pending = new Float32Array(FRAME);
      }
    }
  }

  frame(flags, capture, samples, payload) {
    const buf = new ArrayBuffer(24 + payload.length);
    const v = new DataView(buf);
    v.setUint8(0, 0x44); v.setUint8(1, 0x4c); v.setUint8(2, 1); v.setUint8(3, flags);
    v.setUint32(4, this.streamId >>> 0);
    v.setUint32(8, this.seq >>> 0);
    v.setBigUint64(12, BigInt(Math.max(0, Math.round(capture))));
    v.setUint16(20, samples);
    v.setUint16(22, payload.length);
    new Uint8Array(buf, 24).set(payload);
    this.seq = (this.seq + 1) >>> 0;
    return buf;
  }

  send(chunk) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const payload = new Uint8Array(chunk.byteLength);
    chunk.copyTo(payload);
    const samples = Math.round(((chunk.duration || 20000) * 48) / 1000);
    this.ws.send(this.frame(0x01, chunk.timestamp, samples, payload));
    this.sent += 1;
  }

  async stop() {
    if (this.stopped) return;
    clearInterval(this.meter);
    this.onLevel(0);
    try { if (this.encoder && this.encoder.state === 'configured') await this.encoder.flush(); } catch (_) { /* closing anyway */ }
    this.stopped = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      // End of stream: an empty frame with the END_OF_STREAM flag.
      this.ws.send(this.frame(0x02, (this.t0 || nowUs() + this.offsetUs) + (this.samples / 48000) * 1e6, 0, new Uint8Array(0)));
      this.ws.close();
    }
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.ctx) await this.ctx.close();
    this.onState('ended');
  }
}
