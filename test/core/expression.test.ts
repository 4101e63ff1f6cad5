/**
 * The expression language: a table of (expression, activation, expected) over a realistic event
 * and profile, then compile errors with positions, safety against hostile keys and inputs, and
 * properties over arbitrary sources and activations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compileCondition, compileExpression, type Activation } from '../../src/core/expression/index.js';
import { applyEvent, defaultProfileOptions, draftOf, emptyProfile } from '../../src/core/profile.js';
import { event, minute, t0 } from '../support/events.js';

const now = t0 + 60 * minute;

/** A profile built by the real fold: 12 orders, a last event 5 minutes before `now`. */
function buildUser() {
  const profile = draftOf(emptyProfile('w1', 'p1', t0));
  const apply = (spec: Parameters<typeof event>[0]) => applyEvent(profile, event({ userId: 'ann', ...spec }), defaultProfileOptions);
  apply({ type: 'identify', at: 0, traits: { plan: 'pro', favourite_categories: ['shoes', 'bags'], age: 31, vip_since: null } });
  for (let i = 0; i < 12; i++) apply({ name: 'order_completed', at: 1 + i, properties: { revenue: 10 } });
  apply({ anonymousId: 'anon-1', at: 50 });
  apply({ anonymousId: 'anon-2', type: 'page', at: 55, properties: { path: '/p/shoe' } });
  return profile;
}

const user = buildUser();
const cartEvent = event({
  userId: 'ann',
  name: 'cart_updated',
  timestamp: now - 1000,
  properties: { item_count: 3, cart_value: 59.9, path: '/checkout/payment', coupon: null, skus: ['a', 'b'], meta: { source: 'ads' } },
});
const pageEvent = event({ userId: 'ann', type: 'page', name: 'page', timestamp: now, properties: { path: '/checkout/cart' } });
const base: Activation = { event: cartEvent, user, now };

type Expected = { value: unknown } | { error: RegExp; column?: number };
type Row = [source: string, expected: Expected, activation?: Partial<Activation>];

const v = (value: unknown): Expected => ({ value });
const err = (error: RegExp, column?: number): Expected => (column === undefined ? { error } : { error, column });

