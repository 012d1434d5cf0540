import { headers as createHeaders } from '@nats-io/nats-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeStructured } from './binding.js';
import { createEvent } from './envelope.js';
import { isDecodeError } from './errors.js';
import { namespaceFor } from './registry.js';
import { hostileMessages, hostileValidEvents, type RawMessage } from './testing/index.js';

const wire = (m: RawMessage) => {
  const h = createHeaders();
  for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
  return { data: m.data, headers: h };
};

describe('hostile input (property)', () => {
  it('every hostile message is refused by the decoder with a decode error that says why', () => {
    fc.assert(
      fc.property(hostileMessages(namespaceFor('fz')), (m) => {
        let error: unknown;
        try {
          decodeMessage(wire(m));
        } catch (e) {
          error = e;
        }
        expect(isDecodeError(error), `${m.why}: ${String(error)}`).toBe(true);
        expect((error as Error).message.length).toBeGreaterThan(10);
      }),
      { numRuns: 500, seed: 20261122 },
    );
  });

  it('valid events with hostile strings in every field encode and decode unchanged', () => {
    fc.assert(
      fc.property(hostileValidEvents(), ({ type, data }) => {
        const e = createEvent(type, data as never, { source: 'vigil/fuzz' });
        expect(decodeMessage(encodeStructured(e)).data).toEqual(e.data);
      }),
      { numRuns: 300, seed: 20261122 },
    );
  });
});
