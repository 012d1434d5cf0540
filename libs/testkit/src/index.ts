export {
  waitFor,
  freePort,
  freePortRange,
  isReachable,
  NatsServerProcess,
  NatsCluster,
  natsServerBinary,
  PrivatePostgres,
  postgresBinDir,
  type NatsServerOptions,
  type ResolvedServer,
  type ResolveOptions,
  type ServerSource,
} from '@vigil/embedded';
export { createTestDatabase, dropReplicationSlots } from './databases.js';
export { resolveNats, resolvePostgres } from './servers.js';
export { ServiceProcess, serviceFixture, type LogLine } from './service-process.js';
