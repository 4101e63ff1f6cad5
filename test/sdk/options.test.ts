/**
 * The snippet's options and the in-app rules, DOM-free: defaults, switching cues one by one or all
 * at once, the host; how an item is shown, which URLs may be followed, what counts as an item, and
 * where a page's stream starts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultLabels, parseMessage, reportUrl, safeUrl, streamStart, streamUrl, styleOf } from '../../sdk/src/inbox.js';
import { resolveOptions } from '../../sdk/src/options.js';

const origin = 'https://nudge.shop.example';

describe('options', () => {
  test('defaults: every cue on, page views at start, the in-app channel rendered, Nudge where the script came from', () => {
    const o = resolveOptions({ writeKey: 'wk' }, origin);
    assert.deepEqual(o, {
      writeKey: 'wk',
      host: origin,
      token: null,
      queue: { flushAt: undefined, flushIntervalMs: undefined },
      sessionTimeoutMs: undefined,
      pageViews: true,
      history: false,
      cues: { dwell: true, scroll: true, exitIntent: { minTimeOnPageMs: 5_000, topEdgePx: 10 }, clicks: true, forms: { idleMs: 60_000 }, checkout: true },
      inApp: { render: true, labels: defaultLabels },
    });
  });

  test('each cue switches off alone; false switches all off; objects set their options', () => {
    const o = resolveOptions(
      { writeKey: 'wk', host: 'http://127.0.0.1:8787/', cues: { scroll: false, exitIntent: { minTimeOnPageMs: 0 }, forms: { idleMs: 5_000 }, pageViews: 'history' }, inApp: { render: false, labels: { notRelevant: 'Nicht relevant' } } },
      origin,
    );
    assert.equal(o.host, 'http://127.0.0.1:8787');
    assert.deepEqual([o.pageViews, o.history], [true, true]);
    assert.deepEqual(o.cues, { dwell: true, scroll: false, exitIntent: { minTimeOnPageMs: 0, topEdgePx: 10 }, clicks: true, forms: { idleMs: 5_000 }, checkout: true });
    assert.deepEqual(o.inApp, { render: false, labels: { dismiss: 'Dismiss', notRelevant: 'Nicht relevant' } });

    const off = resolveOptions({ writeKey: 'wk', cues: false, inApp: false }, origin);
    assert.deepEqual([off.pageViews, off.history, off.inApp], [false, false, false]);
    assert.deepEqual(off.cues, { dwell: false, scroll: false, exitIntent: false, clicks: false, forms: false, checkout: false });
    assert.equal(resolveOptions({ writeKey: 'wk', cues: { pageViews: false, forms: false, exitIntent: false } }, origin).pageViews, false);
  });

  test('a missing write key says so', () => {
    assert.throws(() => resolveOptions({} as never, origin), /nudge: init needs a writeKey/);
    assert.throws(() => resolveOptions(undefined as never, origin), /writeKey/);
  });
});

describe('in-app rules', () => {
  test('style: toast unless banner or modal', () => {
    assert.deepEqual(['banner', 'modal', 'toast', 'popup', undefined, 3].map(styleOf), ['banner', 'modal', 'toast', 'toast', 'toast', 'toast']);
  });

  test('only http(s) links and images, relative ones resolved against the page', () => {
    const page = 'https://shop.example/p/42';
    assert.equal(safeUrl('https://shop.example/chat?utm_medium=in_app', page), 'https://shop.example/chat?utm_medium=in_app');
    assert.equal(safeUrl('/cart', page), 'https://shop.example/cart');
    for (const bad of ['javascript:alert(1)', ' JavaScript:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x', '', '  ', null, 42, 'http://[::1']) {
      assert.equal(safeUrl(bad, page), null, String(bad));
    }
  });

  test('an item is an object with an integer id and content', () => {
    assert.deepEqual(parseMessage('{"id":7,"content":{"title":"Hi"},"triggerId":"t"}'), { id: 7, content: { title: 'Hi' }, triggerId: 't' });
    for (const bad of ['{"id":"7","content":{}}', '{"id":7}', '{"id":7,"content":null}', 'null', '[]', 'nope']) assert.equal(parseMessage(bad), null, bad);
  });

  test('the stream starts after the last item seen; else from the beginning for a visitor, from now for a user', () => {
    assert.equal(streamStart(41, false), 41);
    assert.equal(streamStart(41, true), 41);
    assert.equal(streamStart(null, true), 0);
    assert.equal(streamStart(null, false), null);
    assert.equal(streamUrl(origin, 'a.b+c', 0), `${origin}/v1/inbox/stream?token=a.b%2Bc&lastEventId=0`);
    assert.equal(streamUrl(origin, 'tok', null), `${origin}/v1/inbox/stream?token=tok`);
    assert.equal(reportUrl(origin, 'tok', 12, 'feedback'), `${origin}/v1/inbox/12/feedback?token=tok`);
  });
});