const rows: Row[] = [
  // The trigger examples
  ['event.properties.item_count > 0', v(true)],
  ['event.properties.item_count > 0', v(false), { event: { ...cartEvent, properties: { item_count: 0 } } }],
  ['user.computed.events.order_completed.count >= 10 && user.traits.plan != "vip"', v(true)],
  ['user.computed.events.order_completed.count >= 13', v(false)],
  ['event.name == "page" && event.properties.path.startsWith("/checkout")', v(false)],
  ['event.name == "page" && event.properties.path.startsWith("/checkout")', v(true), { event: pageEvent }],
  ['now - user.computed.lastSeenAt > duration("3m")', v(true)],
  ['now - user.computed.lastSeenAt > duration("6m")', v(false)],
  ['"shoes" in user.traits.favourite_categories', v(true)],
  ['"hats" in user.traits.favourite_categories', v(false)],
  ['has(event.properties.coupon)', v(true)], // present, although null: has() tests presence
  ['has(event.properties.voucher)', v(false)],
  ['size(user.anonymousIds) > 1', v(true)],
  ['user.anonymousIds.size() == 2', v(true)],
  // Arithmetic: one number type for data, int semantics between int literals
  ['1 + 2 * 3', v(7)],
  ['(1 + 2) * 3 - 4', v(5)],
  ['7 / 2', v(3)],
  ['-7 / 2', v(-3)],
  ['7 % 3', v(1)],
  ['7.0 / 2', v(3.5)],
  ['event.properties.item_count / 2', v(1.5)],
  ['event.properties.item_count + 1', v(4)],
  ['event.properties.cart_value * 2 > 100', v(true)],
  ['event.properties.item_count % 2 == 1', v(true)],
  ['1 / 0', err(/division by zero/, 3)],
  ['event.properties.item_count % 0', err(/modulus by zero/, 29)],
  ['9007199254740991 + 1', err(/integer overflow/, 18)],
  ['-event.properties.item_count', v(-3)],
  ['1 == 1.0', v(true)],
  ['0x10 == 16 && 3u == 3', v(true)],
  ['1e3 == 1000', v(true)],
  // Comparison and equality
  ['"abc" < "abd" && "b" > "a"', v(true)],
  ['false < true', v(true)],
  ['1 < "2"', err(/no such overload: number < string/, 3)],
  ['1 == "1"', v(false)],
  ['null == null', v(true)],
  ['user.traits.vip_since == null', v(true)],
  ['[1, 2, [3]] == [1, 2, [3]]', v(true)],
  ['{"a": 1, "b": [2]} == {"b": [2], "a": 1}', v(true)],
  ['{"a": 1} != {"a": 2}', v(true)],
  ['event.properties.meta == {"source": "ads"}', v(true)],
  // Strings
  ['event.properties.path.contains("pay")', v(true)],
  ['event.properties.path.endsWith("ment")', v(true)],
  ['event.properties.path.matches("^/checkout/[a-z]+$")', v(true)],
  ['matches("abc", "b")', v(true)],
  ['"Shoe".lowerAscii() + "-" + "x".upperAscii()', v('shoe-X')],
  ['"  a ".trim()', v('a')],
  ['size("héllo😀")', v(6)],
  ['"a\\tb\\u00e9\\x41\\101"', v('a\tbéAA')],
  ["'single' + r\"raw\\n\" + '''tri\nple'''", v('singleraw\\ntri\nple')],
  ['string(3) + string(true) + string(1.5)', v('3true1.5')],
  ['int("42") + 1', v(43)],
  ['int(3.9) == 3 && int(-3.9) == -3', v(true)],
  ['double("2.5") * 2', v(5)],
  ['int("x")', err(/int\(\) cannot convert "x"/, 1)],
  ['uint(-1)', err(/out of range/, 1)],
  ['bool("true") && !bool("false")', v(true)],
  ['"a" + 1', err(/no such overload: string \+ number/, 5)],
  // Lists, maps, indexing, in
  ['event.properties.skus[1]', v('b')],
  ['event.properties.skus[2]', err(/index 2 out of range/, 22)],
  ['event.properties.skus[0.5]', err(/integer/)],
  ['event.properties["item_count"]', v(3)],
  ['event.properties["nope"]', err(/no such key: "nope"/, 17)],
  ['[1, 2] + [3]', v([1, 2, 3])],
  ['2 in [1, 2, 3] && !(4 in [1, 2, 3])', v(true)],
  ['"coupon" in event.properties', v(true)],
  ['"toString" in event.properties', v(false)],
  ['1 in event.properties', v(false)],
  ['size({"a": 1, "b": 2})', v(2)],
  ['{"a": 1}.a', v(1)],
  ['{"a": 1, "a": 2}', err(/duplicate map key "a"/, 10)],
  ['[1, 2, 3,]', v([1, 2, 3])],
  // Macros
  ['[1, 2, 3].all(x, x > 0)', v(true)],
  ['[1, 2, 3].exists(x, x > 2)', v(true)],
  ['[1, 2, 3].exists_one(x, x > 1)', v(false)],
  ['[1, 2, 3].map(x, x * 2)', v([2, 4, 6])],
  ['[1, 2, 3].map(x, x > 1, x * 10)', v([20, 30])],
  ['[1, 2, 3].filter(x, x % 2 == 1)', v([1, 3])],
  ['user.traits.favourite_categories.exists(c, c.startsWith("sh"))', v(true)],
  ['{"a": 1, "b": 2}.all(k, k in ["a", "b"])', v(true)],
  ['[1, "x"].exists(x, x > 0)', v(true)], // the error on "x" is absorbed: 1 > 0 decides
  ['["x", 1].all(x, x > 0)', err(/no such overload/)],
  ['[[1, 2], [3]].map(l, l.map(x, x + 1))', v([[2, 3], [4]])],
  // Ternary, logic, error absorption
  ['event.properties.item_count > 2 ? "many" : "few"', v('many')],
  ['true ? 1 : 2 / 0', err(/division by zero/)], // constant: evaluated at compile time
  ['event.properties.missing > 0 || true', v(true)],
  ['true || event.properties.missing > 0', v(true)],
  ['event.properties.missing > 0 && false', v(false)],
  ['event.properties.missing > 0 && true', err(/no such key: "missing"/, 18)],
  ['event.properties.path || true', v(true)],
  ['event.properties.path && true', err(/&& needs bools, got string/)],
  ['!(event.properties.item_count > 5)', v(true)],
  ['a || b || c', err(/unknown variable 'a'/, 1)],
  // Missing fields and wrong types
  ['event.properties.missing', err(/no such key: "missing"/, 18)],
  ['event.properties.item_count.value', err(/cannot read field "value" of number/, 29)],
  ['event.properties.path > 1', err(/no such overload: string > number/, 23)],
  ['user.traits.plan == "pro"', err(/cannot read field "traits" of null/, 6), { user: null }],
  ['has(user.traits.plan)', err(/cannot read field "traits" of null/), { user: null }],
  ['has(event.properties.item_count.x)', err(/has\(\) needs a map, got number/)],
  // Times: ms numbers, durations in ms
  ['duration("1h30m") == 90 * 60 * 1000', v(true)],
  ['duration("1.5s") + duration("250ms") + duration("7d")', v(1750 + 7 * 86_400_000)],
  ['duration("-90s")', v(-90_000)],
  ['timestamp("2025-01-06T09:00:00Z") == ' + String(t0), v(true)],
  ['timestamp("2025-01-06T10:00:00+01:00") == timestamp("2025-01-06T09:00:00Z")', v(true)],
  ['now - event.timestamp < duration("10s")', v(true)],
  ['now > timestamp("2025-01-01T00:00:00Z")', v(true)],
  ['user.computed.events.order_completed.lastAt - user.computed.events.order_completed.firstAt == duration("11m")', v(true)],
  ['duration(event.name)', err(/duration\(\) expects a string such as/, 1)],
  ['user.computed.lastPage.path', v('/p/shoe')],
  ['user.computed.totals.revenue == 120.0', v(true)],
];

