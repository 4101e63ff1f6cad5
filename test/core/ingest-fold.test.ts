/**
 * Identity resolution and merging in `foldEvents`, as scenario tables: each step is one batch
 * folded against what the previous steps committed, then checked. A property test shows that
 * group commit cannot change the outcome: one batch or any split of it ends in the same state,
 * with behavioral phases (and the changes recorded on events) as without.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryStore } from '../../src/backends/memory/memory-store.js';
import type { NudgeEvent, StoredEvent } from '../../src/core/event.js';
import type { ChangeSet } from '../../src/core/ingest-fold.js';
import { compilePhases } from '../../src/core/phases.js';
import { defaultProfileOptions, type Profile, type ProfileOptions } from '../../src/core/profile.js';
import type { Store } from '../../src/ports/store.js';
import { assertSubset } from '../support/assert-subset.js';
import { event, ingest, minute, t0, type EventSpec } from '../support/events.js';

interface Step {
  batch: EventSpec[];
  /** The profile each event of the batch was attributed to. */
  attributedTo?: string[];
  merges?: [from: string, to: string][];
  resolves?: Record<string, string>;
  profiles?: Record<string, unknown>;
  /** Profile ids that must not exist after the step. */
  gone?: string[];
}

async function snapshot(store: Store): Promise<{ profiles: Profile[]; events: StoredEvent[] }> {
  const profiles: Profile[] = [];
  const events: StoredEvent[] = [];
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page = await store.profiles.search('w1', { limit: 1000, cursor });
    profiles.push(...page.items);
    cursor = page.nextCursor;
  }
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page = await store.events.query('w1', { limit: 1000, cursor });
    events.push(...page.items);
    cursor = page.nextCursor;
  }
  profiles.sort((a, b) => (a.profileId < b.profileId ? -1 : 1));
  return { profiles, events };
}

function batchesOf(steps: readonly Step[]): NudgeEvent[][] {
  return steps.map((step, i) => step.batch.map((spec, j) => event({ messageId: `s${i}e${j}`, ...spec })));
}

async function runSteps(steps: readonly Step[]): Promise<Store> {
  const store = new MemoryStore();
  for (const [i, events] of batchesOf(steps).entries()) {
    const step = steps[i]!;
    const changes: ChangeSet = await ingest(store, events);
    const where = `step ${i}`;
    if (step.attributedTo) assert.deepEqual(changes.events.map((e) => e.profileId), step.attributedTo, `${where}: attribution`);
    assert.deepEqual(changes.merges.map((m) => [m.from, m.to]), step.merges ?? [], `${where}: merges`);
    if (step.resolves) {
      const found = await store.profiles.resolveIdentities('w1', Object.keys(step.resolves));
      assert.deepEqual(Object.fromEntries(found), step.resolves, `${where}: identities`);
    }
    const ids = [...Object.keys(step.profiles ?? {}), ...(step.gone ?? [])];
    const stored = await store.profiles.getProfiles('w1', ids);
    for (const [id, expected] of Object.entries(step.profiles ?? {})) assertSubset(stored.get(id), expected, `${where}: profile ${id}`);
    for (const id of step.gone ?? []) assert.equal(stored.has(id), false, `${where}: profile ${id} should not exist`);
  }
  return store;
}

