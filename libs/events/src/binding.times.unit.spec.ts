import { headers as createHeaders } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import {
  MAX_CLOCK_SKEW_MS,
  MAX_EVENT_AGE_MS,
  checkEventTimes,
  decodeMessage,
  decodeStreamMessage,
  encodeBinary,
  encodeStructured,
  percentDecode,
  percentEncode,
} from './binding.js';
import { createEvent, type VigilEvent } from './envelope.js';
import {
  EventTimeOutOfRangeError,
  EventTooLargeError,
  InvalidEnvelopeError,
  MAX_EVENT_BYTES,
  NotACloudEventError,
  TypeSubjectMismatchError,
} from './errors.js';
import { namespaceFor, subjectOf } from './registry.js';
import { samples } from './testing/index.js';

const storedAt = new Date('2026-11-22T10:00:00.000Z');
const stored = storedAt.getTime();
const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** An event as a decoder hands it on, its data taken as given: the walk is what is tested. */
function eventWith(data: unknown, time?: string): VigilEvent {
  const e = createEvent('sli.observed', samples['sli.observed'], { source: 'test' });
  return { ...e, time, data } as unknown as VigilEvent;
}

function refusal(event: VigilEvent): EventTimeOutOfRangeError {
  try {
    checkEventTimes(event, storedAt);
  } catch (e) {
    expect(e).toBeInstanceOf(EventTimeOutOfRangeError);
    return e as EventTimeOutOfRangeError;
  }
  throw new Error('checkEventTimes accepted the event');
}

describe('event times against the stream clock', () => {
  it('the bounds are 5 minutes ahead and 400 days back', () => {
    expect(MAX_CLOCK_SKEW_MS).toBe(5 * MIN);
    expect(MAX_EVENT_AGE_MS).toBe(400 * DAY);
  });

  it('a time exactly 5 minutes ahead is accepted; a millisecond more is refused, with the skew named', () => {
    expect(() => checkEventTimes(eventWith({}, iso(stored + 5 * MIN)), storedAt)).not.toThrow();
    const e = refusal(eventWith({}, iso(stored + 5 * MIN + 1)));
    expect(e.field).toBe('time');
    expect(e.message).toBe(
      `time "${iso(stored + 5 * MIN + 1)}" is 5 min after the stream stored the event (2026-11-22T10:00:00.000Z); at most 5 min of clock skew is accepted`,
    );
  });

  it('a time exactly 400 days back is accepted; a millisecond more is refused, with the age named', () => {
    expect(() => checkEventTimes(eventWith({}, iso(stored - 400 * DAY)), storedAt)).not.toThrow();
    const e = refusal(eventWith({}, iso(stored - 400 * DAY - 1)));
    expect(e.message).toBe(
      `time "${iso(stored - 400 * DAY - 1)}" is 400 days before the stream stored the event; at most 400 days are accepted`,
    );
  });

  it('the distance reads in minutes below an hour, in hours below two days, else in days', () => {
    const ahead = (ms: number) =>
      refusal(eventWith({}, iso(stored + ms)))
        .message.split(' is ')[1]
        ?.split(' after')[0];
    expect(ahead(30 * MIN)).toBe('30 min');
    expect(ahead(HOUR - 1)).toBe('60 min');
    expect(ahead(HOUR)).toBe('1 h');
    expect(ahead(47 * HOUR)).toBe('47 h');
    expect(ahead(2 * DAY - 1)).toBe('48 h');
    expect(ahead(2 * DAY)).toBe('2 days');
    expect(ahead(9 * DAY)).toBe('9 days');
    const back = refusal(eventWith({}, iso(stored - 500 * DAY))).message;
    expect(back).toContain(' is 500 days before ');
  });

  it('a time that does not parse is refused as not a time', () => {
    const e = refusal(eventWith({}, 'yesterday'));
    expect(e.message).toBe('time "yesterday" is not a time');
  });

  it('data fields named …At, since and timestamp are checked wherever they are, named by their path', () => {
    const late = iso(stored + HOUR);
    expect(refusal(eventWith({ startedAt: late })).field).toBe('startedAt');
    expect(refusal(eventWith({ since: late })).field).toBe('since');
    expect(refusal(eventWith({ timestamp: late })).field).toBe('timestamp');
    expect(refusal(eventWith({ a: { b: { seenAt: late } } })).field).toBe('a.b.seenAt');
    expect(refusal(eventWith({ runs: [{}, { steps: [{ doneAt: late }] }] })).field).toBe('runs[1].steps[0].doneAt');
    expect(refusal(eventWith([{ since: late }])).field).toBe('[0].since');
    expect(refusal(eventWith({ list: [[{ since: late }]] })).field).toBe('list[0][0].since');
  });

  it('other fields, other value types and the event time left unset are not read as times', () => {
    const event = eventWith({
      format: 'garbage',
      Atlas: 'garbage',
      sinceWhen: 'garbage',
      timestamps: 'garbage',
      startedAt: 5,
      nothing: null,
      list: ['garbage', 1, null],
      nested: { note: 'garbage', empty: {} },
    });
    expect(() => checkEventTimes(event, storedAt)).not.toThrow();
  });

  it('the event time is checked before its data', () => {
    const late = iso(stored + HOUR);
    expect(refusal(eventWith({ since: late }, late)).field).toBe('time');
  });

  it('a fresh event at the stream clock passes', () => {
    expect(() =>
      checkEventTimes(
        eventWith({ startedAt: iso(stored), items: [{ since: iso(stored - DAY) }] }, iso(stored)),
        storedAt,
      ),
    ).not.toThrow();
  });
});

