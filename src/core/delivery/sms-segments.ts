/**
 * How many SMS a text takes (3GPP TS 23.038 and 23.040), to refuse a text that would be split into
 * too many paid parts before it is sent.
 *
 * - GSM-7: a text whose every character is in the GSM 03.38 default alphabet or its extension
 *   table. A basic character is one septet; an extension character (`^ { } \ [ ~ ] | €` and form
 *   feed) is two (an escape, then the character). One SMS holds 160 septets; a longer text is sent
 *   in parts of at most 153 (7 septets go to the concatenation header), and an extension
 *   character is never split between two parts: where it does not fit, its part ends a septet short.
 * - UCS-2: any other text, counted in UTF-16 code units. One SMS holds 70; parts hold 67, and a
 *   surrogate pair (an emoji, a rare CJK character) is never split between two parts.
 *
 * `units` is the whole text's septets (GSM-7) or code units (UCS-2). An empty text is one SMS.
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegments {
  encoding: SmsEncoding;
  segments: number;
  units: number;
}

const basic = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const extension = new Set('\f^{}\\[~]|€');

const limits: Record<SmsEncoding, { single: number; part: number }> = {
  'GSM-7': { single: 160, part: 153 },
  'UCS-2': { single: 70, part: 67 },
};

/** Septets of one character in GSM-7: 1, 2 (extension table), or 0 when it has none. */
function septetsOf(char: string): number {
  return basic.has(char) ? 1 : extension.has(char) ? 2 : 0;
}

export function isGsm7(text: string): boolean {
  for (const char of text) if (septetsOf(char) === 0) return false;
  return true;
}

export function smsSegments(text: string): SmsSegments {
  const encoding: SmsEncoding = isGsm7(text) ? 'GSM-7' : 'UCS-2';
  // Per character (code point): its septets, or its UTF-16 code units (2 for a surrogate pair).
  const sizes = Array.from(text, encoding === 'GSM-7' ? septetsOf : (char: string) => char.length);
  const units = sizes.reduce((sum, size) => sum + size, 0);
  const { single, part } = limits[encoding];
  if (units <= single) return { encoding, segments: 1, units };
  let segments = 1;
  let filled = 0;
  for (const size of sizes) {
    if (filled + size > part) {
      segments += 1;
      filled = 0;
    }
    filled += size;
  }
  return { encoding, segments, units };
}
