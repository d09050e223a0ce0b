// Keel's status page. Everything it shows comes from the control API's own answers: the
// service list once, then the event stream (one JSON event per line) keeps it current; a log
// pane follows a service's log stream. No framework and no build step: plain DOM calls, and
// every service-provided string goes in through textContent, never as markup.
'use strict';

const csrf = document.querySelector('meta[name="keel-csrf"]').content;
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

/** Every service object (`ServiceView`: config fields and live snapshot), by name. */
const services = new Map();
/** Each service's table row and the cells that change. */
const rows = new Map();

const ACTIVE = new Set(['starting', 'running', 'stopping', 'restarting']);
const DOING = { start: 'Starting', stop: 'Stopping', restart: 'Restarting' };
const DONE = { start: 'started', stop: 'stopped', restart: 'restarted' };

function say(text, error = false) {
  const m = $('message');
  m.textContent = text;
  m.classList.toggle('error', error);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** The error message of a refused request, from the API's envelope when there is one. */
async function failure(res) {
  try {
    const body = await res.json();
    return { text: body.error || `${res.status} ${res.statusText}`, details: body.details };
  } catch {
    return { text: `${res.status} ${res.statusText}` };
  }
}

/** A session that ended (the daemon restarted, or it expired): the page starts over. */
function signedOut() {
  location.assign('/');
}

/** GET a JSON answer's data. */
async function get(path) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401) signedOut();
  if (!res.ok) throw new Error((await failure(res)).text);
  return (await res.json()).data;
}

/** Reads a streamed answer line by line until it ends or `signal` aborts it. */
async function streamLines(path, signal, onLine) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', signal });
  if (res.status === 401) signedOut();
  if (!res.ok) throw new Error((await failure(res)).text);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      onLine(line);
    }
  }
}

// ---- the table ----

