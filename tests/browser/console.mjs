// The operator console in a real browser: Debian's Chromium driven over CDP by playwright-core.
//
// Run by tests/e2e/console.rs against a live supervisor with the example modules. The scenario
// is JSON, in the CONSOLE_SCENARIO environment variable or as the first argument:
//   { "base": "http://127.0.0.1:PORT", "token": "<admin token>", "key": "<ws_demo API key>",
//     "out": "<screenshot dir>", "connection": "<regional-sms connection id>",
//     "secrets": ["<other values no page may show>"], "chromium": "/usr/bin/chromium" }
// Each step prints `ok`; the first failure prints the step, the page's URL and the reason,
// saves fail-<step>.png in the screenshot dir and exits 1. Every wait is bounded.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const scenario = JSON.parse(process.env.CONSOLE_SCENARIO ?? process.argv[2] ?? 'null');
if (!scenario?.base || !scenario?.token || !scenario?.key || !scenario?.out) {
  console.error('console.mjs: the scenario (CONSOLE_SCENARIO or argv[2]) needs base, token, key and out');
  process.exit(2);
}
const { base, token, key, out } = scenario;
const connection = scenario.connection ?? null;
const executablePath = scenario.chromium ?? '/usr/bin/chromium';
/** Longest wait for one expectation. */
const WAIT_MS = 15_000;
/** Longest wait for a module to restart or a rollback to take over. */
const SLOW_MS = 30_000;
const EXAMPLES = ['hello-rust', 'erp-webhook', 'order-worker', 'nightly-sync', 'loyalty-lookup', 'regional-sms'];
/** Values that must never appear in a page, a fetched body or a log line shown. */
const SECRETS = [
  ['the admin token', token],
  ['the API key', key],
  ...(scenario.secrets ?? []).map((s, i) => [`secret #${i + 1}`, s]),
].filter(([, value]) => value && value.length >= 8);

mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

/** Uncaught page errors and secret leaks, reported by the last steps. */
const pageErrors = [];
const leaks = [];
/** confirm()/alert() dialogs seen (each accepted). */
const dialogs = [];

/** A fresh context (its own cookies) with one page, watched for leaks, errors and dialogs. */
async function newPage() {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  context.on('response', async (response) => {
    const type = response.request().resourceType();
    if (!['document', 'fetch', 'xhr'].includes(type)) return;
    if (response.status() >= 300 && response.status() < 400) return;
    const contentType = response.headers()['content-type'] ?? '';
    if (contentType.includes('event-stream')) return;
    let body;
    try {
      body = await response.text();
    } catch {
      return;
    }
    checkSecrets(`${response.request().method()} ${response.url()}`, body);
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      console.log(`     (browser console error on ${page.url()}: ${message.text()} ${message.location()?.url ?? ''})`);
    }
  });
  page.on('dialog', async (dialog) => {
    dialogs.push({ type: dialog.type(), message: dialog.message() });
    await dialog.accept();
  });
  return page;
}

function checkSecrets(where, text) {
  for (const [name, value] of SECRETS) {
    if (text.includes(value)) leaks.push(`${name} appears in ${where}`);
  }
}

/** page.content() of the current page, checked for secrets. */
async function checkPage(page) {
  checkSecrets(`the DOM of ${page.url()}`, await page.content());
}

let current = null;

/** Runs one step; on failure saves fail-<name>.png, prints where and why, exits 1. */
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    if (current && !current.isClosed()) await checkPage(current);
    if (leaks.length) throw new Error(`secret shown: ${leaks.join('; ')}`);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    const url = current && !current.isClosed() ? current.url() : '(no page)';
    const shot = join(out, `fail-${name}.png`);
    try {
      await current?.screenshot({ path: shot, fullPage: true, timeout: 5_000 });
    } catch {
      /* the reason below matters more */
    }
    console.error(`FAIL ${name}\n  page: ${url}\n  screenshot: ${shot}\n  ${String(error?.stack ?? error)}`);
    await browser.close().catch(() => {});
    process.exit(1);
  }
}

/** Polls `check` until it returns a truthy value (returned), for at most `ms`; otherwise throws
 * `what` with the last value `check` passed to its `note` argument (or its last error). */
