/**
 * Scroll depth milestones: how far down the page the user has seen (the bottom of the viewport),
 * reported once per page as it first passes 25, 50, 75 and 100 %. A jump fires every milestone
 * it passes, in order; scrolling back up fires nothing. Pure.
 */

export const scrollMilestones = [25, 50, 75, 100] as const;

/** Within this many pixels of the end counts as the end (sub-pixel layouts never reach it exactly). */
const endTolerancePx = 2;

/**
 * Percent of the page seen when scrolled to `top` with a viewport `viewportHeight` high, on a page
 * `pageHeight` high; null for a page that does not scroll (it measures nothing about the user).
 */
export function scrollPercent(top: number, viewportHeight: number, pageHeight: number): number | null {
  if (pageHeight <= viewportHeight) return null;
  const bottom = top + viewportHeight;
  return bottom >= pageHeight - endTolerancePx ? 100 : Math.max(0, Math.floor((bottom / pageHeight) * 100));
}

export class ScrollDepth {
  /** The deepest percent seen. */
  maxPercent = 0;
  private next = 0;

  /** The milestones newly passed at `percent`. */
  reached(percent: number): number[] {
    this.maxPercent = Math.max(this.maxPercent, percent);
    const passed: number[] = [];
    while (this.next < scrollMilestones.length && scrollMilestones[this.next]! <= percent) passed.push(scrollMilestones[this.next++]!);
    return passed;
  }
}
