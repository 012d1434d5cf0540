import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { natsAuthorization, natsRoles, permissionsFor, readerConsumers, serviceConsumers } from './permissions.js';
import { namespaceFor } from './registry.js';

describe('NATS permissions', () => {
  it('deploy/compose/nats-auth.conf is the rendering for the default namespace', () => {
    const file = readFileSync(new URL('../../../deploy/compose/nats-auth.conf', import.meta.url), 'utf8');
    const body = file
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    expect(body).toBe(natsAuthorization());
  });

  it('only the relay publishes event subjects; requests come from the client, chaos from the operator; tools publish none', () => {
    const ns = namespaceFor('t1');
    const publishesEvents = (role: (typeof natsRoles)[number]) =>
      permissionsFor(role, ns).publish.allow.filter((s) => s.startsWith(`${ns.subjectPrefix}.`));
    expect(publishesEvents('outbox-relay')).toEqual(['t1.events.>']);
    for (const role of ['validator', 'slo-engine', 'anomaly', 'chaos', 'tool'] as const) {
      expect(publishesEvents(role), role).toEqual([]);
    }
    // Chaos is the operator's alone: a client asks for validation runs and feeds SLIs.
    expect(publishesEvents('client')).toEqual(['t1.events.validation.requested', 't1.events.sli.observed']);
    expect(publishesEvents('operator')).toEqual([
      't1.events.validation.requested',
      't1.events.chaos.requested',
      't1.events.chaos.abort.requested',
      't1.events.sli.observed',
    ]);
  });

  it('each service pulls from its own durables only; readers are denied every service durable', () => {
    const ns = namespaceFor('t1');
    for (const [role, durables] of Object.entries(serviceConsumers)) {
      const p = permissionsFor(role as keyof typeof serviceConsumers, ns).publish;
      const pulls = p.allow.filter((s) => s.startsWith('$JS.API.CONSUMER.MSG.NEXT.'));
      const own = durables.map((d) => `$JS.API.CONSUMER.MSG.NEXT.EVENTS_t1.${d}`);
      if (role !== 'slo-engine') {
        expect(pulls, role).toEqual(own);
        continue;
      }
      // The slo-engine also replays its alerts at start, through consumers of its own: any name
      // but another service's durable, and only slo.burn.
      expect(pulls, role).toEqual(['$JS.API.CONSUMER.MSG.NEXT.EVENTS_t1.*', ...own]);
      expect(p.allow.filter((s) => s.startsWith('$JS.API.CONSUMER.CREATE.EVENTS_t1.*'))).toEqual([
        '$JS.API.CONSUMER.CREATE.EVENTS_t1.*.t1.events.slo.burn',
      ]);
      for (const d of Object.values({ ...serviceConsumers, ...readerConsumers }).flat()) {
        if ((durables as readonly string[]).includes(d)) continue;
        for (const api of ['MSG.NEXT', 'DELETE']) expect(p.deny, d).toContain(`$JS.API.CONSUMER.${api}.EVENTS_t1.${d}`);
        expect(p.deny, d).toContain(`$JS.ACK.EVENTS_t1.${d}.>`);
      }
    }
    const deny = permissionsFor('tool', ns).publish.deny ?? [];
    for (const d of Object.values(serviceConsumers).flat()) {
      expect(deny).toContain(`$JS.API.CONSUMER.MSG.NEXT.EVENTS_t1.${d}`);
      expect(deny).toContain(`$JS.ACK.EVENTS_t1.${d}.>`);
    }
  });

  it('the status service reads through its own durable and replays; no other reader may touch its durable, nor it theirs', () => {
    const ns = namespaceFor('t1');
    const status = permissionsFor('status', ns).publish;
    expect(status.allow).toContain('$JS.API.CONSUMER.MSG.NEXT.EVENTS_t1.status');
    expect(status.allow).toContain('$JS.API.CONSUMER.CREATE.EVENTS_t1.*.t1.events.>');
    expect(status.allow.filter((x) => x.startsWith('t1.events.'))).toEqual([]);
    for (const d of Object.values(serviceConsumers).flat()) {
      expect(status.deny).toContain(`$JS.API.CONSUMER.MSG.NEXT.EVENTS_t1.${d}`);
    }
    expect(status.deny?.filter((x) => x.includes('.status'))).toEqual([]);
    for (const role of ['tool', 'client', 'operator'] as const) {
      for (const d of Object.values(readerConsumers).flat()) {
        expect(permissionsFor(role, ns).publish.deny, role).toContain(`$JS.API.CONSUMER.MSG.NEXT.EVENTS_t1.${d}`);
        expect(permissionsFor(role, ns).publish.deny, role).toContain(`$JS.API.CONSUMER.DELETE.EVENTS_t1.${d}`);
      }
    }
  });

  it('no one but the admin lists consumers: a consumer is reached by its name alone', () => {
    const ns = namespaceFor('t1');
    for (const role of natsRoles.filter((r) => r !== 'admin')) {
      const lists = permissionsFor(role, ns).publish.allow.filter((s) =>
        /^\$JS\.API\.CONSUMER\.(LIST|NAMES)\./.test(s),
      );
      expect(lists, role).toEqual([]);
      // Nor do advisories, which name every consumer made, reach anyone but the admin.
      expect(
        permissionsFor(role, ns).subscribe.allow.filter((s) => s.startsWith('$JS.')),
        role,
      ).toEqual([]);
    }
  });

  it('a private durable is the same for one user and name, and another for any other user or secret', async () => {
    const { privateDurableName } = await import('./subscribe.js');
    const a = privateDurableName('audit', 'client', 'pw-1');
    expect(a).toMatch(/^audit-[A-Za-z0-9_-]{22}$/);
    expect(privateDurableName('audit', 'client', 'pw-1')).toBe(a);
    expect(privateDurableName('audit', 'tool', 'pw-1')).not.toBe(a);
    expect(privateDurableName('audit', 'client', 'pw-2')).not.toBe(a);
    expect(privateDurableName('audit2', 'client', 'pw-1').slice(7)).not.toBe(a.slice(6));
    expect(() => privateDurableName('a.b', 'client', 'pw')).toThrow('durable name "a.b" must be 1-64 letters');
    expect(() => privateDurableName('', 'client', 'pw')).toThrow(/durable name "" must/);
  });

  it('every user subscribes to its own inbox and no other', () => {
    for (const role of natsRoles.filter((r) => r !== 'admin')) {
      const inboxes = permissionsFor(role).subscribe.allow.filter((s) => s.startsWith('_INBOX'));
      expect(inboxes, role).toEqual([`_INBOX_${role}.>`]);
    }
  });

  it('passwords are variables unless given', () => {
    expect(natsAuthorization()).toContain('password: $VIGIL_NATS_OUTBOX_RELAY_PASSWORD,');
    expect(natsAuthorization(undefined, { tool: 'x"y' })).toContain('{ user: "tool", password: "x\\"y",');
  });
});
