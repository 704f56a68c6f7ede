/**
 * Benchmarks a daemon pass at scale: N apps against the loopback simulator at Tencent's real
 * 1 call/second per app. A pass should take about as long as one app's calls (7 buckets at
 * MIN_CALL_INTERVAL), not the sum over apps, and memory should stay bounded.
 *
 *   npm run bench                              # 500 apps, embedded database in memory
 *   BENCH_APIS=loss,statistics npm run bench   # both APIs (37 calls per app instead of 7)
 *   BENCH_APPS=100 BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench
 *
 * With BENCH_DATABASE_URL a scratch database is created on that server and dropped afterwards.
 * `npm run bench -- bi` times the BI views and the dashboard (bench/bi.ts), `npm run bench -- load`
 * the load path and renormalize (bench/load.ts), `npm run bench -- rate` the rate cap across
 * processes under load (bench/rateGap.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { systemClock } from '../src/clock.ts';
import { createCollector } from '../src/collect/collector.ts';
import { loadConfig, loopbackApp, type Config } from '../src/config/config.ts';
import { MEMORY_DATA_DIR, openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { createDatabaseOnServer, dropDatabaseOnServer, urlWithDatabase } from '../test/helpers/database.ts';

const apps = Number(process.env.BENCH_APPS ?? 500);
const serverUrl = process.env.BENCH_DATABASE_URL;
const scratch = `pushloss_bench_${randomBytes(4).toString('hex')}`;

async function main() {
  // The loss API alone by default (7 calls per app, the floor issue 9 set); BENCH_APIS=loss,statistics for both.
  const base = loadConfig({ COLLECT_APIS: process.env.BENCH_APIS ?? 'loss' });
  const sdkappids = Array.from({ length: apps }, (_, i) => 1_500_000_000 + i);
  // The simulator runs in its own process: arrival times judged on a busy event loop would lie.
  const simProcess = spawn(
    process.execPath,
    [fileURLToPath(new URL('./simulatorProcess.ts', import.meta.url)), String(sdkappids[0]), String(apps)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const simOutput: string[] = [];
  simProcess.stdout
    .setEncoding('utf8')
    .on('data', (chunk: string) => simOutput.push(...chunk.split('\n').filter(Boolean)));
  while (simOutput.length === 0) await once(simProcess.stdout, 'data');
  const simUrl = simOutput[0]!;
  let databaseUrl: string | undefined;
  if (serverUrl) {
    await createDatabaseOnServer(serverUrl, scratch, 'template0');
    databaseUrl = urlWithDatabase(serverUrl, scratch);
  }
  const opened = await openDatabase({
    databaseUrl,
    dataDir: MEMORY_DATA_DIR,
    maxConnections: Number(process.env.BENCH_POOL ?? 10),
  });
  try {
    await migrateToLatest(opened.db);
    const config: Config = {
      ...base,
      apps: sdkappids.map((sdkappid) => loopbackApp(sdkappid, `bench-${sdkappid}`, [simUrl])),
    };
    let peakRss = process.memoryUsage().rss;
    let peakHeap = { total: 0, used: 0 };
    const sampler = setInterval(() => {
      const { rss, heapTotal, heapUsed } = process.memoryUsage();
      if (rss > peakRss) [peakRss, peakHeap] = [rss, { total: heapTotal, used: heapUsed }];
    }, 100);
    const collector = createCollector({
      db: opened.db,
      coordinationDb: opened.coordinationDb,
      databaseKind: opened.kind,
      config,
      logger: createLogger('error'),
      clock: systemClock,
    });
    const pass = await collector.runPass();
    clearInterval(sampler);

    const statuses = [...pass.apps.values()];
    const fetched = statuses.reduce((sum, r) => sum + ('fetched' in r ? r.fetched : 0), 0);
    const perApp = Math.max(...statuses.map((r) => ('fetched' in r ? r.fetched : 0)));
    const ideal = ((perApp - 1) * config.api.minIntervalMs) / 1000;
    simProcess.kill('SIGTERM');
    await once(simProcess, 'exit');
    const simStats = JSON.parse(simOutput.at(-1)!) as { calls: number; refusedForRate: number; minGapMs: number };
    console.log(`database          ${opened.kind}${serverUrl ? ` (${scratch})` : ' (in memory)'}`);
    console.log(`apps              ${apps}, ${fetched} buckets fetched (${perApp} per app)`);
    console.log(
      `at the simulator  ${simStats.calls} calls, ${simStats.refusedForRate} refused for rate (60011), smallest gap between one app's calls ${simStats.minGapMs} ms`,
    );
    const { rows: gaps } = await sql<{ min_gap_ms: number }>`
      select min(gap_ms)::float8 as min_gap_ms from (
        select extract(epoch from started_at - lag(started_at) over (partition by sdkappid order by started_at)) * 1000 as gap_ms from tim_call) g`.execute(
      opened.db,
    );
    console.log(
      `at pushloss      smallest gap between the starts of one app's calls ${Math.round(gaps[0]!.min_gap_ms)} ms (tim_call.started_at)`,
    );
    // Each transaction stamps the rows it wrote with its id: the archive's distinct xmin are the
    // transactions that loaded (or archived) calls, whatever batched them.
    const { rows: trx } = await sql<{ n: number }>`select count(distinct xmin::text)::int8 as n from tim_call`.execute(
      opened.db,
    );
    console.log(`load transactions ${trx[0]!.n} (distinct xmin of tim_call) for ${fetched} buckets`);
    console.log(`pass wall time    ${(pass.durationMs / 1000).toFixed(1)} s`);
    console.log(
      `one app's floor   ${ideal.toFixed(1)} s  ((calls - 1) × MIN_CALL_INTERVAL ${config.api.minIntervalMs} ms)`,
    );
    console.log(
      `ratio             ${(pass.durationMs / 1000 / ideal).toFixed(2)} × one app's floor; sequential apps would be ${apps}×`,
    );
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    // The V8 heap at that moment: how much of the RSS is heap the collector has not given back.
    console.log(
      `peak RSS          ${mib(peakRss)} MiB (V8 heap then ${mib(peakHeap.total)} MiB, ${mib(peakHeap.used)} MiB in use)`,
    );
  } finally {
    await opened.close();
    if (simProcess.exitCode === null) simProcess.kill('SIGTERM');
    if (serverUrl) await dropDatabaseOnServer(serverUrl, scratch);
  }
}

// `npm run bench -- bi`, `-- load` and `-- rate` are the BI, load-path and cross-process rate benchmarks.
const part = process.argv[2];
if (part === 'bi') await import('./bi.ts');
else if (part === 'load') await import('./load.ts');
else if (part === 'rate') await import('./rateGap.ts');
else await main();
