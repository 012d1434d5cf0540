import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '@vigil/events';
import { ConfigFileError, duration, formatDuration, yamlError } from '@vigil/service-kit';

/**
 * OpenSLO v1 documents (kinds SLO, SLI, AlertPolicy, AlertCondition) mapped to vigil's SLO file
 * shape, which `sloSchema` then checks like any other. What vigil cannot do the same way is
 * refused with the document and the field, never approximated in silence.
 */

export const OPENSLO_API_VERSION = 'openslo/v1';

const metadata = z.object({ name: z.string().min(1), displayName: z.string().optional() });

/** A document of one kind: the API version, the kind, its metadata and `spec`. */
const document = <K extends string, S extends z.ZodType>(kind: K, spec: S) =>
  z.object({ apiVersion: z.literal(OPENSLO_API_VERSION), kind: z.literal(kind), metadata, spec });

/**
 * A metric source. `Prometheus`: vigil scrapes a metrics endpoint, so `spec.url` is that
 * endpoint (a service's /metrics, not a Prometheus server) and `spec.query` a plain selector.
 * `vigil`: `spec` is an SLI of vigil's own (`events` or `observed`, as in vigil's SLO files).
 */
const metricSource = z.object({
  metricSourceRef: z.string().optional(),
  type: z.string().min(1),
  spec: z.record(z.string(), z.unknown()),
});
const source = z.object({ metricSource });

const sliSpec = z.object({
  description: z.string().optional(),
  thresholdMetric: source.optional(),
  ratioMetric: z
    .object({
      counter: z.boolean().optional(),
      good: source.optional(),
      bad: source.optional(),
      total: source,
      rawType: z.unknown().optional(),
      raw: z.unknown().optional(),
    })
    .optional(),
});
const sliDoc = document('SLI', sliSpec);

const alertConditionSpec = z.object({
  description: z.string().optional(),
  severity: z.string().min(1),
  condition: z.object({
    kind: z.string(),
    op: z.string(),
    threshold: z.number().positive(),
    lookbackWindow: duration,
    alertAfter: duration.or(z.literal(0)).optional(),
  }),
});
const alertConditionDoc = document('AlertCondition', alertConditionSpec);
const alertPolicySpec = z.object({
  description: z.string().optional(),
  alertWhenBreaching: z.boolean().optional(),
  alertWhenResolved: z.boolean().optional(),
  alertWhenNoData: z.boolean().optional(),
  conditions: z
    .array(
      z.union([
        z.object({ kind: z.literal('AlertCondition'), metadata: metadata.optional(), spec: alertConditionSpec }),
        z.object({ conditionRef: z.string().min(1) }),
      ]),
    )
    .min(1),
  notificationTargets: z.array(z.unknown()).optional(),
});
const alertPolicyDoc = document('AlertPolicy', alertPolicySpec);

const sloDoc = document(
  'SLO',
  z.object({
    description: z.string().optional(),
    service: z.string().min(1),
    indicator: z.object({ metadata, spec: sliSpec }).optional(),
    indicatorRef: z.string().optional(),
    timeWindow: z
      .array(z.object({ duration, isRolling: z.boolean().optional(), calendar: z.unknown().optional() }))
      .optional(),
    budgetingMethod: z.string().optional(),
    objectives: z
      .array(
        z.object({
          displayName: z.string().optional(),
          op: z.string().optional(),
          value: z.number().optional(),
          target: z.number().gt(0).lt(1).optional(),
          targetPercent: z.number().gt(0).lt(100).optional(),
          indicator: z.unknown().optional(),
          indicatorRef: z.string().optional(),
        }),
      )
      .min(1),
    alertPolicies: z
      .array(
        z.union([
          z.object({ alertPolicyRef: z.string().min(1) }),
          z.object({ kind: z.literal('AlertPolicy'), metadata, spec: alertPolicySpec }),
        ]),
      )
      .optional(),
  }),
);

/** One OpenSLO document and where it came from, for messages. */
export interface OpenSloDocument {
  readonly file: string;
  /** 1-based position in its file. */
  readonly index: number;
  readonly value: unknown;
}

