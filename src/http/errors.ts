/** Maps failures to HTTP statuses and one JSON error shape: `{error, message, issues?}`. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { NudgeError, ErrorCode, type Issue } from '../core/errors.js';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
    readonly issues: readonly Issue[] = [],
  ) {
    super(message);
  }
}

const statusOfCode: Record<ErrorCode, number> = {
  invalid_config: 500,
  invalid_request: 400,
  invalid_input: 422,
  not_found: 404,
  unauthorized: 401,
  store_unavailable: 503,
};

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError | NudgeError | Error, request, reply) => {
    if (err instanceof HttpError) {
      return reply.status(err.statusCode).send({ error: err.error, message: err.message, ...(err.issues.length ? { issues: err.issues } : {}) });
    }
    if (err instanceof NudgeError) {
      return reply.status(statusOfCode[err.code]).send({ error: err.code, message: err.message, ...(err.issues.length ? { issues: err.issues } : {}) });
    }
    const fe = err as FastifyError & { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; validationContext?: string };
    if (fe.validation) {
      const issues = fe.validation.map((v) => ({
        path: [fe.validationContext ?? 'body', ...v.instancePath.split('/').slice(1)].join('.') + (v.params?.['missingProperty'] ? `.${String(v.params['missingProperty'])}` : ''),
        message: v.message ?? 'invalid',
      }));
      return reply.status(400).send({ error: 'invalid_request', message: fe.message, issues });
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ error: 'payload_too_large', message: `body is larger than the ${request.routeOptions.bodyLimit ?? 0}-byte limit` });
    }
    if (fe.code === 'Z_DATA_ERROR' || fe.code === 'Z_BUF_ERROR') {
      return reply.status(400).send({ error: 'invalid_encoding', message: 'body: not valid gzip data' });
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: fe.code ?? 'bad_request', message: fe.message });
    }
    request.log.error({ err }, 'request failed');
    return reply.status(503).send({ error: 'unavailable', message: 'the request could not be completed; retry later' });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
