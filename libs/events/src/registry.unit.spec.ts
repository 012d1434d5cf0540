import { describe, expect, it } from 'vitest';
import { defaultNamespace, eventTypes, isSubjectOf, namespaceFor, subjectOf } from './registry.js';

describe('an event type and its subject', () => {
  it('every type is at home on its own subject and on no other type’s, in any namespace', () => {
    for (const ns of [defaultNamespace, namespaceFor('t1')]) {
      for (const type of eventTypes) {
        for (const other of eventTypes) {
          expect(isSubjectOf(ns, type, subjectOf(ns, other)), `${type} on ${other}`).toBe(type === other);
        }
      }
    }
  });

  it('one routing-key token after the type’s subject is its subject; a second token, or a prefix of the type, is not', () => {
    const ns = defaultNamespace;
    expect(isSubjectOf(ns, 'sli.observed', 'events.sli.observed.checkout')).toBe(true);
    expect(isSubjectOf(ns, 'sli.observed', 'events.sli.observed.checkout.eu')).toBe(false);
    expect(isSubjectOf(ns, 'chaos.abort.requested', 'events.chaos.abort')).toBe(false);
    expect(isSubjectOf(ns, 'chaos.requested', 'events.chaos.requestedx')).toBe(false);
    expect(isSubjectOf(ns, 'sli.observed', 't1.events.sli.observed')).toBe(false);
  });
});