function el(tag, attrs = {}, text = '') {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function button(name, act, label) {
  const b = el('button', { type: 'button', 'data-act': act, 'aria-label': `${label} ${name}` }, label);
  b.addEventListener('click', () => {
    if (b.getAttribute('aria-disabled') === 'true') return;
    if (act === 'log') openLog(name);
    else act_(name, act, false);
  });
  return b;
}

/** Builds the table: services grouped by category (in the order categories first appear),
 *  each group in config order, as `keel top` and `services list` show them. */
function buildTable() {
  const body = $('rows');
  body.replaceChildren();
  rows.clear();
  const categories = [];
  for (const s of services.values()) if (!categories.includes(s.category)) categories.push(s.category);
  for (const category of categories) {
    const head = el('tr', { class: 'category' });
    head.append(el('th', { colspan: '7', scope: 'colgroup' }, category));
    body.append(head);
    for (const s of services.values()) {
      if (s.category !== category) continue;
      const tr = el('tr', { class: 'service', 'data-service': s.name });
      const cells = {
        name: el('td', { class: 'name' }, s.name),
        status: el('td', { class: 'status', 'data-label': 'Status' }),
        health: el('td', { class: 'health', 'data-label': 'Health' }),
        uptime: el('td', { class: 'uptime', 'data-label': 'Uptime' }),
        restarts: el('td', { class: 'restarts', 'data-label': 'Restarts' }),
        mode: el('td', { class: 'mode', 'data-label': 'Mode' }, s.deployment_mode),
        actions: el('td', { class: 'actions' }),
      };
      const buttons = {
        start: button(s.name, 'start', 'Start'),
        stop: button(s.name, 'stop', 'Stop'),
        restart: button(s.name, 'restart', 'Restart'),
      };
      cells.actions.append(buttons.start, buttons.stop, buttons.restart, button(s.name, 'log', 'Log'));
      tr.append(...Object.values(cells));
      body.append(tr);
      rows.set(s.name, { tr, cells, buttons });
      paint(s.name);
    }
  }
}

/** A status or health in words, after a coloured dot (the words carry the meaning). */
function labelled(cell, cls, text, extra) {
  cell.className = cell.className.split(' ').filter((c) => !/^[sh]-/.test(c)).concat(cls).join(' ');
  const parts = [el('span', { class: 'dot', 'aria-hidden': 'true' }), el('span', { class: 'text' }, text)];
  if (extra) parts.push(el('span', { class: 'check' }, extra));
  cell.replaceChildren(...parts);
}

function healthOf(s) {
  if (!s.health_check) return { cls: 'h-none', text: 'no check' };
  if (!s.health) return { cls: 'h-none', text: '—' };
  return { cls: `h-${s.health.state}`, text: s.health.state, message: s.health.last ? s.health.last.message : '' };
}

function uptime(s) {
  if (!ACTIVE.has(s.status) || !s.started_at_ms) return '—';
  let t = Math.max(0, Math.floor((Date.now() - s.started_at_ms) / 1000));
  const d = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600), m = Math.floor((t % 3600) / 60);
  t %= 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(t).padStart(2, '0')}s`;
  return `${t}s`;
}

/** Shows one service's current state in its row and its box in the graph. */
function paint(name) {
  const s = services.get(name);
  const row = rows.get(name);
  if (!s || !row) return;
  const why = s.status === 'failed' && s.reason ? s.reason : '';
  labelled(row.cells.status, `s-${s.status}`, s.status, why);
  const h = healthOf(s);
  labelled(row.cells.health, h.cls, h.text, h.message);
  row.cells.uptime.textContent = uptime(s);
  row.cells.restarts.textContent = String(s.restarts);
  const active = ACTIVE.has(s.status);
  row.buttons.start.setAttribute('aria-disabled', String(active));
  row.buttons.stop.setAttribute('aria-disabled', String(!active));
  row.buttons.restart.setAttribute('aria-disabled', String(!active));
  row.tr.dataset.status = s.status;
  paintNode(name);
}

function paintNode(name) {
  const s = services.get(name);
  for (const g of document.querySelectorAll('#graph g.node')) {
    if (g.dataset.service !== name) continue;
    const h = healthOf(s);
    g.setAttribute('class', `node s-${s.status} ${h.cls}`);
    const state = s.health ? `${s.status} · ${h.text}` : s.status;
    g.querySelector('text.state').textContent = state;
  }
}

// ---- live updates ----

async function loadList() {
  const list = await get('/api/v1/services/list');
  services.clear();
  for (const s of list) services.set(s.name, s);
  buildTable();
  await loadGraph();
}

async function loadGraph() {
  const res = await fetch('/graph.svg', { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) return;
  // The daemon's own drawing, every name escaped there.
  $('graph').innerHTML = await res.text();
  for (const name of services.keys()) paintNode(name);
}

/** One event of the stream (docs/api.md, "The event stream"). */
function apply(event) {
  switch (event.event) {
    case 'snapshot': {
      const names = event.services.map((s) => s.name);
      // A reload added or removed services: the list and the graph are read again.
      if (names.length !== services.size || names.some((n) => !services.has(n))) {
        loadList().catch((e) => say(`cannot read the services: ${e.message}`, true));
        return;
      }
      for (const snap of event.services) update(snap);
      return;
    }
    case 'changed': {
      const { event: _, ...snap } = event;
      if (!services.has(snap.name)) {
        loadList().catch(() => {});
        return;
      }
      update(snap);
      return;
    }
    case 'health': {
      const s = services.get(event.service);
      if (!s || !s.health) return;
      s.health.state = event.state;
      s.health.last = event.report;
      paint(event.service);
      return;
    }
    case 'lagged':
      loadList().catch(() => {});
      return;
    default:
  }
}

function update(snap) {
  const s = services.get(snap.name);
  Object.assign(s, snap);
  paint(snap.name);
}

function connection(live) {
  const c = $('connection');
  c.textContent = live ? 'live' : 'disconnected: reconnecting…';
  c.className = `badge ${live ? 'live' : 'down'}`;
}

/** Follows the event stream for the page's life; when it breaks, it reconnects (the new
 *  stream begins with a snapshot of every service, so nothing missed stays missed). */
async function followEvents() {
  let wait = 500;
  for (;;) {
    try {
      await streamLines('/api/v1/events?events=changed,health', undefined, (line) => {
        if (!line) return;
        connection(true);
        wait = 500;
        apply(JSON.parse(line));
      });
    } catch (e) {
      console.warn('event stream', e);
    }
    connection(false);
    await sleep(wait);
    wait = Math.min(wait * 2, 10000);
  }
}

// ---- actions ----

async function act_(name, verb, force) {
  say(`${DOING[verb]} ${name}…`);
  const body = verb === 'restart' ? '' : JSON.stringify({ force });
  let res;
  try {
    res = await fetch(`/api/v1/services/${enc(name)}/${verb}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Keel-Csrf': csrf },
      body,
    });
  } catch (e) {
    say(`${name}: the daemon did not answer (${e.message})`, true);
    return;
  }
  if (res.ok) {
    say(`${name} ${DONE[verb]}${force ? ' (forced)' : ''}`);
    return;
  }
  if (res.status === 401) signedOut();
  const f = await failure(res);
  if (res.status === 409 && f.details && Array.isArray(f.details.dependents)) {
    const one = f.details.dependents.length === 1;
    askForce(name, f.details.dependents);
    say(`${name} was not stopped: ${f.details.dependents.join(', ')} ${one ? 'depends' : 'depend'} on it and ${one ? 'runs' : 'run'}`, true);
    return;
  }
  say(`${name}: ${f.text}`, true);
}

/** A stop refused because dependents run: says which, and offers a forced stop. */
function askForce(name, dependents) {
  const d = $('confirm');
  const deps = dependents.join(', ');
  $('confirm-text').textContent =
    `${name} was not stopped: ${deps} ${dependents.length === 1 ? 'depends' : 'depend'} on it ` +
    `and ${dependents.length === 1 ? 'runs' : 'run'}. Stop ${name} anyway? ${deps} will keep running without it.`;
  d.dataset.service = name;
  d.showModal();
  $('confirm-cancel').focus();
}

