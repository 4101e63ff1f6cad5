/**
 * Reads a message the demo's mail catcher received (demo-mail.ts), for the mail viewer: its
 * headers (unfolded, RFC 2047 encoded words decoded) and its first text/plain and text/html
 * bodies (multipart walked up to 8 levels deep, quoted-printable and base64 decoded, in their
 * charset; attachments skipped). Pure; a malformed message is read as far as it can be, never
 * thrown on.
 */

export interface ReadMail {
  /** Every header, in order: its name as written and its decoded value. */
  headers: [string, string][];
  subject: string;
  from: string;
  to: string;
  text: string | null;
  html: string | null;
}

/** Lines of a message or part (latin1, so that every byte stays as it was) before decoding. */
interface Entity {
  headers: [string, string][];
  body: string;
}

const maxDepth = 8;

export function readMail(raw: Buffer): ReadMail {
  const message = entityOf(raw.toString('latin1'));
  const found: { text: string | null; html: string | null } = { text: null, html: null };
  walk(message, found, 0);
  const headers = message.headers.map(([name, value]): [string, string] => [name, decodeWords(Buffer.from(value, 'latin1').toString('utf8'))]);
  const header = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1] ?? '';
  return { headers, subject: header('subject'), from: header('from'), to: header('to'), ...found };
}

function entityOf(raw: string): Entity {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const headers = head
    .replace(/\r\n(?=[ \t])/g, '')
    .split('\r\n')
    .flatMap((line): [string, string][] => {
      const colon = line.indexOf(':');
      return colon > 0 ? [[line.slice(0, colon).trim(), line.slice(colon + 1).trim()]] : [];
    });
  return { headers, body: split === -1 ? '' : raw.slice(split + 4) };
}

const headerOf = (e: Entity, name: string): string | undefined => e.headers.find(([n]) => n.toLowerCase() === name)?.[1];

/** `type/subtype` in lower case and the parameters (`charset`, `boundary` …) of a Content-Type. */
function contentTypeOf(value: string | undefined): { type: string; params: Map<string, string> } {
  const text = value ?? 'text/plain';
  const params = new Map<string, string>();
  for (const m of text.matchAll(/;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g)) {
    params.set(m[1]!.toLowerCase(), m[2] === undefined ? m[3]! : m[2].replace(/\\(.)/g, '$1'));
  }
  return { type: text.split(';')[0]!.trim().toLowerCase(), params };
}

function walk(e: Entity, found: { text: string | null; html: string | null }, depth: number): void {
  const { type, params } = contentTypeOf(headerOf(e, 'content-type'));
  if (type.startsWith('multipart/')) {
    const boundary = params.get('boundary');
    if (boundary === undefined || depth >= maxDepth) return;
    for (const part of partsOf(e.body, boundary)) walk(entityOf(part), found, depth + 1);
    return;
  }
  if (/^\s*attachment/i.test(headerOf(e, 'content-disposition') ?? '')) return;
  const charset = params.get('charset') ?? 'utf-8';
  if (type === 'text/plain' && found.text === null) found.text = decodedBody(e, charset);
  if (type === 'text/html' && found.html === null) found.html = decodedBody(e, charset);
}

/** The parts between `--boundary` lines, up to `--boundary--` (or the end, if it is missing). */
function partsOf(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of body.split('\r\n')) {
    const trimmed = line.trimEnd();
    const closing = trimmed === `--${boundary}--`;
    if (closing || trimmed === `--${boundary}`) {
      if (current) parts.push(current.join('\r\n'));
      if (closing) return parts;
      current = [];
    } else current?.push(line);
  }
  if (current) parts.push(current.join('\r\n'));
  return parts;
}

function decodedBody(e: Entity, charset: string): string {
  const encoding = (headerOf(e, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  const bytes =
    encoding === 'base64'
      ? Buffer.from(e.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')
      : encoding === 'quoted-printable'
        ? quotedPrintable(e.body.replace(/=\r\n/g, ''))
        : Buffer.from(e.body, 'latin1');
  return textOf(bytes, charset).replace(/\r\n/g, '\n');
}

function quotedPrintable(text: string): Buffer {
  return Buffer.from(text.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
}

/** Bytes in a charset; UTF-8 when the charset is unknown. */
function textOf(bytes: Uint8Array, charset: string): string {
  try {
    return new TextDecoder(charset.replace(/\*.*$/, '')).decode(bytes);
  } catch {
    return new TextDecoder().decode(bytes);
  }
}

/** RFC 2047: `=?charset?Q|B?…?=` words decoded; the blanks between two adjacent words dropped. */
function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?\s]+\?[QB]\?[^?\s]*\?=)\s+(?==\?)/gi, '$1')
    .replace(/=\?([^?\s]+)\?([QB])\?([^?\s]*)\?=/gi, (_, charset: string, encoding: string, text: string) =>
      textOf(encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : quotedPrintable(text.replace(/_/g, ' ')), charset),
    );
}
