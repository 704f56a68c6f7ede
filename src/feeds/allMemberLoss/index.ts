/**
 * The task-push loss feed: `v4/timpush/all_member_push_loss`, the four loss arrays of task pushes
 * (all users, tags, single pushes sent as tasks) per bucket, into `all_member_loss_fact`. The
 * ordinary passes ask for the overall numbers (an empty TaskID list).
 */
import { sql } from 'kysely';
import { arrayLiteral } from '../../db/arrayLiteral.ts';
import { parseAllMemberLossBody, type TaskLoss } from '../../tencent/allMember.ts';
import { bucketsRelation, clearBuckets } from '../bucketRows.ts';
import { archivedAnswer, type BucketContent, type Feed } from '../feed.ts';
import { normalizeLoss, type FactLine } from '../loss/normalize.ts';

/** One row of `all_member_loss_fact`: a loss line of one task ('' overall) and event type (-1 none). */
export interface TaskLossRow extends FactLine {
  taskId: string;
  eventType: number;
}

/** No event type (the overall arrays): a key column cannot be NULL. */
const NO_EVENT_TYPE = -1;

/**
 * The rows of an answer: each result's lines grouped per event type, normalized as loss lines are
 * (repeated keys summed, texts made storable, what a column cannot hold refused).
 */
export function taskLossRows(results: readonly TaskLoss[]): TaskLossRow[] {
  return results.flatMap(({ taskId, entries }) => {
    const byEventType = Map.groupBy(entries, (entry) => entry.eventType ?? NO_EVENT_TYPE);
    return [...byEventType].flatMap(([eventType, group]) =>
      normalizeLoss(group).map((line) => ({ ...line, taskId: taskId ?? '', eventType })),
    );
  });
}

export const allMemberLossFeed: Feed<TaskLoss[], TaskLossRow> = {
  name: 'all-member-loss',
  async fetch(client, window, signal) {
    const { results, call } = await client.allMemberPushLoss(window, [], signal ? { signal } : {});
    return { call, answer: results };
  },
  parseArchived: (body) => archivedAnswer(parseAllMemberLossBody(body, []), (ok) => ok.results),
  toRows: taskLossRows,
  answerEntries: (results) => results.reduce((sum, result) => sum + result.entries.length, 0),
  async replaceFacts(trx, buckets: ReadonlyArray<BucketContent<TaskLossRow>>) {
    if (buckets.length === 0) return;
    const rows = buckets.flatMap((b, i) => b.rows.map((row) => ({ i, row })));
    await clearBuckets(trx, 'all_member_loss_fact', buckets);
    await sql`
      insert into all_member_loss_fact (sdkappid, bucket_start, bucket_size, task_id, stage, platform, event_type,
                                        err_code, bucket_end, err_count, err_info, fetched_at, call_id)
      select b.sdkappid, b.bucket_start, b.bucket_size, r.task_id, r.stage, r.platform, r.event_type,
             r.err_code, b.bucket_end, r.err_count, r.err_info, b.fetched_at, b.call_id
        from unnest(
          ${arrayLiteral(rows.map(({ i }) => i))}::int4[],
          ${arrayLiteral(rows.map(({ row }) => row.taskId))}::text[],
          ${arrayLiteral(rows.map(({ row }) => row.stage))}::text[],
          ${arrayLiteral(rows.map(({ row }) => row.platform))}::int2[],
          ${arrayLiteral(rows.map(({ row }) => row.eventType))}::int2[],
          ${arrayLiteral(rows.map(({ row }) => row.errCode))}::text[],
          ${arrayLiteral(rows.map(({ row }) => row.errCount))}::int8[],
          ${arrayLiteral(rows.map(({ row }) => row.errInfo))}::text[]
        ) as r(i, task_id, stage, platform, event_type, err_code, err_count, err_info)
        join ${bucketsRelation(buckets)} using (i)`.execute(trx);
  },
};
