import { VigilError } from '@vigil/events';

/** Where an experiment is; `done` once its outcome event is in the outbox. */
export type Phase = 'accepted' | 'injecting' | 'holding' | 'rolling-back' | 'verifying' | 'done';
/** How an experiment ended. */
export type Outcome = 'completed' | 'aborted' | 'failed' | 'interrupted' | 'dry-run';

/** What the decider knows of an experiment: its phase, and how it will end as far as known. */
export interface ExperimentState {
  readonly phase: Phase;
  readonly outcome: Outcome;
  /** Why it stopped early (abort, failed injection, a takeover). */
  readonly stopReason?: string;
}

/** What happened, as the runner reports it. */
export type Input =
  /** This instance accepted it and starts it. */
  | { readonly type: 'run' }
  /** An instance took it over (its owner's lease ran out) or restarted: roll back what may be in place. */
  | { readonly type: 'recover'; readonly reason: string }
  /** Every injection step is done. */
  | { readonly type: 'injected' }
  /** An injection step failed; the rest are not tried. */
  | { readonly type: 'injection-failed'; readonly reason: string }
  /** An abort (or the service's shutdown) stopped it. */
  | { readonly type: 'stopped'; readonly reason: string }
  /** The hold time is over. */
  | { readonly type: 'held' }
  /** Every rollback step ran (those that failed are the verification's to report). */
  | { readonly type: 'rolled-back' }
  /** Recovery was verified (or found wanting): time to report. */
  | { readonly type: 'verified' };

/** What the runner does next. */
export type Command =
  | { readonly type: 'inject' }
  | { readonly type: 'hold' }
  | { readonly type: 'roll-back' }
  | { readonly type: 'verify' }
  /** Writes the outcome event and phase `done` in one transaction. */
  | { readonly type: 'report'; readonly outcome: Outcome; readonly stopReason?: string };

/** The next state, and the one command that gets there (none once `done`). */
export interface Decision {
  readonly state: ExperimentState;
  readonly command?: Command;
}

/** An input the phase has no transition for: a bug in the runner, never a user's error. */
export class TransitionError extends VigilError {
  readonly code = 'CHAOS_TRANSITION';
}

type Step<T extends Input['type'] = Input['type']> = (
  s: ExperimentState,
  input: Extract<Input, { type: T }>,
) => Decision;
type Steps = { readonly [T in Input['type']]?: Step<T> };

const to =
  (phase: Phase, command: Command, change: Partial<ExperimentState> = {}) =>
  (s: ExperimentState): Decision => ({
    state: { ...s, ...change, phase },
    command,
  });
/** A takeover rolls back from wherever the experiment was; a recorded abort stays the reason. */
const recover: Step<'recover'> = (s, input) => ({
  state: { phase: 'rolling-back', outcome: 'interrupted', stopReason: s.stopReason ?? input.reason },
  command: { type: 'roll-back' },
});
/** Stopped while injecting or holding: the stop's reason is the one reported. */
const stopped: Step<'stopped'> = (_, input) => ({
  state: { phase: 'rolling-back', outcome: 'aborted', stopReason: input.reason },
  command: { type: 'roll-back' },
});

/**
 * The phase protocol, whole: for each phase, the inputs it takes and where they lead. An input
 * missing here is a TransitionError. A fault is always rolled back: every way out of `injecting`
 * and `holding` leads to `rolling-back`, and a takeover in any phase but `done` rolls back again
 * (rollbacks are idempotent).
 */
export const transitions: Readonly<Record<Phase, Steps>> = {
  accepted: {
    run: to('injecting', { type: 'inject' }),
    recover,
  },
  injecting: {
    injected: to('holding', { type: 'hold' }),
    'injection-failed': (_, input) => ({
      // A failed step is the reason, even when an abort came in the meantime.
      state: { phase: 'rolling-back', outcome: 'failed', stopReason: input.reason },
      command: { type: 'roll-back' },
    }),
    stopped,
    recover,
  },
  holding: {
    held: to('rolling-back', { type: 'roll-back' }),
    stopped,
    recover,
  },
  'rolling-back': {
    'rolled-back': to('verifying', { type: 'verify' }),
    recover,
  },
  verifying: {
    verified: (s) => ({
      state: { ...s, phase: 'done' },
      command: {
        type: 'report',
        outcome: s.outcome,
        ...(s.stopReason === undefined ? {} : { stopReason: s.stopReason }),
      },
    }),
    recover,
  },
  done: {},
};

/** The next state and what to do, from the current state and what happened. */
export function decide(state: ExperimentState, input: Input): Decision {
  // The table pairs each input type with a step for that type, which the lookup cannot show.
  const step = transitions[state.phase][input.type] as ((s: ExperimentState, i: Input) => Decision) | undefined;
  if (step === undefined)
    throw new TransitionError(`an experiment in phase ${state.phase} cannot take '${input.type}'`);
  return step(state, input);
}

/** The state a stored experiment starts from: the outcome is decided on the way. */
export function initialState(phase: Phase, stopReason: string | null): ExperimentState {
  return { phase, outcome: 'completed', ...(stopReason === null ? {} : { stopReason }) };
}
