/**
 * The behavioural cues of one page view, captured without code: a state machine fed abstract
 * inputs with their times (visibility, scroll position, the pointer leaving, marked clicks, form
 * input and submits, checkout steps present, the clock, the page going away) that answers with
 * the events to track. Pure: the DOM layer (dom/page-watch.ts) turns browser events into inputs.
 *
 * Events (each with `page_type` when the page has one, and `path`):
 * - `scroll_depth` {percent}: 25, 50, 75, 100, each once (scroll-depth.ts).
 * - `exit_intent` {dwell_ms}: once (exit-intent.ts).
 * - `element_clicked` {element}: a click on an element marked `data-nudge-click="<element>"`.
 * - `form_started`, `form_submitted`, `form_abandoned` (forms.ts); hiding the page abandons the
 *   forms started on it.
 * - `checkout_step_viewed` {step}: each step marked `data-nudge-checkout-step` once.
 * - `page_left` {dwell_ms, max_scroll}: when the page goes away (or the next page of a single-page
 *   app begins), with the time it was visible (visible-time.ts); a profile takes it as the visit's
 *   dwell (`pageLeaveEvents`).
 * After `leave`, every input answers nothing.
 */
import { defaultExitIntentOptions, ExitIntent, type ExitIntentOptions } from './exit-intent.js';
import { defaultFormIdleMs, FormTracker } from './forms.js';
import { ScrollDepth } from './scroll-depth.js';
import { VisibleTime } from './visible-time.js';

export interface Cue {
  event: string;
  properties: Record<string, unknown>;
}

export const CueEvent = {
  scrollDepth: 'scroll_depth',
  exitIntent: 'exit_intent',
  elementClicked: 'element_clicked',
  formStarted: 'form_started',
  formSubmitted: 'form_submitted',
  formAbandoned: 'form_abandoned',
  checkoutStep: 'checkout_step_viewed',
  pageLeft: 'page_left',
} as const;

/** Which cues are captured; each can be switched off. */
export interface CueSwitches {
  /** `page_left` with the visible dwell time. */
  dwell: boolean;
  scroll: boolean;
  exitIntent: false | ExitIntentOptions;
  clicks: boolean;
  forms: false | { idleMs: number };
  checkout: boolean;
}

export const defaultCueSwitches: CueSwitches = {
  dwell: true,
  scroll: true,
  exitIntent: defaultExitIntentOptions,
  clicks: true,
  forms: { idleMs: defaultFormIdleMs },
  checkout: true,
};

export interface PageView {
  /** From `data-nudge-page-type` (see page.ts); null when the page has none. */
  type: string | null;
  path: string;
}

export class PageCues {
  private readonly visible: VisibleTime;
  private readonly scroll = new ScrollDepth();
  private readonly exit: ExitIntent | null;
  private readonly forms: FormTracker | null;
  private readonly steps = new Set<string>();
  private ended = false;

  constructor(
    readonly page: PageView,
    at: number,
    isVisible: boolean,
    private readonly switches: CueSwitches = defaultCueSwitches,
  ) {
    this.visible = new VisibleTime(at, isVisible);
    this.exit = switches.exitIntent ? new ExitIntent(at, switches.exitIntent) : null;
    this.forms = switches.forms ? new FormTracker(switches.forms.idleMs) : null;
  }

  visibility(isVisible: boolean, at: number): Cue[] {
    if (this.ended) return [];
    if (isVisible) {
      this.visible.show(at);
      return [];
    }
    this.visible.hide(at);
    return this.cues(this.forms?.leave(at, 'hidden'));
  }

  /** The percent seen (scroll-depth.ts `scrollPercent`). */
  scrolled(percent: number): Cue[] {
    if (this.ended || !this.switches.scroll) return [];
    return this.cues(this.scroll.reached(percent).map((p) => ({ event: CueEvent.scrollDepth, properties: { percent: p } })));
  }

  pointerLeft(y: number, at: number): Cue[] {
    if (this.ended || !this.exit?.pointerLeft(y, at)) return [];
    return this.cues([{ event: CueEvent.exitIntent, properties: { dwell_ms: this.visible.totalMs(at) } }]);
  }

  clicked(element: string): Cue[] {
    if (this.ended || !this.switches.clicks || element === '') return [];
    return this.cues([{ event: CueEvent.elementClicked, properties: { element } }]);
  }

  formInput(form: string, field: string, at: number): Cue[] {
    return this.ended ? [] : this.cues(this.forms?.input(form, field, at));
  }

  formSubmitted(form: string, at: number): Cue[] {
    return this.ended ? [] : this.cues(this.forms?.submit(form, at));
  }

  /** The checkout steps marked on the page now; each is reported the first time it is seen. */
  checkoutSteps(steps: readonly string[]): Cue[] {
    if (this.ended || !this.switches.checkout) return [];
    const fresh = [...new Set(steps)].filter((s) => s !== '' && !this.steps.has(s));
    for (const s of fresh) this.steps.add(s);
    return this.cues(fresh.map((step) => ({ event: CueEvent.checkoutStep, properties: { step } })));
  }

  /** The clock: forms that went quiet. */
  tick(at: number): Cue[] {
    return this.ended ? [] : this.cues(this.forms?.idle(at));
  }

  /** When `tick` next has something to say; null when nothing waits for a time. */
  wakeAt(): number | null {
    return this.ended ? null : (this.forms?.wakeAt() ?? null);
  }

  /** The page goes away: its forms are abandoned, then `page_left`. */
  leave(at: number): Cue[] {
    if (this.ended) return [];
    const cues = this.cues(this.forms?.leave(at, 'left'));
    if (this.switches.dwell) cues.push(...this.cues([{ event: CueEvent.pageLeft, properties: { dwell_ms: this.visible.totalMs(at), max_scroll: this.scroll.maxPercent } }]));
    this.ended = true;
    return cues;
  }

  private cues(raw: readonly Cue[] | undefined): Cue[] {
    const where = { ...(this.page.type === null ? {} : { page_type: this.page.type }), path: this.page.path };
    return (raw ?? []).map((c) => ({ event: c.event, properties: { ...c.properties, ...where } }));
  }
}
