/**
 * The relay's pure decisions: retry schedule, retry horizon versus JetStream's duplicate window,
 * and which publish failures are permanent.
 */

import { createHash } from 'node:crypto';
import { InvalidArgumentError, InvalidSubjectError, MsgHdrsImpl, type MsgHdrs } from '@nats-io/nats-core';
import type { ExponentialBackoff } from 'cockatiel';
import { jetStreamCodes } from '@vigil/events';
import { delayOf, exponentialBackoff, jetStreamCodeOf } from '@vigil/events/internal';
import { PublishRejectedError } from './batch-publisher.js';

export interface RetrySchedule {
  /** Publish attempts of a batch before the circuit breaker opens. @default 5 */
  readonly attempts: number;
  /** Delay before the second attempt; doubles each time. @default 100 ms */
  readonly initialDelayMs: number;
  /** Upper bound of one delay. @default 3000 ms */
  readonly maxDelayMs: number;
  /** How long one publish waits for JetStream's ack. @default 5000 ms */
  readonly publishTimeoutMs: number;
}

export const defaultRetrySchedule: RetrySchedule = {
  attempts: 5,
  initialDelayMs: 100,
  maxDelayMs: 3000,
  publishTimeoutMs: 5000,
};

/** The publisher's retry backoff: the retry policy waits by it, and the horizon is summed from it. */
export function retryBackoff(s: RetrySchedule): ExponentialBackoff<number> {
  return exponentialBackoff({ initialMs: s.initialDelayMs, maxMs: s.maxDelayMs });
}

/** Delay before attempt `n` (2-based: the first retry is attempt 2). */
export function retryDelayMs(s: RetrySchedule, attempt: number): number {
  return delayOf(retryBackoff(s), attempt - 1);
}

/**
 * The longest time between a row's first publish attempt and its last retry under the retry
 * policy: every attempt may wait its full ack timeout, plus the delays between attempts. A copy
 * stored by JetStream whose ack was lost is deduplicated only if the retry comes within the
 * stream's duplicate window, so the window must be at least this long.
 */
export function retryHorizonMs(s: RetrySchedule): number {
  let total = s.attempts * s.publishTimeoutMs;
  for (let a = 2; a <= s.attempts; a++) total += retryDelayMs(s, a);
  return total;
}

/** Margin the duplicate window must leave beyond the horizon (clock skew, scheduling). */
export const HORIZON_MARGIN_MS = 10_000;

/** Null when the window covers the horizon; otherwise the reason the relay must not run. */
export function checkDuplicateWindow(windowMs: number, s: RetrySchedule, stream: string): string | null {
  const horizon = retryHorizonMs(s) + HORIZON_MARGIN_MS;
  if (windowMs >= horizon) return null;
  return (
    `stream ${stream} has a duplicate window of ${(windowMs / 1000).toFixed(1)} s, shorter than the relay's retry horizon ` +
    `of ${(horizon / 1000).toFixed(1)} s (${s.attempts} attempts × ${s.publishTimeoutMs} ms ack timeout + backoff + ${HORIZON_MARGIN_MS / 1000} s margin): ` +
    `a retried publish could be stored twice. Raise the stream's duplicate_window or shorten the retry schedule.`
  );
}

/**
 * Rows whose earlier attempts may have landed in JetStream long enough ago that the duplicate
 * window no longer remembers them (the breaker kept them waiting through an outage): before
 * publishing such a row again the relay looks for it in the stream.
 */
export function needsStreamCheck(
  row: { firstAttemptAt: Date | null },
  now: Date,
  windowMs: number,
  s: RetrySchedule,
): boolean {
  if (row.firstAttemptAt === null) return false;
  return now.getTime() - row.firstAttemptAt.getTime() > windowMs - s.publishTimeoutMs - HORIZON_MARGIN_MS;
}

/** The JetStream API error code of a refused publish, from nats.js or from the relay's own publisher. */
function apiErrorCode(e: unknown): number | undefined {
  return e instanceof PublishRejectedError ? e.errCode : jetStreamCodeOf(e);
}

// What nats.js' `headers().set` accepts: a name of printable ASCII but the colon, a value
// without a line break (it would end the header block).
const headerName = /^[!-9;-~]+$/;
const lineBreak = /[\r\n]/;

/**
 * The NATS headers of one publish: the row's stored headers, then `extra` (the same name
 * replaces a stored one). Checked as `headers().set` checks them, values trimmed as it does, but
 * made in one go: `set` copies and filters the name list twice per header, which made header
 * building cost more than the publish span. Throws nats.js' InvalidArgumentError, naming the
 * header, for one it would refuse: a permanent error of that row alone.
 */
