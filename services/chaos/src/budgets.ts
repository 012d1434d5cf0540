import { z } from 'zod';
import { messageOf, type SloBudgets } from './deps.js';

/** What the gate reads of the slo-engine's `GET /slos`. */
const sloListAnswer = z.object({
  slos: z.array(z.object({ name: z.string(), budget: z.object({ remainingPercent: z.number() }) })),
});

/** `GET <slo-engine>/slos` → each SLO's remaining budget, or why it could not be read. */
export function sloBudgetsFrom(baseUrl: string, timeoutMs = 3000): () => Promise<SloBudgets> {
  const url = `${baseUrl.replace(/\/$/, '')}/slos`;
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return { error: `GET ${url} answered ${res.status}` };
      // Checked, not cast: a budget the gate cannot read must refuse the experiment, never pass it.
      const body = sloListAnswer.safeParse(await res.json());
      if (!body.success) {
        const issue = body.error.issues[0];
        return {
          error: `GET ${url}: not an SLO list (${issue?.path.join('.') || 'answer'}: ${issue?.message ?? 'invalid'})`,
        };
      }
      return body.data.slos.map((s) => ({ name: s.name, remainingPercent: s.budget.remainingPercent }));
    } catch (e) {
      return { error: `GET ${url}: ${messageOf(e)}` };
    }
  };
}
