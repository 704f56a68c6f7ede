/**
 * The time-warp soak: weeks of a daemon's life in minutes. Two daemons (day and hour buckets)
 * run their real scheduling, planner and collector on a warped clock against the simulator, whose
 * own clock moves with them, through PostgreSQL behind a relay the soak can cut. A seeded schedule
 * takes the host down (1 hour to 9 days), cuts the database between passes and in the middle of
 * loads, fails a quarter of the API calls in every way the simulator knows, stops one app with
 * 90045 for two days, steps the host's clock by minutes, and adds and removes an app. After every
 * simulated day the invariants (invariants.ts) are checked against the simulator's truth.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type KyselyPlugin } from 'kysely';
import type { AppPassResult } from '../../src/collect/collector.ts';
import type { SettlePolicy } from '../../src/collect/planner.ts';
import { loopbackApp, type AppConfig, type Config } from '../../src/config/config.ts';
import { openDatabase, MEMORY_DATA_DIR, type OpenedDatabase } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/database.ts';
import { createMigrator, migrateToLatest } from '../../src/db/migrate.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { createLogger } from '../../src/log.ts';
import { SETTLING_OVER_DAYS, startSimulator, type Simulator } from '../../src/simulator/index.ts';
import type { BucketSize } from '../../src/buckets.ts';
import { spawnCli } from '../helpers/process.ts';
import { createDatabaseOnServer, dropDatabaseOnServer, urlWithDatabase } from '../helpers/database.ts';
import { startDbProxy, type DbProxy } from './dbProxy.ts';
import { checkDay, type SoakWorld, type PassRecord, type Violation, type SoakTally } from './invariants.ts';
import {
  DAY_MS,
  FAULT_KINDS,
  HOUR_MS,
  faultRule,
  makeSchedule,
  seededRandom,
  type FaultKind,
  type FixedDowntime,
} from './schedule.ts';
import { clockGate, skewedClock, warpClock } from './warpClock.ts';

export interface SoakOptions {
  seed: number;
  days: number;
  /** A PostgreSQL server URL: the soak creates a scratch database on it and drops it afterwards. */
  serverUrl: string;
  /** Share of API calls failed on purpose; default 0.25. */
  faultRate?: number;
  /** Plugins on the daemons' database handle: the seam through which a test breaks a guarantee. */
  sabotage?: KyselyPlugin[];
  /** Changes the daemons' configuration (a test breaking a guarantee, e.g. the planner's horizon). */
  reconfigure?: (config: Config) => Config;
  /** Extra log lines the daemons write (a test proving the secret check). */
  leak?: (log: (line: string) => void, secretKey: string) => void;
  /** Downtimes instead of the seeded ones (a short run that must cross the horizon). */
  downtimes?: FixedDowntime[];
  /** Run on the scratch database once it is migrated (e.g. a table a sabotage plugin needs). */
  prepare?: (db: Kysely<Database>) => Promise<void>;
  /** Progress lines (one per simulated day); default none. */
  progress?: (line: string) => void;
  /** Stop at the first day with a violation; default true. */
  stopAtFirstViolation?: boolean;
}

export interface SoakReport {
  seed: number;
  days: number;
  schedule: {
    downtimes: Array<{ hours: number }>;
    dbCuts: Record<string, number>;
    clockSteps: number;
    migrationKills: string[];
    /** kill -9 of the daemons: in the middle of a pass, right after one, creating a partition. */
    daemonKills: Record<string, number>;
  };
  faults: Record<FaultKind, number>;
  calls: number;
  passes: { ok: number; failed: number };
  tally: SoakTally;
  violations: Violation[];
  wallSeconds: number;
}

/**
 * The daemons' settle policy: the default schedule, and a final window of 6 h, so at least two
 * of the 2-hourly passes fall in it.
 */
