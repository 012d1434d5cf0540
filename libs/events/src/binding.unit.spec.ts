import { headers as createHeaders } from '@nats-io/nats-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeBinary, encodeStructured, modeOf, percentDecode, percentEncode } from './binding.js';
import { createEvent, toJSON, type VigilEvent } from './envelope.js';
import {
  EventTooLargeError,
  InvalidEnvelopeError,
  InvalidEventDataError,
  NotACloudEventError,
  UnknownEventTypeError,
} from './errors.js';
import { dataschemaOf, eventTypes, type EventType } from './registry.js';
import { anyEvent, samples } from './testing/index.js';

const enc = new TextEncoder();
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

function structured(body: unknown, ct = 'application/cloudevents+json') {
  const h = createHeaders();
  h.set('content-type', ct);
  return { data: enc.encode(typeof body === 'string' ? body : JSON.stringify(body)), headers: h };
}

function validBody(type: EventType = 'validation.requested'): Record<string, unknown> {
  return toJSON(createEvent(type, samples[type] as never, { source: 'test' }));
}

describe('structured and binary mode', () => {
  it.each(eventTypes)('round-trips %s in both modes', (type) => {
    const event = createEvent(type, samples[type] as never, {
      source: 'vigil/test',
      extensions: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    }) as VigilEvent;
    const s = encodeStructured(event);
    expect(s.headers.get('content-type')).toBe('application/cloudevents+json');
    expect(s.headers.get('Nats-Msg-Id')).toBe(event.id);
    expect(s.headers.get('traceparent')).toBe(event.extensions['traceparent']);
    expect(modeOf(s)).toBe('structured');
    expect(decodeMessage(s)).toEqual(event);
    const b = encodeBinary(event);
    expect(modeOf(b)).toBe('binary');
    expect(b.headers.get('ce-type')).toBe(type);
    expect(decodeMessage(b)).toEqual(event);
  });

  it('stamps the registry schema version as dataschema', () => {
    const e = createEvent('slo.burn', samples['slo.burn'], { source: 's' });
    expect(e.dataschema).toBe(dataschemaOf('slo.burn'));
    expect(e.dataschema).toBe('urn:vigil:schema:slo.burn:1');
  });

  it('decodes a 1.0.2 structured message that has no headers at all', () => {
    const body = validBody();
    expect(decodeMessage({ data: enc.encode(JSON.stringify(body)) }).id).toBe(body['id']);
  });

  it('round-trips arbitrary valid data of every type in both modes', () => {
    fc.assert(
      fc.property(anyEvent, fc.string({ unit: 'grapheme' }), ({ type, data }, subject) => {
        const event = createEvent(type, data as never, {
          source: 'urn:vigil:prop',
          subject: subject || 'x',
        }) as VigilEvent;
        expect(json(decodeMessage(encodeStructured(event)))).toEqual(json(event));
        expect(json(decodeMessage(encodeBinary(event)))).toEqual(json(event));
      }),
      { numRuns: 300 },
    );
  });
});

describe('percent-encoding of binary-mode headers', () => {
  it('encodes space, quote, percent and non-ASCII as UTF-8 octets', () => {
    expect(percentEncode('Euro € 100%"')).toBe('Euro%20%E2%82%AC%20100%25%22');
    expect(percentDecode('Euro%20%E2%82%AC%20100%25%22', 'x')).toBe('Euro € 100%"');
  });

  it('round-trips any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => percentDecode(percentEncode(s), 'a') === s));
  });

  it('rejects malformed escapes and invalid UTF-8, naming the attribute', () => {
    expect(() => percentDecode('abc%G1', 'subject')).toThrow(/'subject'.*malformed percent-encoding/);
    expect(() => percentDecode('%FF%FE', 'source')).toThrow(/'source'.*not valid UTF-8/);
  });

  it('decodes ce- headers case-insensitively and names a bad one', () => {
    const event = createEvent('sli.observed', samples['sli.observed'], {
      source: 'a',
      subject: 'web 1 €',
    }) as VigilEvent;
    const b = encodeBinary(event);
    expect(b.headers.get('ce-subject')).toBe('web%201%20%E2%82%AC');
    expect(decodeMessage(b).subject).toBe('web 1 €');
    b.headers.set('ce-subject', '%E2%82');
    expect(() => decodeMessage(b)).toThrow(InvalidEnvelopeError);
    expect(() => decodeMessage(b)).toThrow(/'subject'/);
  });
});

