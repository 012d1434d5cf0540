import fc from 'fast-check';
import { parseData } from '../envelope.js';
import { MAX_EVENT_BYTES } from '../errors.js';
import { eventTypes, subjectOf, type EventType, type Namespace } from '../registry.js';
import { dataArbitraries } from './arbitraries.js';
import { samples } from './samples.js';

/** A message as a foreign publisher could put it on a subject: any bytes, any headers. */
export interface RawMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** What is wrong with it, for the test's failure messages. */
  readonly why: string;
}

const enc = new TextEncoder();

/**
 * Strings that have broken other systems: NUL and control bytes, lone surrogates, SQL and
 * template injection, path traversal, right-to-left overrides, emoji, very long ones.
 */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    "'; drop table outbox.events; --",
    '" or 1=1 --',
    '${jndi:ldap://x/a}',
    '{{7*7}}',
    '../../../../etc/passwd',
    '\u202egnp.exe',
    '💥🔥',
    '\r\nSet-Cookie: x=y',
    '<script>alert(1)</script>',
    ' ',
    '%00%ff',
    'events.>',
    '*',
  ),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ minLength: 4000, maxLength: 12_000 }),
);

const attributeValue = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
);

/** The subjects of a namespace a hostile message may land on, including one no type has. */
const subjectsOf = (ns: Namespace) =>
  fc.constantFrom(...eventTypes.map((t) => subjectOf(ns, t)), `${ns.subjectPrefix}.not.a.type`);

const validBody = (type: EventType, data: unknown): Record<string, unknown> => ({
  specversion: '1.0',
  id: 'hostile-0',
  source: 'vigil/hostile',
  type,
  time: new Date().toISOString(),
  datacontenttype: 'application/json',
  data,
});

const structured = (subject: string, body: unknown, why: string): RawMessage => ({
  subject,
  data: enc.encode(JSON.stringify(body)),
  headers: { 'content-type': 'application/cloudevents+json' },
  why,
});

const required = ['specversion', 'id', 'source', 'type'] as const;

/**
 * Messages every vigil consumer must refuse before its handler: each breaks the CloudEvents
 * envelope, the registry or the size limit in at least one way, and carries hostile strings in
 * the fields it keeps. A consumer dead-letters each with a reason and goes on. Long because it is
 * one list of the ways to break a message, read best in one place.
 */
