// The overview's map (Leaflet, vendored): every speaker with a location, coloured by its
// state. Zoomed out, a village's speakers are drawn as one circle (sized by how many,
// coloured by the worst state among them: fault, then offline, then playing); zoomed in,
// each speaker, and a click shows its details. Only what lies in view is drawn, so a county
// of 10,000 speakers stays light. With no tile server set up the background is plain and
// nothing is fetched from the internet; an administrator names a tile server below the map
// (a county's own, or Tianditu), and for GCJ-02 tiles the points are moved onto them, and
// may upload the county's own area outlines (none ship with Dalaba).
import { wgs84ToGcj02 } from '/console/geo.js';

export const STRINGS = {
  zh: {
    map_empty: '还没有喇叭标注位置：在“喇叭管理”里为喇叭填写经纬度，就会显示在地图上。',
    map_settings: '地图底图', tile_url: '瓦片地址（含 {z} {x} {y}）', subdomains: '{s} 的取值', attribution: '版权说明',
    datum: '坐标系', datum_wgs84: 'WGS-84（天地图、OpenStreetMap）', datum_gcj02: 'GCJ-02（高德、腾讯）', max_zoom: '最大缩放级别',
    map_settings_hint: '不填地址则用纯色底图，不需要联网。天地图示例：https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=您的密钥，{s} 取 01234567。',
    outlines: '区域边界（GeoJSON 文件，WGS-84）', upload_outlines: '上传边界', remove_outlines: '删除边界',
    outlines_saved: '已保存 {n} 个边界', outlines_removed: '已删除边界',
    no_tiles: '不用底图', located_n: '地图上 {a} 个，未标位置 {b} 个',
  },
  en: {
    map_empty: 'No speaker has a location yet: give a speaker its latitude and longitude on the Speakers page and it shows here.',
    map_settings: 'Map background', tile_url: 'tile address (with {z} {x} {y})', subdomains: 'values of {s}', attribution: 'attribution',
    datum: 'datum', datum_wgs84: 'WGS-84 (Tianditu, OpenStreetMap)', datum_gcj02: 'GCJ-02 (AutoNavi/Gaode, Tencent)', max_zoom: 'deepest zoom',
    map_settings_hint: 'With no address the background is plain and needs no internet. Tianditu: https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=YOUR_KEY, {s} 01234567.',
    outlines: 'area outlines (a GeoJSON file, WGS-84)', upload_outlines: 'Upload outlines', remove_outlines: 'Remove outlines',
    outlines_saved: '{n} outlines saved', outlines_removed: 'outlines removed',
    no_tiles: 'No background', located_n: '{a} on the map, {b} without a location',
  },
};

// Zoom levels below this draw villages; from it on, speakers.
const VILLAGES_BELOW = 14;
// The colours of the legend (style.css), by state.
const COLOUR = { online: '#2e7d6b', playing: '#1565c0', fault: '#c62828', offline: '#90a4ae' };
// Worst first: a village shows the first of these any of its speakers is in.
const WORST = ['fault', 'offline', 'playing', 'online'];

