import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runCli } from './support/cli.js';

let dir: string;
let csv: string;
const n = 3000;
const spikeAt = 2500;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-backtest-'));
  csv = join(dir, 'cpu.csv');
  // A daily cycle with deterministic noise, one spike, and 200 repeats of one value at the end.
  let text = 'timestamp,value\n';
  const t0 = Date.UTC(2026, 0, 5) / 1000;
  for (let i = 0; i < n; i++) {
    const v = 50 + 10 * Math.sin((2 * Math.PI * i) / 288) + 3 * Math.sin(i * 12.9898) + (i === spikeAt ? 60 : 0);
    text += `${t0 + i * 300},${v.toFixed(3)}\n`;
  }
  await writeFile(csv, text);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const rowsOf = (out: string) =>
  out
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));

describe('vigil anomaly backtest', () => {
  it('prints timestamp,value,score,alert per row, online: a prefix of the file gives the same rows', async () => {
    const r = await runCli({}, ['anomaly', 'backtest', csv]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('timestamp,value,score,alert');
    const rows = rowsOf(r.stdout);
    expect(rows).toHaveLength(n);
    expect(rows[spikeAt]![3]).toBe('1');
    expect(Number(rows[spikeAt]![2])).toBeGreaterThan(0.8);
    // The alert rate the config allows (once plus 0.1 % of the points) is what the rows show.
    expect(rows.filter((x) => x[3] === '1').length).toBeLessThanOrEqual(1 + 0.001 * n);

    // Row i sees only rows up to i: cut the file at the spike and the rows before it are the same.
    const prefix = join(dir, 'prefix.csv');
    const lines = (await import('node:fs')).readFileSync(csv, 'utf8').split('\n');
    await writeFile(prefix, `${lines.slice(0, spikeAt + 2).join('\n')}\n`);
    const p = await runCli({}, ['anomaly', 'backtest', prefix]);
    expect(rowsOf(p.stdout)).toEqual(rows.slice(0, spikeAt + 1));
  });

  it('a constant series never alerts', async () => {
    const flat = join(dir, 'flat.csv');
    await writeFile(flat, Array.from({ length: 2000 }, (_, i) => `${1_767_600_000 + i * 60},7`).join('\n'));
    const r = await runCli({}, ['anomaly', 'backtest', flat]);
    expect(rowsOf(r.stdout).filter((x) => x[3] === '1')).toEqual([]);
  });

  it('is complete when piped, and stops quietly when the reader does (| head)', async () => {
    const head = spawn('sh', [
      '-c',
      `node ${cliPath} anomaly backtest ${csv} | head -3; echo "exit \${PIPESTATUS:-0}"`,
    ]);
    let out = '';
    head.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let err = '';
    head.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise((resolve) => head.once('exit', resolve));
    expect(out.split('\n').slice(0, 3)[0]).toBe('timestamp,value,score,alert');
    expect(out.split('\n')).toHaveLength(5);
    expect(err).toBe('');
  });

  it('bad input: one line naming the file, the line and what is wrong; exit 1', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'timestamp,value\n2026-01-05T00:00:00Z,1\n2026-01-05T00:05:00Z,n/a\n');
    const r = await runCli({}, ['anomaly', 'backtest', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`vigil anomaly backtest: ${bad}:3: value 'n/a' is not a number\n`);
    const s = await runCli({}, ['anomaly', 'backtest', csv, '--series', 'nope']);
    expect(s.stderr).toMatch(
      /^vigil anomaly backtest: --series nope: not a series of .*anomaly\.yaml \(component-score, /,
    );
    const c = await runCli({}, ['anomaly', 'backtest', csv, '--config', join(dir, 'none.yaml')]);
    expect(c.stderr).toMatch(/none\.yaml: cannot read the file --config names \(ENOENT\)/);
  });
});
