/**
 * The revisions section of the loss report: how the counts of final buckets settled, from
 * `push_loss_revisions` (measured from the raw archive, over all apps and all time: the schedule
 * is one setting for every app, so its evidence is too).
 */
import { sql, type Kysely } from 'kysely';

/** The ages `push_loss_revisions` measures, as its column suffixes. */
export const REVISION_AGES = ['6h', '1d', '2d', '3d', '5d', '7d', '20d'] as const;

/** One API, stage and channel (platform null: overall): the share of the final value at each age. */
export interface RevisionLine {
  feed: 'loss' | 'statistics';
  stage: string;
  platform: number | null;
  /** Final buckets measured. */
  buckets: number;
  /** Share of the final value reached at each age since the bucket's end; null: no answer that old. */
  shares: Record<(typeof REVISION_AGES)[number], number | null>;
  /** Buckets whose answer at 48 h (what the old rule kept) differs from the final one. */
  changedAfter48h: number;
}

/** Every line of `push_loss_revisions`, overall first, loss before statistics. */
export async function revisionLines(db: Kysely<any>): Promise<RevisionLine[]> {
  const { rows } = await sql<Record<string, string | number | null>>`
    select * from push_loss_revisions order by feed, stage, platform nulls first`.execute(db);
  return rows.map((row) => ({
    feed: row.feed as RevisionLine['feed'],
    stage: String(row.stage),
    platform: row.platform === null ? null : Number(row.platform),
    buckets: Number(row.buckets),
    shares: Object.fromEntries(
      REVISION_AGES.map((age) => [age, row[`share_${age}`] === null ? null : Number(row[`share_${age}`])]),
    ) as RevisionLine['shares'],
    changedAfter48h: Number(row.changed_after_48h),
  }));
}
