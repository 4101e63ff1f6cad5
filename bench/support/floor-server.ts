/**
 * The floor for ingestion: a bare Fastify 5 server that parses a `/v1/batch` body with Fastify's
 * own JSON parser and answers 200, storing nothing. Nudge cannot be faster than this on the same
 * machine, so Nudge / floor tells how much of the HTTP-and-JSON ceiling the engine keeps.
 *
 * node --import tsx bench/support/floor-server.ts [--port N]   (prints "listening on <url>")
 * GET /stats answers {requests, events}: how many were parsed, to check the load was real.
 */
import Fastify from 'fastify';

const portArg = process.argv.indexOf('--port');
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
let requests = 0;
let events = 0;

app.post('/v1/batch', async (request) => {
  const body = request.body as { batch?: unknown[] };
  requests++;
  events += Array.isArray(body.batch) ? body.batch.length : 0;
  return { success: true };
});
app.get('/stats', async () => ({ requests, events }));

const url = await app.listen({ port, host: '127.0.0.1' });
console.log(`floor server listening on ${url}`);
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
