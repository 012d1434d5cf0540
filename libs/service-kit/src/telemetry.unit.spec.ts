import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { startTelemetry } from './telemetry.js';

describe('startTelemetry', () => {
  it('makes real trace ids also when nothing is exported (they reach logs and travel with events)', async () => {
    const t = startTelemetry({ serviceName: 'test' });
    try {
      const span = trace.getTracer('test').startSpan('s');
      expect(span.spanContext().traceId).toMatch(/^(?!0{32})[\da-f]{32}$/);
      span.end();
    } finally {
      await t.shutdown();
    }
  });
});
