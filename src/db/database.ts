/**
 * The one Kysely `Database` interface: every table and view of the warehouse, as the application
 * reads and writes it. Column names are the SQL names (snake_case), so raw SQL and Kysely agree.
 *
 * Type decisions, made on purpose:
 * - `int8` is a JS `number` (see `int8.ts`: parsed exactly, throws past 2^53).
 * - `timestamptz` is read as `Date` (both pg and PGlite do so) and accepts `Date` or an ISO string.
 * - The schema itself lives in `migrations/`; this file must follow it, never the other way round.
 */
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { CallOutcome, LossStage } from '../tencent/loss.ts';
import type { BucketSize } from '../buckets.ts';
import type { FeedName } from '../tencent/apis.ts';

/** A `timestamptz` column. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** The two bucket sizes the warehouse keeps: a local calendar day or a real hour. */

/**
 * Which of the API's arrays a fact came from: the overall arrays (`ReadyToSendLoss`,
 * `PostSendDeliveredLoss`) or the per-platform ones. Stored so the two are never summed together.
 */
export type LossScope = 'overall' | 'platform';

/** `platform` value stored for facts of the overall arrays (a primary key column cannot be NULL). */
export const OVERALL_PLATFORM = -1;

/**
 * Raw archive (`feed_call`, partitioned by feed; 0015): one row per HTTP exchange with an API,
 * successful or not. Never holds a secret.
 */
export interface FeedCallTable {
  sdkappid: number;
  feed: FeedName;
  id: Generated<number>;
  window_start: Timestamp;
  window_end: Timestamp;
  started_at: Timestamp;
  duration_ms: number;
  attempt: number;
  /** Host name (and port) only: never the URL, whose query string carries the UserSig. */
  host: string;
  http_status: number | null;
  action_status: string | null;
  error_code: number | null;
  error_info: string | null;
  request_id: string | null;
  /**
   * The response text as received (secrets scrubbed); null when no response arrived. U+0000 is
   * stored as U+FFFD; `body_raw` then holds the exact bytes.
   */
  body: string | null;
  /** The exact bytes when `body` cannot be exact (U+0000, invalid UTF-8); else null. (0006) */
  body_raw: Uint8Array | null;
  /** Bytes received (decompressed); null for rows archived before 0006. */
  body_bytes: number | null;
  /** The answer was refused for its size or cut off: `body` holds only its beginning. */
  body_truncated: Generated<boolean>;
  outcome: CallOutcome;
}

/** One error code's count for one bucket, stage and platform (or overall), as last fetched. */
export interface LossFactTable {
  sdkappid: number;
  bucket_start: Timestamp;
  bucket_size: BucketSize;
  scope: LossScope;
  stage: LossStage;
  /** Vendor number for scope 'platform'; {@link OVERALL_PLATFORM} (-1) for scope 'overall'. */
  platform: number;
  err_code: string;
  bucket_end: Timestamp;
  err_count: number;
  err_info: string;
  fetched_at: Timestamp;
  /** The `feed_call` row (same sdkappid, feed loss) whose body these facts were read from. */
  call_id: number;
}

/**
 * What the collector knows about one bucket of one feed (`feed_bucket_state`): fetched how often,
 * from which call, final or lost.
 */
export interface BucketStateTable {
  sdkappid: number;
  feed: FeedName;
  bucket_start: Timestamp;
  bucket_size: BucketSize;
  bucket_end: Timestamp;
  first_fetched_at: Timestamp | null;
  last_fetched_at: Timestamp | null;
  fetch_count: Generated<number>;
  last_call_id: number | null;
  final: Generated<boolean>;
  /** Set when the API's horizon passed the bucket before it could be fetched (or re-fetched). */
  lost_at: Timestamp | null;
}

/**
 * The BI views' daily rollup (migrations 0004, 0009), written only by `push_loss_rollup_refresh`:
 * per app, local day, stage, channel (-1: overall) and error code, for the days that are summed
 * (hours, or day buckets of another zone); a direct day is its 1d bucket's facts. Read-only for
 * the application.
 */
export interface LossDayTable {
  sdkappid: ReadOnly<number>;
  day_start: ReadOnly<Date>;
  stage: ReadOnly<LossStage>;
  platform: ReadOnly<number>;
  err_code: ReadOnly<string>;
  day: ReadOnly<Date>;
  err_count: ReadOnly<number>;
  err_info: ReadOnly<string>;
  bucket_size: ReadOnly<BucketSize>;
}

/** Dimension: documented push vendors (`PushPlatform`). Unknown numbers are kept in facts anyway. */
export interface PlatformTable {
  platform: number;
  name: string;
}

/** Dimension: the two loss stages with readable names. */
export interface StageTable {
  stage: LossStage;
  name: string;
  description: string;
  sort_order: number;
}

