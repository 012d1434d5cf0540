import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built `vigil` command (pnpm build makes it). */
export const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli/dist/main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `vigil ARGS…` to its end with `env`, `input` on its stdin. */
export function runCli(env: NodeJS.ProcessEnv, args: readonly string[], input?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    // 'close', not 'exit': output still in the pipes when the process ends belongs to the run.
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
