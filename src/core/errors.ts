/**
 * Errors with a stable name and code. Expected outcomes of validation are returned as values
 * (see `Issue`); errors are thrown only for what the caller cannot continue from.
 */

/** One problem with an input, located by a JSON-pointer-like path such as `batch[3].userId`. */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

export const ErrorCode = {
  invalidConfig: 'invalid_config',
  /** A request that cannot be read (a malformed parameter): HTTP 400. */
  invalidRequest: 'invalid_request',
  /** Well-formed input that breaks a rule (an event without a user): HTTP 422. */
  invalidInput: 'invalid_input',
  notFound: 'not_found',
  unauthorized: 'unauthorized',
  storeUnavailable: 'store_unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class NudgeError extends Error {
  override readonly name: string = 'NudgeError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues: readonly Issue[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ConfigError extends NudgeError {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    issues: readonly Issue[],
  ) {
    super(ErrorCode.invalidConfig, `${file}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
}

export function formatIssues(issues: readonly Issue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

/** The message of something thrown, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
