import { type CloudWatchLogEvent, CloudWatchLogsEnvelope } from '../../schemas/cloudwatch-logs.ts';
import { describeIssue } from '../../schemas/errors.ts';
import type { LogRecord } from '../../schemas/records.ts';
import { normaliseRequestId, normaliseTraceId } from '../core/ids.ts';
import { toLogRow } from './decode-json-lines.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext, Redactor } from './decoded.ts';
import { SEVERITY, severityNumber, severityText } from './severity.ts';
import { nanosToMillis, toUnixNanos } from './timestamps.ts';

export const CLOUDWATCH_LOGS = 'cloudwatch-logs';

/** Attribute holding CloudWatch's id of the log event (unique per event, stable across re-deliveries). */
export const LOG_EVENT_ID_ATTRIBUTE = 'cloudwatch.log_event_id';

const NS_PER_MS = 1_000_000n;
const OPEN_BRACE = 0x7b;

/**
 * True when `parsed` (the JSON of a gunzipped record) is meant as a CloudWatch Logs subscription envelope: an object
 * whose `messageType` is `DATA_MESSAGE` or `CONTROL_MESSAGE` and that has `logEvents`. The rest of the shape is
 * checked by {@link decodeCloudWatch}, so a damaged envelope is quarantined as `invalid_cloudwatch` instead of being
 * read as a JSON log line.
 */
export function isCloudWatchEnvelope(parsed: unknown): boolean {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
  if (!('messageType' in parsed) || !('logEvents' in parsed)) return false;
  return parsed.messageType === 'DATA_MESSAGE' || parsed.messageType === 'CONTROL_MESSAGE';
}

/**
 * Decodes a CloudWatch Logs subscription payload (already gunzipped and parsed) into log rows appended to
 * `sink.logs`, one per log event, `record_ordinal` = the event's index.
 *
 * - `CONTROL_MESSAGE`: counted in `sink.controlMessages`; no row, no failure.
 * - A `message` that is a JSON object is mapped like a JSON log line (every dialect of `toLogRow`); its own time wins.
 * - Other messages are text. The Lambda runtime's text format is recognised: `<ISO time>\t<request id>\t<LEVEL>\t<msg>`
 *   (Node.js; the level is optional), `[LEVEL]\t<ISO time>\t<request id>\t<msg>` (Python), the platform lines
 *   `START RequestId: … Version: …`, `END RequestId: …`, `REPORT RequestId: … Duration: … ms …` and
 *   `<ISO time> <request id> Task timed out after … seconds`, giving time, request id and level. Platform lines are
 *   INFO (ERROR for a timeout or a REPORT with `Status: error`/`timeout`) with no severity text; REPORT figures become
 *   attributes (`aws.lambda.duration_ms`, …) and its X-Ray trace id the trace id.
 * - Time is the event `timestamp` (ms) when the message carries none. Arrival time stays the Kinesis record's.
 * - Resource attributes: `aws.log.group.names` and `aws.log.stream.names` as one-element arrays (the OpenTelemetry
 *   semantic conventions type them `string[]`), `cloud.account.id` = the envelope `owner`, and `service.name`.
 * - `service_name` is the message's own service when it names one, otherwise derived from the log group by
 *   {@link serviceFromLogGroup}.
 * - Attributes carry `cloudwatch.log_event_id`.
 *
 * An envelope that does not match the schema is one `invalid_cloudwatch` failure for the whole record.
 */
export function decodeCloudWatch(
  data: Uint8Array,
  parsed: unknown,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  const result = CloudWatchLogsEnvelope.safeParse(parsed);
  if (!result.success) return [invalid(`CloudWatch Logs envelope: ${describeIssue(result.error)}`, data)];
  const envelope = result.data;
  if (envelope.messageType === 'CONTROL_MESSAGE') {
    sink.controlMessages++;
    return [];
  }
  const events = envelope.logEvents;
  if (events.length === 0) return [invalid('a DATA_MESSAGE without log events', data)];

  const source = ctx.formatPrefix + CLOUDWATCH_LOGS;
  const derivedService = serviceFromLogGroup(envelope.logGroup);
  const resources = new ResourceAttributes(envelope.logGroup, envelope.logStream, envelope.owner);
  // One context for the whole envelope whose arrival time is moved to each event's timestamp: `toLogRow` falls back
  // to the arrival time when a line has no time of its own, and that fallback must be the event time here. The row's
  // `arrival_time` is set back to the Kinesis record's below. `toLogRow` only reads the context, never keeps it.
  const eventCtx: { -readonly [K in keyof RecordContext]: RecordContext[K] } = { ...ctx };
  const { redactor } = options;
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    if (event === undefined) continue;
    const fields = jsonObject(event.message);
    let row: LogRecord;
    if (fields === undefined) {
      row = textRow(event, i, ctx, redactor);
    } else {
      eventCtx.arrivalMs = event.timestamp;
      row = toLogRow(fields, i, eventCtx, redactor);
      row.arrival_time = ctx.arrivalMs;
      row.attributes = withEventId(row.attributes, event.id);
    }
    if (row.service_name === null) row.service_name = derivedService;
    row.resource_attributes = resources.json(row.service_name);
    row.source_format = source;
    sink.logs.push(row);
  }
  return [];
}

