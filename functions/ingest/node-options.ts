/**
 * How Node runs the ingest function: its `NODE_OPTIONS` (lib/ingest.ts), and how `npm run bench ingest` runs the
 * ingest benchmark, so the figures are the deployed function's.
 *
 * - `--enable-source-maps`: stack traces in the logs point at the TypeScript sources.
 * - `--max-semi-space-size=64` (MiB; V8's default is 16): a batch's rows live until its Parquet is written, so with
 *   the default young generation they are copied by several scavenges and promoted; 64 MiB semi-spaces let most of
 *   a batch die young. Measured with `npm run bench ingest`, JSON lines: 1,019–1,024 ms against 1,135–1,236 ms
 *   with the default, three runs each, alternated (docs/decisions.md D28). The ingest function has 1,024 MB; the
 *   two semi-spaces take at most 128 MiB of it.
 */
export const INGEST_NODE_OPTIONS = '--enable-source-maps --max-semi-space-size=64';
