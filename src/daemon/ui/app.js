// Poky web console: a single page over pokyd's own API, hash-routed.
// No framework, nothing fetched from elsewhere; the DOM is built with
// textContent only (task parameters and logs are user data), so the strict
// Content-Security-Policy pokyd sends has nothing inline to allow.
'use strict';

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'lost']);
const STATUSES = ['queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled', 'lost'];
const PAGE_SIZE = 20;
const TOKEN_KEY = 'poky.token';
const $ = (id) => document.getElementById(id);

// ---- DOM helpers ---------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}

function when(iso) {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

function badge(status) {
  return el('span', { class: 'badge s-' + status, 'data-status': status, text: status });
}

// ---- the API -------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
    this.status = status;
    this.problem = problem || {};
  }
}

const auth = {
  token() { return sessionStorage.getItem(TOKEN_KEY); },
  headers(extra) {
    const h = Object.assign({}, extra);
    const t = auth.token();
    if (t) h.Authorization = 'Bearer ' + t;
    return h;
  },
  // A 401: show the token form; the current page is drawn again once a
  // token is given.
  ask(wrong) {
    $('auth').hidden = false;
    $('auth-error').textContent = wrong ? 'pokyd refused that token.' : '';
    $('token').focus();
  },
};

async function api(method, path, body, extraHeaders) {
  const init = {
    method,
    headers: auth.headers(Object.assign({ Accept: 'application/json' }, extraHeaders)),
    cache: 'no-store',
    credentials: 'omit',
    redirect: 'error',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const type = r.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await r.json().catch(() => null) : await r.text();
  if (r.status === 401) auth.ask(!!auth.token());
  if (!r.ok) throw new ApiError(r.status, typeof data === 'object' ? data : null);
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

// ---- live updates --------------------------------------------------------
// GET /events (Server-Sent Events) read with fetch(): EventSource cannot send
// the Authorization header.  Where pokyd has no /events, views poll.

const live = {
  mode: 'starting',           // 'events' | 'poll' | 'starting'
  watchers: new Set(),
  lastId: null,
  abort: null,
  retryMs: 1000,
  set(mode, text) {
    live.mode = mode;
    $('live').textContent = text;
    $('live').dataset.mode = mode;
  },
  notify(id) { for (const w of live.watchers) w(id); },
  restart() {
    if (live.abort) live.abort.abort();
    live.start();
  },
  async start() {
    const ctl = new AbortController();
    live.abort = ctl;
    const headers = auth.headers({ Accept: 'text/event-stream' });
    if (live.lastId !== null) headers['Last-Event-ID'] = live.lastId;
    let r;
    try {
      r = await fetch('/events', { headers, cache: 'no-store', credentials: 'omit',
        redirect: 'error', signal: ctl.signal });
    } catch (e) {
      if (ctl.signal.aborted) return;
      return live.retry(ctl);
    }
    if (r.status === 404 || r.status === 405 || r.status === 501) {
      live.set('poll', 'live: polling');
      return;                 // this pokyd has no event stream
    }
    if (r.status === 401) {
      live.set('poll', 'live: polling');
      return;                 // restarted when a token is given
    }
    if (!r.ok || !r.body) return live.retry(ctl);
    live.retryMs = 1000;
    live.set('events', 'live');
    try {
      await live.read(r.body, ctl);
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    live.retry(ctl);
  },
  retry(ctl) {
    if (ctl.signal.aborted || live.abort !== ctl) return;
    live.set('poll', 'live: reconnecting');
    setTimeout(() => { if (live.abort === ctl) live.start(); }, live.retryMs);
    live.retryMs = Math.min(live.retryMs * 2, 15000);
  },
  async read(stream, ctl) {
    const reader = stream.getReader();
    const dec = new TextDecoder();
    let buf = '', ev = { data: [], id: null, type: 'message' };
    for (;;) {
      const { value, done } = await reader.read();
      if (done || ctl.signal.aborted) return;
      buf += dec.decode(value, { stream: true });
      const lines = buf.split(/\r\n|\r|\n/);
      buf = lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (ev.id !== null) live.lastId = ev.id;
          if (ev.data.length) live.dispatch(ev.type, ev.data.join('\n'));
          ev = { data: [], id: null, type: 'message' };
          continue;
        }
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        let v = i < 0 ? '' : line.slice(i + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'data') ev.data.push(v);
        else if (field === 'id') ev.id = v;
        else if (field === 'event') ev.type = v;
        else if (field === 'retry' && /^\d+$/.test(v)) live.retryMs = Number(v);
      }
    }
  },
  dispatch(type, data) {
    let d;
    try { d = JSON.parse(data); } catch (e) { return; }
    if (!d || typeof d !== 'object') return;
    const id = d.id || d.task_id || (d.task && d.task.id);
    if (typeof id === 'string') live.notify(id);
  },
};

// ---- views ---------------------------------------------------------------
// A view draws into <main> and returns a stop() that ends its timers.

function every(ms, fn) {
  const t = setInterval(fn, ms);
  return () => clearInterval(t);
}

function showError(where, err) {
  where.replaceChildren(err instanceof ApiError && err.status === 401 ? '' :
    el('p', { class: 'error', role: 'alert', text: err.message }));
}

function parseHash() {
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = h.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(qs || '') };
}