const scenarios: Record<string, Step[]> = {
  'an anonymous visitor who identifies keeps the profile id; the user id is linked to it': [
    { batch: [{ anonymousId: 'dev1', at: 0 }, { anonymousId: 'dev1', type: 'page', at: 1 }], attributedTo: ['a:dev1', 'a:dev1'], profiles: { 'a:dev1': { userId: null, anonymousIds: ['dev1'] } } },
    {
      batch: [{ type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 2, traits: { email: 'ann@example.com' } }, { userId: 'ann', at: 3 }],
      attributedTo: ['a:dev1', 'a:dev1'],
      resolves: { 'a:dev1': 'a:dev1', 'u:ann': 'a:dev1' },
      profiles: { 'a:dev1': { userId: 'ann', traits: { email: 'ann@example.com' }, computed: { eventCount: 4 } } },
      gone: ['u:ann'],
    },
  ],
  'anonymous history is merged into the known user when both profiles exist': [
    { batch: [{ userId: 'ann', anonymousId: 'dev1', at: 0 }], attributedTo: ['u:ann'] },
    { batch: [{ anonymousId: 'dev2', at: 1 }, { anonymousId: 'dev2', name: 'bought', at: 2, properties: { revenue: 10 } }], attributedTo: ['a:dev2', 'a:dev2'] },
    {
      batch: [{ type: 'identify', userId: 'ann', anonymousId: 'dev2', at: 3 }, { anonymousId: 'dev2', at: 4 }],
      attributedTo: ['u:ann', 'u:ann'],
      merges: [['a:dev2', 'u:ann']],
      resolves: { 'a:dev1': 'u:ann', 'a:dev2': 'u:ann', 'u:ann': 'u:ann' },
      profiles: { 'u:ann': { userId: 'ann', anonymousIds: ['dev1', 'dev2'], computed: { eventCount: 5, firstSeenAt: t0, totals: { revenue: 10 } } } },
      gone: ['a:dev2'],
    },
  ],
  'both profiles created and merged inside one batch': [
    {
      batch: [{ anonymousId: 'dev2', at: 0 }, { userId: 'ann', at: 1 }, { userId: 'ann', anonymousId: 'dev2', at: 2 }, { anonymousId: 'dev2', at: 3 }],
      attributedTo: ['u:ann', 'u:ann', 'u:ann', 'u:ann'],
      merges: [['a:dev2', 'u:ann']],
      resolves: { 'a:dev2': 'u:ann', 'u:ann': 'u:ann' },
      profiles: { 'u:ann': { computed: { eventCount: 4 } } },
      gone: ['a:dev2'],
    },
  ],
  'an alias merges two identified users into the new id': [
    { batch: [{ userId: 'old-id', at: 0, properties: { revenue: 5 }, name: 'bought' }, { userId: 'new-id', at: 1 }] },
    {
      batch: [{ type: 'alias', userId: 'new-id', previousId: 'old-id', at: 2 }],
      attributedTo: ['u:new-id'],
      merges: [['u:old-id', 'u:new-id']],
      resolves: { 'u:old-id': 'u:new-id', 'u:new-id': 'u:new-id' },
      profiles: { 'u:new-id': { userId: 'new-id', computed: { eventCount: 3, totals: { revenue: 5 } } } },
      gone: ['u:old-id'],
    },
  ],
  'an alias of an anonymous id nobody has seen links it to the user': [
    { batch: [{ type: 'alias', userId: 'ann', previousId: 'dev7', at: 0 }, { anonymousId: 'dev7', at: 1 }], attributedTo: ['u:ann', 'u:ann'], resolves: { 'u:ann': 'u:ann', 'a:dev7': 'u:ann' } },
  ],
  'a second user on the same device gets a profile of their own': [
    { batch: [{ type: 'identify', userId: 'ann', anonymousId: 'shared', at: 0 }], attributedTo: ['u:ann'] },
    {
      batch: [{ type: 'identify', userId: 'bob', anonymousId: 'shared', at: 1 }, { userId: 'bob', anonymousId: 'shared', at: 2 }, { anonymousId: 'shared', at: 3 }],
      attributedTo: ['u:bob', 'u:bob', 'u:ann'],
      resolves: { 'a:shared': 'u:ann', 'u:ann': 'u:ann', 'u:bob': 'u:bob' },
      profiles: { 'u:ann': { userId: 'ann', anonymousIds: ['shared'], computed: { eventCount: 2 } }, 'u:bob': { userId: 'bob', anonymousIds: ['shared'], computed: { eventCount: 2 } } },
    },
  ],
  'traits merge without reaching any prototype': [
    {
      batch: [{ type: 'identify', userId: 'ann', traits: JSON.parse('{"__proto__": {"admin": true}, "constructor": 1, "name": "Ann"}') }],
      profiles: { 'u:ann': { traits: { name: 'Ann' } } },
    },
  ],
};

describe('ingest fold: identity scenarios', () => {
  for (const [name, steps] of Object.entries(scenarios)) {
    test(name, async () => {
      const stepwise = await runSteps(steps);
      // The same events committed as one group end in the same state.
      const grouped = new MemoryStore();
      await ingest(grouped, batchesOf(steps).flat());
      const st = await snapshot(stepwise);
      assert.deepEqual(await snapshot(grouped), st);
      assert.equal(st.profiles.reduce((n, p) => n + p.computed.eventCount, 0), st.events.length);
      assert.equal(({} as Record<string, unknown>)['admin'], undefined);
    });
  }
});

// ---- property: group commit does not change the result ----

const users = ['ann', 'bob', 'cid'];
const devices = ['d1', 'd2', 'd3', 'd4'];

