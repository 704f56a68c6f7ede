/**
 * What a collector is built from (and what it tells): shared by the pass (collector.ts) and the
 * bucket step (bucketCollector.ts), which the pass uses, so neither imports the other's module
 * for its types.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/config.ts';
import type { DatabaseKind } from '../db/connect.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { FeedName } from '../tencent/apis.ts';
import type { CallGate } from '../tencent/callGate.ts';
import type { CallRecord } from '../tencent/loss.ts';
import type { AppPassResult } from './passResult.ts';

/** Hooks for metrics; every method is optional. */
export interface CollectObserver {
  /** Every call of every feed. */
  call?(call: CallRecord, feed: FeedName): void;
  /** A bucket of `feed` was fetched and loaded. */
  loaded?(sdkappid: number, facts: number, feed: FeedName): void;
  /** One feed's part of an app's pass (a fatal error stops that feed only). */
  feedPassed?(sdkappid: number, feed: FeedName, result: AppPassResult): void;
  appPassed?(sdkappid: number, result: AppPassResult, atMs: number): void;
}

export interface CollectorDeps {
  db: Kysely<Database>;
  /** Where rate slots are reserved (see `OpenedDatabase.coordinationDb`); default `db`. */
  coordinationDb?: Kysely<Database>;
  /**
   * How long an app's lease is kept after its pass (default 0). The daemon keeps it a minute, so a
   * replica whose tick comes a little later counts as the same pass and skips the app; one-shot
   * commands release at once, as no later pass of theirs will come.
   */
  leaseGraceMs?: number;
  config: Config;
  logger: Logger;
  clock: Clock;
  observer?: CollectObserver;
  /** Where calls wait for their turn; default the in-process gate, then the database's rate slot. */
  gate?: CallGate;
  /**
   * What `db` is (`OpenedDatabase.kind`); default 'pglite', the cautious choice. It sets how many
   * loads run at once (`loadSlotsFor`) and how many apps a pass collects at once.
   */
  databaseKind?: DatabaseKind;
}
