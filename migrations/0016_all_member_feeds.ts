/**
 * The two task-push feeds (issue 16): `all_member_push_loss` (feed `all-member-loss`, 7 days)
 * and `all_member_push_statistics` (feed `all-member-statistics`, 30 days), for all-user, tag and
 * single pushes sent as tasks. What a feed needs of the schema, and nothing else:
 *
 * - its partitions of the bookkeeping (0015): `feed_call_<feed>`, `feed_bucket_state_<feed>`,
 *   `feed_app_state_<feed>`;
 * - its fact table, keyed like the loss and statistics facts plus `task_id` ('' for the overall
 *   numbers of an empty TaskID list) and `event_type` (1 offline push, 2 online push; -1 where the
 *   answer gives none, as on the overall arrays: a key column cannot be NULL);
 * - its contract view for BI readers, with the columns issue 16 fixed, in that order.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const FEEDS = ['all-member-loss', 'all-member-statistics'] as const;
const PARENTS = ['feed_call', 'feed_bucket_state', 'feed_app_state'] as const;
const partition = (parent: string, feed: string) => `${parent}_${feed.replaceAll('-', '_')}`;

const up_statements = [
  `create table all_member_loss_fact (
     sdkappid bigint not null,
     bucket_start timestamptz not null,
     bucket_size text not null,
     task_id text not null,
     stage text not null,
     platform smallint not null,
     event_type smallint not null,
     err_code text not null,
     bucket_end timestamptz not null,
     err_count bigint not null,
     err_info text not null,
     fetched_at timestamptz not null,
     call_id bigint not null,
     constraint all_member_loss_fact_pkey
       primary key (sdkappid, bucket_start, bucket_size, task_id, stage, platform, event_type, err_code),
     constraint all_member_loss_fact_bucket_size_check check (bucket_size in ('1d', '1h')),
     constraint all_member_loss_fact_bucket_check check (bucket_end > bucket_start),
     constraint all_member_loss_fact_stage_check check (stage in ('ready_to_send', 'post_send_delivered')),
     constraint all_member_loss_fact_platform_check check (platform >= -1),
     constraint all_member_loss_fact_event_type_check check (event_type >= -1),
     constraint all_member_loss_fact_count_check check (err_count >= 0)
   )`,
  `create table all_member_stats_fact (
     sdkappid bigint not null,
     bucket_start timestamptz not null,
     bucket_size text not null,
     task_id text not null,
     platform smallint not null,
     event_type smallint not null,
     bucket_end timestamptz not null,
     total_count bigint,
     sent_count bigint,
     delivered_count bigint,
     click_count bigint,
     fetched_at timestamptz not null,
     call_id bigint not null,
     constraint all_member_stats_fact_pkey primary key (sdkappid, bucket_start, bucket_size, task_id, platform, event_type),
     constraint all_member_stats_fact_bucket_size_check check (bucket_size in ('1d', '1h')),
     constraint all_member_stats_fact_bucket_check check (bucket_end > bucket_start),
     constraint all_member_stats_fact_platform_check check (platform >= -1),
     constraint all_member_stats_fact_event_type_check check (event_type >= -1),
     constraint all_member_stats_fact_counts_check check (
       coalesce(total_count, 0) >= 0 and coalesce(sent_count, 0) >= 0
       and coalesce(delivered_count, 0) >= 0 and coalesce(click_count, 0) >= 0)
   )`,

  // THE BI CONTRACT for task pushes. Columns, order and types are promised to dashboards.
  `create view all_member_push_loss as
   select f.sdkappid,
          f.bucket_start,
          f.bucket_end,
          nullif(f.task_id, '') as task_id,
          f.stage,
          case when f.event_type >= 0 then f.event_type end as event_type,
          case when f.platform >= 0 then f.platform end as platform,
          case when f.platform >= 0 then coalesce(p.name, 'platform ' || f.platform) end as platform_name,
          f.err_code,
          f.err_info,
          f.err_count,
          f.fetched_at
     from all_member_loss_fact f
     left join platform p on p.platform = f.platform`,
  `comment on view all_member_push_loss is
   'Loss of task pushes (all users, tags, single pushes sent as tasks; all_member_push_loss) per bucket, stage, channel and error code. task_id IS NULL on the overall numbers of all tasks. Rows with platform IS NULL come from the overall arrays (ReadyToSendLoss, PostSendDeliveredLoss), never a sum of the channels: never add the two groups together. event_type: 1 offline push, 2 online push; NULL where the answer gives none (the overall arrays).'`,
  `create view all_member_push_stats as
   select s.sdkappid,
          s.bucket_start,
          s.bucket_end,
          nullif(s.task_id, '') as task_id,
          case when s.event_type >= 0 then s.event_type end as event_type,
          case when s.platform >= 0 then s.platform end as platform,
          case when s.platform >= 0 then coalesce(p.name, 'platform ' || s.platform) end as platform_name,
          s.total_count,
          s.sent_count,
          s.delivered_count,
          s.click_count,
          s.fetched_at
     from all_member_stats_fact s
     left join platform p on p.platform = s.platform`,
  `comment on view all_member_push_stats is
   'Push statistics of task pushes (all_member_push_statistics) per bucket and channel. task_id IS NULL on the overall numbers of all tasks; event_type, platform and platform_name are NULL on the top-level counts, never a sum of the channels. A NULL count was not in the answer (unknown).'`,
  `grant select on all_member_push_loss, all_member_push_stats to pushloss_reader`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const feed of FEEDS) {
    for (const parent of PARENTS)
      await sql
        .raw(`create table ${partition(parent, feed)} partition of ${parent} for values in ('${feed}')`)
        .execute(db);
  }
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw(`drop view all_member_push_stats, all_member_push_loss`).execute(db);
  await sql.raw(`drop table all_member_stats_fact, all_member_loss_fact`).execute(db);
  // Buckets first: their foreign key points at the calls. A call partition leaves its parent
  // before it is dropped: the parent's foreign key depends on it until then.
  for (const parent of [...PARENTS].reverse()) {
    for (const feed of FEEDS) {
      if (parent === 'feed_call')
        await sql.raw(`alter table feed_call detach partition ${partition(parent, feed)}`).execute(db);
      await sql.raw(`drop table ${partition(parent, feed)}`).execute(db);
    }
  }
}