/**
 * The service a log group belongs to, for events whose message does not name one: the last non-empty path segment,
 * which is the function name of a Lambda log group (`/aws/lambda/orders-api` → `orders-api`) and the service of the
 * usual ECS/EKS layouts (`/ecs/checkout` → `checkout`). `null` for an empty log group.
 */
export function serviceFromLogGroup(logGroup: string): string | null {
  let end = logGroup.length;
  while (end > 0 && logGroup.charCodeAt(end - 1) === 0x2f) end--;
  if (end === 0) return null;
  const start = logGroup.lastIndexOf('/', end - 1) + 1;
  return logGroup.slice(start, end);
}

/** The resource attributes JSON of one envelope, memoised for the last service name (usually there is only one). */
class ResourceAttributes {
  private readonly tail: string;
  private lastService: string | null | undefined;
  private lastJson = '';

  constructor(logGroup: string, logStream: string, owner: string) {
    this.tail =
      `"aws.log.group.names":${JSON.stringify([logGroup])},` +
      `"aws.log.stream.names":${JSON.stringify([logStream])},` +
      `"cloud.account.id":${JSON.stringify(owner)}}`;
  }

  json(service: string | null): string {
    if (service !== this.lastService) {
      this.lastService = service;
      this.lastJson = service === null ? `{${this.tail}` : `{"service.name":${JSON.stringify(service)},${this.tail}`;
    }
    return this.lastJson;
  }
}

const EVENT_ID_ENTRY = `${JSON.stringify(LOG_EVENT_ID_ATTRIBUTE)}:`;

/** `attributes` (a JSON object text) with the event id added last, so it wins over a field of the same name. */
function withEventId(attributes: string, id: string): string {
  return attributes === '{}'
    ? `{${EVENT_ID_ENTRY}${JSON.stringify(id)}}`
    : `${attributes.slice(0, -1)},${EVENT_ID_ENTRY}${JSON.stringify(id)}}`;
}

