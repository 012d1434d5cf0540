import { describe, expect, it } from 'vitest';
import { globMatcher } from './glob.js';

describe('globMatcher', () => {
  it('matches at any depth with **, within a segment with *, dot files included', () => {
    const m = globMatcher(['**/*.spec.*', 'conf/**/*.yml', '.env*', 'a?c.txt']);
    expect(
      ['x/y/b.spec.ts', 'b.spec.ts', 'conf/a.yml', 'conf/d/e/a.yml', '.env', '.env.local', 'abc.txt'].map(m),
    ).toEqual([true, true, true, true, true, true, true]);
    expect(['conf/a.yaml', 'other/conf/a.yml', 'x/.env', 'abbc.txt', 'b.spec'].map(m)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('takes braces; no globs match nothing', () => {
    expect(globMatcher(['**/*.{key,pem}'])('deploy/tls/server.pem')).toBe(true);
    expect(globMatcher([])('anything')).toBe(false);
  });
});
