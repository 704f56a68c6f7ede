/**
 * What durability costs the embedded database: commits of a bucket-sized transaction (a 5 KB
 * archived answer and 50 fact rows) with PGlite's defaults (fsync off, and no fsync in its
 * filesystem layer) against the durable setup pushloss uses (src/db/pgliteDurability.ts).
 *
 *   npm run bench:durability            # 200 commits each, in a temporary directory
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { durableStartParams, enableFsync } from '../src/db/pgliteDurability.ts';

const COMMITS = Number(process.env.BENCH_COMMITS ?? 200);

async function run(durable: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pushloss-durability-'));
  try {
    const pglite = await PGlite.create(
      dir,
      durable ? { startParams: durableStartParams(PGlite.defaultStartParams) } : {},
    );
    if (durable) enableFsync(pglite);
    await pglite.exec(`create table call (id serial primary key, body text);
                       create table fact (call_id int, code text, n bigint)`);
    const body = 'x'.repeat(5_000);
    const began = performance.now();
    for (let i = 0; i < COMMITS; i++) {
      await pglite.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number }>('insert into call (body) values ($1) returning id', [body]);
        await tx.query('insert into fact select $1, g::text, g from generate_series(1, 50) g', [rows[0]!.id]);
      });
    }
    const msPerCommit = (performance.now() - began) / COMMITS;
    await pglite.close();
    return msPerCommit;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fast = await run(false);
const durable = await run(true);
console.log(`${COMMITS} bucket-sized commits in ${tmpdir()}:`);
console.log(`  PGlite defaults (fsync off, never flushed): ${fast.toFixed(2)} ms per commit`);
console.log(`  durable (fsync on, flushed at every commit): ${durable.toFixed(2)} ms per commit`);
console.log(`  cost: ${(durable - fast).toFixed(2)} ms per bucket, against 1200 ms between two calls of one app`);
