/**
 * The JSON the console's server sends for a trace or request (`/api/trace/<id>`, `/api/request/<id>`) and the page
 * draws: one definition for both sides (the page imports it type-only, so nothing of the server reaches the bundle).
 */

/** A span as the page draws it. Times are nanoseconds from the trace's start, as numbers (µs precision kept). */
export interface ViewSpan {
  readonly kind: 'span';
  readonly depth: number;
  readonly traceId: string | null;
  readonly spanId: string | null;
  readonly parentSpanId: string | null;
  readonly requestId: string | null;
  readonly name: string;
  readonly spanKind: string;
  readonly service: string;
  readonly startNs: number;
  readonly durationNs: number;
  readonly error: boolean;
  readonly status: string;
  readonly statusMessage: string | null;
  readonly critical: boolean;
  readonly events: readonly { readonly name: string; readonly atNs: number; readonly attributes: unknown }[];
  readonly attributes: unknown;
  readonly resource: unknown;
  readonly links: unknown;
}

/** A log line as the page shows it, under its span (`depth`) and in the log list. */
export interface ViewLog {
  readonly kind: 'log';
  readonly depth: number;
  readonly traceId: string | null;
  readonly spanId: string | null;
  readonly requestId: string | null;
  readonly service: string;
  readonly atNs: number;
  readonly severity: string;
  readonly severityNumber: number;
  readonly error: boolean;
  readonly body: string;
  readonly attributes: unknown;
  readonly resource: unknown;
}

export interface TraceView {
  readonly by: 'trace' | 'request';
  readonly id: string;
  /** Epoch ms of the first row. */
  readonly startMs: number;
  readonly durationNs: number;
  readonly services: readonly string[];
  /** Spans and logs in waterfall order: depth first, children in time order. */
  readonly rows: readonly (ViewSpan | ViewLog)[];
  readonly spanCount: number;
  readonly logCount: number;
  readonly errorCount: number;
}

/** `/api/trace/<id>` and `/api/request/<id>`: the view, what was read, and the equivalent CLI command. */
export interface TraceAnswer extends TraceView {
  readonly read: string;
  readonly cli: string;
}