export function publishHeaders(stored: Readonly<Record<string, unknown>>, extra: Record<string, string>): MsgHdrs {
  const record: Record<string, string[]> = {};
  for (const k in stored) {
    const v = stored[k];
    if (!headerName.test(k))
      throw InvalidArgumentError.format(
        'header',
        `stored header name ${JSON.stringify(k)} is not printable ASCII without ':'`,
      );
    if (typeof v !== 'string') throw InvalidArgumentError.format('header', `stored header ${k} is not text`);
    if (lineBreak.test(v)) throw InvalidArgumentError.format('header', `stored header ${k} holds a line break`);
    record[k] = [v.trim()];
  }
  for (const k in extra) record[k] = [extra[k] as string];
  return MsgHdrsImpl.fromRecord(record);
}

/** A publish failure that no retry can fix: the row is marked failed and the rows behind it go on. */
export function isPermanentPublishError(e: unknown): boolean {
  // Client-side: over the server's max_payload, or a malformed header.
  if (e instanceof InvalidArgumentError || e instanceof InvalidSubjectError) return true;
  // Over the stream's max_msg_size. Other API errors (a missing or different stream) are
  // deployment problems that block every row alike: retried, never marked failed.
  return apiErrorCode(e) === jetStreamCodes.StreamMessageExceedsMaximum;
}

/**
 * How the relay finds committed rows. `logical`: it decodes the WAL through a replication slot,
 * in commit order, and nothing but its own progress holds it back. `xmin`: it reads the table
 * below the oldest running transaction, so any open transaction of the server delays events.
 */
export type RelayMode = 'logical' | 'xmin';

/**
 * The mode to run in: a configured one as it is (logical where the server cannot decode is an
 * error, said at start); `auto` takes logical decoding wherever the server has it and the role
 * may replicate.
 */
export function chooseMode(
  configured: RelayMode | 'auto',
  server: { walLevel: string; canReplicate: boolean },
): { mode: RelayMode; warning?: string; error?: string } {
  const remedy =
    'ALTER SYSTEM SET wal_level = logical and restart PostgreSQL (the role needs REPLICATION or superuser)';
  const logical = server.walLevel === 'logical' && server.canReplicate;
  const why =
    server.walLevel !== 'logical'
      ? `wal_level is ${server.walLevel}`
      : 'the database role has neither REPLICATION nor superuser';
  if (configured === 'logical') {
    return logical ? { mode: 'logical' } : { mode: 'logical', error: `RELAY_MODE=logical, but ${why}: ${remedy}` };
  }
  if (configured === 'xmin' || logical) return { mode: configured === 'xmin' ? 'xmin' : 'logical' };
  return {
    mode: 'xmin',
    warning:
      `${why}: the relay falls back to xmin mode, where any transaction left open anywhere on this ` +
      `PostgreSQL server holds every event back until it ends. Remedy: ${remedy}`,
  };
}

/** A WAL position (`16/B374D848`) as a number of bytes. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (m === null) throw new Error(`not a WAL position: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function lsnFromBigInt(n: bigint): string {
  if (n < 0n) throw new Error('a WAL position is not negative');
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * The position to hand to pg-logical-replication's `acknowledge`, which reports its argument + 1
 * as flushed. Reporting a commit's end + 1 could skip a transaction whose commit record starts
 * exactly there after a restart (decoding skips commits before the confirmed position).
 */
export function acknowledgeArgument(confirmed: string): string {
  const n = lsnToBigInt(confirmed);
  return lsnFromBigInt(n === 0n ? 0n : n - 1n);
}

/** The later of two WAL positions. */
export function laterLsn(a: string, b: string): string {
  return lsnToBigInt(a) >= lsnToBigInt(b) ? a : b;
}

/**
 * The replication slot's name for a database: slot names are per server, so two deployments on
 * one server (two databases) need two. Lower case, digits and `_`, at most 63 characters.
 */
export function slotNameFor(database: string): string {
  const base = `vigil_relay_${database.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (base.length <= 63) return base;
  return `${base.slice(0, 54)}_${createHash('sha256').update(database).digest('hex').slice(0, 8)}`;
}

/**
 * The seqs as maximal runs of consecutive values, ascending, duplicates folded: how logical mode
 * records a published batch (one row per run, not an update per row).
 */
export function seqRanges(seqs: readonly string[]): { lo: string[]; hi: string[] } {
  // The difference's sign survives the conversion to a number, however far apart the values are.
  const values = seqs.map((s) => BigInt(s)).sort((a, b) => Number(a - b));
  const lo: bigint[] = [];
  const hi: bigint[] = [];
  for (const v of values) {
    const end = hi[hi.length - 1];
    // Ascending, so v is at least end: the same (a repeat) or the next one extends the run.
    if (end !== undefined && v <= end + 1n) hi[hi.length - 1] = v;
    else {
      lo.push(v);
      hi.push(v);
    }
  }
  return { lo: lo.map(String), hi: hi.map(String) };
}
