import { readFileSync } from 'node:fs';
import {
  createPublisher,
  isEventType,
  parseData,
  readDeadLetters,
  replay,
  type DeadLetter,
  type EventType,
  type VigilEvent,
} from '@vigil/events';
import { jaegerUrl, type Bus } from '../bus.js';
import type { CliEnv } from '../config.js';
import { table, type Output } from '../output.js';

/** What `--wait` waits for after each request type, matched on `data.requestId`. */
const answers: Partial<Record<EventType, readonly EventType[]>> = {
  'validation.requested': ['validation.completed'],
  'chaos.requested': ['chaos.completed', 'chaos.aborted'],
};

/** How far before a publish `--wait` starts reading answers and refusals. */
const ANSWER_MARGIN_MS = 60_000;

/** Types with a `requestedBy`, which defaults to $USER. */
const requesters = new Set<EventType>(['validation.requested', 'chaos.requested', 'chaos.abort.requested']);

export interface PublishArgs {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly wait: boolean;
  readonly timeoutMs: number;
  readonly json: boolean;
}

/**
 * The data of `vigil publish`: what `--data` gave (a file with `@file.json`, JSON text, or `-` for
 * standard input), with each `--FIELD VALUE` of `fieldArgs` over it: `data.FIELD`, a JSON value
 * when it parses as one, else the text; repeated, an array.
 */
