/**
 * The dashboard end to end, in real headless Chromium against a real server (SQLite) that runs
 * the example shop's triggers and templates, its messages delivered to a real webhook receiver:
 * sign in, see the triggers' live counters (runs waiting per step among them, in the list and on
 * the trigger's flow), find the demo user by id and by trait, watch their timeline take events as they are
 * sent, edit a trigger into an error and see it named on its line, switch the trigger off and on,
 * backtest it, filter the message log and read a message, watch the live chart move. The admin key
 * never appears in a URL; every control has a name. Screenshots of the main pages are written to
 * test-results/screenshots/ for review.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, requireChromium, type ChromiumLaunch } from '../support/chromium.js';
import { buildDashboard, screenshot, unnamedControls } from '../support/dashboard.js';
import { adminKey, send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';
import { eventually } from '../support/timeline.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const example = path.resolve(import.meta.dirname, '../../examples/shop');
const project = mkdtempSync(path.join(tmpdir(), 'nudge-dashboard-'));
const triggerFile = path.join(project, 'triggers', 'abandoned-cart.yaml');

let nudge: RunningNudge;
let receiver: WebhookReceiver;
let chromium: ChromiumLaunch;
let context: BrowserContext | null = null;
let page: Page;
const requestedUrls: string[] = [];
const problems: string[] = [];

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

before(async () => {
  await buildDashboard();
  cpSync(path.join(example, 'triggers'), path.join(project, 'triggers'), { recursive: true });
  cpSync(path.join(example, 'templates'), path.join(project, 'templates'), { recursive: true });
  receiver = await startWebhookReceiver();
  const channels = ['in_app', 'push', 'email'].map((c) => `  ${c}:\n    webhook:\n      url: ${receiver.url}/${c}\n      allowPrivateNetworks: true\n`).join('');
  nudge = await startNudge({
    config: testConfig(`triggers:\n  dir: ${project}/triggers\n  watch: false\ntemplates:\n  dir: ${project}/templates\n  watch: false\nchannels:\n${channels}`),
  });
  // The demo user, a few other shoppers, and their carts of the last minutes: nine carts with items,
  // and ada's, each get the in-app reminder at once; their pushes are not due yet.
  const batch: unknown[] = [
    { type: 'identify', userId: 'ada', traits: { email: 'ada@example.com', name: 'Ada Lovelace', plan: 'pro', consent: { 'push:marketing': false, email: true } }, timestamp: minutesAgo(30), context: { timezone: 'Europe/London' } },
    { type: 'page', userId: 'ada', name: 'Product', properties: { page_type: 'other', path: '/p/runner', title: 'Runner' }, timestamp: minutesAgo(20) },
    { type: 'track', userId: 'ada', event: 'product_added', properties: { sku: 'runner-42', value: 89 }, timestamp: minutesAgo(19) },
  ];
  for (let i = 1; i <= 12; i++) {
    const id = `shopper-${String(i).padStart(2, '0')}`;
    batch.push({ type: 'identify', userId: id, traits: { email: `${id}@example.org`, name: `Shopper ${i}`, plan: i % 3 ? 'free' : 'pro' }, timestamp: minutesAgo(40 - i) });
    batch.push({ type: 'track', userId: id, event: 'cart_updated', properties: { item_count: i % 4, value: 10 * i }, timestamp: minutesAgo(6 - i * 0.4) });
  }
  assert.equal((await send(nudge.url, '/v1/batch', { batch })).status, 200);
  assert.equal((await send(nudge.url, '/v1/track', { userId: 'ada', event: 'cart_updated', properties: { item_count: 2, value: 89 } })).status, 200);
  await eventually(async () => assert.equal((await nudge.api('/outbox?userId=ada')).body.items[0]?.status, 'delivered'));
  chromium = await launchChromium();
});

after(async () => {
  await context?.close();
  if ('browser' in chromium) await chromium.browser.close();
  await nudge.stop();
  await receiver.close();
  rmSync(project, { recursive: true, force: true });
});

const main = () => page.locator('main');
const heading = (name: string) => page.getByRole('heading', { level: 1, name });
const visible = (text: string | RegExp) => main().getByText(text).first().waitFor();

test('the dashboard in a browser', async (t) => {
  const browser = requireChromium(t, chromium);
  if (!browser) return;
  context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('request', (r) => requestedUrls.push(r.url()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && !/status of 422/.test(m.text()) && problems.push(`console: ${m.text()}`));

  await t.test('signs in with an admin key kept for the tab, never in a URL', async () => {
    await page.goto(`${nudge.url}/triggers`);
    await page.getByLabel('Admin key').fill('not-the-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('not accepted').waitFor();
    await screenshot(page, 'login');
    await page.getByLabel('Admin key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Triggers').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('nudge.adminKey')), adminKey);
    problems.splice(0, problems.length, ...problems.filter((p) => !/status of 401/.test(p)));
  });

  await t.test('lists the triggers with their live counters', async () => {
    const row = page.getByRole('row', { name: /abandoned-cart/ });
    await eventually(async () => assert.match(await row.innerText(), /cart_updated\s+10\b/), 10_000);
    assert.match(await row.innerText(), /in_app 10/);
    // Each of the ten runs waits 10 minutes at step 1 (`wait: 10m`) for its push.
    assert.match(await row.innerText(), /\b10 \(step 1: 10\)/);
    assert.equal(await page.getByRole('row').count(), 7, 'a header and the six example triggers');
    await screenshot(page, 'triggers');
  });

  await t.test('finds the demo user by id and by trait, and shows the profile', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Users' }).click();
    await heading('Users').waitFor();
    const results = () => main().locator('table tbody');
    await page.getByLabel('User id, anonymous id or email').fill('ada');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await eventually(async () => assert.deepEqual(await results().locator('th').allInnerTexts(), ['ada']));
    await page.getByLabel('User id, anonymous id or email').fill('shopper-0');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await eventually(async () => assert.equal(await results().locator('tr').count(), 9));

    await page.getByLabel('Trait', { exact: true }).fill('plan');
    await page.getByLabel('equal to').fill('PRO');
    await page.getByRole('button', { name: 'Find by trait' }).click();
    await eventually(async () => assert.deepEqual((await results().locator('th').allInnerTexts()).sort(), ['ada', 'shopper-03', 'shopper-06', 'shopper-09', 'shopper-12']));
    assert.match(page.url(), /\/users\?trait=plan&value=PRO$/);
    await screenshot(page, 'users');

    await results().getByRole('link', { name: 'ada' }).click();
    await heading('ada').waitFor();
    await visible('Ada Lovelace');
    const consent = page.getByRole('region', { name: 'Consent' });
    assert.match(await consent.innerText(), /push:marketing\s+refused/);
    const runs = page.getByRole('region', { name: 'Trigger runs' });
    await eventually(async () => assert.match(await runs.innerText(), /abandoned-cart.*step 1 due in (9|10) minutes/s));
    const timeline = page.getByRole('list', { name: 'Timeline, newest first' });
    await eventually(async () => assert.match(await timeline.innerText(), /Message cart-reminder via in_app\s+delivered/));
    assert.match(await timeline.innerText(), /product_added/);
    await screenshot(page, 'user');
  });

  await t.test('the timeline takes new events and message outcomes as they are sent', async () => {
    const timeline = page.getByRole('list', { name: 'Timeline, newest first' });
    assert.doesNotMatch(await timeline.innerText(), /timeline-check-42/);
    const key = (await nudge.api('/outbox?userId=ada')).body.items[0].key;
    const sent = await send(nudge.url, '/v1/batch', {
      batch: [
        { type: 'track', userId: 'ada', event: 'product_viewed', properties: { sku: 'timeline-check-42' } },
        { type: 'track', userId: 'ada', event: 'Message Opened', properties: { messageKey: key, triggerId: 'abandoned-cart', stepId: 'nudge-in-app', channel: 'in_app' } },
      ],
    });
    assert.equal(sent.status, 200);
    await eventually(async () => assert.match(await timeline.innerText(), /sku: timeline-check-42/), 10_000);
    const opened = timeline.locator('li.tl-outcome', { hasText: 'Opened' });
    assert.match(await opened.innerText(), /Opened\s+message of abandoned-cart step nudge-in-app/);
  });

  await t.test('a page of the app can be opened from its address', async () => {
    await page.goto(`${nudge.url}/triggers/abandoned-cart`);
    await heading('abandoned-cart').waitFor();
    const flow = page.getByLabel('Steps of abandoned-cart');
    await eventually(async () => assert.match(await flow.innerText(), /Send in_app.*10 sent/is));
    const text = await flow.innerText();
    assert.match(text, /10 entered · 10 in flight · 10 waiting/);
    assert.match(text, /Wait\s+10m\s+step 1\s+10 waiting/i, 'the wait step shows the runs waiting at it');
    assert.match(text, /Wait\s+24h\s+step 3\s+0 waiting/i);
    assert.match(text, /Send push.*0 sent\s+−10 from the step before \(100 %\): 10 still waiting, 0 left/is, 'the drop-off says who is still on the way');
    await flow.scrollIntoViewIfNeeded();
    await screenshot(page, 'trigger-flow');
  });

  await t.test('an edit with an error is named on its line, and nothing is saved', async () => {
    const before = readFileSync(triggerFile, 'utf8');
    const editor = page.getByLabel('YAML of trigger abandoned-cart');
    const broken = (await editor.inputValue()).replace('send: push', 'send: pigeon');
    const line = broken.split('\n').findIndex((l) => l.includes('pigeon')) + 1;
    await editor.fill(broken);
    const issues = page.locator('#trigger-yaml-issues');
    await issues.getByRole('alert').waitFor();
    assert.match(await issues.innerText(), new RegExp(`Line ${line}, column 11\\s+steps\\[2\\]\\.send: must be one of in_app, push, email, sms, webhook`));
    assert.equal(await page.locator('.gutter .bad-line').innerText(), `●${line}\n`);
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'trigger-error');

    await page.getByRole('button', { name: 'Save and apply' }).click();
    await issues.getByRole('alert').waitFor();
    assert.equal(readFileSync(triggerFile, 'utf8'), before, 'the file is untouched');

    await issues.getByRole('button', { name: `Line ${line}, column 11` }).click();
    const caret = await editor.evaluate((el: HTMLTextAreaElement) => [document.activeElement === el, el.selectionStart] as const);
    assert.deepEqual(caret, [true, broken.split('\n').slice(0, line - 1).join('\n').length + 1 + 10], 'the cursor is put on the problem');

    await page.getByRole('button', { name: 'Revert' }).click();
    await page.locator('#trigger-yaml-status').getByText('Saved.').waitFor();
    assert.equal(await issues.innerText(), '');
  });

  await t.test('switches the trigger off and on', async () => {
    await page.getByRole('button', { name: 'Disable abandoned-cart' }).click();
    await page.getByRole('button', { name: 'Enable abandoned-cart' }).waitFor();
    assert.equal((await nudge.api('/triggers/abandoned-cart')).body.enabled, false);
    assert.match(readFileSync(triggerFile, 'utf8'), /^enabled: false$/m);
    await eventually(async () => assert.match(await page.getByLabel('YAML of trigger abandoned-cart').inputValue(), /^enabled: false$/m));
    await page.getByRole('button', { name: 'Enable abandoned-cart' }).click();
    await page.getByRole('button', { name: 'Disable abandoned-cart' }).waitFor();
    assert.equal((await nudge.api('/triggers/abandoned-cart')).body.enabled, true);
  });

  await t.test('a backtest shows what would have been sent', async () => {
    await page.getByRole('button', { name: 'Run backtest' }).click();
    const result = page.getByRole('region', { name: 'Backtest result' });
    await result.waitFor({ timeout: 30_000 });
    assert.match(await result.innerText(), /Would have sent\s+10 messages/);
    const table = result.getByRole('table', { name: /What would have been sent/ });
    assert.equal(await table.locator('tbody tr').count(), 10);
    assert.match(await table.innerText(), /u:ada\s+nudge-in-app\s+in_app\s+cart-reminder/);
    await result.scrollIntoViewIfNeeded();
    await screenshot(page, 'trigger-backtest');
  });

  await t.test('the message log filters by channel, outcome, trigger and user, and shows a message’s content', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    await heading('Messages').waitFor();
    const rows = () => main().locator('table tbody tr');
    await eventually(async () => assert.equal(await rows().count(), 10));

    await page.getByLabel('Channel').selectOption('email');
    await page.getByRole('button', { name: 'Apply' }).click();
    await visible('No messages match.');
    assert.match(page.url(), /channel=email/);

    await page.getByLabel('Channel').selectOption('in_app');
    await page.getByLabel('Outcome').selectOption('delivered');
    await page.getByLabel('Trigger').selectOption('abandoned-cart');
    await page.getByLabel('User').fill('ada');
    await page.getByRole('button', { name: 'Apply' }).click();
    await eventually(async () => assert.equal(await rows().count(), 1));
    assert.match(await rows().first().innerText(), /u:ada\s+abandoned-cart \/ nudge-in-app\s+in_app\s+cart-reminder\s+delivered/);

    await page.getByRole('button', { name: 'Content' }).click();
    await visible('Ada Lovelace, your cart is waiting');
    assert.match(await main().locator('.content-preview').innerText(), /2 items worth €89\.00 are still in your cart/);
    await screenshot(page, 'messages');
  });

  await t.test('the live chart moves as events arrive', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Live' }).click();
    await heading('Live').waitFor();
    await page.locator('.uplot canvas').waitFor();
    const batch = Array.from({ length: 60 }, (_, i) => ({ type: 'track', userId: `live-${i}`, event: 'page_scrolled', properties: { depth: i } }));
    assert.equal((await send(nudge.url, '/v1/batch', { batch })).status, 200);
    await eventually(async () => assert.ok(Number(await page.getByTestId('events-per-second').innerText()) > 0), 10_000);
    await screenshot(page, 'live');
  });

  await t.test('every control has a name; the skip link comes first and leads to the content', async () => {
    for (const href of ['/triggers', '/triggers/abandoned-cart', '/users', '/users/ada', '/messages', '/live']) {
      await page.goto(nudge.url + href);
      await main().locator('h1').waitFor();
      await page.waitForLoadState('networkidle');
      assert.deepEqual(await unnamedControls(page), [], href);
    }
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  });

  await t.test('the admin key went in headers only, and nothing failed in the page', () => {
    assert.ok(requestedUrls.some((u) => u.includes('/api/v1/')));
    assert.deepEqual(requestedUrls.filter((u) => u.includes(adminKey)), []);
    assert.deepEqual(problems, []);
  });
});
