import { spawn } from 'node:child_process';
import { stat, statfs } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { isAbsolute, join } from 'node:path';
import pg from 'pg';
import { globFiles } from './glob.js';
import { CheckError, type CheckOutcome, type CheckRunner } from './types.js';

const worst = (a: CheckOutcome['status'], b: CheckOutcome['status']) =>
  a === 'FAIL' || b === 'FAIL' ? 'FAIL' : a === 'WARN' || b === 'WARN' ? 'WARN' : 'PASS';

/** A dotted path into parsed JSON: `checks.postgres`, `items.0.name`. */
function at(json: unknown, path: string): unknown {
  let cur = json;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export const http: CheckRunner<'http'> = async (p, ctx) => {
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(p.url, {
      method: p.method,
      headers: p.headers,
      body: p.body,
      signal: ctx.signal,
      redirect: 'manual',
    });
  } catch (e) {
    throw new CheckError(
      `${p.method} ${p.url} failed: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`,
    );
  }
  const body = await res.text();
  const latencyMs = Math.round((performance.now() - started) * 100) / 100;
  const observed = { status: res.status, latencyMs };
  const [lo, hi] = p.expectStatus;
  if (res.status < lo || res.status > hi)
    return { status: 'FAIL', message: `${p.method} ${p.url} answered ${res.status}, expected ${lo}-${hi}`, observed };
  if (p.bodyContains !== undefined && !body.includes(p.bodyContains)) {
    return { status: 'FAIL', message: `body of ${p.url} does not contain ${JSON.stringify(p.bodyContains)}`, observed };
  }
  if (p.json !== undefined) {
    let value: unknown;
    try {
      value = at(JSON.parse(body), p.json.path);
    } catch {
      return { status: 'FAIL', message: `body of ${p.url} is not JSON`, observed };
    }
    if (value !== p.json.equals) {
      return {
        status: 'FAIL',
        message: `${p.json.path} is ${JSON.stringify(value)}, expected ${JSON.stringify(p.json.equals)}`,
        observed,
      };
    }
  }
  if (p.latencyBudget !== undefined && latencyMs > p.latencyBudget) {
    return {
      status: 'WARN',
      message: `${p.url} answered ${res.status} in ${latencyMs} ms, over the ${p.latencyBudget} ms budget`,
      observed,
    };
  }
  return { status: 'PASS', message: `${p.url} answered ${res.status} in ${latencyMs} ms`, observed };
};

export const tcp: CheckRunner<'tcp'> = (p, ctx) =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = tcpConnect({ host: p.host, port: p.port });
    const done = (err?: Error) => {
      socket.destroy();
      ctx.signal.removeEventListener('abort', onAbort);
      if (err) reject(new CheckError(`${p.host}:${p.port} does not accept connections: ${err.message}`));
      else
        resolve({
          status: 'PASS',
          message: `${p.host}:${p.port} accepts connections`,
          observed: { connectMs: Math.round((performance.now() - started) * 100) / 100 },
        });
    };
    const onAbort = () => done(new Error('timed out'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done());
    socket.once('error', (e) => done(e));
  });

export const postgres: CheckRunner<'postgres'> = async (p, ctx) => {
  const client = new pg.Client({
    connectionString: p.url ?? ctx.databaseUrl,
    application_name: 'vigil-validator-check',
  });
  const onAbort = () => void client.end().catch(() => undefined);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      await client.connect();
    } catch (e) {
      throw new CheckError(`cannot connect to Postgres: ${(e as Error).message}`);
    }
    const started = performance.now();
    // Suites may only read: the query runs in a read-only transaction.
    await client.query('begin read only');
    let first: unknown;
    try {
      const r = await client.query({ text: p.query, rowMode: 'array' });
      first = (r.rows[0] as unknown[] | undefined)?.[0];
    } catch (e) {
      throw new CheckError(`query failed: ${(e as Error).message}`);
    } finally {
      await client.query('rollback').catch(() => undefined);
    }
    const queryMs = Math.round((performance.now() - started) * 100) / 100;
    const value = typeof first === 'string' && /^-?\d+$/.test(first) ? Number(first) : first; // count(*) comes as text
    const observed = {
      queryMs,
      ...(value === null || ['string', 'number', 'boolean'].includes(typeof value) ? { value: value as string } : {}),
    };
    if (p.expect !== undefined && value !== p.expect) {
      return {
        status: p.otherwise,
        message: `first value is ${JSON.stringify(value)}, expected ${JSON.stringify(p.expect)}${p.hint === undefined ? '' : `: ${p.hint}`}`,
        observed,
      };
    }
    return { status: 'PASS', message: `query answered in ${queryMs} ms`, observed };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
};