describe('expression: evaluation table', () => {
  for (const [source, expected, activation] of rows) {
    test(`${source}${activation ? ' (with ' + Object.keys(activation).join(', ') + ' replaced)' : ''}`, () => {
      const compiled = compileExpression(source);
      const result = compiled.ok ? compiled.expression.evaluate({ ...base, ...activation }) : { ok: false as const, error: compiled.error };
      if ('value' in expected) {
        assert.deepEqual(result, { ok: true, value: expected.value });
        return;
      }
      assert.equal(result.ok, false, `expected an error, got ${JSON.stringify(result)}`);
      if (result.ok) return;
      assert.match(result.error.message, expected.error);
      assert.equal(result.error.line, 1);
      if (expected.column !== undefined) assert.equal(result.error.column, expected.column, result.error.message);
    });
  }
});

describe('expression: conditions', () => {
  test('test() is true only for true; errors and false give false, evaluate() says why', () => {
    const compiled = compileCondition('event.properties.coupon_code.startsWith("X")');
    assert.ok(compiled.ok);
    assert.equal(compiled.condition.test(base), false);
    assert.deepEqual(compiled.condition.evaluate(base), { ok: false, error: { message: 'no such key: "coupon_code"', line: 1, column: 18 } });
    const withCoupon = { ...base, event: { ...cartEvent, properties: { coupon_code: 'XMAS' } } };
    assert.equal(compiled.condition.test(withCoupon), true);
    assert.deepEqual(compiled.condition.evaluate(withCoupon), { ok: true, value: true });
  });

  test('a condition of a known non-bool type is refused when compiled', () => {
    for (const source of ['1 + 2', '"yes"', '[true]', 'size(event.name)']) {
      const compiled = compileCondition(source);
      assert.equal(compiled.ok, false, source);
      if (!compiled.ok) assert.match(compiled.error.message, /must be true or false, but this expression is of type/);
    }
  });

  test('a dynamic value that is not a bool is false, and evaluate() names its type', () => {
    const compiled = compileCondition('event.properties.path');
    assert.ok(compiled.ok);
    assert.equal(compiled.condition.test(base), false);
    assert.deepEqual(compiled.condition.evaluate(base), { ok: false, error: { message: 'a condition must be true or false, got string', line: 1, column: 1 } });
  });

  test('a compiled condition is reusable and keeps no state between evaluations', () => {
    const compiled = compileCondition('[1, 2, 3].map(x, x * event.properties.item_count).exists(y, y == 6)');
    assert.ok(compiled.ok);
    const c = compiled.condition;
    const withCount = (n: number) => ({ ...base, event: { ...cartEvent, properties: { item_count: n } } });
    assert.deepEqual([c.test(withCount(3)), c.test(withCount(4)), c.test(withCount(2)), c.test(withCount(3))], [true, false, true, true]);
  });
});

