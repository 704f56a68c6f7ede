/**
 * The load path against the database's own speed: N apps × D days loaded through `loadBuckets`
 * (with the answers' bodies archived), then `renormalize` over all of them twice (rebuilding the
 * same facts, then facts that all changed), against one set-based INSERT of the same rows into a
 * copy of the fact table (with its primary key), all in the same run.
 *
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- load
 */
import { lossFeed } from '../src/feeds/loss/index.ts';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { MEMORY_DATA_DIR, openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { bucketContaining } from '../src/buckets.ts';
import { renormalize } from '../src/warehouse/renormalize.ts';
import { parsePushLossBody } from '../src/tencent/response.ts';
import type { LossEntry, Window } from '../src/tencent/loss.ts';
import { loadHistory } from './history.ts';
import { createDatabaseOnServer, dropDatabaseOnServer, urlWithDatabase } from '../test/helpers/database.ts';

const apps = Number(process.env.BENCH_APPS ?? 50);
const days = Number(process.env.BENCH_DAYS ?? 60);
const serverUrl = process.env.BENCH_DATABASE_URL;
const scratch = `pushloss_bench_load_${randomBytes(4).toString('hex')}`;

function parse(scale: number) {
  return (body: string): LossEntry[] | Error => {
    const parsed = parsePushLossBody(body);
    if (parsed.kind !== 'ok') return new Error(parsed.kind);
    return parsed.entries.map((e) => ({ ...e, errCount: e.errCount * scale }));
  };
}

async function main() {
  let databaseUrl: string | undefined;
  if (serverUrl) {
    await createDatabaseOnServer(serverUrl, scratch, 'template0');
    databaseUrl = urlWithDatabase(serverUrl, scratch);
  }
  const opened = await openDatabase({ databaseUrl, dataDir: MEMORY_DATA_DIR, maxConnections: 4 });
  const { db } = opened;
  try {
    await migrateToLatest(db);
    const today = bucketContaining(Date.now(), '1d', 'Asia/Shanghai');
    const buckets: Window[] = [];
    for (let day = days; day >= 1; day--)
      buckets.push({ start: today.start - day * 86_400, end: today.start - (day - 1) * 86_400 });
    const sdkappids = Array.from({ length: apps }, (_, i) => 1_700_000_000 + i);
    let began = performance.now();
    const facts = await loadHistory(db, { sdkappids, buckets, bucketSize: '1d', withBody: true, batch: 500 });
    const rate = (n: number) => `${Math.round(n / ((performance.now() - began) / 1000) / 1000)} k facts/s`;
    console.log(`database            ${opened.kind}; ${apps} apps × ${days} days = ${facts} facts`);
    console.log(
      `loadBuckets         ${rate(facts)} (archive, bookkeeping, facts, rollup; 500 buckets per transaction)`,
    );
    if (opened.kind === 'postgres') await sql`vacuum analyze`.execute(db);

    began = performance.now();
    let report = await renormalize(db, { ...lossFeed, parseArchived: parse(1) });
    console.log(
      `renormalize, same   ${rate(report.facts)} (${report.rebuilt} buckets; nothing changed, nothing written)`,
    );
    began = performance.now();
    report = await renormalize(db, { ...lossFeed, parseArchived: parse(2) });
    console.log(`renormalize, all new ${rate(report.facts)} (every count changed: facts and rollup rewritten)`);

    await sql`create table loss_fact_copy (like loss_fact including all)`.execute(db);
    began = performance.now();
    await sql`insert into loss_fact_copy select * from loss_fact`.execute(db);
    console.log(`set-based INSERT    ${rate(facts)} (the same rows into a copy of loss_fact with its primary key)`);
  } finally {
    await opened.close();
    if (serverUrl) await dropDatabaseOnServer(serverUrl, scratch);
  }
}

await main();
