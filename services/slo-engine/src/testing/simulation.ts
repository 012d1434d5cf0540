import type { Severity, SloConfig } from '../config/slo.js';
import { decide, readSlo, type Counts, type FiringAlert, type Transition } from '../core/burn.js';

const MIN = 60_000;

/**
 * Steady traffic, one bucket per minute, evaluated at the end of every minute. The history before
 * minute 1 is full and clean (every window holds only good events), as in the worked examples.
 */
export class Simulation {
  private good: number[] = [0];
  private total: number[] = [0];
  private firing: ReadonlyMap<Severity, FiringAlert> = new Map();
  readonly log: { minute: number; t: Transition }[] = [];
  minute = 0;

  constructor(
    readonly def: SloConfig,
    readonly perMinute = 1000,
  ) {
    for (let i = 0; i < def.window / MIN; i++) this.push(perMinute, perMinute);
  }

  /** The traffic of every minute stepped, after the clean history: what promtool replays. */
  readonly traffic: Counts[] = [];
  /** The severities firing after each minute stepped (index 0: minute 1). */
  readonly firingAfter: Severity[][] = [];

  private push(good: number, total: number): void {
    this.good.push(this.good.at(-1)! + good);
    this.total.push(this.total.at(-1)! + total);
  }

  /** Counts over the `windowMs` that end now. */
  counts = (windowMs: number): Counts => {
    const end = this.total.length - 1;
    const start = Math.max(0, end - windowMs / MIN);
    return { good: this.good[end]! - this.good[start]!, total: this.total[end]! - this.total[start]! };
  };

  /** One more minute with `bad` bad events, then an evaluation at its end. */
  step(bad: number): Transition[] {
    this.push(this.perMinute - bad, this.perMinute);
    this.traffic.push({ good: this.perMinute - bad, total: this.perMinute });
    this.minute++;
    const reading = readSlo(this.def, this.counts);
    const d = decide(this.def, reading, this.firing, this.minute * MIN);
    this.firing = d.firing;
    for (const t of d.transitions) this.log.push({ minute: this.minute, t });
    this.firingAfter.push([...d.firing.keys()].sort());
    return [...d.transitions];
  }

  run(minutes: number, bad: number): void {
    for (let i = 0; i < minutes; i++) this.step(bad);
  }

  /** The first minute a transition of this state and severity happened. */
  first(state: 'firing' | 'resolved', severity: Severity): number | undefined {
    return this.log.find((e) => e.t.state === state && e.t.severity === severity)?.minute;
  }
}
