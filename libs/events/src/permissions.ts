import { readerConsumers, resultTypes, serviceConsumers } from './consumers.js';
import { defaultNamespace, eventTypes, subjectOf, type EventType, type Namespace } from './registry.js';

export { readerConsumers, resultTypes, serviceConsumers };

const eventTypeList: readonly EventType[] = eventTypes;

/**
 * Least-privilege NATS users for a vigil namespace: one per service, plus `client` (publishes
 * validation requests and SLIs, reads every event and dead letter), `operator` (a client that may
 * also request and abort chaos), `tool` (reads results only) and `admin` (everything: stream
 * management, dead-letter redrive). Rendered into nats-server's `authorization` block by
 * {@link natsAuthorization}; deploy/compose/nats-auth.conf is that rendering for the default
 * namespace.
 */
export type NatsRole =
  | 'outbox-relay'
  | 'validator'
  | 'slo-engine'
  | 'anomaly'
  | 'chaos'
  | 'status'
  | 'client'
  | 'operator'
  | 'tool'
  | 'admin';

export const natsRoles: readonly NatsRole[] = [
  'outbox-relay',
  'validator',
  'slo-engine',
  'anomaly',
  'chaos',
  'status',
  'client',
  'operator',
  'tool',
  'admin',
];

/** Events users publish to ask for work; every other type is emitted by services through the relay. */
export const requestTypes: readonly EventType[] = [
  'validation.requested',
  'chaos.requested',
  'chaos.abort.requested',
  'sli.observed',
];

/** Requests only `operator` may publish: faults in running systems, and stopping them. */
export const operatorTypes: readonly EventType[] = ['chaos.requested', 'chaos.abort.requested'];

export interface SubjectPermission {
  readonly allow: readonly string[];
  readonly deny?: readonly string[];
}

export interface NatsPermissions {
  readonly publish: SubjectPermission;
  readonly subscribe: SubjectPermission;
}

/**
 * The prefix of a user's reply subjects. Every user may subscribe to its own inbox only, so one
 * cannot read the replies (and pulled messages) of another; clients connect with this prefix.
 */
export function inboxPrefixFor(user: string): string {
  return `_INBOX_${user}`;
}

function consumerAccess(stream: string, durable: string): string[] {
  const api = '$JS.API.CONSUMER';
  return [
    `${api}.INFO.${stream}.${durable}`,
    // nats-server 2.9+ names the filter in the create subject; older clients use DURABLE.CREATE.
    `${api}.CREATE.${stream}.${durable}`,
    `${api}.CREATE.${stream}.${durable}.>`,
    `${api}.DURABLE.CREATE.${stream}.${durable}`,
    // A consumer whose policy JetStream cannot change is made again (ensureConsumer).
    `${api}.DELETE.${stream}.${durable}`,
    `${api}.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/**
 * Read access through consumers of one's own, limited to the given event types; `everything`
 * adds the dead letters and fetching single messages by sequence (which no filter can limit).
 */
function readAccess(
  ns: Namespace,
  types: readonly EventType[],
  everything: boolean,
  own: readonly string[] = [],
): NatsPermissions {
  const s = ns.stream;
  const dl = ns.deadLetterStream;
  const api = '$JS.API.CONSUMER';
  const serviceDurables = [...Object.values(serviceConsumers), ...Object.values(readerConsumers)]
    .flat()
    .filter((d) => !own.includes(d));
  const ownConsumers = (stream: string) => [
    `${api}.INFO.${stream}.*`,
    `${api}.DELETE.${stream}.*`,
    `${api}.MSG.NEXT.${stream}.*`,
    `$JS.ACK.${stream}.*.>`,
  ];
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${s}`,
        `$JS.API.STREAM.INFO.${dl}`,
        '$JS.API.STREAM.NAMES',
        '$JS.API.STREAM.LIST',
        // No CONSUMER.LIST or NAMES: a reader's consumer is reached by its name alone, so one
        // reader cannot find, pull from, ack for or delete another's (see privateDurableName).
        ...types.map((t) => `${api}.CREATE.${s}.*.${subjectOf(ns, t)}`),
        ...ownConsumers(s),
        ...(everything
          ? [
              `${api}.CREATE.${s}.*.${ns.subjectPrefix}.>`,
              `${api}.CREATE.${dl}.*.${ns.deadLetterPrefix}.>`,
              ...ownConsumers(dl),
              `$JS.API.STREAM.MSG.GET.${s}`,
              `$JS.API.STREAM.MSG.GET.${dl}`,
            ]
          : []),
      ],
      // Consumers of one's own only: the services' durables are neither read, acked, nor removed.
      deny: serviceDurables.flatMap((d) => [
        `${api}.CREATE.${s}.${d}.>`,
        `${api}.DELETE.${s}.${d}`,
        `${api}.MSG.NEXT.${s}.${d}`,
        `$JS.ACK.${s}.${d}.>`,
      ]),
    },
    subscribe: { allow: types.map((t) => subjectOf(ns, t)) },
  };
}

