/**
 * The floor of the dispatch benchmark: the same messages sent straight through the transport that
 * Nudge's channel uses, with nothing of Nudge around it (no outbox, policy, templates, links or
 * bookkeeping). What it sends per message is the caller's; this module owns only the pacing and
 * the transport:
 *
 * - webhook: `node:http` POSTs over a keep-alive agent with as many sockets as requests in flight,
 *   as the webhook channel does;
 * - SMTP: a nodemailer pooled transport with Nudge's pool settings (5 connections, one requeue).
 *
 * Each message goes out no earlier than its due time, in order of due time, with at most
 * `concurrency` in flight (Nudge's dispatcher default is 256).
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import type { SendMailOptions } from 'nodemailer';

export interface FloorMessage {
  key: string;
  dueAt: number;
}

export interface FloorResult {
  /** Sends that did not end in acceptance (a non-2xx status, an SMTP error, a lost connection). */
  errors: number;
  firstError: string | null;
}

/** Nudge's email channel pool: `maxConnections` default and its single requeue. */
export const smtpPool = { maxConnections: 5, maxRequeues: 1 } as const;

/** Runs `send` for every message, each at or after its due time, at most `concurrency` at once. */
async function paced<M extends FloorMessage>(messages: readonly M[], concurrency: number, send: (m: M) => Promise<void>): Promise<FloorResult> {
  const result: FloorResult = { errors: 0, firstError: null };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < messages.length; i = next++) {
      const m = messages[i]!;
      // A timer may fire a millisecond early by the wall clock: check again on waking.
      for (let waitMs = m.dueAt - Date.now(); waitMs > 0; waitMs = m.dueAt - Date.now()) await sleep(waitMs);
      try {
        await send(m);
      } catch (error) {
        result.errors++;
        result.firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
  return result;
}

/** POSTs `bodyOf(m)` to `url` for each message, its key in `Idempotency-Key`. */
export async function webhookFloor<M extends FloorMessage>(url: string, messages: readonly M[], concurrency: number, bodyOf: (m: M) => string): Promise<FloorResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const post = (m: M) =>
    new Promise<void>((resolve, reject) => {
      const body = bodyOf(m);
      const req = http.request(
        target,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': m.key } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST ${url}: HTTP ${res.statusCode}`))));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    return await paced(messages, concurrency, post);
  } finally {
    agent.destroy();
  }
}

/** Sends `mailOf(m)` for each message through a pooled nodemailer transport to `host:port`. */
export async function smtpFloor<M extends FloorMessage>(host: string, port: number, messages: readonly M[], concurrency: number, mailOf: (m: M) => SendMailOptions): Promise<FloorResult> {
  const transport = nodemailer.createTransport({ host, port, secure: false, pool: true, ...smtpPool, disableFileAccess: true, disableUrlAccess: true });
  try {
    return await paced(messages, concurrency, async (m) => {
      const info = await transport.sendMail(mailOf(m));
      if (info.accepted.length === 0) throw new Error(`recipient not accepted: ${info.response}`);
    });
  } finally {
    transport.close();
  }
}
