/**
 * The real @segment/analytics-next in headless Chromium, on a page of another origin, pointed at
 * Nudge with `cdnURL`: it reads the settings endpoint, then sends each call to the short paths
 * `/v1/p|t|i|g` (JSON labelled text/plain, Basic auth, so CORS with a preflight), or — in batching
 * mode — whole batches to `/v1/b`. What it sent must be stored and merged as a Node SDK's would.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { serveAnalyticsPage, type AnalyticsPage } from '../support/analytics-page.js';
import { assertSubset } from '../support/assert-subset.js';
import { launchChromium, requireChromium, type ChromiumLaunch } from '../support/chromium.js';
import { startNudge, writeKey, type RunningNudge } from '../support/nudge.js';
import { calls, profileOf, timelineOf } from '../support/timeline.js';

let nudge: RunningNudge;
let site: AnalyticsPage;
let chromium: ChromiumLaunch;
before(async () => {
  nudge = await startNudge();
  site = await serveAnalyticsPage();
  chromium = await launchChromium();
});
after(async () => {
  if ('browser' in chromium) await chromium.browser.close();
  await site.close();
  await nudge.stop();
});

/** A fresh browser profile (own cookies and storage, so its own anonymous id) on the test page. */
async function openPage(browser: Browser) {
  const context: BrowserContext = await browser.newContext();
  const page: Page = await context.newPage();
  const responses: Response[] = [];
  const elsewhere: string[] = [];
  const failed: string[] = [];
  page.on('response', (r) => responses.push(r));
  page.on('request', (r) => new URL(r.url()).hostname !== '127.0.0.1' && elsewhere.push(r.url()));
  page.on('requestfailed', (r) => failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
  await page.goto(site.url);
  return { context, page, responses, elsewhere, failed };
}

/** Loads analytics-next in the page as `window.analytics`; `integrations` are its load options. */
async function loadAnalytics(page: Page, integrations: Record<string, unknown> = {}): Promise<void> {
  await page.evaluate(
    async ({ writeKey, cdnURL, integrations }) => {
      const w = window as any;
      const [analytics] = await w.AnalyticsBrowser.load({ writeKey, cdnURL }, { integrations });
      w.analytics = analytics;
    },
    { writeKey, cdnURL: nudge.url, integrations },
  );
}

/** Runs `analytics[method](...args)` in the page; resolves when the SDK has handled the call. */
function call(page: Page, method: string, ...args: unknown[]): Promise<void> {
  return page.evaluate(async ({ method, args }) => void (await (window as any).analytics[method](...args)), { method, args });
}

const isPost = (pathname: string) => (r: Response) => r.request().method() === 'POST' && new URL(r.url()).pathname === pathname;

/** Makes one call and waits for the request it causes on `pathname`, which must succeed. */
async function callAndSend(page: Page, pathname: string, method: string, ...args: unknown[]): Promise<Response> {
  const [response] = await Promise.all([page.waitForResponse(isPost(pathname)), call(page, method, ...args)]);
  assert.equal(response.status(), 200, `${method} -> ${pathname}: ${await response.text()}`);
  return response;
}

/** What every request the SDK made to Nudge must look like: cross-origin, text/plain, Basic auth. */
async function assertBrowserRequest(response: Response): Promise<void> {
  const headers = await response.request().allHeaders();
  assert.equal(headers['content-type'], 'text/plain');
  assert.equal(headers['authorization'], `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`);
  assert.equal(headers['origin'], new URL(site.url).origin, 'the page is on another origin than Nudge');
  assert.equal(response.headers()['access-control-allow-origin'], new URL(site.url).origin);
}

test('analytics-next: settings, then page, track, identify and group on the short paths', async (t) => {
  const browser = requireChromium(t, chromium);
  if (!browser) return;
  const { context, page, responses, elsewhere, failed } = await openPage(browser);
  await loadAnalytics(page);
  const settings = responses.find((r) => r.url() === `${nudge.url}/v1/projects/${writeKey}/settings`);
  assert.ok(settings, 'the settings were read from Nudge');
  assert.equal(settings.status(), 200);

  const sent = [
    await callAndSend(page, '/v1/p', 'page', 'Docs', 'Pricing', { plan: 'pro' }),
    await callAndSend(page, '/v1/t', 'track', 'Plan Selected', { plan: 'pro', seats: 3, addons: ['sso'] }),
    await callAndSend(page, '/v1/i', 'identify', 'web-wendy', { email: 'wendy@example.com', name: 'Wendy' }),
    await callAndSend(page, '/v1/t', 'track', 'Checkout Started', { revenue: 147 }),
    await callAndSend(page, '/v1/g', 'group', 'umbrella', { name: 'Umbrella Corp' }),
  ];
  for (const response of sent) await assertBrowserRequest(response);
  const anonymousId: string = await page.evaluate(() => (window as any).analytics.user().anonymousId());
  assert.ok(anonymousId);
  await context.close();
  assert.deepEqual(elsewhere, [], 'nothing is fetched from anywhere but 127.0.0.1');
  assert.deepEqual(failed, []);

  const events = await timelineOf(nudge, 'web-wendy');
  assert.deepEqual(calls(events), ['page:Pricing', 'track:Plan Selected', 'identify:', 'track:Checkout Started', 'group:']);
  const [pageView, selected, identify, , group] = events;
  assert.equal(pageView!.anonymousId, anonymousId);
  assert.equal(pageView!.userId, null);
  assertSubset(pageView!.properties, { plan: 'pro', category: 'Docs', path: '/pricing', url: site.url, title: 'Pricing — Test Shop' });
  assertSubset(pageView!.context, { page: { path: '/pricing', url: site.url }, library: { name: 'analytics.js' } });
  assert.match(String(pageView!.context['userAgent']), /Chrom/);
  assert.deepEqual(selected!.properties, { plan: 'pro', seats: 3, addons: ['sso'] });
  assert.equal(identify!.userId, 'web-wendy');
  assert.equal(identify!.anonymousId, anonymousId);
  assert.deepEqual(identify!.traits, { email: 'wendy@example.com', name: 'Wendy' });
  assert.equal(group!.groupId, 'umbrella');
  assert.deepEqual(group!.traits, { name: 'Umbrella Corp' });

  const profile = await profileOf(nudge, 'web-wendy');
  assert.equal((await profileOf(nudge, anonymousId)).profileId, profile.profileId, 'the anonymous history is the user’s');
  assert.deepEqual(profile.anonymousIds, [anonymousId]);
  assertSubset(profile.traits, { email: 'wendy@example.com', name: 'Wendy' });
  assert.equal(profile.computed.totals.revenue, 147);
  assertSubset(profile.computed.lastPage, { path: '/pricing', name: 'Pricing' });
});

test('analytics-next in batching mode posts the calls together to /v1/b', async (t) => {
  const browser = requireChromium(t, chromium);
  if (!browser) return;
  const { context, page, responses, elsewhere, failed } = await openPage(browser);
  // Only a full batch (size) sends; the timeout is far longer than the test.
  await loadAnalytics(page, { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 5, timeout: 600_000 } } } });
  const batchSent = page.waitForResponse(isPost('/v1/b'));
  await call(page, 'page', 'Home');
  await call(page, 'track', 'Product Viewed', { sku: 'B-2', price: 20 });
  // analytics.js aliases the current anonymous id to the new user id.
  await call(page, 'alias', 'web-bea');
  await call(page, 'identify', 'web-bea', { plan: 'free' });
  await call(page, 'track', 'Order Completed', { revenue: 20, orderId: 'o-1' });
  const response = await batchSent;
  assert.equal(response.status(), 200, await response.text());
  await assertBrowserRequest(response);
  const body = response.request().postDataJSON() as { writeKey: string; batch: { type: string }[] };
  assert.equal(body.writeKey, writeKey);
  assert.deepEqual(body.batch.map((e) => e.type), ['page', 'track', 'alias', 'identify', 'track']);
  const anonymousId: string = await page.evaluate(() => (window as any).analytics.user().anonymousId());
  await context.close();
  const posts = responses.filter((r) => r.request().method() === 'POST').map((r) => new URL(r.url()).pathname);
  assert.deepEqual(posts, ['/v1/b'], 'one request for the five calls');
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(failed, []);

  const events = await timelineOf(nudge, 'web-bea');
  assert.deepEqual(calls(events), ['page:Home', 'track:Product Viewed', 'alias:', 'identify:', 'track:Order Completed']);
  assert.equal(events[0]!.anonymousId, anonymousId);
  assert.equal(events[2]!.previousId, anonymousId);
  const profile = await profileOf(nudge, 'web-bea');
  assert.equal((await profileOf(nudge, anonymousId)).profileId, profile.profileId, 'the anonymous history is the user’s');
  assert.equal(profile.userId, 'web-bea');
  assertSubset(profile.traits, { plan: 'free' });
  assert.equal(profile.computed.totals.revenue, 20);
});
