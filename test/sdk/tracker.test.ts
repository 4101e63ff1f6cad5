/**
 * The snippet's sending, DOM-free, on a fake clock with a fake network: batching (size and
 * interval), one batch in flight at a time and in order, exponential backoff on retryable
 * failures and none on refusals, the queue kept in storage for the next page (and shared with
 * other tabs without losing theirs), the beacon when the page hides, identities kept between
 * pages, and the session id rotating after 30 minutes of quiet.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { beaconChunks, EventQueue, outcomeOfStatus, retryDelayMs, type SendOutcome } from '../../sdk/src/queue.js';
import { touchSession } from '../../sdk/src/session.js';
import { memoryStore, readJson, storageKeys, type KeyValueStore } from '../../sdk/src/storage.js';
import { Tracker, type TrackerEnv, type WireEvent } from '../../sdk/src/tracker.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const minute = 60_000;

interface SentBody {
  batch: WireEvent[];
  writeKey: string;
  sentAt: string;
}

/** A browser stand-in: a clock the test moves, a network whose answers the test queues. */
class FakeBrowser {
  now = t0;
  storage: KeyValueStore;
  requests: SentBody[] = [];
  beacons: SentBody[] = [];
  /** Answers to the next requests, in order; then `ok`. An Error is a network failure. */
  answers: (SendOutcome | Error)[] = [];
  /** While set, requests wait for it. */
  hold: Promise<void> | null = null;
  beaconAccepts = true;
  private ids = 0;

  constructor(storage: KeyValueStore = memoryStore()) {
    this.storage = storage;
  }

  env(): TrackerEnv {
    return {
      now: () => this.now,
      newId: () => `id-${++this.ids}`,
      random: () => 0.5,
      storage: this.storage,
      send: async (body) => {
        this.requests.push(JSON.parse(body));
        if (this.hold) await this.hold;
        const answer = this.answers.shift() ?? 'ok';
        if (answer instanceof Error) throw answer;
        return answer;
      },
      beacon: (body) => {
        this.beacons.push(JSON.parse(body));
        return this.beaconAccepts;
      },
      context: () => ({ page: { path: '/cart' }, locale: 'de-DE', timezone: 'Europe/Berlin' }),
    };
  }

  tracker(options: { flushAt?: number; flushIntervalMs?: number; maxQueued?: number } = {}): Tracker {
    return new Tracker(this.env(), { writeKey: 'wk-test', queue: { flushAt: 3, ...options } });
  }

  /** Event names of each request, in order. */
  sent(): string[][] {
    return this.requests.map((r) => r.batch.map(nameOf));
  }

  stored(): string[] {
    return (readJson<WireEvent[]>(this.storage, storageKeys.queue) ?? []).map(nameOf);
  }
}

const nameOf = (e: WireEvent): string => e.event ?? e.type;

