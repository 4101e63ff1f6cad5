/**
 * Request bodies as senders really send them: JSON labelled application/json, text/plain (browsers
 * avoiding a preflight) or form-urlencoded (RudderStack's label on gzipped JSON; posthog-js's
 * `data=` field), optionally gzip- or deflate-compressed. The size limit applies to the
 * decompressed body, so a small compressed bomb is refused too.
 */
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

export function installIngestBodyParsing(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding']?.toLowerCase().trim();
    if (!encoding || encoding === 'identity') return payload;
    let decoder: Transform;
    if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip();
    else if (encoding === 'deflate') decoder = createInflate();
    else throw new HttpError(415, 'unsupported_encoding', `Content-Encoding "${encoding}" is not supported (use gzip or deflate)`);
    // Fastify compares the bytes it was sent with Content-Length through this property.
    const counted = decoder as Transform & { receivedEncodedLength: number };
    counted.receivedEncodedLength = 0;
    payload.on('data', (chunk: Buffer) => (counted.receivedEncodedLength += chunk.length));
    payload.on('error', (err) => decoder.destroy(err));
    return (payload as Readable).pipe(decoder);
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, parseBody(body as Buffer, request.headers['content-type'] ?? ''));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

export function parseBody(body: Buffer, contentType: string): unknown {
  if (body.length === 0) throw new HttpError(400, 'invalid_json', 'body: empty; expected JSON');
  // A byte-order mark is allowed before JSON (RFC 8259 §8.1 lets parsers ignore it); JSON.parse is not.
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') return parseJson(text);
  if (contentType.includes('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(text);
    const data = form.get('data');
    if (data !== null) {
      const json = data.trimStart().startsWith('{') || data.trimStart().startsWith('[') ? data : Buffer.from(data, 'base64').toString('utf8');
      return parseJson(json, 'data');
    }
    return Object.fromEntries(form);
  }
  return parseJson(text);
}

function parseJson(text: string, field = 'body'): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `${field}: not valid JSON (${(error as Error).message})`);
  }
}
