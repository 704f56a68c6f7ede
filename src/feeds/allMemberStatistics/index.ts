/**
 * The task-push statistics feed: `v4/timpush/all_member_push_statistics`, how many task pushes
 * could be sent, were sent, delivered and clicked per bucket, overall and per channel and event
 * type, into `all_member_stats_fact`. The ordinary passes ask for the overall numbers.
 */
import { sql } from 'kysely';
import { arrayLiteral } from '../../db/arrayLiteral.ts';
import { OVERALL_PLATFORM } from '../../db/database.ts';
import { parseAllMemberStatisticsBody, type TaskStatistics } from '../../tencent/allMember.ts';
import type { PushCounts } from '../../tencent/statistics.ts';
import { bucketsRelation, clearBuckets } from '../bucketRows.ts';
import { checkCounts } from '../statistics/facts.ts';
import { archivedAnswer, type BucketContent, type Feed } from '../feed.ts';

/** One row of `all_member_stats_fact`: counts of one task ('' overall), channel and event type. */
export interface TaskStatsRow extends PushCounts {
  taskId: string;
  /** Vendor number, or -1 for the top-level counts. */
  platform: number;
  /** 1 offline, 2 online; -1 where the answer gives none (the top-level counts). */
  eventType: number;
}

/** `platform` and `event_type` are smallint columns. */
const MAX_SMALLINT = 32_767;

/** The rows of an answer, checked: what a column cannot hold is refused (RangeError), never altered. */
export function taskStatsRows(results: readonly TaskStatistics[]): TaskStatsRow[] {
  const rows = results.flatMap(({ taskId, overall, platforms }) => [
    { taskId: taskId ?? '', platform: OVERALL_PLATFORM, eventType: -1, ...overall },
    ...platforms.map((line) => ({ ...line, taskId: taskId ?? '', eventType: line.eventType ?? -1 })),
  ]);
  const keys = new Set<string>();
  for (const row of rows) {
    for (const [name, value] of [
      ['platform', row.platform],
      ['event type', row.eventType],
    ] as const) {
      if (!(Number.isInteger(value) && value >= -1 && value <= MAX_SMALLINT))
        throw new RangeError(`all-member statistics: ${name} ${value} is not an integer in 0..${MAX_SMALLINT}`);
    }
    checkCounts(row, 'all-member statistics', row.platform);
    const key = JSON.stringify([row.taskId, row.platform, row.eventType]);
    if (keys.has(key)) throw new RangeError(`all-member statistics: ${key} is listed twice`);
    keys.add(key);
  }
  return rows;
}

export const allMemberStatisticsFeed: Feed<TaskStatistics[], TaskStatsRow> = {
  name: 'all-member-statistics',
  async fetch(client, window, signal) {
    const { results, call } = await client.allMemberPushStatistics(window, [], signal ? { signal } : {});
    return { call, answer: results };
  },
  parseArchived: (body) => archivedAnswer(parseAllMemberStatisticsBody(body, []), (ok) => ok.results),
  toRows: taskStatsRows,
  answerEntries: (results) => results.reduce((sum, result) => sum + 1 + result.platforms.length, 0),
  async replaceFacts(trx, buckets: ReadonlyArray<BucketContent<TaskStatsRow>>) {
    if (buckets.length === 0) return;
    const rows = buckets.flatMap((b, i) => b.rows.map((row) => ({ i, row })));
    await clearBuckets(trx, 'all_member_stats_fact', buckets);
    await sql`
      insert into all_member_stats_fact (sdkappid, bucket_start, bucket_size, task_id, platform, event_type, bucket_end,
                                         total_count, sent_count, delivered_count, click_count, fetched_at, call_id)
      select b.sdkappid, b.bucket_start, b.bucket_size, r.task_id, r.platform, r.event_type, b.bucket_end,
             r.total_count, r.sent_count, r.delivered_count, r.click_count, b.fetched_at, b.call_id
        from unnest(
          ${arrayLiteral(rows.map(({ i }) => i))}::int4[],
          ${arrayLiteral(rows.map(({ row }) => row.taskId))}::text[],
          ${arrayLiteral(rows.map(({ row }) => row.platform))}::int2[],
          ${arrayLiteral(rows.map(({ row }) => row.eventType))}::int2[],
          ${arrayLiteral(rows.map(({ row }) => row.total))}::int8[],
          ${arrayLiteral(rows.map(({ row }) => row.sent))}::int8[],
          ${arrayLiteral(rows.map(({ row }) => row.delivered))}::int8[],
          ${arrayLiteral(rows.map(({ row }) => row.click))}::int8[]
        ) as r(i, task_id, platform, event_type, total_count, sent_count, delivered_count, click_count)
        join ${bucketsRelation(buckets)} using (i)`.execute(trx);
  },
};
