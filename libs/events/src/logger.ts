import { pino, type Logger } from 'pino';

export type { Logger };

/** Libraries never print unless the host gives them a logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