function taskRow(t) {
  return el('tr', { 'data-id': t.id },
    el('td', { 'data-label': 'Task' }, el('a', { href: '#/tasks/' + t.id, text: t.id.slice(0, 8) })),
    el('td', { 'data-label': 'Template', text: t.template }),
    el('td', { 'data-label': 'Status' }, badge(t.status)),
    el('td', { 'data-label': 'Created', text: when(t.created_at) }),
    el('td', { 'data-label': 'Finished', text: when(t.finished_at) }));
}

function viewList(main, params) {
  const status = params.get('status') || '';
  const template = params.get('template') || '';
  const cursors = [];           // the cursors of the pages before this one
  let cursor = '', next = null, stopped = false;

  const statusSel = el('select', { id: 'f-status', name: 'status' },
    el('option', { value: '', text: 'any' }),
    STATUSES.map((s) => el('option', { value: s, selected: s === status, text: s })));
  const tmplSel = el('select', { id: 'f-template', name: 'template' },
    el('option', { value: '', text: 'any' }));
  const filters = el('form', { class: 'filters', novalidate: true,
    onsubmit: (e) => {
      e.preventDefault();
      location.hash = '#/' + query({ status: statusSel.value, template: tmplSel.value });
    } },
  el('label', { for: 'f-status', text: 'Status' }), statusSel,
  el('label', { for: 'f-template', text: 'Template' }), tmplSel,
  el('button', { type: 'submit', text: 'Filter' }));
  statusSel.addEventListener('change', () => filters.requestSubmit());
  tmplSel.addEventListener('change', () => filters.requestSubmit());

  const body = el('tbody');
  const msg = el('div', { class: 'msg' });
  const prev = el('button', { type: 'button', text: '← Newer', onclick: () => {
    cursor = cursors.pop() || ''; load(); } });
  const nextBtn = el('button', { type: 'button', text: 'Older →', onclick: () => {
    cursors.push(cursor); cursor = next; load(); } });
  main.replaceChildren(
    el('h1', { text: 'Tasks' }), filters, msg,
    el('table', { class: 'tasks' },
      el('thead', {}, el('tr', {}, ['Task', 'Template', 'Status', 'Created', 'Finished']
        .map((h) => el('th', { scope: 'col', text: h })))), body),
    el('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, nextBtn));

  api('GET', '/templates').then((d) => {
    for (const t of d.templates) {
      tmplSel.append(el('option', { value: t.name, selected: t.name === template, text: t.name }));
    }
  }).catch(() => {});

  async function load() {
    try {
      const d = await api('GET', '/tasks' + query({ status, template, cursor, limit: PAGE_SIZE }));
      if (stopped) return;
      next = d.next_cursor;
      body.replaceChildren(...d.tasks.map(taskRow));
      msg.replaceChildren(d.tasks.length ? '' : el('p', { text: 'No tasks.' }));
      prev.disabled = cursors.length === 0;
      nextBtn.disabled = !next;
    } catch (err) {
      if (!stopped) showError(msg, err);
    }
  }
  async function update(id) {
    const row = body.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
    if (!row) {
      if (cursors.length === 0) load();   // maybe a new task on the first page
      return;
    }
    try {
      const t = await api('GET', '/tasks/' + encodeURIComponent(id));
      if (!stopped && row.isConnected) row.replaceWith(taskRow(t));
    } catch (err) { /* gone: the next load drops it */ }
  }
  load();
  live.watchers.add(update);
  const stopPoll = every(2000, () => { if (live.mode !== 'events') load(); });
  return () => { stopped = true; stopPoll(); live.watchers.delete(update); };
}

function viewTask(main, id) {
  let stopped = false, rec = null, following = false;
  const seen = new Map();       // status -> when this page first saw it
  const record = el('dl', { class: 'record' });
  const timeline = el('ol', { class: 'timeline' });
  const logs = el('pre', { class: 'logs', tabindex: '0', 'aria-label': 'Logs' });
  const msg = el('div', { class: 'msg' });
  const cancel = el('button', { type: 'button', class: 'danger', hidden: true, text: 'Cancel task',
    onclick: async () => {
      cancel.disabled = true;
      try {
        draw(await api('DELETE', '/tasks/' + encodeURIComponent(id)));
        msg.replaceChildren(el('p', { role: 'status', text: 'Cancel requested.' }));
      } catch (err) {
        showError(msg, err);
      }
      cancel.disabled = false;
    } });
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/', text: '← All tasks' })),
    el('h1', {}, 'Task ', el('code', { text: id })), msg,
    el('div', { class: 'actions' }, cancel),
    el('div', { class: 'cols' },
      el('section', { 'aria-labelledby': 'h-rec' }, el('h2', { id: 'h-rec', text: 'Record' }), record),
      el('section', { 'aria-labelledby': 'h-tl' }, el('h2', { id: 'h-tl', text: 'Timeline' }), timeline)),
    el('section', { 'aria-labelledby': 'h-logs' }, el('h2', { id: 'h-logs', text: 'Logs' }), logs));

  function draw(t) {
    rec = t;
    if (!seen.has(t.status)) seen.set(t.status, new Date().toISOString());
    const rows = [['Status', badge(t.status)], ['Template', t.template],
      ['Launcher', t.launcher], ['Created', when(t.created_at)], ['Started', when(t.started_at)],
      ['Finished', when(t.finished_at)], ['Exit code', t.exit_code],
      ['Reason', t.reason], ['Reason code', t.reason_code], ['Created by', t.created_by],
      ['Timeout', t.timeout_seconds ? t.timeout_seconds + ' s' : null]];
    for (const [k, v] of Object.entries(t.parameters || {})) rows.push(['Parameter ' + k, v]);
    for (const [k, v] of Object.entries(t.labels || {})) rows.push(['Label ' + k, v]);
    record.replaceChildren(...rows.filter(([, v]) => v !== null && v !== undefined && v !== '')
      .flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v instanceof Node ? v : String(v))]));
    record.dataset.status = t.status;
    // The record's own times, then what this page saw in between.
    const steps = [['queued', t.created_at]];
    for (const [s, saw] of seen) {
      if (s === 'queued' || FINAL.has(s)) continue;
      steps.push(s === 'running' && t.started_at ? [s, t.started_at] : [s, null, saw]);
    }
    if (t.started_at && !seen.has('running')) steps.push(['running', t.started_at]);
    if (FINAL.has(t.status)) steps.push([t.status, t.finished_at]);
    timeline.replaceChildren(...steps.map(([s, at, saw]) => el('li', {}, badge(s), ' ',
      el('time', { text: at ? when(at) : 'seen ' + when(saw) }))));
    cancel.hidden = FINAL.has(t.status);
  }
  async function loadRecord() {
    try {
      const t = await api('GET', '/tasks/' + encodeURIComponent(id));
      if (stopped) return;
      const ended = FINAL.has(t.status) && !(rec && FINAL.has(rec.status));
      draw(t);
      if (ended) loadLogs();    // the last lines
    } catch (err) {
      if (!stopped) showError(msg, err);
    }
  }
  async function loadLogs() {
    if (following) return;
    try {
      const text = await api('GET', '/tasks/' + encodeURIComponent(id) + '/logs', undefined,
        { Accept: 'text/plain' });
      if (stopped) return;
      const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      logs.textContent = typeof text === 'string' ? text : '';
      if (atEnd) logs.scrollTop = logs.scrollHeight;
    } catch (err) {
      if (!stopped) logs.textContent = '(' + err.message + ')';
    }
  }
  // With an event stream pokyd also streams logs (?follow=1); anything but a
  // 200 falls back to polling them.
  async function follow() {
    const ctl = new AbortController();
    try {
      const r = await fetch('/tasks/' + encodeURIComponent(id) + '/logs?follow=1', {
        headers: auth.headers({ Accept: 'text/plain' }), cache: 'no-store',
        credentials: 'omit', redirect: 'error', signal: ctl.signal });
      if (!r.ok || !r.body || stopped) return;
      following = true;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      logs.textContent = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done || stopped) break;
        logs.textContent += dec.decode(value, { stream: true });
        logs.scrollTop = logs.scrollHeight;
      }
    } catch (e) { /* polled instead */ }
    following = false;
    if (!stopped) loadLogs();
  }
  const watch = (tid) => { if (tid === id) { loadRecord(); loadLogs(); } };
  live.watchers.add(watch);
  loadRecord().then(() => {
    loadLogs();
    if (live.mode === 'events' && rec && !FINAL.has(rec.status)) follow();
  });
  const stops = [
    every(1000, () => { if (live.mode !== 'events' && !(rec && FINAL.has(rec.status))) loadRecord(); }),
    every(2000, () => { if (!(rec && FINAL.has(rec.status))) loadLogs(); }),
  ];
  return () => { stopped = true; stops.forEach((s) => s()); live.watchers.delete(watch); };
}