const eventArb = fc
  .record({
    kind: fc.constantFrom('track', 'identify', 'page', 'alias', 'leave'),
    userId: fc.option(fc.constantFrom(...users), { nil: null }),
    anonymousId: fc.option(fc.constantFrom(...devices), { nil: null }),
    previousId: fc.constantFrom(...users, ...devices),
    minute: fc.integer({ min: 0, max: 180 }),
    revenue: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
    sessionId: fc.option(fc.constantFrom('s1', 's2'), { nil: undefined }),
    email: fc.option(fc.constantFrom('a@x.io', 'b@x.io'), { nil: undefined }),
    page: fc.constantFrom('Home', 'Product'),
    /** A sender's own `context.phaseChanges`, which the fold owns once phases are configured. */
    forged: fc.boolean(),
  })
  .filter((e) => (e.kind === 'alias' ? e.userId !== null : e.userId !== null || e.anonymousId !== null));

type EventDraw = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function toEvents(specs: EventDraw[]): NudgeEvent[] {
  return specs.map((s, i) =>
    event({
      messageId: `p${i}`,
      type: s.kind === 'leave' ? 'track' : s.kind,
      name: s.kind === 'track' ? 'bought' : s.kind === 'leave' ? 'page_left' : s.kind === 'page' ? s.page : '',
      userId: s.userId,
      anonymousId: s.anonymousId,
      previousId: s.kind === 'alias' ? s.previousId : null,
      timestamp: t0 + s.minute * minute,
      receivedAt: t0 + i,
      properties: s.revenue === undefined ? {} : { revenue: s.revenue },
      traits: s.email === undefined ? {} : { email: s.email },
      context: { ...(s.sessionId === undefined ? {} : { sessionId: s.sessionId }), ...(s.forged ? { phaseChanges: 'forged' } : {}) },
    }),
  );
}

async function foldInBatches(events: NudgeEvent[], cuts: number[], options: ProfileOptions): Promise<MemoryStore> {
  const store = new MemoryStore();
  const bounds = [...new Set([0, ...cuts.map((c) => c % (events.length + 1)), events.length])].sort((a, b) => a - b);
  for (let i = 1; i < bounds.length; i++) {
    const batch = events.slice(bounds[i - 1], bounds[i]);
    if (batch.length > 0) await ingest(store, batch, options);
  }
  return store;
}

/** Rules over time, sums, a latest value and pages of the session; `buying` ends by itself. */
const compiledPhases = compilePhases([
  { name: 'idle', when: 'now - user.computed.lastSeenAt >= duration("20m")' },
  { name: 'buying', when: 'user.computed.latest.spent.value > 0 && now - user.computed.latest.spent.at < duration("45m")' },
  { name: 'browsing', when: 'user.computed.session.pages.Product >= 2 || user.computed.totals.revenue > 100' },
  { name: 'new' },
]);
assert.ok(compiledPhases.ok);
const withPhases: ProfileOptions = {
  ...defaultProfileOptions,
  latest: [{ name: 'spent', event: 'bought', property: 'revenue', clearedBy: ['page_left'] }],
  phases: compiledPhases.phases,
};

describe('ingest fold: group commit', () => {
  for (const [name, options] of [['', defaultProfileOptions], [' (with phases)', withPhases]] as const) {
    test(`one batch and any split of it end in the same profiles, identities and attribution${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), async (specs, cuts) => {
          const events = toEvents(specs);
          const whole = await foldInBatches(events, [], options);
          const split = await foldInBatches(events, cuts, options);
          const a = await snapshot(whole);
          const b = await snapshot(split);
          assert.deepEqual(b, a);
          const keys = [...users.map((u) => `u:${u}`), ...devices.map((d) => `a:${d}`)];
          assert.deepEqual(await split.profiles.resolveIdentities('w1', keys), await whole.profiles.resolveIdentities('w1', keys));
          // Every event is counted exactly once, on the profile it is attributed to.
          assert.equal(a.events.length, events.length);
          assert.equal(await whole.events.count('w1'), events.length);
          assert.equal(a.profiles.reduce((n, p) => n + p.computed.eventCount, 0), events.length);
          for (const p of a.profiles) assert.equal(p.computed.eventCount, a.events.filter((e) => e.profileId === p.profileId).length, p.profileId);
          // With phases every profile has one, and the fold alone writes the changes on events.
          const forged = a.events.filter((e) => e.context['phaseChanges'] === 'forged').length;
          if (options.phases) {
            assert.equal(forged, 0);
            for (const p of a.profiles) assert.ok(p.computed.phase !== null && p.computed.phaseSince !== null, p.profileId);
          } else {
            assert.equal(forged, specs.filter((s) => s.forged).length);
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});
