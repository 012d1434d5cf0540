import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { describe, expect, inject, it } from 'vitest';
import {
  BatchPublisher,
  PublishAckInvalidError,
  PublishRejectedError,
  PublishUnansweredError,
} from './batch-publisher.js';

const natsUrl = inject('natsUrl');
const encoder = new TextEncoder();

describe('BatchPublisher against a real NATS server', () => {
  it('reads PubAcks, API errors, no responders, and refuses answers that are not PubAcks', async () => {
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    const prefix = `bp${randomUUID().slice(0, 8)}`;
    const stream = prefix.toUpperCase();
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.ok`] });
    // Two impostors answer on subjects of their own: one with a JSON object that is no PubAck,
    // one with text that is not JSON.
    const fake = nc.subscribe(`${prefix}.fake.*`, {
      callback: (_, m) => {
        m.respond(encoder.encode(m.subject.endsWith('json') ? '{"stream":"X"}' : 'not json'));
      },
    });
    try {
      const publisher = new BatchPublisher(nc);
      const h = () => natsHeaders();
      const wrongStream = natsHeaders();
      wrongStream.set('Nats-Expected-Stream', 'ELSEWHERE');
      const refusal = new Error('refused before sending');
      const [ok, refused, again, rejected, unanswered, notAck, notJson] = await publisher.publish(
        [
          { subject: `${prefix}.ok`, data: encoder.encode('1'), headers: h() },
          { refused: refusal },
          { subject: `${prefix}.ok`, data: encoder.encode('2'), headers: h() },
          { subject: `${prefix}.ok`, data: encoder.encode('3'), headers: wrongStream },
          { subject: `${prefix}.nobody`, data: encoder.encode('4'), headers: h() },
          { subject: `${prefix}.fake.json`, data: encoder.encode('5'), headers: h() },
          { subject: `${prefix}.fake.text`, data: encoder.encode('6'), headers: h() },
        ],
        5000,
      );
      expect(ok).toEqual({ stream, seq: 1, duplicate: false });
      // A message refused before sending answers with its own error, in its place.
      expect(refused).toBe(refusal);
      expect(again).toEqual({ stream, seq: 2, duplicate: false });
      expect(rejected).toBeInstanceOf(PublishRejectedError);
      expect((rejected as PublishRejectedError).errCode).toBe(10060);
      expect(unanswered).toBeInstanceOf(PublishUnansweredError);
      expect(notAck).toBeInstanceOf(PublishAckInvalidError);
      expect((notAck as Error).message).toMatch(/is not a PubAck \(seq: /);
      expect(notJson).toBeInstanceOf(PublishAckInvalidError);
      expect((notJson as Error).message).toMatch(/is not JSON/);
      publisher.close();
      // Not connected: every message is unanswered, except a refused one, which keeps its error.
      const gone = await connect({ servers: natsUrl });
      const offline = new BatchPublisher(gone);
      await gone.close();
      const answers = await offline.publish(
        [{ refused: refusal }, { subject: `${prefix}.ok`, data: encoder.encode('7'), headers: h() }],
        1000,
      );
      expect(answers[0]).toBe(refusal);
      expect(answers[1]).toBeInstanceOf(PublishUnansweredError);
    } finally {
      fake.unsubscribe();
      await jsm.streams.delete(stream);
      await nc.close();
    }
  });
});