describe('decoding what a stream holds', () => {
  const ns = namespaceFor('t1');
  const event = createEvent('sli.observed', samples['sli.observed'], { source: 'test', time: iso(stored) });

  it('an event on its own subject is decoded and its times checked', () => {
    const msg = { ...encodeStructured(event), subject: subjectOf(ns, 'sli.observed') };
    expect(decodeStreamMessage(ns, msg, storedAt)).toEqual(event);
    expect(() => decodeStreamMessage(ns, msg, new Date(stored + 401 * DAY))).toThrow(EventTimeOutOfRangeError);
  });

  it("an event on another type's subject is refused, naming both subjects", () => {
    const msg = { ...encodeStructured(event), subject: subjectOf(ns, 'anomaly.detected') };
    expect(() => decodeStreamMessage(ns, msg, storedAt)).toThrow(TypeSubjectMismatchError);
    expect(() => decodeStreamMessage(ns, msg, storedAt)).toThrow(
      `event type 'sli.observed' arrived on subject '${subjectOf(ns, 'anomaly.detected')}'; its subject is '${subjectOf(ns, 'sli.observed')}'`,
    );
  });
});

describe('binary mode on the wire', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const event = createEvent('sli.observed', samples['sli.observed'], {
    source: 'test',
    extensions: { traceparent, tracestate: 'vendor=1' },
  });

  it('carries the id, the trace headers and the JSON content type beside the ce- headers', () => {
    const b = encodeBinary(event);
    expect(b.headers.get('Nats-Msg-Id')).toBe(event.id);
    expect(b.headers.get('traceparent')).toBe(traceparent);
    expect(b.headers.get('tracestate')).toBe('vendor=1');
    expect(b.headers.get('content-type')).toBe('application/json');
    expect(b.headers.has('ce-data')).toBe(false);
    expect(b.headers.has('ce-datacontenttype')).toBe(false);
    expect(b.headers.get('ce-id')).toBe(event.id);
  });

  it('an event without a data content type is sent as application/json', () => {
    const { datacontenttype: _, ...bare } = createEvent('sli.observed', samples['sli.observed'], { source: 'test' });
    expect(encodeBinary(bare as VigilEvent).headers.get('content-type')).toBe('application/json');
  });

  it('an empty tracestate is not sent, in either mode', () => {
    const e = createEvent('sli.observed', samples['sli.observed'], {
      source: 'test',
      extensions: { traceparent, tracestate: '' },
    });
    expect(encodeBinary(e).headers.has('tracestate')).toBe(false);
    expect(encodeStructured(e).headers.has('tracestate')).toBe(false);
  });

  it('a data content type of its own is kept', () => {
    const e = {
      ...createEvent('sli.observed', samples['sli.observed'], { source: 'test' }),
      datacontenttype: 'application/json; charset=utf-8',
    } as VigilEvent;
    const b = encodeBinary(e);
    expect(b.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(decodeMessage(b).datacontenttype).toBe('application/json; charset=utf-8');
  });

  it('data or data_base64 as a header is refused, in any case', () => {
    for (const name of ['ce-data', 'CE-Data_Base64']) {
      const b = encodeBinary(event);
      b.headers.set(name, 'x');
      expect(() => decodeMessage(b)).toThrow(
        `invalid CloudEvent attribute '${name.slice(3).toLowerCase()}': must travel in the message body, not a header`,
      );
    }
  });

  it('a value in double quotes is unquoted; a lone quote or a quote at one end only is kept as sent', () => {
    const withSubject = (value: string) => {
      const b = encodeBinary(event);
      b.headers.set('ce-subject', value);
      return decodeMessage(b).subject;
    };
    expect(withSubject('"a%20b"')).toBe('a b');
    // Two quotes are an empty value, which a subject may not be.
    expect(() => withSubject('""')).toThrow(InvalidEnvelopeError);
    expect(withSubject('"')).toBe('"');
    expect(withSubject('"ab')).toBe('"ab');
    expect(withSubject('ab"')).toBe('ab"');
  });

  it('no body means no data; a body that is not JSON is named as binary-mode data', () => {
    const b = encodeBinary(event);
    const empty = { data: new Uint8Array(0), headers: b.headers };
    expect(() => decodeMessage(empty)).toThrow("invalid data for 'sli.observed': (data): data is required");
    expect(() => decodeMessage({ data: new TextEncoder().encode('{'), headers: b.headers })).toThrow(
      /^binary-mode data is not valid JSON: /,
    );
    try {
      decodeMessage({ data: new TextEncoder().encode('{'), headers: b.headers });
    } catch (e) {
      expect(e).toBeInstanceOf(NotACloudEventError);
    }
  });

  it('headers of other names are not attributes', () => {
    const b = encodeBinary(event);
    b.headers.set('x-ce-source', 'elsewhere');
    b.headers.set('cex-source', 'elsewhere');
    expect(decodeMessage(b).source).toBe('test');
  });
});