const SOAK_SETTLE: SettlePolicy = {
  scheduleMs: [1, 6, 24, 48, 72, 120, 240, 480].map((hours) => hours * HOUR_MS),
  finalWindowMs: 6 * HOUR_MS,
};

/** Simulated milliseconds per real millisecond. */
const WARP = 50;
/** Real gap between two calls of an app: 1.1 simulated seconds at {@link WARP}. */
const MIN_INTERVAL_REAL_MS = 22;
const REQUEST_TIMEOUT_REAL_MS = 1000;
/** Real `pushloss migrate` processes killed with SIGKILL before the run. */
const MIGRATION_KILLS = 3;
/** Passes every 2 hours at half past (cron `30 *\/2 * * *`). */
const TICK_MS = 2 * HOUR_MS;
const TICK_OFFSET_MS = 30 * 60_000;

const DAY_APPS = [1_400_000_001, 1_400_000_002];
const HOUR_APPS = [1_400_000_101, 1_400_000_102];
const ADDED_APP = 1_400_000_003;
const REMOVED_APP = 1_400_000_002;

interface DaemonSlot {
  size: BucketSize;
  config: Config;
  daemon: Daemon | null;
  run: (() => Promise<void>) | null;
  current: PassRecord | null;
  /** The running daemon's "process": once killed, it never reaches the database or the API again. */
  process: { killed: boolean; db: OpenedDatabase } | null;
}

