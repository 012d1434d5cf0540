import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstRunAt, nextRunAt, phaseOf } from './schedule.js';

const MIN = 60_000;

describe('schedule', () => {
  it('given the shipped suites every 5 minutes, their runs fall at different phases, the same in every instance', () => {
    const a = phaseOf('vigil-self', 5 * MIN);
    const b = phaseOf('seed-phases', 5 * MIN);
    expect(a).not.toBe(b);
    expect(phaseOf('vigil-self', 5 * MIN)).toBe(a);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(5 * MIN);
  });

  it('the next run is the first instant at or after `from` at the phase', () => {
    expect(nextRunAt(1_000, 300, 100)).toBe(1_000);
    expect(nextRunAt(1_001, 300, 100)).toBe(1_300);
    expect(nextRunAt(999, 300, 100)).toBe(1_000);
    expect(nextRunAt(0, 300, 299)).toBe(299);
  });

  it('the first run comes at least one interval after the start, within two (property)', () => {
    fc.assert(
      fc.property(fc.nat(1e12), fc.integer({ min: 1, max: 86_400_000 }), fc.string(), (start, every, name) => {
        const at = firstRunAt(start, every, phaseOf(name, every));
        expect(at).toBeGreaterThanOrEqual(start + every);
        expect(at).toBeLessThan(start + 2 * every);
        expect((at - phaseOf(name, every)) % every).toBe(0);
      }),
    );
  });
});

describe('the phase is FNV-1a of the name', () => {
  it('over every character of the name, and nothing past it', () => {
    // FNV-1a 32-bit reference values: '' is the offset basis.
    expect(phaseOf('', 2 ** 32)).toBe(0x811c9dc5);
    expect(phaseOf('a', 2 ** 32)).toBe(0xe40c292c);
    expect(phaseOf('foobar', 2 ** 32)).toBe(0xbf9cf968);
    expect(phaseOf('foobar', 1000)).toBe(0xbf9cf968 % 1000);
  });
});
