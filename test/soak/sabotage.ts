/**
 * Guarantees broken on purpose, to prove the soak's checks notice: Kysely plugins on the daemons'
 * database handle (the soak's `sabotage` seam), each the shape of a plausible bug.
 */
import {
  OnConflictNode,
  TableNode,
  ValueNode,
  WhereNode,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import type { Config } from '../../src/config/config.ts';

const names = (node: RootOperationNode) => JSON.stringify(node);
const mentions = (node: RootOperationNode, table: string) => names(node).includes(`"name":"${table}"`);

/** The planner skips pending buckets: every fetched bucket reads as final. */
export function plannerSkipsPending(): KyselyPlugin {
  const stateReads = new Set<unknown>();
  return {
    transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
      if (node.kind === 'SelectQueryNode' && mentions(node, 'feed_bucket_state')) stateReads.add(queryId);
      return node;
    },
    async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      if (!stateReads.delete(queryId)) return result;
      return { ...result, rows: result.rows.map((row) => (row.last_fetched_at ? { ...row, final: true } : row)) };
    },
  };
}

/** A load does not replace: the old facts stay, the new ones are added where their keys are free. */
export function loadDoesNotReplace(): KyselyPlugin {
  return {
    transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
      // The set-based loader (warehouse/facts.ts) is one raw statement: its delete of vanished
      // rows deletes nothing, and its upsert keeps what is there.
      if (node.kind === 'RawNode' && node.sqlFragments.some((text) => text.includes('delete from loss_fact')))
        return {
          ...node,
          sqlFragments: node.sqlFragments.map((text) =>
            text
              .replace(/(delete from loss_fact f using diff g\s+where )/, '$1false and ')
              .replace(/(on conflict \([^)]*\)) do update[\s\S]*?call_id = excluded\.call_id/, '$1 do nothing'),
          ),
        };
      if (node.kind === 'DeleteQueryNode' && mentions(node, 'loss_fact'))
        return { ...node, where: WhereNode.create(ValueNode.createImmediate(false)) };
      if (node.kind === 'InsertQueryNode' && node.into?.table.identifier.name === 'loss_fact')
        return { ...node, onConflict: OnConflictNode.cloneWith(OnConflictNode.create(), { doNothing: true }) };
      return node;
    },
    transformResult: async ({ result }) => result,
  };
}

/** The table {@link lostNotRecorded} writes to instead of feed_bucket_state. */
export const LOST_SINK_DDL =
  'create schema lost_sink; create table lost_sink.feed_bucket_state (like public.bucket_state including all)';

/** Buckets the horizon passed are not recorded as lost (their marks go to a table nobody reads). */
export function lostNotRecorded(): KyselyPlugin {
  return {
    transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
      if (
        node.kind === 'InsertQueryNode' &&
        node.into?.table.identifier.name === 'feed_bucket_state' &&
        node.columns?.some((column) => column.column.name === 'lost_at')
      )
        return { ...node, into: TableNode.createWithSchema('lost_sink', 'feed_bucket_state') };
      return node;
    },
    transformResult: async ({ result }) => result,
  };
}

/** A `collection_status` view that reads every fetched bucket as final: the view disagrees with the tables. */
export const VIEW_FETCHED_IS_FINAL_DDL = `create or replace view collection_status as
  select sdkappid, bucket_start, bucket_end, bucket_size,
         case when final or last_fetched_at is not null then 'final' when lost_at is not null then 'lost'
              else 'pending' end as state,
         first_fetched_at, last_fetched_at, fetch_count, lost_at
    from bucket_state`;

/**
 * The old settle rule: every pending bucket fetched on every pass, and final once fetched 48 h
 * after its end (a day bucket's final window opening 4 days before its 7-day horizon).
 */
export function finalAfter48h(config: Config): Config {
  const finalWindowMs = config.limits.loss.horizonSeconds * 1000 - 86_400_000 - 48 * 3_600_000;
  return { ...config, daemon: { ...config.daemon, settle: { scheduleMs: 'every-pass', finalWindowMs } } };
}

/**
 * The planner marks reachable buckets lost: it believes the API's horizon is `days` long, not the
 * 7 days the API (the simulator) still answers.
 */
export function plannerHorizonOf(days: number): (config: Config) => Config {
  return (config) => ({
    ...config,
    limits: { ...config.limits, loss: { ...config.limits.loss, horizonSeconds: days * 86_400 } },
  });
}
