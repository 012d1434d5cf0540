/**
 * `@vigil/events/internal`: the wire and topology details vigil's own packages share (the relay's
 * backoff, the codes it reads, the consumer configuration the tests compare). Not for tools: they
 * may change with any release.
 */
export { modeOf, percentEncode, percentDecode } from './binding.js';
export {
  consumerConfig,
  supportsMultiFilter,
  eventsStreamConfig,
  deadLetterStreamConfig,
  jetStreamCodeOf,
} from './topology.js';
export { retryDelay } from './consume.js';
export { dispositionOf, isDecodeError } from './errors.js';
export { backoffDelay, delayOf, exponentialBackoff, type BackoffOptions } from './backoff.js';
