import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface Telemetry {
  /** Flushes pending spans and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry NodeSDK for a service. Spans are always created (trace ids reach the
 * logs and travel with events); they are exported over OTLP/HTTP only when `endpoint` is set.
 */
export function startTelemetry(o: { serviceName: string; endpoint?: string | undefined }): Telemetry {
  const spanProcessors = o.endpoint
    ? [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `${o.endpoint.replace(/\/$/, '')}/v1/traces` }), {
          scheduledDelayMillis: 500,
        }),
      ]
    : // Without a processor the SDK registers no tracer provider at all, and every trace id is zero.
      [new NoopSpanProcessor()];
  const sdk = new NodeSDK({ serviceName: o.serviceName, spanProcessors, resourceDetectors: [], instrumentations: [] });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