export function hostileMessages(ns: Namespace): fc.Arbitrary<RawMessage> {
  const subject = subjectsOf(ns);
  const type = fc.constantFrom(...eventTypes);
  return fc.oneof(
    // Not UTF-8.
    fc.tuple(subject, fc.uint8Array({ maxLength: 200 })).map(([s, bytes]) => ({
      subject: s,
      data: Uint8Array.from([0xff, 0xfe, ...bytes]),
      headers: { 'content-type': 'application/cloudevents+json' },
      why: 'invalid UTF-8',
    })),
    // Not JSON.
    fc
      .tuple(subject, hostileString)
      .map(([s, text]) => ({ ...structured(s, '', 'not JSON'), data: enc.encode(`{"specversion": ${text}`) })),
    // JSON, but not an object.
    fc
      .tuple(subject, fc.oneof(fc.array(attributeValue), hostileString, fc.integer(), fc.constant(null)))
      .map(([s, v]) => structured(s, v, 'a JSON body that is not an object')),
    // A required attribute missing.
    fc.tuple(subject, type, fc.constantFrom(...required)).map(([s, t, drop]) => {
      const body = validBody(t, samples[t]);
      delete body[drop];
      return structured(s, body, `no '${drop}'`);
    }),
    // A required attribute of the wrong type or empty.
    fc
      .tuple(subject, type, fc.constantFrom(...required), fc.oneof(fc.integer(), fc.constant(''), fc.constant(null)))
      .map(([s, t, attr, v]) => structured(s, { ...validBody(t, samples[t]), [attr]: v }, `'${attr}' = ${String(v)}`)),
    // A type the registry does not have.
    fc.tuple(subject, hostileString).map(([s, t]) => structured(s, validBody(t as EventType, {}), 'an unknown type')),
    // Data of the wrong shape for its type.
    fc
      .tuple(subject, type, fc.oneof(hostileString, fc.integer(), fc.array(attributeValue), fc.constant(null)))
      .map(([s, t, data]) => structured(s, validBody(t, data), 'data that is not an object')),
    // A required data field of the wrong type.
    fc
      .tuple(subject, type, fc.oneof(fc.integer(), fc.array(hostileString), fc.dictionary(hostileString, fc.integer())))
      .map(([s, t, wrong]) => {
        const data = { ...(samples[t] as Record<string, unknown>) };
        const field = Object.keys(data).find((k) => typeof data[k] === 'string') ?? Object.keys(data)[0]!;
        data[field] = wrong;
        return structured(s, validBody(t, data), `data.${field} of the wrong type`);
      }),
    // An extension with an illegal name, or a value that is not a scalar.
    fc
      .tuple(subject, type, hostileString, attributeValue)
      .map(([s, t, v, w]) =>
        structured(s, { ...validBody(t, samples[t]), 'Bad-Name!': v, ext: [w] }, 'an illegal extension'),
      ),
    // Over the size limit, otherwise valid.
    fc.tuple(subject, type).map(([s, t]) => {
      const body = validBody(t, samples[t]);
      body['padding'] = 'x'.repeat(MAX_EVENT_BYTES + 16);
      return structured(s, body, 'over the size limit');
    }),
    // Binary mode with a broken attribute header.
    fc.tuple(subject, type, fc.constantFrom('%G1', '%FF%FE', '2.0')).map(([s, t, bad]) => ({
      subject: s,
      data: enc.encode(JSON.stringify(samples[t])),
      headers: {
        'content-type': 'application/json',
        'ce-specversion': bad === '2.0' ? '2.0' : '1.0',
        'ce-id': 'hostile-1',
        'ce-source': bad === '2.0' ? 'vigil/hostile' : `vigil/${bad}`,
        'ce-type': t,
      },
      why: `binary mode with ${bad}`,
    })),
    // A content type that is not CloudEvents JSON.
    fc.tuple(subject, type).map(([s, t]) => ({
      ...structured(s, validBody(t, samples[t]), 'content type application/cloudevents+xml'),
      headers: { 'content-type': 'application/cloudevents+xml' },
    })),
  );
}

/**
 * Valid events (the registry accepts them) with hostile strings wherever a string goes: consumers
 * must handle each, or dead-letter it with a reason, and never crash.
 */
export function hostileValidEvents(): fc.Arbitrary<{ type: EventType; data: unknown }> {
  const pick = <T extends EventType>(t: T) =>
    dataArbitraries[t]
      .chain((data) =>
        fc.array(hostileString, { minLength: 8, maxLength: 8 }).map((words) => {
          // Names are bounded (200 characters): where the long strings make the event invalid,
          // the same strings cut to that length still carry every hostile character.
          const full = replaceStrings(data, words);
          const cut = () =>
            replaceStrings(
              data,
              words.map((w) => w.slice(0, 200)),
            );
          return { type: t, data: valid(t, full) ? full : cut() };
        }),
      )
      .filter(({ type, data }) => valid(type, data));
  return fc.oneof(
    pick('validation.requested'),
    pick('sli.observed'),
    pick('chaos.abort.requested'),
    pick('validation.completed'),
  );
}

function valid(type: EventType, data: unknown): boolean {
  try {
    parseData(type, data);
    return true;
  } catch {
    return false;
  }
}

/** Every string in `v` (keys too) replaced by the next of `words`, cycling. */
function replaceStrings(v: unknown, words: readonly string[]): unknown {
  let i = 0;
  const next = () => words[i++ % words.length]!;
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return timeLike(x) ? x : next();
    if (Array.isArray(x)) return x.map(walk);
    if (x !== null && typeof x === 'object') {
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
    }
    return x;
  };
  return walk(v);
}

// Times and enum values keep their form, or the event would no longer be valid.
const timeLike = (s: string) =>
  /^\d{4}-\d\d-\d\dT/.test(s) || ['PASS', 'WARN', 'FAIL', 'ERROR', 'firing', 'resolved', 'page', 'ticket'].includes(s);
