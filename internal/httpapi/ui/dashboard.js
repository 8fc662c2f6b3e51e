// The latticestate dashboard: the hosts of one lattice, live from the
// server-sent event stream /api/v1/lattices/{lattice}/watch, or as they were
// at a point of the event stream (?as_of=).
//
// Everything a host sent is hostile input: it reaches the page only as text
// (textContent, text nodes, attribute values), never as markup.
//
// Rendering is incremental: an event only records the host and marks it
// dirty; once per animation frame the dirty hosts' cards are rebuilt and
// placed, so a burst of events costs one layout.
'use strict';

(() => {
  const API = '/api/v1';
  const LATTICE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
  const AGE_EVERY_MS = 5000;
  const INVENTORY_SHOWN = 20;
  const FLUSHES_KEPT = 500;
  const FRAME_BUDGET_MS = 30;

  const $ = (id) => document.getElementById(id);
  // How often the live dashboard asks how far back history goes.
  const HISTORY_EVERY_MS = 15000;

  const ui = {
    lattice: $('lattice'), conn: $('conn'), connText: $('conn-text'),
    hosts: $('hosts'), shown: $('shown'), mode: $('mode'),
    seq: $('asof-seq'), seqOut: $('asof-seq-out'), seqRange: $('asof-range'), timeForm: $('asof-form'), time: $('asof-time'), live: $('live'),
    filterLabel: $('filter-label'), filterText: $('filter-text'), filterStatus: $('filter-status'), filters: $('filters'),
    tabHosts: $('tab-hosts'), tabLinks: $('tab-links'), panelLinks: $('panel-links'),
    links: document.querySelector('#links tbody'), refmaps: document.querySelector('#refmaps tbody'),
    linksStatus: $('links-status'), linksRefresh: $('links-refresh'),
    total: {
      hosts: $('total-hosts'), stale: $('total-stale'), actors: $('total-actors'),
      providers: $('total-providers'), unhealthy: $('total-unhealthy'),
    },
  };

  // Measurements of the page itself, read by the browser tests.
  const stats = { firstRenderMs: null, firstFrameMs: null, events: 0, flushes: [] };
  window.latticestateDashboard = { stats };

  const st = {
    lattice: 'default',
    live: true,
    asOf: '', asOfLabel: '',
    es: null, resync: null, retries: 0, retryTimer: 0, ready: false,
    hosts: new Map(), // id → host document
    cards: new Map(), // id → <li>
    keys: new Map(), // id → sort key the card is placed by
    search: new Map(), // id → lower-case text the search matches
    ages: new Map(), // id → [element, last seen ms]
    expiries: new Map(), // id → [element, expires at ms], stale hosts while live
    expiryMs: null, // serve's host expiry (0: never), once /settings says it
    contrib: new Map(), // id → what the host adds to the totals
    order: [], // ids of placed cards, sorted by key
    dirty: new Set(), gone: new Set(), refilter: false, frame: 0,
    totals: { hosts: 0, stale: 0, actors: 0, providers: 0, unhealthy: 0 },
    filter: { labels: [], text: '', status: '' },
    maxSeq: 0, lastSeq: 0, earliestSeq: 0, request: 0, linksRequest: 0,
  };

  // el builds an element; strings among children become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null) continue;
        if (k === 'class') e.className = v;
        else e.setAttribute(k, v);
      }
    }
    for (const c of children) {
      if (c != null && c !== false) e.append(c);
    }
    return e;
  }

  const str = (v) => (typeof v === 'string' ? v : '');
  const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const COUNT = new Intl.NumberFormat('en');
  const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const short = (id) => (id.length > 20 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id);

  const HEALTH_CLASS = { Healthy: 'ok', Unhealthy: 'bad', Awaiting: 'wait' };
  const healthClass = (s) => HEALTH_CLASS[s] || 'other';

  function age(ms) {
    if (!Number.isFinite(ms)) return 'never';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  // expiresIn says how long until a time, for a stale host's expiry.
  function expiresIn(ms) {
    const s = Math.round((ms - Date.now()) / 1000);
    if (s <= 0) return 'any moment now';
    if (s < 60) return `in ${s} s`;
    if (s < 3600) return `in ${Math.floor(s / 60)} min`;
    if (s < 86400) return `in ${Math.floor(s / 3600)} h`;
    return `in ${Math.floor(s / 86400)} d`;
  }

  // expiry is the element saying when a stale host is removed, computed
  // as it is shown from its last_seen and serve's host expiry; null when
  // there is nothing to say (up, the past, unknown).
  function expiry(h, seenMs) {
    if (h.status !== 'stale' || !st.live || st.expiryMs === null) return null;
    if (st.expiryMs === 0) return el('span', { class: 'expires' }, 'never');
    if (!Number.isFinite(seenMs)) return null;
    const at = seenMs + st.expiryMs;
    const e = el('span', { class: 'expires' }, expiresIn(at));
    st.expiries.set(h.host_id, [e, at]);
    return e;
  }

  function uptime(h) {
    if (str(h.uptime_human)) return h.uptime_human;
    const s = num(h.uptime_seconds);
    if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
    if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }

  // health summarises a host for the colour of its card.
  function health(h) {
    let awaiting = false;
    for (const inv of [obj(h.actors), obj(h.providers)]) {
      for (const e of Object.values(inv)) {
        const s = obj(e).status;
        if (s === 'Unhealthy') return 'bad';
        if (s !== 'Healthy') awaiting = true;
      }
    }
    if (h.status === 'stale') return 'stale';
    return awaiting ? 'wait' : 'ok';
  }

  function contribution(h) {
    let actors = 0;
    let unhealthy = 0;
    for (const a of Object.values(obj(h.actors))) {
      actors += num(obj(a).count);
      if (obj(a).status === 'Unhealthy') unhealthy++;
    }
    const providers = Object.values(obj(h.providers));
    for (const p of providers) if (obj(p).status === 'Unhealthy') unhealthy++;
    return { hosts: 1, stale: h.status === 'stale' ? 1 : 0, actors, providers: providers.length, unhealthy };
  }

  function addTotals(c, sign) {
    for (const k of Object.keys(st.totals)) st.totals[k] += sign * c[k];
  }

  // ---- host state: events only record, flush renders ----

  function setHost(h) {
    if (!h || typeof h !== 'object' || typeof h.host_id !== 'string' || h.host_id === '') return;
    const id = h.host_id;
    const old = st.contrib.get(id);
    if (old) addTotals(old, -1);
    const c = contribution(h);
    addTotals(c, 1);
    st.contrib.set(id, c);
    st.hosts.set(id, h);
    st.search.delete(id);
    st.gone.delete(id);
    st.dirty.add(id);
    if (st.live && num(h.seq) > st.maxSeq) st.maxSeq = num(h.seq);
    schedule();
  }

  function deleteHost(id) {
    if (!st.hosts.has(id)) return;
    addTotals(st.contrib.get(id), -1);
    st.contrib.delete(id);
    st.hosts.delete(id);
    st.search.delete(id);
    st.dirty.delete(id);
    st.gone.add(id);
    schedule();
  }

  function clearHosts() {
    st.hosts.clear(); st.cards.clear(); st.keys.clear(); st.search.clear(); st.ages.clear(); st.expiries.clear(); st.contrib.clear();
    st.dirty.clear(); st.gone.clear();
    st.order = [];
    for (const k of Object.keys(st.totals)) st.totals[k] = 0;
    ui.hosts.replaceChildren();
    schedule();
  }

  function schedule() {
    if (!st.frame) st.frame = requestAnimationFrame(flush);
  }

  const sortKey = (h) => `${str(h.friendly_name).toLowerCase()}\u0000${h.host_id}`;

  // lowerBound finds where key goes in st.order.
  function lowerBound(key) {
    let lo = 0;
    let hi = st.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (st.keys.get(st.order[mid]) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function unplace(id) {
    let i = lowerBound(st.keys.get(id));
    if (st.order[i] !== id) i = st.order.indexOf(id);
    if (i >= 0) st.order.splice(i, 1);
  }

  function place(fresh) {
    if (fresh.length === 0) return;
    if (st.order.length === 0) {
      // The first cards: sort once, insert once.
      for (const id of fresh) st.order.push(id);
      st.order.sort((a, b) => (st.keys.get(a) < st.keys.get(b) ? -1 : 1));
      const frag = document.createDocumentFragment();
      for (const id of st.order) frag.append(st.cards.get(id));
      ui.hosts.replaceChildren(frag);
      return;
    }
    for (const id of fresh) {
      const i = lowerBound(st.keys.get(id));
      st.order.splice(i, 0, id);
      const next = st.order[i + 1];
      ui.hosts.insertBefore(st.cards.get(id), next === undefined ? null : st.cards.get(next));
    }
  }

  function flush() {
    st.frame = 0;
    const t0 = performance.now();
    let changed = st.gone.size;
    for (const id of st.gone) {
      const card = st.cards.get(id);
      if (card) {
        unplace(id);
        card.remove();
      }
      st.cards.delete(id); st.keys.delete(id); st.ages.delete(id); st.expiries.delete(id);
    }
    st.gone.clear();
    const fresh = [];
    for (const id of st.dirty) {
      // Leave the rest to the next frames rather than block input: the
      // first load of a thousand hosts takes a few frames, not one long one.
      if (performance.now() - t0 > FRAME_BUDGET_MS) break;
      st.dirty.delete(id);
      const h = st.hosts.get(id);
      if (!h) continue;
      const key = sortKey(h);
      let card = st.cards.get(id);
      if (!card) {
        card = el('li', { class: 'host', 'data-host-id': id });
        st.cards.set(id, card);
        st.keys.set(id, key);
        fresh.push(id);
      } else if (st.keys.get(id) !== key) {
        unplace(id);
        st.keys.set(id, key);
        fresh.push(id);
      }
      renderCard(card, h);
      card.hidden = !matches(id, h);
      changed++;
    }
    place(fresh);
    if (st.refilter) {
      st.refilter = false;
      for (const [id, card] of st.cards) card.hidden = !matches(id, st.hosts.get(id));
    }
    renderTotals();
    const scriptMs = performance.now() - t0;
    const entry = { hosts: changed, scriptMs, frameMs: null };
    requestAnimationFrame(() => { entry.frameMs = performance.now() - t0; });
    stats.flushes.push(entry);
    if (stats.flushes.length > FLUSHES_KEPT) stats.flushes.shift();
    if (st.dirty.size) schedule();
    else if (st.live && st.ready && stats.firstRenderMs === null) {
      stats.firstRenderMs = performance.now();
      requestAnimationFrame(() => { stats.firstFrameMs = performance.now(); });
    }
  }

  function renderCard(card, h) {
    const id = h.host_id;
    const status = h.status === 'stale' ? 'stale' : 'up';
    card.dataset.status = status;
    card.dataset.health = health(h);
    const name = str(h.friendly_name) || 'unnamed host';
    const seenMs = str(h.last_seen) ? Date.parse(h.last_seen) : NaN;
    const seen = el('span', { class: 'age' }, age(seenMs));
    st.ages.set(id, [seen, seenMs]);
    st.expiries.delete(id);
    const expires = expiry(h, seenMs);

    const labels = Object.entries(obj(h.labels)).sort(([a], [b]) => (a < b ? -1 : 1));
    const actors = Object.entries(obj(h.actors)).sort(([a], [b]) => (a < b ? -1 : 1));
    const providers = Object.entries(obj(h.providers)).sort(([a], [b]) => (a < b ? -1 : 1));
    const instances = actors.reduce((n, [, a]) => n + num(obj(a).count), 0);

    card.replaceChildren(
      el('div', { class: 'host-head' },
        el('h3', { class: 'host-name' }, name),
        el('span', { class: `badge status-${status}` }, status)),
      el('p', { class: 'host-id' }, el('code', null, id)),
      el('dl', { class: 'host-meta' },
        el('div', null, el('dt', null, 'Version'), el('dd', null, str(h.version) || '–')),
        el('div', null, el('dt', null, 'Uptime'), el('dd', null, uptime(h))),
        el('div', null, el('dt', null, 'Last seen'), el('dd', null, seen)),
        expires && el('div', { class: 'expiry' }, el('dt', null, 'Expires'), el('dd', null, expires))),
      labels.length
        ? el('ul', { class: 'labels', 'aria-label': 'Labels' },
          ...labels.map(([k, v]) => el('li', null, el('span', { class: 'lk' }, k), '=', el('span', { class: 'lv' }, str(v)))))
        : el('p', { class: 'labels none' }, 'no labels'),
      inventory('Actors', `${actors.length} (${plural(instances, 'instance')})`, actors, ([key, a]) => {
        a = obj(a);
        return el('li', null,
          el('span', { class: `badge health-${healthClass(a.status)}` }, str(a.status) || '?'),
          el('code', { title: key }, short(key)),
          el('span', { class: 'count' }, `×${num(a.count)}`));
      }),
      inventory('Providers', `${providers.length}`, providers, ([key, p]) => {
        p = obj(p);
        return el('li', null,
          el('span', { class: `badge health-${healthClass(p.status)}` }, str(p.status) || '?'),
          el('span', { class: 'link-name' }, str(p.link_name) || 'default'),
          el('span', { class: 'contract' }, str(p.contract_id) || 'no contract'),
          el('code', { title: str(p.public_key) || key }, short(str(p.public_key) || key)));
      }));
  }

  function inventory(title, count, entries, item) {
    const list = el('ul', null, ...entries.slice(0, INVENTORY_SHOWN).map(item));
    if (entries.length > INVENTORY_SHOWN) list.append(el('li', { class: 'more' }, `and ${entries.length - INVENTORY_SHOWN} more`));
    return el('section', { class: `inv inv-${title.toLowerCase()}` },
      el('h4', null, `${title} `, el('span', { class: 'n' }, count)),
      entries.length ? list : el('p', { class: 'none' }, 'none'));
  }

  function renderTotals() {
    for (const [k, e] of Object.entries(ui.total)) {
      const v = COUNT.format(st.totals[k]);
      if (e.textContent !== v) e.textContent = v;
    }
    let visible = 0;
    for (const card of st.cards.values()) if (!card.hidden) visible++;
    const n = st.cards.size;
    let text;
    if (n === 0) text = st.live && !st.ready ? 'Loading hosts…' : 'No hosts.';
    else if (visible === n) text = `Showing all ${n} hosts.`;
    else text = `Showing ${visible} of ${n} hosts.`;
    if (ui.shown.textContent !== text) ui.shown.textContent = text;
    const top = String(Math.max(st.maxSeq, st.lastSeq, 1));
    if (st.live && ui.seq.max !== top) {
      ui.seq.max = top;
      // Keep the thumb at the end while live, unless it is being moved.
      if (ui.seqOut.textContent === 'latest') ui.seq.value = ui.seq.max;
    }
  }

  setInterval(() => {
    for (const [e, ms] of st.ages.values()) {
      const t = age(ms);
      if (e.textContent !== t) e.textContent = t;
    }
    for (const [e, ms] of st.expiries.values()) {
      const t = expiresIn(ms);
      if (e.textContent !== t) e.textContent = t;
    }
  }, AGE_EVERY_MS);

  // ---- filters ----

  function searchText(id, h) {
    let s = st.search.get(id);
    if (s === undefined) {
      const parts = [id, str(h.friendly_name), str(h.version), str(h.status)];
      for (const [k, v] of Object.entries(obj(h.labels))) parts.push(`${k}=${str(v)}`);
      for (const k of Object.keys(obj(h.actors))) parts.push(k);
      for (const [k, p] of Object.entries(obj(h.providers))) parts.push(k, str(obj(p).contract_id), str(obj(p).link_name));
      s = parts.join('\n').toLowerCase();
      st.search.set(id, s);
    }
    return s;
  }

  function matches(id, h) {
    const f = st.filter;
    if (f.status && h.status !== f.status) return false;
    const labels = obj(h.labels);
    for (const { k, v } of f.labels) {
      if (!Object.hasOwn(labels, k)) return false;
      if (v !== null && labels[k] !== v) return false;
    }
    return !f.text || searchText(id, h).includes(f.text);
  }

  function readFilters() {
    const labels = [];
    for (const part of ui.filterLabel.value.split(',')) {
      const p = part.trim();
      if (!p) continue;
      const i = p.indexOf('=');
      labels.push(i < 0 ? { k: p, v: null } : { k: p.slice(0, i).trim(), v: p.slice(i + 1).trim() });
    }
    st.filter = { labels, text: ui.filterText.value.trim().toLowerCase(), status: ui.filterStatus.value };
    st.refilter = true;
    schedule();
  }

  // ---- connection ----

  const CONN_TEXT = {
    connecting: 'Connecting…',
    connected: 'Live: connected',
    reconnecting: 'Reconnecting…',
    paused: 'Paused: showing the past',
  };

  function setConn(state) {
    if (ui.conn.dataset.state === state) return;
    ui.conn.dataset.state = state;
    ui.connText.textContent = CONN_TEXT[state];
  }

  function disconnect() {
    clearTimeout(st.retryTimer);
    if (st.es) st.es.close();
    st.es = null;
  }

  const watchURL = () => `${API}/lattices/${encodeURIComponent(st.lattice)}/watch`;

  function parse(data) {
    try {
      return JSON.parse(data);
    } catch {
      return null;
    }
  }

  // connect opens a new event stream. The server starts it with every
  // current host then "ready": hosts held from before that are not among
  // them are gone. A stream the browser reconnects by itself resumes with
  // Last-Event-ID and sends only what changed.
  function connect() {
    disconnect();
    const es = new EventSource(watchURL());
    st.es = es;
    st.resync = new Set();
    setConn(st.hosts.size || st.retries ? 'reconnecting' : 'connecting');
    es.onopen = () => {
      if (st.es !== es) return;
      st.retries = 0;
      setConn('connected');
    };
    es.addEventListener('host', (e) => {
      if (st.es !== es) return;
      stats.events++;
      const h = parse(e.data);
      if (!h || typeof h.host_id !== 'string') return;
      if (st.resync) st.resync.add(h.host_id);
      setHost(h);
    });
    es.addEventListener('delete', (e) => {
      if (st.es !== es) return;
      stats.events++;
      const d = parse(e.data);
      if (d && typeof d.host_id === 'string') deleteHost(d.host_id);
    });
    es.addEventListener('ready', () => {
      if (st.es !== es) return;
      if (st.resync) {
        for (const id of [...st.hosts.keys()]) if (!st.resync.has(id)) deleteHost(id);
        st.resync = null;
      }
      st.ready = true;
      schedule();
    });
    es.onerror = () => {
      if (st.es !== es) return;
      setConn('reconnecting');
      if (es.readyState === EventSource.CLOSED) {
        // The server answered with an error: the browser gives up, so
        // start a new stream after a growing pause.
        es.close();
        st.es = null;
        const wait = Math.min(1000 * 2 ** st.retries, 15000);
        st.retries++;
        st.retryTimer = setTimeout(connect, wait);
      }
    };
  }

  // ---- as of ----

  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: 'application/json' } });
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const err = new Error((body && typeof body.error === 'string' && body.error) || `HTTP ${r.status}`);
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  // The points ?as_of= can answer: from the earliest the stream and its
  // snapshots still hold to the last event.
  async function loadHistory() {
    try {
      const h = await getJSON(`${API}/lattices/${encodeURIComponent(st.lattice)}/history`);
      st.lastSeq = num(h.last_seq);
      st.earliestSeq = num(h.earliest_seq);
      ui.seq.min = String(Math.max(st.earliestSeq, 1));
      const when = h.earliest_time ? ` (${new Date(h.earliest_time).toLocaleString()})` : '';
      ui.seqRange.textContent = st.earliestSeq > 0
        ? `History available from stream sequence ${st.earliestSeq}${when} to ${st.lastSeq}.`
        : 'No point of this lattice\'s history can be rebuilt any more: its oldest events are gone.';
      renderTotals();
    } catch (err) {
      ui.seqRange.textContent = '';
    }
  }

  async function showAsOf(asOf, label) {
    const req = ++st.request;
    disconnect();
    st.live = false;
    st.ready = false;
    st.asOf = asOf;
    st.asOfLabel = label;
    setConn('paused');
    ui.live.setAttribute('aria-pressed', 'false');
    document.body.dataset.mode = 'asof';
    ui.mode.textContent = `Loading the lattice as of ${label}…`;
    if (!ui.panelLinks.hidden) loadLinks();
    try {
      const hosts = await getJSON(`${API}/lattices/${encodeURIComponent(st.lattice)}/hosts?as_of=${encodeURIComponent(asOf)}`);
      if (req !== st.request) return;
      clearHosts();
      for (const h of Array.isArray(hosts) ? hosts : []) setHost(h);
      ui.mode.textContent = `Showing the lattice as of ${label}. Press Live to follow changes again.`;
    } catch (err) {
      if (req !== st.request) return;
      if (err.status === 410) {
        clearHosts();
        const at = err.body && num(err.body.earliest_seq);
        ui.mode.textContent = `The lattice as of ${label} is gone: its events have aged out of the stream and no snapshot covers them.`
          + (at ? ` The earliest point available is stream sequence ${at}.` : '');
        loadHistory();
        return;
      }
      ui.mode.textContent = `Could not load the lattice as of ${label}: ${err.message}`;
    }
  }

  function goLive() {
    st.request++;
    st.live = true;
    st.ready = false;
    st.asOf = '';
    ui.live.setAttribute('aria-pressed', 'true');
    document.body.dataset.mode = 'live';
    ui.mode.textContent = 'Live: changes appear as they happen.';
    ui.seq.value = ui.seq.max;
    ui.seqOut.textContent = 'latest';
    clearHosts();
    connect();
    if (!ui.panelLinks.hidden) loadLinks();
  }

  ui.seq.addEventListener('input', () => {
    ui.seqOut.textContent = `seq ${ui.seq.value}`;
  });
  ui.seq.addEventListener('change', () => {
    showAsOf(ui.seq.value, `stream sequence ${ui.seq.value}`);
  });
  ui.timeForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = new Date(ui.time.value);
    if (!ui.time.value || Number.isNaN(t.getTime())) {
      ui.mode.textContent = 'Choose a date and time first.';
      return;
    }
    showAsOf(t.toISOString(), t.toLocaleString());
  });
  ui.live.addEventListener('click', goLive);

  // ---- links and ref maps ----

  function cell(text, attrs) {
    return el('td', attrs, text);
  }

  function renderLinks(docs) {
    const rows = [];
    for (const d of Array.isArray(docs) ? docs : []) {
      const l = obj(obj(d).link);
      const wit = str(l.wit_namespace) ? `${str(l.wit_namespace)}:${str(l.wit_package)}` : '';
      const ifaces = Array.isArray(l.interfaces) ? l.interfaces.filter((i) => typeof i === 'string') : [];
      const via = str(l.contract_id) || (ifaces.length ? `${wit}/${ifaces.join(', ')}` : wit);
      const from = str(l.actor_id) || str(l.source_id);
      const to = str(l.provider_id) || str(l.target);
      // Link values may hold secrets: show their names only.
      const values = Object.keys(obj(l.values)).sort().join(', ');
      rows.push(el('tr', null,
        cell(el('code', { title: from }, short(from))),
        cell(el('code', { title: to }, short(to))),
        cell(via), cell(str(l.link_name) || str(l.name)), cell(values || '–'),
        cell(obj(d).seq == null ? '–' : String(num(obj(d).seq)))));
    }
    if (!rows.length) rows.push(el('tr', null, cell('No links.', { colspan: '6' })));
    ui.links.replaceChildren(...rows);
  }

  function renderRefmaps(docs) {
    const rows = [];
    for (const d of Array.isArray(docs) ? docs : []) {
      const r = obj(d);
      rows.push(el('tr', null, cell(str(r.oci_url)), cell(el('code', null, str(r.public_key))),
        cell(r.seq == null ? '–' : String(num(r.seq)))));
    }
    if (!rows.length) rows.push(el('tr', null, cell('No ref maps.', { colspan: '3' })));
    ui.refmaps.replaceChildren(...rows);
  }

  async function loadLinks() {
    const req = ++st.linksRequest;
    const base = `${API}/lattices/${encodeURIComponent(st.lattice)}`;
    const q = st.live ? '' : `?as_of=${encodeURIComponent(st.asOf)}`;
    ui.linksStatus.textContent = 'Loading…';
    try {
      const [links, refmaps] = await Promise.all([getJSON(`${base}/links${q}`), getJSON(`${base}/refmaps${q}`)]);
      if (req !== st.linksRequest) return;
      renderLinks(links);
      renderRefmaps(refmaps);
      const when = st.live ? `read at ${new Date().toLocaleTimeString()}` : `as of ${st.asOfLabel}`;
      ui.linksStatus.textContent = `${plural(links.length, 'link')} and ${plural(refmaps.length, 'ref map')}, ${when}.`;
    } catch (err) {
      if (req === st.linksRequest) ui.linksStatus.textContent = `Could not load links: ${err.message}`;
    }
  }

  ui.linksRefresh.addEventListener('click', loadLinks);

  // ---- tabs ----

  const tabs = [ui.tabHosts, ui.tabLinks];

  function selectTab(tab, focus) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
    if (tab === ui.tabLinks) loadLinks();
  }

  for (const t of tabs) t.addEventListener('click', () => selectTab(t, false));
  document.querySelector('[role=tablist]').addEventListener('keydown', (e) => {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length], true);
  });

  // ---- lattices ----

  // ---- settings ----

  // loadSettings learns serve's host expiry, then shows stale hosts' expiry.
  async function loadSettings() {
    try {
      const s = obj(await getJSON(`${API}/settings`));
      const secs = s.host_expiry_seconds;
      if (typeof secs !== 'number' || !Number.isFinite(secs) || secs < 0) return;
      st.expiryMs = secs * 1000;
    } catch {
      return; // stale hosts just say no expiry
    }
    for (const [id, h] of st.hosts) if (h.status === 'stale') st.dirty.add(id);
    schedule();
  }

  async function loadLattices() {
    let names = [];
    try {
      names = await getJSON(`${API}/lattices`);
    } catch {
      // The selector keeps what it has.
    }
    const all = new Set(['default', st.lattice]);
    for (const n of Array.isArray(names) ? names : []) if (typeof n === 'string' && LATTICE_NAME.test(n)) all.add(n);
    const sorted = [...all].sort();
    const have = [...ui.lattice.options].map((o) => o.value);
    if (have.join('\n') !== sorted.join('\n')) {
      ui.lattice.replaceChildren(...sorted.map((n) => el('option', { value: n }, n)));
    }
    ui.lattice.value = st.lattice;
  }

  ui.lattice.addEventListener('focus', loadLattices);
  ui.lattice.addEventListener('change', () => {
    st.lattice = ui.lattice.value;
    const u = new URL(location.href);
    u.searchParams.set('lattice', st.lattice);
    history.replaceState(null, '', u);
    st.maxSeq = 0;
    st.lastSeq = 0;
    goLive();
    loadHistory();
  });

  ui.filters.addEventListener('submit', (e) => e.preventDefault());
  for (const e of [ui.filterLabel, ui.filterText]) e.addEventListener('input', readFilters);
  ui.filterStatus.addEventListener('change', readFilters);

  const wanted = new URLSearchParams(location.search).get('lattice');
  if (wanted && LATTICE_NAME.test(wanted)) st.lattice = wanted;
  document.body.dataset.mode = 'live';
  loadLattices();
  loadSettings();
  loadHistory();
  setInterval(() => { if (st.live) loadHistory(); }, HISTORY_EVERY_MS);
  connect();
  schedule();
})();
