/**
 * `nextLocalTime`: "the next 09:00 in the user's time zone", DST-correct. A table pins the 2026
 * changes in Europe/Berlin and America/New_York (and a zone whose clocks move by 30 minutes); a
 * property checks any instant, time of day and zone against an oracle that finds the instants
 * showing a wall-clock time by brute force over every possible UTC offset.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isKnownTimeZone, nextLocalTime } from '../../../src/core/triggers/local-time.js';

const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');
const utc = (text: string): number => Date.parse(text);

describe('nextLocalTime: the 2026 DST changes', () => {
  const cases: [zone: string | null, after: string, hhmm: string, expected: string, why: string][] = [
    ['Europe/Berlin', '2026-03-28T12:00:00Z', '09:00', '2026-03-29T07:00:00Z', 'the morning after spring-forward is on CEST (+2)'],
    ['Europe/Berlin', '2026-03-27T12:00:00Z', '09:00', '2026-03-28T08:00:00Z', 'the morning before it is still CET (+1)'],
    ['Europe/Berlin', '2026-03-28T12:00:00Z', '02:30', '2026-03-29T01:30:00Z', '02:30 does not exist: 03:30 CEST, as far past the gap as it was into it'],
    ['Europe/Berlin', '2026-03-28T12:00:00Z', '02:00', '2026-03-29T01:00:00Z', 'the first minute of the gap: 03:00 CEST'],
    ['Europe/Berlin', '2026-03-28T12:00:00Z', '02:59', '2026-03-29T01:59:00Z', 'the last minute of the gap: 03:59 CEST'],
    ['Europe/Berlin', '2026-03-28T12:00:00Z', '03:00', '2026-03-29T01:00:00Z', '03:00 exists (the first minute after the gap)'],
    ['Europe/Berlin', '2026-03-28T12:00:00Z', '01:59', '2026-03-29T00:59:00Z', 'the minute before the gap is still CET'],
    ['Europe/Berlin', '2026-03-29T01:10:00Z', '02:30', '2026-03-29T01:30:00Z', 'from inside the shifted hour (03:10 CEST): today\'s 02:30, i.e. 03:30, is still ahead'],
    ['Europe/Berlin', '2026-03-29T01:30:00Z', '02:30', '2026-03-30T00:30:00Z', 'strictly after: from that very instant, the next day'],
    ['Europe/Berlin', '2026-10-24T12:00:00Z', '02:30', '2026-10-25T00:30:00Z', '02:30 happens twice on fall-back night: the first, CEST'],
    ['Europe/Berlin', '2026-10-25T00:30:00Z', '02:30', '2026-10-26T01:30:00Z', 'from the first 02:30 the repeat is not taken: the next day'],
    ['Europe/Berlin', '2026-10-25T00:45:00Z', '02:30', '2026-10-26T01:30:00Z', 'between the two 02:30s: the next day'],
    ['Europe/Berlin', '2026-10-24T12:00:00Z', '02:00', '2026-10-25T00:00:00Z', '02:00 CEST, the first of two'],
    ['Europe/Berlin', '2026-10-24T12:00:00Z', '03:00', '2026-10-25T02:00:00Z', '03:00 happens once, in CET'],
    ['Europe/Berlin', '2026-10-24T12:00:00Z', '09:00', '2026-10-25T08:00:00Z', 'the morning after fall-back is on CET (+1)'],
    ['America/New_York', '2026-03-07T20:00:00Z', '09:00', '2026-03-08T13:00:00Z', 'the morning after spring-forward is on EDT (-4)'],
    ['America/New_York', '2026-03-07T20:00:00Z', '00:00', '2026-03-08T05:00:00Z', 'midnight before the change is still EST'],
    ['America/New_York', '2026-03-07T20:00:00Z', '02:30', '2026-03-08T07:30:00Z', '02:30 does not exist: 03:30 EDT'],
    ['America/New_York', '2026-03-15T00:00:00Z', '09:00', '2026-03-15T13:00:00Z', 'between the US and EU changes New York is 5 h behind Berlin'],
    ['America/New_York', '2026-10-31T18:00:00Z', '01:30', '2026-11-01T05:30:00Z', '01:30 happens twice: the first, EDT'],
    ['America/New_York', '2026-11-01T05:30:00Z', '01:30', '2026-11-02T06:30:00Z', 'from the first 01:30: the next day, in EST'],
    ['America/New_York', '2026-10-31T18:00:00Z', '09:00', '2026-11-01T14:00:00Z', 'the morning after fall-back is on EST (-5)'],
    ['America/New_York', '2026-10-28T00:00:00Z', '09:00', '2026-10-28T13:00:00Z', 'between the EU and US fall changes New York is still EDT'],
    ['Australia/Lord_Howe', '2026-10-03T12:00:00Z', '02:15', '2026-10-03T15:45:00Z', 'a 30-minute spring gap (02:00 -> 02:30): 02:15 becomes 02:45 (+11)'],
    ['Asia/Kolkata', '2026-03-28T12:00:00Z', '09:00', '2026-03-29T03:30:00Z', 'a half-hour zone without DST'],
    ['Europe/Berlin', '2026-03-30T07:00:00Z', '09:00', '2026-03-31T07:00:00Z', 'at exactly 09:00 the next is tomorrow'],
    ['Europe/Berlin', '2026-03-30T06:59:59.999Z', '09:00', '2026-03-30T07:00:00Z', 'one ms before 09:00 it is today'],
    [null, '2026-03-28T12:00:00Z', '09:00', '2026-03-29T09:00:00Z', 'no zone: UTC'],
    ['Not/A_Zone', '2026-03-28T12:00:00Z', '09:00', '2026-03-29T09:00:00Z', 'an unknown zone: UTC'],
  ];
  for (const [zone, after, hhmm, expected, why] of cases) {
    test(`${zone ?? 'no zone'} ${hhmm} after ${after}: ${why}`, () => {
      assert.equal(iso(nextLocalTime(utc(after), hhmm, zone)), expected);
    });
  }

  test('zones the runtime knows, and one it does not', () => {
    assert.equal(isKnownTimeZone('Europe/Berlin'), true);
    assert.equal(isKnownTimeZone('Not/A_Zone'), false);
  });
});

// ---- the oracle: brute force over offsets, through Intl only ----

const formats = new Map<string, Intl.DateTimeFormat>();
function wall(at: number, zone: string): { date: string; minutes: number } {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    formats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return { date: `${p['year']}-${p['month']}-${p['day']}`, minutes: Number(p['hour']) * 60 + Number(p['minute']) };
}

/** Every instant whose wall clock in `zone` reads `date` at `minutes`: offsets span -14h..+14h in 15-minute steps. */
function occurrences(date: string, minutes: number, zone: string): number[] {
  const local = Date.parse(`${date}T00:00:00Z`) + minutes * 60_000;
  const found: number[] = [];
  for (let o = -14 * 60; o <= 14 * 60; o += 15) {
    const x = local - o * 60_000;
    const w = wall(x, zone);
    if (w.date === date && w.minutes === minutes) found.push(x);
  }
  return found.sort((a, b) => a - b);
}

