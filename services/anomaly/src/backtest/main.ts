/**
 * `vigil anomaly backtest FILE.csv [--config anomaly.yaml] [--series NAME]`: the detector run
 * online over a history, as the service runs it point by point; prints timestamp,value,score,alert.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readConfigFile } from '@vigil/service-kit';
import { backtest } from '../core/backtest.js';
import { detectorOptions, parseAnomalyConfig } from '../config/anomaly.js';
import { defaultConfigPath } from '../config.js';
import { parseCsv } from './csv.js';

const usage = `Usage: vigil anomaly backtest FILE.csv [--config anomaly.yaml] [--series NAME]
  FILE.csv   timestamp,value rows (ISO 8601 or epoch seconds; a header line is optional); - for stdin
  --config   the anomaly service's config whose detector settings to use (default: the shipped one)
  --series   the config series the rows stand for (default: the first); it names the models
Prints timestamp,value,score,alert per row: score 0-1 (0 while the detector warms up), alert 0 or 1.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, series: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0)
    throw new Error(`takes one CSV file (found ${positionals.length}); see vigil anomaly backtest --help`);
  const configPath = values.config ?? defaultConfigPath;
  const config = parseAnomalyConfig(await readConfigFile(configPath, '--config'), configPath);
  const names = config.series.map((s) => s.name);
  const series = values.series ?? names[0]!;
  if (!names.includes(series))
    throw new Error(`--series ${series}: not a series of ${configPath} (${names.join(', ')})`);

  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read it (${err.code ?? err.message})`);
  }
  const rows = parseCsv(text, file === '-' ? 'stdin' : file);
  if (rows.length === 0) throw new Error(`${file}: no rows`);

  const times = Float64Array.from(rows, (r) => r.at);
  const vals = Float64Array.from(rows, (r) => r.value);
  const out = process.stdout;
  // A reader that stops early (| head) closes the pipe: that ends the backtest, quietly.
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  let chunk = 'timestamp,value,score,alert\n';
  let i = 0;
  for (const r of backtest(times, vals, detectorOptions(config), `${series}/backtest`)) {
    chunk += `${rows[i]!.timestamp},${rows[i]!.value},${r.score === undefined ? 0 : r.score.toFixed(6)},${r.alert ? 1 : 0}\n`;
    i++;
    if (chunk.length > 65_536) {
      if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
      chunk = '';
    }
  }
  await new Promise<void>((resolve) => out.write(chunk, () => resolve()));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`vigil anomaly backtest: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
