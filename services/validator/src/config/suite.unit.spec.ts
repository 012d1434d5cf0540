import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigFileError } from '@vigil/service-kit';
import { checkKinds, loadSuites, parseSuite } from './suite.js';

const shipped = join(dirname(fileURLToPath(import.meta.url)), '../../../../config/suites');

const minimal = (check: string) => `
name: t
components:
  - name: c
    weight: 1
    checks:
${check}
`;

describe('suite files', () => {
  it('the shipped suites load, with the seed’s six components and weights', async () => {
    const suites = await loadSuites(shipped);
    expect([...suites.keys()].sort()).toEqual(['seed-phases', 'vigil-self']);
    const seed = suites.get('seed-phases')!;
    expect(seed.components.map((c) => [c.name, c.weight])).toEqual([
      ['infrastructure', 0.15],
      ['commands', 0.1],
      ['automation', 0.15],
      ['event_bus', 0.2],
      ['learning', 0.25],
      ['security', 0.15],
    ]);
    expect(seed.interval).toBe(300_000);
    const kinds = new Set(
      [...suites.values()].flatMap((s) => s.components.flatMap((c) => c.checks.map((k) => k.kind))),
    );
    expect([...kinds].sort()).toEqual([...checkKinds].sort());
  });

  it('applies defaults: timeout 5 s, concurrency 8, http GET expecting 2xx; durations become ms', () => {
    const s = parseSuite(
      minimal('      - { name: up, kind: http, params: { url: "http://x/healthz", latencyBudget: 250ms } }'),
      'f.yaml',
    );
    expect(s.concurrency).toBe(8);
    const c = s.components[0]!.checks[0]!;
    expect(c).toMatchObject({
      timeout: 5000,
      kind: 'http',
      params: { method: 'GET', expectStatus: [200, 299], latencyBudget: 250 },
    });
  });

  it.each([
    ['an unknown kind', '      - { name: x, kind: ping, params: {} }', /f\.yaml: components\[0\]\.checks\[0\]\.kind: /],
    [
      'a bad URL',
      '      - { name: x, kind: http, params: { url: "not a url" } }',
      /f\.yaml: components\[0\]\.checks\[0\]\.params\.url: /,
    ],
    [
      'a bad duration',
      '      - { name: x, kind: tcp, timeout: soon, params: { host: h, port: 1 } }',
      /checks\[0\]\.timeout: must be a duration like 250ms/,
    ],
    [
      'a port out of range',
      '      - { name: x, kind: tcp, params: { host: h, port: 70000 } }',
      /checks\[0\]\.params\.port: /,
    ],
    [
      'a port that is true',
      '      - { name: x, kind: tcp, params: { host: h, port: true } }',
      /checks\[0\]\.params\.port: /,
    ],
    [
      'a port that is a list',
      '      - { name: x, kind: tcp, params: { host: h, port: [80] } }',
      /checks\[0\]\.params\.port: /,
    ],
    [
      'a port in quotes that is not digits',
      `      - { name: x, kind: tcp, params: { host: h, port: '80x' } }`,
      /checks\[0\]\.params\.port: must be a port number/,
    ],
    [
      'a deployment name with capitals',
      '      - { name: x, kind: tcp, deployments: [Compose], params: { host: h, port: 1 } }',
      /checks\[0\]\.deployments\[0\]: lower-case letters, digits, - and _/,
    ],
    [
      'an unknown field',
      '      - { name: x, kind: tcp, params: { host: h, port: 1, hots: h } }',
      /checks\[0\]\.params: unknown field hots/,
    ],
    [
      'a container without name or labels',
      '      - { name: x, kind: docker.container, params: { container: {} } }',
      /params\.container: needs a container name or labels/,
    ],
    [
      'a command as a string',
      '      - { name: x, kind: command, params: { run: "rm -rf /" } }',
      /checks\[0\]\.params\.run: /,
    ],
  ])('names the file and the field path: %s', (_what, check, message) => {
    expect(() => parseSuite(minimal(check), 'f.yaml')).toThrow(ConfigFileError);
    expect(() => parseSuite(minimal(check), 'f.yaml')).toThrow(message);
  });

  it('a port in quotes (as a variable with a default writes it) is that number', () => {
    const s = parseSuite(minimal(`      - { name: x, kind: tcp, params: { host: h, port: '4222' } }`), 'f.yaml');
    expect(s.components[0]!.checks[0]!.params).toEqual({ host: 'h', port: 4222 });
  });

  it('names the line of a YAML syntax error, an empty component and a duplicate component', () => {
    expect(() => parseSuite('name: t\ncomponents: [\n', 'bad.yaml')).toThrow(/^bad\.yaml:\d+:\d+: not valid YAML/);
    expect(() => parseSuite('name: t\ncomponents:\n  - { name: c, weight: 1, checks: [] }\n', 'e.yaml')).toThrow(
      /e\.yaml: components\[0\]\.checks: a component needs at least one check/,
    );
    const dup = `name: t\ncomponents:\n  - { name: c, weight: 1, checks: [{ name: x, kind: tcp, params: { host: h, port: 1 } }] }\n  - { name: c, weight: 1, checks: [{ name: x, kind: tcp, params: { host: h, port: 1 } }] }\n`;
    expect(() => parseSuite(dup, 'd.yaml')).toThrow(/d\.yaml: components\[1\]\.name: 'c' appears twice/);
  });

  it('refuses two files defining the same suite, naming both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'suites-'));
    try {
      const body = minimal('      - { name: x, kind: tcp, params: { host: h, port: 1 } }');
      await writeFile(join(dir, 'a.yaml'), body);
      await writeFile(join(dir, 'b.yml'), body);
      await expect(loadSuites(dir)).rejects.toThrow(/b\.yml: name: suite 't' is also defined in a\.yaml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('suite fields at their edges', () => {
  const tcp = (extra = '') => `      - { name: x, kind: tcp, params: { host: h, port: 1 }${extra} }`;
  const refusal = (text: string) => {
    try {
      parseSuite(text, 'f.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigFileError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('a suite name is lower-case letters, digits, - and _, starting with a letter or digit, nothing after', () => {
    expect(parseSuite(minimal(tcp()).replace('name: t', 'name: a-b_9'), 'f.yaml').name).toBe('a-b_9');
    for (const bad of ['-a', 'A', 'a.b', 'a b', "'a!'"]) {
      expect(refusal(minimal(tcp()).replace('name: t', `name: ${bad}`))).toMatch(
        /f\.yaml: name: lower-case letters, digits, - and _/,
      );
    }
  });

  it('a component name may not be empty', () => {
    expect(refusal(minimal(tcp()).replace('- name: c', "- name: ''"))).toMatch(
      /components\[0\]\.name: must not be empty/,
    );
  });

  it('a suite needs a component', () => {
    expect(refusal('name: t\ncomponents: []\n')).toMatch(/f\.yaml: components: a suite needs at least one component/);
  });

  it('a check kind is named when it is not known', () => {
    expect(refusal(minimal('      - { name: x, kind: nope, params: {} }'))).toMatch(
      /checks\[0\]\.kind: Invalid discriminator value\. Expected 'docker\.container' \| 'docker\.hardening' \| 'nats'/,
    );
  });

  it('deployments: at least one when given, each a deployment name; any number above', () => {
    const s = parseSuite(minimal(tcp(', deployments: [local, compose, ci-2]')), 'f.yaml');
    expect(s.components[0]!.checks[0]!.deployments).toEqual(['local', 'compose', 'ci-2']);
    expect(refusal(minimal(tcp(', deployments: []')))).toMatch(/checks\[0\]\.deployments/);
    expect(refusal(minimal(tcp(', deployments: [Local]')))).toMatch(
      /checks\[0\]\.deployments\[0\]: lower-case letters, digits, - and _/,
    );
    expect(refusal(minimal(tcp(", deployments: ['a b']")))).toMatch(/deployments\[0\]: lower-case/);
    expect(refusal(minimal(tcp(", deployments: ['-a']")))).toMatch(/deployments\[0\]: lower-case/);
  });

  it('concurrency: 8 by default, 1 to 64', () => {
    expect(parseSuite(minimal(tcp()), 'f.yaml').concurrency).toBe(8);
    expect(parseSuite(`concurrency: 1\n${minimal(tcp())}`, 'f.yaml').concurrency).toBe(1);
    expect(parseSuite(`concurrency: 64\n${minimal(tcp())}`, 'f.yaml').concurrency).toBe(64);
    expect(refusal(`concurrency: 0\n${minimal(tcp())}`)).toMatch(/concurrency/);
    expect(refusal(`concurrency: 65\n${minimal(tcp())}`)).toMatch(/concurrency/);
  });

  it('a port in quotes must be digits only', () => {
    for (const port of ["'42a'", "'a42'", "' 42'"]) {
      expect(refusal(minimal(`      - { name: x, kind: tcp, params: { host: h, port: ${port} } }`))).toMatch(
        /params\.port: must be a port number/,
      );
    }
  });

  it('a container target may be given by its name alone', () => {
    const s = parseSuite(
      minimal('      - { name: x, kind: docker.container, params: { container: { name: web } } }'),
      'f.yaml',
    );
    expect(s.components[0]!.checks[0]!.params).toMatchObject({ container: { name: 'web' } });
  });

  it('a container target may be given by labels alone', () => {
    const s = parseSuite(
      minimal('      - { name: x, kind: docker.container, params: { container: { labels: { app: web } } } }'),
      'f.yaml',
    );
    expect(s.components[0]!.checks[0]!.params).toMatchObject({ container: { labels: { app: 'web' } } });
  });
});