describe('batching', () => {
  test('a full batch goes at once; fewer wait for the interval; the body is a Segment batch with the write key', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    tracker.track('a', { n: 1 });
    tracker.track('b');
    assert.equal(tracker.wakeAt(), t0 + 1_000, 'the oldest waits 1 s');
    await tracker.run();
    assert.equal(b.requests.length, 0);
    tracker.track('c');
    assert.ok(tracker.wakeAt()! <= b.now, 'a full batch is due now');
    tracker.track('d');
    await tracker.run();
    assert.deepEqual(b.sent(), [['a', 'b', 'c']]);
    b.now += 999;
    await tracker.run();
    assert.equal(b.requests.length, 1);
    b.now += 1;
    await tracker.run();
    assert.deepEqual(b.sent(), [['a', 'b', 'c'], ['d']]);
    assert.equal(tracker.wakeAt(), null);

    const [first] = b.requests;
    assert.equal(first!.writeKey, 'wk-test');
    assert.equal(first!.sentAt, new Date(t0).toISOString());
    assert.deepEqual(first!.batch[0], {
      type: 'track',
      event: 'a',
      properties: { n: 1 },
      messageId: 'id-3',
      timestamp: new Date(t0).toISOString(),
      anonymousId: 'id-1',
      context: { page: { path: '/cart' }, locale: 'de-DE', timezone: 'Europe/Berlin', library: { name: 'nudge.js', version: '0.1.0' }, sessionId: 'id-2' },
    });
    assert.deepEqual(b.stored(), [], 'nothing is kept once acknowledged');
  });

  test('one batch in flight at a time: what comes meanwhile goes next, in order; flush sends everything', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    let release!: () => void;
    b.hold = new Promise((resolve) => (release = resolve));
    for (const name of ['a', 'b', 'c']) tracker.track(name);
    const first = tracker.run();
    await new Promise((resolve) => setImmediate(resolve));
    for (const name of ['d', 'e', 'f', 'g']) tracker.track(name);
    assert.equal(tracker.wakeAt(), null, 'nothing more goes while a batch is in flight');
    assert.deepEqual(b.stored(), ['a', 'b', 'c', 'd', 'e', 'f', 'g'], 'the batch in flight is kept until acknowledged');
    b.hold = null;
    release();
    await first;
    await tracker.run(true);
    assert.deepEqual(b.sent(), [['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
  });
});

describe('retries', () => {
  test('network errors and 5xx back off exponentially with jitter, resend the same events with a new sentAt, and reset on success', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    b.answers = [new Error('offline'), 'retry', 'retry', 'ok'];
    for (const name of ['a', 'b', 'c']) tracker.track(name);
    await tracker.run();
    // random 0.5: half the delay fixed, a quarter of it added: 750 ms, 1.5 s, 3 s …
    assert.equal(tracker.wakeAt(), t0 + 750);
    b.now = t0 + 749;
    await tracker.run();
    assert.equal(b.requests.length, 1, 'not before the retry time');
    b.now = t0 + 750;
    await tracker.run();
    assert.equal(tracker.wakeAt(), t0 + 750 + 1_500);
    b.now = tracker.wakeAt()!;
    await tracker.run();
    assert.equal(tracker.wakeAt(), b.now + 3_000);
    b.now = tracker.wakeAt()!;
    tracker.track('d');
    await tracker.run();
    assert.deepEqual(b.sent(), [['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
    assert.deepEqual(new Set(b.requests.map((r) => r.batch.map((e) => e.messageId).join())).size, 1, 'a retry repeats the message ids: the server stores them once');
    assert.deepEqual(b.requests.map((r) => Date.parse(r.sentAt) - t0), [0, 750, 2_250, 5_250], 'each attempt says when it was sent');
    assert.equal(tracker.wakeAt(), b.now + 1_000, 'after a success, batching as usual');
  });

  test('a refused batch (400, 401, 413, 422) is dropped, not retried; the next goes', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    b.answers = ['drop'];
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) tracker.track(name);
    await tracker.run();
    assert.deepEqual(b.sent(), [['a', 'b', 'c'], ['d', 'e', 'f']]);
    assert.deepEqual(b.stored(), []);
  });

  test('back online, the retry goes at once', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    b.answers = [new Error('offline'), new Error('offline')];
    for (const name of ['a', 'b', 'c']) tracker.track(name);
    await tracker.run();
    b.now += 10;
    await tracker.run();
    assert.equal(b.requests.length, 1);
    await tracker.online();
    assert.equal(b.requests.length, 2);
  });

  test('HTTP statuses and delays', () => {
    assert.deepEqual([200, 204, 408, 429, 500, 503, 0, 400, 401, 404, 413, 422].map(outcomeOfStatus), ['ok', 'ok', 'retry', 'retry', 'retry', 'retry', 'retry', 'drop', 'drop', 'drop', 'drop', 'drop']);
    const options = { baseRetryMs: 1_000, maxRetryMs: 60_000 };
    assert.deepEqual([1, 2, 3, 7, 8, 20].map((n) => retryDelayMs(n, 0, options)), [500, 1_000, 2_000, 30_000, 30_000, 30_000]);
    assert.deepEqual([1, 7, 20].map((n) => retryDelayMs(n, 0.999999, options)), [1_000, 60_000, 60_000]);
  });
});

