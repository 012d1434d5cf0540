import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigFileError } from '@vigil/service-kit';
import { defaultTiers, loadSlos, parseSlo } from './slo.js';

const shipped = fileURLToPath(new URL('../../../../config/slos', import.meta.url));
const base = 'name: a\nservice: s\nobjective: 99.9\nsli: { observed: { sli: x } }\n';

describe('SLO files', () => {
  it('the shipped SLOs are the seed defaults: availability 99.9 %, latency p99 100 ms, error rate 1 %, 30 days', async () => {
    const slos = await loadSlos(shipped);
    expect([...slos.keys()].sort()).toEqual(['availability', 'error-rate', 'latency']);
    expect(slos.get('availability')).toMatchObject({ objective: 99.9, window: 30 * 86_400_000 });
    expect(slos.get('latency')).toMatchObject({
      objective: 99,
      sli: { events: { type: 'validation.completed', each: 'check', good: { durationMs: { lte: 100 } } } },
    });
    expect(slos.get('error-rate')).toMatchObject({ objective: 99 });
    for (const s of slos.values()) expect(s.alerting.tiers).toEqual(defaultTiers);
  });

  it('defaults: 30-day window, the SRE Workbook table, no re-notify', () => {
    const s = parseSlo(base, 'a.yaml');
    expect(s.window).toBe(2_592_000_000);
    expect(s.alerting).toEqual({ enabled: true, tiers: defaultTiers });
    expect(defaultTiers.map((t) => [t.severity, t.long / 60_000, t.short / 60_000, t.burnRate])).toEqual([
      ['page', 60, 5, 14.4],
      ['page', 360, 30, 6],
      ['ticket', 1440, 120, 3],
      ['ticket', 4320, 360, 1],
    ]);
    // A shorter window keeps the default tiers that fit in it.
    expect(parseSlo(`${base}window: 1d\n`, 'a.yaml').alerting.tiers.map((t) => t.burnRate)).toEqual([14.4, 6, 3]);
  });

  it.each([
    ['an objective of 100', 'objective: 100', /a\.yaml: objective: /],
    ['a window in seconds', 'window: 90s', /a\.yaml: window: must be whole minutes/],
    ['an unknown event type', 'sli: { events: { type: nope, good: { a: 1 } } }', /a\.yaml: sli/],
    [
      'each check on another type',
      'sli: { events: { type: sli.observed, each: check, good: { a: 1 } } }',
      /a\.yaml: sli\.events\.each: check applies to validation\.completed only/,
    ],
    ['an empty good', 'sli: { events: { type: validation.completed, good: {} } }', /a\.yaml: sli/],
    ['an empty operator object', 'sli: { events: { type: validation.completed, good: { a: {} } } }', /a\.yaml: sli/],
    [
      'a short window not shorter',
      'alerting: { tiers: [{ severity: page, long: 5m, short: 5m, burnRate: 2 }] }',
      /a\.yaml: alerting\.tiers\[0\]\.short: short must be shorter than long/,
    ],
    [
      'a tier longer than the window',
      'window: 1h\nalerting: { tiers: [{ severity: page, long: 2h, short: 5m, burnRate: 2 }] }',
      /a\.yaml: alerting\.tiers\[0\]\.long: 2h is longer than the SLO window 1h/,
    ],
    [
      'an unknown severity',
      'alerting: { tiers: [{ severity: sms, long: 1h, short: 5m, burnRate: 2 }] }',
      /a\.yaml: alerting\.tiers\[0\]\.severity: /,
    ],
    ['an unknown field', 'owner: me', /a\.yaml: \(file\): unknown field owner/],
    [
      'a misspelt event type, named in its branch of the sli',
      'sli: { events: { type: validation.finished, good: { status: PASS } } }',
      /a\.yaml: sli\.events\.type: Invalid option/,
    ],
    [
      'a condition on a field checks do not have',
      'sli: { events: { type: validation.completed, each: check, good: { durationMS: { lte: 100 } } } }',
      /a\.yaml: sli\.events\.good\.durationMS: 'durationMS' is not a field of each check of validation\.completed \(fields: name, kind, .*component, suite\)/,
    ],
    [
      'a where on a field the event does not have',
      'sli: { events: { type: validation.completed, where: { sute: x }, good: { status: PASS } } }',
      /a\.yaml: sli\.events\.where\.sute: 'sute' is not a field of the data of validation\.completed/,
    ],
    ['a missing objective', 'objective: ', /a\.yaml: objective: is required \(number\)/],
  ])('%s is refused, naming file and field', (_, extra, message) => {
    const text =
      extra.startsWith('sli:') || extra.startsWith('objective:')
        ? base.replace(new RegExp(`^${extra.split(':')[0]}:.*$`, 'm'), extra)
        : `${base}${extra}\n`;
    expect(() => parseSlo(text, 'a.yaml')).toThrow(ConfigFileError);
    expect(() => parseSlo(text, 'a.yaml')).toThrow(message);
  });

  it('a name used in two files, or a folder without SLOs, stops the start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-slos-'));
    try {
      await expect(loadSlos(dir)).rejects.toThrow(/no SLO files/);
      await writeFile(join(dir, 'a.yaml'), base);
      await writeFile(join(dir, 'b.yml'), base);
      await expect(loadSlos(dir)).rejects.toThrow(/b\.yml: name: SLO 'a' is also defined in a\.yaml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('each rule at its boundary, with its message (mutation testing found these unpinned)', () => {
  const withSli = (sli: string, rest = '') => `name: a\nservice: s\nobjective: 99.9\nsli: ${sli}\n${rest}`;
  const scraped = (extra: string) =>
    withSli(`{ prometheus: { url: "http://127.0.0.1:9/metrics", total: t_total, errors: e_total${extra} } }`);
  const refusal = (text: string) => {
    try {
      parseSlo(text, 'a.yaml');
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };

  it('a scrape interval from 1s to 5m and a timeout from 100ms to 60s', () => {
    for (const ok of ['1s', '5m']) expect(refusal(scraped(`, interval: ${ok}`)), ok).toBe('accepted');
    for (const bad of ['999ms', '301s']) {
      expect(refusal(scraped(`, interval: ${bad}`)), bad).toMatch('sli.prometheus.interval: must be from 1s to 5m');
    }
    for (const ok of ['100ms', '5s', '60s']) expect(refusal(scraped(`, timeout: ${ok}`)), ok).toBe('accepted');
    for (const bad of ['99ms', '61s']) {
      expect(refusal(scraped(`, timeout: ${bad}`)), bad).toMatch('sli.prometheus.timeout: must be from 100ms to 60s');
    }
  });

  it('an http(s) URL only, the scheme whole', () => {
    for (const url of ['httpx://a/metrics', 'xhttp://a/metrics', 'ftp://a/metrics']) {
      expect(refusal(withSli(`{ prometheus: { url: "${url}", total: t_total, errors: e_total } }`)), url).toMatch(
        'sli.prometheus.url: must be an http(s) URL',
      );
    }
  });

  it('lists of one or more; an empty condition or operator object says what it needs', () => {
    const good = (g: string) => withSli(`{ events: { type: validation.completed, good: ${g} } }`);
    expect(refusal(good('{ status: { in: [PASS, WARN] } }'))).toBe('accepted');
    expect(refusal(good('{ status: { notIn: [FAIL, ERROR] } }'))).toBe('accepted');
    expect(refusal(good('{ status: { in: [] } }'))).toMatch('sli.events.good.status');
    expect(refusal(good('{ status: {} }'))).toMatch('needs at least one of eq, ne, in, notIn, lt, lte, gt, gte');
    expect(refusal(good('{}'))).toMatch('sli.events.good: needs at least one condition');
  });

  it('each: event is said or left out alike; any type may be counted per event', () => {
    expect(refusal(withSli('{ events: { type: validation.completed, each: event, good: { status: PASS } } }'))).toBe(
      'accepted',
    );
    expect(refusal(withSli('{ events: { type: sli.observed, good: { sli: x } } }'))).toBe('accepted');
  });

  it('a tier as long as the window fits', () => {
    expect(
      refusal(`${base}window: 1h\nalerting: { tiers: [{ severity: page, long: 1h, short: 5m, burnRate: 2 }] }\n`),
    ).toBe('accepted');
  });

  it('a name is lower-case letters, digits, ., - and _ from its first character to its last', () => {
    for (const name of ['-a', 'a!', 'A']) {
      expect(refusal(base.replace('name: a', `name: "${name}"`)), name).toMatch(
        'name: lower-case letters, digits, ., - and _',
      );
    }
  });

  it('a folder that cannot be read is named, with the reason', async () => {
    await expect(loadSlos('/nonexistent/slos')).rejects.toThrow(
      '/nonexistent/slos: cannot read the SLO folder (ENOENT)',
    );
  });
});
