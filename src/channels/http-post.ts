/**
 * One POST over a channel's keep-alive agent, for providers that speak plain HTTP (webhook, SMS):
 * the answer's status and headers, and the first `readBytes` of its body (0: drained unread, so
 * the connection is reused), or the error that stopped it. A socket silent for `timeoutMs` ends
 * the request with the error `no answer within … ms`. The caller decides what each means.
 */
import http from 'node:http';
import https from 'node:https';

export interface PostAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Up to `readBytes` of the body, as UTF-8; '' when not read. */
  body: string;
}

export interface PostOptions {
  agent: http.Agent;
  headers: http.OutgoingHttpHeaders;
  body: string;
  timeoutMs: number;
  /** How much of the answer's body to keep. Default 0. */
  readBytes?: number;
}

export function post(url: URL, options: PostOptions): Promise<{ answer: PostAnswer } | { error: Error }> {
  const request = url.protocol === 'https:' ? https.request : http.request;
  const readBytes = options.readBytes ?? 0;
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', agent: options.agent, timeout: options.timeoutMs, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      if (readBytes === 0) res.resume();
      else
        res.on('data', (chunk: Buffer) => {
          if (size < readBytes) chunks.push(chunk);
          size += chunk.length;
        });
      res.on('end', () => resolve({ answer: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') } }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on('error', (error) => resolve({ error }));
    req.end(options.body);
  });
}
