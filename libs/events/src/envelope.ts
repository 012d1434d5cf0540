import { randomUUID } from 'node:crypto';
import { CloudEvent, ValidationError } from 'cloudevents';
import type { z } from 'zod';
import { InvalidEnvelopeError, InvalidEventDataError, UnknownEventTypeError, type DataIssue } from './errors.js';
import {
  dataschemaOf,
  isEventType,
  registry,
  type EventData,
  type EventDataInput,
  type EventType,
} from './registry.js';

/** A CloudEvents extension value (the CloudEvents type system as JSON carries it). */
export type ExtensionValue = string | number | boolean;

interface EventOf<T extends EventType> {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: T;
  /** Absent only when a foreign producer left it out (it is optional in CloudEvents). */
  readonly time?: string;
  readonly subject?: string;
  readonly dataschema?: string;
  readonly datacontenttype?: string;
  readonly data: EventData<T>;
  /** Extension attributes, e.g. `traceparent` and `tracestate` (distributed tracing extension). */
  readonly extensions: Readonly<Record<string, ExtensionValue>>;
}

/** A validated CloudEvent of a registry type; narrowing on `type` narrows `data`. */
export type VigilEvent<T extends EventType = EventType> = { [K in T]: EventOf<K> }[T];

/** Attributes of CloudEvents 1.0 itself (everything else is an extension). */
export const contextAttributes = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'dataschema',
  'datacontenttype',
  'data',
  'data_base64',
]);

export interface CreateEventOptions {
  /** The producer, a URI-reference such as `vigil/validator` or `urn:tool:ci`. */
  readonly source: string;
  /** @default a random UUID */
  readonly id?: string;
  /** @default now, as ISO 8601 */
  readonly time?: string;
  /** CloudEvents `subject` (what the event is about, e.g. a suite name); not the NATS subject. */
  readonly subject?: string;
  readonly extensions?: Readonly<Record<string, ExtensionValue>>;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Builds a valid event of a registry type. `data` is validated against the registry schema and the
 * envelope against the CloudEvents 1.0 spec; the first failure is thrown as a typed error.
 */
export function createEvent<T extends EventType>(
  type: T,
  data: EventDataInput<T>,
  options: CreateEventOptions,
): VigilEvent<T> {
  const parsed = parseData(type, data);
  const raw: Record<string, unknown> = {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type,
    time: options.time ?? new Date().toISOString(),
    datacontenttype: 'application/json',
    dataschema: dataschemaOf(type),
    // Stryker disable next-line ConditionalExpression: equivalent, an undefined subject is left out of the event as an absent one is
    ...(options.subject === undefined ? {} : { subject: options.subject }),
    ...options.extensions,
    data: parsed,
  };
  return validateEnvelope(raw) as VigilEvent<T>;
}

/**
 * Returns a copy of the event with extension attributes added or replaced. Only the new
 * extensions are checked: the event itself was validated when it was made.
 */
export function withExtensions<T extends EventType>(
  event: VigilEvent<T>,
  extensions: Readonly<Record<string, ExtensionValue>>,
): VigilEvent<T> {
  for (const [k, v] of Object.entries(extensions)) checkExtension(k, v);
  return { ...event, extensions: { ...event.extensions, ...extensions } };
}

function checkExtension(k: string, v: unknown): asserts v is ExtensionValue {
  if (contextAttributes.has(k) || !/^[a-z0-9]{1,64}$/.test(k)) {
    throw new InvalidEnvelopeError(k, 'extension names must be lower-case letters and digits (CloudEvents 1.0)');
  }
  if (typeof v === 'number' && !Number.isInteger(v)) {
    throw new InvalidEnvelopeError(k, 'extension numbers must be integers (CloudEvents type system)');
  }
  if (typeof v === 'number' && (v < -2_147_483_648 || v > 2_147_483_647)) {
    throw new InvalidEnvelopeError(k, `extension integers are 32-bit signed (CloudEvents type system), got ${v}`);
  }
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new InvalidEnvelopeError(
      k,
      `extension values must be string, integer or boolean, got ${v === null ? 'null' : typeof v}`,
    );
  }
}

