import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  contextAttributes,
  createEvent,
  describeIssues,
  toJSON,
  validateEnvelope,
  withExtensions,
  type VigilEvent,
} from './envelope.js';
import { InvalidEnvelopeError, InvalidEventDataError } from './errors.js';
import { dataschemaOf } from './registry.js';
import { samples } from './testing/index.js';

const data = samples['sli.observed'];
/** The smallest valid body: required attributes and data only. */
const minimal = () => ({ specversion: '1.0', id: 'e-1', source: 'test', type: 'sli.observed', data });
const event = () => createEvent('sli.observed', data, { source: 'test' });

function refused(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('accepted');
}

describe('extensions', () => {
  it('no context attribute can be an extension', () => {
    expect([...contextAttributes].sort()).toEqual(
      [
        'data',
        'data_base64',
        'datacontenttype',
        'dataschema',
        'id',
        'source',
        'specversion',
        'subject',
        'time',
        'type',
      ].sort(),
    );
    for (const name of contextAttributes) {
      expect(() => withExtensions(event(), { [name]: 'x' })).toThrow(
        `invalid CloudEvent attribute '${name}': extension names must be lower-case letters and digits (CloudEvents 1.0)`,
      );
    }
  });

  it('names are 1 to 64 lower-case letters and digits, nothing after', () => {
    expect(withExtensions(event(), { ['a'.repeat(64)]: 'x' }).extensions['a'.repeat(64)]).toBe('x');
    for (const name of ['a'.repeat(65), 'ab-c', 'abc_', 'Abc', '']) {
      expect(() => withExtensions(event(), { [name]: 'x' })).toThrow(InvalidEnvelopeError);
    }
  });

  it('numbers are 32-bit signed integers, at both ends', () => {
    expect(withExtensions(event(), { n: 2_147_483_647 }).extensions['n']).toBe(2_147_483_647);
    expect(withExtensions(event(), { n: -2_147_483_648 }).extensions['n']).toBe(-2_147_483_648);
    expect(refused(() => withExtensions(event(), { n: 2_147_483_648 })).message).toBe(
      "invalid CloudEvent attribute 'n': extension integers are 32-bit signed (CloudEvents type system), got 2147483648",
    );
    expect(() => withExtensions(event(), { n: -2_147_483_649 })).toThrow(/32-bit signed/);
    expect(refused(() => withExtensions(event(), { n: 1.5 })).message).toBe(
      "invalid CloudEvent attribute 'n': extension numbers must be integers (CloudEvents type system)",
    );
  });

  it('values are strings, integers or booleans; anything else is named', () => {
    expect(withExtensions(event(), { b: true, s: '', i: 0 }).extensions).toMatchObject({ b: true, s: '', i: 0 });
    const v = (x: unknown) => refused(() => withExtensions(event(), { x } as never)).message;
    expect(v({})).toBe(
      "invalid CloudEvent attribute 'x': extension values must be string, integer or boolean, got object",
    );
    expect(v(undefined)).toMatch(/got undefined$/);
    expect(v(null)).toMatch(/got null$/);
    // A string is a string, whatever number it spells.
    expect(withExtensions(event(), { big: '3000000000' }).extensions['big']).toBe('3000000000');
  });

  it('a copy with the extensions added or replaced; the event itself is left as it was', () => {
    const e = withExtensions(event(), { a: '1', b: '2' });
    const f = withExtensions(e, { b: '3' });
    expect(f.extensions).toEqual({ a: '1', b: '3' });
    expect(e.extensions).toEqual({ a: '1', b: '2' });
    expect(f.data).toEqual(e.data);
    expect(f.id).toBe(e.id);
  });

  it('an extension of a decoded body whose value is null is unset, not refused', () => {
    expect(validateEnvelope({ ...minimal(), trace: null }).extensions).toEqual({});
  });
});

