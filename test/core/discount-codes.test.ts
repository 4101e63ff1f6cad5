/**
 * Personal discount codes, pure: a kind's checks, the generator (properties over random patterns,
 * alphabets and bytes, and a distribution check over a fixed byte stream), matching, and the
 * lifecycle as scenario tables on a simulated time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  codeStateAt,
  compileCodeKind,
  defaultCodeAlphabet,
  generateCode,
  isCodeShaped,
  normaliseCode,
  redeemCode,
  reserveCode,
  settleCode,
  type CodeKind,
  type CodeKindDefinition,
  type CodeRecord,
  type CodeState,
  type RedeemOutcome,
} from '../../src/core/delivery/discount-codes.js';

const minute = 60_000;
const hour = 60 * minute;
const T0 = Date.UTC(2026, 5, 1, 10, 0);
const cartDefinition: CodeKindDefinition = { pattern: 'CART-XXXX-XXXX', ttl: '48h', redeemedBy: { event: 'Order Completed', property: 'coupon' } };

function kindOf(definition: CodeKindDefinition, name = 'cart10'): CodeKind {
  const compiled = compileCodeKind(name, definition);
  assert.ok(compiled.ok, JSON.stringify(compiled));
  return compiled.kind;
}

describe('a kind of code', () => {
  test('a valid kind gets its defaults: the look-alike-free alphabet, the ttl in ms', () => {
    assert.deepEqual(kindOf(cartDefinition), {
      name: 'cart10',
      pattern: 'CART-XXXX-XXXX',
      alphabet: 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789',
      randomChars: 8,
      ttlMs: 48 * hour,
      redeemedBy: { event: 'Order Completed', property: 'coupon' },
    });
    assert.equal(kindOf({ pattern: 'XXXXXX', alphabet: '0123456789', ttl: '30m' }).redeemedBy, null);
    for (const c of 'O0I1') assert.ok(!defaultCodeAlphabet.includes(c), `${c} is a look-alike`);
  });

  const rows: { name: string; definition: Partial<CodeKindDefinition>; kind?: string; path: string[]; message: RegExp }[] = [
    { name: 'too few random characters', definition: { pattern: 'CART-XXXXX' }, path: ['pattern'], message: /has 5 X's: at least 6 are needed/ },
    { name: 'no random character', definition: { pattern: 'CART10' }, path: ['pattern'], message: /has 0 X's/ },
    { name: 'lower case in the pattern', definition: { pattern: 'cart-XXXX-XXXX' }, path: ['pattern'], message: /upper case/ },
    { name: 'a space in the pattern', definition: { pattern: 'CART XXXX XXXX' }, path: ['pattern'], message: /A-Z, 0-9, - and _/ },
    { name: 'a pattern too long', definition: { pattern: 'X'.repeat(65) }, path: ['pattern'], message: /at most 64 characters/ },
    { name: 'an alphabet with lower case', definition: { alphabet: 'abcdefghjk' }, path: ['alphabet'], message: /upper-case letters A-Z and digits/ },
    { name: 'an alphabet with a repeat', definition: { alphabet: 'ABCDEFGHJKA2' }, path: ['alphabet'], message: /has A more than once/ },
    { name: 'an alphabet too small', definition: { alphabet: 'ABCDEF' }, path: ['alphabet'], message: /has 6 characters: at least 10/ },
    { name: 'a ttl that is no duration', definition: { ttl: 'two days' }, path: ['ttl'], message: /expected a duration such as/ },
    { name: 'a ttl of zero', definition: { ttl: '0h' }, path: ['ttl'], message: /longer than 0/ },
    { name: 'a blank redeeming event', definition: { redeemedBy: { event: ' ', property: 'coupon' } }, path: ['redeemedBy', 'event'], message: /must name an event/ },
    { name: 'a bad kind name', definition: {}, kind: 'cart 10', path: [], message: /a kind's name is/ },
  ];
  for (const row of rows) {
    test(`refused, naming the field: ${row.name}`, () => {
      const compiled = compileCodeKind(row.kind ?? 'cart10', { ...cartDefinition, ...row.definition });
      assert.ok(!compiled.ok);
      assert.equal(compiled.problems.length, 1, JSON.stringify(compiled.problems));
      assert.deepEqual(compiled.problems[0]!.path, row.path);
      assert.match(compiled.problems[0]!.message, row.message);
    });
  }
});

describe('the generator', () => {
  const patternArb = fc
    .array(fc.oneof(fc.constant('X'), fc.constantFrom(...'ABC-_09Z')), { minLength: 6, maxLength: 40 })
    .map((chars) => chars.join(''))
    .filter((p) => [...p].filter((c) => c === 'X').length >= 6);
  const alphabetArb = fc.shuffledSubarray([...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'], { minLength: 10 }).map((chars) => chars.join(''));
  const kindArb = fc.tuple(patternArb, alphabetArb).map(([pattern, alphabet]) => kindOf({ pattern, alphabet, ttl: '1h' }));

  test('X positions get alphabet characters, other characters are kept; null exactly when too few bytes are usable', () => {
    fc.assert(
      fc.property(kindArb, fc.uint8Array({ maxLength: 60 }), (kind, bytes) => {
        const limit = 256 - (256 % kind.alphabet.length);
        const usable = [...bytes].filter((b) => b < limit).length;
        const code = generateCode(kind, bytes);
        if (usable < kind.randomChars) return code === null;
        assert.ok(code !== null);
        assert.equal(code.length, kind.pattern.length);
        [...kind.pattern].forEach((p, i) => (p === 'X' ? assert.ok(kind.alphabet.includes(code[i]!)) : assert.equal(code[i], p)));
        assert.equal(normaliseCode(code), code, 'generated in normal form');
        assert.ok(isCodeShaped(code));
        assert.equal(generateCode(kind, new Uint8Array([...bytes, 1, 2, 3])), code, 'bytes after those used change nothing');
        return true;
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  test('bytes at or above the largest multiple of the alphabet size are skipped, not folded', () => {
    const digits = kindOf({ pattern: 'XXXXXX', alphabet: '0123456789', ttl: '1h' });
    // 250..255 would add to 0..5 under a plain modulo: they are rejected instead.
    assert.equal(generateCode(digits, new Uint8Array([250, 9, 255, 10, 249, 251, 252, 253, 254, 123, 7, 0])), '909370');
    assert.equal(generateCode(digits, new Uint8Array([250, 251, 252, 253, 254, 255, 1, 2, 3])), null);
  });

  test('every character is about equally likely over a fixed byte stream (31 characters: a modulo would favour 8 of them)', () => {
    const alphabet = defaultCodeAlphabet.slice(0, 31);
    const kind = kindOf({ pattern: 'X'.repeat(40), alphabet, ttl: '1h' });
    const stream = (i: number) => createHash('sha256').update(`codes-${i}`).digest();
    const counts = new Map<string, number>();
    const naive = new Array<number>(31).fill(0);
    const codes = 2000;
    for (let i = 0; i < codes; i++) {
      const bytes = new Uint8Array([...stream(2 * i), ...stream(2 * i + 1)]);
      for (const c of generateCode(kind, bytes)!) counts.set(c, (counts.get(c) ?? 0) + 1);
      for (const b of bytes.subarray(0, 40)) naive[b % 31]! += 1;
    }
    const expected = (codes * 40) / 31;
    const chiSquare = (observed: number[]) => observed.reduce((sum, o) => sum + (o - expected) ** 2 / expected, 0);
    // 30 degrees of freedom: chi-square above 59.7 has a chance of 0.1 %.
    assert.equal(counts.size, 31);
    assert.ok(chiSquare([...counts.values()]) < 59.7, `chi-square ${chiSquare([...counts.values()])}`);
    assert.ok(chiSquare(naive) > 59.7, 'the check would catch the bias of a plain modulo');
  });
});

describe('matching', () => {
  test('a code is matched without surrounding space and in any case of its letters', () => {
    assert.equal(normaliseCode('  cart-ab3d-k9q2\n'), 'CART-AB3D-K9Q2');
    assert.equal(normaliseCode('CaRt-Ab3D'), 'CART-AB3D');
    assert.equal(normaliseCode('CART AB3D'), 'CART AB3D', 'space inside is kept: it is another code');
    assert.equal(normaliseCode('ıt'), 'ıT', 'only ASCII letters change case: a dotless ı does not become I');
    assert.ok(isCodeShaped('CART-AB3D_K9'));
    for (const bad of ['', 'CART AB3D', 'ıT', 'CART/AB3D', 'X'.repeat(65)]) assert.ok(!isCodeShaped(bad), bad);
  });
});

describe('the lifecycle on a simulated time', () => {
  type Step =
    | { at: number; settle: 'issued' | 'released' }
    | { at: number; redeem: string; expect: RedeemOutcome }
    | { at: number; state: CodeState };
  const scenarios: { name: string; steps: Step[] }[] = [
    {
      name: 'reserve, deliver, redeem',
      steps: [
        { at: 0, state: 'reserved' },
        { at: 1 * minute, settle: 'issued' },
        { at: 2 * minute, state: 'issued' },
        { at: 3 * hour, redeem: 'ann', expect: 'redeemed' },
        { at: 100 * hour, state: 'redeemed' },
      ],
    },
    {
      name: 'reserve, the send fails: released, never usable',
      steps: [
        { at: 1 * minute, settle: 'released' },
        { at: 2 * minute, redeem: 'ann', expect: 'released' },
        { at: 3 * minute, settle: 'issued' },
        { at: 4 * minute, state: 'released' },
        { at: 100 * hour, state: 'released' },
      ],
    },
    {
      name: 'redeemed twice: the second is refused',
      steps: [
        { at: 1 * minute, settle: 'issued' },
        { at: 2 * minute, redeem: 'ann', expect: 'redeemed' },
        { at: 3 * minute, redeem: 'ann', expect: 'already_redeemed' },
      ],
    },
    {
      name: 'redeemed after expiry: refused; valid up to the last ms',
      steps: [
        { at: 1 * minute, settle: 'issued' },
        { at: 48 * hour - 1, state: 'issued' },
        { at: 48 * hour, state: 'expired' },
        { at: 48 * hour, redeem: 'ann', expect: 'expired' },
        { at: 48 * hour + 1, redeem: 'ann', expect: 'expired' },
      ],
    },
    {
      name: 'a code is personal: another user is refused, the owner still can',
      steps: [
        { at: 1 * minute, settle: 'issued' },
        { at: 2 * minute, redeem: 'bob', expect: 'not_owner' },
        { at: 3 * minute, state: 'issued' },
        { at: 4 * minute, redeem: 'ann', expect: 'redeemed' },
        { at: 5 * minute, redeem: 'bob', expect: 'not_owner' },
      ],
    },
    {
      name: 'redeemed before the outcome is recorded: allowed, and the outcome does not undo it',
      steps: [
        { at: 1 * minute, redeem: 'ann', expect: 'redeemed' },
        { at: 2 * minute, settle: 'released' },
        { at: 3 * minute, state: 'redeemed' },
      ],
    },
    {
      name: 'reserved and never settled: expires all the same',
      steps: [
        { at: 48 * hour, state: 'expired' },
        { at: 48 * hour, redeem: 'ann', expect: 'expired' },
      ],
    },
    {
      name: 'delivered once: a failure recorded later changes nothing',
      steps: [
        { at: 1 * minute, settle: 'issued' },
        { at: 2 * minute, settle: 'released' },
        { at: 3 * minute, state: 'issued' },
      ],
    },
  ];

  for (const scenario of scenarios) {
    test(scenario.name, () => {
      let record: CodeRecord = reserveCode({ workspaceId: 'w1', profileId: 'ann', messageKey: 'w1/ann/run/step', kind: 'cart10', code: 'cart-ab3d-k9q2', expiresAt: T0 + 48 * hour, at: T0 });
      assert.equal(record.code, 'CART-AB3D-K9Q2');
      for (const [i, step] of scenario.steps.entries()) {
        const at = T0 + step.at;
        if ('settle' in step) {
          const next = settleCode(record, step.settle, at);
          if (record.status === 'reserved') assert.deepEqual(next, { ...record, status: step.settle, settledAt: at }, `step ${i}`);
          else assert.equal(next, record, `step ${i}: only a reserved code is settled`);
          record = next;
        } else if ('redeem' in step) {
          const result = redeemCode(record, step.redeem, at);
          assert.equal(result.outcome, step.expect, `step ${i}`);
          if (result.outcome === 'redeemed') assert.deepEqual(result.record, { ...record, status: 'redeemed', redeemedAt: at });
          else assert.equal(result.record, record, `step ${i}: a refusal changes nothing`);
          record = result.record!;
        } else {
          assert.equal(codeStateAt(record, at), step.state, `step ${i}`);
        }
      }
    });
  }

  test('an unknown code is not_found', () => {
    assert.deepEqual(redeemCode(null, 'ann', T0), { outcome: 'not_found', record: null });
  });
});
