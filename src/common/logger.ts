/**
 * The logging interface Kairos writes to. pino, bunyan-style loggers and `console` all satisfy it:
 * the first argument is an object of fields, the second a message.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LogLevel;

/** A logger on `console` that prints `kairos: message {fields}` at `level` and above. */
export function consoleLogger(level: LogLevel = 'warn'): Logger {
  const threshold = LogLevel[level];
  const write =
    (at: Exclude<LogLevel, 'silent'>, sink: (...data: unknown[]) => void) =>
    (fields: object, message?: string): void => {
      if (LogLevel[at] < threshold) return;
      sink(`kairos: ${message ?? ''}`, fields);
    };
  return {
    debug: write('debug', console.debug),
    info: write('info', console.info),
    warn: write('warn', console.warn),
    error: write('error', console.error),
  };
}

export const silentLogger: Logger = consoleLogger('silent');
