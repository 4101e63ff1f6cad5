/**
 * CORS for browser senders on the ingestion routes: any origin may send events (they are
 * authenticated by the write key, not by cookies), and preflights are answered at once.
 */
import type { FastifyInstance } from 'fastify';

const allowedHeaders = 'Content-Type, Authorization, Content-Encoding, X-Requested-With';

export function installCors(app: FastifyInstance, methods = 'GET, POST, OPTIONS'): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    reply.header('Access-Control-Allow-Origin', origin ?? '*');
    if (origin) reply.header('Vary', 'Origin');
    if (request.method === 'OPTIONS') {
      reply
        .header('Access-Control-Allow-Methods', methods)
        .header('Access-Control-Allow-Headers', request.headers['access-control-request-headers'] ?? allowedHeaders)
        .header('Access-Control-Max-Age', '86400')
        .status(204)
        .send();
    }
  });
}
