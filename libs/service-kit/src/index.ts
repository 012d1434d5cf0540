export { serviceEnv, parseEnv, ConfigError } from './env.js';
export { createLogger, redactUrl, redactPaths } from './logger.js';
export { startTelemetry, type Telemetry } from './telemetry.js';
export { startHttpServer, sendJson, queryLimit, type HttpServerOptions, type ReadinessCheck } from './http.js';
export { createDb } from './db.js';
export { onShutdown, type ShutdownStep } from './shutdown.js';
export { connectNats, natsAuthOptions, type NatsAuthEnv } from './nats.js';
export {
  duration,
  formatDuration,
  ConfigFileError,
  readConfigFile,
  parseConfigValue,
  parseYamlFile,
  loadConfigDir,
  readConfigDir,
  byUniqueName,
  yamlError,
  interpolate,
} from './config-files.js';
export { startRuntime, type RuntimeOptions, type ServiceRuntime } from './runtime.js';
export { runService, type ServiceDefinition, type StartedService } from './service.js';
export { everyMinute } from './minutely.js';
export { observeConsumers, type ObservedConsumer } from './consumer-metrics.js';
