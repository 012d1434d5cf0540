export { waitFor, freePort, freePortRange, isReachable, onFreshPorts } from './wait.js';
export { NatsServerProcess, NatsCluster, natsServerBinary, type NatsServerOptions } from './nats-server.js';
export { PrivatePostgres, postgresBinDir } from './postgres.js';
export {
  resolveNats,
  resolvePostgres,
  type ResolvedServer,
  type ResolveOptions,
  type ServerFallback,
  type ServerSource,
} from './servers.js';