export function publishData(
  dataFlag: string | undefined,
  fieldArgs: readonly string[],
  stdin: () => string,
): Record<string, unknown> {
  const data = dataFlag === undefined ? {} : readData(dataFlag, stdin);
  const fields: Record<string, unknown> = {};
  for (let i = 0; i < fieldArgs.length; i++) {
    const arg = fieldArgs[i]!;
    if (!arg.startsWith('--') || arg === '--')
      throw new Error(`unexpected argument ${JSON.stringify(arg)}; flags are --NAME VALUE`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const value = eq < 0 ? fieldArgs[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new Error(`--${name} needs a value`);
    const v = jsonOrText(value);
    const prev = fields[name];
    fields[name] = prev === undefined ? v : Array.isArray(prev) ? [...(prev as unknown[]), v] : [prev, v];
  }
  return { ...data, ...fields };
}

function jsonOrText(v: string): unknown {
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

function readData(value: string, stdin: () => string): Record<string, unknown> {
  let text = value;
  let from = '--data';
  let fromFile = false;
  if (value === '-') [text, from] = [stdin(), 'standard input'];
  else if (value.startsWith('@')) {
    const file = value.slice(1);
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`--data @${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    from = file;
    fromFile = true;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // A file's contents stay out of the message: it may be one the user should not see printed.
    throw new Error(fromFile ? `${from} is not JSON` : `${from} is not JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error(`${from} must hold a JSON object (the event's data)`);
  return parsed as Record<string, unknown>;
}

/** Publishes one event after validating it; with `wait`, prints the answer too. Returns the exit code. */
export async function publishCommand(bus: Bus, env: CliEnv, a: PublishArgs, out: Output): Promise<number> {
  if (!isEventType(a.type))
    throw new Error(`unknown event type '${a.type}'; vigil publish takes one of the registry's types (see the README)`);
  const type = a.type;
  const who = requesters.has(type) ? { requestedBy: env.USER ?? 'vigil-cli' } : {};
  const data = parseData(type, { ...who, ...a.data });
  const awaited = answers[type];
  if (a.wait && awaited === undefined) {
    throw new Error(`--wait works for ${Object.keys(answers).join(' and ')}, not ${type}`);
  }
  const listener = a.wait && awaited ? listenForAnswer(bus, awaited) : undefined;
  try {
    const r = await createPublisher({ js: bus.js, ns: bus.ns, source: 'vigil/cli' }).publish(type, data);
    const url = r.traceId === undefined ? undefined : jaegerUrl(env, r.traceId);
    if (!a.json) {
      out.line(`published ${type} ${r.id} (stream ${r.stream}, sequence ${r.seq}${r.duplicate ? ', duplicate' : ''})`);
      if (url !== undefined) out.line(`trace ${r.traceId}  ${url}`);
    }
    if (listener === undefined) {
      if (a.json)
        out.json({
          id: r.id,
          type,
          stream: r.stream,
          seq: r.seq,
          duplicate: r.duplicate,
          traceId: r.traceId,
          jaegerUrl: url,
        });
      return 0;
    }
    listener.published(r.id);
    const done = out.progress(`waiting for ${awaited!.join(' or ')} of ${r.id}`);
    const timer = setTimeout(() => listener.abort(), a.timeoutMs);
    const outcome = await firstOutcome(listener, r.id).finally(() => {
      clearTimeout(timer);
      done();
    });
    const head = { id: r.id, type, stream: r.stream, seq: r.seq, traceId: r.traceId };
    if ('refused' in outcome) {
      const refused = outcome.refused;
      if (a.json) out.json({ ...head, refused });
      else out.line(`refused by ${refused.consumer}: ${refused.code}: ${refused.reason}`);
      return 3;
    }
    const answer = outcome.answer;
    if (answer === undefined) throw new Error(`no ${awaited!.join(' or ')} for ${r.id} within ${a.timeoutMs / 1000}s`);
    if (a.json) out.json({ ...head, jaegerUrl: url, answer });
    else for (const l of describeAnswer(answer)) out.line(l);
    return failed(answer) ? 3 : 0;
  } finally {
    await listener?.stop();
  }
}

interface Listener {
  readonly iterator: AsyncIterator<{ event: VigilEvent }>;
  readonly first: Promise<IteratorResult<{ event: VigilEvent }>>;
  /** The request's dead letter, once `published` names it. */
  readonly refusal: Promise<DeadLetter | undefined>;
  published(id: string): void;
  /** Ends the reading: the answers end, the refusal settles as none. */
  abort(): void;
  stop(): Promise<void>;
}

/**
 * Starts reading the answers before the publish. They are read from a little before it (matched
 * by requestId), not from "new": a listener made just before publishing may be in place only
 * after a fast answer, which would then slip past. The margin also covers a server clock a little
 * behind this one. A request can also be refused (an unknown suite): that answer is its dead letter.
 */
function listenForAnswer(bus: Bus, awaited: readonly EventType[]): Listener {
  const stopping = new AbortController();
  const answers = replay(bus.nc, {
    ns: bus.ns,
    start: { since: new Date(Date.now() - ANSWER_MARGIN_MS) },
    follow: true,
    types: awaited,
    signal: stopping.signal,
  });
  const iterator = answers[Symbol.asyncIterator]();
  let published = (_: string) => undefined as void;
  const id = new Promise<string>((resolve) => (published = resolve));
  return {
    iterator,
    first: iterator.next(),
    refusal: refusalOf(bus, id, stopping.signal),
    published,
    abort: () => stopping.abort(),
    async stop() {
      stopping.abort();
      await iterator.return?.(undefined);
    },
  };
}

/**
 * The answer to request `id` from the followed stream, or its dead letter, whichever comes first;
 * no answer when the stream ends (the wait's timeout aborts it).
 */
async function firstOutcome(
  { iterator, first, refusal }: Listener,
  id: string,
): Promise<{ answer: VigilEvent | undefined } | { refused: DeadLetter }> {
  const answered = (async () => {
    for (let next = await first; next.done !== true; next = await iterator.next()) {
      const e = next.value.event;
      if ((e.data as { requestId?: string }).requestId === id) return e;
    }
    return undefined;
  })();
  const outcome = await Promise.race([answered.then((e) => ({ answer: e })), refusal.then((d) => ({ refused: d }))]);
  if ('answer' in outcome) return outcome;
  // No dead letter came (or this user may not read them): the answer, or the end of the wait.
  if (outcome.refused === undefined) return { answer: await answered };
  return { refused: outcome.refused };
}

/**
 * The dead letter of the event whose id `id` settles to, once it is published; undefined when
 * none comes before `signal` ends the wait, or when this user may not read dead letters.
 */
async function refusalOf(bus: Bus, id: Promise<string>, signal: AbortSignal): Promise<DeadLetter | undefined> {
  // From before the publish, as the answer is: a dead letter can come before a listener starting
  // now would be in place.
  const since = new Date(Date.now() - ANSWER_MARGIN_MS);
  try {
    const want = await id;
    for await (const d of readDeadLetters(bus.nc, { ns: bus.ns, start: { since }, follow: true, signal })) {
      if (d.why !== undefined && idOf(d.data, d.headers?.get('ce-id')) === want) return d.why;
    }
  } catch {
    // No access to DEADLETTER (least privilege): the wait ends at its timeout as before.
  }
  return undefined;
}

function idOf(data: Uint8Array, header: string | undefined): string | undefined {
  if (header) return header;
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as { id?: unknown };
    return typeof body.id === 'string' ? body.id : undefined;
  } catch {
    return undefined;
  }
}

function failed(e: VigilEvent): boolean {
  if (e.type === 'validation.completed') return ['FAIL', 'ERROR'].includes((e.data as { status: string }).status);
  if (e.type === 'chaos.aborted') return true;
  if (e.type === 'chaos.completed') return !(e.data as { recovery: { recovered: boolean } }).recovery.recovered;
  return false;
}

export function describeAnswer(e: VigilEvent): string[] {
  if (e.type === 'validation.completed') {
    const d = e.data;
    const rows = d.components.map((c) => {
      const ran = c.checks.filter((k) => k.status !== 'SKIPPED').length;
      const skipped = c.checks.length - ran;
      return [
        c.name,
        String(c.weight),
        c.score === undefined ? '-' : c.score.toFixed(1),
        c.status,
        `${c.checks.filter((k) => k.status === 'PASS').length}/${ran}${skipped > 0 ? ` (${skipped} skipped)` : ''}`,
        c.checks
          .filter((k) => k.status !== 'PASS')
          .map((k) => `${k.name}: ${k.status}${k.message ? ` (${k.message})` : ''}`)
          .join('; '),
      ];
    });
    return [
      ...table(['COMPONENT', 'WEIGHT', 'SCORE', 'STATUS', 'PASSED', 'NOT PASSED'], rows),
      `${d.suite}: ${d.status}, score ${d.score.toFixed(1)} of 10 (run ${d.runId}, ${Math.round(d.durationMs)} ms)${d.error ? `: ${d.error}` : ''}`,
    ];
  }
  if (e.type === 'chaos.completed') {
    const d = e.data;
    return [
      `chaos ${d.kind} on ${d.targets.map((t) => t.name).join(', ')}: completed, ${d.recovery.recovered ? 'recovered' : 'NOT recovered'} in ${d.recovery.durationMs} ms`,
      ...d.recovery.details.map((x) => `  ${x}`),
      ...(d.scoreBefore !== undefined || d.scoreAfter !== undefined
        ? [`  score ${d.scoreBefore ?? '?'} → ${d.scoreAfter ?? '?'}`]
        : []),
    ];
  }
  if (e.type === 'chaos.aborted') {
    const d = e.data;
    return [`chaos aborted:`, ...d.reasons.map((x) => `  ${x}`), ...(d.recovery?.details.map((x) => `  ${x}`) ?? [])];
  }
  return [JSON.stringify(e.data)];
}