/** The event as the CloudEvents JSON format lays it out (structured mode body). */
export function toJSON(event: VigilEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    specversion: event.specversion,
    id: event.id,
    source: event.source,
    type: event.type,
  };
  if (event.time !== undefined) out['time'] = event.time;
  if (event.subject !== undefined) out['subject'] = event.subject;
  if (event.dataschema !== undefined) out['dataschema'] = event.dataschema;
  if (event.datacontenttype !== undefined) out['datacontenttype'] = event.datacontenttype;
  for (const [k, v] of Object.entries(event.extensions)) out[k] = v;
  out['data'] = event.data;
  return out;
}

function isJsonContentType(ct: string): boolean {
  // Stryker disable next-line OptionalChaining,StringLiteral: equivalent, split always gives a first part
  const base = ct.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || base.endsWith('+json') || base === 'text/json';
}

/**
 * Validates a decoded attribute map (structured body or binary headers + data) and returns the
 * typed event. Checks, in order: required attributes, the CloudEvents 1.0 spec (through the
 * `cloudevents` package), the registry type, the content type, then `data` against its schema.
 */
export function validateEnvelope(input: Record<string, unknown>): VigilEvent {
  const raw = withoutNulls(input);
  checkContextAttributes(raw);
  const extensions: Record<string, ExtensionValue> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (contextAttributes.has(k)) continue;
    checkExtension(k, v);
    extensions[k] = v;
  }
  try {
    // The cloudevents package checks the rest of the spec (URI-reference source, RFC 3339 time, ...).
    new CloudEvent(raw, true);
  } catch (e) {
    throw envelopeErrorFrom(e);
  }
  const type = raw['type'] as string;
  if (!isEventType(type)) throw new UnknownEventTypeError(type);
  checkDataAttributes(raw, type);
  if (!('data' in raw) || raw['data'] === undefined)
    throw new InvalidEventDataError(type, [{ path: '', message: 'data is required' }]);
  const data = parseData(type, raw['data']);
  const event: Record<string, unknown> = {
    specversion: '1.0',
    id: raw['id'],
    source: raw['source'],
    type,
    data,
    extensions,
  };
  for (const attr of ['time', 'subject', 'dataschema', 'datacontenttype'] as const) {
    if (raw[attr] !== undefined) event[attr] = raw[attr];
  }
  return event as unknown as VigilEvent;
}

/** The JSON format: an attribute whose value is null is unset (data aside, which stays as sent). */
function withoutNulls(input: Record<string, unknown>): Record<string, unknown> {
  for (const k in input) {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,StringLiteral: equivalent, this only decides whether to copy; the copy below drops the same nulls
    if (input[k] === null && k !== 'data') {
      const raw: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(input)) if (v !== null || key === 'data') raw[key] = v;
      return raw;
    }
  }
  return input;
}

/** specversion, the required string attributes, the optional ones' types, the time's form. */
function checkContextAttributes(raw: Record<string, unknown>): void {
  if (raw['specversion'] === undefined) throw new InvalidEnvelopeError('specversion', 'is required');
  if (raw['specversion'] !== '1.0') {
    throw new InvalidEnvelopeError('specversion', `must be "1.0", got ${JSON.stringify(raw['specversion'])}`);
  }
  for (const attr of ['id', 'source', 'type'] as const) {
    const v = raw[attr];
    // Stryker disable next-line ConditionalExpression: equivalent, withoutNulls already removed null attributes; the test is there for the type
    if (v === undefined || v === null) throw new InvalidEnvelopeError(attr, 'is required');
    if (typeof v !== 'string') throw new InvalidEnvelopeError(attr, `must be a string, got ${typeof v}`);
    if (v.length === 0) throw new InvalidEnvelopeError(attr, 'must be a non-empty string');
  }
  for (const attr of ['time', 'subject', 'dataschema', 'datacontenttype'] as const) {
    const v = raw[attr];
    if (v !== undefined && typeof v !== 'string') {
      throw new InvalidEnvelopeError(attr, `must be a string, got ${typeof v}`);
    }
  }
  // RFC 3339 with a date, a time and an offset: "" and a bare date are not times.
  const time = raw['time'];
  if (typeof time === 'string' && !(RFC3339.test(time) && !Number.isNaN(Date.parse(time)))) {
    throw new InvalidEnvelopeError('time', `must be an RFC 3339 timestamp, got ${JSON.stringify(time)}`);
  }
  if (raw['data_base64'] !== undefined) {
    throw new InvalidEnvelopeError('data_base64', 'binary data is not used by any vigil event; send JSON data');
  }
}

