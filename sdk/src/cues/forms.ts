/**
 * Form started, submitted and abandoned, per form of a page. Pure: fed which form had input (by
 * the form's id and the field's name: never a value), was submitted, or the page hid or went away.
 *
 * Per form:
 *   (none) ──input──▶ started            emits form_started
 *   started ──input──▶ started           (remembers the field and the time)
 *   started ──submit──▶ submitted        emits form_submitted
 *   started ──no input for idleMs, or the page hidden or left──▶ abandoned   emits form_abandoned
 *   abandoned ──input──▶ abandoned       (a form is abandoned at most once per page)
 *   abandoned ──submit──▶ submitted      emits form_submitted
 *   submitted ──input──▶ started         emits form_started (filling it again)
 *   (none) ──submit──▶ submitted         emits form_submitted (e.g. filled by the browser)
 */

export interface FormCue {
  event: 'form_started' | 'form_submitted' | 'form_abandoned';
  properties: Record<string, unknown>;
}

export type AbandonReason = 'idle' | 'hidden' | 'left';

interface FormState {
  phase: 'started' | 'submitted' | 'abandoned';
  startedAt: number;
  lastInputAt: number;
  lastField: string;
  fields: Set<string>;
  abandonedOnce: boolean;
}

/** Quiet time after which a started form counts as abandoned. */
export const defaultFormIdleMs = 60_000;

export class FormTracker {
  private readonly forms = new Map<string, FormState>();

  constructor(private readonly idleMs = defaultFormIdleMs) {}

  input(form: string, field: string, at: number): FormCue[] {
    const state = this.forms.get(form);
    if (state && state.phase !== 'submitted') {
      state.lastInputAt = Math.max(state.lastInputAt, at);
      state.lastField = field;
      state.fields.add(field);
      return [];
    }
    this.forms.set(form, { phase: 'started', startedAt: at, lastInputAt: at, lastField: field, fields: new Set([field]), abandonedOnce: state?.abandonedOnce ?? false });
    return [{ event: 'form_started', properties: { form, field } }];
  }

  submit(form: string, at: number): FormCue[] {
    const state = this.forms.get(form);
    if (state?.phase === 'submitted') return [];
    if (state) state.phase = 'submitted';
    else this.forms.set(form, { phase: 'submitted', startedAt: at, lastInputAt: at, lastField: '', fields: new Set(), abandonedOnce: false });
    return [{ event: 'form_submitted', properties: { form, fields_filled: state?.fields.size ?? 0, duration_ms: state ? Math.max(0, at - state.startedAt) : 0 } }];
  }

  /** Forms started and quiet for `idleMs` by `at`. */
  idle(at: number): FormCue[] {
    return this.abandon(at, 'idle', (s) => at - s.lastInputAt >= this.idleMs);
  }

  /** The page was hidden or left: every started form is abandoned. */
  leave(at: number, reason: Exclude<AbandonReason, 'idle'>): FormCue[] {
    return this.abandon(at, reason, () => true);
  }

  /** When the next form turns idle; null when none is started. */
  wakeAt(): number | null {
    let next: number | null = null;
    for (const s of this.forms.values()) {
      if (s.phase === 'started' && !s.abandonedOnce) next = Math.min(next ?? Infinity, s.lastInputAt + this.idleMs);
    }
    return next;
  }

  private abandon(at: number, reason: AbandonReason, applies: (s: FormState) => boolean): FormCue[] {
    const cues: FormCue[] = [];
    for (const [form, s] of this.forms) {
      if (s.phase !== 'started' || !applies(s)) continue;
      s.phase = 'abandoned';
      if (s.abandonedOnce) continue;
      s.abandonedOnce = true;
      cues.push({
        event: 'form_abandoned',
        properties: { form, reason, fields_filled: s.fields.size, last_field: s.lastField, duration_ms: Math.max(0, at - s.startedAt) },
      });
    }
    return cues;
  }
}
