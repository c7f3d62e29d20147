// The alert map (served at /alerts/v1/map.js): plain JavaScript drawing SVG, no library and
// nothing from another origin. See crates/api-alerts/src/map.rs for the design.
//
// Projection: equirectangular, x = lon * cos(lat0), y = -lat (world units are degrees of
// latitude), lat0 the middle latitude of the map's area. The view maps world units to screen
// pixels, screen = world * s + (tx, ty); the areas and lines (municipalities, base layer,
// alerts) are drawn once in world units inside groups carrying that transform (strokes do not
// scale), the labels and shelter markers are placed in screen pixels on every change of the view.
//
// Layers, bottom to top: municipalities (real boundaries, /municipalities.geojson?bbox=), the
// base layer (water, rivers, railways, roads, /basemap.geojson), prefectural borders, alert
// areas, labels (municipality and place names), shelters with their names.
//
// The map's area: the base map's extent, else the alerts' and shelters' extent widened.
//
// Live updates: an EventSource on /stream; every `alert` event (and every (re)connection)
// re-fetches active.geojson and shelters.geojson. Shelter occupancy changes made through
// NGSI-LD send no alert, so both are also re-fetched every 60 s.
(function () {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var POLL_MS = 60000;
  var GEOCODE_RADIUS_KM = 3; // a geocode-only area: 3 km around the municipality (as /here)
  var body = document.body;
  var BASE = body.getAttribute('data-base');
  var COLOURS = JSON.parse(body.getAttribute('data-colours'));
  var tenant = new URLSearchParams(window.location.search).get('tenant');
  var query = tenant ? '?tenant=' + encodeURIComponent(tenant) : '';

  var svg = document.getElementById('map');
  var gCells = document.getElementById('cells');
  var gBase = document.getElementById('base');
  var gAlerts = document.getElementById('alerts');
  var gLabels = document.getElementById('labels');
  var gShelters = document.getElementById('shelters');
  var statusEl = document.getElementById('status');
  var infoEl = document.getElementById('info');

  var kx = Math.cos(36.4 * Math.PI / 180);
  var view = { s: 100, tx: 0, ty: 0 };
  var munis = [];
  var baseDoc = { features: [] };
  var areaBox = null; // [w, s, e, n] of the map's area
  var attributions = [];
  var alerts = [];
  var shelters = [];
  var userMoved = false;
  var live = false;
  var lastUpdate = null;

  function el(name, attrs) {
    var e = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function project(c) { return [c[0] * kx, -c[1]]; }

  function toScreen(c) {
    var w = project(c);
    return [w[0] * view.s + view.tx, w[1] * view.s + view.ty];
  }

  function levelKey(level) {
    if (level === null || level === undefined || isNaN(Number(level))) return 'none';
    var l = Math.max(1, Math.min(5, Math.round(Number(level))));
    return String(l);
  }

  function colour(level) { return COLOURS[levelKey(level)] || COLOURS.none; }

  function nameOf(v, fallback) {
    if (typeof v === 'string' && v) return v;
    if (v && typeof v === 'object') {
      if (v.ja) return v.ja;
      if (v.en) return v.en;
      var keys = Object.keys(v);
      if (keys.length && typeof v[keys[0]] === 'string') return v[keys[0]];
    }
    return fallback || '';
  }

  // A language map ({"ja": ..., "en": ...}) as "ja / en"; a string as it is.
  function bilingual(v, fallback) {
    if (v && typeof v === 'object' && v.ja && v.en && v.ja !== v.en) return v.ja + ' / ' + v.en;
    return nameOf(v, fallback);
  }

  function text(s) { return document.createTextNode(s); }

  // ---- geometry --------------------------------------------------------------------------

  function circleRing(c, km) {
    var ring = [];
    var dLat = km / 111.2;
    var dLon = dLat / Math.cos(c[1] * Math.PI / 180);
    for (var i = 0; i <= 48; i++) {
      var a = i * 2 * Math.PI / 48;
      ring.push([c[0] + dLon * Math.cos(a), c[1] + dLat * Math.sin(a)]);
    }
    return ring;
  }

  // Every ring of a GeoJSON geometry (points become geocode circles).
  function rings(g) {
    if (!g) return [];
    switch (g.type) {
      case 'Polygon': return g.coordinates;
      case 'MultiPolygon': return [].concat.apply([], g.coordinates);
      case 'Point': return [circleRing(g.coordinates, GEOCODE_RADIUS_KM)];
      case 'MultiPoint': return g.coordinates.map(function (c) { return circleRing(c, GEOCODE_RADIUS_KM); });
      case 'GeometryCollection': return [].concat.apply([], g.geometries.map(rings));
      default: return [];
    }
  }

  // Every line of a GeoJSON LineString / MultiLineString / Polygon (its rings), as arrays of positions.
  function lines(g) {
    if (!g) return [];
    switch (g.type) {
      case 'LineString': return [g.coordinates];
      case 'MultiLineString': return g.coordinates;
      default: return rings(g);
    }
  }

  function lineData(ls) {
    return ls.map(function (line) {
      return line.map(function (c, i) {
        var p = project(c);
        return (i ? 'L' : 'M') + p[0].toFixed(6) + ' ' + p[1].toFixed(6);
      }).join('');
    }).join('');
  }

  function pathData(rs) {
    return rs.map(function (ring) {
      return ring.map(function (c, i) {
        var p = project(c);
        return (i ? 'L' : 'M') + p[0].toFixed(6) + ' ' + p[1].toFixed(6);
      }).join('') + 'Z';
    }).join('');
  }

  function bbox(coords) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    coords.forEach(function (c) {
      var p = project(c);
      b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
      b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
    });
    return b;
  }

  // ---- the view --------------------------------------------------------------------------

  function size() {
    var r = svg.getBoundingClientRect();
    return [Math.max(r.width, 1), Math.max(r.height, 1)];
  }

  function fit(b, minExtent) {
    if (!isFinite(b[0])) return;
    var wh = size();
    var dx = Math.max(b[2] - b[0], minExtent || 0.02);
    var dy = Math.max(b[3] - b[1], minExtent || 0.02);
    view.s = Math.min(wh[0] / dx, wh[1] / dy) * 0.85;
    view.tx = wh[0] / 2 - view.s * (b[0] + b[2]) / 2;
    view.ty = wh[1] / 2 - view.s * (b[1] + b[3]) / 2;
    applyView();
  }

  function fitAll() {
    if (areaBox) fit(bbox([[areaBox[0], areaBox[1]], [areaBox[2], areaBox[3]]]));
    else fitData();
  }

  function fitData() {
    var coords = [];
    alerts.forEach(function (f) { rings(f.geometry).forEach(function (r) { coords = coords.concat(r); }); });
    shelters.forEach(function (f) { coords.push(f.geometry.coordinates); });
    if (coords.length) fit(bbox(coords), 0.03); else if (areaBox) fitAll();
  }

  function zoomAt(px, py, f) {
    var s = Math.max(20, Math.min(view.s * f, 2e6));
    f = s / view.s;
    view.tx = px - (px - view.tx) * f;
    view.ty = py - (py - view.ty) * f;
    view.s = s;
    applyView();
  }

  function applyView() {
    var m = 'matrix(' + view.s + ' 0 0 ' + view.s + ' ' + view.tx + ' ' + view.ty + ')';
    gCells.setAttribute('transform', m);
    gBase.setAttribute('transform', m);
    gAlerts.setAttribute('transform', m);
    placeOverlays();
  }

  function placeOverlays() {
    Array.prototype.forEach.call(gLabels.childNodes, function (t) {
      var p = toScreen(JSON.parse(t.getAttribute('data-at')));
      t.setAttribute('x', p[0].toFixed(1));
      t.setAttribute('y', p[1].toFixed(1));
    });
    // Shelter names that would overlap one already placed are hidden until the map is zoomed
    // in (the name stays in the marker's title and the list).
    var placed = [];
    Array.prototype.forEach.call(gShelters.childNodes, function (g) {
      var p = toScreen(JSON.parse(g.getAttribute('data-at')));
      g.setAttribute('transform', 'translate(' + p[0].toFixed(1) + ' ' + p[1].toFixed(1) + ')');
      var name = g.querySelector('.shelter-name');
      if (!name) return;
      var half = name.textContent.length * 6.5;
      var box = [p[0] - half, p[1] + 12, p[0] + half, p[1] + 30];
      var clash = placed.some(function (b) { return box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]; });
      name.setAttribute('visibility', clash ? 'hidden' : 'visible');
      if (!clash) placed.push(box);
    });
  }

  // ---- drawing ---------------------------------------------------------------------------

  // Where a municipality is labelled: its `label` [lon, lat], else its first vertex.
  function labelAt(f) {
    return f.properties.label || (rings(f.geometry)[0] || [[0, 0]])[0];
  }

  function label(cls, at, s) {
    var t = el('text', { 'class': cls, 'data-at': JSON.stringify(at) });
    t.appendChild(text(s));
    gLabels.appendChild(t);
  }

  // Municipalities (filled, dashed outline, named) under the base layer; prefectural borders
  // over it.
  function drawMunicipalities() {
    gCells.textContent = '';
    Array.prototype.slice.call(gLabels.querySelectorAll('.muni-label')).forEach(function (n) { n.remove(); });
    Array.prototype.slice.call(gBase.querySelectorAll('.pref')).forEach(function (n) { n.remove(); });
    munis.forEach(function (f) {
      var p = f.properties;
      var pref = p.kind === 'prefecture';
      var path = el('path', { 'class': pref ? 'pref' : 'cell', d: pathData(rings(f.geometry)), 'data-code': p.code, 'fill-rule': 'evenodd' });
      var t = el('title');
      t.appendChild(text(p.name + ' (' + p.code + ')'));
      path.appendChild(t);
      if (pref) gBase.appendChild(path); else gCells.appendChild(path);
      if (!pref) label('muni-label', labelAt(f), p.name);
    });
  }

  // The base layer: each feature a path with data-layer (water, coastline, river, railway,
  // road, boundary), roads with a casing under them; places as labels.
  function drawBase() {
    gBase.textContent = '';
    var order = ['water', 'coastline', 'river', 'railway', 'road', 'boundary'];
    var feats = baseDoc.features.slice().sort(function (a, b) {
      return order.indexOf(a.properties.layer) - order.indexOf(b.properties.layer);
    });
    feats.forEach(function (f) {
      var p = f.properties;
      if (p.layer === 'place') {
        label('place-label', f.geometry.coordinates, p.name);
        return;
      }
      var d = p.layer === 'water' ? pathData(rings(f.geometry)) : lineData(lines(f.geometry));
      var attrs = { d: d, 'data-layer': p.layer };
      if (p['class']) attrs['data-class'] = p['class'];
      if (p.layer === 'road') {
        var casing = el('path', attrs);
        casing.setAttribute('class', 'casing');
        gBase.appendChild(casing);
      }
      var path = el('path', attrs);
      if (p.name) {
        var t = el('title');
        t.appendChild(text(p.name));
        path.appendChild(t);
      }
      gBase.appendChild(path);
    });
  }

  function setAttribution() {
    document.getElementById('attribution').textContent = attributions.filter(Boolean).join(' · ');
  }

  function shelterText(p) {
    var state = p.isOpen ? '開設 Open' : '閉鎖 Closed';
    var occ = p.capacity != null ? ' ' + (p.occupancy != null ? p.occupancy : '?') + '/' + p.capacity : '';
    return state + occ;
  }

  function drawAlerts() {
    gAlerts.textContent = '';
    var sorted = alerts.slice().sort(function (a, b) {
      return (Number(a.properties.warningLevel) || 0) - (Number(b.properties.warningLevel) || 0);
    });
    sorted.forEach(function (f) {
      var p = f.properties;
      var c = colour(p.warningLevel);
      var path = el('path', {
        'class': 'alert-area', d: pathData(rings(f.geometry)), 'fill-rule': 'evenodd',
        fill: c, stroke: levelKey(p.warningLevel) === '1' ? '#666666' : c,
        'data-alert-id': p.identifier, 'data-level': levelKey(p.warningLevel)
      });
      var t = el('title');
      t.appendChild(text(alertLabel(p)));
      path.appendChild(t);
      path.addEventListener('click', function () { showInfo(alertLabel(p)); });
      gAlerts.appendChild(path);
    });
  }

  function alertLabel(p) {
    var lvl = levelKey(p.warningLevel);
    var head = lvl === 'none' ? '' : '警戒レベル' + lvl + ' / Level ' + lvl + ' — ';
    return head + bilingual(p.headline, bilingual(p.event, p.identifier)) + (p.expires ? ' (〜' + p.expires + ')' : '');
  }

  function drawShelters() {
    gShelters.textContent = '';
    shelters.forEach(function (f) {
      var p = f.properties;
      var name = nameOf(p.name, String(p.id).split(':').pop());
      var g = el('g', {
        'class': 'shelter', 'data-shelter-id': p.id, 'data-open': String(!!p.isOpen),
        'data-at': JSON.stringify(f.geometry.coordinates), tabindex: '0', role: 'button'
      });
      var t = el('title');
      t.appendChild(text(name + ' — ' + shelterText(p)));
      g.appendChild(t);
      g.appendChild(el('circle', { r: '10' }));
      var count = el('text', { y: '-14', 'class': 'shelter-count' });
      count.appendChild(text(p.isOpen && p.capacity != null ? (p.occupancy || 0) + '/' + p.capacity : (p.isOpen ? '' : '閉')));
      g.appendChild(count);
      var named = el('text', { y: '25', 'class': 'shelter-name' });
      named.appendChild(text(name));
      g.appendChild(named);
      g.addEventListener('keydown', function (e) { if (e.key === 'Enter') showInfo(name + ' — ' + shelterText(p)); });
      gShelters.appendChild(g);
    });
    placeOverlays();
  }

  function drawLists() {
    var al = document.getElementById('alert-list');
    al.textContent = '';
    if (!alerts.length) {
      var none = document.createElement('li');
      none.appendChild(text('発令中の情報はありません / No active alerts'));
      al.appendChild(none);
    }
    alerts.forEach(function (f) {
      var li = document.createElement('li');
      var sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = colour(f.properties.warningLevel);
      li.appendChild(sw);
      var b = document.createElement('button');
      b.type = 'button';
      b.appendChild(text(alertLabel(f.properties)));
      b.addEventListener('click', function () {
        var coords = [].concat.apply([], rings(f.geometry));
        userMoved = true;
        fit(bbox(coords), 0.02);
        showInfo(alertLabel(f.properties));
      });
      li.appendChild(b);
      al.appendChild(li);
    });
    var sl = document.getElementById('shelter-list');
    sl.textContent = '';
    shelters.forEach(function (f) {
      var p = f.properties;
      var li = document.createElement('li');
      var dot = document.createElement('span');
      dot.className = 'dot ' + (p.isOpen ? 'open' : 'closed');
      li.appendChild(dot);
      var b = document.createElement('button');
      b.type = 'button';
      var name = nameOf(p.name, String(p.id).split(':').pop());
      b.appendChild(text(name + ' — ' + shelterText(p)));
      b.addEventListener('click', function () {
        userMoved = true;
        fit(bbox([f.geometry.coordinates]), 0.02);
        showInfo(name + ' — ' + shelterText(p));
      });
      li.appendChild(b);
      sl.appendChild(li);
    });
  }

  function showInfo(s) {
    infoEl.textContent = s;
    infoEl.hidden = false;
  }

  function setStatus() {
    var t = lastUpdate ? lastUpdate.toLocaleTimeString('ja-JP') : '—';
    statusEl.className = 'status ' + (live ? 'live' : 'down');
    statusEl.textContent = (live ? 'ライブ更新中 ' : '再接続中… ') + '';
    var en = document.createElement('span');
    en.className = 'en';
    en.textContent = (live ? 'Live' : 'Reconnecting…') + ' · 発令中 ' + alerts.length + ' 件 / ' +
      alerts.length + ' active · 更新 updated ' + t;
    statusEl.appendChild(en);
  }

  // ---- data ------------------------------------------------------------------------------

  function getJson(path) {
    var q = query && path.indexOf('?') >= 0 ? '&' + query.slice(1) : query;
    return fetch(BASE + path + q, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  var refreshing = null;
  var again = false;

  function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = Promise.all([getJson('/active.geojson'), getJson('/shelters.geojson')]).then(function (res) {
      alerts = res[0].features.filter(function (f) { return f.properties && f.properties.kind === 'alert'; });
      shelters = res[1].features;
      drawAlerts();
      drawShelters();
      drawLists();
      lastUpdate = new Date();
      if (!userMoved) fitData();
      setStatus();
      body.setAttribute('data-updates', String(Number(body.getAttribute('data-updates') || 0) + 1));
    }).catch(function (e) {
      statusEl.textContent = '読み込みエラー / Could not load: ' + e.message;
    }).then(function () {
      refreshing = null;
      if (again) { again = false; refresh(); }
    });
    return refreshing;
  }

  function connect() {
    var es = new EventSource(BASE + '/stream' + query);
    es.addEventListener('alert', function () { refresh(); });
    es.onopen = function () { live = true; setStatus(); refresh(); };
    es.onerror = function () { live = false; setStatus(); };
  }

  // ---- interaction -----------------------------------------------------------------------

  var pointers = new Map();
  var down = null;

  function local(e) {
    var r = svg.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  svg.addEventListener('pointerdown', function (e) {
    pointers.set(e.pointerId, local(e));
    down = { at: local(e), target: e.target, moved: false };
    svg.setPointerCapture(e.pointerId);
  });

  svg.addEventListener('pointermove', function (e) {
    if (!pointers.has(e.pointerId)) return;
    var prev = pointers.get(e.pointerId);
    var now = local(e);
    if (pointers.size === 1) {
      view.tx += now[0] - prev[0];
      view.ty += now[1] - prev[1];
    } else if (pointers.size === 2) {
      var other = null;
      pointers.forEach(function (v, k) { if (k !== e.pointerId) other = v; });
      var d0 = Math.hypot(prev[0] - other[0], prev[1] - other[1]);
      var d1 = Math.hypot(now[0] - other[0], now[1] - other[1]);
      var mid = [(now[0] + other[0]) / 2, (now[1] + other[1]) / 2];
      view.tx += (now[0] - prev[0]) / 2;
      view.ty += (now[1] - prev[1]) / 2;
      if (d0 > 0) zoomAt(mid[0], mid[1], d1 / d0);
    }
    pointers.set(e.pointerId, now);
    if (down && Math.hypot(now[0] - down.at[0], now[1] - down.at[1]) > 6) { down.moved = true; userMoved = true; }
    applyView();
  });

  function up(e) {
    pointers.delete(e.pointerId);
    if (down && !down.moved && pointers.size === 0 && e.type === 'pointerup') {
      var node = down.target;
      var shelter = node && node.closest ? node.closest('.shelter') : null;
      var area = node && node.closest ? node.closest('.alert-area') : null;
      if (shelter) {
        var f = shelters.filter(function (s) { return s.properties.id === shelter.getAttribute('data-shelter-id'); })[0];
        if (f) showInfo(nameOf(f.properties.name, f.properties.id) + ' — ' + shelterText(f.properties));
      } else if (area) {
        var a = alerts.filter(function (s) { return s.properties.identifier === area.getAttribute('data-alert-id'); })[0];
        if (a) showInfo(alertLabel(a.properties));
      } else {
        infoEl.hidden = true;
      }
    }
    if (pointers.size === 0) down = null;
  }
  svg.addEventListener('pointerup', up);
  svg.addEventListener('pointercancel', up);

  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    userMoved = true;
    var p = local(e);
    zoomAt(p[0], p[1], Math.exp(-e.deltaY * 0.0015));
  }, { passive: false });

  function centreZoom(f) {
    var wh = size();
    userMoved = true;
    zoomAt(wh[0] / 2, wh[1] / 2, f);
  }
  document.getElementById('zoom-in').addEventListener('click', function () { centreZoom(1.6); });
  document.getElementById('zoom-out').addEventListener('click', function () { centreZoom(1 / 1.6); });
  document.getElementById('fit-data').addEventListener('click', function () { userMoved = true; fitData(); });
  document.getElementById('fit-all').addEventListener('click', function () { userMoved = true; fitAll(); });
  window.addEventListener('resize', function () { if (!userMoved) fitData(); else applyView(); });

  // ---- start -----------------------------------------------------------------------------

  Array.prototype.forEach.call(document.querySelectorAll('.swatch[data-level]'), function (s) {
    s.style.background = COLOURS[s.getAttribute('data-level')];
  });

  function widen(b, by) {
    var dx = Math.max((b[2] - b[0]) * by, 0.05);
    var dy = Math.max((b[3] - b[1]) * by, 0.05);
    return [b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy];
  }

  // At most 4° each way around the centre: the server answers no larger box.
  function clampBox(b) {
    var cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
    var hw = Math.min((b[2] - b[0]) / 2, 1.99), hh = Math.min((b[3] - b[1]) / 2, 1.99);
    return [cx - hw, cy - hh, cx + hw, cy + hh];
  }

  // The alerts' and shelters' extent as [w, s, e, n], or null.
  function dataBox() {
    var coords = [];
    alerts.forEach(function (f) { rings(f.geometry).forEach(function (r) { coords = coords.concat(r); }); });
    shelters.forEach(function (f) { coords.push(f.geometry.coordinates); });
    if (!coords.length) return null;
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    coords.forEach(function (c) {
      b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    });
    return b;
  }

  getJson('/basemap.geojson').then(function (doc) {
    baseDoc = doc;
    if (doc.bbox) areaBox = doc.bbox;
    attributions[0] = doc.attribution || '';
    return refresh();
  }).then(function () {
    if (!areaBox) {
      var d = dataBox();
      if (d) areaBox = widen(d, 0.5);
    }
    if (!areaBox) return null;
    kx = Math.cos((areaBox[1] + areaBox[3]) / 2 * Math.PI / 180);
    return getJson('/municipalities.geojson?bbox=' + clampBox(areaBox).map(function (x) { return x.toFixed(5); }).join(',')).then(function (doc) {
      munis = doc.features;
      attributions[1] = doc.attribution || '';
    });
  }).then(function () {
    // Everything was projected with kx: draw (again) now that it is known.
    drawBase();
    drawMunicipalities();
    drawAlerts();
    drawShelters();
    setAttribution();
    if (!userMoved) fitData();
    // The legend shows the base layers this map has.
    Array.prototype.forEach.call(document.querySelectorAll('.legend li[data-layer]'), function (li) {
      var layer = li.getAttribute('data-layer');
      li.hidden = !baseDoc.features.some(function (f) { return f.properties.layer === layer; });
    });
    var note = document.getElementById('base-note');
    if (!baseDoc.features.length) {
      note.hidden = false;
      note.textContent = 'この地図には道路・河川の背景図がありません（管理者が --basemap で設定します）。 / No base map (roads, rivers) is configured for this site.';
    }
    body.setAttribute('data-ready', 'true');
    connect();
    setInterval(refresh, POLL_MS);
  }).catch(function (e) {
    statusEl.textContent = '読み込みエラー / Could not load: ' + e.message;
  });
})();