const dayAfter = (date: string, n: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

describe('nextLocalTime: property against a brute-force oracle', () => {
  // Zones with DST gaps away from midnight, of 1 h, 30 min, and at odd offsets, and zones without DST.
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Australia/Sydney', 'America/St_Johns', 'Pacific/Chatham', 'Asia/Kolkata', 'Asia/Kathmandu', 'UTC'];
  // Rough instants of 2026's clock changes in those zones, so the runs land near them often.
  const changes = ['2026-03-08T07:00Z', '2026-03-29T01:00Z', '2026-10-25T01:00Z', '2026-11-01T06:00Z', '2026-04-04T15:00Z', '2026-10-03T15:30Z', '2026-04-04T16:00Z', '2026-10-03T16:00Z', '2026-03-08T05:30Z', '2026-11-01T04:30Z', '2026-04-04T14:00Z', '2026-09-26T14:00Z'].map(Date.parse);
  const instant = fc.oneof(
    fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
    fc.tuple(fc.constantFrom(...changes), fc.integer({ min: -30 * 3_600_000, max: 30 * 3_600_000 })).map(([c, dt]) => c + dt),
    fc.tuple(fc.constantFrom(...changes), fc.integer({ min: -120, max: 120 })).map(([c, dm]) => c + dm * 60_000),
  );
  const timeOfDay = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })),
    fc.tuple(fc.constantFrom(0, 1, 2, 3), fc.constantFrom(0, 15, 30, 45, 59)),
  );

  test('the result is the first occurrence after the instant, or the shifted time in a gap', () => {
    fc.assert(
      fc.property(instant, timeOfDay, fc.constantFrom(...zones), (after, [hh, mm], zone) => {
        const hhmm = `${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`;
        const wanted = hh * 60 + mm;
        const r = nextLocalTime(after, hhmm, zone);
        assert.ok(r > after, 'strictly after');
        assert.ok(r - after <= 26 * 3_600_000, `within a day and a DST hour: ${iso(after)} -> ${iso(r)}`);
        const date = wall(r, zone).date;
        const here = occurrences(date, wanted, zone);
        if (here.length > 0) {
          assert.equal(iso(r), iso(here[0]!), 'the first instant that shows the time that day');
        } else {
          // In a gap: as far past the gap as the wanted time was into it.
          const shown = wall(r, zone);
          const gap = shown.minutes - wanted;
          assert.ok(gap > 0 && gap <= 60, `shows ${shown.minutes}, wanted ${wanted}`);
          assert.deepEqual(wall(r - gap * 60_000, zone), { date, minutes: wanted - gap }, 'before the jump the clock read as much before the wanted time');
        }
        // Nothing was skipped: no day between has a first occurrence in (after, r).
        const start = wall(after, zone).date;
        for (let day = dayAfter(start, -1); day <= date; day = dayAfter(day, 1)) {
          const first = occurrences(day, wanted, zone)[0];
          if (first !== undefined) assert.ok(!(first > after && first < r), `skipped ${iso(first)} on ${day}`);
        }
        // Stable: asking again from just before the answer gives the same answer.
        assert.equal(nextLocalTime(r - 1, hhmm, zone), r);
      }),
      { numRuns: 400 },
    );
  });
});
