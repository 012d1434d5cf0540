import { parseSuite, type CheckConfig } from '../config/suite.js';

/** One check as a suite file would declare it (inline YAML), with the schema's defaults applied. */
export function checkFromYaml(yaml: string): CheckConfig {
  return parseSuite(`name: t\ncomponents:\n  - name: c\n    weight: 1\n    checks:\n      - ${yaml}\n`, 'test.yaml')
    .components[0]!.checks[0]!;
}
