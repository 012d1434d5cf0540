import { trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

/** Paths pino blanks in every log line: credentials never reach the logs. */
export const redactPaths = [
  'password',
  '*.password',
  'pass',
  '*.pass',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
  '*.connectionString',
];

/** JSON logs to stdout with the service name and the active span's trace and span ids. */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      redact: { paths: redactPaths, censor: '[redacted]' },
      mixin() {
        const sc = trace.getActiveSpan()?.spanContext();
        return sc ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** A URL (or comma-separated URLs) with each password replaced, for logs and summaries. */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((one) => {
      try {
        const u = new URL(one.trim());
        if (u.password) u.password = '***';
        return u.toString();
      } catch {
        return '[unparseable url]';
      }
    })
    .join(',');
}
