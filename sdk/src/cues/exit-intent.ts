/**
 * Exit intent on a desktop: the pointer leaves the page through its top edge (towards the tabs,
 * the address bar or the close button), after the user has been on the page `minTimeOnPageMs`,
 * at most once per page. The DOM layer only asks on devices with a fine pointer that can hover.
 * Pure.
 */

export interface ExitIntentOptions {
  /** Time on the page before an exit counts, in ms. Default 5,000. */
  minTimeOnPageMs: number;
  /** How close to the top edge, in CSS pixels, the pointer must leave. Default 10. */
  topEdgePx: number;
}

export const defaultExitIntentOptions: ExitIntentOptions = { minTimeOnPageMs: 5_000, topEdgePx: 10 };

export class ExitIntent {
  private fired = false;

  constructor(
    private readonly enteredAt: number,
    private readonly options: ExitIntentOptions = defaultExitIntentOptions,
  ) {}

  /** The pointer left the page at height `y` (viewport pixels, negative above it): true when this is the page's exit intent. */
  pointerLeft(y: number, at: number): boolean {
    if (this.fired || y > this.options.topEdgePx || at - this.enteredAt < this.options.minTimeOnPageMs) return false;
    this.fired = true;
    return true;
  }
}