describe('errors name what was wrong', () => {
  it.each([
    ['id', (b: Record<string, unknown>) => delete b['id'], /'id': is required/],
    ['source', (b: Record<string, unknown>) => (b['source'] = ''), /'source': must be a non-empty string/],
    ['type', (b: Record<string, unknown>) => (b['type'] = 42), /'type': must be a string/],
    ['specversion', (b: Record<string, unknown>) => (b['specversion'] = '0.3'), /'specversion': must be "1.0"/],
    ['time', (b: Record<string, unknown>) => (b['time'] = 'yesterday'), /'time'/],
    ['extension name', (b: Record<string, unknown>) => (b['Bad-Ext'] = 'x'), /'Bad-Ext': extension names/],
    ['extension value', (b: Record<string, unknown>) => (b['ext'] = { a: 1 }), /'ext': extension values/],
    [
      'datacontenttype',
      (b: Record<string, unknown>) => (b['datacontenttype'] = 'text/plain'),
      /'datacontenttype': must be application\/json/,
    ],
    [
      'dataschema',
      (b: Record<string, unknown>) => (b['dataschema'] = 'urn:vigil:schema:validation.requested:9'),
      /'dataschema'/,
    ],
  ])('envelope: %s', (_name, mutate, message) => {
    const body = validBody();
    mutate(body);
    expect(() => decodeMessage(structured(body))).toThrow(InvalidEnvelopeError);
    expect(() => decodeMessage(structured(body))).toThrow(message);
  });

  it('a body over 256 KiB, refused when encoding and when decoding', () => {
    const big = createEvent('validation.requested', { suite: 'x', reason: 'r'.repeat(300 * 1024) }, { source: 'test' });
    expect(() => encodeStructured(big)).toThrow(EventTooLargeError);
    expect(() => encodeBinary(big)).toThrow(/over the limit of 262144 bytes/);
    expect(() => decodeMessage(structured(toJSON(big)))).toThrow(EventTooLargeError);
    const edge = createEvent(
      'validation.requested',
      { suite: 'x', reason: 'r'.repeat(250 * 1024) },
      { source: 'test' },
    );
    expect(decodeMessage(encodeStructured(edge)).id).toBe(edge.id);
  });

  it('an unknown type', () => {
    const body = { ...validBody(), type: 'nope.never' };
    expect(() => decodeMessage(structured(body))).toThrow(UnknownEventTypeError);
    expect(() => decodeMessage(structured(body))).toThrow(/'nope.never'/);
  });

  it('data: the field path and why', () => {
    const body = validBody('validation.completed');
    (body['data'] as { components: { score: number }[] }).components[0]!.score = 11;
    const err = (() => {
      try {
        decodeMessage(structured(body));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidEventDataError);
    expect((err as InvalidEventDataError).issues[0]?.path).toBe('components[0].score');
    expect((err as Error).message).toMatch(/data\.components\[0\]\.score: .*10/);
  });

  it('data: an unknown field is named', () => {
    const body = validBody();
    (body['data'] as Record<string, unknown>)['suit'] = 'typo';
    expect(() => decodeMessage(structured(body))).toThrow(/data\.suit: unknown field/);
  });

  it('data: a name over 200 characters is refused, free text is not', () => {
    const body = validBody();
    (body['data'] as Record<string, unknown>)['suite'] = 's'.repeat(201);
    expect(() => decodeMessage(structured(body))).toThrow(/data\.suite: must be at most 200 characters/);
    (body['data'] as Record<string, unknown>)['suite'] = 's'.repeat(200);
    (body['data'] as Record<string, unknown>)['reason'] = 'r'.repeat(10_000);
    expect(decodeMessage(structured(body)).data).toMatchObject({ suite: 's'.repeat(200) });
  });

  it('data: missing data', () => {
    const body = validBody();
    delete body['data'];
    expect(() => decodeMessage(structured(body))).toThrow(/data is required/);
  });

  it('not a CloudEvent: bad JSON, invalid UTF-8, arrays, foreign content types', () => {
    expect(() => decodeMessage(structured('{"id":'))).toThrow(NotACloudEventError);
    expect(() => decodeMessage({ data: new Uint8Array([0x7b, 0xff, 0x7d]) })).toThrow(/not valid UTF-8/);
    expect(() => decodeMessage(structured('[1,2]'))).toThrow(/JSON object/);
    expect(() => decodeMessage(structured('{}', 'text/plain'))).toThrow(/content-type 'text\/plain'/);
  });

  it('createEvent refuses invalid data before anything is sent', () => {
    expect(() => createEvent('validation.requested', { suite: '' }, { source: 's' })).toThrow(
      /data\.suite: must not be empty/,
    );
    expect(() =>
      createEvent('chaos.requested', { ...samples['chaos.requested'], target: {} }, { source: 's' }),
    ).toThrow(/data\.target: needs names or labels/);
  });

  it('arbitrary garbage never crashes the decoder: it returns an event or throws a typed error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.json().map((j) => enc.encode(j)),
        ),
        fc.boolean(),
        (data, withCt) => {
          const h = createHeaders();
          if (withCt) h.set('content-type', 'application/cloudevents+json');
          try {
            decodeMessage({ data, headers: h });
          } catch (e) {
            expect((e as { code?: string }).code).toMatch(
              /^(NOT_A_CLOUDEVENT|INVALID_ENVELOPE|UNKNOWN_EVENT_TYPE|INVALID_EVENT_DATA)$/,
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('arbitrary invalid envelopes (property)', () => {
  const required = ['specversion', 'id', 'source', 'type'] as const;
  const optional = ['time', 'subject', 'dataschema', 'datacontenttype'] as const;
  const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object());
  // For an optional attribute null means unset (the JSON format), which the conformance tests cover.
  const setButNotAString = fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.string()), fc.object());

  it('a missing or non-string required attribute is named in the error', () => {
    fc.assert(
      fc.property(
        anyEvent,
        fc.constantFrom(...required),
        fc.option(notAString, { nil: undefined }),
        ({ type, data }, attr, value) => {
          const body = toJSON(createEvent(type, data as never, { source: 'p' }));
          if (value === undefined) delete body[attr];
          else body[attr] = value;
          expect(() => decodeMessage(structured(body))).toThrow(new RegExp(`attribute '${attr}'`));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a non-string optional attribute is named in the error', () => {
    fc.assert(
      fc.property(anyEvent, fc.constantFrom(...optional), setButNotAString, ({ type, data }, attr, value) => {
        const body = toJSON(createEvent(type, data as never, { source: 'p' }));
        body[attr] = value;
        expect(() => decodeMessage(structured(body))).toThrow(new RegExp(`attribute '${attr}'`));
      }),
      { numRuns: 200 },
    );
  });

  it('data with a wrong-typed field names the field path', () => {
    fc.assert(
      fc.property(fc.constantFrom(...eventTypes), (type) => {
        const body = validBody(type);
        const data = body['data'] as Record<string, unknown>;
        const [field] = Object.keys(data).sort();
        data[field!] = { unexpected: true };
        expect(() => decodeMessage(structured(body))).toThrow(InvalidEventDataError);
        expect(() => decodeMessage(structured(body))).toThrow(new RegExp(`data\\.${field}`));
      }),
    );
  });
});

describe('CloudEvents 1.0 conformance details', () => {
  it('a null attribute means unset (JSON format); required ones are still required', () => {
    const body = { ...validBody(), subject: null, time: null, dataschema: null, myext: null };
    const e = decodeMessage(structured(body));
    expect([e.subject, e.time, e.dataschema, e.extensions['myext']]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(() => decodeMessage(structured({ ...validBody(), id: null }))).toThrow(
      "invalid CloudEvent attribute 'id': is required",
    );
  });

  it('time must be an RFC 3339 timestamp: "" and a bare date are refused on decode and by createEvent', () => {
    for (const time of ['', '2026-12-01', 'yesterday']) {
      expect(() => decodeMessage(structured({ ...validBody(), time }))).toThrow(
        `invalid CloudEvent attribute 'time': must be an RFC 3339 timestamp, got ${JSON.stringify(time)}`,
      );
      expect(() => createEvent('validation.requested', samples['validation.requested'], { source: 't', time })).toThrow(
        InvalidEnvelopeError,
      );
    }
    expect(decodeMessage(structured({ ...validBody(), time: '2026-12-01T10:00:00.5+01:00' })).time).toBe(
      '2026-12-01T10:00:00.5+01:00',
    );
  });

  it('integer extensions are 32-bit signed: outside that range they are refused on decode and when emitted', () => {
    expect(() => decodeMessage(structured({ ...validBody(), big: 2 ** 31 }))).toThrow(
      "invalid CloudEvent attribute 'big': extension integers are 32-bit signed (CloudEvents type system), got 2147483648",
    );
    expect(decodeMessage(structured({ ...validBody(), edge: -(2 ** 31) })).extensions['edge']).toBe(-(2 ** 31));
    expect(() =>
      createEvent('validation.requested', samples['validation.requested'], {
        source: 't',
        extensions: { big: 2 ** 40 },
      }),
    ).toThrow(InvalidEnvelopeError);
  });

  it('binary mode: a double-quoted percent-encoded header value is unquoted, then decoded', () => {
    const e = createEvent('validation.requested', samples['validation.requested'], {
      source: 'vigil/test',
      subject: 'a b',
    }) as VigilEvent;
    const m = encodeBinary(e);
    m.headers.set('ce-subject', '"Caf%C3%A9 %22x%22"');
    expect(decodeMessage(m).subject).toBe('Café "x"');
  });
});
