import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * Registers a global tracer provider that keeps finished spans in memory, and an async-hooks
 * context manager, for tests that check parentage. Call `dispose()` when the file is done.
 */
export function installTestTracing(): { exporter: InMemorySpanExporter; dispose(): void } {
  const exporter = new InMemorySpanExporter();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  return {
    exporter,
    dispose() {
      trace.disable();
      context.disable();
    },
  };
}
