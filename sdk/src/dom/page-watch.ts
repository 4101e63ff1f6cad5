/**
 * Turns browser events into the inputs of the page's cues (cues/page-cues.ts), each listener
 * installed only when its cue is on: visibility changes, scrolling (measured once per animation
 * frame), the pointer leaving the page (devices that hover with a fine pointer), clicks on
 * `[data-nudge-click]`, input, change and submit of forms (by the form's
 * `data-nudge-form`, id, name or position; fields by name, never their values; a form marked
 * `data-nudge-ignore` is left alone), and `[data-nudge-checkout-step]` elements as they appear.
 * The page's life goes to the hooks: hidden, left (pagehide), restored from the back/forward
 * cache, back online, and, with `history`, navigations of a single-page app.
 */
import type { Cue, CueSwitches, PageCues } from '../cues/page-cues.js';
import { scrollPercent } from '../cues/scroll-depth.js';

export type CueInput = (cues: PageCues, at: number) => Cue[];

export interface PageWatchHooks {
  /** Applies an input to the current page's cues. */
  cue(input: CueInput): void;
  hidden(): void;
  left(): void;
  restored(): void;
  online(): void;
  navigated(): void;
}

export function checkoutStepsOf(doc: Document): string[] {
  return Array.from(doc.querySelectorAll('[data-nudge-checkout-step]'), (el) => el.getAttribute('data-nudge-checkout-step') ?? '');
}

/** A form's name in events: `data-nudge-form`, else its id, else its name, else `form<position>`. */
export function formIdOf(form: HTMLFormElement, doc: Document): string {
  return form.getAttribute('data-nudge-form') || form.getAttribute('id') || form.getAttribute('name') || `form${Array.prototype.indexOf.call(doc.forms, form)}`;
}

export function watchPage(win: Window, switches: CueSwitches, history: boolean, hooks: PageWatchHooks): void {
  const doc = win.document;
  const on = (target: EventTarget, type: string, listener: (e: any) => void, capture = true) => target.addEventListener(type, listener, { capture, passive: true });

  on(doc, 'visibilitychange', () => {
    hooks.cue((c, at) => c.visibility(!doc.hidden, at));
    if (doc.hidden) hooks.hidden();
  });
  on(win, 'pagehide', () => hooks.left());
  on(win, 'pageshow', (e: PageTransitionEvent) => e.persisted && hooks.restored());
  on(win, 'online', () => hooks.online());

  if (switches.scroll) {
    let measuring = false;
    on(win, 'scroll', () => {
      if (measuring) return;
      measuring = true;
      win.requestAnimationFrame(() => {
        measuring = false;
        const percent = scrollPercent(win.scrollY, win.innerHeight, doc.documentElement.scrollHeight);
        if (percent !== null) hooks.cue((c) => c.scrolled(percent));
      });
    });
  }
  if (switches.exitIntent && win.matchMedia('(hover: hover) and (pointer: fine)').matches) {
    on(doc, 'mouseout', (e: MouseEvent) => !e.relatedTarget && hooks.cue((c, at) => c.pointerLeft(e.clientY, at)));
  }
  if (switches.clicks) {
    on(doc, 'click', (e: MouseEvent) => {
      const marked = e.target instanceof Element ? e.target.closest('[data-nudge-click]') : null;
      if (marked) hooks.cue((c) => c.clicked(marked.getAttribute('data-nudge-click') ?? ''));
    });
  }
  if (switches.forms) {
    const tracked = (form: HTMLFormElement | null | undefined) => (form && !form.hasAttribute('data-nudge-ignore') ? formIdOf(form, doc) : null);
    const input = (e: Event) => {
      const field = e.target as HTMLInputElement;
      const form = tracked(field.form);
      if (form !== null) hooks.cue((c, at) => c.formInput(form, field.getAttribute('name') || field.getAttribute('id') || field.type || 'field', at));
    };
    on(doc, 'input', input);
    on(doc, 'change', input);
    on(doc, 'submit', (e: SubmitEvent) => {
      const form = tracked(e.target as HTMLFormElement);
      if (form !== null) hooks.cue((c, at) => c.formSubmitted(form, at));
    });
  }
  if (switches.checkout) {
    new MutationObserver(() => hooks.cue((c) => c.checkoutSteps(checkoutStepsOf(doc)))).observe(doc.documentElement, {
      subtree: true,
      childList: true,
      attributeFilter: ['data-nudge-checkout-step'],
    });
  }
  if (history) {
    const push = win.history.pushState;
    win.history.pushState = function (this: History, ...args: Parameters<History['pushState']>) {
      push.apply(this, args);
      hooks.navigated();
    };
    on(win, 'popstate', () => hooks.navigated());
  }
}
