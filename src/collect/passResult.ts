/** What a pass did for each app, and how one app's results over its APIs combine. */

export type AppPassResult =
  | { status: 'collected'; fetched: number; failed: number; lost: number; atRisk: number; error?: string }
  | { status: 'fatal'; fetched: number; error: string }
  | { status: 'paused'; error: string }
  | { status: 'leased_elsewhere'; heldBy: string }
  | { status: 'stopped'; fetched: number };

export interface PassResult {
  startedAtMs: number;
  durationMs: number;
  apps: Map<number, AppPassResult>;
}

/**
 * One app's result over its APIs. Fatal or paused only when every API is; an API stopped while
 * another went on counts as one failed bucket, its error reported.
 */
export function combineFeeds(results: readonly AppPassResult[]): AppPassResult {
  const [first] = results;
  if (results.length === 1 && first) return first;
  const fetched = results.reduce((sum, r) => sum + ('fetched' in r ? r.fetched : 0), 0);
  const handover = results.find((r) => r.status === 'leased_elsewhere');
  if (handover) return handover;
  if (results.some((r) => r.status === 'stopped')) return { status: 'stopped', fetched };
  const errors = results.flatMap((r) => ('error' in r && r.error ? [r.error] : []));
  if (results.every((r) => r.status === 'fatal' || r.status === 'paused')) {
    return results.some((r) => r.status === 'fatal')
      ? { status: 'fatal', fetched, error: errors.join('; ') }
      : { status: 'paused', error: errors.join('; ') };
  }
  let failed = 0;
  let lost = 0;
  let atRisk = 0;
  for (const r of results) {
    if (r.status === 'collected') {
      failed += r.failed;
      lost += r.lost;
      atRisk += r.atRisk;
    } else failed++;
  }
  return { status: 'collected', fetched, failed, lost, atRisk, ...(errors.length ? { error: errors.join('; ') } : {}) };
}