export const host: CheckRunner<'host'> = async (p, ctx) => {
  const memoryPercent = Math.round((1 - freemem() / totalmem()) * 1000) / 10;
  const load1PerCpu = Math.round((loadavg()[0]! / Math.max(1, cpus().length)) * 100) / 100;
  const observed: Record<string, number> = { memoryPercent, load1PerCpu };
  const problems: string[] = [];
  let status: CheckOutcome['status'] = 'PASS';
  // A check that names only a disk (or a load) limit is about that, not memory as well.
  const maxMemory = p.maxMemoryPercent ?? (p.disk === undefined && p.maxLoadPerCpu === undefined ? 80 : undefined);
  if (maxMemory !== undefined && memoryPercent > maxMemory) {
    status = 'FAIL';
    problems.push(`memory ${memoryPercent} % used (limit ${maxMemory} %)`);
  }
  if (p.maxLoadPerCpu !== undefined && load1PerCpu > p.maxLoadPerCpu) {
    status = worst(status, 'WARN');
    problems.push(`load ${load1PerCpu} per CPU (limit ${p.maxLoadPerCpu})`);
  }
  if (p.disk !== undefined) {
    const path = isAbsolute(p.disk.path) ? p.disk.path : join(ctx.cwd, p.disk.path);
    const fs = await statfs(path).catch((e: Error) => {
      throw new CheckError(`cannot read disk usage of ${path}: ${e.message}`);
    });
    const diskPercent = Math.round((1 - fs.bavail / fs.blocks) * 1000) / 10;
    observed['diskPercent'] = diskPercent;
    if (diskPercent > p.disk.maxPercent) {
      status = 'FAIL';
      problems.push(`disk ${path} ${diskPercent} % used (limit ${p.disk.maxPercent} %)`);
    }
  }
  return {
    status,
    message:
      problems.length > 0
        ? problems.join('; ')
        : `memory ${memoryPercent} %, load ${load1PerCpu}/CPU${observed['diskPercent'] === undefined ? '' : `, disk ${observed['diskPercent']} %`}`,
    observed,
  };
};

export const file: CheckRunner<'file'> = async (p, ctx) => {
  if (p.path !== undefined) {
    const path = isAbsolute(p.path) ? p.path : join(ctx.cwd, p.path);
    const s = await stat(path).catch(() => undefined);
    return s
      ? { status: 'PASS', message: `${p.path} exists` }
      : { status: 'FAIL', message: `${p.path} does not exist` };
  }
  const matches = (await globFiles(p.glob as string, ctx.cwd)).length;
  const observed = { matches };
  return matches >= p.minMatches
    ? { status: 'PASS', message: `${p.glob} matches ${matches} file(s)`, observed }
    : { status: 'FAIL', message: `${p.glob} matches ${matches} file(s), expected at least ${p.minMatches}`, observed };
};

export const command: CheckRunner<'command'> = (p, ctx) =>
  new Promise((resolve, reject) => {
    const [cmd, ...args] = p.run as [string, ...string[]];
    const child = spawn(cmd, args, {
      cwd: p.cwd ? (isAbsolute(p.cwd) ? p.cwd : join(ctx.cwd, p.cwd)) : ctx.cwd,
      signal: ctx.signal,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-500));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('error', (e) => reject(new CheckError(`cannot run ${cmd}: ${e.message}`)));
    child.once('close', (code) => {
      const observed = { exitCode: code ?? -1 };
      const last = tail.trim().split('\n').pop() ?? '';
      if (code === p.expectExit)
        resolve({ status: 'PASS', message: `${p.run.join(' ')} exited ${code}${last ? `: ${last}` : ''}`, observed });
      else
        resolve({
          status: 'FAIL',
          message: `${p.run.join(' ')} exited ${code}, expected ${p.expectExit}${last ? `: ${last}` : ''}`,
          observed,
        });
    });
  });
