/**
 * Severity as OpenTelemetry numbers (logs data model): TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21;
 * 0 is UNSPECIFIED.
 */
export const SEVERITY = { UNSPECIFIED: 0, TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 } as const;

const BY_NAME: Record<string, number> = {
  trace: SEVERITY.TRACE,
  finest: SEVERITY.TRACE,
  debug: SEVERITY.DEBUG,
  fine: SEVERITY.DEBUG,
  verbose: SEVERITY.DEBUG,
  info: SEVERITY.INFO,
  information: SEVERITY.INFO,
  notice: SEVERITY.INFO + 1,
  warn: SEVERITY.WARN,
  warning: SEVERITY.WARN,
  error: SEVERITY.ERROR,
  err: SEVERITY.ERROR,
  severe: SEVERITY.ERROR,
  critical: SEVERITY.FATAL,
  crit: SEVERITY.FATAL,
  alert: SEVERITY.FATAL + 1,
  emergency: SEVERITY.FATAL + 2,
  emerg: SEVERITY.FATAL + 2,
  fatal: SEVERITY.FATAL,
  panic: SEVERITY.FATAL,
};

/** pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
const BY_PINO_LEVEL: Record<number, number> = {
  10: SEVERITY.TRACE,
  20: SEVERITY.DEBUG,
  30: SEVERITY.INFO,
  40: SEVERITY.WARN,
  50: SEVERITY.ERROR,
  60: SEVERITY.FATAL,
};

/** The OpenTelemetry severity number of a level as a producer wrote it (string name or pino/bunyan number). */
export function severityNumber(level: unknown): number {
  if (typeof level === 'string') {
    return BY_NAME[level.toLowerCase()] ?? BY_NAME[level.trim().toLowerCase()] ?? SEVERITY.UNSPECIFIED;
  }
  if (typeof level === 'number' && Number.isInteger(level)) {
    const pino = BY_PINO_LEVEL[level];
    if (pino !== undefined) return pino;
    if (level >= 1 && level <= 24) return level;
  }
  return SEVERITY.UNSPECIFIED;
}

const TEXT_BY_PINO_LEVEL: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Severity text as the producer meant it: strings as written, pino numbers as their names. */
export function severityText(level: unknown): string | null {
  if (typeof level === 'string') return level;
  if (typeof level === 'number') return TEXT_BY_PINO_LEVEL[level] ?? String(level);
  return null;
}
