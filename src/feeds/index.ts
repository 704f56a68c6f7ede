/**
 * Every feed pushloss collects, by name. Adding a feed: its module here, its API in
 * src/tencent/apis.ts, one migration for its fact table, partitions and views.
 */
import type { FeedName } from '../tencent/apis.ts';
import type { AnyFeed } from './feed.ts';
import { lossFeed } from './loss/index.ts';
import { statisticsFeed } from './statistics/index.ts';

export type { AnyFeed, FeedName } from './feed.ts';

export const FEEDS: Readonly<Record<FeedName, AnyFeed>> = {
  loss: lossFeed,
  statistics: statisticsFeed,
};
