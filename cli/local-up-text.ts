import { isAbsolute, join, relative, resolve } from 'node:path';
import type { CompiledRuleSet } from '../functions/shared/rules/compile-rules.ts';
import type { AlertingStatus, LocalAlerting } from '../local/alerting.ts';
import type { DemoWorkload, DemoWorkloadOptions } from '../local/demo-workload.ts';
import type { Endpoints } from '../local/endpoints.ts';
import type { CompactorJob } from '../local/local-run.ts';
import type { LocalStack } from '../local/stack.ts';
import { LOCK_FILE } from '../local/state-lock.ts';
import { describeExpired, describePending } from '../local/stream-backlog.ts';
import { LOG_FILE } from './terminal.ts';

/** The rules and notifier configuration `skein local up` loaded, as the ready text names them. */
export interface AlertingInput {
  readonly rulesPath: string;
  readonly rules: CompiledRuleSet;
  readonly notifyConfig: { readonly text: string; readonly source: string };
}

/** What a start found in the state folder, in a few lines (nothing for a fresh folder). */
export function resumeText(dir: string, stack: LocalStack, shardsAsked: number | undefined): string {
  const { resumed, endpoints } = stack;
  const lines: string[] = [];
  if (resumed.tookOverFrom !== undefined)
    lines.push(
      `Took over ${join(dir, LOCK_FILE)} from pid ${resumed.tookOverFrom}, which is no longer running (killed or crashed)`,
    );
  if (!resumed.stream.created) {
    const backlog = resumed.backlog;
    const pending =
      backlog && backlog.pending > 0
        ? `${describePending(backlog)}: they are ingested first`
        : 'nothing pending in the stream';
    lines.push(
      `Resumed stream '${endpoints.stream}' (${plural(resumed.stream.shards, 'shard')}) from ${dir}: ${pending}`,
    );
    if (shardsAsked !== undefined && shardsAsked !== resumed.stream.shards)
      lines.push(`  --shards ${shardsAsked} ignored: the stream kept in ${dir} has ${resumed.stream.shards}`);
    const expired = backlog ? describeExpired(backlog) : undefined;
    if (expired) lines.push(`  Warning: ${expired}`);
  }
  for (const ignored of resumed.ignoredCheckpoints)
    lines.push(`  Checkpoint ${ignored} not used: that shard starts from the oldest record`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** `1 record`, `1,234 records` */
export function describeCount(n: number): string {
  return `${n.toLocaleString('en-US')} record${n === 1 ? '' : 's'}`;
}

/** The progress line's compaction part, from the compactor's last run. */
export function compactionTracker(compactor: CompactorJob) {
  return {
    /** `last compaction 40s ago: nothing to do` */
    describe(now: number): string {
      const last = compactor.last();
      const stats = compactor.stats();
      if (last === undefined)
        return stats.lastError ? `compaction failed: ${stats.lastError}` : 'compaction: first run';
      const ago = formatUptime(now - last.at);
      const { hours, failed } = last.summary;
      const compacted = hours.filter((h) => h.generations.logs + h.generations.spans > 0 || h.index === 'compacted');
      const rows = hours.reduce((n, h) => n + h.rows, 0);
      const deleted = hours.reduce((n, h) => n + h.deleted, 0);
      const what =
        hours.length === 0
          ? 'nothing to do'
          : `${plural(compacted.length, 'hour')} compacted (${rows} rows), ${deleted} files deleted${failed ? `, ${failed} failed` : ''}`;
      return `last compaction ${ago} ago: ${what}`;
    },
  };
}

export function alertingProgress(status: AlertingStatus | undefined): string {
  if (status === undefined) return 'alerts: state unreadable';
  return (
    `alerts ${status.firing} firing, ${status.pending} pending; ` +
    `notifications ${status.delivered} delivered, ${status.dead} dead`
  );
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A path as the user would type it: relative to the cwd when inside it. */
export function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** What the ready text describes. */
export interface ReadyInfo {
  readonly dir: string;
  readonly endpoints: Endpoints;
  readonly consoleUrl: string;
  readonly shards: number;
  readonly workload: DemoWorkload | undefined;
  readonly incidents: DemoWorkloadOptions['incidents'] | null;
  readonly progressMs: number;
  readonly alerting:
    | {
        readonly running: LocalAlerting;
        readonly input: AlertingInput;
        readonly evaluateEveryMs: number;
        readonly latenessMs: number;
      }
    | undefined;
}

/** What `skein local up` prints once everything runs: where things are, and what to try. */
export function readyText(info: ReadyInfo): string {
  const { dir: shown, endpoints, shards, alerting } = info;
  const files = shownPath(endpoints.dataDir);
  const demo = info.workload?.stats();
  const incidents = info.incidents;
  const sinkLogs = shownPath(join(resolve(shown), 'sinks'));
  const alertingLines = alerting
    ? [
        `  Rules    ${shownPath(alerting.input.rulesPath)}: ${plural(alerting.input.rules.rules.length, 'rule')}, evaluated every ${seconds(alerting.evaluateEveryMs)}, each minute once every shard is ${seconds(alerting.latenessMs)} past its end`,
        alerting.running.alertmanager
          ? `  Alertmanager ${alerting.running.alertmanager.url}   its webhook posts to ${sinkLogs}/webhook.ndjson`
          : `  Alertmanager ${alerting.running.alertmanagerMissing ?? 'not running'}: running without it (what it would get goes to ${sinkLogs}/webhook.ndjson); install it with: bash scripts/setup-alertmanager.sh`,
        `  Sinks    PagerDuty ${alerting.running.sinks.pagerduty.url}, Slack ${alerting.running.sinks.slack.baseUrl}; requests in ${sinkLogs}/*.ndjson`,
      ]
    : ['  Alerting off (--no-alerting)'];
  const lines = [
    `Skein local stack is up (state in ${shown}/)`,
    `  Kinesis  ${endpoints.kinesis}   stream '${endpoints.stream}', ${shards} shard${shards === 1 ? '' : 's'}`,
    `  S3       ${endpoints.s3}   bucket '${endpoints.bucket}', files under ${files}/${endpoints.bucket}/`,
    demo
      ? `  Demo     web-gateway → orders → inventory / payments, about 7 % of requests fail${
          incidents
            ? `; an incident every ${minutes(incidents.everyMs)} (the first now) fails ${Math.round(incidents.failureRate * 100)} % for ${minutes(incidents.durationMs)}`
            : ''
        }`
      : '  Demo     off (--no-demo)',
    ...alertingLines,
    `  Console  ${info.consoleUrl}${demo?.lastTraceId ? `   a demo trace: ${info.consoleUrl}/trace/${demo.lastTraceId}` : ''}`,
    '  Compactor every 60 s: hours 2 min after they end; replaced files deleted 2 min later',
    '',
    'Try:',
    ...(demo?.lastTraceId
      ? [
          `  npx skein query trace ${demo.lastTraceId} --local ${shown}`,
          ...(demo.lastRequestId ? [`  npx skein query request ${demo.lastRequestId} --local ${shown}`] : []),
        ]
      : [`  npx skein query trace <trace id> --local ${shown}`]),
    `  npx skein push --local ${shown} --lines my-logs.ndjson`,
    `  npx skein quarantine ls --local ${shown}`,
    ...(alerting ? [`  npx skein alerts --local ${shown}`, `  npx skein outbox ls --local ${shown}`] : []),
    '',
    `JSON logs in ${join(shown, LOG_FILE)}. Progress below (every ${Math.round(info.progressMs / 1000)} s when not a terminal); Ctrl+C stops.`,
    '',
  ];
  return lines.join('\n');
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : seconds(ms);
}

export function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s % 60}s`;
}
