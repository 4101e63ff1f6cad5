/**
 * The demo shop end to end: the example project (examples/shop: nudge.yaml, triggers, templates,
 * site) served by a real Nudge on a simulated clock, and a scripted visitor in headless Chromium.
 * The visitor browses, reads an expensive product to its end, asks for help, idles on the
 * product page, fills the cart, idles on the payment step, abandons the cart and comes back to
 * buy with the code it was sent. Each message must arrive at its time to the millisecond
 * (nothing at 2:59.999, the message at 3:00, by the stored time of the event that started it:
 * the browser's events are placed on the server's clock by `sentAt`), in the page or in the demo
 * mailbox; buying must cancel what is pending; the snippet's events must land on the profile.
 * Time moves only when the test moves it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { parseConfig } from '../../src/config/config.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import { launchChromium, requireChromium, type ChromiumLaunch } from '../support/chromium.js';
import { unnamedControls } from '../support/dashboard.js';
import { startNudge, type RunningNudge } from '../support/nudge.js';
import { builtSdk } from '../support/sdk-build.js';
import { simulatedTime } from '../support/simulated-time.js';
import { eventually, type StoredEventBody } from '../support/timeline.js';

const root = path.resolve(import.meta.dirname, '../..');
const shopConfig = path.join(root, 'examples/shop/nudge.yaml');
const screenshots = path.join(root, 'test-results', 'screenshots');
const t0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const s = 1000;
const m = 60 * s;
const h = 60 * m;

const time = simulatedTime(new SimulatedClock(t0));
let nudge: RunningNudge;
let sdkDir: string;
let chromium: ChromiumLaunch;

/** A port nobody listens on now, for the demo's mail catcher. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  sdkDir = await builtSdk();
  // The example project as it is, but for the mail catcher's port and without watching files.
  const text = readFileSync(shopConfig, 'utf8').replace('port: 2525', `port: ${await freePort()}`).replaceAll('watch: true', 'watch: false');
  nudge = await startNudge({ config: parseConfig(text, shopConfig), clock: time.clock, wakeups: time.wakeups });
  time.attach(nudge);
  chromium = await launchChromium();
});
after(async () => {
  if ('browser' in chromium) await chromium.browser.close();
  await nudge.stop();
});

/** The management API with the example project's admin key. */
async function api<T = any>(pathAndQuery: string): Promise<T> {
  const res = await fetch(`${nudge.url}/api/v1${pathAndQuery}`, { headers: { authorization: 'Bearer demo-admin-key' } });
  const body = await res.json();
  assert.equal(res.status, 200, `${pathAndQuery}: ${JSON.stringify(body)}`);
  return body as T;
}

const timeline = async (id: string) => [...(await api<{ items: StoredEventBody[] }>(`/users/${encodeURIComponent(id)}/events?limit=1000`)).items].reverse();
const nameOf = (e: StoredEventBody) => (e.type === 'track' ? e.name : `${e.type}:${String(e.properties['page_type'] ?? '')}`);

/** When the first stored event `match` finds happened, by the server's clock, once it is stored. */
const storedAt = (id: string, what: string, match: (e: StoredEventBody) => boolean) =>
  eventually(async () => {
    const e = (await timeline(id)).find(match);
    assert.ok(e, `${what} is not stored yet`);
    return Date.parse(e.timestamp);
  });

interface OutboxItem {
  triggerId: string;
  stepId: string;
  status: string;
  channel: string;
  deliveredVia: string | null;
  dueAt: string;
}
const outbox = async (id: string) => (await api<{ items: OutboxItem[] }>(`/outbox?userId=${encodeURIComponent(id)}`)).items;

/**
 * The visitor takes a moment before the next action: the server's clock moves on 2 s. A page's
 * events are placed `sentAt - timestamp` (the real time they waited in the page, under 1 s)
 * before their arrival on the frozen clock: without this, a later action's events could be
 * placed before an earlier one's.
 */
const pause = () => time.advanceTo(time.clock.now() + 2 * s);

/** Lets the server finish what is due now, until `check` holds (the page and the API answer in real time). */
const soon = <T>(check: () => Promise<T>) =>
  eventually(async () => {
    await time.settle();
    return check();
  });

const toast = (page: Page, text: RegExp) => page.locator('.nudge-msg', { hasText: text });

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, `shop-${name}.png`), fullPage: false });
}

/** Goes to a page of the shop and waits for the snippet and its in-app stream. */
async function open(page: Page, pathname: string): Promise<void> {
  const streaming = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/inbox/stream');
  await page.goto(`${nudge.url}${pathname}`);
  await page.waitForFunction(() => typeof (window as any).nudge?.user === 'function');
  await streaming;
}

/** Scrolls to the end of the page and waits for the frame the snippet measures in. */
async function scrollToEnd(page: Page): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

