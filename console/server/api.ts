import { normaliseRequestId, normaliseTraceId } from '../../functions/core/ids.ts';
import { toJsonTrace } from '../../query/search/search-format.ts';
import { formatSearchError, parseSearch } from '../../query/search/traceql.ts';
import { parseTimeRange } from '../../query/time-range.ts';
import { UsageError } from '../../schemas/errors.ts';
import { alertsOverview, DEFAULT_HOURS, MAX_HOURS, ruleDetail } from './alerts-data.ts';
import { type LiveFigures, pipelineView } from './pipeline-data.ts';
import type { ConsoleSource } from './source.ts';
import { traceView } from './trace-view.ts';

export interface ApiContext {
  readonly source: ConsoleSource;
  readonly now: () => number;
  readonly live?: (() => LiveFigures) | undefined;
}

/** A JSON answer: status and body. Bad input is a UsageError (400) with a message for people. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

const DEFAULT_SEARCH_SINCE = '1h';
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1_000;

/** Routes `/api/<…>` (path after `/api/`, already URI-decoded per segment) to its answer. */
export async function answerApi(
  segments: readonly string[],
  params: URLSearchParams,
  ctx: ApiContext,
): Promise<ApiAnswer> {
  const [what, arg, ...rest] = segments;
  if (rest.length > 0) return notFound();
  switch (what) {
    case 'trace':
    case 'request':
      return arg === undefined ? notFound() : lookup(what, arg, ctx);
    case 'resolve':
      return resolve(params.get('id') ?? '', ctx);
    case 'search':
      return arg === undefined ? search(params, ctx) : notFound();
    case 'alerts':
      if (arg === undefined) return ok(await alertsOverview(ctx.source.store, ctx.source.rules));
      return ok(await ruleDetail(ctx.source.store, ctx.source.rules, arg, { nowMs: ctx.now(), hours: hours(params) }));
    case 'pipeline':
      return arg === undefined
        ? ok(await pipelineView(ctx.source.store, { live: ctx.live, replayCommand: ctx.source.replayCommand }))
        : notFound();
    case 'about':
      return ok({ where: ctx.source.where, cliTarget: ctx.source.cliTarget });
    default:
      return notFound();
  }
}

async function lookup(by: 'trace' | 'request', raw: string, ctx: ApiContext): Promise<ApiAnswer> {
  const id = by === 'trace' ? normaliseTraceId(raw) : normaliseRequestId(raw);
  if (id === undefined)
    throw new UsageError(
      by === 'trace'
        ? 'not a trace id: expected 32 hex digits, a UUID, a traceparent or an X-Ray trace id'
        : 'not a request id: expected 1–256 printable characters',
    );
  const { rows, read } = await ctx.source.lookup(by, id);
  return ok({
    ...traceView(by, id, rows),
    read,
    cli: `skein query ${by} ${id} ${ctx.source.cliTarget}`,
  });
}

/**
 * Which page an id typed in the Find box opens: a trace when it reads as a trace id (32 hex, UUID, traceparent,
 * X-Ray) and has rows, else a request (a UUID is both spellings: the one with rows wins).
 */
async function resolve(raw: string, ctx: ApiContext): Promise<ApiAnswer> {
  const text = raw.trim();
  if (text === '') throw new UsageError('type a trace id, a request id or a search filter');
  const traceId = normaliseTraceId(text);
  const requestId = normaliseRequestId(text);
  if (traceId !== undefined) {
    const { rows } = await ctx.source.lookup('trace', traceId);
    if (rows.length > 0 || requestId === undefined) return ok({ path: `/trace/${traceId}` });
  }
  if (requestId === undefined) throw new UsageError('not an id: a trace id, a request id, or a filter in { … }');
  return ok({ path: `/request/${encodeURIComponent(requestId)}` });
}

async function search(params: URLSearchParams, ctx: ApiContext): Promise<ApiAnswer> {
  const filter = params.get('q') ?? '';
  const parsed = parseSearch(filter);
  if (!parsed.ok) throw new UsageError(formatSearchError(filter, parsed.error));
  const now = ctx.now();
  const range = parseTimeRange(params.get('since') ?? DEFAULT_SEARCH_SINCE, params.get('until') ?? undefined, now);
  const limitText = params.get('limit');
  const limit = limitText === null ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw new UsageError(`limit: expected a whole number from 1 to ${MAX_LIMIT}`);
  const { traces, read } = await ctx.source.search(
    parsed.query,
    { since: range.since ?? now - 3_600_000, until: range.until ?? now },
    limit,
  );
  return ok({
    traces: traces.map(toJsonTrace),
    read,
    cli: `skein query search '${filter}' --since ${params.get('since') ?? DEFAULT_SEARCH_SINCE} ${ctx.source.cliTarget}`,
  });
}

function hours(params: URLSearchParams): number {
  const raw = params.get('hours');
  if (raw === null) return DEFAULT_HOURS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > MAX_HOURS) throw new UsageError(`hours: expected 0 to ${MAX_HOURS}`);
  return n;
}

function ok(body: unknown): ApiAnswer {
  return { status: 200, body };
}

function notFound(): ApiAnswer {
  return { status: 404, body: { error: 'no such API route' } };
}