/** The next instant a call for the app may start: the cross-process rate cap (see rateSlots.ts). */
export interface RateSlotTable {
  sdkappid: number;
  /** Which of the app's slots: the feeds sharing it wait for each other (RATE_SLOTS). */
  slot: string;
  next_at: Timestamp;
  /** When the app's latest call was written to its socket (migration 0014); null until one is. */
  sent_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** Which process collects an app in the current pass, until when. */
export interface AppLeaseTable {
  sdkappid: number;
  holder: string;
  expires_at: Timestamp;
}

/** Per app, feed and bucket size (`feed_app_state`): the planning watermark and the last outcome. */
export interface AppStateTable {
  sdkappid: number;
  feed: FeedName;
  bucket_size: BucketSize;
  covered_from: Timestamp;
  first_seen_at: Timestamp;
  last_pass_at: Timestamp | null;
  last_success_at: Timestamp | null;
  last_error_at: Timestamp | null;
  last_error_code: string | null;
  last_error: string | null;
  fatal_at: Timestamp | null;
}

type ReadOnly<T> = ColumnType<T, never, never>;

/**
 * The BI contract (`push_loss` view). Overall rows have `platform` and `platform_name` NULL;
 * per-platform rows have both set (`'platform 9'` for a number the documentation does not list).
 */
export interface PushLossView {
  sdkappid: ReadOnly<number>;
  bucket_start: ReadOnly<Date>;
  bucket_end: ReadOnly<Date>;
  stage: ReadOnly<LossStage>;
  platform: ReadOnly<number | null>;
  platform_name: ReadOnly<string | null>;
  err_code: ReadOnly<string>;
  err_info: ReadOnly<string>;
  err_count: ReadOnly<number>;
  fetched_at: ReadOnly<Date>;
}

/** One channel's (or, platform -1, the top-level) push statistics for one bucket, as last fetched. */
export interface StatsFactTable {
  sdkappid: number;
  bucket_start: Timestamp;
  bucket_size: BucketSize;
  /** Vendor number, or {@link OVERALL_PLATFORM} (-1) for the top-level counts. */
  platform: number;
  bucket_end: Timestamp;
  /** A count is null when the answer did not give it (unknown, never 0). */
  total_count: number | null;
  sent_count: number | null;
  delivered_count: number | null;
  click_count: number | null;
  fetched_at: Timestamp;
  /** The `feed_call` row (same sdkappid, feed statistics) whose body these facts were read from. */
  call_id: number;
}

/** The BI contract for statistics (`push_stats` view); platform NULL on the overall row. */
export interface PushStatsView {
  sdkappid: ReadOnly<number>;
  bucket_start: ReadOnly<Date>;
  bucket_end: ReadOnly<Date>;
  platform: ReadOnly<number | null>;
  platform_name: ReadOnly<string | null>;
  total_count: ReadOnly<number | null>;
  sent_count: ReadOnly<number | null>;
  delivered_count: ReadOnly<number | null>;
  click_count: ReadOnly<number | null>;
  fetched_at: ReadOnly<Date>;
}

/** Every table and view, for `Kysely<Database>`. */
/** The error-code catalogue (migration 0012), rewritten from `src/errorCodes/catalogue.ts` at every migrate. */
export interface ErrorCodeTable {
  /** PushPlatform, or -1 for Tencent's codes valid on every channel. */
  channel: number;
  err_code: string;
  title: string;
  meaning: string;
  fix: string;
  token_invalid: boolean;
  source_url: string;
}

/**
 * The application reads and writes the bookkeeping through the parents keyed by feed
 * (`feed_call`, `feed_bucket_state`, `feed_app_state`), never through a feed's partition.
 */
export interface Database {
  feed_call: FeedCallTable;
  feed_bucket_state: BucketStateTable;
  feed_app_state: AppStateTable;
  rate_slot: RateSlotTable;
  app_lease: AppLeaseTable;
  loss_fact: LossFactTable;
  loss_day: LossDayTable;
  platform: PlatformTable;
  stage: StageTable;
  push_loss: PushLossView;
  stats_fact: StatsFactTable;
  push_stats: PushStatsView;
  error_code: ErrorCodeTable;
  // The feeds' partitions (0015), under their names from before it: the BI views and rollup
  // functions read them, and tests may. The application reads and writes the parents.
  tim_call: FeedCallTable;
  bucket_state: BucketStateTable;
  app_state: AppStateTable;
  stats_call: FeedCallTable;
  stats_bucket_state: BucketStateTable;
  stats_app_state: AppStateTable;
}

export type NewFeedCall = Insertable<FeedCallTable>;
/** @public a stored fact row, as tests and tools read it */
export type LossFact = Selectable<LossFactTable>;
export type BucketState = Selectable<BucketStateTable>;
export type AppState = Selectable<AppStateTable>;
