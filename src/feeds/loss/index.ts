/**
 * The loss feed: `v4/timpush/normal_push_loss`, the four loss arrays per bucket, by stage,
 * channel and error code, into `loss_fact` and its rollups.
 */
import { parsePushLossBody } from '../../tencent/response.ts';
import type { LossEntry } from '../../tencent/loss.ts';
import { archivedAnswer, type Feed } from '../feed.ts';
import { replaceLossFacts } from './facts.ts';
import { normalizeLoss, type FactLine } from './normalize.ts';
import { ensureLossFactPartitions } from './partitions.ts';
import { refreshAllApps } from './rollup.ts';

export const lossFeed: Feed<LossEntry[], FactLine> = {
  name: 'loss',
  rollup: { zoneTable: 'loss_rollup_zone', rebuild: 'push_loss_rollup_rebuild' },
  async fetch(client, window, signal) {
    const { entries, call } = await client.normalPushLoss(window, signal ? { signal } : {});
    return { call, answer: entries };
  },
  parseArchived: (body) => archivedAnswer(parsePushLossBody(body), (ok) => ok.entries),
  toRows: normalizeLoss,
  answerEntries: (entries) => entries.length,
  prepare: ensureLossFactPartitions,
  async replaceFacts(trx, buckets) {
    await replaceLossFacts(trx, buckets);
  },
  async afterLoads(db) {
    await refreshAllApps(db);
  },
};