describe('the queue outlives the page', () => {
  test('events unsent when the page goes are sent by the next page, first and with their ids', async () => {
    const storage = memoryStore();
    const page1 = new FakeBrowser(storage);
    const tracker1 = page1.tracker();
    page1.answers = [new Error('offline')];
    for (const name of ['a', 'b', 'c', 'd']) tracker1.track(name);
    await tracker1.run();
    assert.deepEqual(page1.stored(), ['a', 'b', 'c', 'd']);
    const ids = readJson<WireEvent[]>(storage, storageKeys.queue)!.map((e) => e.messageId);

    const page2 = new FakeBrowser(storage);
    page2.now = t0 + 5 * minute;
    const tracker2 = page2.tracker();
    assert.equal(tracker2.anonymousId, tracker1.anonymousId, 'the same visitor');
    assert.equal(tracker2.wakeAt(), 0, 'adopted events are due at once');
    tracker2.track('e');
    await tracker2.run();
    await tracker2.run(true);
    assert.deepEqual(page2.sent(), [['a', 'b', 'c'], ['d', 'e']]);
    assert.deepEqual(page2.requests.flatMap((r) => r.batch.map((e) => e.messageId)).slice(0, 4), ids);
    assert.deepEqual(page2.stored(), []);
  });

  test("two tabs share the store: each write keeps the other tab's events", async () => {
    const storage = memoryStore();
    const tabA = new FakeBrowser(storage);
    const tabB = new FakeBrowser(storage);
    const a = tabA.tracker();
    const b = tabB.tracker();
    tabA.answers = [new Error('offline')];
    a.track('a1');
    b.track('b1');
    a.track('a2');
    assert.deepEqual(tabA.stored(), ['b1', 'a1', 'a2'], "the other tab's events first, then the writer's");
    await a.run(true);
    assert.deepEqual(tabA.stored(), ['b1', 'a1', 'a2'], 'a failed batch stays');
    await a.online();
    assert.deepEqual(tabA.stored(), ['b1'], "A's acknowledged events leave, B's stay");
    await b.run(true);
    assert.deepEqual(tabA.stored(), []);
  });

  test('at most maxQueued events are kept: the oldest go', () => {
    const b = new FakeBrowser();
    const tracker = b.tracker({ flushAt: 100, maxQueued: 3 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) tracker.track(name);
    assert.deepEqual(b.stored(), ['c', 'd', 'e']);
  });

  test('the user id is kept for the next page; reset forgets it and starts a new visitor', () => {
    const storage = memoryStore();
    const b = new FakeBrowser(storage);
    const first = b.tracker();
    first.identify('ada', { plan: 'pro' });
    assert.equal(new FakeBrowser(storage).tracker().userId, 'ada');
    const before = first.anonymousId;
    first.reset();
    assert.notEqual(first.anonymousId, before);
    assert.equal(first.userId, null);
    const next = new FakeBrowser(storage).tracker();
    assert.deepEqual([next.userId, next.anonymousId], [null, first.anonymousId]);
    const identify = readJson<WireEvent[]>(storage, storageKeys.queue)!.find((e) => e.type === 'identify')!;
    assert.deepEqual([identify.userId, identify.anonymousId, identify.traits], ['ada', before, { plan: 'pro' }]);
  });
});

describe('the beacon when the page hides', () => {
  test('every pending event goes by beacon, in chunks; accepted ones are forgotten', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker({ flushAt: 2 });
    for (const name of ['a', 'b', 'c']) tracker.track(name);
    await tracker.run();
    assert.deepEqual(b.sent(), [['a', 'b']]);
    tracker.track('d');
    b.now += 500;
    tracker.hide();
    assert.deepEqual(b.beacons.map((body) => body.batch.map(nameOf)), [['c', 'd']]);
    assert.equal(b.beacons[0]!.writeKey, 'wk-test', 'a beacon cannot send headers: the key is in the body');
    assert.equal(b.beacons[0]!.sentAt, new Date(t0 + 500).toISOString());
    assert.deepEqual(b.stored(), []);
    assert.equal(tracker.wakeAt(), null);
  });

  test('what the browser refuses stays queued and stored, and goes by the next request', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    b.beaconAccepts = false;
    tracker.track('a');
    tracker.hide();
    assert.deepEqual(b.stored(), ['a']);
    assert.equal(tracker.wakeAt(), 0);
    await tracker.run();
    assert.deepEqual(b.sent(), [['a']]);
    assert.deepEqual(b.stored(), []);
  });

  test('the batch in flight is not beaconed; it stays stored until its request ends', async () => {
    const b = new FakeBrowser();
    const tracker = b.tracker();
    let release!: () => void;
    b.hold = new Promise((resolve) => (release = resolve));
    for (const name of ['a', 'b', 'c', 'd']) tracker.track(name);
    const sending = tracker.run();
    await new Promise((resolve) => setImmediate(resolve));
    tracker.hide();
    assert.deepEqual(b.beacons.map((body) => body.batch.map(nameOf)), [['d']]);
    assert.deepEqual(b.stored(), ['a', 'b', 'c']);
    release();
    await sending;
    assert.deepEqual(b.stored(), []);
  });

  test('chunks: at most flushAt events and maxChars characters each; an oversized event goes alone', () => {
    const events = ['x'.repeat(10), 'y'.repeat(10), 'z'.repeat(30), 'w'];
    assert.deepEqual(beaconChunks(events, 2, 1_000), [[events[0], events[1]], [events[2], events[3]]]);
    assert.deepEqual(beaconChunks(events, 10, 30), [[events[0], events[1]], [events[2]], [events[3]]]);
    assert.deepEqual(beaconChunks([], 10), []);
  });

  test('the queue drains and takes back', () => {
    const queue = new EventQueue({ flushAt: 10, flushIntervalMs: 1_000, maxQueued: 100, baseRetryMs: 1_000, maxRetryMs: 60_000 });
    queue.add({ messageId: 'a' }, t0);
    const drained = queue.drain();
    assert.equal(queue.wakeAt(), null);
    queue.putBack(drained);
    assert.deepEqual(queue.take(t0), [{ messageId: 'a' }], 'put back, due at once');
  });
});