describe('structured mode on the wire', () => {
  const event = createEvent('sli.observed', samples['sli.observed'], { source: 'test' });

  it('a body of exactly the limit passes the size check; one byte more is refused', () => {
    const h = createHeaders();
    h.set('content-type', 'application/cloudevents+json');
    const at = (n: number) => ({ data: new Uint8Array(n).fill(0x20), headers: h });
    // Spaces only: past the size check, the body is refused as JSON, not for its size.
    expect(() => decodeMessage(at(MAX_EVENT_BYTES))).toThrow(NotACloudEventError);
    expect(() => decodeMessage(at(MAX_EVENT_BYTES + 1))).toThrow(EventTooLargeError);
  });

  it('the content type must start with application/cloudevents+json', () => {
    const s = encodeStructured(event);
    s.headers.set('content-type', 'application/cloudevents+jsonx');
    expect(() => decodeMessage(s)).toThrow(
      "structured content type 'application/cloudevents+jsonx' is not supported; use application/cloudevents+json",
    );
    s.headers.set('content-type', 'Application/CloudEvents+JSON; charset=utf-8');
    expect(decodeMessage(s)).toEqual(event);
    s.headers.set('content-type', 'application/cloudevents-batch+json; x=application/cloudevents+json');
    expect(() => decodeMessage(s)).toThrow(/structured content type 'application\/cloudevents-batch\+json; x=/);
    s.headers.set('content-type', 'application/cloudevents-batch+json');
    expect(() => decodeMessage(s)).toThrow(/structured content type 'application\/cloudevents-batch\+json'/);
  });

  it('a body that is not JSON or not an object is named as the structured body', () => {
    const s = encodeStructured(event);
    expect(() => decodeMessage({ data: new TextEncoder().encode('nope'), headers: s.headers })).toThrow(
      /^structured CloudEvent body is not valid JSON: /,
    );
    for (const body of ['null', '[]', '3', '"x"']) {
      expect(() => decodeMessage({ data: new TextEncoder().encode(body), headers: s.headers })).toThrow(
        'structured CloudEvent body must be a JSON object',
      );
    }
  });
});

describe('percent-encoding at its edges', () => {
  it('printable ASCII from ! to ~ is kept, except " and %; space, DEL and controls are escaped', () => {
    expect(percentEncode('!')).toBe('!');
    expect(percentEncode('~')).toBe('~');
    expect(percentEncode(' ')).toBe('%20');
    expect(percentEncode('\x7f')).toBe('%7F');
    expect(percentEncode('\x1f')).toBe('%1F');
    expect(percentEncode('\n')).toBe('%0A');
    expect(percentEncode('"%')).toBe('%22%25');
    expect(percentEncode('é')).toBe('%C3%A9');
  });

  it('a value without % is returned as it is, also with characters it would refuse in an escape run', () => {
    expect(percentDecode('plain', 'subject')).toBe('plain');
    expect(percentDecode('é', 'subject')).toBe('é');
  });

  it('an escape needs exactly two hex digits', () => {
    expect(percentDecode('%41', 'subject')).toBe('A');
    expect(percentDecode('%4a%4A', 'subject')).toBe('JJ');
    expect(() => percentDecode('x%4', 'subject')).toThrow(
      "invalid CloudEvent attribute 'subject': malformed percent-encoding at position 1",
    );
    expect(() => percentDecode('%G1', 'subject')).toThrow(/position 0/);
    expect(() => percentDecode('%1G', 'subject')).toThrow(/position 0/);
  });

  it('a raw character above ASCII beside an escape is refused; DEL is taken as it is', () => {
    expect(() => percentDecode('é%20', 'subject')).toThrow(
      "invalid CloudEvent attribute 'subject': header value has a non-ASCII character that is not percent-encoded",
    );
    expect(percentDecode('\x7f%20', 'subject')).toBe('\x7f ');
  });

  it('escapes that are not UTF-8 are refused, naming the attribute', () => {
    expect(() => percentDecode('%C3', 'source')).toThrow(
      "invalid CloudEvent attribute 'source': percent-encoded value is not valid UTF-8",
    );
  });
});
