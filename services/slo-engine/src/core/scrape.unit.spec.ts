import { describe, expect, it } from 'vitest';
import { parseSlo } from '../config/slo.js';
import { prometheusRules } from './prometheus.js';
import { countsBetween, parseSelector, SelectorError, sumMatching, type MetricFamily } from './scrape.js';

const families: MetricFamily[] = [
  {
    name: 'http_requests_total',
    type: 'COUNTER',
    metrics: [
      { value: '900', labels: { code: '200', path: '/a' } },
      { value: '80', labels: { code: '503', path: '/a' } },
      { value: '20', labels: { code: '500' } },
    ],
  },
  { name: 'jobs', type: 'COUNTER', metrics: [{ value: '7' }] },
  { name: 'up', type: 'GAUGE', metrics: [{ value: '1' }] },
];

describe('selectors', () => {
  it('parses a name with =, !=, =~ and !~ matchers, escapes included', () => {
    expect(
      parseSelector(' http_requests_total{code=~"5..", path!="/health",le="0.1", x!~"a|b", q="say \\"hi\\""} '),
    ).toEqual({
      metric: 'http_requests_total',
      matchers: [
        { label: 'code', op: '=~', value: '5..' },
        { label: 'path', op: '!=', value: '/health' },
        { label: 'le', op: '=', value: '0.1' },
        { label: 'x', op: '!~', value: 'a|b' },
        { label: 'q', op: '=', value: 'say "hi"' },
      ],
      text: 'http_requests_total{code=~"5..", path!="/health",le="0.1", x!~"a|b", q="say \\"hi\\""}',
    });
    expect(parseSelector('up{}')).toMatchObject({ metric: 'up', matchers: [] });
  });

  it('says what it expected where', () => {
    const cases: [string, string][] = [
      ['{code="5"}', 'expected a metric name at character 1 of \'{code="5"}\''],
      ['x{code 5}', "expected =, !=, =~ or !~ at character 8 of 'x{code 5}'"],
      ['x{code=5}', "expected a double-quoted value at character 8 of 'x{code=5}'"],
      ['x{code="5" path="a"}', 'expected , or } at character 12 of \'x{code="5" path="a"}\''],
      ['x{1a="5"}', 'expected a label name at character 3 of \'x{1a="5"}\''],
      ['x[5m]', "unexpected '[5m]' at character 2 of 'x[5m]'"],
    ];
    for (const [text, message] of cases) expect(() => parseSelector(text), text).toThrow(new SelectorError(message));
    expect(() => parseSelector('x{code=~"5(("}')).toThrow(
      /invalid regular expression for code in 'x\{code=~"5\(\("\}'/,
    );
  });

  it('sums the samples a selector names; regexes match whole values; a counter named with or without _total', () => {
    const sum = (s: string) => sumMatching(families, parseSelector(s));
    expect(sum('http_requests_total')).toEqual({ sum: 1000, samples: 3 });
    expect(sum('http_requests_total{code=~"5.."}')).toEqual({ sum: 100, samples: 2 });
    // Anchored: "5" alone matches no code.
    expect(sum('http_requests_total{code=~"5"}')).toEqual({ sum: 0, samples: 0 });
    expect(sum('http_requests_total{code!~"5.."}')).toEqual({ sum: 900, samples: 1 });
    // An absent label is empty.
    expect(sum('http_requests_total{path=""}')).toEqual({ sum: 20, samples: 1 });
    expect(sum('jobs_total')).toEqual({ sum: 7, samples: 1 });
    expect(() => sumMatching([{ name: 'x', metrics: [{ value: 'NaN' }] }], parseSelector('x'))).toThrow(
      "x: a sample's value is 'NaN'",
    );
  });
});