/** Pulling from, acking for and dead-lettering from the given durables of one's own. */
function durableAccess(ns: Namespace, durables: readonly string[]): string[] {
  return durables.flatMap((d) => [...consumerAccess(ns.stream, d), `${ns.deadLetterPrefix}.${d}`]);
}

/** A service that reads `types` as readers do (replays of its own) besides its own durables. */
function readerWithDurables(
  ns: Namespace,
  types: readonly EventType[],
  own: readonly string[],
  inbox: string,
  extra: readonly string[] = [],
): NatsPermissions {
  const read = readAccess(ns, types, false, own);
  return {
    publish: { allow: [...read.publish.allow, ...durableAccess(ns, own), ...extra], deny: read.publish.deny ?? [] },
    subscribe: { allow: [inbox] },
  };
}

/** The subjects a user of `role` may publish and subscribe to in namespace `ns`. */
// Over 60 lines: declarations, one block of subjects per role.
export function permissionsFor(role: NatsRole, ns: Namespace = defaultNamespace): NatsPermissions {
  const inbox = `${inboxPrefixFor(role)}.>`;
  const streamInfo = ['$JS.API.INFO', `$JS.API.STREAM.INFO.${ns.stream}`, `$JS.API.STREAM.INFO.${ns.deadLetterStream}`];
  switch (role) {
    case 'admin':
      return { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } };
    case 'outbox-relay':
      return {
        publish: {
          allow: [
            ...streamInfo,
            `$JS.API.STREAM.CREATE.${ns.stream}`,
            `$JS.API.STREAM.CREATE.${ns.deadLetterStream}`,
            // Gives streams made by an earlier version the byte and message-size limits.
            `$JS.API.STREAM.UPDATE.${ns.stream}`,
            `$JS.API.STREAM.UPDATE.${ns.deadLetterStream}`,
            `${ns.subjectPrefix}.>`,
          ],
        },
        subscribe: { allow: [inbox] },
      };
    case 'client':
    case 'operator': {
      // A client asks for validation runs and feeds SLIs; chaos is the operator's alone.
      const read = readAccess(ns, eventTypeList, true);
      const may = role === 'operator' ? requestTypes : requestTypes.filter((t) => !operatorTypes.includes(t));
      return {
        publish: {
          allow: [...read.publish.allow, ...may.map((t) => subjectOf(ns, t))],
          deny: read.publish.deny ?? [],
        },
        subscribe: { allow: [...read.subscribe.allow, inbox] },
      };
    }
    case 'tool': {
      const read = readAccess(ns, resultTypes, false);
      return { publish: read.publish, subscribe: { allow: [...read.subscribe.allow, inbox] } };
    }
    case 'status':
      // Its durable, and the replay at start: an ephemeral consumer over the namespace (on
      // nats-server 2.9 several types cannot be filtered server-side), read through its inbox.
      return readerWithDurables(ns, resultTypes, readerConsumers.status, inbox, [
        `$JS.API.CONSUMER.CREATE.${ns.stream}.*.${ns.subjectPrefix}.>`,
      ]);
    case 'slo-engine':
      // Its durable, and a replay of its own alerts at start (to resolve those it no longer holds).
      return readerWithDurables(ns, ['slo.burn'], serviceConsumers[role], inbox);
    default: {
      const durables: readonly string[] = serviceConsumers[role];
      return {
        publish: {
          allow: [
            ...streamInfo,
            ...durableAccess(ns, durables),
            // The validator's NATS checks read any stream's and consumer's state and time a
            // round trip through its own inbox.
            ...(role === 'validator' ? ['$JS.API.STREAM.INFO.*', '$JS.API.CONSUMER.INFO.*.*', inbox] : []),
          ],
        },
        subscribe: { allow: [inbox] },
      };
    }
  }
}

/** The environment variable that holds a role's password in the rendered configuration. */
export function passwordVariableFor(role: NatsRole): string {
  return `VIGIL_NATS_${role.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
}

const quote = (s: string) => JSON.stringify(s);
const list = (xs: readonly string[]) => `[${xs.map(quote).join(', ')}]`;

/**
 * nats-server's `authorization` block with a user per role. Passwords are `$VARIABLE` references
 * (nats-server reads them from its environment) unless `passwords` gives literal ones (tests).
 */
export function natsAuthorization(
  ns: Namespace = defaultNamespace,
  passwords: Partial<Record<NatsRole, string>> = {},
): string {
  const users = natsRoles.map((role) => {
    const p = permissionsFor(role, ns);
    const pw = passwords[role] === undefined ? `$${passwordVariableFor(role)}` : quote(passwords[role]);
    const side = (x: SubjectPermission) =>
      `{ allow: ${list(x.allow)}${x.deny && x.deny.length > 0 ? `, deny: ${list(x.deny)}` : ''} }`;
    return `    { user: ${quote(role)}, password: ${pw}, permissions: {\n        publish: ${side(p.publish)}\n        subscribe: ${side(p.subscribe)}\n      } }`;
  });
  return `authorization {\n  users = [\n${users.join('\n')}\n  ]\n}\n`;
}
