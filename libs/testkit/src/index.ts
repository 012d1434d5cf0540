export { waitFor, freePort, freePortRange, isReachable } from './wait.js';
export { NatsServerProcess, NatsCluster, natsServerBinary, type NatsServerOptions } from './nats-server.js';
export { PrivatePostgres, createTestDatabase, dropReplicationSlots, postgresBinDir } from './postgres.js';
export {
  resolveNats,
  resolvePostgres,
  type ResolvedServer,
  type ResolveOptions,
  type ServerSource,
} from './servers.js';
export { ServiceProcess, type LogLine } from './service-process.js';
