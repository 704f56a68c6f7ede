/**
 * The timpush analytics APIs pushloss collects, each under the one name pushloss gives it: in
 * `COLLECT_APIS`, in the `feed` column of the archive and bookkeeping, in metrics labels and on
 * the command line. How each is collected is its feed module (src/feeds/).
 */

/** The name of one collected API. */
export type FeedName = 'loss' | 'statistics' | 'all-member-loss' | 'all-member-statistics';

export interface TimApiInfo {
  /** Tencent's name of the API. */
  api: string;
  /** The REST path (after the host). */
  path: string;
  /** How far back the API answers, and the longest window one call may ask, in days (documented). */
  documentedDays: number;
  /** The prefix of its settings: `<PREFIX>_HORIZON`, `<PREFIX>_MAX_SPAN`. */
  settingPrefix: string;
}

/** Every collected API, in collection order. */
export const TIM_APIS: Readonly<Record<FeedName, TimApiInfo>> = {
  loss: {
    api: 'normal_push_loss',
    path: '/v4/timpush/normal_push_loss',
    documentedDays: 7,
    settingPrefix: 'LOSS',
  },
  statistics: {
    api: 'normal_push_statistics',
    path: '/v4/timpush/normal_push_statistics',
    documentedDays: 30,
    settingPrefix: 'STATS',
  },
  // Task pushes (all users, tags, single pushes sent as tasks with v4/timpush/push or batch).
  'all-member-loss': {
    api: 'all_member_push_loss',
    path: '/v4/timpush/all_member_push_loss',
    documentedDays: 7,
    settingPrefix: 'ALL_MEMBER_LOSS',
  },
  'all-member-statistics': {
    api: 'all_member_push_statistics',
    path: '/v4/timpush/all_member_push_statistics',
    documentedDays: 30,
    settingPrefix: 'ALL_MEMBER_STATS',
  },
};

export const FEED_NAMES = Object.keys(TIM_APIS) as readonly FeedName[];

/** True for a name of {@link FEED_NAMES}. */
export function isFeedName(name: string): name is FeedName {
  return Object.hasOwn(TIM_APIS, name);
}
