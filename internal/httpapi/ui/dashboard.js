// The latticestate dashboard: one page of the hosts of a lattice at a time,
// live, or as they were at a point of the event stream (?as_of=).
//
// The server does the heavy work, so the page stays light whatever the
// size of the lattice: it pages and filters the hosts
// (/hosts?limit=&after=&label=&status=&q=) and counts them (/summary). The
// page holds only the hosts on screen. Live, one event stream
// (/watch?mode=both&host=…) follows just those hosts and brings the
// lattice's counts; when the counts change, the page is read again (at most
// every REFRESH_MS) to take in hosts that came or went.
//
// Everything a host sent is hostile input: it reaches the page only as text
// (textContent, text nodes, attribute values), never as markup.
//
// Rendering is incremental: an event only records the host and marks it
// dirty; once per animation frame the dirty cards are rebuilt, so a burst
// of events costs one layout.
'use strict';

(() => {
  const API = '/api/v1';
  const LATTICE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
  const PAGE = 50;
  const FIRST_SCREEN = 12;
  const FRAME_BUDGET_MS = 12;
  const AGE_EVERY_MS = 5000;
  const INVENTORY_SHOWN = 20;
  const REFRESH_MS = 2000;
  const SUGGESTIONS = 300;
  const KEPT = 200;
  // How often the live dashboard asks how far back history goes.
  const HISTORY_EVERY_MS = 15000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    lattice: $('lattice'), conn: $('conn'), connText: $('conn-text'),
    hosts: $('hosts'), shown: $('shown'), mode: $('mode'), pagers: [...document.querySelectorAll('[data-page]')],
    seq: $('asof-seq'), seqOut: $('asof-seq-out'), seqRange: $('asof-range'), timeForm: $('asof-form'), time: $('asof-time'), live: $('live'),
    filterLabel: $('filter-label'), filterText: $('filter-text'), filterStatus: $('filter-status'), filters: $('filters'),
    suggestions: $('label-suggestions'),
    tabHosts: $('tab-hosts'), tabLinks: $('tab-links'), panelLinks: $('panel-links'),
    links: document.querySelector('#links tbody'), refmaps: document.querySelector('#refmaps tbody'),
    linksStatus: $('links-status'), linksRefresh: $('links-refresh'),
    total: {
      hosts: $('total-hosts'), stale: $('total-stale'), actors: $('total-actors'),
      providers: $('total-providers'), unhealthy: $('total-unhealthy'),
    },
  };

  // Measurements of the page itself, read by the browser tests:
  // firstPaintMs is when the totals and the first page were first on
  // screen (ms since navigation start); pages are the page loads.
  const stats = { firstPaintMs: null, pages: [], events: 0, summaries: 0, watches: 0, flushes: [] };
  window.latticestateDashboard = { stats };

  const st = {
    lattice: 'default',
    live: true,
    asOf: '', asOfLabel: '',
    es: null, esKey: '', retries: 0, retryTimer: 0, interrupted: false,
    filter: { labels: [], text: '', status: '' }, loading: false, again: false,
    cursors: [''], // the after cursor of every page up to the current one
    next: null, total: 0, revision: '', pageError: '', pendingQuery: null, latticesLoaded: false,
    hosts: new Map(), // id → host document on the page
    order: [], // ids on the page, in the server's order
    cards: new Map(), // id → <li>
    ages: new Map(), // id → [element, last seen ms]
    expiries: new Map(), // id → [element, expires at ms], stale hosts while live
    expiryMs: null, // serve's host expiry (0: never), once /settings says it
    summarySeq: 0, lastSeq: 0, earliestSeq: 0,
    dirty: new Set(), placed: true, frame: 0,
    summaryKey: '', suggestionsKey: '',
    pageShown: false, summaryShown: false,
    rerender: false, // live and the past show cards differently (expiry)
    request: 0, summaryRequest: 0, linksRequest: 0,
    refreshTimer: 0, lastRefresh: 0,
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
  const keep = (list, entry) => {
    list.push(entry);
    if (list.length > KEPT) list.shift();
  };

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

  const validHost = (h) => h && typeof h === 'object' && typeof h.host_id === 'string' && h.host_id !== '';
  const latticeURL = () => `${API}/lattices/${encodeURIComponent(st.lattice)}`;

  // ---- the page of hosts: loads and events only record, flush renders ----

  function schedule() {
    if (!st.frame) st.frame = requestAnimationFrame(flush);
  }

  function flush() {
    st.frame = 0;
    const t0 = performance.now();
    for (const [id, card] of st.cards) {
      if (!st.hosts.has(id)) {
        card.remove();
        st.cards.delete(id);
        st.ages.delete(id);
        st.expiries.delete(id);
      }
    }
    // Cards are built in page order, the first screen in the first frame
    // and the rest as the frame budget allows, so that no frame is long.
    let built = 0;
    for (const id of st.order) {
      if (!st.dirty.has(id)) continue;
      if (built >= FIRST_SCREEN && performance.now() - t0 > FRAME_BUDGET_MS) break;
      st.dirty.delete(id);
      let card = st.cards.get(id);
      if (!card) {
        card = el('li', { class: 'host', 'data-host-id': id });
        st.cards.set(id, card);
        st.placed = false;
      }
      renderCard(card, st.hosts.get(id));
      built++;
    }
    for (const id of st.dirty) if (!st.hosts.has(id)) st.dirty.delete(id);
    if (!st.placed) {
      const want = [];
      for (const id of st.order) if (st.cards.has(id)) want.push(st.cards.get(id));
      const have = ui.hosts.children;
      let same = have.length === want.length;
      for (let i = 0; same && i < want.length; i++) same = have[i] === want[i];
      if (!same) ui.hosts.replaceChildren(...want);
      st.placed = true;
    }
    renderShown();
    if (st.pendingQuery !== null) {
      // Read by the browser tests: the page of this query is on screen.
      ui.hosts.dataset.query = st.pendingQuery;
      st.pendingQuery = null;
    }
    keep(stats.flushes, { hosts: built, scriptMs: performance.now() - t0 });
    if (st.dirty.size) schedule();
    if (stats.firstPaintMs === null && st.pageShown && st.summaryShown) {
      requestAnimationFrame(() => {
        if (stats.firstPaintMs === null) stats.firstPaintMs = performance.now();
      });
    }
  }

  function clearPage() {
    st.hosts.clear();
    st.order = [];
    st.dirty.clear();
    st.placed = false;
    st.total = 0;
    st.next = null;
    st.pageShown = false;
    schedule();
  }

  function filterParams() {
    const p = new URLSearchParams();
    for (const l of st.filter.labels) p.append('label', l);
    if (st.filter.status) p.set('status', st.filter.status);
    if (st.filter.text) p.set('q', st.filter.text);
    return p;
  }

  // loadPage reads the current page of the hosts the filters match; live,
  // the watch then follows them.
  async function loadPage() {
    st.loading = true;
    try {
      await readPage();
    } finally {
      st.loading = false;
    }
    if (st.again) {
      st.again = false;
      loadPage();
    }
  }

  async function readPage() {
    const req = ++st.request;
    clearTimeout(st.refreshTimer);
    st.refreshTimer = 0;
    st.lastRefresh = performance.now();
    const p = filterParams();
    p.set('limit', String(PAGE));
    const after = st.cursors[st.cursors.length - 1];
    if (after) p.set('after', after);
    if (!st.live) p.set('as_of', st.asOf);
    const q = p.toString();
    const t0 = performance.now();
    let page;
    let res;
    try {
      [page, res] = await fetchJSON(`${latticeURL()}/hosts?${q}`);
    } catch (err) {
      if (req !== st.request) return;
      if (!st.live && err.status === 410) {
        showGone(err);
        return;
      }
      st.pageError = err.message;
      renderShown();
      if (err.status === undefined || err.status >= 500) retryLater(loadPage);
      return;
    }
    if (req !== st.request) return;
    st.pageError = '';
    const hosts = Array.isArray(obj(page).hosts) ? page.hosts : [];
    if (!hosts.length && st.cursors.length > 1) {
      // The hosts of this page went: back to the first page.
      st.cursors = [''];
      st.again = true;
      return;
    }
    showPage(hosts, page, q);
    st.revision = res.headers.get('Latticestate-Revision') || '';
    keep(stats.pages, { ms: performance.now() - t0, hosts: hosts.length, query: q });
    if (st.live) watch();
    else ui.mode.textContent = `Showing the lattice as of ${st.asOfLabel}. Press Live to follow changes again.`;
    if (!st.latticesLoaded) {
      st.latticesLoaded = true;
      loadLattices();
    }
  }

  function showPage(hosts, page, q) {
    const ids = [];
    const seen = new Set();
    for (const h of hosts) {
      if (!validHost(h) || seen.has(h.host_id)) continue;
      seen.add(h.host_id);
      ids.push(h.host_id);
      const old = st.hosts.get(h.host_id);
      if (st.rerender || !old || old.seq !== h.seq || old.status !== h.status) {
        st.hosts.set(h.host_id, h);
        st.dirty.add(h.host_id);
      }
      if (st.live) st.summarySeq = Math.max(st.summarySeq, num(h.seq));
    }
    st.rerender = false;
    renderSlider();
    for (const id of [...st.hosts.keys()]) if (!seen.has(id)) st.hosts.delete(id);
    st.order = ids;
    st.placed = false;
    st.total = num(page.total);
    st.next = typeof page.next === 'string' ? page.next : null;
    st.pageShown = true;
    st.pendingQuery = q;
    schedule();
  }

  // scheduleRefresh reads the page again soon, at most every REFRESH_MS.
  function scheduleRefresh() {
    if (!st.live || st.refreshTimer) return;
    const wait = Math.max(0, st.lastRefresh + REFRESH_MS - performance.now());
    st.refreshTimer = setTimeout(() => {
      st.refreshTimer = 0;
      loadPage();
    }, wait);
  }

  function retryLater(f) {
    clearTimeout(st.retryTimer);
    if (!st.live) return;
    setConn('reconnecting');
    const wait = Math.min(1000 * 2 ** st.retries, 15000);
    st.retries++;
    st.retryTimer = setTimeout(f, wait);
  }

  function renderShown() {
    let text;
    if (st.pageError) {
      text = `Could not load hosts: ${st.pageError}`;
      ui.shown.dataset.error = '';
    } else {
      delete ui.shown.dataset.error;
      const n = st.order.length;
      const filtered = st.filter.labels.length || st.filter.text || st.filter.status;
      if (!st.pageShown) text = 'Loading hosts…';
      else if (n === 0) text = filtered ? 'No hosts match the filters.' : 'No hosts.';
      else {
        const first = (st.cursors.length - 1) * PAGE + 1;
        const range = st.cursors.length === 1 && !st.next ? `All ${COUNT.format(n)}` : `${COUNT.format(first)}–${COUNT.format(first + n - 1)} of ${COUNT.format(st.total)}`;
        text = `${range} ${filtered ? 'matching hosts' : (n === 1 && !st.next ? 'host' : 'hosts')}.`;
      }
    }
    if (ui.shown.textContent !== text) ui.shown.textContent = text;
    for (const b of ui.pagers) {
      b.disabled = b.dataset.page === 'prev' ? st.cursors.length <= 1 : !st.next;
    }
  }

  for (const b of ui.pagers) {
    b.addEventListener('click', () => {
      if (b.dataset.page === 'prev') {
        if (st.cursors.length > 1) st.cursors.pop();
      } else if (st.next) {
        st.cursors.push(st.next);
      }
      loadPage();
      if (b.closest('.pager-bottom')) ui.shown.scrollIntoView({ block: 'nearest' });
    });
  }

  // ---- the summary ----

  function renderSummary(s) {
    s = obj(s);
    const hosts = obj(s.hosts);
    const actors = obj(s.actors);
    const providers = obj(s.providers);
    const values = {
      hosts: num(hosts.total), stale: num(obj(hosts.by_status).stale), actors: num(actors.instances),
      providers: num(providers.total),
      unhealthy: num(obj(providers.by_status).Unhealthy) + num(obj(actors.by_status).Unhealthy),
    };
    for (const [k, e] of Object.entries(ui.total)) {
      const v = COUNT.format(values[k]);
      if (e.textContent !== v) e.textContent = v;
    }
    if (st.live) {
      st.summarySeq = Math.max(st.summarySeq, num(s.seq));
      renderSlider();
    }
    renderSuggestions(obj(s.labels).top);
    st.summaryShown = true;
    schedule();
  }

  // renderSlider puts the end of the as-of slider at the newest point.
  function renderSlider() {
    const max = String(Math.max(st.summarySeq, st.lastSeq, 1));
    if (!st.live || ui.seq.max === max) return;
    ui.seq.max = max;
    // Keep the thumb at the end while live, unless it is being moved.
    if (ui.seqOut.textContent === 'latest') ui.seq.value = max;
  }

  // renderSuggestions offers the most common labels as the label filter's
  // completions.
  function renderSuggestions(labels) {
    const options = [];
    for (const [k, l] of Object.entries(obj(labels))) {
      options.push(k);
      for (const v of Object.keys(obj(obj(l).top))) options.push(`${k}=${v}`);
    }
    options.sort();
    options.length = Math.min(options.length, SUGGESTIONS);
    const key = options.join('\n');
    if (key === st.suggestionsKey) return;
    st.suggestionsKey = key;
    ui.suggestions.replaceChildren(...options.map((o) => el('option', { value: o })));
  }

  async function loadSummary() {
    const req = ++st.summaryRequest;
    const q = st.live ? '' : `?as_of=${encodeURIComponent(st.asOf)}`;
    try {
      const s = await getJSON(`${latticeURL()}/summary${q}`);
      if (req !== st.summaryRequest) return;
      st.summaryKey = JSON.stringify(s);
      renderSummary(s);
    } catch (err) {
      if (req !== st.summaryRequest || st.live || err.status === 410) return; // the page says when it is gone
      ui.mode.textContent = `Could not load the lattice as of ${st.asOfLabel}: ${err.message}`;
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

  // ---- filters ----

  function readFilters() {
    const labels = [];
    for (const part of ui.filterLabel.value.split(',')) {
      const p = part.trim();
      if (!p) continue;
      const i = p.indexOf('=');
      labels.push(i < 0 ? p : `${p.slice(0, i).trim()}=${p.slice(i + 1).trim()}`);
    }
    st.filter = { labels, text: ui.filterText.value.trim(), status: ui.filterStatus.value };
    st.cursors = [''];
    // Typing coalesces: while a page is read, only the latest filters are
    // read next.
    if (st.loading) {
      st.request++; // what is being read is not wanted any more
      st.again = true;
    } else {
      loadPage();
    }
  }

  // ---- the watch ----

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
    st.esKey = '';
  }

  function parse(data) {
    try {
      return JSON.parse(data);
    } catch {
      return null;
    }
  }

  // watch follows the hosts on the page and the lattice's counts with one
  // event stream; a page of other hosts opens a new one. It starts from
  // the revision the page was read at (since=), so it sends only what
  // changed after.
  function watch() {
    const p = filterParams();
    if (st.order.length) {
      p.set('mode', 'both');
      for (const id of st.order) p.append('host', id);
    } else {
      p.set('mode', 'summary');
    }
    const key = `${latticeURL()}/watch?${p}`;
    if (st.es && st.esKey === key) return;
    if (st.revision) p.set('since', st.revision);
    connect(key, `${latticeURL()}/watch?${p}`);
  }

  // connect opens an event stream. The server starts it with the hosts it
  // follows and the counts, then "ready". When it ends (the server
  // restarted, or dropped a client too slow to keep up with "resync"), the
  // browser reconnects by itself with Last-Event-ID and gets what changed;
  // the page is then read again for the hosts that came or went.
  function connect(key, url) {
    disconnect();
    const es = new EventSource(url);
    st.es = es;
    st.esKey = key;
    stats.watches++;
    if (ui.conn.dataset.state !== 'connected') setConn(st.retries ? 'reconnecting' : 'connecting');
    es.onopen = () => {
      if (st.es !== es) return;
      const again = st.retries > 0 || st.interrupted;
      st.retries = 0;
      st.interrupted = false;
      setConn('connected');
      if (again) scheduleRefresh();
    };
    es.addEventListener('host', (e) => {
      if (st.es !== es) return;
      stats.events++;
      const h = parse(e.data);
      if (!validHost(h) || !st.hosts.has(h.host_id)) return;
      const old = st.hosts.get(h.host_id);
      if (old.seq === h.seq && old.status === h.status) return;
      // The hosts shown move the slider's end at once; the counts every
      // second.
      st.summarySeq = Math.max(st.summarySeq, num(h.seq));
      renderSlider();
      st.hosts.set(h.host_id, h);
      st.dirty.add(h.host_id);
      schedule();
    });
    es.addEventListener('delete', (e) => {
      if (st.es !== es) return;
      stats.events++;
      const d = parse(e.data);
      if (!d || !st.hosts.has(d.host_id)) return;
      st.hosts.delete(d.host_id);
      st.order = st.order.filter((id) => id !== d.host_id);
      st.placed = false;
      schedule();
      scheduleRefresh();
    });
    es.addEventListener('summary', (e) => {
      if (st.es !== es) return;
      stats.summaries++;
      const s = parse(e.data);
      if (!s) return;
      const key = JSON.stringify(s);
      // Other counts: hosts came, went or changed; the page may differ.
      if (st.summaryKey && key !== st.summaryKey) scheduleRefresh();
      st.summaryKey = key;
      renderSummary(s);
    });
    es.addEventListener('ready', () => {
      if (st.es === es) setConn('connected');
    });
    es.addEventListener('resync', (e) => {
      if (st.es !== es) return;
      st.interrupted = true;
      if (obj(parse(e.data)).resume === false) {
        // The server cannot continue from what this page holds: read the
        // page again and follow it from there.
        disconnect();
        loadPage();
      }
    });
    es.onerror = () => {
      if (st.es !== es) return;
      st.interrupted = true;
      setConn('reconnecting');
      if (es.readyState === EventSource.CLOSED) {
        // The server answered with an error: the browser gives up, so
        // start a new stream after a growing pause.
        es.close();
        st.es = null;
        retryLater(() => connect(key, url));
      }
    };
  }

  // ---- as of ----

  // fetchJSON answers the decoded body and the response, or throws the
  // server's error with its status.
  async function fetchJSON(url) {
    // A plain GET, so that the first page and summary the HTML preloads
    // are taken from there.
    const r = await fetch(url);
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const err = new Error((body && typeof body.error === 'string' && body.error) || `HTTP ${r.status}`);
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return [body, r];
  }

  const getJSON = async (url) => (await fetchJSON(url))[0];

  // The points ?as_of= can answer: from the earliest the stream and its
  // snapshots still hold to the last event.
  async function loadHistory() {
    try {
      const h = await getJSON(`${latticeURL()}/history`);
      st.lastSeq = num(h.last_seq);
      st.earliestSeq = num(h.earliest_seq);
      ui.seq.min = String(Math.max(st.earliestSeq, 1));
      const when = h.earliest_time ? ` (${new Date(h.earliest_time).toLocaleString()})` : '';
      ui.seqRange.textContent = st.earliestSeq > 0
        ? `History available from stream sequence ${st.earliestSeq}${when} to ${st.lastSeq}.`
        : 'No point of this lattice\'s history can be rebuilt any more: its oldest events are gone.';
      renderSlider();
    } catch {
      ui.seqRange.textContent = '';
    }
  }

  // showGone says that the lattice as of the point asked is gone.
  function showGone(err) {
    clearPage();
    const at = err.body && num(err.body.earliest_seq);
    ui.mode.textContent = `The lattice as of ${st.asOfLabel} is gone: its events have aged out of the stream and no snapshot covers them.`
      + (at ? ` The earliest point available is stream sequence ${at}.` : '');
    loadHistory();
  }

  function showAsOf(asOf, label) {
    disconnect();
    st.rerender = st.live;
    st.live = false;
    st.asOf = asOf;
    st.asOfLabel = label;
    st.cursors = [''];
    setConn('paused');
    ui.live.setAttribute('aria-pressed', 'false');
    document.body.dataset.mode = 'asof';
    ui.mode.textContent = `Loading the lattice as of ${label}…`;
    if (!ui.panelLinks.hidden) loadLinks();
    loadSummary();
    loadPage();
  }

  function goLive() {
    disconnect();
    st.rerender = !st.live;
    st.live = true;
    st.asOf = '';
    st.cursors = [''];
    ui.live.setAttribute('aria-pressed', 'true');
    document.body.dataset.mode = 'live';
    ui.mode.textContent = 'Live: changes appear as they happen.';
    ui.seq.value = ui.seq.max;
    ui.seqOut.textContent = 'latest';
    setConn('connecting');
    loadSummary();
    loadPage();
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

  // ---- lattices ----

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
    st.lastSeq = 0;
    st.summarySeq = 0;
    clearPage();
    goLive();
    loadHistory();
  });

  ui.filters.addEventListener('submit', (e) => e.preventDefault());
  for (const e of [ui.filterLabel, ui.filterText]) e.addEventListener('input', readFilters);
  ui.filterStatus.addEventListener('change', readFilters);

  const wanted = new URLSearchParams(location.search).get('lattice');
  if (wanted && LATTICE_NAME.test(wanted)) st.lattice = wanted;
  goLive();
  loadSettings();
  loadHistory();
  setInterval(() => { if (st.live) loadHistory(); }, HISTORY_EVERY_MS);
  schedule();
})();
