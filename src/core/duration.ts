/** Durations written as `500ms`, `30s`, `15m`, `24h`, `7d` (or a bare number of milliseconds). */

const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const pattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** Returns milliseconds, or an error message naming what a valid duration looks like. */
export function parseDuration(input: unknown): { ok: true; ms: number } | { ok: false; message: string } {
  if (typeof input === 'number' && Number.isFinite(input) && input >= 0) return { ok: true, ms: input };
  if (typeof input === 'string') {
    const match = pattern.exec(input.trim());
    if (match) return { ok: true, ms: Math.round(Number(match[1]) * unitMs[match[2] as keyof typeof unitMs]) };
  }
  return { ok: false, message: `expected a duration such as "30s", "15m", "24h" or "7d", got ${JSON.stringify(input)}` };
}

export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms >= unitMs[unit] && ms % unitMs[unit] === 0) return `${ms / unitMs[unit]}${unit}`;
  }
  return `${ms}ms`;
}
