/** The API shows a profile's behavioral phase as of now: inactivity moves it on with no event. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);

test('GET /users/{id} gives the phase as of now, and since when', async () => {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    'phases:\n  - name: disengaged\n    when: now - user.computed.lastSeenAt >= duration("30m")\n  - name: considering\n    when: user.computed.session.pages.Product >= 2\n  - name: exploring\n',
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    for (const m of [0, 1]) {
      const at = new Date(t0 + m * 60_000).toISOString();
      assert.equal((await send(n.url, '/v1/page', { userId: 'ada', name: 'Product', properties: { path: `/p/${m}` }, timestamp: at })).status, 200);
    }
    const phaseAt = async (ms: number) => {
      time.clock.set(ms);
      const c = (await n.api('/users/ada')).body.computed;
      return [c.phase, c.phaseSince, c.session.pages];
    };
    assert.deepEqual(await phaseAt(t0 + 60_000), ['considering', new Date(t0 + 60_000).toISOString(), { Product: 2 }]);
    assert.deepEqual((await phaseAt(t0 + 31 * 60_000 - 1)).slice(0, 1), ['considering']);
    assert.deepEqual((await phaseAt(t0 + 31 * 60_000)).slice(0, 2), ['disengaged', new Date(t0 + 31 * 60_000).toISOString()], 'exactly 30 minutes after the last event');
  } finally {
    await n.stop();
  }
});
