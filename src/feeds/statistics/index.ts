/**
 * The statistics feed: `v4/timpush/normal_push_statistics`, how many pushes could be sent, were
 * sent, delivered and clicked per bucket, overall and per channel, into `stats_fact`.
 */
import { parseStatisticsBody, type PushStatistics } from '../../tencent/statistics.ts';
import { archivedAnswer, type Feed } from '../feed.ts';
import { replaceStatsFacts, statsRows, type StatsRow } from './facts.ts';

export const statisticsFeed: Feed<PushStatistics, StatsRow> = {
  name: 'statistics',
  rollup: { zoneTable: 'stats_rollup_zone', rebuild: 'push_stats_rollup_rebuild' },
  async fetch(client, window, signal) {
    const { stats, call } = await client.normalPushStatistics(window, signal ? { signal } : {});
    return { call, answer: stats };
  },
  parseArchived: (body) => archivedAnswer(parseStatisticsBody(body), (ok) => ok.stats),
  toRows: statsRows,
  answerEntries: (stats) => 1 + stats.platforms.length,
  replaceFacts: replaceStatsFacts,
};