test('a visitor of the demo shop gets each message at its time, in the page or by email, and buying stops the rest', async (t) => {
  const browser = requireChromium(t, chromium);
  if (!browser) return;
  const context = await browser.newContext({ timezoneId: 'Europe/Berlin', locale: 'en-GB', viewport: { width: 1280, height: 860 } });
  // The snippet as its sources say now, not a dist/sdk that may be stale.
  await context.route('**/sdk/nudge.js', (route) => route.fulfill({ path: path.join(sdkDir, 'nudge.js'), contentType: 'text/javascript' }));
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => ['error', 'warning'].includes(msg.type()) && problems.push(`console ${msg.type()}: ${msg.text()}`));
  try {
    // --- Browsing: the product list, then an expensive product read to its end (scenario 2) ---
    await open(page, '/shop/');
    const visitor: string = await page.evaluate(() => (window as any).nudge.user().anonymousId);
    assert.equal(await page.getByRole('list', { name: 'All products' }).getByRole('listitem').count(), 7, 'seven products');
    await screenshot(page, 'home');
    assert.deepEqual(await unnamedControls(page), []);
    await storedAt(visitor, 'the home page view', (e) => e.type === 'page');
    await pause();
    const productOpened = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/inbox/stream');
    await page.getByRole('link', { name: 'Rain jacket' }).click();
    await page.waitForFunction(() => typeof (window as any).nudge?.user === 'function');
    await productOpened;
    assert.equal(await page.title(), 'Rain jacket · Trailhead');
    assert.deepEqual(await unnamedControls(page), []);
    const productPageAt = await storedAt(visitor, 'the product page view', (e) => e.type === 'page' && e.properties['page_type'] === 'product');
    await storedAt(visitor, 'product_viewed', (e) => e.name === 'product_viewed');
    await pause();

    await scrollToEnd(page);
    const advice = toast(page, /any questions before you buy\?/);
    await soon(() => advice.waitFor({ timeout: 500 }));
    assert.match(await advice.innerText(), /The Rain jacket comes with free returns for 30 days/);
    await screenshot(page, 'expert-advice');
    await advice.locator('.nudge-close').click();
    await pause();

    // --- The help button (scenario 2): the live chat, in a dialog ---
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.getByRole('button', { name: 'Help' }).click();
    const dialog = page.getByRole('dialog');
    await soon(() => dialog.waitFor({ timeout: 500 }));
    assert.match(await dialog.innerText(), /Need a hand, there\?/);
    await screenshot(page, 'help-chat');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await storedAt(visitor, 'the help click', (e) => e.name === 'element_clicked');

    // --- Left idle on the product page (scenario 1): at 3:00 exactly, the push, here in-app ---
    const reminder = toast(page, /Still thinking about the Rain jacket\?/);
    const inactivity = async () => (await outbox(visitor)).filter((x) => x.triggerId === 'product-page-inactivity');
    await time.advanceTo(productPageAt + 3 * m - 1);
    assert.deepEqual(await inactivity(), [], 'nothing at 2:59.999');
    assert.equal(await reminder.count(), 0);
    await time.advanceTo(productPageAt + 3 * m);
    await soon(() => reminder.waitFor({ timeout: 500 }));
    assert.deepEqual(
      (await inactivity()).map((x) => [x.status, x.channel, x.deliveredVia, x.dueAt]),
      [['delivered', 'push', 'in_app', new Date(productPageAt + 3 * m).toISOString()]],
      'the push at 3:00; without a push subscription, its in-app fallback',
    );
    await screenshot(page, 'product-reminder');
    await reminder.locator('.nudge-close').click();

    // --- Into the cart (scenario 5): the in-app reminder at once ---
    await page.getByRole('button', { name: 'Add to cart' }).click();
    const cartAt = await storedAt(visitor, 'the cart', (e) => e.name === 'cart_updated');
    const waiting = toast(page, /your cart is waiting/);
    await soon(() => waiting.waitFor({ timeout: 500 }));
    assert.match(await waiting.innerText(), /1 item\s+worth €129\.00 are still in your cart/);
    await waiting.locator('.nudge-close').click();
    await pause();

    // --- The checkout: an address with an email, then idle on the payment step (scenario 3) ---
    await open(page, '/shop/cart');
    await pause();
    await page.getByRole('link', { name: 'Checkout', exact: true }).click();
    await page.getByLabel('Name').fill('Ada');
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Street and number').fill('Unter den Linden 1');
    await page.getByLabel('Postcode').fill('10117');
    await page.getByLabel('City').fill('Berlin');
    assert.deepEqual(await unnamedControls(page), []);
    await storedAt(visitor, 'the address step', (e) => e.name === 'checkout_step_viewed');
    await pause();
    await page.getByRole('button', { name: 'Continue to payment' }).click();
    const paymentAt = await storedAt(visitor, 'the payment step', (e) => e.name === 'checkout_step_viewed' && e.properties['step'] === 'payment');
    const discount = toast(page, /10% off your first order/);
    const hesitation = async () => (await outbox(visitor)).filter((x) => x.triggerId === 'payment-hesitation');
    await time.advanceTo(paymentAt + 2 * m - 1);
    assert.deepEqual(await hesitation(), [], 'nothing at 1:59.999 on the payment step');
    await time.advanceTo(paymentAt + 2 * m);
    await soon(() => discount.waitFor({ timeout: 500 }));
    assert.match(await discount.innerText(), /^Ada, 10% off your first order/m, 'named by the identify of the address step');
    await screenshot(page, 'payment-hesitation');
    assert.deepEqual(await unnamedControls(page), []);
    await discount.locator('.nudge-close').click();

    // --- Abandoned (scenario 4): the personal code at +10 min, by email for lack of a push subscription ---
    await open(page, '/shop/');
    const mails = async () => (await (await fetch(`${nudge.url}/shop/api/mail`)).json()).items as { id: number; subject: string; to: string }[];
    await time.advanceTo(cartAt + 10 * m - 1);
    assert.deepEqual(await mails(), []);
    await time.advanceTo(cartAt + 10 * m);
    const [mail] = await soon(async () => {
      const found = await mails();
      assert.equal(found.length, 1);
      return found;
    });
    assert.deepEqual({ subject: mail!.subject, to: mail!.to }, { subject: '10% off the cart you left, Ada', to: 'ada@example.com' });
    const personal = (await outbox(visitor)).find((x) => x.stepId === 'personal-code')!;
    assert.deepEqual([personal.status, personal.channel, personal.deliveredVia, personal.dueAt], ['delivered', 'push', 'email', new Date(cartAt + 10 * m).toISOString()]);
    const text: string = (await (await fetch(`${nudge.url}/shop/api/mail/${mail!.id}`)).json()).text;
    const code = /CART-[A-Z0-9]{6}/.exec(text)?.[0];
    assert.ok(code, text);
    const cartRun = (await api(`/users/${visitor}/runs`)).runs.find((r: { triggerId: string }) => r.triggerId === 'abandoned-cart');
    assert.equal(cartRun.waiting.until, new Date(cartAt + 10 * m + 24 * h).toISOString(), 'the last email is due in 24 hours');

    // The demo mailbox shows it, with the code in its HTML body.
    await page.goto(`${nudge.url}/shop/mail`);
    await page.getByRole('button', { name: /10% off the cart you left, Ada/ }).click();
    const body = page.frameLocator('iframe[title="The message"]').locator('body');
    await body.getByText(code).waitFor();
    await screenshot(page, 'mailbox');
    assert.deepEqual(await unnamedControls(page), []);

    // --- Back with the code, and buying: everything pending is cancelled ---
    await pause();
    await open(page, `/shop/cart?code=${code}`);
    assert.match(await page.locator('.summary').innerText(), new RegExp(`Code ${code}\\s+−€12\\.90`));
    assert.deepEqual(await unnamedControls(page), []);
    await pause();
    await page.getByRole('link', { name: 'Checkout', exact: true }).click();
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('Expiry').fill('12 / 29');
    await page.getByLabel('Security code').fill('123');
    await page.getByRole('button', { name: 'Pay €116.10' }).click();
    await page.getByRole('heading', { name: 'Thank you, Ada!' }).waitFor();
    await screenshot(page, 'order-completed');
    await soon(async () => assert.deepEqual((await api(`/users/${visitor}/runs`)).runs.map((r: { triggerId: string }) => r.triggerId), [], 'no run left'));
    assert.equal((await api(`/codes/${code}`)).status, 'redeemed', 'the order redeemed the personal code');
    const sentBefore = (await outbox(visitor)).length;
    await time.advanceTo(cartAt + 10 * m + 25 * h);
    assert.equal((await outbox(visitor)).length, sentBefore, 'no message after the purchase');
    assert.equal((await mails()).length, 1, 'and no last email');
    assert.deepEqual((await outbox(visitor)).filter((x) => x.status !== 'delivered'), []);

    // --- What the snippet and the shop sent is on the profile ---
    const events = await timeline(visitor);
    const names = new Set(events.map(nameOf));
    for (const name of ['page:home', 'page:product', 'page:cart', 'page:checkout', 'product_viewed', 'scroll_depth', 'element_clicked', 'product_added', 'cart_updated', 'checkout_step_viewed', 'form_submitted', 'identify:', 'payment_submitted', 'order_completed', 'page_left']) {
      assert.ok(names.has(name), `${name} on the timeline: ${[...names].join(', ')}`);
    }
    assert.deepEqual(events.filter((e) => e.name === 'scroll_depth' && e.properties['path'] === '/shop/product').map((e) => e.properties['percent']), [25, 50, 75, 100]);
    assert.deepEqual(events.filter((e) => e.name === 'checkout_step_viewed').map((e) => e.properties['step']), ['address', 'payment', 'payment']);
    const order = events.find((e) => e.name === 'order_completed')!;
    assert.deepEqual([order.properties['revenue'], order.properties['currency'], order.properties['coupon']], [116.1, 'EUR', code]);
    const profile = await api(`/users/${visitor}`);
    assert.deepEqual([profile.traits.name, profile.traits.email], ['Ada', 'ada@example.com']);
    assert.equal(profile.computed.events.order_completed.sums.revenue, 116.1);
    assert.equal(profile.computed.latest.viewed_price.value, 129);
    assert.equal(profile.computed.timezone, 'Europe/Berlin');
  } finally {
    await context.close();
  }
  assert.deepEqual(problems, []);
});