/** The message parsed as a JSON object, or `undefined` when it is text (or JSON that is not an object). */
function jsonObject(message: string): Record<string, unknown> | undefined {
  let i = 0;
  while (i < message.length && isSpace(message.charCodeAt(i))) i++;
  if (message.charCodeAt(i) !== OPEN_BRACE) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  // A parsed JSON object is a plain object with string keys: exactly Record<string, unknown>.
  return parsed as Record<string, unknown>;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** What the Lambda text format gives besides the body. */
interface LambdaLine {
  timeNs: bigint | undefined;
  requestId: string | undefined;
  traceId: string | undefined;
  level: string | undefined;
  severity: number;
  body: string;
  attributes: Record<string, unknown> | undefined;
}

/** `2026-11-25T21:29:00.123Z`: the Lambda runtimes' time prefix (always UTC, milliseconds). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const PYTHON_LEVEL = /^\[([A-Z]+)\]$/;
const TIMEOUT = /^(\S+Z) (\S+) (Task timed out after .*)$/s;
const START = 'START RequestId: ';
const END = 'END RequestId: ';
const REPORT = 'REPORT RequestId: ';
/** `REPORT` fields (tab-separated `Name: value unit`) and the attribute each becomes. */
const REPORT_FIELDS: Readonly<Record<string, string>> = {
  Duration: 'aws.lambda.duration_ms',
  'Billed Duration': 'aws.lambda.billed_duration_ms',
  'Memory Size': 'aws.lambda.memory_size_mb',
  'Max Memory Used': 'aws.lambda.max_memory_used_mb',
  'Init Duration': 'aws.lambda.init_duration_ms',
  'Restore Duration': 'aws.lambda.restore_duration_ms',
  Status: 'aws.lambda.status',
  'Error Type': 'aws.lambda.error_type',
};

function textRow(event: CloudWatchLogEvent, ordinal: number, ctx: RecordContext, redactor: Redactor): LogRecord {
  const line = parseLambdaLine(event.message.trimEnd());
  const body = redactor.redactText(line.body);
  const time = line.timeNs ?? BigInt(event.timestamp) * NS_PER_MS;
  const attributes: Record<string, unknown> = line.attributes ?? {};
  attributes[LOG_EVENT_ID_ATTRIBUTE] = event.id;
  return {
    trace_id: line.traceId ?? null,
    time: nanosToMillis(time),
    time_unix_nano: time,
    observed_time_unix_nano: ctx.observedNs,
    span_id: null,
    request_id: line.requestId ?? null,
    severity_number: line.severity,
    severity_text: line.level === undefined ? null : severityText(line.level),
    body,
    service_name: null,
    resource_attributes: '{}',
    attributes: JSON.stringify(attributes),
    source_format: CLOUDWATCH_LOGS,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: body === line.body ? null : 'redacted',
  };
}

/** Reads the Lambda runtime's text formats; any other text is returned as the body with nothing extracted. */
function parseLambdaLine(text: string): LambdaLine {
  const line: LambdaLine = {
    timeNs: undefined,
    requestId: undefined,
    traceId: undefined,
    level: undefined,
    severity: SEVERITY.UNSPECIFIED,
    body: text,
    attributes: undefined,
  };
  if (text.startsWith(START)) {
    platformLine(line, text, START);
    const version = text.indexOf(' Version: ');
    if (version !== -1) line.attributes = { 'faas.version': text.slice(version + 10).trim() };
  } else if (text.startsWith(END)) {
    platformLine(line, text, END);
  } else if (text.startsWith(REPORT)) {
    platformLine(line, text, REPORT);
    reportFields(line, text);
  } else {
    runtimeLine(line, text);
  }
  return line;
}

function platformLine(line: LambdaLine, text: string, prefix: string): void {
  const from = prefix.length;
  let to = from;
  while (to < text.length && !isSpace(text.charCodeAt(to))) to++;
  line.requestId = normaliseRequestId(text.slice(from, to));
  line.severity = SEVERITY.INFO;
}

function reportFields(line: LambdaLine, text: string): void {
  const attributes: Record<string, unknown> = {};
  for (const part of text.split('\t')) {
    const colon = part.indexOf(': ');
    if (colon === -1) continue;
    const name = part.slice(0, colon).trim();
    const value = part.slice(colon + 2).trim();
    if (name === 'XRAY TraceId') {
      line.traceId = normaliseTraceId(value);
      continue;
    }
    const attribute = REPORT_FIELDS[name];
    if (attribute === undefined) continue;
    if (name === 'Status' || name === 'Error Type') {
      attributes[attribute] = value;
      if (name === 'Status' && value !== 'success') line.severity = SEVERITY.ERROR;
      continue;
    }
    const number = Number.parseFloat(value);
    if (Number.isFinite(number)) attributes[attribute] = number;
  }
  line.attributes = attributes;
}

/** `<time>\t<request id>\t[<LEVEL>\t]<message>` (Node.js), `[LEVEL]\t<time>\t<request id>\t<message>` (Python). */
function runtimeLine(line: LambdaLine, text: string): void {
  const first = text.indexOf('\t');
  if (first === -1) {
    timeoutLine(line, text);
    return;
  }
  const head = text.slice(0, first);
  let timeText: string;
  let requestStart: number;
  let level: string | undefined;
  const python = PYTHON_LEVEL.exec(head);
  if (python) {
    const second = text.indexOf('\t', first + 1);
    if (second === -1) return;
    level = python[1];
    timeText = text.slice(first + 1, second);
    requestStart = second + 1;
  } else {
    timeText = head;
    requestStart = first + 1;
  }
  if (!ISO_UTC.test(timeText)) return;
  const requestEnd = text.indexOf('\t', requestStart);
  if (requestEnd === -1) return;
  let bodyStart = requestEnd + 1;
  if (level === undefined) {
    const levelEnd = text.indexOf('\t', bodyStart);
    const candidate = levelEnd === -1 ? '' : text.slice(bodyStart, levelEnd);
    if (candidate.length > 0 && severityNumber(candidate) !== SEVERITY.UNSPECIFIED) {
      level = candidate;
      bodyStart = levelEnd + 1;
    }
  }
  line.timeNs = toUnixNanos(timeText);
  // Outside a handler (module initialisation) the Node.js runtime writes `undefined` as the request id.
  const requestId = text.slice(requestStart, requestEnd);
  if (requestId !== 'undefined') line.requestId = normaliseRequestId(requestId);
  line.level = level;
  line.severity = level === undefined ? SEVERITY.UNSPECIFIED : severityNumber(level);
  line.body = text.slice(bodyStart);
}

/** `2026-11-25T21:29:03.456Z 8f5c… Task timed out after 3.00 seconds`: the platform's timeout line. */
function timeoutLine(line: LambdaLine, text: string): void {
  const match = TIMEOUT.exec(text);
  const timeText = match?.[1];
  const requestId = match?.[2];
  const body = match?.[3];
  if (timeText === undefined || requestId === undefined || body === undefined || !ISO_UTC.test(timeText)) return;
  line.timeNs = toUnixNanos(timeText);
  line.requestId = normaliseRequestId(requestId);
  line.severity = SEVERITY.ERROR;
  line.body = body;
}

function invalid(message: string, raw: Uint8Array): DecodeFailure {
  return { reason: 'invalid_cloudwatch', message, raw, decoder: CLOUDWATCH_LOGS };
}