describe('sessions', () => {
  test('the same session while events keep coming; a new id after 30 minutes of quiet', () => {
    const b = new FakeBrowser();
    const tracker = b.tracker({ flushAt: 100 });
    const sessions: (string | null)[] = [];
    for (const gapMinutes of [0, 29, 29, 30, 31, 1]) {
      b.now += gapMinutes * minute;
      tracker.track('x');
      sessions.push(tracker.sessionId());
    }
    const [s1, s2] = [sessions[0], sessions[4]];
    assert.deepEqual(sessions, [s1, s1, s1, s1, s2, s2]);
    assert.notEqual(s1, s2);
    const stored = readJson<WireEvent[]>(b.storage, storageKeys.queue)!;
    assert.deepEqual(stored.map((e) => e.context['sessionId']), sessions, 'each event carries its session');
  });

  test('tabs share the session; reset starts a new one; a clock that goes back keeps it', () => {
    const storage = memoryStore();
    const a = new FakeBrowser(storage);
    const b = new FakeBrowser(storage);
    const ta = a.tracker();
    const tb = b.tracker();
    ta.track('x');
    b.now = t0 + 20 * minute;
    tb.track('y');
    a.now = t0 + 45 * minute;
    ta.track('z');
    assert.equal(ta.sessionId(), tb.sessionId(), "B's event kept the shared session alive");
    const before = ta.sessionId();
    ta.reset();
    ta.track('after reset');
    assert.notEqual(ta.sessionId(), before);

    const newId = () => 'new';
    const s = { id: 'kept', startedAt: t0, lastEventAt: t0 + 10 * minute };
    assert.deepEqual(touchSession(s, t0 + 5 * minute, 30 * minute, newId), s);
    assert.equal(touchSession(s, t0 + 41 * minute, 30 * minute, newId).id, 'new');
    assert.equal(touchSession(null, t0, 30 * minute, newId).id, 'new');
  });
});