/** What a killed daemon's every later query and call fails with. */
const killed = () => new Error('killed (kill -9)');

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const began = performance.now();
  const faultRate = options.faultRate ?? 0.25;
  const schedule = makeSchedule(options.seed, options.days, DAY_APPS[0]!, options.downtimes);
  const random = seededRandom(options.seed ^ 0x5eed);
  const secrets = new Map<number, string>();
  for (const id of [...DAY_APPS, ADDED_APP, ...HOUR_APPS])
    secrets.set(id, `soak-secret-${id}-${randomBytes(8).toString('hex')}`);

  const clock = warpClock(schedule.startMs, WARP);
  let skewMs = 0;
  const hostClock = skewedClock(clock, () => skewMs);
  const faults = Object.fromEntries([...FAULT_KINDS, '90045'].map((k) => [k, 0])) as Record<FaultKind, number>;

  const appRandoms = new Map<number, () => number>();
  const simulator: Simulator = await startSimulator({
    apps: [...secrets].map(([sdkappid, secretKey]) => ({ sdkappid, secretKey })),
    clock,
    rateOnClock: true,
    // Counts keep growing for days after their hour (post-send loss 5 days): a bucket frozen
    // before its horizon differs from the truth.
    settle: SETTLING_OVER_DAYS,
    chaos(sdkappid) {
      const now = clock.now();
      if (sdkappid === schedule.fatal.sdkappid && now >= schedule.fatal.from && now < schedule.fatal.to) {
        faults['90045']++;
        return faultRule('90045', Math.random);
      }
      // One stream per app: an app's calls come in the same order on every run of a seed.
      let appRandom = appRandoms.get(sdkappid ?? 0);
      if (!appRandom) appRandoms.set(sdkappid ?? 0, (appRandom = seededRandom(options.seed * 7919 + (sdkappid ?? 0))));
      if (appRandom() >= faultRate) return undefined;
      const kind = FAULT_KINDS[Math.floor(appRandom() * FAULT_KINDS.length)]!;
      faults[kind]++;
      return faultRule(kind, appRandom);
    },
  });

  const scratch = `pushloss_soak_${randomBytes(4).toString('hex')}`;
  await createDatabaseOnServer(options.serverUrl, scratch, 'template0');
  const server = new URL(options.serverUrl);
  const proxy: DbProxy = await startDbProxy({ host: server.hostname, port: Number(server.port || 5432) });
  const direct = urlWithDatabase(options.serverUrl, scratch);
  const relayed = new URL(direct);
  relayed.hostname = '127.0.0.1';
  relayed.port = String(proxy.port);
  let checker: OpenedDatabase | null = null;
  const opened: OpenedDatabase[] = [];
  const logLines: string[] = [];
  const violations: Violation[] = [];
  const passes: PassRecord[] = [];
  const slots: DaemonSlot[] = [];
  const dbCuts: Record<string, number> = { 'between-passes': 0, 'mid-load': 0 };
  const daemonKills: Record<string, number> = { 'mid-pass': 0, 'after-pass': 0, 'creating a partition': 0 };
  /** The scheduled kill of the pass in progress: after this many more queries of the daemons. */
  let killAfterQueries: number | null = null;
  /** Partitions a daemon was killed while creating: each month's first creation is killed once. */
  const partitionsKilled = new Set<string>();
  let killedInPass = false;
  let clockSteps = 0;
  /** How each killed `migrate` ended: SIGKILL, or 0 when it had finished first. */
  const migrationKills: string[] = [];

  try {
    // kill -9 at random points of `pushloss migrate` (real child processes), then migrate for good.
    checker = await openDatabase({ databaseUrl: direct, dataDir: MEMORY_DATA_DIR, maxConnections: 4 });
    for (let i = 0; i < MIGRATION_KILLS; i++) {
      // Killed at a random point once it has connected (Node's start-up is not the point).
      const connections = async () =>
        (
          await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid()`.execute(checker!.db)
        ).rows[0]!.n;
      const before = await connections();
      const child = spawnCli(['migrate'], { DATABASE_URL: direct, LOG_LEVEL: 'warn' });
      const deadline = performance.now() + 30_000;
      while ((await connections()) <= before && performance.now() < deadline && child.child.exitCode === null)
        await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, random() * 400 * (i + 1)));
      child.child.kill('SIGKILL');
      const ended = String(await child.exited);
      const applied = (await createMigrator(checker.db).getMigrations()).filter((m) => m.executedAt).length;
      migrationKills.push(`${ended} with ${applied} migration(s) applied`);
    }
    await migrateToLatest(checker.db);
    await options.prepare?.(checker.db);

    let hostUp = true;
    let appsActive = { day: [...DAY_APPS], hour: [...HOUR_APPS] };
    const appConfig = (id: number): AppConfig => loopbackApp(id, secrets.get(id)!, [simulator.url]);
    const configFor = (size: BucketSize): Config =>
      (options.reconfigure ?? ((config: Config) => config))({
        apps: (size === '1d' ? appsActive.day : appsActive.hour).map(appConfig),
        logLevel: 'info',
        databaseUrl: relayed.toString(),
        dataDir: MEMORY_DATA_DIR,
        bucketSize: size,
        bucketTz: 'Asia/Shanghai',
        api: {
          minIntervalMs: MIN_INTERVAL_REAL_MS,
          // Real milliseconds: the simulator shares this process's busy event loop, and on a loaded
          // machine a normal answer can take a few hundred. Timeouts it still hits are counted.
          timeoutMs: REQUEST_TIMEOUT_REAL_MS,
          maxAttempts: 5,
        },
        daemon: { cron: '30 */2 * * *', settle: SOAK_SETTLE, httpPort: 0, httpHost: '127.0.0.1' },
        migrateOnStart: false,
        // The soak checks loss against the simulator's truth; statistics have their own tests.
        feeds: ['loss'],
        limits: {
          loss: { horizonSeconds: 7 * 86400, maxSpanSeconds: 7 * 86400 },
          statistics: { horizonSeconds: 30 * 86400, maxSpanSeconds: 30 * 86400 },
          'all-member-loss': { horizonSeconds: 7 * 86400, maxSpanSeconds: 7 * 86400 },
          'all-member-statistics': { horizonSeconds: 30 * 86400, maxSpanSeconds: 30 * 86400 },
        },
        rateSlots: { loss: 'loss', statistics: 'loss', 'all-member-loss': 'loss', 'all-member-statistics': 'loss' },
      });
    slots.push(
      { size: '1d', config: configFor('1d'), daemon: null, run: null, current: null, process: null },
      { size: '1h', config: configFor('1h'), daemon: null, run: null, current: null, process: null },
    );

    // One gate for both daemons (their apps differ), on the simulator's clock, 1.1 simulated s.
    const callGate = clockGate(clock, 1100);
    const newPass = (slot: DaemonSlot, trigger: string): PassRecord => ({
      size: slot.size,
      trigger,
      trueStartMs: clock.now(),
      hostStartMs: hostClock.now(),
      apps: new Map<number, AppPassResult>(),
      failedBuckets: new Map<number, Map<number, string>>(),
      error: null,
      dbCut: proxy.isCut,
      firstCall: simulator.calls.length,
      endCall: simulator.calls.length,
      configured: slot.config.apps.map((a) => a.sdkappid),
      healthOk: null,
    });

    /**
     * kill -9 of every running daemon: their connections are dropped in the middle of whatever
     * they were doing (the server rolls their transactions back), their later queries and calls
     * fail before they leave the process, and their leases stay behind.
     */
    function killDaemons(during: string) {
      if (killedInPass) return;
      killedInPass = true;
      daemonKills[during]!++;
      for (const slot of slots) if (slot.process) slot.process.killed = true;
      const wasCut = proxy.isCut;
      proxy.cut();
      if (!wasCut) proxy.restore(); // the database stays up for the restarted daemons
    }

    /** The kill switch on a daemon's database handle, and the scheduled kill points. */
    function killSwitch(proc: { killed: boolean }): KyselyPlugin {
      const creating = new Map<unknown, string>();
      return {
        transformQuery({ node, queryId }) {
          if (proc.killed) throw killed();
          if (killAfterQueries !== null && --killAfterQueries <= 0) {
            killAfterQueries = null;
            killDaemons('mid-pass');
            throw killed();
          }
          if (node.kind === 'RawNode' && node.sqlFragments.some((text) => text.includes('partition of loss_fact')))
            creating.set(queryId, /loss_fact_y\d{4}m\d{2}/.exec(JSON.stringify(node))?.[0] ?? 'partition');
          return node;
        },
        async transformResult({ result, queryId }) {
          const partition = creating.get(queryId);
          creating.delete(queryId);
          // The partition is created, its transaction not yet committed: kill -9 now, once per month.
          if (partition && !partitionsKilled.has(partition)) {
            partitionsKilled.add(partition);
            killDaemons('creating a partition');
          }
          if (proc.killed) throw killed();
          return result;
        },
      };
    }

    /** What a supervisor sees of a killed daemon: its port closes. Its leases look like a dead pid's. */
    async function bury(slot: DaemonSlot) {
      const { daemon, process: proc } = slot;
      slot.daemon = null;
      slot.run = null;
      slot.process = null;
      // Its queries fail, so stopping releases nothing: this only closes its HTTP port and pool.
      await daemon?.stop().catch(() => {});
      await proc?.db.close().catch(() => {});
      // The soak's daemons share its pid, which is alive: name a pid that is gone, as after a real
      // kill -9, so the restarted daemon may take the leases over (src/collect/leases.ts).
      const gonePid = spawnSync('true').pid!;
      await sql`update app_lease set holder = replace(holder, ${`:${process.pid}:`}, ${`:${gonePid}:`})
                 where sdkappid in (${sql.join(slot.config.apps.map((a) => a.sdkappid))})`.execute(checker!.db);
    }

    function loggerFor(slot: DaemonSlot, proc: { killed: boolean }) {
      return createLogger('info', {
        write(line: string) {
          logLines.push(line);
          const pass = slot.current;
          // A killed daemon's last words belong to no pass of the living.
          if (!pass || proc.killed) return;
          const entry = JSON.parse(line) as {
            msg?: string;
            app?: number;
            bucket?: { start: number };
            err?: { message?: string };
          };
          if (entry.msg?.startsWith('bucket not collected this pass') && entry.app !== undefined && entry.bucket) {
            let failed = pass.failedBuckets.get(entry.app);
            if (!failed) pass.failedBuckets.set(entry.app, (failed = new Map<number, string>()));
            failed.set(entry.bucket.start, entry.msg);
          } else if (entry.msg === 'collection pass failed') {
            pass.error = entry.err?.message ?? 'pass failed';
          }
        },
      });
    }

    async function startSlot(slot: DaemonSlot): Promise<boolean> {
      slot.config = configFor(slot.size);
      let db: OpenedDatabase;
      try {
        db = await openDatabase({ databaseUrl: relayed.toString(), dataDir: MEMORY_DATA_DIR, maxConnections: 5 });
      } catch (error) {
        // Cut, or a kill -9 of the daemons dropped its connections while it connected.
        if (!proxy.isCut && !killedInPass) throw error;
        return false;
      }
      opened.push(db);
      const proc = { killed: false, db };
      slot.process = proc;
      const daemonDb = [...(options.sabotage ?? []), killSwitch(proc)].reduce(
        (d: Kysely<Database>, plugin) => d.withPlugin(plugin),
        db.db,
      );
      const logger = loggerFor(slot, proc);
      // Straight into the captured stream: a leak past the logger's redaction (a console.log, a
      // library printing on its own) is what the check must catch.
      if (options.leak)
        options.leak(
          (line) => logLines.push(JSON.stringify({ msg: line })),
          secrets.get(slot.config.apps[0]!.sdkappid)!,
        );
      slot.current = newPass(slot, 'start-up');
      const daemon = await startDaemon({
        db: daemonDb,
        coordinationDb: db.coordinationDb?.withPlugin(killSwitch(proc)),
        config: slot.config,
        logger,
        clock: hostClock,
        gate: {
          async wait(sdkappid, signal) {
            if (proc.killed) throw killed();
            await callGate.wait(sdkappid, signal);
            if (proc.killed) throw killed();
          },
        },
        schedule(run) {
          slot.run = run;
          return { stop: () => {} };
        },
        observer: {
          appPassed(sdkappid, result) {
            slot.current?.apps.set(sdkappid, result);
          },
        },
      }).catch(async (error: unknown) => {
        // Killed while starting (its start-up queries run while another daemon's pass does): it
        // is buried, and the supervisor starts it again after the pass.
        if (!proc.killed) throw error;
        await bury(slot);
        return null;
      });
      if (!daemon) return false;
      slot.daemon = daemon;
      return true;
    }

    async function finishPass(slot: DaemonSlot, pass: PassRecord, promise: Promise<void>) {
      await promise;
      pass.hostEndMs = hostClock.now();
      pass.endCall = simulator.calls.length;
      if (slot.process?.killed) {
        pass.error = 'killed (kill -9)';
        pass.killed = true;
      } else pass.healthOk = (await httpGet(slot.daemon!.port, '/healthz')).status === 200;
      passes.push(pass);
      slot.current = null;
    }

    /**
     * Runs a pass of every daemon, with the clock running: the start-up pass of those not running
     * when `starting`, else a scheduled pass of those running. `killAfter`: kill -9 them after
     * that many of their queries (or right after the pass, if it ends first).
     */
    async function passOfEveryDaemon(starting: boolean, midLoadCut: boolean, killAfter: number | null = null) {
      clock.resume();
      let cutTimer: NodeJS.Timeout | undefined;
      const running: Array<Promise<void>> = [];
      killedInPass = false;
      killAfterQueries = killAfter;
      for (const slot of slots) {
        if (starting === (slot.daemon !== null)) continue;
        // A daemon that cannot reach the database at start-up exits; its supervisor starts it
        // again, here at the next tick.
        if (starting && !(await startSlot(slot))) continue;
        const pass = starting ? slot.current! : (slot.current = newPass(slot, 'schedule'));
        running.push(finishPass(slot, pass, slot.run!()));
      }
      if (midLoadCut) {
        // Somewhere in the first loads of the pass: a few real milliseconds in.
        cutTimer = setTimeout(
          () => {
            proxy.cut();
            for (const slot of slots) if (slot.current) slot.current.dbCut = true;
          },
          2 + random() * 40,
        );
      }
      const t0 = performance.now();
      const c0 = simulator.calls.length;
      await Promise.all(running);
      if (process.env.SOAK_DEBUG)
        console.error(
          `pass ${new Date(clock.now()).toISOString()} ${Math.round(performance.now() - t0)} ms real, ${simulator.calls.length - c0} calls`,
        );
      clearTimeout(cutTimer);
      if (killAfterQueries !== null) {
        killAfterQueries = null;
        killDaemons('after-pass');
      }
      if (killedInPass) {
        // The supervisor (systemd, Docker's restart policy) starts the killed daemons again at once.
        for (const slot of slots) if (slot.process?.killed) await bury(slot);
        return passOfEveryDaemon(true, false);
      }
      clock.pause();
    }

    async function stopEveryDaemon() {
      clock.resume();
      for (const slot of slots) {
        await slot.daemon?.stop();
        await slot.process?.db.close();
        slot.daemon = null;
        slot.run = null;
        slot.process = null;
      }
      clock.pause();
    }

    const world: SoakWorld = {
      seed: options.seed,
      db: checker.db,
      simulator,
      schedule,
      passes,
      secrets: [...secrets.values()],
      logLines,
      appsEver: { '1d': [...DAY_APPS, ADDED_APP], '1h': [...HOUR_APPS] },
      horizonMs: 7 * DAY_MS,
      settle: SOAK_SETTLE,
      settling: SETTLING_OVER_DAYS,
      timeZone: 'Asia/Shanghai',
      metricsOf: async (size) => {
        const slot = slots.find((s) => s.size === size)!;
        if (!slot.daemon) return null;
        return {
          text: (await httpGet(slot.daemon.port, '/metrics')).body,
          apps: slot.config.apps.map((a) => a.sdkappid),
        };
      },
      hostNowMs: () => hostClock.now(),
      trueNowMs: () => clock.now(),
    };
    const tally: SoakTally = {
      bucketsChecked: 0,
      final: 0,
      pending: 0,
      lost: 0,
      lostUnreachable: 0,
      settledEarly: 0,
      missing: 0,
      slowFailures: 0,
    };

    // The timeline: events, passes at every tick while up, checks at the end of every day.
    const timeline: Array<{ at: number; run: () => Promise<void> }> = [];
    for (const event of schedule.events) {
      timeline.push({
        at: event.at,
        run: async () => {
          switch (event.kind) {
            case 'down':
              hostUp = false;
              return stopEveryDaemon();
            case 'up':
              hostUp = true;
              return passOfEveryDaemon(true, false);
            case 'restart':
              if (event.reason === 'app added') appsActive = { ...appsActive, day: [...appsActive.day, ADDED_APP] };
              else appsActive = { ...appsActive, day: appsActive.day.filter((id) => id !== REMOVED_APP) };
              if (!hostUp) return; // takes effect at the next start
              await stopEveryDaemon();
              return passOfEveryDaemon(true, false);
            case 'db-cut':
              if (event.during === 'mid-load') return; // done by the pass at this tick
              dbCuts['between-passes']!++;
              return proxy.cut();
            case 'db-restore':
              return proxy.restore();
            case 'skew':
              clockSteps++;
              skewMs = event.skewMs;
              return;
            case 'kill':
              return; // done by the pass at this tick
          }
        },
      });
    }
    const killAt = new Map(
      schedule.events.flatMap((e) => (e.kind === 'kill' ? [[e.at, e.afterQueries] as const] : [])),
    );
    const midLoad = new Set(
      schedule.events.filter((e) => e.kind === 'db-cut' && e.during === 'mid-load').map((e) => e.at),
    );
    for (let tick = schedule.startMs + TICK_OFFSET_MS; tick < schedule.endMs; tick += TICK_MS) {
      const at = tick;
      timeline.push({
        at,
        run: async () => {
          if (!hostUp) return;
          if (slots.some((slot) => !slot.daemon)) return passOfEveryDaemon(true, false);
          const cut = midLoad.has(at) && !proxy.isCut;
          if (cut) dbCuts['mid-load']!++;
          await passOfEveryDaemon(false, cut, killAt.get(at) ?? null);
        },
      });
    }
    for (let day = 1; day <= options.days; day++) {
      timeline.push({
        at: schedule.startMs + day * DAY_MS + 15 * 60_000,
        run: async () => {
          const found = await checkDay(world, day, tally, day === options.days);
          violations.push(...found);
          const up = slots[0]!.daemon ? 'up' : 'down';
          options.progress?.(
            `seed ${options.seed} day ${day}: ${up}, ${passes.length} passes, ${simulator.calls.length} calls, ` +
              `${tally.final} final, ${tally.lost} lost (${tally.settledEarly} settled early), ${found.length} violation(s)`,
          );
        },
      });
    }
    timeline.sort((a, b) => a.at - b.at);

    if (process.env.SOAK_DEBUG)
      setInterval(() => {
        const last = simulator.calls
          .slice(-5)
          .map((c) => `${c.receivedAt - schedule.startMs}:${c.sdkappid}:${c.httpStatus}:${c.errorCode}`);
        console.error(`calls ${simulator.calls.length} clock ${clock.now() - schedule.startMs} ${last.join(' ')}`);
      }, 2000).unref();
    /**
     * Skips idle simulated time. Lease expiries are on the database's clock, which does not warp:
     * they are moved back by the time skipped, so a lease outlives a downtime no more than it
     * would in real time.
     */
    async function jumpTo(at: number) {
      const skipped = at - clock.now();
      if (skipped <= 0) return;
      await sql`update app_lease set expires_at = expires_at - (${skipped}::float8 * interval '1 millisecond')`.execute(
        checker!.db,
      );
      clock.jump(at);
    }

    // The host starts at the beginning of the run.
    await passOfEveryDaemon(true, false);
    for (const step of timeline) {
      if (step.at > schedule.endMs + DAY_MS) break;
      await jumpTo(step.at);
      await step.run();
      if (violations.length > 0 && (options.stopAtFirstViolation ?? true)) break;
    }
    await stopEveryDaemon();

    return {
      seed: options.seed,
      days: options.days,
      schedule: {
        downtimes: schedule.downtimes.map((d) => ({ hours: Math.round((d.to - d.from) / HOUR_MS) })),
        dbCuts,
        clockSteps,
        migrationKills,
        daemonKills,
      },
      faults,
      calls: simulator.calls.length,
      passes: { ok: passes.filter((p) => !p.error).length, failed: passes.filter((p) => p.error).length },
      tally,
      violations,
      wallSeconds: Math.round((performance.now() - began) / 1000),
    };
  } finally {
    proxy.restore();
    for (const slot of slots) await slot.daemon?.stop().catch(() => {});
    for (const db of opened) await db.close().catch(() => {});
    await checker?.close();
    await proxy.close();
    await simulator.close();
    await dropDatabaseOnServer(options.serverUrl, scratch).catch(() => {});
  }
}

/** GET on the daemon's HTTP port. */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return fetch(`http://127.0.0.1:${port}${path}`).then(async (res) => ({ status: res.status, body: await res.text() }));
}