/** The content type must be JSON, and a vigil dataschema the one of `type`. */
function checkDataAttributes(raw: Record<string, unknown>, type: EventType): void {
  const ct = raw['datacontenttype'] as string | undefined;
  if (ct !== undefined && !isJsonContentType(ct)) {
    throw new InvalidEnvelopeError('datacontenttype', `must be application/json for '${type}', got '${ct}'`);
  }
  const dataschema = raw['dataschema'] as string | undefined;
  if (dataschema !== undefined && dataschema.startsWith('urn:vigil:schema:') && dataschema !== dataschemaOf(type)) {
    throw new InvalidEnvelopeError(
      'dataschema',
      `'${dataschema}' is not the schema this service knows for '${type}' (${dataschemaOf(type)})`,
    );
  }
}

/**
 * The cloudevents package's refusal as an attribute error. Our own checks run first and refuse
 * bad names and types, so what reaches the package fails its JSON schema (a source that is not a
 * URI reference, ...), whose first error names the attribute; anything else is the envelope's.
 */
function envelopeErrorFrom(e: unknown): InvalidEnvelopeError {
  // Stryker disable next-line ConditionalExpression,OptionalChaining: equivalent, the package throws only ValidationErrors, and a schema error has its list
  const first = e instanceof ValidationError ? e.errors?.[0] : undefined;
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, as above; the tests are there for the types
  if (first !== undefined && typeof first === 'object') {
    // Stryker disable next-line Regex,LogicalOperator,StringLiteral: equivalent, an attribute's path is one segment, '/name'
    const attribute = first.instancePath.replace(/^\//, '') || String(first.params['missingProperty'] ?? 'envelope');
    // Stryker disable next-line LogicalOperator,StringLiteral: equivalent, ajv gives every error a message
    return new InvalidEnvelopeError(attribute, first.message ?? 'is invalid', { cause: e });
  }
  // Stryker disable next-line StringLiteral,ConditionalExpression,ObjectLiteral: equivalent, unreachable once our checks passed (as above); there for a package that one day throws otherwise
  return new InvalidEnvelopeError('envelope', e instanceof Error ? e.message : String(e), { cause: e });
}

/** `['components', 0, 'score']` → `components[0].score` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

type Issue = z.ZodError['issues'][number];

// A type or value mismatch at a union branch's own root: that branch is not what was meant.
const rootMismatch = (i: Issue) =>
  i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value' || i.code === 'invalid_union');

/**
 * zod issues as field paths and messages a person can act on: a union names its closest branch
 * (fewest issues, then fewest mismatches at its root) and that branch's own issues, recursively;
 * each unknown field is named; a missing field "is required".
 */
export function describeIssues(
  issues: readonly Issue[],
  o: {
    readonly prefix?: readonly PropertyKey[];
    /** `a.b: unknown field` (default) or `a: unknown field b` (config files, as people read them). */
    readonly unknownFields?: 'path' | 'message';
  } = {},
): DataIssue[] {
  const out: DataIssue[] = [];
  for (const issue of issues) {
    const at = [...(o.prefix ?? []), ...issue.path];
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, zod gives a union issue its branches' errors; an empty list falls back to none below
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const rank = (b: readonly Issue[]) => b.length * 10 + b.filter(rootMismatch).length;
      // The first branch of the lowest rank.
      const best = issue.errors.reduce((a, b) => (rank(b) < rank(a) ? b : a));
      out.push(...describeIssues(best, { ...o, prefix: at }));
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      if (o.unknownFields === 'message') {
        const s = issue.keys.length > 1 ? 's' : '';
        out.push({ path: formatPath(at), message: `unknown field${s} ${issue.keys.join(', ')}` });
      } else {
        for (const key of issue.keys) out.push({ path: formatPath([...at, key]), message: 'unknown field' });
      }
      continue;
    }
    // Stryker disable next-line ConditionalExpression,Regex: equivalent, only zod's invalid_type message ends in what was received
    const missing = issue.code === 'invalid_type' && / received (undefined|null)$/.test(issue.message);
    out.push({ path: formatPath(at), message: missing ? `is required (${issue.expected})` : issue.message });
  }
  return out;
}

/** Validates `data` against the registry schema of `type`, applying defaults. */
export function parseData<T extends EventType>(type: T, data: unknown): EventData<T> {
  const result = registry[type].schema.safeParse(data);
  if (!result.success) throw new InvalidEventDataError(type, describeIssues(result.error.issues));
  return result.data as EventData<T>;
}
