import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSlos } from '../config/slo.js';
import { prometheusRuleYaml } from './prometheus.js';

describe('the compose metrics profile', () => {
  it('deploy/compose/prometheus/vigil-slos.yml is the export of the shipped SLOs (regenerate with vigil slo export --prometheus)', async () => {
    const shipped = await loadSlos(fileURLToPath(new URL('../../../../config/slos', import.meta.url)));
    const file = readFileSync(new URL('../../../../deploy/compose/prometheus/vigil-slos.yml', import.meta.url), 'utf8');
    expect(file).toBe(prometheusRuleYaml([...shipped.values()]));
  });
});
