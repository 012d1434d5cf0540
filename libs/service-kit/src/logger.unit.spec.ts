import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from './logger.js';

function capture(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  return { stream, text: () => out };
}

describe('log redaction', () => {
  it('blanks passwords, tokens and connection strings at the top level and one level down', () => {
    const c = capture();
    const log = createLogger('test', 'info', c.stream);
    log.info(
      {
        password: 'pw-top',
        token: 'tok-top',
        config: { pass: 'pw-nested', secret: 's-nested', DATABASE_URL: 'postgres://u:db-pw@h/db' },
        authorization: 'Bearer abc',
        databaseUrl: 'postgres://u:db-pw2@h/db',
      },
      'starting',
    );
    const line = JSON.parse(c.text()) as Record<string, unknown>;
    for (const s of ['pw-top', 'tok-top', 'pw-nested', 's-nested', 'db-pw', 'Bearer abc']) {
      expect(c.text()).not.toContain(s);
    }
    expect(line).toMatchObject({ password: '[redacted]', config: { pass: '[redacted]', DATABASE_URL: '[redacted]' } });
  });

  it('redactUrl hides the password of each URL in a comma-separated list', () => {
    expect(redactUrl('nats://relay:s3cret@n1:4222,nats://relay:s3cret@n2:4222')).toBe(
      'nats://relay:***@n1:4222,nats://relay:***@n2:4222',
    );
    expect(redactUrl('postgres://vigil:pw@db:5432/vigil?sslmode=verify-full')).toBe(
      'postgres://vigil:***@db:5432/vigil?sslmode=verify-full',
    );
    expect(redactUrl('not a url')).toBe('[unparseable url]');
  });
});
