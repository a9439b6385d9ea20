// Drives the web console in Debian's chromium (puppeteer-core, no browser
// download) against a pokyd that test/integration/test_console.py started.
//   node console_test.js CONFIG.json
// CONFIG: { base, token, outdir, results, copy: {template, source, greeting_bad},
//           slow: {template} }.  Writes every answer the page got to
// CONFIG.results (the test holds them against openapi.json); exits 1 with the
// reasons on any failed check.
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require(path.join(__dirname, '..', 'node_modules', 'puppeteer-core'));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const origin = new URL(cfg.base).origin;
const WAIT = { timeout: 30000 };
const failures = [];
const requests = [];
const responses = [];
const consoleMsgs = [];
const pageErrors = [];
let tokenGiven = false;

function check(ok, what) {
  if (!ok) failures.push(what);
  return ok;
}

async function text(page, sel) {
  return page.$eval(sel, (e) => e.textContent);
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-networking', '--disable-component-update',
      '--disable-default-apps', '--disable-sync', '--metrics-recording-only'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    // CSP violations as the page sees them (this runs outside the page's
    // policy, before any of its scripts).
    await page.evaluateOnNewDocument(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
      });
    });
    page.on('request', (r) => requests.push({ url: r.url(), method: r.method(),
      headers: r.headers(), afterToken: tokenGiven }));
    page.on('response', async (r) => {
      const req = r.request();
      const rec = { method: req.method(), url: r.url(), status: r.status(),
        headers: r.headers(), body: '', afterToken: tokenGiven };
      responses.push(rec);
      const type = r.headers()['content-type'] || '';
      if (r.status() !== 304 && !type.startsWith('text/event-stream') &&
          !r.url().includes('follow=1')) {
        try { rec.body = await r.text(); } catch (e) { rec.body = null; }
      }
    });
    page.on('console', (m) => consoleMsgs.push({ type: m.type(), text: m.text(),
      url: (m.location() || {}).url || '' }));
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    // Load; the first API call answers 401 and the page asks for a token.
    await page.goto(cfg.base + '/ui/', { waitUntil: 'load' });
    await page.waitForSelector('#auth:not([hidden])', WAIT);
    check(await page.evaluate(() => document.activeElement.id) === 'token',
      'the token field has the focus when a token is asked for');
    await page.type('#token', cfg.token);
    tokenGiven = true;
    await page.keyboard.press('Enter');
    await page.waitForSelector('#auth[hidden]', WAIT);
    await page.waitForFunction(() => document.querySelector('table.tasks tbody') &&
      document.querySelector('#f-template option[value]:not([value=""])'), WAIT);
    const storage = await page.evaluate(() => ({ s: sessionStorage.getItem('poky.token'),
      l: localStorage.length, c: document.cookie }));
    check(storage.s === cfg.token && storage.l === 0 && storage.c === '',
      'the token is in sessionStorage only: ' + JSON.stringify({ l: storage.l, c: storage.c }));

    // Keyboard: Tab from the top reaches the links, and the focus is drawn.
    await page.$eval('a.brand', (e) => e.focus());
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const e = document.activeElement;
      const st = getComputedStyle(e);
      return { tag: e.tagName, text: e.textContent, outline: st.outlineStyle + ' ' + st.outlineWidth };
    });
    check(focus.tag === 'A' && focus.text === 'Tasks' && !focus.outline.startsWith('none'),
      'Tab reaches the next link with a visible focus ring: ' + JSON.stringify(focus));

    // The submit form, from the template's parameters.
    await page.click('nav a[href="#/submit"]');
    await page.waitForSelector('a[href="#/submit/' + cfg.copy.template + '"]', WAIT);
    await page.click('a[href="#/submit/' + cfg.copy.template + '"]');
    await page.waitForSelector('#p-source', WAIT);
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select')]
      .filter((e) => e.labels.length === 0).map((e) => e.id || e.name));
    check(unlabelled.length === 0, 'every field has a label: ' + unlabelled);
    await page.type('#p-source', cfg.copy.source);
    await page.type('#p-greeting', cfg.copy.greeting_bad);
    await page.click('form.submit button[type="submit"]');
    await page.waitForFunction(() => {
      const e = document.querySelector('.field-error[data-field="greeting"]');
      return e && e.textContent.length > 0;
    }, WAIT);
    const gErr = await text(page, '.field-error[data-field="greeting"]');
    check(gErr === cfg.copy.greeting_message,
      'the API\'s message beside the field: got ' + JSON.stringify(gErr));
    check(await page.$eval('#p-greeting', (e) => e.getAttribute('aria-invalid')) === 'true',
      'the bad field is marked aria-invalid');
    const sErr = await text(page, '.field-error[data-field="source"]');
    check(sErr === '', 'no message beside the good field: ' + JSON.stringify(sErr));

    // Fixed: submitted, the task page follows it to succeeded without a reload.
    await page.evaluate(() => { window.__sameDocument = true; });
    await page.$eval('#p-greeting', (e) => { e.value = ''; });
    await page.type('#p-greeting', cfg.copy.greeting);
    await page.click('form.submit button[type="submit"]');
    await page.waitForFunction(() => /^#\/tasks\/[0-9a-f-]{36}$/.test(location.hash), WAIT);
    const taskId = await page.evaluate(() => location.hash.split('/')[2]);
    await page.waitForSelector('dl.record[data-status="succeeded"]', WAIT);
    await page.waitForFunction((want) => document.querySelector('pre.logs').textContent
      .includes(want), WAIT, cfg.copy.log_line);
    const tl = await page.$$eval('.timeline .badge', (b) => b.map((x) => x.dataset.status));
    check(tl[0] === 'queued' && tl[tl.length - 1] === 'succeeded',
      'the timeline runs from queued to succeeded: ' + tl);
    check(await page.$('.actions button.danger:not([hidden])') === null,
      'no cancel button on a finished task');
    await page.screenshot({ path: path.join(cfg.outdir, 'console-task-desktop.png'), fullPage: true });

    // The list: the task is there; a task submitted elsewhere appears and
    // finishes without a reload.
    await page.click('a[href="#/"]');
    await page.waitForSelector('tr[data-id="' + taskId + '"] .badge[data-status="succeeded"]', WAIT);
    const r = await fetch(cfg.base + '/tasks', { method: 'POST', headers: {
      Authorization: 'Bearer ' + cfg.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ template: cfg.copy.template, parameters: { source: cfg.copy.source } }) });
    const other = await r.json();
    check(r.status === 202, 'submit from outside the page: ' + r.status);
    await page.waitForSelector('tr[data-id="' + other.id + '"] .badge[data-status="succeeded"]', WAIT);
    await page.screenshot({ path: path.join(cfg.outdir, 'console-list-desktop.png'), fullPage: true });
    check(await page.evaluate(() => window.__sameDocument === true),
      'the page was never reloaded from the submit to the live list');
    // Phone width (puppeteer reloads the page for isMobile: the token stays
    // in the tab's sessionStorage).
    await page.setViewport({ width: 375, height: 740, isMobile: true, hasTouch: true });
    await page.waitForSelector('tr[data-id="' + other.id + '"]', WAIT);
    await page.evaluate(() => { window.__sameDocument = true; });
    await page.screenshot({ path: path.join(cfg.outdir, 'console-list-phone.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    check(overflow <= 375, 'no sideways scrolling at 375 px: ' + overflow);

    // A slow task, cancelled from its page (at phone width).
    await page.click('nav a[href="#/submit"]');
    await page.waitForSelector('a[href="#/submit/' + cfg.slow.template + '"]', WAIT);
    await page.click('a[href="#/submit/' + cfg.slow.template + '"]');
    await page.waitForSelector('form.submit button[type="submit"]', WAIT);
    await page.click('form.submit button[type="submit"]');
    await page.waitForSelector('dl.record[data-status="running"]', WAIT);
    await page.waitForFunction((want) => document.querySelector('pre.logs').textContent
      .includes(want), WAIT, cfg.slow.log_line);
    await page.click('.actions button.danger');
    await page.waitForSelector('dl.record[data-status="cancelled"]', WAIT);
    await page.waitForSelector('.actions button.danger[hidden]', WAIT);
    await page.screenshot({ path: path.join(cfg.outdir, 'console-task-phone.png'), fullPage: true });
    check(await page.evaluate(() => window.__sameDocument === true),
      'the page was never reloaded while the slow task ran and was cancelled');

    const csp = await page.evaluate(() => window.__csp);
    check(csp.length === 0, 'CSP violations: ' + JSON.stringify(csp));
  } finally {
    await browser.close();
  }

  // Every request stayed with pokyd, and the token never went into a URL.
  const away = requests.filter((q) => !q.url.startsWith('data:') && new URL(q.url).origin !== origin);
  check(away.length === 0, 'requests outside pokyd: ' + away.map((q) => q.url));
  check(!requests.some((q) => q.url.includes(cfg.token)), 'the token in a URL');
  const api = requests.filter((q) => q.afterToken && !q.url.startsWith(origin + '/ui'));
  check(api.length > 0 && api.every((q) => q.headers.authorization === 'Bearer ' + cfg.token),
    'every API call after the token carries it');
  check(!responses.some((x) => x.status === 401 && x.afterToken), 'a 401 after the token');
  // Console: nothing but the network lines of answers this run expects
  // (401 before the token, 404 from a pokyd without /events, the 400 of the
  // bad parameter).
  const expected = (m) => {
    const s = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text);
    if (!s) return false;
    const u = new URL(m.url, origin);
    return (s[1] === '401') || (s[1] === '404' && u.pathname === '/events') ||
      (s[1] === '400' && u.pathname === '/tasks');
  };
  const bad = consoleMsgs.filter((m) => (m.type === 'error' || m.type === 'warn') && !expected(m));
  check(bad.length === 0, 'console errors: ' + JSON.stringify(bad));
  check(pageErrors.length === 0, 'page errors: ' + JSON.stringify(pageErrors));
  fs.writeFileSync(cfg.results, JSON.stringify({ responses, requests: requests.length,
    console: consoleMsgs }, null, 1));
}

main().then(() => {
  if (failures.length) {
    console.error('FAILED:\n' + failures.join('\n'));
    process.exit(1);
  }
  console.log('console test: all checks passed (' + requests.length + ' requests)');
}, (e) => {
  console.error('FAILED: ' + (e && e.stack || e));
  if (failures.length) console.error(failures.join('\n'));
  fs.writeFileSync(cfg.results, JSON.stringify({ responses, console: consoleMsgs, pageErrors }, null, 1));
  process.exit(1);
});
