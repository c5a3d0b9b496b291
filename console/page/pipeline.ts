import { api, copyable, el, replace } from './dom.ts';

interface PipelineView {
  readonly live: {
    recordsIn: number;
    batches: number;
    retries: number;
    lagMs: number;
    rowsByFormat: Record<string, number>;
    quarantinedByReason: Record<string, number>;
  } | null;
  readonly lastRuns: Record<string, { at: string; counts: Record<string, number> } | { error: string } | null>;
  readonly quarantine: {
    byReason: Record<string, number>;
    total: number;
    replayed: number;
    entries: {
      arrival: string;
      reason: string;
      decoder: string;
      message: string;
      shard: string;
      sequence: string;
      line: number | null;
      size: number;
    }[];
  };
  readonly incompleteMinutes: string[];
  readonly replayCommand: string;
}

/** `/pipeline`: records in, rows, quarantine by reason, batches, lag, compactor and evaluator runs, the quarantine. */
export async function renderPipeline(root: HTMLElement): Promise<void> {
  const p = await api<PipelineView>('/api/pipeline');
  const figures: [string, string][] = [];
  if (p.live) {
    const rows = Object.values(p.live.rowsByFormat).reduce((a, b) => a + b, 0);
    figures.push(
      ['records in', String(p.live.recordsIn)],
      ['rows', `${rows} (${entries(p.live.rowsByFormat)})`],
      ['batches', `${p.live.batches} (${p.live.retries} retries)`],
      ['lag', `${p.live.lagMs} ms`],
    );
  }
  for (const [fn, run] of Object.entries(p.lastRuns))
    figures.push([
      `${fn} last run`,
      run === null
        ? 'never'
        : 'error' in run
          ? run.error
          : `${run.at}${Object.keys(run.counts).length ? ` (${entries(run.counts)})` : ''}`,
    ]);
  figures.push([
    'quarantined',
    `${p.quarantine.total} (${entries(p.quarantine.byReason) || 'none'}); ${p.quarantine.replayed} replayed`,
  ]);
  replace(
    root,
    el('h1', {}, 'Pipeline'),
    el(
      'table',
      { class: 'grid', id: 'figures' },
      el('tbody', {}, ...figures.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))),
    ),
    p.incompleteMinutes.length
      ? el(
          'section',
          {},
          el('h2', {}, 'Minutes evaluated before every shard was in'),
          el('ul', {}, ...p.incompleteMinutes.map((m) => el('li', {}, m))),
        )
      : null,
    el('h2', {}, 'Quarantine'),
    copyable('Replay', p.replayCommand),
    p.quarantine.entries.length === 0
      ? el('p', { class: 'dim' }, 'Nothing quarantined.')
      : el(
          'table',
          { class: 'grid', id: 'quarantine' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['arrival', 'reason', 'decoder', 'shard / sequence', 'line', 'bytes', 'message'].map((h) =>
                el('th', {}, h),
              ),
            ),
          ),
          el(
            'tbody',
            {},
            ...p.quarantine.entries.map((e) =>
              el(
                'tr',
                {},
                el('td', {}, e.arrival),
                el('td', {}, e.reason),
                el('td', {}, e.decoder),
                el('td', {}, `${e.shard} / ${e.sequence}`),
                el('td', {}, e.line === null ? '-' : String(e.line)),
                el('td', {}, String(e.size)),
                el('td', {}, e.message),
              ),
            ),
          ),
        ),
  );
}

function entries(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}
