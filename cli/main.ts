import { SkeinError, UsageError } from '../schemas/errors.ts';
import { type CliIo, type Command, EXIT, runGuarded } from './io.ts';

export const SKEIN_USAGE = `Usage: skein <command> [options]

Commands:
  local up              start the local stack (Kinesis, S3, the ingest function, a demo workload) in one folder
  push <file…>          send files, or their lines, as records to the local stack or a Kinesis stream
  query trace <id>      every span and log line of a trace
  query request <id>    every row of a request, and of the traces it touched
  query search '<filter>'  traces by what they did, in the TraceQL subset of Grafana Tempo
  quarantine ls         what ingest could not decode, with the reason, per entry and per reason
  replay                re-ingest quarantined entries that decode now, without duplicating any row
  rules validate <path…>  check alert rule files (syntax, expressions, templates), with line:col per problem
  rules test <path…>      run rule tests (like promtool test rules), or evaluate rules over captured data
  alerts                current alert states of the local stack (pending, firing)
  outbox ls | retry     alert notifications: pending, delivered, dead-lettered; re-drive dead letters
  cost                  monthly cost on AWS by part, against CloudWatch Logs + X-Ray and Firehose + Athena
  console               the web console (read-only): waterfalls, alerts against thresholds, pipeline
  smoke                 check a deployed stack (--stack) or the local stack (--local) end to end, one line per check

Run 'skein <command> --help' for the options of a command.
`;

export const LOCAL_USAGE = `Usage: skein local up [options]

Commands:
  up    start the local stack and keep it running; 'skein local up --help' lists its options
`;

/**
 * `cli/local-up-command.ts` is loaded only when `skein local up` runs: it pulls in the emulators, and the other
 * commands must work (and be testable) without them, even while that module is missing or broken.
 */
const localUp: Command = async (args, io) => {
  let loaded: typeof import('./local-up-command.ts');
  try {
    loaded = await import('./local-up-command.ts');
  } catch (error) {
    if (error instanceof Error && /local-up-command/.test(error.message))
      throw new SkeinError('unavailable', `'skein local up' is not available: ${error.message}`);
    throw error;
  }
  return loaded.localUpCommand(args, io);
};

const local: Command = (args, io) =>
  runGuarded(io, LOCAL_USAGE, async () => {
    const [sub, ...rest] = args;
    if (sub === undefined) throw new UsageError('missing local command');
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(LOCAL_USAGE);
      return EXIT.ok;
    }
    // Its own usage errors are its own: no 'skein local' usage after them.
    if (sub === 'up') return runGuarded(io, undefined, () => localUp(rest, io));
    throw new UsageError(`unknown command 'local ${sub}'`);
  });

/** Commands load their modules on first use: the AWS SDK and DuckDB's native binding take a second to import. */
const COMMANDS: Readonly<Record<string, Command>> = {
  local,
  push: async (args, io) => (await import('./push-command.ts')).pushCommand(args, io),
  query: async (args, io) => (await import('./query-command.ts')).queryCommand(args, io),
  quarantine: async (args, io) => (await import('./quarantine-command.ts')).quarantineCommand(args, io),
  replay: async (args, io) => (await import('./replay-command.ts')).replayCommand(args, io),
  rules: async (args, io) => (await import('./rules-command.ts')).rulesCommand(args, io),
  alerts: async (args, io) => (await import('./alerts-command.ts')).alertsCommand(args, io),
  outbox: async (args, io) => (await import('./outbox-command.ts')).outboxCommand(args, io),
  cost: async (args, io) => (await import('./cost-command.ts')).costCommand(args, io),
  smoke: async (args, io) => (await import('./smoke-command.ts')).smokeCommand(args, io),
  console: async (args, io) => (await import('./console-command.ts')).consoleCommand(args, io),
};

/**
 * The `skein` CLI: dispatches `argv` (without node and script) to a command. Usage errors print one line and the
 * usage on stderr and return 2; other failures print one line and return 1.
 * @example process.exitCode = await runSkein(process.argv.slice(2), process);
 */
export function runSkein(argv: readonly string[], io: CliIo): Promise<number> {
  return runGuarded(io, SKEIN_USAGE, async () => {
    const [name, ...args] = argv;
    if (name === undefined) throw new UsageError('missing command');
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(SKEIN_USAGE);
      return EXIT.ok;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new UsageError(`unknown command '${name}'`);
    return command(args, io);
  });
}
