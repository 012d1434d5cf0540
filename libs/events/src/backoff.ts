import { ExponentialBackoff, noJitterGenerator, type IBackoffFactory } from 'cockatiel';

/** A delay schedule: `initialMs`, then doubling, capped at `maxMs`. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * cockatiel's exponential backoff without jitter: one schedule for the consumers' redeliveries
 * and the relay's publish retries. No jitter, because the delays are promises: the relay sums them
 * into its retry horizon and checks it against the stream's duplicate window.
 */
export function exponentialBackoff(o: BackoffOptions): ExponentialBackoff<number> {
  return new ExponentialBackoff({ generator: noJitterGenerator, initialDelay: o.initialMs, maxDelay: o.maxMs });
}

/** The `n`th delay (from 1) of `backoff`: what a retry policy using it waits before its `n`th retry. */
export function delayOf(backoff: IBackoffFactory<unknown>, n: number): number {
  let b = backoff.next(undefined);
  for (let i = 1; i < n; i++) b = b.next(undefined);
  return b.duration;
}

/** The `n`th delay (from 1) of {@link exponentialBackoff}. */
export function backoffDelay(o: BackoffOptions, n: number): number {
  return delayOf(exponentialBackoff(o), n);
}