describe('expression: compile errors name line and column', () => {
  const cases: [string, RegExp, number, number][] = [
    ['1 + 2 *', /unexpected end of expression/, 1, 8],
    ['event.name ==\n  (user.traits.plan ||', /unexpected end of expression/, 2, 23],
    ['event.name = "x"', /unexpected character "=" \(did you mean '=='\?\)/, 1, 12],
    ['event.name == "x" & true', /did you mean '&&'/, 1, 19],
    ['event.properties.item_count > 0 0', /unexpected a number after a complete expression/, 1, 33],
    ['"unterminated', /unterminated string literal/, 1, 1],
    ['a\n  + "\\q"', /invalid escape sequence \\q/, 2, 6],
    ['foo.bar', /unknown variable 'foo' \(known: event, user, now\)/, 1, 1],
    ['event.name.frobnicate()', /unknown method 'frobnicate'/, 1, 12],
    ['lower(event.name)', /unknown function 'lower'/, 1, 1],
    ['size(1, 2)', /size\(\) takes 1 argument, got 2/, 1, 1],
    ['has(event)', /has\(\) takes one field selection/, 1, 1],
    ['[1].all(1, true)', /all\(\) is called as list.all\(x, predicate\)/, 1, 5],
    ['duration("3 minutes")', /duration\(\) expects a string/, 1, 1],
    ['timestamp("yesterday")', /timestamp\(\) expects an RFC 3339 string/, 1, 1],
    ['event.name.matches(event.name)', /pattern of matches\(\) must be a string literal/, 1, 26],
    ['event.name.matches("(")', /invalid pattern/, 1, 20],
    ['99999999999999999999', /beyond ±2\^53/, 1, 1],
    ['event.if', /'if' is a reserved word/, 1, 7],
    ['b"bytes"', /bytes literals are not supported/, 1, 1],
    ['Foo{a: 1}', /message construction/, 1, 1],
    ['!"a"', /no such overload: ! does not apply to string/, 1, 1],
    ['1 && true', /&& does not apply to int/, 1, 3],
    ['"a" in "abc"', /in does not apply to string/, 1, 5],
    ['', /unexpected end of expression/, 1, 1],
  ];
  for (const [source, message, line, column] of cases) {
    test(JSON.stringify(source), () => {
      const compiled = compileCondition(source);
      assert.equal(compiled.ok, false);
      if (compiled.ok) return;
      assert.match(compiled.error.message, message);
      assert.deepEqual({ line: compiled.error.line, column: compiled.error.column }, { line, column }, compiled.error.message);
    });
  }
});

