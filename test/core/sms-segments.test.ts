/**
 * SMS segment counting at its exact boundaries (one SMS, two parts, a part a unit short where an
 * extension character or a surrogate pair would straddle two), and as properties over random
 * texts: the count never falls as a text grows, and matches closed forms for uniform texts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isGsm7, smsSegments, type SmsSegments } from '../../src/core/delivery/sms-segments.js';

const gsm = (segments: number, units: number): SmsSegments => ({ encoding: 'GSM-7', segments, units });
const ucs = (segments: number, units: number): SmsSegments => ({ encoding: 'UCS-2', segments, units });
const a = (n: number): string => 'a'.repeat(n);
/** Cyrillic: one UTF-16 code unit, not in GSM-7. */
const zh = (n: number): string => 'ж'.repeat(n);
const emoji = '😀';

describe('GSM-7 or not', () => {
  test('the whole basic table, the extension table, and what is in neither', () => {
    assert.ok(isGsm7('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'));
    assert.ok(isGsm7('\f^{}\\[~]|€'));
    assert.ok(isGsm7(''));
    // Look-alikes and near misses: small c cedilla, backtick, accented capitals outside the table,
    // the ohm sign (not Greek omega), the escape character itself, a tab, curly quotes.
    for (const char of ['ç', '`', 'À', '\u2126', '\u001b', '\t', '’', '“', 'ж', emoji]) assert.equal(isGsm7(`abc${char}`), false, JSON.stringify(char));
  });

  test('one character outside GSM-7 makes the whole text UCS-2, where extension characters count one unit', () => {
    assert.deepEqual(smsSegments('€{'), gsm(1, 4));
    assert.deepEqual(smsSegments('€{ж'), ucs(1, 3));
    assert.deepEqual(smsSegments(`${a(159)}’`), ucs(3, 160));
  });
});

describe('GSM-7 boundaries', () => {
  const rows: [string, string, SmsSegments][] = [
    ['empty', '', gsm(1, 0)],
    ['160 septets: one SMS', a(160), gsm(1, 160)],
    ['161 septets: two parts', a(161), gsm(2, 161)],
    ['153 × 2 septets: two parts', a(306), gsm(2, 306)],
    ['153 × 2 + 1 septets: three parts', a(307), gsm(3, 307)],
    ['153 × 3 septets: three parts', a(459), gsm(3, 459)],
    ['80 euro signs are 160 septets: one SMS', '€'.repeat(80), gsm(1, 160)],
    ['81 euro signs: two parts of 76 and 5', '€'.repeat(81), gsm(2, 162)],
    ['158 + an extension character = 160: one SMS', `${a(158)}{`, gsm(1, 160)],
    ['159 + an extension character = 161: two parts', `${a(159)}{`, gsm(2, 161)],
    ['151 + € fills the first part exactly (153), then 1', `${a(151)}€${a(8)}`, gsm(2, 161)],
    ['152 + € + 152: € does not fit in the first part, which ends at 152', `${a(152)}€${a(152)}`, gsm(3, 306)],
    ['151 + € + 153: the same 306 septets, € inside the first part', `${a(151)}€${a(153)}`, gsm(2, 306)],
    ['152 + { + 7: the brace moves to the second part', `${a(152)}{${a(7)}`, gsm(2, 161)],
    ['line breaks and form feeds: \\n one septet, \\f two', `${'\n'.repeat(158)}\f`, gsm(1, 160)],
  ];
  for (const [name, text, expected] of rows) test(name, () => assert.deepEqual(smsSegments(text), expected));
});

describe('UCS-2 boundaries', () => {
  const rows: [string, string, SmsSegments][] = [
    ['70 code units: one SMS', zh(70), ucs(1, 70)],
    ['71 code units: two parts', zh(71), ucs(2, 71)],
    ['67 × 2 code units: two parts', zh(134), ucs(2, 134)],
    ['67 × 2 + 1 code units: three parts', zh(135), ucs(3, 135)],
    ['an emoji is two code units: 35 of them are one SMS', emoji.repeat(35), ucs(1, 70)],
    ['36 emoji: parts of 33 (66 units, the 34th would straddle) and 3', emoji.repeat(36), ucs(2, 72)],
    ['68 + an emoji = 70: one SMS', `${zh(68)}${emoji}`, ucs(1, 70)],
    ['69 + an emoji = 71: two parts', `${zh(69)}${emoji}`, ucs(2, 71)],
    ['66 + emoji + 66: the pair does not fit in the first part, which ends at 66', `${zh(66)}${emoji}${zh(66)}`, ucs(3, 134)],
    ['65 + emoji + 67: the same 134 units, the pair inside the first part', `${zh(65)}${emoji}${zh(67)}`, ucs(2, 134)],
    ['a flag is two surrogate pairs, each kept whole', `${zh(66)}🇫🇷${zh(3)}`, ucs(2, 73)],
  ];
  for (const [name, text, expected] of rows) test(name, () => assert.deepEqual(smsSegments(text), expected));
});

describe('properties', () => {
  /** Characters of every kind: basic, extension, non-GSM one unit, surrogate pairs. */
  const char = fc.constantFrom('a', 'Z', ' ', '\n', 'é', 'Δ', '€', '{', '\\', '|', 'ж', 'ç', '’', emoji, '🇫', '𝄞');
  const text = fc.array(char, { maxLength: 500 }).map((chars) => chars.join(''));

  test('segments never fall as a text grows', () => {
    fc.assert(
      fc.property(text, char, (t, c) => {
        const before = smsSegments(t).segments;
        assert.ok(smsSegments(t + c).segments >= before);
        assert.ok(smsSegments(c + t).segments >= before);
      }),
    );
  });

  test('one SMS exactly when the units fit in one; otherwise between the dense and the sparse packing', () => {
    fc.assert(
      fc.property(text, (t) => {
        const { encoding, segments, units } = smsSegments(t);
        const [single, part] = encoding === 'GSM-7' ? [160, 153] : [70, 67];
        assert.equal(encoding, isGsm7(t) ? 'GSM-7' : 'UCS-2');
        assert.equal(units, encoding === 'GSM-7' ? [...t].reduce((n, c) => n + ('€{}\\|'.includes(c) ? 2 : 1), 0) : t.length);
        if (units <= single) return assert.equal(segments, 1);
        // Every part but the last holds at least `part - 1` units: at most one unit is left empty.
        assert.ok(segments >= Math.ceil(units / part), `${segments} parts for ${units} units`);
        assert.ok(segments <= Math.ceil(units / (part - 1)), `${segments} parts for ${units} units`);
      }),
    );
  });

  test('uniform texts match their closed forms', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), (n) => {
        assert.equal(smsSegments(a(n)).segments, n <= 160 ? 1 : Math.ceil(n / 153));
        assert.equal(smsSegments('€'.repeat(n)).segments, 2 * n <= 160 ? 1 : Math.ceil(n / 76));
        assert.equal(smsSegments(zh(n)).segments, n <= 70 ? 1 : Math.ceil(n / 67));
        assert.equal(smsSegments(emoji.repeat(n)).segments, 2 * n <= 70 ? 1 : Math.ceil(n / 33));
      }),
    );
  });
});