async function until(what, check, ms = WAIT_MS, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  const note = (value) => {
    last = value;
    return value;
  };
  for (;;) {
    try {
      const result = await check(note);
      if (result) return result;
    } catch (error) {
      last = `error: ${error.message.split('\n')[0]}`;
    }
    if (Date.now() > deadline) throw new Error(`after ${ms} ms: expected ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** The cells' texts of each row (for `evaluateAll`). */
function cellTexts(rows) {
  return rows.map((r) => [...r.cells].map((c) => c.innerText.replace(/\s+/g, ' ').trim()));
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** The path of the page's URL. */
function pathOf(page) {
  const url = new URL(page.url());
  return url.pathname;
}

async function signIn(page, secret) {
  await page.goto('/console/login');
  await page.locator('#token').fill(secret);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/console/login'),
    page.locator('button[type=submit]').click(),
  ]);
  await page.waitForLoadState('load');
  return response;
}

/** The rows' `data-module` values of the modules table. */
async function moduleRows(page) {
  return page.locator('table#modules tr[data-module]').evaluateAll((rows) => rows.map((r) => r.dataset.module));
}

/** The state word of a module row (the badge's data-state). */
async function stateOf(page, module) {
  return page.locator(`tr[data-module="${module}"] .badge[data-state]`).first().getAttribute('data-state', { timeout: 2_000 });
}

async function pidOf(page, module) {
  return (await page.locator(`tr[data-module="${module}"] td.pid`).first().textContent({ timeout: 2_000 }))?.trim();
}

/** Admin API call from the test side (never from a page). */
async function admin(method, path) {
  const response = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.text() };
}

const visited = [];

// ---------------------------------------------------------------------------------------------

current = await newPage();
let page = current;

await step('a-wrong-token', async () => {
  await page.goto('/console/login');
  await page.locator('#token').fill('not-the-admin-token');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/console/login'),
    page.locator('button[type=submit]').click(),
  ]);
  expect(response.status() === 401, `POST /console/login with a wrong token: expected 401, got ${response.status()}`);
  await page.locator('p.error[role=alert]').waitFor({ state: 'visible' });
  const response2 = await page.goto('/console/');
  expect(pathOf(page) === '/console/login', `GET /console/ without a session ended at ${page.url()}, not /console/login`);
  const first = response2.request().redirectedFrom();
  if (first) {
    const status = (await first.response())?.status();
    expect(status === 303, `GET /console/ without a session: expected 303, got ${status}`);
  }
  await page.locator('#token').waitFor({ state: 'visible' });
});

await step('b-sign-in-modules', async () => {
  const response = await signIn(page, token);
  expect(response.status() === 303, `POST /console/login with the admin token: expected 303, got ${response.status()}`);
  await until('the modules page at /console/', () => pathOf(page) === '/console/');
  const cookies = await page.context().cookies();
  const cookie = cookies.find((c) => c.name === 'convotic_console');
  expect(cookie, `no convotic_console cookie after login (cookies: ${cookies.map((c) => c.name).join(', ')})`);
  expect(cookie.httpOnly, 'the session cookie is not HttpOnly');
  expect(cookie.sameSite === 'Strict', `the session cookie's SameSite is ${cookie.sameSite}, not Strict`);
  expect(cookie.path === '/console', `the session cookie's Path is ${cookie.path}, not /console`);
  await page.locator('table#modules').waitFor();
  for (const name of EXAMPLES) {
    await until(`ws_demo/${name}'s .badge[data-state] to be "ready"`, async (note) => {
      const state = await stateOf(page, `ws_demo/${name}`);
      note(state);
      return state === 'ready';
    });
  }
  const navs = await page.locator('header nav a').count();
  expect(navs >= 5, `header nav has ${navs} links, expected the five pages`);
  visited.push('/console/');
  await page.screenshot({ path: join(out, 'modules.png'), fullPage: true });
});

await step('c-restart-from-row', async () => {
  const row = 'ws_demo/hello-rust';
  const before = await until('a pid in the hello-rust row', () => pidOf(page, row));
  const states = new Set();
  await page.locator(`tr[data-module="${row}"] button[data-post$="/restart"]`).click();
  // The tbody refreshes itself every 2 s (a full reload after a form post works the same).
  const after = await until(
    `the pid of ${row} to change from ${before}`,
    async (note) => {
      await page.locator('table#modules').waitFor({ timeout: 2_000 });
      const pid = await pidOf(page, row);
      states.add(await stateOf(page, row));
      note(pid);
      return pid && pid !== before && /\d/.test(pid) ? pid : false;
    },
    SLOW_MS,
  );
  const state = await until(`${row} ready after the restart`, async (note) => {
    const state = note(await stateOf(page, row));
    return state === 'ready' ? state : false;
  });
  console.log(`     hello-rust pid ${before} -> ${after}, state ${state}; states seen meanwhile: ${[...states].join(', ')}`);
  expect(
    [...states].every((s) => s === 'ready'),
    `a zero-downtime restart: ${row}'s state should stay ready, saw ${[...states].join(', ')}`,
  );
});

await step('c2-modules-table-refreshes-itself', async () => {
  // A restart made elsewhere (the admin API) shows up without reloading the page.
  const row = 'ws_demo/hello-rust';
  await page.goto('/console/');
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const before = await until('a pid in the hello-rust row', () => pidOf(page, row));
  const restart = await admin('POST', '/admin/v1/modules/hello-rust/restart?workspace=ws_demo');
  expect(restart.status === 202, `admin restart of hello-rust: ${restart.status} ${restart.body}`);
  await until(`the pid of ${row} to change from ${before} without a reload`, async (note) => {
    const pid = note(await pidOf(page, row));
    return pid && pid !== before && /\d/.test(pid);
  }, SLOW_MS);
  expect(await page.evaluate(() => window.__sameDocument === true), 'the page reloaded instead of refreshing its tbody');
});

await step('d-module-page-logs-try-it', async () => {
  await page.goto('/console/modules/ws_demo/hello-rust');
  visited.push(pathOf(page));
  const lines = page.locator('ul#log-lines li');
  await page.locator('ul#log-lines').waitFor({ state: 'attached' });
  // Let the stream's backlog settle, then count.
  let settled = -1;
  await until('the log backlog to settle', async () => {
    const n = await lines.count();
    if (n === settled) return true;
    settled = n;
    return false;
  }, WAIT_MS, 1_000);
  for (const selector of ['button#logs-pause', 'input#logs-filter', 'section#charts']) {
    expect(await page.locator(selector).count(), `${selector} missing on the module page`);
  }
  const charts = await page.locator('section#charts svg').count();
  expect(charts === 4, `section#charts has ${charts} SVG charts, expected 4`);
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const before = await lines.count();
  const restart = await admin('POST', '/admin/v1/modules/hello-rust/restart?workspace=ws_demo');
  expect(restart.status === 202, `admin restart of hello-rust: ${restart.status} ${restart.body}`);
  await until(`a new li in ul#log-lines after the page loaded (had ${before})`, async () => (await lines.count()) > before, SLOW_MS);
  console.log(`     log lines ${before} -> ${await lines.count()}: ${JSON.stringify((await lines.last().textContent())?.slice(0, 120))}`);
  expect(await page.evaluate(() => window.__sameDocument === true), 'the log lines came with a page reload, not live');

  const forms = page.locator('section#routes form.try');
  const count = await forms.count();
  expect(count > 0, 'no form.try in section#routes');
  let form = null;
  const seen = [];
  for (let i = 0; i < count; i++) {
    const f = forms.nth(i);
    const method = await f.locator('[name=method]').inputValue();
    const path = await f.locator('[name=path]').inputValue();
    seen.push(`${method} ${path}`);
    if (method.toUpperCase() === 'GET' && path === '/hello/:name') form = f;
  }
  expect(form, `no try-it form for GET /hello/:name (forms: ${seen.join(', ')})`);
  const readonly = await form.locator('[name=method]').evaluate((e) => e.readOnly || e.disabled || e.tagName !== 'INPUT');
  expect(readonly, 'the try-it [name=method] input is not readonly');
  await form.locator('[name=path]').fill('/hello/ada');
  await form.locator('button[type=submit], button:not([type]), input[type=submit]').first().click();
  const text = await until('pre.result in section#routes with 200 and "ada"', async () => {
    const results = await page.locator('section#routes pre.result').allTextContents();
    return results.find((t) => t.includes('200') && t.includes('ada')) ?? false;
  });
  console.log(`     try-it: ${JSON.stringify(text.slice(0, 120))}`);
  await page.screenshot({ path: join(out, 'module.png'), fullPage: true });
});

await step('e-node-form', async () => {
  await page.goto('/console/modules/ws_demo/loyalty-lookup');
  visited.push(pathOf(page));
  const form = page.locator('section#nodes form.node-invoke').filter({ has: page.locator('[data-field=email]') }).first();
  await form.waitFor();
  await form.locator('[data-field=email]').fill('ada@example.com');
  await form.getByRole('button', { name: 'Invoke' }).click();
  const text = await until('pre.result in section#nodes containing "gold"', async () => {
    const results = await page.locator('section#nodes pre.result').allTextContents();
    return results.find((t) => t.includes('gold')) ?? false;
  });
  console.log(`     node: ${JSON.stringify(text.replace(/\s+/g, ' ').slice(0, 160))}`);
});

await step('f-cron-run-now', async () => {
  const id = 'ws_demo/nightly-sync/nightly-sync';
  await page.goto('/console/crons');
  visited.push(pathOf(page));
  const row = page.locator(`table#crons tr[data-cron="${id}"]`);
  await row.waitFor();
  await page.screenshot({ path: join(out, 'crons.png'), fullPage: true });
  await row.locator(`a[href$="/console/crons/${id}"]`).first().click();
  await until(`the runs page /console/crons/${id}`, () => pathOf(page) === `/console/crons/${id}`);
  visited.push(pathOf(page));
  await page.locator('table#runs').waitFor();
  const runIds = () => page.locator('table#runs tr[data-run]').evaluateAll((rows) => rows.map((r) => r.dataset.run));
  const before = new Set(await runIds());
  await page.getByRole('button', { name: 'Run now' }).first().click();
  await page.waitForLoadState('load');
  const manual = await until('a new tr[data-run] marked manual', async () => {
    if (!(await page.locator('table#runs').count())) return false;
    const rows = await page.locator('table#runs tr[data-run]').evaluateAll((rs) =>
      rs.map((r) => ({ id: r.dataset.run, text: [...r.cells].map((c) => c.innerText.replace(/\s+/g, ' ').trim()).join(' | ') })),
    );
    const found = rows.find((r) => !before.has(r.id) && /manual/i.test(r.text));
    if (!found) await page.reload();
    return found ?? false;
  }, WAIT_MS, 1_000);
  console.log(`     manual run ${manual.id}: ${JSON.stringify(manual.text.slice(0, 120))}`);
  const badge = await page.locator(`table#runs tr[data-run="${manual.id}"] .badge`).count();
  expect(badge > 0, `the run row ${manual.id} has no outcome .badge`);
  const notice = await page.locator('p.notice, p.error').first().textContent({ timeout: 1_000 }).catch(() => null);
  if (notice) console.log(`     after Run now: ${JSON.stringify(notice.trim())}`);
  await page.screenshot({ path: join(out, 'cron-runs.png'), fullPage: true });
});

await step('g-re-drive', async () => {
  await page.goto('/console/workers');
  visited.push(pathOf(page));
  await page.locator('table#handlers').waitFor();
  const letter = page.locator('table#dead-letters tr[data-dead-letter]').first();
  await letter.waitFor();
  await letter.getByRole('button', { name: 'Re-drive' }).click();
  await page.locator('p.notice').waitFor({ state: 'visible' });
  console.log(`     notice: ${JSON.stringify((await page.locator('p.notice').first().textContent()).trim())}`);
  await page.screenshot({ path: join(out, 'workers.png'), fullPage: true });
});

await step('h-catalog-test-connection', async () => {
  await page.goto('/console/catalog');
  visited.push(pathOf(page));
  await page.locator('table#nodes').waitFor();
  await page.locator('table#blocks').waitFor();
  await page.locator('table#connections').waitFor();
  await page.screenshot({ path: join(out, 'catalog.png'), fullPage: true });
  const row = connection
    ? page.locator(`table#connections tr[data-connection="${connection}"]`)
    : page.locator('table#connections tr[data-connection]').first();
  await row.waitFor();
  await row.getByRole('button', { name: 'Test connection' }).click();
  const text = await until("the row's .result saying ok", async () => {
    const t = (await row.locator('.result').first().textContent({ timeout: 1_000 })) ?? '';
    return /\bok\b/i.test(t) ? t : false;
  });
  console.log(`     test connection: ${JSON.stringify(text.trim().slice(0, 120))}`);
});

await step('h2-delivery', async () => {
  await page.goto('/console/delivery');
  visited.push(pathOf(page));
  await page.locator('table#targets tr[data-target="ws_demo/sms"]').waitFor();
  await page.locator('table#outbox-counts').waitFor();
  const letter = page.locator('table#delivery-dead-letters tr[data-dead-item]', { hasText: '404' }).first();
  await letter.waitFor();
  const error = (await letter.locator('td.err').textContent()) ?? '';
  expect(/404/.test(error), `the dead letter should carry the target's answer (HTTP 404), got ${JSON.stringify(error)}`);
  await page.screenshot({ path: join(out, 'delivery.png'), fullPage: true });
  await letter.getByRole('button', { name: 'Re-drive' }).click();
  await page.locator('p.notice').waitFor({ state: 'visible' });
  console.log(`     notice: ${JSON.stringify((await page.locator('p.notice').first().textContent()).trim())}`);
});

await step('i-roll-back', async () => {
  await page.goto('/console/modules/ws_pkg/shop');
  visited.push(pathOf(page));
  const section = page.locator('section#deployments');
  await section.locator('tr[data-deployment]').first().waitFor();
  const dialogsBefore = dialogs.length;
  await section.getByRole('button', { name: 'Roll back' }).first().click();
  await until('a confirm() dialog for Roll back', () => dialogs.slice(dialogsBefore).some((d) => d.type === 'confirm'));
  await page.waitForLoadState('load');
  const after = await page.locator('p.notice, p.error').first().textContent({ timeout: WAIT_MS }).catch(() => null);
  console.log(`     after Roll back: ${JSON.stringify(after?.trim())}`);
  expect(!(await page.locator('p.error').count()), `Roll back answered p.error: ${after}`);
  await page.goto('/console/deployments');
  visited.push(pathOf(page));
  await page.locator('table#deployments').waitFor();
  const kind = await page.locator('table#deployments th').allTextContents();
  expect(kind.some((t) => /kind/i.test(t)), `table#deployments has no kind column (headers: ${kind.join(' | ')})`);
  const kindAt = kind.findIndex((t) => /kind/i.test(t));
  const stateAt = kind.findIndex((t) => /state/i.test(t));
  expect(stateAt >= 0, `table#deployments has no state column (headers: ${kind.join(' | ')})`);
  const row = await until('a table#deployments row whose kind says rollback and whose state is active', async (note) => {
    const rows = await page.locator('table#deployments tr[data-deployment]').evaluateAll(cellTexts);
    note(rows);
    const found = rows.find((cells) => /rollback/i.test(cells[kindAt]) && /^active$/i.test(cells[stateAt]));
    if (!found) await page.reload();
    return found ? found.join(' | ') : false;
  }, SLOW_MS, 1_000);
  console.log(`     ${JSON.stringify(row.slice(0, 160))}`);
  await page.screenshot({ path: join(out, 'deployments.png'), fullPage: true });
});

await step('i2-cluster', async () => {
  await page.goto('/console/cluster');
  visited.push(pathOf(page));
  await checkPage(page);
  const nodes = await page.locator('section.node').count();
  expect(nodes === 1, `/console/cluster: expected this one node, found ${nodes} section.node`);
  const heading = await page.locator('section.node h2').first().textContent();
  expect(/this node/.test(heading ?? ''), `/console/cluster: the node's heading does not say "this node": ${heading}`);
  const modules = await until('the node section to list ws_demo/hello-rust', async (note) => {
    const names = await page.locator('section.node tr[data-module]').evaluateAll((rows) => rows.map((r) => r.dataset.module));
    note(names);
    if (!names.includes('hello-rust')) await page.reload();
    return names.includes('hello-rust') ? names : false;
  }, SLOW_MS, 1_000);
  console.log(`     modules on this node: ${modules.join(', ')}`);
  await page.screenshot({ path: join(out, 'cluster.png'), fullPage: true });
});

await step('j-csrf', async () => {
  await page.goto('/console/');
  const statuses = await page.evaluate(async () => {
    const url = '/console/modules/ws_demo/hello-rust/restart';
    const none = (await fetch(url, { method: 'POST' })).status;
    const wrong = (await fetch(url, { method: 'POST', headers: { 'X-CSRF-Token': 'wrong' } })).status;
    const meta = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
    return { none, wrong, meta: meta.length };
  });
  expect(statuses.meta > 0, 'no <meta name="csrf-token"> with content on /console/');
  expect(statuses.none === 403, `POST without CSRF: expected 403, got ${statuses.none}`);
  expect(statuses.wrong === 403, `POST with a wrong X-CSRF-Token: expected 403, got ${statuses.wrong}`);
});

await step('k-log-out', async () => {
  await page.locator('form.logout button').click();
  await until('the login page after logout', () => pathOf(page) === '/console/login');
  await page.goto('/console/');
  expect(pathOf(page) === '/console/login', `GET /console/ after logout ended at ${page.url()}`);
});

await step('l-workspace-key-read-only', async () => {
  await page.context().close();
  current = await newPage();
  page = current;
  const response = await signIn(page, key);
  expect(response.status() === 303, `POST /console/login with the API key: expected 303, got ${response.status()}`);
  await until('the modules page', () => pathOf(page) === '/console/');
  await page.locator('tr[data-module="ws_demo/hello-rust"]').waitFor();
  const rows = await moduleRows(page);
  const foreign = rows.filter((r) => !r.startsWith('ws_demo/'));
  expect(foreign.length === 0, `modules of other workspaces shown to a ws_demo key: ${foreign.join(', ')}`);
  for (const name of EXAMPLES) expect(rows.includes(`ws_demo/${name}`), `ws_demo/${name} missing for the ws_demo key`);
  const pages = ['/console/', '/console/modules/ws_demo/hello-rust', '/console/modules/ws_demo/loyalty-lookup',
    '/console/crons', '/console/crons/ws_demo/nightly-sync/nightly-sync', '/console/workers', '/console/catalog', '/console/deployments', '/console/delivery', '/console/cluster'];
  const problems = [];
  for (const path of pages) {
    const r = await page.goto(path);
    if (r.status() !== 200) { problems.push(`${path}: HTTP ${r.status()}`); continue; }
    await checkPage(page);
    const found = await page.evaluate(() => {
      const out = [];
      for (const b of document.querySelectorAll('button[data-post]')) out.push(`button[data-post=${b.dataset.post}]`);
      for (const f of document.querySelectorAll('form')) {
        if ((f.getAttribute('method') ?? 'get').toLowerCase() === 'post' && !f.classList.contains('logout')) out.push(`form[method=post][action=${f.getAttribute('action')}]`);
      }
      for (const b of document.querySelectorAll('button, input[type=submit]')) {
        const t = (b.textContent || b.value || '').trim();
        if (/^(Restart|Run now|Re-drive|Roll back|Test connection|Invoke|Send)$/i.test(t)) out.push(`button "${t}"`);
      }
      return out;
    });
    if (found.length) problems.push(`${path}: ${found.join(', ')}`);
  }
  expect(problems.length === 0, `read-only session sees actions: ${problems.join('; ')}`);
  const shop = await page.goto('/console/modules/ws_pkg/shop');
  expect(shop.status() === 404, `/console/modules/ws_pkg/shop for the ws_demo key: expected 404, got ${shop.status()}`);
  const post = await page.evaluate(async () => {
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
    const r = await fetch('/console/modules/ws_demo/hello-rust/restart', { method: 'POST', headers: { 'X-CSRF-Token': csrf }, redirect: 'manual' });
    return r.status;
  });
  expect(post === 403 || post === 404, `a read-only session's restart POST (with its CSRF token) answered ${post}, expected 403`);
});

await step('m-no-secret-and-no-js-error', async () => {
  expect(leaks.length === 0, leaks.join('; '));
  expect(pageErrors.length === 0, `uncaught JavaScript errors: ${pageErrors.join('; ')}`);
  console.log(`     checked every document and fetch body; pages visited: ${[...new Set(visited)].join(' ')}`);
});

await browser.close();
console.log('console: every step passed');
