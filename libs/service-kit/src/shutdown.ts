import type { Logger } from 'pino';

export type ShutdownStep = readonly [name: string, run: () => Promise<unknown>];

/**
 * On SIGTERM or SIGINT runs the steps in order (reverse of start), each bounded by what is left
 * of `timeoutMs`, then exits: 0 when every step finished, 1 otherwise.
 */
export function onShutdown(logger: Logger, steps: () => readonly ShutdownStep[], timeoutMs = 15_000): void {
  let running = false;
  const run = async (signal: string) => {
    if (running) return;
    running = true;
    logger.info({ signal }, 'shutting down');
    const deadline = Date.now() + timeoutMs;
    let ok = true;
    for (const [name, step] of steps()) {
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        step().then(
          () => 'done' as const,
          (e: unknown) => {
            logger.error({ err: e, step: name }, 'shutdown step failed');
            return 'failed' as const;
          },
        ),
        new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), left);
        }),
      ]);
      clearTimeout(timer);
      if (result !== 'done') {
        ok = false;
        if (result === 'timeout') logger.warn({ step: name }, 'shutdown step ran out of time');
      }
    }
    logger.info({ ok }, 'stopped');
    logger.flush?.();
    process.exit(ok ? 0 : 1);
  };
  process.once('SIGTERM', () => void run('SIGTERM'));
  process.once('SIGINT', () => void run('SIGINT'));
}