/** Whether a YAML file's text holds OpenSLO documents (its first document names the API). */
export function isOpenSlo(text: string): boolean {
  return /^apiVersion:\s*["']?openslo\/v1["']?\s*$/m.test(text);
}

/** Every document of an OpenSLO file, or a ConfigFileError naming the line of a YAML error. */
export function openSloDocuments(text: string, file: string): OpenSloDocument[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new ConfigFileError(`${file}: not valid YAML`);
  return docs.flatMap((doc, i) => {
    if (doc.errors.length > 0) throw yamlError(file, doc.errors[0]!);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [{ file, index: i + 1, value }];
  });
}

type Where = { file: string; index: number; name?: string };
const where = (d: Where) => `${d.file} (document ${d.index}${d.name === undefined ? '' : `, ${d.name}`})`;

function fail(d: Where, path: string, message: string): never {
  throw new ConfigFileError(`${where(d)}: ${path}: ${message}`);
}

/** A document checked against its kind's schema; errors name the document and each field. */
function parsed<S extends z.ZodType>(schema: S, doc: OpenSloDocument): z.output<S> {
  const r = schema.safeParse(doc.value);
  if (r.success) return r.data;
  const name = (doc.value as { metadata?: { name?: unknown } }).metadata?.name;
  const d = { ...doc, ...(typeof name === 'string' ? { name } : {}) };
  const lines = describeIssues(r.error.issues, { unknownFields: 'message' })
    .slice(0, 5)
    .map((i) => `${where(d)}: ${i.path || '(document)'}: ${i.message}`);
  throw new ConfigFileError(lines.join('\n'));
}

type SliSpec = z.output<typeof sliSpec>;
type AlertConditionSpec = z.output<typeof alertConditionSpec>;

/** A Prometheus metric source's endpoint and selector. */
function prometheusSource(d: Where, path: string, ms: z.output<typeof metricSource>): { url: string; query: string } {
  if (ms.metricSourceRef !== undefined)
    fail(d, `${path}.metricSourceRef`, 'DataSource references are not supported: give type and spec inline');
  const url = ms.spec['url'];
  const query = ms.spec['query'];
  if (typeof url !== 'string')
    fail(d, `${path}.spec.url`, "needs the metrics endpoint's URL (vigil scrapes it; it is not a Prometheus server)");
  if (typeof query !== 'string')
    fail(d, `${path}.spec.query`, 'needs a selector, e.g. http_requests_total{code=~"5.."}');
  return { url, query };
}

type Objective = { op?: string | undefined; value?: number | undefined };

/** The vigil SLI an OpenSLO indicator (with the objective's op and value) stands for. */
function sliOf(d: Where, path: string, spec: SliSpec, objective: Objective): unknown {
  if (spec.ratioMetric !== undefined) return ratioSli(d, `${path}.ratioMetric`, spec.ratioMetric);
  if (spec.thresholdMetric !== undefined)
    return thresholdSli(d, `${path}.thresholdMetric.metricSource`, spec.thresholdMetric.metricSource, objective);
  return fail(d, path, 'needs ratioMetric or thresholdMetric');
}

/** good (or bad) over total, both counters of one source: a metrics endpoint, or vigil's events. */
function ratioSli(d: Where, at: string, r: NonNullable<SliSpec['ratioMetric']>): unknown {
  if (r.raw !== undefined || r.rawType !== undefined)
    fail(d, `${at}.raw`, 'raw ratios are not supported: give good or bad, and total');
  if (r.counter === false) fail(d, `${at}.counter`, 'must be true: vigil counts events, it does not read ratios');
  if ((r.good === undefined) === (r.bad === undefined)) fail(d, at, 'needs exactly one of good or bad, and total');
  const part = (r.good ?? r.bad)!;
  const partName = r.good !== undefined ? 'good' : 'bad';
  const kind = r.total.metricSource.type.toLowerCase();
  if (part.metricSource.type.toLowerCase() !== kind) {
    fail(d, `${at}.${partName}.metricSource.type`, `must be the same as total's (${r.total.metricSource.type})`);
  }
  if (kind === 'prometheus') {
    const total = prometheusSource(d, `${at}.total.metricSource`, r.total.metricSource);
    const p = prometheusSource(d, `${at}.${partName}.metricSource`, part.metricSource);
    if (p.url !== total.url)
      fail(d, `${at}.${partName}.metricSource.spec.url`, `must be total's endpoint (${total.url})`);
    return { prometheus: { url: total.url, total: total.query, [partName === 'good' ? 'good' : 'errors']: p.query } };
  }
  if (kind === 'vigil') {
    if (partName !== 'good') fail(d, `${at}.bad`, 'a vigil source names the good events: use good');
    const totalSpec = r.total.metricSource.spec;
    const good = part.metricSource.spec['good'];
    if (good === undefined) fail(d, `${at}.good.metricSource.spec.good`, 'needs the conditions of a good event');
    return { events: { ...totalSpec, good } };
  }
  return fail(
    d,
    `${at}.total.metricSource.type`,
    `'${r.total.metricSource.type}' cannot be mapped: vigil reads Prometheus (a metrics endpoint) or vigil (events)`,
  );
}

/** An event field compared with the objective's op and value: good when it holds. */
function thresholdSli(
  d: Where,
  at: string,
  ms: NonNullable<SliSpec['thresholdMetric']>['metricSource'],
  objective: Objective,
): unknown {
  if (ms.type.toLowerCase() !== 'vigil') {
    fail(
      d,
      `${at}.type`,
      `'${ms.type}' cannot be mapped: a threshold metric needs a vigil events source (a Prometheus gauge cannot be counted)`,
    );
  }
  const field = ms.spec['field'];
  if (typeof field !== 'string')
    fail(d, `${at}.spec.field`, 'needs the event field the objective compares, e.g. durationMs');
  const ops: Record<string, string> = { lte: 'lte', lt: 'lt', gte: 'gte', gt: 'gt' };
  const op = objective.op === undefined ? undefined : ops[objective.op];
  if (op === undefined)
    fail(
      d,
      'spec.objectives[0].op',
      `must be one of lt, lte, gt, gte for a threshold metric, got '${objective.op ?? ''}'`,
    );
  if (objective.value === undefined)
    fail(d, 'spec.objectives[0].value', 'needs the threshold a good event stays within');
  const { field: _field, ...events } = ms.spec;
  return { events: { ...events, good: { [field]: { [op]: objective.value } } } };
}

/** A burn-rate condition as a vigil tier: the lookback window long, a twelfth of it short. */
function tierOf(d: Where, path: string, c: AlertConditionSpec): unknown {
  if (c.condition.kind !== 'burnrate') fail(d, `${path}.condition.kind`, `must be burnrate, got '${c.condition.kind}'`);
  if (c.condition.op !== 'gt' && c.condition.op !== 'gte') {
    fail(d, `${path}.condition.op`, `must be gt (vigil fires strictly above a burn rate), got '${c.condition.op}'`);
  }
  if (c.condition.alertAfter !== undefined && c.condition.alertAfter !== 0) {
    fail(
      d,
      `${path}.condition.alertAfter`,
      "is not supported: a tier's short window (a twelfth of the lookback window) keeps it from flapping",
    );
  }
  const severity = c.severity.toLowerCase();
  if (severity !== 'page' && severity !== 'ticket')
    fail(d, `${path}.severity`, `must be page or ticket, got '${c.severity}'`);
  const long = c.condition.lookbackWindow;
  // The SRE Workbook's short window, in whole minutes as vigil's buckets are.
  const short = Math.max(60_000, Math.round(long / 12 / 60_000) * 60_000);
  return { severity, long: formatDuration(long), short: formatDuration(short), burnRate: c.condition.threshold };
}

type Ref = (d: Where, path: string, kind: string, name: string) => OpenSloDocument;

/** The documents by kind and name (each name once per kind), and the SLOs among them. */
function indexDocuments(docs: readonly OpenSloDocument[]): { slos: OpenSloDocument[]; ref: Ref } {
  const byKind = new Map<string, Map<string, OpenSloDocument>>();
  const slos: OpenSloDocument[] = [];
  for (const doc of docs) {
    const v = doc.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
    if (v.apiVersion !== OPENSLO_API_VERSION)
      fail(doc, 'apiVersion', `must be ${OPENSLO_API_VERSION}, got '${String(v.apiVersion)}'`);
    const kind = String(v.kind);
    if (
      !['SLO', 'SLI', 'AlertPolicy', 'AlertCondition', 'Service', 'DataSource', 'AlertNotificationTarget'].includes(
        kind,
      )
    ) {
      fail(doc, 'kind', `must be SLO, SLI, AlertPolicy or AlertCondition, got '${kind}'`);
    }
    if (kind === 'SLO') slos.push(doc);
    const name = typeof v.metadata?.name === 'string' ? v.metadata.name : undefined;
    if (name === undefined) fail(doc, 'metadata.name', 'is required');
    const of = byKind.get(kind) ?? new Map<string, OpenSloDocument>();
    const twice = of.get(name);
    if (twice !== undefined) fail(doc, 'metadata.name', `${kind} '${name}' is also defined in ${where(twice)}`);
    of.set(name, doc);
    byKind.set(kind, of);
  }
  const ref: Ref = (d, path, kind, name) =>
    byKind.get(kind)?.get(name) ?? fail(d, path, `no ${kind} named '${name}' among the OpenSLO documents`);
  return { slos, ref };
}

/**
 * vigil SLO objects (to be checked by `sloSchema`) from a set of OpenSLO documents: SLOs with
 * their SLIs and alert policies inline or referenced by name anywhere in the set. Each result
 * carries its document for the messages of that check.
 */
export function fromOpenSlo(docs: readonly OpenSloDocument[]): { value: unknown; file: string; label: string }[] {
  const { slos, ref } = indexDocuments(docs);
  return slos.map((doc) => {
    const slo = parsed(sloDoc, doc);
    const d: Where = { file: doc.file, index: doc.index, name: slo.metadata.name };
    const s = slo.spec;
    if (s.objectives.length > 1) fail(d, 'spec.objectives', 'one objective per SLO: write one SLO for each');
    const objective = s.objectives[0]!;
    const target = objective.targetPercent ?? (objective.target === undefined ? undefined : objective.target * 100);
    if (target === undefined) fail(d, 'spec.objectives[0]', 'needs target (0-1) or targetPercent');
    if (s.budgetingMethod !== undefined && s.budgetingMethod !== 'Occurrences') {
      fail(d, 'spec.budgetingMethod', `must be Occurrences (vigil counts events), got '${s.budgetingMethod}'`);
    }
    const windows = s.timeWindow ?? [];
    if (windows.length > 1) fail(d, 'spec.timeWindow', 'one time window per SLO');
    const window = windows[0];
    if (window !== undefined && (window.isRolling === false || window.calendar !== undefined)) {
      fail(d, 'spec.timeWindow[0]', 'calendar windows are not supported: vigil keeps rolling windows');
    }
    let indicator: SliSpec;
    let indicatorPath = 'spec.indicator.spec';
    if (s.indicator !== undefined) indicator = s.indicator.spec;
    else if (s.indicatorRef !== undefined) {
      const sli = ref(d, 'spec.indicatorRef', 'SLI', s.indicatorRef);
      indicator = parsed(sliDoc, sli).spec;
      indicatorPath = `SLI ${s.indicatorRef}: spec`;
    } else return fail(d, 'spec', 'needs indicator or indicatorRef');
    const tiers = tiersOf(d, s.alertPolicies ?? [], ref);
    return {
      file: where(d),
      label: slo.metadata.name,
      value: {
        name: slo.metadata.name,
        service: s.service,
        ...(s.description === undefined ? {} : { description: s.description }),
        sli: sliOf(d, indicatorPath, indicator, objective),
        objective: target,
        ...(window === undefined ? {} : { window: formatDuration(window.duration) }),
        // No alert policy: vigil's default tiers, as for its own files.
        ...(tiers.length === 0 ? {} : { alerting: { tiers } }),
      },
    };
  });
}

type SloSpec = ReturnType<typeof parsed<typeof sloDoc>>['spec'];

/** Every burn-rate condition of the SLO's alert policies (inline or referenced) as a vigil tier. */
function tiersOf(d: Where, policies: NonNullable<SloSpec['alertPolicies']>, ref: Ref): unknown[] {
  const tiers: unknown[] = [];
  for (const [i, p] of policies.entries()) {
    const policy =
      'alertPolicyRef' in p
        ? parsed(alertPolicyDoc, ref(d, `spec.alertPolicies[${i}].alertPolicyRef`, 'AlertPolicy', p.alertPolicyRef))
            .spec
        : p.spec;
    const at = `spec.alertPolicies[${i}]`;
    if (policy.alertWhenNoData === true) fail(d, `${at}.alertWhenNoData`, 'is not supported: no events burn no budget');
    if (policy.alertWhenBreaching === false)
      fail(d, `${at}.alertWhenBreaching`, 'must be true: vigil alerts on burn rates');
    for (const [j, c] of policy.conditions.entries()) {
      const spec =
        'conditionRef' in c
          ? parsed(alertConditionDoc, ref(d, `${at}.conditions[${j}].conditionRef`, 'AlertCondition', c.conditionRef))
              .spec
          : c.spec;
      tiers.push(tierOf(d, `${at}.conditions[${j}]`, spec));
    }
  }
  return tiers;
}
