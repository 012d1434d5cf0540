import type { z } from 'zod';

/** GETs `url`; a failed request or an error answer throws, naming `what` and the URL. */
async function get(url: string, what: string): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new Error(`${what} not reachable at ${url}: ${(e as Error).message}`);
  }
  if (!r.ok) {
    // The services answer errors as {"error": "..."}: the reason is worth more than the status.
    const body = (await r.json().catch(() => undefined)) as { error?: unknown } | undefined;
    const reason = typeof body?.error === 'string' ? `: ${body.error}` : '';
    throw new Error(`${what} answered ${r.status} at ${url}${reason}`);
  }
  return r;
}

/** GETs `url` and checks the answer against `schema`; errors name `what` and the URL. */
export async function getJson<T>(url: string, schema: z.ZodType<T>, what: string): Promise<T> {
  const r = await get(url, what);
  const parsed = schema.safeParse(await r.json().catch(() => undefined));
  if (!parsed.success)
    throw new Error(
      `${what} at ${url} answered something else than expected: ${parsed.error.issues[0]?.message ?? ''}`,
    );
  return parsed.data;
}

/** GETs `url` as text (a rule file); errors name `what` and the URL. */
export async function getText(url: string, what: string): Promise<string> {
  return (await get(url, what)).text();
}
