/**
 * Dwell time as the user could see it: the time a page was visible (Page Visibility), summed over
 * its visible stretches, so that a tab left in the background does not count. Pure: fed the times
 * at which the page showed and hid. Repeated shows or hides change nothing; a clock that goes
 * backwards adds nothing.
 */
export class VisibleTime {
  private accumulatedMs = 0;
  private visibleSince: number | null;

  constructor(at: number, visible: boolean) {
    this.visibleSince = visible ? at : null;
  }

  show(at: number): void {
    this.visibleSince ??= at;
  }

  hide(at: number): void {
    this.accumulatedMs = this.totalMs(at);
    this.visibleSince = null;
  }

  /** Visible ms up to `at`. */
  totalMs(at: number): number {
    return this.accumulatedMs + (this.visibleSince === null ? 0 : Math.max(0, at - this.visibleSince));
  }
}
