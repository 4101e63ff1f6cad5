/**
 * The snippet in headless Chromium against a real Nudge server: pages on another origin (a site
 * server that serves the built snippet through sdk-routes.ts) load it with the stub and `init`, or
 * with one script tag. What the page does must land on the profile as events (calls made before
 * the script loaded, page views with their type, scroll milestones, marked clicks, forms started
 * and abandoned, dwell on leaving by beacon, checkout steps, identify merging the visitor), each
 * once; and in-app messages sent by triggers must appear in the page (modal, toast, banner),
 * accessibly, with what the user does reported back to the inbox.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { sdkRoutes } from '../../src/http/sdk-routes.js';
import { launchChromium, requireChromium, type ChromiumLaunch } from '../support/chromium.js';
import { startNudge, testConfig, writeKey, type RunningNudge } from '../support/nudge.js';
import { builtSdk } from '../support/sdk-build.js';
import { eventually, profileOf, timelineOf, type StoredEventBody } from '../support/timeline.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-snippet-browser-'));
let nudge: RunningNudge;
let site: { app: FastifyInstance; url: string };
let chromium: ChromiumLaunch;

/** Triggers that answer only on the `guide` page, so the tracking test sees no message. */
function writeDefinitions(siteUrl: string): void {
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  const trigger = (id: string, event: string, when: string, template: string) =>
    writeFileSync(path.join(dir, 'triggers', `${id}.yaml`), `id: ${id}\nentry: { event: ${event}, when: '${when}' }\nsteps:\n  - send: in_app\n    template: ${template}\n`);
  trigger('help', 'element_clicked', 'event.properties.element == "help" && event.properties.page_type == "guide"', 'help-chat');
  trigger('deep-read', 'scroll_depth', 'event.properties.percent == 75 && event.properties.page_type == "guide"', 'deep-read');
  trigger('question', 'form_started', 'event.properties.page_type == "guide"', 'question');
  const template = (id: string, parts: string) => writeFileSync(path.join(dir, 'templates', `${id}.yaml`), `id: ${id}\nin_app:\n${parts}`);
  template('help-chat', `  title: Need a hand?\n  body: Chat with us now.\n  cta_label: Chat\n  cta_url: ${siteUrl}/chat\n  style: modal\n`);
  template('deep-read', `  title: Enjoying the guide?\n  body: The full course is 20 % off today.\n`);
  template('question', `  title: A question?\n  body: Ask our experts instead.\n  cta_label: Ask now\n  cta_url: ${siteUrl}/chat\n  style: banner\n`);
}

