import { headers as createHeaders, type MsgHdrs } from '@nats-io/nats-core';
import {
  EventTimeOutOfRangeError,
  EventTooLargeError,
  InvalidEnvelopeError,
  MAX_EVENT_BYTES,
  NotACloudEventError,
  TypeSubjectMismatchError,
} from './errors.js';
import { toJSON, validateEnvelope, type VigilEvent } from './envelope.js';
import { isSubjectOf, subjectOf, type Namespace } from './registry.js';

/**
 * The CloudEvents NATS protocol binding. We publish structured mode (the released 1.0.2 binding:
 * the whole event as JSON in the body, `content-type: application/cloudevents+json`) and decode
 * both structured and binary mode (the 1.0.3 draft: attributes as `ce-` headers with
 * percent-encoded values, `data` as the body).
 */

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';

/** What a NATS message carries: body and headers. */
export interface WireMessage {
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Header values set alongside the body so NATS tooling can read the trace and dedupe id. */
function transportHeaders(event: VigilEvent, h: MsgHdrs): void {
  h.set('Nats-Msg-Id', event.id);
  const { traceparent, tracestate } = event.extensions;
  if (typeof traceparent === 'string') h.set('traceparent', traceparent);
  if (typeof tracestate === 'string' && tracestate !== '') h.set('tracestate', tracestate);
}

/** Structured mode: the event as `application/cloudevents+json`. */
export function encodeStructured(event: VigilEvent): { data: Uint8Array; headers: MsgHdrs } {
  const h = createHeaders();
  h.set('content-type', STRUCTURED_CONTENT_TYPE);
  transportHeaders(event, h);
  return { data: limited(encoder.encode(JSON.stringify(toJSON(event)))), headers: h };
}

/** `data` when it is within {@link MAX_EVENT_BYTES}: the same bound when encoding and decoding. */
function limited(data: Uint8Array): Uint8Array {
  if (data.length > MAX_EVENT_BYTES) throw new EventTooLargeError(data.length, MAX_EVENT_BYTES);
  return data;
}

/** Binary mode (1.0.3 draft): attributes as percent-encoded `ce-` headers, JSON data in the body. */
export function encodeBinary(event: VigilEvent): { data: Uint8Array; headers: MsgHdrs } {
  const h = createHeaders();
  const json = toJSON(event);
  for (const [k, v] of Object.entries(json)) {
    if (k === 'data' || k === 'datacontenttype') continue;
    h.set(`ce-${k}`, percentEncode(String(v)));
  }
  h.set('content-type', event.datacontenttype ?? 'application/json');
  transportHeaders(event, h);
  return { data: limited(encoder.encode(JSON.stringify(event.data))), headers: h };
}

/**
 * Percent-encodes a header value as the CloudEvents HTTP binding (which the NATS 1.0.3 draft
 * follows) requires: space, `"`, `%` and everything outside printable ASCII, as UTF-8 octets.
 */
export function percentEncode(value: string): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp > 0x20 && cp < 0x7f && ch !== '"' && ch !== '%') {
      out += ch;
      continue;
    }
    for (const byte of encoder.encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of {@link percentEncode}; throws on a malformed escape or invalid UTF-8. */
export function percentDecode(value: string, attribute: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === 0x25) {
      const hex = value.slice(i + 1, i + 3);
      // Stryker disable next-line Regex: equivalent, the slice is at most two characters, so either anchor alone decides
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new InvalidEnvelopeError(attribute, `malformed percent-encoding at position ${i}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch > 0x7f) {
      throw new InvalidEnvelopeError(attribute, 'header value has a non-ASCII character that is not percent-encoded');
    } else {
      bytes.push(ch);
    }
  }
  try {
    return strictDecoder.decode(new Uint8Array(bytes));
  } catch {
    throw new InvalidEnvelopeError(attribute, 'percent-encoded value is not valid UTF-8');
  }
}

/** Every value of header `name` (lower case), whatever case the sender wrote it in, in order. */
export function headerValues(h: MsgHdrs | undefined, name: string): string[] {
  if (h === undefined) return [];
  return h.keys().flatMap((k) => (k.toLowerCase() === name ? h.values(k) : []));
}

function headerValue(h: MsgHdrs | undefined, name: string): string | undefined {
  return headerValues(h, name)[0];
}

function parseJsonBody(data: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = strictDecoder.decode(data);
  } catch {
    throw new NotACloudEventError(`${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new NotACloudEventError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Which binding mode a message uses, per the NATS binding's rules. */
export function modeOf(msg: WireMessage): 'structured' | 'binary' {
  const ct = headerValue(msg.headers, 'content-type');
  if (ct !== undefined && ct.toLowerCase().startsWith('application/cloudevents')) return 'structured';
  if (headerValue(msg.headers, 'ce-specversion') !== undefined) return 'binary';
  if (ct === undefined) return 'structured'; // 1.0.2 publishers may send no headers at all
  throw new NotACloudEventError(
    `content-type '${ct}' is neither application/cloudevents+json nor binary mode (no ce-specversion header)`,
  );
}

/** Decodes and validates a NATS message as a vigil event (either binding mode). */
export function decodeMessage(msg: WireMessage): VigilEvent {
  limited(msg.data);
  const mode = modeOf(msg);
  if (mode === 'structured') {
    const ct = headerValue(msg.headers, 'content-type');
    if (ct !== undefined && !/^application\/cloudevents\+json\b/i.test(ct)) {
      throw new NotACloudEventError(`structured content type '${ct}' is not supported; use ${STRUCTURED_CONTENT_TYPE}`);
    }
    const body = parseJsonBody(msg.data, 'structured CloudEvent body');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new NotACloudEventError('structured CloudEvent body must be a JSON object');
    }
    return validateEnvelope(body as Record<string, unknown>);
  }
  const raw: Record<string, unknown> = {};
  // Stryker disable next-line OptionalChaining,ArrayDeclaration: equivalent, binary mode was chosen by a ce-specversion header, so there are headers
  for (const k of msg.headers?.keys() ?? []) {
    const lower = k.toLowerCase();
    if (!lower.startsWith('ce-')) continue;
    const attribute = lower.slice(3);
    if (attribute === 'data' || attribute === 'data_base64') {
      throw new InvalidEnvelopeError(attribute, 'must travel in the message body, not a header');
    }
    // Stryker disable next-line OptionalChaining,StringLiteral: equivalent, k is one of the headers' own keys
    const value = msg.headers?.get(k) ?? '';
    // The binding lets a sender wrap a percent-encoded value in double quotes.
    const unquoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    raw[attribute] = percentDecode(unquoted, attribute);
  }
  const ct = headerValue(msg.headers, 'content-type');
  // Stryker disable next-line ConditionalExpression: equivalent, an undefined attribute is left out of the event as an absent one is
  if (ct !== undefined) raw['datacontenttype'] = ct;
  if (msg.data.length > 0) raw['data'] = parseJsonBody(msg.data, 'binary-mode data');
  return validateEnvelope(raw);
}

/** How far an event's times may run ahead of the stream's clock (unsynchronised hosts). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** How far back an event's times may lie: longer than any window vigil computes over. */
// Stryker disable next-line ArithmeticOperator: static mutant (Stryker's Vitest runner does not import the module again); binding.times.unit.spec.ts pins the value
export const MAX_EVENT_AGE_MS = 400 * 24 * 3_600_000;

/**
 * Calls `f` with every time an event carries: `time`, and data fields named `…At`, `since` or
 * `timestamp` (a naming rule the registry follows). A plain walk: it runs for every event consumed.
 */
function forEachTime(event: VigilEvent, f: (field: string, value: string) => void): void {
  if (event.time !== undefined) f('time', event.time);
  const walk = (v: unknown, path: string): void => {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, a for-in walk finds nothing in a primitive or null; the guard only skips it
    if (typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      // Stryker disable next-line EqualityOperator: equivalent, the element past the end is undefined, which the walk skips
      for (let i = 0; i < v.length; i++) walk(v[i], `${path}[${i}]`);
      return;
    }
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (typeof x === 'string') {
        if (k.endsWith('At') || k === 'since' || k === 'timestamp') f(path === '' ? k : `${path}.${k}`, x);
      } else if (typeof x === 'object' && x !== null) walk(x, path === '' ? k : `${path}.${k}`);
    }
  };
  walk(event.data, '');
}

/**
 * Refuses an event whose times lie more than {@link MAX_CLOCK_SKEW_MS} after `storedAt` (when the
 * stream stored it) or more than {@link MAX_EVENT_AGE_MS} before: whatever reads "the latest"
 * must not be led by a sender's clock, honest or forged.
 */
export function checkEventTimes(event: VigilEvent, storedAt: Date): void {
  const stored = storedAt.getTime();
  forEachTime(event, (field, value) => {
    const t = Date.parse(value);
    if (Number.isNaN(t)) throw new EventTimeOutOfRangeError(field, value, 'is not a time');
    if (t > stored + MAX_CLOCK_SKEW_MS) {
      throw new EventTimeOutOfRangeError(
        field,
        value,
        `is ${describeSpan(t - stored)} after the stream stored the event (${storedAt.toISOString()}); at most ${MAX_CLOCK_SKEW_MS / 60_000} min of clock skew is accepted`,
      );
    }
    if (t < stored - MAX_EVENT_AGE_MS) {
      throw new EventTimeOutOfRangeError(
        field,
        value,
        `is ${describeSpan(stored - t)} before the stream stored the event; at most ${MAX_EVENT_AGE_MS / 86_400_000} days are accepted`,
      );
    }
  });
}

function describeSpan(ms: number): string {
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000 * 2) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}

/**
 * Decodes a message read from the stream of `ns`, and refuses one whose type is not its subject's
 * (a publisher allowed one subject could otherwise pass off an event of another type) or whose
 * times are out of range of when the stream stored it ({@link checkEventTimes}): what a consumer
 * and a replay read.
 */
export function decodeStreamMessage(
  ns: Namespace,
  msg: WireMessage & { readonly subject: string },
  storedAt: Date,
): VigilEvent {
  const event = decodeMessage(msg);
  if (!isSubjectOf(ns, event.type, msg.subject)) {
    throw new TypeSubjectMismatchError(event.type, msg.subject, subjectOf(ns, event.type));
  }
  checkEventTimes(event, storedAt);
  return event;
}