function viewTemplates(main) {
  const list = el('ul', { class: 'templates' });
  const msg = el('div', { class: 'msg' });
  main.replaceChildren(el('h1', { text: 'Submit a task' }), msg, list);
  api('GET', '/templates').then((d) => {
    list.replaceChildren(...d.templates.map((t) => el('li', {},
      el('a', { href: '#/submit/' + encodeURIComponent(t.name), text: t.name }),
      ' ', el('span', { class: 'muted', text: t.launcher + ', ' + t.parameters.length + ' parameter(s)' }))));
    if (!d.templates.length) msg.replaceChildren(el('p', { text: 'No templates configured.' }));
  }).catch((err) => showError(msg, err));
  return () => {};
}

function viewSubmit(main, name) {
  let stopped = false;
  const msg = el('div', { class: 'msg' });
  const form = el('form', { class: 'submit', novalidate: true });
  main.replaceChildren(el('p', {}, el('a', { href: '#/submit', text: '← Templates' })),
    el('h1', {}, 'Submit ', el('code', { text: name })), msg, form);
  const fields = new Map();     // API field name -> { input, error }

  function field(fname, label, input, hint) {
    const fid = 'p-' + fname.replace(/[^A-Za-z0-9_-]/g, '_');
    const err = el('p', { id: fid + '-err', class: 'field-error', 'data-field': fname });
    const hintEl = hint ? el('p', { id: fid + '-hint', class: 'hint', text: hint }) : null;
    input.id = fid;
    input.setAttribute('aria-describedby', (hint ? fid + '-hint ' : '') + fid + '-err');
    fields.set(fname, { input, err });
    return el('div', { class: 'field' }, el('label', { for: fid }, label), input, hintEl, err);
  }

  api('GET', '/templates/' + encodeURIComponent(name)).then((t) => {
    if (stopped) return;
    const parts = t.parameters.map((p) => {
      const hint = [p.required ? 'required' : 'optional', 'at most ' + p.max_length + ' bytes',
        p.pattern ? 'pattern ' + p.pattern : null, p.default !== undefined ? 'default ' + p.default : null,
        p.s3_check ? 'checked: ' + p.s3_check : null].filter(Boolean).join(', ');
      return field(p.name, [p.name, p.required ? el('abbr', { title: 'required', text: ' *' }) : null],
        el('input', { type: 'text', name: p.name, placeholder: p.default, autocomplete: 'off',
          spellcheck: 'false' }), hint);
    });
    const timeout = field('timeout_seconds', 'timeout_seconds',
      el('input', { type: 'text', inputmode: 'numeric', name: 'timeout_seconds',
        placeholder: String(t.timeout_seconds) }), 'optional, seconds (template default ' + t.timeout_seconds + ')');
    const other = el('div', { class: 'field-error', role: 'alert', id: 'form-errors' });
    const submit = el('button', { type: 'submit', text: 'Submit' });
    form.replaceChildren(...parts, timeout, other, submit);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const params = {};
      for (const p of t.parameters) {
        const v = fields.get(p.name).input.value;
        if (v !== '') params[p.name] = v;
      }
      const body = { template: name, parameters: params };
      const tv = fields.get('timeout_seconds').input.value.trim();
      if (tv !== '') body.timeout_seconds = /^-?\d+$/.test(tv) ? Number(tv) : tv;
      for (const { input, err } of fields.values()) {
        err.textContent = '';
        input.removeAttribute('aria-invalid');
      }
      other.replaceChildren();
      submit.disabled = true;
      try {
        const task = await api('POST', '/tasks', body);
        location.hash = '#/tasks/' + task.id;
      } catch (err) {
        const errors = (err.problem && err.problem.errors) || [];
        let first = null;
        for (const fe of errors) {
          const f = fields.get(fe.field);
          if (f) {
            f.err.textContent = fe.message;
            f.input.setAttribute('aria-invalid', 'true');
            first = first || f.input;
          } else {
            other.append(el('p', { text: fe.field + ': ' + fe.message }));
          }
        }
        if (!errors.length && !(err instanceof ApiError && err.status === 401)) {
          other.append(el('p', { text: err.message }));
        }
        if (first) first.focus();
      }
      submit.disabled = false;
    });
    const firstInput = form.querySelector('input');
    if (firstInput) firstInput.focus();
  }).catch((err) => showError(msg, err));
  return () => { stopped = true; };
}

// ---- router --------------------------------------------------------------

let stopView = () => {};

function route() {
  stopView();
  const main = $('main');
  const { parts, params } = parseHash();
  if (parts.length === 0) stopView = viewList(main, params);
  else if (parts[0] === 'tasks' && parts.length === 2) stopView = viewTask(main, parts[1]);
  else if (parts[0] === 'submit' && parts.length === 1) stopView = viewTemplates(main);
  else if (parts[0] === 'submit' && parts.length === 2) stopView = viewSubmit(main, parts[1]);
  else {
    main.replaceChildren(el('h1', { text: 'Not found' }), el('p', {}, el('a', { href: '#/', text: 'Tasks' })));
    stopView = () => {};
  }
}

function boot() {
  $('auth-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    if (!t) {
      $('auth-error').textContent = 'Enter a token.';
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    $('auth').hidden = true;
    $('forget').hidden = false;
    live.restart();
    route();
    $('main').focus();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('forget').hidden = true;
    live.restart();
    route();
  });
  $('forget').hidden = !auth.token();
  window.addEventListener('hashchange', route);
  live.start();
  route();
}

boot();