/** A page of the site: the stub queues calls until nudge.js has loaded, then `init` takes them. */
function html(title: string, pageType: string | null, body: string, init: Record<string, unknown> = {}, early = ''): string {
  const options = JSON.stringify({ writeKey, host: nudge.url, flushIntervalMs: 100, ...init });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script>
  window.nudge = window.nudge || function () { (nudge.q = nudge.q || []).push(arguments); };
  nudge('init', ${options});
  ${early}
</script>
<script async src="/sdk/nudge.js"></script></head>
<body${pageType === null ? '' : ` data-nudge-page-type="${pageType}"`}>${body}</body></html>`;
}

const tall = '<div style="height:4000px">Long read</div>';
const pages: Record<string, () => string> = {
  '/product': () =>
    html(
      'Boots — Test Shop',
      'product',
      `<button data-nudge-click="help">Help</button><form id="newsletter"><input name="email"><button>Subscribe</button></form>${tall}`,
      { cues: { exitIntent: { minTimeOnPageMs: 0 } } },
      "nudge('track', 'early_call', { before: 'load' });",
    ),
  '/checkout': () => html('Checkout — Test Shop', null, '<meta name="nudge:page-type" content="checkout"><section data-nudge-checkout-step="payment">Pay</section>'),
  '/guide': () =>
    html('Guide — Test Shop', 'guide', `<button data-nudge-click="help">Help</button><form id="ask"><input name="q"></form>${tall}`, { cues: { forms: { idleMs: 600_000 } } }),
  '/one-tag': () =>
    `<!doctype html><html><head><meta charset="utf-8"><title>One tag</title><script async src="/sdk/nudge.js" data-write-key="${writeKey}" data-host="${nudge.url}"></script></head><body data-nudge-page-type="home"></body></html>`,
  '/custom': () =>
    html(
      'Custom — Test Shop',
      'guide',
      '<button data-nudge-click="help">Help</button>',
      { inApp: { render: false } },
      "nudge('on', 'message', function (item) { (window.received = window.received || []).push(item); });",
    ),
  '/chat': () => '<!doctype html><html><head><meta charset="utf-8"><title>Chat</title></head><body>Chat</body></html>',
};

before(async () => {
  const sdkDir = await builtSdk();
  site = { app: Fastify(), url: '' };
  await site.app.register((scope, _opts, done) => void sdkRoutes(scope, { dir: sdkDir }).then(() => done(), done));
  for (const [url, page] of Object.entries(pages)) site.app.get(url, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page()));
  site.url = await site.app.listen({ port: 0, host: '127.0.0.1' });
  writeDefinitions(site.url);
  nudge = await startNudge({
    config: testConfig(`triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n  in_app:\n    inApp: {}\n`),
  });
  chromium = await launchChromium();
});
after(async () => {
  if ('browser' in chromium) await chromium.browser.close();
  await site.app.close();
  await nudge.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh browser profile (its own storage, so a new visitor) in Berlin, on `pathname`, with nudge.js loaded. */
async function visit(browser: Browser, pathname: string) {
  const context = await browser.newContext({ timezoneId: 'Europe/Berlin', locale: 'de-DE', viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'warning' && problems.push(`console: ${m.text()}`));
  /** The events of each batch the page posted with fetch (beacons of a page being left are not shown). */
  const fetched: string[][] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/batch') fetched.push((r.postDataJSON() as { batch: { type: string; event?: string }[] }).batch.map((e) => e.event ?? e.type));
  });
  // A stream is cut when the page goes, and Playwright reports the beacon of a page being left as
  // aborted although the browser still sends it: what they carry is checked on the server.
  page.on('requestfailed', (r) => {
    const leaving = r.resourceType() === 'ping' && r.failure()?.errorText === 'net::ERR_ABORTED';
    if (!leaving && !/\/v1\/inbox\/stream/.test(r.url())) problems.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  await page.goto(site.url + pathname);
  await loaded(page);
  const anonymousId: string = await page.evaluate(() => (window as any).nudge.user().anonymousId);
  return { context, page, problems, fetched, anonymousId };
}

const loaded = (page: Page) => page.waitForFunction(() => typeof (window as any).nudge?.user === 'function');

/** Scrolls to `y` and waits for the frame the snippet measures in. */
async function scrollTo(page: Page, y: number): Promise<void> {
  await page.evaluate((top) => window.scrollTo(0, top), y);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

const tracks = (events: readonly StoredEventBody[]) => events.map((e) => (e.type === 'track' ? e.name : `${e.type}:${String(e.properties['page_type'] ?? '')}`));

describe('tracking', () => {
  test('calls, page views and cues land on the profile once each; leaving the page sends its dwell by beacon', async (t) => {
    const browser = requireChromium(t, chromium);
    if (!browser) return;
    const { context, page, problems, fetched, anonymousId } = await visit(browser, '/product');

    await scrollTo(page, 500);
    await scrollTo(page, 4000);
    await page.click('[data-nudge-click="help"]');
    await page.fill('input[name="email"]', 'ivy@example.com');
    // Exit intent: the pointer leaves through the top edge.
    await page.mouse.move(600, 300);
    await page.mouse.move(600, 2);
    await page.mouse.move(600, -30);
    await page.evaluate(() => (window as any).nudge.identify('web-ivy', { name: 'Ivy' }));
    await page.waitForTimeout(300);
    // Leaving: pagehide ends the view; its events go by beacon.
    const beforeLeaving = fetched.length;
    await page.goto(`${site.url}/checkout`);
    await loaded(page);

    const expected = {
      '/product': ['page:product', 'scroll_depth', 'scroll_depth', 'scroll_depth', 'scroll_depth', 'element_clicked', 'form_started', 'exit_intent', 'identify:', 'form_abandoned', 'page_left'],
      '/checkout': ['page:checkout', 'checkout_step_viewed'],
    };
    // Per page, in the order they happened. Across pages the server orders by arrival, and a
    // beacon of the page left may arrive after the next page's first batch. The call made before
    // the script loaded may come before or after the page view (which waits for the <body>).
    const events = await eventually(async () => {
      const found = (await timelineOf(nudge, 'web-ivy')).sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
      assert.equal(found.filter((e) => e.name === 'early_call').length, 1);
      const onPage = (p: string) => found.filter((e) => e.name !== 'early_call' && (e.context['page'] as { path: string }).path === p);
      assert.deepEqual({ '/product': tracks(onPage('/product')), '/checkout': tracks(onPage('/checkout')) }, expected);
      assert.equal(found.length, 14, 'each event once');
      return found;
    });
    assert.deepEqual(fetched.slice(beforeLeaving).flat().sort(), ['checkout_step_viewed', 'page'], "the last events of the page left came by beacon, not from the next page's queue");
    await context.close();
    assert.deepEqual(problems, []);

    const byName = (name: string) => events.filter((e) => e.name === name);
    assert.deepEqual(byName('scroll_depth').map((e) => e.properties['percent']), [25, 50, 75, 100]);
    assert.deepEqual(byName('element_clicked')[0]!.properties, { element: 'help', page_type: 'product', path: '/product' });
    assert.deepEqual(byName('form_started')[0]!.properties, { form: 'newsletter', field: 'email', page_type: 'product', path: '/product' });
    assert.deepEqual(byName('early_call')[0]!.properties, { before: 'load' });
    const abandoned = byName('form_abandoned')[0]!.properties;
    assert.ok(['hidden', 'left'].includes(abandoned['reason'] as string), String(abandoned['reason']));
    const left = byName('page_left')[0]!.properties;
    assert.equal(left['page_type'], 'product');
    assert.equal(left['max_scroll'], 100);
    assert.ok(typeof left['dwell_ms'] === 'number' && left['dwell_ms'] > 0 && left['dwell_ms'] < 60_000, `dwell ${left['dwell_ms']}`);
    assert.deepEqual(byName('checkout_step_viewed')[0]!.properties, { step: 'payment', page_type: 'checkout', path: '/checkout' });

    const productView = events.find((e) => e.type === 'page')!;
    assert.equal(productView.anonymousId, anonymousId);
    assert.equal(productView.userId, null);
    assert.deepEqual(
      { ...productView.properties, url: String(productView.properties['url']).replace(site.url, '') },
      { url: '/product', path: '/product', search: '', title: 'Boots — Test Shop', referrer: '', page_type: 'product' },
    );
    const contexts = events.map((e) => e.context);
    assert.equal(new Set(contexts.map((c) => c['sessionId'])).size, 1, 'one session');
    assert.deepEqual([contexts[0]!['timezone'], contexts[0]!['locale'], contexts[0]!['library']], ['Europe/Berlin', 'de-DE', { name: 'nudge.js', version: '0.1.0' }]);
    assert.equal(new Set(events.map((e) => e.messageId)).size, events.length);

    const profile = await profileOf(nudge, 'web-ivy');
    assert.equal((await profileOf(nudge, anonymousId)).profileId, profile.profileId, 'the visitor became Ivy');
    assert.equal(profile.traits.name, 'Ivy');
    assert.deepEqual([profile.computed.timezone, profile.computed.locale], ['Europe/Berlin', 'de-DE']);
    assert.equal(profile.computed.lastPage.path, '/checkout');
  });

  test('one script tag with data-write-key and data-host: nothing else to write', async (t) => {
    const browser = requireChromium(t, chromium);
    if (!browser) return;
    const { context, page, problems, anonymousId } = await visit(browser, '/one-tag');
    await page.evaluate(() => (window as any).nudge('track', 'via_function_call', { ok: true }));
    await page.evaluate(() => (window as any).nudge.flush());
    const events = await eventually(async () => {
      const found = await timelineOf(nudge, anonymousId);
      assert.deepEqual(tracks(found), ['page:home', 'via_function_call']);
      return found;
    });
    await context.close();
    assert.deepEqual(problems, []);
    assert.deepEqual(events[1]!.properties, { ok: true });
  });
});

describe('in-app', () => {
  test('messages sent by triggers appear in the page; what the user does is reported to the inbox', async (t) => {
    const browser = requireChromium(t, chromium);
    if (!browser) return;
    const { context, page, problems, anonymousId } = await visit(browser, '/guide');
    const inbox = async () => {
      const res = await nudge.api(`/users/${encodeURIComponent(anonymousId)}/inbox`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.items as { triggerId: string; shownAt: string | null; clickedAt: string | null; dismissedAt: string | null; feedback: string | null }[];
    };
    const item = async (triggerId: string) => (await inbox()).find((i) => i.triggerId === triggerId)!;

    // A modal: a labelled dialog that takes the focus, keeps Tab inside and gives the focus back.
    await page.click('[data-nudge-click="help"]');
    const dialog = page.locator('[role="dialog"]');
    await dialog.waitFor();
    assert.equal(await dialog.getAttribute('aria-modal'), 'true');
    const labelledBy = (await dialog.getAttribute('aria-labelledby'))!;
    assert.equal(await page.locator(`[id="${labelledBy}"]`).textContent(), 'Need a hand?');
    assert.equal(await dialog.locator('.nudge-body').textContent(), 'Chat with us now.');
    const focused = () => page.evaluate(() => document.activeElement?.className ?? '');
    assert.equal(await focused(), 'nudge-cta');
    const cta = new URL((await dialog.locator('.nudge-cta').getAttribute('href'))!);
    assert.equal(cta.origin + cta.pathname, `${site.url}/chat`);
    assert.equal(cta.searchParams.get('utm_medium'), 'in_app');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'nudge-not-relevant');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'nudge-close', 'Tab wraps around inside the dialog');
    assert.equal(await dialog.locator('.nudge-close').getAttribute('aria-label'), 'Dismiss');
    await eventually(async () => assert.ok((await item('help')).shownAt, 'shown is reported'));
    await dialog.locator('.nudge-not-relevant').click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-nudge-click')), 'help', 'the focus is back on the help button');
    await eventually(async () => {
      const help = await item('help');
      assert.equal(help.feedback, 'not_relevant');
      assert.ok(help.dismissedAt, 'not relevant also dismisses');
    });

    // A toast: a status region; Escape dismisses it when the focus is in it.
    await scrollTo(page, 3000);
    const toast = page.locator('.nudge-stack [role="status"]');
    await toast.waitFor();
    assert.equal(await toast.locator('.nudge-title').textContent(), 'Enjoying the guide?');
    await toast.locator('.nudge-close').focus();
    await page.keyboard.press('Escape');
    await toast.waitFor({ state: 'detached' });
    await eventually(async () => {
      const deepRead = await item('deep-read');
      assert.ok(deepRead.shownAt && deepRead.dismissedAt);
      assert.equal(deepRead.feedback, null);
    });

    // A banner whose link is followed: the click is reported as the page unloads.
    await page.fill('input[name="q"]', 'how to');
    const banner = page.locator('.nudge-banner');
    await banner.waitFor();
    assert.equal(await banner.getAttribute('role'), 'status');
    await Promise.all([page.waitForURL(/\/chat/), banner.locator('.nudge-cta').click()]);
    await eventually(async () => {
      const question = await item('question');
      assert.ok(question.clickedAt, 'the click is reported');
      assert.equal(question.dismissedAt, null);
    });
    await context.close();
    assert.deepEqual(problems, []);
  });

  test('a site that renders messages itself gets them from on("message") and reports with report()', async (t) => {
    const browser = requireChromium(t, chromium);
    if (!browser) return;
    const { context, page, problems, anonymousId } = await visit(browser, '/custom');
    await page.click('[data-nudge-click="help"]');
    const received = await page.waitForFunction(() => (window as any).received?.[0]);
    const item = (await received.jsonValue()) as { id: number; content: { title: string } };
    assert.equal(item.content.title, 'Need a hand?');
    assert.equal(await page.locator('.nudge-msg').count(), 0, 'nothing rendered');
    await page.evaluate((id) => (window as any).nudge.report(id, 'clicked'), item.id);
    await eventually(async () => {
      const [stored] = (await nudge.api(`/users/${encodeURIComponent(anonymousId)}/inbox`)).body.items;
      assert.equal(stored.id, item.id);
      assert.ok(stored.clickedAt);
      assert.equal(stored.shownAt, null, 'the site reports shown itself');
    });
    await context.close();
    assert.deepEqual(problems, []);
  });
});
