export {
  registry,
  eventTypes,
  isEventType,
  dataschemaOf,
  defaultNamespace,
  namespaceFor,
  namespaceIdPattern,
  MAX_NAME_LENGTH,
  boundedName,
  subjectOf,
  isSubjectOf,
  allEventsSubject,
  deadLetterSubjectOf,
  type EventDefinition,
  type Registry,
  type EventType,
  type EventData,
  type EventDataInput,
  type Namespace,
} from './registry.js';
export {
  createEvent,
  withExtensions,
  toJSON,
  validateEnvelope,
  parseData,
  formatPath,
  describeIssues,
  type VigilEvent,
  type CreateEventOptions,
  type ExtensionValue,
} from './envelope.js';
export {
  encodeStructured,
  encodeBinary,
  decodeMessage,
  modeOf,
  percentEncode,
  percentDecode,
  STRUCTURED_CONTENT_TYPE,
  type WireMessage,
} from './binding.js';
export {
  VigilEventsError,
  NotACloudEventError,
  InvalidEnvelopeError,
  UnknownEventTypeError,
  TypeSubjectMismatchError,
  InvalidEventDataError,
  EventTooLargeError,
  MAX_EVENT_BYTES,
  TopologyConflictError,
  PermanentError,
  TransientError,
  PublishError,
  isVigilEventsError,
  isDecodeError,
  dispositionOf,
  type DataIssue,
  type DecodeError,
  type Disposition,
} from './errors.js';
export { extractTraceContext, traceContextOf, messagingAttributes } from './tracing.js';
export {
  ensureStreams,
  ensureConsumer,
  eventsStreamConfig,
  deadLetterStreamConfig,
  consumerConfig,
  supportsMultiFilter,
  DEFAULT_MAX_DELIVER,
  type StreamOptions,
  type ConsumerSpec,
} from './topology.js';
export { createPublisher, type Publisher, type PublisherOptions, type PublishResult } from './publish.js';
export {
  consume,
  retryDelay,
  type ConsumeOptions,
  type Handler,
  type HandlerContext,
  type RetryDelayOptions,
  type RunningConsumer,
  type ConsumerStats,
} from './consume.js';
export {
  deadLetter,
  readDeadLetter,
  readDeadLetters,
  DeadLetterHeaders,
  type DeadLetter,
  type StoredDeadLetter,
} from './deadletter.js';
export {
  replay,
  readMessages,
  type ReadOptions,
  type ReplayOptions,
  type ReplayStart,
  type ReplayedEvent,
} from './replay.js';
export { subscribe, type Subscription, type SubscribeOptions } from './subscribe.js';
export { silentLogger, type Logger } from './logger.js';
export { valueAt, observedTime, itemsOf, itemFields, unknownFieldPath, type ItemKind } from './observed.js';
export {
  permissionsFor,
  natsAuthorization,
  inboxPrefixFor,
  passwordVariableFor,
  natsRoles,
  serviceConsumers,
  requestTypes,
  resultTypes,
  type NatsRole,
  type NatsPermissions,
  type SubjectPermission,
} from './permissions.js';
