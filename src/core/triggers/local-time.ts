/**
 * "Wait until 09:00 in the user's time zone": the next instant, after a given one, at which the
 * wall clock in a zone shows a time of day. Pure: Intl's zone data, no clock.
 *
 * DST: a local time that does not exist (02:30 on a spring-forward night) resolves to the same
 * distance past the gap (03:30); one that exists twice (01:30 on a fall-back night) resolves to
 * the first of the two.
 */

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatterOf(timeZone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      f = null; // not a zone Intl knows
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether the zone is one this runtime knows (an unknown zone falls back to UTC). */
export function isKnownTimeZone(timeZone: string): boolean {
  return formatterOf(timeZone) !== null;
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallClock(at: number, f: Intl.DateTimeFormat): Wall {
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(at)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts['year']!, month: parts['month']!, day: parts['day']!, hour: parts['hour']!, minute: parts['minute']!, second: parts['second']! };
}

/** The zone's offset from UTC at an instant, in ms (local = utc + offset). */
function offsetAt(at: number, f: Intl.DateTimeFormat): number {
  const w = wallClock(at, f);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (at - (((at % 1000) + 1000) % 1000));
}

/** The first instant whose local wall clock reads the given date and time (see DST note above). */
function instantOf(year: number, month: number, day: number, minutes: number, f: Intl.DateTimeFormat): number {
  const local = Date.UTC(year, month - 1, day) + minutes * 60_000;
  // The offset before and after the wanted time; they differ only across a DST change.
  const before = offsetAt(local - 86_400_000 / 2 - 14 * 3_600_000, f);
  const after = offsetAt(local + 86_400_000 / 2 + 14 * 3_600_000, f);
  const first = local - before;
  if (offsetAt(first, f) === before) return first; // exists with the earlier offset (the first of two)
  const second = local - after;
  if (offsetAt(second, f) === after) return second;
  return local - before; // in the gap: as far past it as the wanted time was into it
}

/**
 * The next instant strictly after `after` at which the local time in `timeZone` is `hhmm`
 * ("09:00"). An unknown or missing zone counts as UTC.
 */
export function nextLocalTime(after: number, hhmm: string, timeZone: string | null): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  const minutes = h * 60 + m;
  const f = (timeZone && formatterOf(timeZone)) || formatterOf('UTC')!;
  const today = wallClock(after, f);
  for (let dayOffset = 0; dayOffset <= 2; dayOffset++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + dayOffset));
    const at = instantOf(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), minutes, f);
    if (at > after) return at;
  }
  // Unreachable: a day later than today always has the time after `after`.
  return after + 86_400_000;
}