describe('selectors at their edges (mutation testing found these unpinned)', () => {
  it('spaces anywhere between the tokens; \\n is a newline, any other escaped character itself', () => {
    expect(parseSelector(' x { a = "1" , b != "2\\n\\\\" } ')).toEqual({
      metric: 'x',
      matchers: [
        { label: 'a', op: '=', value: '1' },
        { label: 'b', op: '!=', value: '2\n\\' },
      ],
      text: 'x { a = "1" , b != "2\\n\\\\" }',
    });
  });

  it('what follows the braces is named without the spaces before it', () => {
    expect(() => parseSelector('x{} [5m]')).toThrow(
      new SelectorError("unexpected '[5m]' at character 5 of 'x{} [5m]'"),
    );
  });

  it('a value starts right after its operator', () => {
    expect(() => parseSelector('x{a=b"1"}')).toThrow(
      new SelectorError('expected a double-quoted value at character 5 of \'x{a=b"1"}\''),
    );
  });

  it('only regex matchers are compiled: = and != take any text; an invalid !~ is refused', () => {
    expect(parseSelector('x{a="(", b!="["}').matchers.map((m) => m.value)).toEqual(['(', '[']);
    expect(() => parseSelector('x{a!~"("}')).toThrow(/invalid regular expression for a in 'x\{a!~"\("\}'/);
  });

  it('!= keeps the samples whose label differs, an absent one included', () => {
    expect(sumMatching(families, parseSelector('http_requests_total{code!="200"}'))).toEqual({ sum: 100, samples: 2 });
    expect(sumMatching(families, parseSelector('http_requests_total{path!="/a"}'))).toEqual({ sum: 20, samples: 1 });
  });

  it('a sample without a value is named as empty; the error carries its code', () => {
    let thrown: unknown;
    try {
      sumMatching([{ name: 'x', metrics: [{}] }], parseSelector('x'));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(SelectorError);
    expect((thrown as SelectorError).message).toBe("x: a sample's value is ''");
    expect((thrown as SelectorError).code).toBe('SELECTOR_INVALID');
  });
});

describe('counts between two scrapes', () => {
  it('the counters growth: bad events or good ones, whole events, a reset read as a restart', () => {
    expect(countsBetween('bad', { part: 10, total: 1000 }, { part: 30, total: 2000 })).toEqual({
      good: 980,
      total: 1000,
    });
    expect(countsBetween('good', { part: 990, total: 1000 }, { part: 1900, total: 2000 })).toEqual({
      good: 910,
      total: 1000,
    });
    // The process behind the endpoint restarted: both counters began again from 0.
    expect(countsBetween('bad', { part: 30, total: 2000 }, { part: 4, total: 50 })).toEqual({ good: 46, total: 50 });
    // Fractional counters: rounded readings, so that differences add up.
    expect(countsBetween('bad', { part: 0.4, total: 10.4 }, { part: 0.6, total: 12.6 })).toEqual({ good: 2, total: 3 });
    // Nothing happened: no observation. Bad cannot exceed all.
    expect(countsBetween('bad', { part: 3, total: 10 }, { part: 3, total: 10 })).toBeUndefined();
    expect(countsBetween('bad', { part: 3, total: 10 }, { part: 9, total: 12 })).toEqual({ good: 0, total: 2 });
  });
});

describe('a scraped SLO file', () => {
  const file = (source: string) =>
    `name: api\nservice: shop\nobjective: 99.5\nsli:\n  prometheus:\n${source
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}\n`;

  it('takes a URL, the total and the errors (or good) selectors, an interval and a timeout', () => {
    const slo = parseSlo(
      file('url: http://shop:8080/metrics\ntotal: http_requests_total\nerrors: http_requests_total{code=~"5.."}'),
      'api.yaml',
    );
    expect(slo.sli).toMatchObject({
      prometheus: {
        url: 'http://shop:8080/metrics',
        total: { metric: 'http_requests_total', matchers: [] },
        errors: { metric: 'http_requests_total', matchers: [{ label: 'code', op: '=~', value: '5..' }] },
        interval: 15_000,
        timeout: 5000,
      },
    });
    // The exported rules read the scraped counters themselves.
    const rules = prometheusRules(slo).rules;
    expect(rules.find((r) => r.record === 'vigil_slo:sli_error:ratio_rate5m')?.expr).toBe(
      'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
    );
    const good = parseSlo(
      file(
        'url: http://shop/metrics\ntotal: latency_seconds_count\ngood: latency_seconds_bucket{le="0.1"}\ninterval: 30s',
      ),
      'api.yaml',
    );
    expect(prometheusRules(good).rules.find((r) => r.record === 'vigil_slo:sli_error:ratio_rate1h')?.expr).toBe(
      '1 - sum(rate(latency_seconds_bucket{le="0.1"}[1h])) / sum(rate(latency_seconds_count[1h]))',
    );
  });

  it('refuses what it cannot use, naming the field', () => {
    const refusals: [string, RegExp][] = [
      ['url: ftp://shop/metrics\ntotal: x\nerrors: y', /sli\.prometheus\.url: must be an http\(s\) URL/],
      ['url: http://shop/metrics\ntotal: x', /sli\.prometheus\.errors: needs exactly one of errors .* or good/],
      ['url: http://shop/metrics\ntotal: x\nerrors: y\ngood: z', /needs exactly one of errors/],
      ['url: http://shop/metrics\ntotal: x{a=1}\nerrors: y', /sli\.prometheus\.total: expected a double-quoted value/],
      [
        'url: http://shop/metrics\ntotal: x\nerrors: y\ninterval: 10m',
        /sli\.prometheus\.interval: must be from 1s to 5m/,
      ],
    ];
    for (const [source, message] of refusals) expect(() => parseSlo(file(source), 'api.yaml'), source).toThrow(message);
  });
});
