/**
 * The snippet's cue detection, DOM-free, on a fake clock: scenario tables of inputs at given
 * seconds and the events each must answer (and only those). Dwell with the page hidden and shown,
 * scroll milestones once each, exit intent (top edge, minimum time, once), marked clicks, forms
 * started, submitted and abandoned (idle, hidden, left), checkout steps, page types, and nothing
 * after the page is left.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExitIntent } from '../../sdk/src/cues/exit-intent.js';
import { FormTracker } from '../../sdk/src/cues/forms.js';
import { defaultCueSwitches, PageCues, type Cue, type CueSwitches } from '../../sdk/src/cues/page-cues.js';
import { ScrollDepth, scrollPercent } from '../../sdk/src/cues/scroll-depth.js';
import { VisibleTime } from '../../sdk/src/cues/visible-time.js';
import { pageProperties, pageTypeOf } from '../../sdk/src/page.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const s = (seconds: number) => t0 + seconds * 1000;

type Input = (cues: PageCues, at: number) => Cue[];
/** At `seconds`, apply `input`; the cues it answers must be `expect`, as `event` or `[event, properties]`. */
type Step = [seconds: number, input: Input, expect: (string | [string, Record<string, unknown>])[]];

function play(steps: readonly Step[], options: { switches?: CueSwitches; visible?: boolean; type?: string | null } = {}): PageCues {
  const cues = new PageCues({ type: options.type === undefined ? 'product' : options.type, path: '/p/42' }, s(0), options.visible ?? true, options.switches);
  steps.forEach(([seconds, input, expect], i) => {
    const got = input(cues, s(seconds));
    assert.deepEqual(
      got.map((c) => c.event),
      expect.map((e) => (typeof e === 'string' ? e : e[0])),
      `step ${i} at ${seconds} s`,
    );
    expect.forEach((e, k) => {
      if (typeof e !== 'string') assert.deepEqual(got[k]!.properties, e[1], `step ${i} at ${seconds} s, ${e[0]}`);
    });
  });
  return cues;
}

const visible: Input = (c, at) => c.visibility(true, at);
const hidden: Input = (c, at) => c.visibility(false, at);
const leave: Input = (c, at) => c.leave(at);
const tick: Input = (c, at) => c.tick(at);
const scroll = (percent: number): Input => (c) => c.scrolled(percent);
const pointerLeft = (y: number): Input => (c, at) => c.pointerLeft(y, at);
const click = (element: string): Input => (c) => c.clicked(element);
const input = (form: string, field: string): Input => (c, at) => c.formInput(form, field, at);
const submit = (form: string): Input => (c, at) => c.formSubmitted(form, at);
const steps = (...marked: string[]): Input => (c) => c.checkoutSteps(marked);
const where = { page_type: 'product', path: '/p/42' };

describe('dwell: the time the page was visible', () => {
  test('hidden stretches do not count; page_left carries the visible time', () => {
    play([
      [10, hidden, []],
      [70, visible, []],
      [75, visible, []],
      [100, hidden, []],
      [100, hidden, []],
      [400, visible, []],
      [405, leave, [['page_left', { dwell_ms: 45_000, max_scroll: 0, ...where }]]],
    ]);
  });

  test('a page opened in a background tab counts from when it shows', () => {
    play([[30, visible, []], [50, leave, [['page_left', { dwell_ms: 20_000, max_scroll: 0, ...where }]]]], { visible: false });
  });

  test('a clock that goes backwards adds nothing', () => {
    const time = new VisibleTime(s(100), true);
    time.hide(s(90));
    assert.equal(time.totalMs(s(200)), 0);
    time.show(s(95));
    assert.equal(time.totalMs(s(94)), 0);
    assert.equal(time.totalMs(s(105)), 10_000);
  });
});

describe('scroll depth', () => {
  test('each milestone once, in order, also when a jump passes several; the deepest goes with page_left', () => {
    play([
      [1, scroll(10), []],
      [2, scroll(30), [['scroll_depth', { percent: 25, ...where }]]],
      [3, scroll(20), []],
      [4, scroll(49), []],
      [5, scroll(90), [['scroll_depth', { percent: 50, ...where }], ['scroll_depth', { percent: 75, ...where }]]],
      [6, scroll(75), []],
      [7, scroll(100), [['scroll_depth', { percent: 100, ...where }]]],
      [8, scroll(100), []],
      [9, leave, [['page_left', { dwell_ms: 9_000, max_scroll: 100, ...where }]]],
    ]);
  });

  test('percent seen: the bottom of the viewport; the last pixels count as the end; a page that does not scroll measures nothing', () => {
    assert.equal(scrollPercent(0, 800, 3200), 25);
    assert.equal(scrollPercent(799, 800, 3200), 49);
    assert.equal(scrollPercent(2398.5, 800, 3200), 100);
    assert.equal(scrollPercent(0, 800, 800), null);
    assert.equal(scrollPercent(0, 800, 600), null);
    const depth = new ScrollDepth();
    assert.deepEqual(depth.reached(100), [25, 50, 75, 100]);
    assert.deepEqual(depth.reached(100), []);
  });
});

describe('exit intent', () => {
  test('the pointer leaving through the top after the minimum time, once per page', () => {
    play([
      [2, pointerLeft(-5), []],
      [6, pointerLeft(400), []],
      [7, pointerLeft(11), []],
      [8, pointerLeft(-3), [['exit_intent', { dwell_ms: 8_000, ...where }]]],
      [9, pointerLeft(0), []],
    ]);
  });

  test('the minimum time and the edge are options; switched off, nothing', () => {
    const quick = new ExitIntent(s(0), { minTimeOnPageMs: 0, topEdgePx: 50 });
    assert.equal(quick.pointerLeft(40, s(0)), true);
    play([[10, pointerLeft(0), []]], { switches: { ...defaultCueSwitches, exitIntent: false } });
  });
});

