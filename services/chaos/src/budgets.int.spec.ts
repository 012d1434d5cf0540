import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sloBudgetsFrom } from './budgets.js';

/** A real HTTP server answering `body` with 200 on every path. */
async function answering(body: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('the budgets the chaos gate reads from the slo-engine', () => {
  it('a well-formed /slos gives each remaining budget', async () => {
    const s = await answering(JSON.stringify({ slos: [{ name: 'a', budget: { remainingPercent: 42.5 } }] }));
    try {
      expect(await sloBudgetsFrom(s.url)()).toEqual([{ name: 'a', remainingPercent: 42.5 }]);
    } finally {
      await s.close();
    }
  });

  it('an answer it cannot read is an error naming the field, never a budget (the gate refuses on it)', async () => {
    const s = await answering(JSON.stringify({ slos: [{ name: 'a', budget: {} }] }));
    try {
      expect(await sloBudgetsFrom(s.url)()).toEqual({
        error: `GET ${s.url}/slos: not an SLO list (slos.0.budget.remainingPercent: Invalid input: expected number, received undefined)`,
      });
    } finally {
      await s.close();
    }
    const none = await answering(JSON.stringify({ items: [] }));
    try {
      expect(await sloBudgetsFrom(none.url)()).toMatchObject({
        error: expect.stringMatching(/not an SLO list \(slos: /),
      });
    } finally {
      await none.close();
    }
  });
});
