/**
 * SQLSTATEs that mean the server cannot serve this session right now, not that the statement is
 * wrong: connection exceptions (class 08), shutdown in progress (57P01-57P03), too many
 * connections (53300), and a standby that cannot take writes yet (25006).
 */
const unavailableStates = new Set(['57P01', '57P02', '57P03', '53300', '25006']);

const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// node-postgres reports a lost or unobtainable connection with plain Errors carrying these texts.
const unavailableMessages = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /cannot use a pool after calling end/i,
];

/**
 * True when an error (or any error in its `cause` chain) says that PostgreSQL is unreachable or
 * restarting: a consumer then holds its message and tries again instead of spending a delivery.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  for (let cur = e, depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (typeof cur !== 'object') return false;
    const { code, message, cause } = cur as { code?: unknown; message?: unknown; cause?: unknown };
    if (
      typeof code === 'string' &&
      (code.startsWith('08') || unavailableStates.has(code) || unavailableCodes.has(code))
    ) {
      return true;
    }
    if (typeof message === 'string' && unavailableMessages.some((r) => r.test(message))) return true;
    if (cur instanceof AggregateError && cur.errors.some((x) => isDatabaseUnavailable(x))) return true;
    cur = cause;
  }
  return false;
}