// `ctx`: { api, el, $, t, stateOf(agent), detail(id), me() }.
export function mapView(ctx) {
  const { api, el, $, t } = ctx;
  let map = null;
  let drawn = null;
  let tiles = null;
  let datum = 'wgs84';
  let settings = null;
  // The map follows the speakers (fits them all) until the operator moves it.
  let userMoved = false;
  let fittedTo = null;
  // Speakers with a location: { a, state, at: [lat, lng] as the tiles draw it }.
  let located = [];

  function create() {
    map = L.map('geo', { minZoom: 3, zoomSnap: 0.5 });
    L.control.scale({ imperial: false }).addTo(map);
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    drawn = L.layerGroup().addTo(map);
    map.on('moveend', draw);
    for (const ev of ['mousedown', 'wheel', 'touchstart', 'keydown']) {
      map.getContainer().addEventListener(ev, () => { userMoved = true; }, { passive: true });
    }
    map.setView([35, 105], 4);
  }

  function useSettings(s) {
    settings = s;
    if (tiles) tiles.remove();
    tiles = null;
    datum = s.tiles ? s.tiles.datum : 'wgs84';
    if (s.tiles) {
      tiles = L.tileLayer(s.tiles.url, {
        subdomains: s.tiles.subdomains || 'abc', attribution: s.tiles.attribution, maxZoom: s.tiles.max_zoom,
      }).addTo(map);
    }
    map.setMaxZoom(s.tiles ? s.tiles.max_zoom : 19);
    $('geo').classList.toggle('plain', !s.tiles);
  }

  // A WGS-84 point as the tiles draw it.
  const moved = (lat, lon) => (datum === 'gcj02' ? wgs84ToGcj02(lat, lon) : [lat, lon]);
  const place = (a) => moved(a.location.lat, a.location.lon);

  // The deployment's own area outlines (GeoJSON), under the speakers; a feature's name
  // (or code) on hover, as text.
  let outlines = null;
  async function loadOutlines() {
    const doc = await api('GET', '/api/map/outlines');
    if (outlines) outlines.remove();
    outlines = null;
    if (!doc) return;
    outlines = L.geoJSON(doc, {
      style: { color: '#546e7a', weight: 1.5, fillOpacity: 0.04, className: 'map-outline' },
      coordsToLatLng: (c) => L.latLng(...moved(c[1], c[0])),
      onEachFeature: (f, layer) => {
        const name = f.properties && (f.properties.name || f.properties.code);
        if (name) layer.bindTooltip(el('span', {}, String(name)), { sticky: true });
      },
    }).addTo(map);
    outlines.bringToBack();
  }

  // Names stay shown beside the circles while few are in view (a plain background has no
  // other landmarks); with many, on hover.
  const LABELS_UP_TO = 40;
  const label = (permanent) => ({ permanent, direction: permanent ? 'right' : 'auto', className: 'map-label' });

  // A village's circle at the middle of its speakers (`at`).
  function village({ code, list, at }, permanent) {
    const n = list.length;
    const state = WORST.find((w) => list.some((x) => x.state === w));
    const online = list.filter((x) => x.state !== 'offline').length;
    const name = list[0].a.area_name || code;
    return L.circleMarker(at, {
      radius: 7 + Math.min(14, 2 * Math.sqrt(n)), color: '#fff', weight: 2, fillColor: COLOUR[state], fillOpacity: 0.9,
      className: `map-village map-${state} map-area-${code}`,
    }).bindTooltip(`${name} · ${online}/${n}`, label(permanent))
      .on('click', () => map.fitBounds(L.latLngBounds(list.map((x) => x.at)).pad(0.5), { maxZoom: 17 }));
  }

  function speaker(x, permanent) {
    return L.circleMarker(x.at, {
      radius: 8, color: '#fff', weight: 2, fillColor: COLOUR[x.state], fillOpacity: 0.95,
      className: `map-speaker map-${x.state} map-agent-${x.a.id}`,
    }).bindTooltip(`${x.a.name} · ${t(x.state)}`, label(permanent)).on('click', () => ctx.detail(x.a.id));
  }

  // Draws what lies in view (and a margin, so a small pan shows no gap).
  function draw() {
    if (!map) return;
    const view = map.getBounds().pad(0.3);
    let layers;
    if (map.getZoom() < VILLAGES_BELOW) {
      const byVillage = new Map();
      for (const x of located) {
        if (!byVillage.has(x.a.area_code)) byVillage.set(x.a.area_code, []);
        byVillage.get(x.a.area_code).push(x);
      }
      const centre = (list) => [list.reduce((s, x) => s + x.at[0], 0) / list.length, list.reduce((s, x) => s + x.at[1], 0) / list.length];
      const shown = [...byVillage].map(([code, list]) => ({ code, list, at: centre(list) }))
        .filter((v) => view.contains(v.at));
      layers = shown.map((v) => village(v, shown.length <= LABELS_UP_TO));
    } else {
      const shown = located.filter((x) => view.contains(x.at));
      layers = shown.map((x) => speaker(x, shown.length <= LABELS_UP_TO));
    }
    drawn.clearLayers();
    for (const l of layers) drawn.addLayer(l);
    window.dalaba.mapDrawn = layers.length;
  }

  async function render(agents) {
    if (!map) create();
    if (!settings) {
      useSettings(await api('GET', '/api/settings/map'));
      await loadOutlines();
    }
    located = agents.filter((a) => !a.retired && a.location).map((a) => ({ a, state: ctx.stateOf(a), at: place(a) }));
    const all = agents.filter((a) => !a.retired).length;
    $('geo-count').textContent = t('located_n').replace('{a}', located.length).replace('{b}', all - located.length);
    $('geo-empty').hidden = located.length > 0;
    map.invalidateSize();
    const bounds = located.length ? L.latLngBounds(located.map((x) => x.at)) : null;
    if (bounds && !userMoved && !(fittedTo && fittedTo.equals(bounds))) {
      fittedTo = bounds;
      map.fitBounds(bounds.pad(0.2), { maxZoom: 16, animate: false });
    }
    draw();
    renderSettings();
  }

  // Shows the speakers of area `code` (any level).
  function focus(code) {
    const inside = located.filter((x) => x.a.area_code.startsWith(code));
    userMoved = true;
    if (map && inside.length) map.fitBounds(L.latLngBounds(inside.map((x) => x.at)).pad(0.3), { maxZoom: 17 });
  }

  // The administrator's tile server form.
  let formFilled = false;
  function renderSettings() {
    const admin = ctx.me() && ctx.me().role === 'admin';
    $('map-card').hidden = !admin;
    if (!admin || formFilled || !settings) return;
    formFilled = true;
    const s = settings.tiles || { url: '', subdomains: '', attribution: '', datum: 'wgs84', max_zoom: 18 };
    $('mp-datum').replaceChildren(...['wgs84', 'gcj02'].map((d) => el('option', { value: d }, t('datum_' + d))));
    $('mp-url').value = s.url;
    $('mp-subdomains').value = s.subdomains;
    $('mp-attribution').value = s.attribution;
    $('mp-datum').value = s.datum;
    $('mp-zoom').value = s.max_zoom;
  }

  async function save(clear) {
    const url = $('mp-url').value.trim();
    const body = clear || !url ? { tiles: null } : {
      tiles: {
        url, subdomains: $('mp-subdomains').value.trim(), attribution: $('mp-attribution').value.trim(),
        datum: $('mp-datum').value, max_zoom: Number($('mp-zoom').value),
      },
    };
    try {
      const s = await api('PUT', '/api/settings/map', body);
      if (clear) $('mp-url').value = '';
      useSettings(s);
      located = located.map((x) => ({ ...x, at: place(x.a) }));
      draw();
      await loadOutlines();
      $('mp-status').textContent = t('saved');
    } catch (e) {
      $('mp-status').textContent = e.message;
    }
  }

  async function uploadOutlines(remove) {
    const file = $('mp-outlines').files[0];
    try {
      if (remove) {
        await api('DELETE', '/api/map/outlines');
        $('mp-status').textContent = t('outlines_removed');
      } else {
        if (!file) return;
        const r = await api('PUT', '/api/map/outlines', await file.text(), 'application/json');
        $('mp-status').textContent = t('outlines_saved').replace('{n}', r.features);
      }
      await loadOutlines();
    } catch (e) {
      $('mp-status').textContent = e.message;
    }
  }

  $('mp-save').addEventListener('click', () => save(false));
  $('mp-outlines-upload').addEventListener('click', () => uploadOutlines(false));
  $('mp-outlines-remove').addEventListener('click', () => uploadOutlines(true));
  $('mp-clear').addEventListener('click', () => save(true));
  return { render, focus };
}