describe('marked clicks', () => {
  test('every click on a marked element, with its mark; an empty mark is none', () => {
    play([
      [1, click('help'), [['element_clicked', { element: 'help', ...where }]]],
      [2, click('help'), [['element_clicked', { element: 'help', ...where }]]],
      [3, click(''), []],
    ]);
    play([[1, click('help'), []]], { switches: { ...defaultCueSwitches, clicks: false } });
  });
});

describe('forms', () => {
  test('started at the first input, submitted; filling it again starts it again', () => {
    play([
      [1, input('signup', 'email'), [['form_started', { form: 'signup', field: 'email', ...where }]]],
      [2, input('signup', 'name'), []],
      [3, input('signup', 'email'), []],
      [9, submit('signup'), [['form_submitted', { form: 'signup', fields_filled: 2, duration_ms: 8_000, ...where }]]],
      [10, submit('signup'), []],
      [70, tick, []],
      [80, input('signup', 'email'), ['form_started']],
      [85, leave, ['form_abandoned', 'page_left']],
    ]);
  });

  test('abandoned after the idle time without input, measured from the last input; once per page', () => {
    const cues = play([
      [0, input('checkout', 'card'), ['form_started']],
      [50, input('checkout', 'cvc'), []],
      [109, tick, []],
      [110, tick, [['form_abandoned', { form: 'checkout', reason: 'idle', fields_filled: 2, last_field: 'cvc', duration_ms: 110_000, ...where }]]],
      [120, input('checkout', 'zip'), []],
      [500, tick, []],
      [501, hidden, []],
      [600, submit('checkout'), [['form_submitted', { form: 'checkout', fields_filled: 3, duration_ms: 600_000, ...where }]]],
    ]);
    assert.equal(cues.wakeAt(), null);
  });

  test('abandoned when the page is hidden or left; forms apart; wakeAt names the next idle time', () => {
    const cues = play([
      [0, input('a', 'x'), ['form_started']],
      [5, input('b', 'y'), ['form_started']],
    ]);
    assert.equal(cues.wakeAt(), s(60));
    assert.deepEqual(
      cues.visibility(false, s(20)).map((c) => [c.event, c.properties['form'], c.properties['reason']]),
      [['form_abandoned', 'a', 'hidden'], ['form_abandoned', 'b', 'hidden']],
    );
    assert.equal(cues.wakeAt(), null);
    play([
      [0, input('a', 'x'), ['form_started']],
      [3, leave, [['form_abandoned', { form: 'a', reason: 'left', fields_filled: 1, last_field: 'x', duration_ms: 3_000, ...where }], 'page_left']],
    ]);
  });

  test('a submit without input (filled by the browser) counts; the idle time is an option; switched off, nothing', () => {
    const forms = new FormTracker(10_000);
    assert.deepEqual(forms.submit('login', s(0)), [{ event: 'form_submitted', properties: { form: 'login', fields_filled: 0, duration_ms: 0 } }]);
    forms.input('search', 'q', s(1));
    assert.deepEqual(forms.idle(s(11)).map((c) => c.event), ['form_abandoned']);
    play([[1, input('a', 'x'), []], [2, leave, ['page_left']]], { switches: { ...defaultCueSwitches, forms: false } });
  });
});

describe('checkout steps', () => {
  test('each step marked on the page once, as it appears', () => {
    play([
      [0, steps(), []],
      [1, steps('shipping'), [['checkout_step_viewed', { step: 'shipping', ...where }]]],
      [2, steps('shipping'), []],
      [3, steps('shipping', 'payment', 'payment', ''), [['checkout_step_viewed', { step: 'payment', ...where }]]],
    ]);
    play([[1, steps('payment'), []]], { switches: { ...defaultCueSwitches, checkout: false } });
  });
});

describe('the page', () => {
  test('a page without a type sends path only; after leaving, every input answers nothing', () => {
    play(
      [
        [1, click('help'), [['element_clicked', { element: 'help', path: '/p/42' }]]],
        [2, input('f', 'x'), ['form_started']],
        [3, leave, ['form_abandoned', 'page_left']],
        [4, leave, []],
        [5, scroll(100), []],
        [6, click('help'), []],
        [7, pointerLeft(-1), []],
        [8, hidden, []],
        [200, tick, []],
        [201, steps('payment'), []],
      ],
      { type: null },
    );
  });

  test('without dwell, no page_left', () => {
    play([[5, leave, []]], { switches: { ...defaultCueSwitches, dwell: false } });
  });

  test('the type comes from <body data-nudge-page-type>, else the meta tag; properties as profiles read them', () => {
    assert.equal(pageTypeOf('product', 'category'), 'product');
    assert.equal(pageTypeOf(null, ' category '), 'category');
    assert.equal(pageTypeOf('  ', undefined), null);
    assert.deepEqual(pageProperties({ href: 'https://shop.example/p/42?ref=x#reviews', pathname: '/p/42', search: '?ref=x' }, 'Boots', 'https://google.example/', 'product'), {
      url: 'https://shop.example/p/42?ref=x',
      path: '/p/42',
      search: '?ref=x',
      title: 'Boots',
      referrer: 'https://google.example/',
      page_type: 'product',
    });
  });
});