describe('the envelope', () => {
  it('createEvent sets a subject only when given one', () => {
    expect(createEvent('sli.observed', data, { source: 'test', subject: 'api' }).subject).toBe('api');
    expect(Object.keys(toJSON(event()))).not.toContain('subject');
  });

  it('unset optional attributes stay out of the event and of its JSON', () => {
    const e = validateEnvelope(minimal());
    expect(Object.keys(e).sort()).toEqual(['data', 'extensions', 'id', 'source', 'specversion', 'type']);
    expect(Object.keys(toJSON(e))).toEqual(['specversion', 'id', 'source', 'type', 'data']);
    const full = validateEnvelope({
      ...minimal(),
      time: '2026-11-22T10:00:00Z',
      subject: 's',
      dataschema: dataschemaOf('sli.observed'),
      datacontenttype: 'application/json',
      ext: 'x',
    });
    expect(Object.keys(toJSON(full))).toEqual([
      'specversion',
      'id',
      'source',
      'type',
      'time',
      'subject',
      'dataschema',
      'datacontenttype',
      'ext',
      'data',
    ]);
  });

  it('specversion is required and must be 1.0', () => {
    const { specversion: _, ...rest } = minimal();
    expect(refused(() => validateEnvelope(rest)).message).toBe(
      "invalid CloudEvent attribute 'specversion': is required",
    );
    expect(refused(() => validateEnvelope({ ...minimal(), specversion: '0.3' })).message).toBe(
      `invalid CloudEvent attribute 'specversion': must be "1.0", got "0.3"`,
    );
  });

  it('required attributes: present, strings, not empty', () => {
    for (const attr of ['id', 'source', 'type'] as const) {
      const { [attr]: _, ...rest } = minimal();
      expect(refused(() => validateEnvelope(rest)).message).toBe(`invalid CloudEvent attribute '${attr}': is required`);
      expect(refused(() => validateEnvelope({ ...minimal(), [attr]: null })).message).toBe(
        `invalid CloudEvent attribute '${attr}': is required`,
      );
      expect(refused(() => validateEnvelope({ ...minimal(), [attr]: 5 })).message).toBe(
        `invalid CloudEvent attribute '${attr}': must be a string, got number`,
      );
      expect(refused(() => validateEnvelope({ ...minimal(), [attr]: '' })).message).toBe(
        `invalid CloudEvent attribute '${attr}': must be a non-empty string`,
      );
    }
  });

  it('optional attributes must be strings; null means unset', () => {
    for (const attr of ['time', 'subject', 'dataschema', 'datacontenttype'] as const) {
      expect(refused(() => validateEnvelope({ ...minimal(), [attr]: 1 })).message).toBe(
        `invalid CloudEvent attribute '${attr}': must be a string, got number`,
      );
      expect(Object.keys(validateEnvelope({ ...minimal(), [attr]: null }))).not.toContain(attr);
    }
  });

  it('time is a whole RFC 3339 timestamp: fraction optional, offset required, nothing around it', () => {
    const at = (time: string) => validateEnvelope({ ...minimal(), time }).time;
    expect(at('2026-11-22T10:00:00Z')).toBe('2026-11-22T10:00:00Z');
    expect(at('2026-11-22t10:00:00.123+01:00')).toBe('2026-11-22t10:00:00.123+01:00');
    for (const bad of [
      'x2026-11-22T10:00:00Z',
      '2026-11-22T10:00:00Zx',
      ' 2026-11-22T10:00:00Z',
      '+002026-11-22T10:00:00Z',
      '2026-11-22T10:00:00Z ',
      '2026-11-22T10:00:00',
      '2026-13-45T10:00:00Z',
      // Date.parse reads this one (a comment after the time): only the pattern's end refuses it.
      '2026-11-22 10:00:00Z (UTC)',
    ]) {
      expect(refused(() => at(bad)).message).toBe(
        `invalid CloudEvent attribute 'time': must be an RFC 3339 timestamp, got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('data_base64 is refused: no vigil event carries binary data', () => {
    expect(refused(() => validateEnvelope({ ...minimal(), data_base64: 'AAAA' })).message).toBe(
      "invalid CloudEvent attribute 'data_base64': binary data is not used by any vigil event; send JSON data",
    );
  });

  it('what the cloudevents package refuses is named by its attribute', () => {
    const e = refused(() => validateEnvelope({ ...minimal(), source: 'a b' }));
    expect(e).toBeInstanceOf(InvalidEnvelopeError);
    expect((e as InvalidEnvelopeError).attribute).toBe('source');
    expect((e as InvalidEnvelopeError).cause).toBeDefined();
  });

  it('data is required; null data is data, checked against the schema', () => {
    const { data: _, ...rest } = minimal();
    expect(refused(() => validateEnvelope(rest)).message).toBe(
      "invalid data for 'sli.observed': (data): data is required",
    );
    expect(refused(() => validateEnvelope({ ...minimal(), data: undefined })).message).toBe(
      "invalid data for 'sli.observed': (data): data is required",
    );
    const e = refused(() => validateEnvelope({ ...minimal(), data: null }));
    const alsoNull = refused(() => validateEnvelope({ ...minimal(), subject: null, data: null }));
    expect(alsoNull.message).not.toContain('data is required');
    expect(e).toBeInstanceOf(InvalidEventDataError);
    expect(e.message).not.toContain('data is required');
  });

  it('the content type must be JSON: application/json, text/json or any +json, parameters and case aside', () => {
    for (const ct of ['application/json', ' Application/JSON ; charset=utf-8', 'text/json', 'application/vnd.x+json']) {
      expect(validateEnvelope({ ...minimal(), datacontenttype: ct }).datacontenttype).toBe(ct);
    }
    for (const ct of ['text/plain', 'application/json+x', 'text/jsonx', 'application/xml; x=+json']) {
      expect(refused(() => validateEnvelope({ ...minimal(), datacontenttype: ct })).message).toBe(
        `invalid CloudEvent attribute 'datacontenttype': must be application/json for 'sli.observed', got '${ct}'`,
      );
    }
  });

  it("a vigil dataschema must be the type's own; other schemas are the sender's business", () => {
    expect(refused(() => validateEnvelope({ ...minimal(), dataschema: 'urn:vigil:schema:other:1' })).message).toBe(
      `invalid CloudEvent attribute 'dataschema': 'urn:vigil:schema:other:1' is not the schema this service knows for 'sli.observed' (${dataschemaOf('sli.observed')})`,
    );
    expect(validateEnvelope({ ...minimal(), dataschema: 'https://example.com/s' }).dataschema).toBe(
      'https://example.com/s',
    );
  });
});

describe('data issues as people read them', () => {
  const issues = (schema: z.ZodType, value: unknown) => {
    const r = schema.safeParse(value);
    if (r.success) throw new Error('parsed');
    return r.error.issues;
  };

  it('a union names its closest branch: fewest issues first, then fewest mismatches at its root', () => {
    expect(
      describeIssues(issues(z.union([z.string(), z.strictObject({ a: z.number(), b: z.number() })]), { a: 1 })),
    ).toEqual([{ path: 'b', message: 'is required (number)' }]);
    expect(
      describeIssues(issues(z.union([z.strictObject({ a: z.number(), b: z.number() }), z.string()]), { a: 1 })),
    ).toEqual([{ path: 'b', message: 'is required (number)' }]);
    // Both branches have one issue: the one whose issue is not a mismatch at its root is meant.
    const u = z.union([z.number(), z.strictObject({ a: z.number() })]);
    expect(describeIssues(issues(u, { a: 'x' }))).toEqual([
      { path: 'a', message: expect.stringContaining('expected number') },
    ]);
    const v = z.union([z.strictObject({ a: z.number() }), z.literal(5)]);
    expect(describeIssues(issues(v, { a: 'x' }))).toEqual([
      { path: 'a', message: expect.stringContaining('expected number') },
    ]);
    const w = z.union([z.union([z.number(), z.boolean()]), z.strictObject({ a: z.number() })]);
    expect(describeIssues(issues(w, { a: 'x' }))).toEqual([
      { path: 'a', message: expect.stringContaining('expected number') },
    ]);
  });

  it('issue count outweighs root mismatches; unknown fields are no mismatch; a literal at the root is', () => {
    // One root mismatch against two missing fields: the single issue is the closer branch.
    expect(describeIssues(issues(z.union([z.number(), z.strictObject({ a: z.number(), b: z.number() })]), {}))).toEqual(
      [{ path: '', message: expect.stringContaining('expected number') }],
    );
    // An unknown field at the root is not a mismatch: the first branch stays the closer one.
    const known = z.strictObject({ a: z.number() });
    const wider = z.strictObject({ a: z.number(), z: z.string() });
    expect(describeIssues(issues(z.union([known, wider]), { a: 1, z: 1 }))).toEqual([
      { path: 'z', message: 'unknown field' },
    ]);
    // zod answers that one without a union issue (the unknown field is all that is wrong); with a
    // second issue in each branch the ranking decides, and the tie keeps the first branch.
    expect(describeIssues(issues(z.union([known, wider]), { a: 'x', z: 1 }))).toEqual([
      { path: 'a', message: expect.stringContaining('expected number') },
      { path: 'z', message: 'unknown field' },
    ]);
    // A literal that does not match at the root is.
    expect(describeIssues(issues(z.union([z.literal(5), z.strictObject({ a: z.number() })]), { a: 'x' }))).toEqual([
      { path: 'a', message: expect.stringContaining('expected number') },
    ]);
  });

  it('a branch is found under the prefix and the path of the union', () => {
    const s = z.strictObject({ list: z.array(z.union([z.string(), z.strictObject({ a: z.number() })])) });
    expect(describeIssues(issues(s, { list: ['ok', {}] }), { prefix: ['root'] })).toEqual([
      { path: 'root.list[1].a', message: 'is required (number)' },
    ]);
  });

  it('unknown fields: each at its path by default, or listed under their object', () => {
    const s = z.strictObject({ a: z.strictObject({ x: z.number() }) });
    expect(describeIssues(issues(s, { a: { x: 1, p: 1, q: 2 } }))).toEqual([
      { path: 'a.p', message: 'unknown field' },
      { path: 'a.q', message: 'unknown field' },
    ]);
    expect(describeIssues(issues(s, { a: { x: 1, p: 1, q: 2 } }), { unknownFields: 'message' })).toEqual([
      { path: 'a', message: 'unknown fields p, q' },
    ]);
    expect(describeIssues(issues(s, { a: { x: 1, p: 1 } }), { unknownFields: 'message' })).toEqual([
      { path: 'a', message: 'unknown field p' },
    ]);
  });

  it('a missing or null field is required, naming its type; a wrong one keeps zod’s words', () => {
    const s = z.strictObject({ a: z.number(), b: z.string() });
    expect(describeIssues(issues(s, { a: null, b: 3 }))).toEqual([
      { path: 'a', message: 'is required (number)' },
      { path: 'b', message: expect.stringMatching(/expected string, received number$/) },
    ]);
    expect(describeIssues(issues(z.strictObject({ a: z.literal('x') }), {}))).toEqual([
      { path: 'a', message: expect.not.stringContaining('is required') },
    ]);
  });
});

describe('an event is typed by what validateEnvelope returns', () => {
  it('createEvent and validateEnvelope agree', () => {
    const e = event();
    expect(validateEnvelope(toJSON(e))).toEqual(e satisfies VigilEvent);
  });
});
