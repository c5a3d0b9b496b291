/** The part of a Node `Writable` that query printing writes to; `process.stdout` and test sinks both fit. */
export interface TextOutput {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** Where query results and progress go: the CLI's streams (`cli/io.ts` extends this with stdin). */
export interface OutputStreams {
  readonly stdout: TextOutput;
  readonly stderr: TextOutput;
  /** Environment (`NO_COLOR`); defaults to `process.env`. The AWS SDK reads its settings from `process.env` itself. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}