// ---- the log pane ----

const MAX_LOG_LINES = 20000;
const FIRST_LINES = 200;
const MORE_LINES = 500;
let logFollow = null;
let logName = null;

function logLine(text) {
  const cls = text.includes(' [stderr] ') ? 'stderr' : text.includes(' [keel] ') ? 'keel' : 'stdout';
  return el('span', { class: cls }, `${text}\n`);
}

/** Shows `name`'s log: its last lines, then every new one (both streams, as the log file has
 *  them, each line tagged [stdout], [stderr] or [keel]). */
function openLog(name) {
  if (logFollow) logFollow.abort();
  const ctl = new AbortController();
  logFollow = ctl;
  logName = name;
  const pre = $('log');
  pre.replaceChildren();
  $('log-section').hidden = false;
  $('log-title').textContent = `Log: ${name}`;
  $('log-earlier').disabled = false;
  (async () => {
    let wait = 500;
    while (!ctl.signal.aborted) {
      try {
        // After a break, only lines newer than the pane's are asked for again.
        const lines = pre.childElementCount ? 0 : FIRST_LINES;
        await streamLines(`/api/v1/services/${enc(name)}/logs?lines=${lines}&follow=true`, ctl.signal, (line) => {
          pre.append(logLine(line));
          while (pre.childElementCount > MAX_LOG_LINES) pre.firstElementChild.remove();
          if ($('log-stick').checked) pre.scrollTop = pre.scrollHeight;
          wait = 500;
        });
      } catch (e) {
        if (ctl.signal.aborted) return;
        console.warn('log stream', e);
      }
      await sleep(wait);
      wait = Math.min(wait * 2, 10000);
    }
  })();
  $('log').focus();
}

/** Earlier lines, above those shown: the log's last N lines are read again, N reaching
 *  further back each time, and what the pane lacks is put in front, where its first line is
 *  found in them (lines carry a millisecond timestamp, so one is found where it was). */
async function earlierLines() {
  const name = logName;
  const pre = $('log');
  const shown = pre.childElementCount;
  const first = pre.firstElementChild ? pre.firstElementChild.textContent.replace(/\n$/, '') : null;
  let data;
  try {
    data = await get(`/api/v1/services/${enc(name)}/logs?lines=${shown + MORE_LINES}`);
  } catch (e) {
    say(`cannot read the log of ${name}: ${e.message}`, true);
    return;
  }
  if (name !== logName) return;
  const lines = data.lines;
  let at = first === null ? lines.length : -1;
  if (first !== null) {
    // The pane's first line, closest to where it is expected.
    const expected = lines.length - shown;
    let best = Infinity;
    lines.forEach((l, i) => {
      if (l === first && Math.abs(i - expected) < best) {
        best = Math.abs(i - expected);
        at = i;
      }
    });
  }
  if (at <= 0) {
    say(`no earlier lines in the log of ${name}`);
    $('log-earlier').disabled = true;
    $('log-close').focus();
    return;
  }
  const before = pre.scrollHeight;
  const fragment = document.createDocumentFragment();
  for (const l of lines.slice(0, at)) fragment.append(logLine(l));
  pre.prepend(fragment);
  $('log-stick').checked = false;
  pre.scrollTop += pre.scrollHeight - before;
  say(`${at} earlier lines of ${name}`);
}

function closeLog() {
  if (logFollow) logFollow.abort();
  logFollow = null;
  const name = logName;
  logName = null;
  $('log-section').hidden = true;
  const back = rows.get(name);
  if (back) back.tr.querySelector('button[data-act="log"]').focus();
}

// ---- start ----

async function main() {
  $('log-earlier').addEventListener('click', earlierLines);
  $('log-close').addEventListener('click', closeLog);
  $('log-section').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeLog();
  });
  $('confirm-cancel').addEventListener('click', () => {
    const name = $('confirm').dataset.service;
    $('confirm').close();
    say(`${name} left running`);
  });
  $('confirm-force').addEventListener('click', () => {
    const name = $('confirm').dataset.service;
    $('confirm').close();
    act_(name, 'stop', true);
  });
  const logout = $('logout');
  if (logout) {
    logout.addEventListener('click', async () => {
      await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-Keel-Csrf': csrf } });
      location.assign('/login');
    });
  }
  try {
    const d = await get('/api/v1/daemon');
    $('daemon').textContent = `${d.config} · daemon pid ${d.pid} · keel ${d.version}`;
    await loadList();
  } catch (e) {
    say(`cannot read the services: ${e.message}`, true);
  }
  followEvents();
  // Uptimes count on between events; nothing is asked of the daemon for it.
  setInterval(() => {
    for (const [name, row] of rows) row.cells.uptime.textContent = uptime(services.get(name));
  }, 1000);
}

main();
