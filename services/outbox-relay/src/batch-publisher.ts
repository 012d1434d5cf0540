import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { z } from 'zod';
import { VigilError } from '@vigil/events';

/** JetStream's answer to one publish. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/**
 * JetStream refused the message with an API error (`errCode`, as JetStream numbers them: see
 * jetStreamCodes in @vigil/events). The relay reads the PubAck itself, so this stands where
 * nats.js would throw its JetStreamApiError.
 */
export class PublishRejectedError extends VigilError {
  readonly code = 'PUBLISH_REJECTED';
  constructor(
    readonly status: number,
    readonly errCode: number,
    description: string,
  ) {
    super(description);
  }
}

/** No stream listens on the subject (NATS 503), or no ack came in time: worth retrying. */
export class PublishUnansweredError extends VigilError {
  readonly code = 'PUBLISH_UNANSWERED';
}

/** JetStream answered with something that is not a PubAck: retried like no answer. */
export class PublishAckInvalidError extends VigilError {
  readonly code = 'PUBLISH_ACK_INVALID';
}

/** JetStream's answer to a publish: an API error… */
const apiErrorAnswer = z.object({
  error: z.object({ code: z.number(), err_code: z.number(), description: z.string() }),
});
/** …or where the message is stored. */
const pubAckAnswer = z.object({
  stream: z.string().min(1),
  seq: z.int().positive(),
  duplicate: z.boolean().optional(),
});

/**
 * A message to send, or the error that refused it before sending (e.g. a stored header nats.js
 * would not put on the wire): that error is then its result, in its place among the others.
 */
export type BatchMessage =
  | { readonly subject: string; readonly data: Uint8Array; readonly headers: MsgHdrs; readonly refused?: undefined }
  | { readonly refused: Error };

const decoder = new TextDecoder();

/**
 * Publishes batches to JetStream over core NATS: every message carries a reply subject under one
 * inbox subscription, and one deadline covers the whole batch. nats.js' `js.publish` makes a
 * request object, a timer and an `Error` per message even when all goes well; in the relay that
 * was the largest share of CPU. The acks are the same PubAcks JetStream sends to any client.
 */
export class BatchPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, (r: PubAck | Error) => void>();
  private next = 0;
  private connected = true;

  /** @param inboxPrefix the connection's inbox prefix (a NATS user may subscribe to its own only). @default _INBOX */
  constructor(
    private readonly nc: NatsConnection,
    inboxPrefix?: string,
  ) {
    // While disconnected nats.js queues publishes in memory without a bound; a batch then fails
    // at once instead (the breaker keeps probing), and nothing piles up for the reconnect.
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.connected = false;
        else if (s.type === 'reconnect') this.connected = true;
      }
    })();
    this.prefix = createInbox(inboxPrefix);
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        const token = msg.subject.slice(this.prefix.length + 1);
        const settle = this.waiting.get(token);
        if (settle === undefined) return; // late ack of a batch that timed out
        this.waiting.delete(token);
        if (msg.headers?.hasError && msg.headers.code === 503) {
          settle(new PublishUnansweredError(`no stream answered on ${msg.subject}: is the stream there?`));
          return;
        }
        let json: unknown;
        try {
          json = JSON.parse(decoder.decode(msg.data));
        } catch (e) {
          settle(new PublishAckInvalidError(`the answer on ${msg.subject} is not JSON: ${String(e)}`));
          return;
        }
        // Checked, not cast: an answer without a sequence must not pass for a stored message.
        // Which of the two it claims to be decides the schema: a failed parse costs an error
        // object, which no healthy ack should pay for.
        const claimsError = typeof json === 'object' && json !== null && 'error' in json;
        const answer = claimsError ? apiErrorAnswer.safeParse(json) : pubAckAnswer.safeParse(json);
        if (!answer.success) {
          const issue = answer.error.issues[0];
          const what = `${issue?.path.join('.') || 'answer'}: ${issue?.message ?? 'invalid'}`;
          settle(new PublishAckInvalidError(`the answer on ${msg.subject} is not a PubAck (${what})`));
        } else if ('error' in answer.data) {
          const err = answer.data.error;
          settle(new PublishRejectedError(err.code, err.err_code, err.description));
        } else {
          settle({ stream: answer.data.stream, seq: answer.data.seq, duplicate: answer.data.duplicate === true });
        }
      },
    });
  }

  /**
   * Sends every message, then waits for their acks, at most `timeoutMs` for the whole batch.
   * Results are in message order: a PubAck or the error of that message (a refused one's own).
   */
  async publish(messages: readonly BatchMessage[], timeoutMs: number): Promise<(PubAck | Error)[]> {
    if (!this.connected || this.nc.isClosed()) {
      return messages.map((m) => m.refused ?? new PublishUnansweredError('not connected to NATS'));
    }
    const results: (PubAck | Error | undefined)[] = new Array<PubAck | Error | undefined>(messages.length);
    const tokens: string[] = [];
    let open = 0;
    let finish: () => void = () => undefined;
    const allIn = new Promise<void>((resolve) => (finish = resolve));
    for (const [i, m] of messages.entries()) {
      const token = (this.next++).toString(36);
      tokens.push(token);
      if (m.refused !== undefined) {
        results[i] = m.refused;
        continue;
      }
      try {
        this.nc.publish(m.subject, m.data, { reply: `${this.prefix}.${token}`, headers: m.headers });
      } catch (e) {
        results[i] = e instanceof Error ? e : new Error(String(e)); // e.g. over max_payload
        continue;
      }
      open++;
      this.waiting.set(token, (r) => {
        results[i] = r;
        if (--open === 0) finish();
      });
    }
    if (open > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allIn, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    return messages.map((_, i) => {
      this.waiting.delete(tokens[i] as string);
      return results[i] ?? new PublishUnansweredError(`no ack within ${timeoutMs} ms`);
    });
  }

  close(): void {
    this.sub.unsubscribe();
    for (const settle of this.waiting.values()) settle(new PublishUnansweredError('publisher closed'));
    this.waiting.clear();
  }
}