describe('expression: safety', () => {
  const hostile = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": "c", "nested": {}}') as Record<string, unknown>;
  const activation: Activation = { ...base, event: { ...cartEvent, properties: hostile } };

  test('prototype members are never reachable through a field, an index, has() or in', () => {
    const missing = [
      'event.properties.nested.constructor',
      'event.properties.nested.constructor.constructor',
      'event.properties.nested.__proto__',
      'event.properties.nested["__proto__"]',
      'event.properties.nested.toString',
      'event.properties.nested.hasOwnProperty',
      'event.properties.nested.valueOf',
      'user.anonymousIds.length',
      'user.anonymousIds.map',
      'user.anonymousIds.constructor',
      'event.name.length',
      'event.name.constructor',
      'event.properties.item_count.constructor',
      '{}.constructor',
      '[].concat',
    ];
    for (const source of ['now.constructor("return 1")', 'event.name.constructor.constructor("return 1")()', 'event.properties.nested.toString()']) {
      assert.equal(compileExpression(source).ok, false, `${source} must not compile: only known functions can be called`);
    }
    for (const source of missing) {
      const compiled = compileExpression(source);
      // Constant ones ({}.constructor) fail when compiled, the others when evaluated.
      const result = compiled.ok ? compiled.expression.evaluate(activation) : compiled;
      assert.equal(result.ok, false, `${source} gave ${JSON.stringify(result)}`);
      if (!result.ok) assert.match(result.error.message, /^(no such key|cannot read field)/, source);
    }
    for (const source of ['has(event.properties.nested.constructor)', 'has(event.properties.nested.toString)', '"constructor" in event.properties.nested', '"__proto__" in {}']) {
      const compiled = compileExpression(source);
      assert.ok(compiled.ok, source);
      assert.deepEqual(compiled.expression.evaluate(activation), { ok: true, value: false }, source);
    }
  });

  test('own keys named like prototype members are ordinary keys', () => {
    const read = (source: string) => {
      const compiled = compileExpression(source);
      assert.ok(compiled.ok, source);
      return compiled.expression.evaluate(activation);
    };
    assert.deepEqual(read('event.properties.__proto__'), { ok: true, value: { polluted: 1 } });
    assert.deepEqual(read('event.properties.constructor'), { ok: true, value: 'c' });
    assert.deepEqual(read('event.properties["__proto__"].polluted'), { ok: true, value: 1 });
    const literal = read('{"__proto__": {"x": 1}}');
    assert.ok(literal.ok);
    assert.equal(Object.getPrototypeOf(literal.value), Object.prototype, 'a literal key never sets the prototype');
    assert.deepEqual(Object.keys(literal.value as object), ['__proto__']);
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });

  test('deep nesting gives a positioned error, not a stack overflow', () => {
    for (const source of ['('.repeat(1000) + '1' + ')'.repeat(1000), '['.repeat(5000), '!'.repeat(5000) + 'true', '-'.repeat(5000) + 'x', Array(3000).fill('1').join(' + '), 'event' + '.a'.repeat(5000)]) {
      const compiled = compileCondition(source);
      assert.equal(compiled.ok, false);
      if (!compiled.ok) assert.match(compiled.error.message, /nested more than 128 levels deep/);
    }
    const wide = compileCondition(Array(400).fill('event.properties.item_count > 0').join(' || '));
    assert.ok(wide.ok, 'a long chain of || is one flat node, not a deep one');
    assert.equal(wide.condition.test(base), true);
  });

  test('huge sources are refused; huge and deeply nested data are evaluated or refused, never thrown', () => {
    const huge = compileCondition(`"${'a'.repeat(100_000)}" == event.name`);
    assert.ok(!huge.ok);
    assert.match(huge.error.message, /over the limit of 16384/);

    const nested = () => {
      let value: unknown = 1;
      for (let i = 0; i < 50_000; i++) value = [value];
      return value;
    };
    const deep = nested();
    const other = nested();
    const bigList = Array.from({ length: 200_000 }, (_, i) => i);
    const data: Activation = { ...base, event: { ...cartEvent, properties: { deep, other, big: bigList, text: 'x'.repeat(1_000_000) } } };
    const expectations: [string, RegExp | unknown][] = [
      ['event.properties.deep == event.properties.other', /nested more than 100 levels deep/],
      ['199999 in event.properties.big', true],
      ['event.properties.big.exists(x, x == 150000)', /stopped after 100000 comprehension steps/],
      ['event.properties.big.map(x, event.properties.big.exists(y, y < 0))', /stopped after 100000 comprehension steps/],
      ['size(event.properties.text) == 1000000 && event.properties.text.endsWith("x")', true],
    ];
    for (const [source, expected] of expectations) {
      const compiled = compileExpression(source);
      assert.ok(compiled.ok, source);
      const result = compiled.expression.evaluate(data);
      if (expected instanceof RegExp) {
        assert.equal(result.ok, false, source);
        if (!result.ok) assert.match(result.error.message, expected);
      } else {
        assert.deepEqual(result, { ok: true, value: expected }, source);
      }
    }
  });

  test('evaluation reads the activation and changes nothing in it', () => {
    const snapshot = JSON.stringify(activation);
    for (const source of ['event.properties.nested.a', '[event.properties].map(p, p.constructor)', '{"__proto__": event.properties}.__proto__.constructor == "c"']) {
      const compiled = compileExpression(source);
      assert.ok(compiled.ok, source);
      compiled.expression.evaluate(activation);
    }
    assert.equal(JSON.stringify(activation), snapshot);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('expression: properties', () => {
  const grammarPiece = fc.constantFrom(
    'event', 'user', 'now', '.', 'properties', 'traits', 'computed', 'item_count', '__proto__', 'constructor', '(', ')', '[', ']', '{', '}', ',', ':', '?',
    ' + ', ' - ', '*', '/', '%', '!', ' == ', '!=', '<', '>=', ' && ', ' || ', ' in ', '1', '0', '2.5', '-', '"s"', "'t'", 'null', 'true',
    'has(', 'size(', 'duration("3m")', '.all(x, ', '.map(x, ', 'x', '.startsWith(', '\n', ' ', '"', '\\', 'r"', '"""', '0x', '1u', '1e', '//',
  );
  const sources = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.array(grammarPiece, { maxLength: 25 }).map((parts) => parts.join('')));

  test('any source compiles or gives an error with a position inside it; compiling never throws', () => {
    fc.assert(
      fc.property(sources, (source) => {
        const compiled = compileCondition(source);
        if (compiled.ok) return;
        const { line, column, message } = compiled.error;
        assert.ok(message.length > 0);
        const lines = source.split('\n');
        assert.ok(Number.isInteger(line) && line >= 1 && line <= lines.length, `line ${line} of ${JSON.stringify(source)}`);
        assert.ok(Number.isInteger(column) && column >= 1 && column <= lines[line - 1]!.length + 1, `column ${column} of ${JSON.stringify(source)}`);
      }),
      { numRuns: 5000 },
    );
  });

  const json = fc.jsonValue({ maxDepth: 4 });
  const activations = fc.record({
    event: fc.oneof(fc.dictionary(fc.constantFrom('name', 'properties', 'traits', 'type', '__proto__', 'constructor'), json), fc.constant(cartEvent as unknown as Record<string, unknown>)),
    user: fc.oneof(fc.constant(null), fc.dictionary(fc.constantFrom('traits', 'computed', 'anonymousIds', 'toString'), json), fc.constant(user as unknown as Record<string, unknown>)),
    now: fc.oneof(fc.integer(), fc.double()),
  });
  const compiledSources = fc.array(grammarPiece, { maxLength: 25 }).map((parts) => parts.join('')).filter((source) => compileExpression(source).ok);

  test('compiled expressions on arbitrary JSON activations never throw and never hit the internal-error guard', () => {
    fc.assert(
      fc.property(fc.oneof(compiledSources, fc.constantFrom(...rows.map((r) => r[0]))), activations, (source, activation) => {
        const expression = compileExpression(source);
        if (!expression.ok) return;
        const result = expression.expression.evaluate(activation as Activation);
        if (!result.ok) assert.doesNotMatch(result.error.message, /internal error/);
        const condition = compileCondition(source);
        if (condition.ok) assert.equal(typeof condition.condition.test(activation as Activation), 'boolean');
      }),
      { numRuns: 3000 },
    );
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});
