/**
 * Severity as OpenTelemetry numbers (logs data model): TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21;
 * 0 is UNSPECIFIED.
 */
export const SEVERITY = { UNSPECIFIED: 0, TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 } as const;

/**
 * Level names as producers write them, lowercase. Syslog (RFC 5424) names are ranked inside the OpenTelemetry ranges
 * so their order survives: notice above info, alert and emergency above critical.
 */
const NAMES: Record<string, number> = {
  trace: SEVERITY.TRACE,
  finest: SEVERITY.TRACE,
  finer: SEVERITY.TRACE + 1,
  debug: SEVERITY.DEBUG,
  fine: SEVERITY.DEBUG,
  config: SEVERITY.DEBUG + 1,
  verbose: SEVERITY.DEBUG,
  info: SEVERITY.INFO,
  informational: SEVERITY.INFO,
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

/** Every name also as written in UPPER and Capitalised case, so the common spellings need no `toLowerCase()`. */
const BY_NAME = new Map<string, number>();
for (const [name, number] of Object.entries(NAMES)) {
  BY_NAME.set(name, number);
  BY_NAME.set(name.toUpperCase(), number);
  BY_NAME.set(name.charAt(0).toUpperCase() + name.slice(1), number);
}

/** pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal (custom levels fall in between). */
const PINO_TEXT = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
const PINO_NUMBER = [SEVERITY.TRACE, SEVERITY.DEBUG, SEVERITY.INFO, SEVERITY.WARN, SEVERITY.ERROR, SEVERITY.FATAL];
/** logback `level_value` (ch.qos.logback.classic.Level): 5000 TRACE, 10000 DEBUG, 20000 INFO, 30000 WARN, 40000 ERROR. */
const LOGBACK_TEXT = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
const LOGBACK_NUMBER = [SEVERITY.TRACE, SEVERITY.DEBUG, SEVERITY.INFO, SEVERITY.WARN, SEVERITY.ERROR];

/** Index into the pino/bunyan tables (0 trace … 5 fatal), or -1 when `n` is not a pino-range level. */
function pinoIndex(n: number): number {
  return n >= 10 && n < 70 ? Math.floor(n / 10) - 1 : -1;
}

/** Index into the logback tables (0 trace … 4 error), or -1 when `n` is not a logback `level_value`. */
function logbackIndex(n: number): number {
  if (n < 5000 || n >= 50_000) return -1;
  return n < 10_000 ? 0 : Math.floor(n / 10_000);
}

/**
 * The OpenTelemetry severity number of a level as a producer wrote it: a name (`INFO`, `warning`, syslog `crit`…),
 * a pino/bunyan number (10–60), a logback `level_value` (5000–40000) or an OpenTelemetry number (1–24, taken as is
 * except 10 and 20, which pino and bunyan use far more often). 0 when unknown.
 */
export function severityNumber(level: unknown): number {
  if (typeof level === 'string') {
    const n = BY_NAME.get(level);
    if (n !== undefined) return n;
    return BY_NAME.get(level.trim().toLowerCase()) ?? SEVERITY.UNSPECIFIED;
  }
  if (typeof level === 'number' && Number.isInteger(level)) {
    if (level % 10 === 0 || level > 24) {
      const pino = pinoIndex(level);
      if (pino >= 0) return PINO_NUMBER[pino] ?? SEVERITY.UNSPECIFIED;
      const logback = logbackIndex(level);
      if (logback >= 0) return LOGBACK_NUMBER[logback] ?? SEVERITY.UNSPECIFIED;
    }
    if (level >= 1 && level <= 24) return level;
  }
  return SEVERITY.UNSPECIFIED;
}

/**
 * Severity text as the producer meant it: strings as written, pino/bunyan numbers and logback `level_value`s as their
 * level names, other numbers as digits.
 */
export function severityText(level: unknown): string | null {
  if (typeof level === 'string') return level;
  if (typeof level === 'number') {
    if (Number.isInteger(level) && (level % 10 === 0 || level > 24)) {
      const pino = pinoIndex(level);
      if (pino >= 0) return PINO_TEXT[pino] ?? String(level);
      const logback = logbackIndex(level);
      if (logback >= 0) return LOGBACK_TEXT[logback] ?? String(level);
    }
    return String(level);
  }
  return null;
}
