/**
 * SLIs from a Prometheus or OpenMetrics text endpoint: which samples a selector names, and how
 * two scrapes of counters become good/total counts. Pure; the fetching and storing is scrape.ts.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';
import { VigilError } from '@vigil/events';

export interface LabelMatcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
}

/** A PromQL instant-vector selector without range or modifiers: `name{label="v", code=~"5.."}`. */
export interface Selector {
  readonly metric: string;
  readonly matchers: readonly LabelMatcher[];
  /** As written, for messages. */
  readonly text: string;
}

/** A selector that cannot be parsed; the message names the character where it fails. */
export class SelectorError extends VigilError {
  readonly code = 'SELECTOR_INVALID';
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/**
 * Parses a selector as PromQL writes one: a metric name, optionally label matchers in braces with
 * `=`, `!=`, `=~`, `!~` and double-quoted values (backslash escapes). Regexes match the whole
 * value, as in Prometheus. Anything else is a SelectorError saying what was expected where.
 */
export function parseSelector(text: string): Selector {
  let rest = text.trim();
  const at = () => `at character ${text.length - rest.length + 1} of '${text}'`;
  const name = NAME.exec(rest);
  if (name === null) throw new SelectorError(`expected a metric name ${at()}`);
  const metric = name[0];
  rest = rest.slice(metric.length).trimStart();
  const matchers: LabelMatcher[] = [];
  if (rest.startsWith('{')) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith('}')) {
      const label = LABEL.exec(rest);
      if (label === null) throw new SelectorError(`expected a label name ${at()}`);
      rest = rest.slice(label[0].length).trimStart();
      const op = (['=~', '!~', '!=', '='] as const).find((o) => rest.startsWith(o));
      if (op === undefined) throw new SelectorError(`expected =, !=, =~ or !~ ${at()}`);
      rest = rest.slice(op.length).trimStart();
      const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
      if (quoted === null) throw new SelectorError(`expected a double-quoted value ${at()}`);
      const value = quoted[1]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      const matcher = { label: label[0], op, value };
      if (op === '=~' || op === '!~') {
        try {
          regexOf(matcher);
        } catch (e) {
          throw new SelectorError(`invalid regular expression for ${label[0]} in '${text}': ${(e as Error).message}`);
        }
      }
      matchers.push(matcher);
      rest = rest.slice(quoted[0].length).trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith('}')) throw new SelectorError(`expected , or } ${at()}`);
    }
    rest = rest.slice(1).trimStart();
  }
  if (rest !== '') throw new SelectorError(`unexpected '${rest}' ${at()}`);
  return { metric, matchers, text: text.trim() };
}

/** One metric family as the text format parser gives it. */
export interface MetricFamily {
  readonly name: string;
  readonly type?: string;
  readonly metrics: readonly { readonly value?: string; readonly labels?: Readonly<Record<string, string>> }[];
}

/** A regex matcher's expression, anchored as PromQL anchors it; compiled once per matcher, not per sample. */
const compiled = new WeakMap<LabelMatcher, RegExp>();
function regexOf(m: LabelMatcher): RegExp {
  let r = compiled.get(m);
  // Stryker disable next-line ConditionalExpression: equivalent, compiling again gives the same expression (the cache saves time, not behaviour)
  if (r === undefined) {
    r = new RegExp(`^(?:${m.value})$`);
    compiled.set(m, r);
  }
  return r;
}

function holds(m: LabelMatcher, labels: Readonly<Record<string, string>>): boolean {
  // An absent label is the empty string, as in PromQL.
  const v = labels[m.label] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return regexOf(m).test(v);
    case '!~':
      return !regexOf(m).test(v);
  }
}

/**
 * The sum of the samples `selector` names, and how many there were. A counter family may be
 * named with or without its `_total` (OpenMetrics names the family without it).
 */
export function sumMatching(families: readonly MetricFamily[], selector: Selector): { sum: number; samples: number } {
  let sum = 0;
  let samples = 0;
  for (const f of families) {
    if (f.name !== selector.metric && `${f.name}_total` !== selector.metric) continue;
    for (const m of f.metrics) {
      if (!selector.matchers.every((x) => holds(x, m.labels ?? {}))) continue;
      const v = Number(m.value);
      if (!Number.isFinite(v)) throw new SelectorError(`${selector.text}: a sample's value is '${m.value ?? ''}'`);
      sum += v;
      samples++;
    }
  }
  return { sum, samples };
}

/**
 * Two counters' readings at one scrape: the events of one kind (`bad`, or `good` when the SLO
 * names good events, e.g. a histogram's `le="0.1"` bucket) and all events.
 */
export interface CounterReading {
  readonly part: number;
  readonly total: number;
}

/**
 * How much a counter grew between two readings. A counter that went down was reset (its process
 * restarted): what it holds now is what it counted since.
 */
export function counterIncrease(before: number, now: number): number {
  return now >= before ? now - before : now;
}

/**
 * The good/total counts between two scrapes, from whole events: a fractional counter would
 * otherwise drift, so each reading is rounded and the difference taken. The part cannot be more
 * than all events (two counters read a moment apart); no event at all is no observation.
 */
export function countsBetween(
  kind: 'bad' | 'good',
  before: CounterReading,
  now: CounterReading,
): { good: number; total: number } | undefined {
  const total = counterIncrease(Math.round(before.total), Math.round(now.total));
  const part = Math.min(counterIncrease(Math.round(before.part), Math.round(now.part)), total);
  if (total === 0) return undefined;
  return { good: kind === 'good' ? part : total - part, total };
}
