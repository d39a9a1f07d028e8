// ace-collector live view: one row per stored submission, delivery state
// per group, fed by server-sent events from /live/events.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const st = {
    limit: 500, groups: [], paused: false, held: [], heldCount: 0, skipped: 0,
    rows: new Map(), // uuid -> {row, tr}
    es: null, tz: localStorage.getItem('ace-live-tz') || 'local',
  };
  const COLS = ['Time', 'Sensor', 'Rank', 'Bytes', 'Packets', 'Flows', 'Server', 'S. Port',
    'Client', 'C. Port', 'Events', 'Proto', 'Delivery'];

  function header(tr) {
    tr.textContent = '';
    for (const c of COLS) {
      const th = document.createElement('th');
      th.textContent = c === 'Time' ? zoneLabel() + ' Time' : c;
      tr.appendChild(th);
    }
  }
  function zoneLabel() { return st.tz === 'local' ? 'Local' : st.tz; }

  // Time zones: the browser's own, UTC and every zone the browser knows.
  function setupZones() {
    const sel = $('tz');
    const zones = ['local', 'UTC'];
    try { zones.push(...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')); } catch (e) { /* old browser */ }
    for (const z of zones) {
      const o = document.createElement('option');
      o.value = z; o.textContent = z === 'local' ? 'browser (' + Intl.DateTimeFormat().resolvedOptions().timeZone + ')' : z;
      sel.appendChild(o);
    }
    sel.value = zones.includes(st.tz) ? st.tz : 'local';
    sel.addEventListener('change', () => {
      st.tz = sel.value; localStorage.setItem('ace-live-tz', st.tz);
      fmt = formatter(); redrawTimes();
    });
  }
  function formatter() {
    const o = { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    if (st.tz !== 'local') o.timeZone = st.tz;
    return new Intl.DateTimeFormat('en-US', o);
  }
  let fmt = null;
  function fmtTime(ms) {
    const p = {};
    for (const x of fmt.formatToParts(new Date(ms))) p[x.type] = x.value;
    return `${p.month}/${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }
  function redrawTimes() {
    header(document.querySelector('#table thead tr'));
    header(document.querySelector('#results thead tr'));
    for (const tr of document.querySelectorAll('tr[data-time]')) tr.cells[0].textContent = fmtTime(+tr.dataset.time);
  }

  function text(td, s) { td.textContent = s == null ? '' : String(s); return td; }
  function cell(tr, s, cls) { const td = tr.insertCell(); if (cls) td.className = cls; return text(td, s); }
  // A list cell: one value, or "N servers" opening the full list.
  function listCell(tr, list, what) {
    const td = tr.insertCell();
    list = list || [];
    if (list.length <= 1) return text(td, list[0] || '');
    const a = document.createElement('a');
    a.className = 'more'; a.textContent = list.length + ' ' + what;
    a.addEventListener('click', (ev) => { ev.stopPropagation(); popup(ev, what, list); });
    td.appendChild(a);
    return td;
  }
  function popup(ev, title, list) {
    const p = $('popup');
    p.textContent = '';
    const h = document.createElement('b'); h.textContent = title; p.appendChild(h);
    const ul = document.createElement('ul');
    for (const v of list) { const li = document.createElement('li'); li.textContent = v; ul.appendChild(li); }
    p.appendChild(ul);
    p.style.left = ev.pageX + 'px'; p.style.top = ev.pageY + 'px';
    p.hidden = false;
  }
  document.addEventListener('click', (ev) => { if (!$('popup').contains(ev.target)) $('popup').hidden = true; });

  function n(v) { return v ? v.toLocaleString('en-US') : ''; }
  function stateCell(td, row) {
    td.textContent = '';
    for (const g of row.groups || []) {
      const s = document.createElement('span');
      const state = (row.states || {})[g] || '?';
      s.className = 'st st-' + state;
      s.dataset.group = g;
      s.textContent = g + ' ' + state.toLowerCase();
      if (row.nodes && row.nodes[g]) s.title = 'node ' + row.nodes[g];
      if (row.errors && row.errors[g]) s.title = row.errors[g];
      td.appendChild(s);
    }
  }
  function makeTr(row) {
    const tr = document.createElement('tr');
    tr.dataset.uuid = row.uuid; tr.dataset.time = row.time;
    if (row.flow_only) tr.className = 'flow';
    cell(tr, fmtTime(row.time));
    cell(tr, row.collector + ' (' + row.kind + ')').title = row.instance || '';
    const rk = tr.insertCell(); const sp = document.createElement('span');
    sp.className = 'rank r' + Math.min(Math.max(row.rank, 0), 3); sp.textContent = row.rank || 0; rk.appendChild(sp);
    cell(tr, n(row.bytes), 'num'); cell(tr, n(row.packets), 'num'); cell(tr, n(row.flows), 'num');
    listCell(tr, row.servers, 'servers'); listCell(tr, row.server_ports, 'ports');
    listCell(tr, row.clients, 'clients'); listCell(tr, row.client_ports, 'ports');
    cell(tr, (row.events || []).join('; ')).title = row.description;
    cell(tr, row.proto);
    stateCell(tr.insertCell(), row);
    tr.addEventListener('click', () => openDetail(row.uuid));
    return tr;
  }

  function addRow(row) {
    const old = st.rows.get(row.uuid);
    if (old) old.tr.remove();
    const tr = makeTr(row);
    const body = $('rows');
    body.insertBefore(tr, body.firstChild);
    st.rows.set(row.uuid, { row, tr });
    while (body.rows.length > st.limit) {
      const last = body.rows[body.rows.length - 1];
      st.rows.delete(last.dataset.uuid);
      last.remove();
    }
  }
  function setState(m) {
    const apply = (row) => {
      row.states = row.states || {}; row.states[m.group] = m.state;
      if (m.node) { row.nodes = row.nodes || {}; row.nodes[m.group] = m.node; }
      if (m.error) { row.errors = row.errors || {}; row.errors[m.group] = m.error; }
    };
    const e = st.rows.get(m.uuid);
    if (e) { apply(e.row); stateCell(e.tr.cells[e.tr.cells.length - 1], e.row); return; }
    const h = st.held.find((r) => r.uuid === m.uuid);
    if (h) apply(h);
  }

  function counts() {
    $('held').textContent = st.paused ? st.heldCount + ' new (held)' : '';
    $('counts').textContent = $('rows').rows.length + ' rows' + (st.skipped ? ', ' + st.skipped + ' skipped (too fast to show)' : '');
  }
  function handle(m) {
    switch (m.t) {
      case 'hello': hello(m); break;
      case 'row':
        if (st.paused) {
          st.heldCount++; st.held.push(m.row);
          if (st.held.length > st.limit) st.held.shift();
        } else addRow(m.row);
        break;
      case 'state': setState(m); break;
      case 'skipped': st.skipped += m.n; break;
    }
    counts();
  }
  function hello(m) {
    st.limit = m.limit; st.groups = m.groups || [];
    $('instance').textContent = m.instance || '';
    fillSelect($('f-collector'), (m.collectors || []).map((c) => [c.name, c.name + ' (' + c.kind + ')']));
    fillSelect($('f-group'), st.groups.map((g) => [g, g]));
    // A (re)connection starts from the server's snapshot.
    $('rows').textContent = ''; st.rows.clear(); st.held = []; st.heldCount = 0;
  }
  function fillSelect(sel, items) {
    const cur = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    for (const [v, label] of items) { const o = document.createElement('option'); o.value = v; o.textContent = label; sel.appendChild(o); }
    sel.value = cur;
  }

  function connect() {
    if (st.es) st.es.close();
    const q = new URLSearchParams();
    if ($('f-collector').value) q.set('collector', $('f-collector').value);
    if ($('f-group').value) q.set('group', $('f-group').value);
    if (!$('f-flows').checked) q.set('flows', '0');
    const es = new EventSource('/live/events?' + q.toString());
    st.es = es;
    es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'conn ok'; };
    es.onerror = () => { $('conn').textContent = 'reconnecting…'; $('conn').className = 'conn'; };
    es.onmessage = (e) => handle(JSON.parse(e.data));
  }
  for (const id of ['f-collector', 'f-group', 'f-flows']) $(id).addEventListener('change', connect);

  $('pause').addEventListener('click', () => {
    st.paused = !st.paused;
    $('pause').textContent = st.paused ? 'Resume' : 'Pause';
    if (!st.paused) { for (const r of st.held) addRow(r); st.held = []; st.heldCount = 0; }
    counts();
  });

  $('search').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ip = $('search-ip').value.trim();
    if (!ip) return;
    const body = $('results-rows');
    body.textContent = '';
    $('results').hidden = false;
    $('results-title').textContent = ip + ': searching…';
    try {
      const r = await fetch('/live/search?ip=' + encodeURIComponent(ip));
      if (!r.ok) throw new Error(await r.text());
      const res = await r.json();
      for (const row of res.rows) body.appendChild(makeTr(row));
      $('results-title').textContent = ip + ': ' + res.rows.length + ' found in ' + res.scanned + ' recent submissions';
    } catch (e) { $('results-title').textContent = ip + ': ' + e.message; }
  });
  $('results-close').addEventListener('click', () => { $('results').hidden = true; });

  async function openDetail(uuid) {
    const r = await fetch('/live/submission/' + encodeURIComponent(uuid));
    if (!r.ok) { alert(await r.text()); return; }
    const d = await r.json();
    $('detail-title').textContent = d.row.description;
    $('detail-meta').textContent = d.row.uuid + ' · ' + d.row.collector + ' (' + d.row.kind + ') · type ' + (d.type || '') +
      ' · ' + fmtTime(d.row.time) + (d.tags && d.tags.length ? ' · tags ' + d.tags.join(', ') : '');
    const states = $('detail-states'); states.textContent = '';
    for (const [g, s] of Object.entries(d.states || {})) { const tr = states.insertRow(); cell(tr, g); cell(tr, s); }
    const ob = $('detail-observables').tBodies[0]; ob.textContent = '';
    for (const o of d.observables || []) {
      const tr = ob.insertRow();
      cell(tr, o.type); cell(tr, o.value); cell(tr, (o.tags || []).join(', ')); cell(tr, (o.directives || []).join(', '));
    }
    const files = $('detail-files'); files.textContent = '';
    for (const f of d.files) { const li = document.createElement('li'); li.textContent = f; files.appendChild(li); }
    if (!d.files.length) files.textContent = '(none)';
    $('detail-details').textContent = JSON.stringify(d.details, null, 2);
    $('detail').hidden = false;
  }
  $('detail-close').addEventListener('click', () => { $('detail').hidden = true; });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') $('detail').hidden = true; });

  setupZones();
  fmt = formatter();
  redrawTimes();
  connect();
})();
