/**
 * The soak's invariants, checked after every simulated day against the simulator's truth
 * (computed by the simulator's own functions, never by the code under test):
 *
 * 1. A bucket that was answerable and settled during a clean pass (the pass finished, the app was
 *    collected, and this bucket's fetch did not fail) is final, and final buckets equal the truth
 *    fact for fact. A bucket fetched but not final holds its latest answer.
 * 2. A bucket is missing only when no clean pass ran while it was answerable, and once a pass ran
 *    after the horizon passed it, it is recorded as lost; lost only once the horizon passed it.
 * 3. Nothing double counted: a bucket's facts all come from the one answer its bookkeeping names.
 * 4. `status` (recentBuckets), `/metrics` and the `collection_status` view agree with the tables.
 * 5. No secret (secret key, UserSig) in any log line or stored text.
 * 6. The BI rollups equal the facts: the per-app day totals and the error codes summed over all
 *    apps against their definitions over the facts (the `*_by_fact` views).
 * And every outage is explained: a pass fails only while the database is cut, an app stops only on
 * the injected 90045, a bucket fails only where the simulator injected a fault, and /healthz says so.
 */
import { sql, type Kysely } from 'kysely';
import { bucketsOverlapping, firstReachableBucket, type BucketSize } from '../../src/buckets.ts';
import { recentBuckets } from '../../src/collect/bucketStatus.ts';
import { finalFetchFromMs, type SettlePolicy } from '../../src/collect/planner.ts';
import type { AppPassResult } from '../../src/collect/collector.ts';
import type { Database, LossFact } from '../../src/db/database.ts';
import type { SimCall, Simulator } from '../../src/simulator/index.ts';
import type { Window } from '../../src/tencent/loss.ts';
import { normalizeLoss } from '../../src/feeds/loss/normalize.ts';
import type { SettleModel } from '../../src/simulator/index.ts';
import { defaultLossData, finishedPart } from '../helpers/simulator.ts';
import type { SoakSchedule } from './schedule.ts';

export interface PassRecord {
  size: BucketSize;
  trigger: string;
  trueStartMs: number;
  hostStartMs: number;
  /** Host time when the pass (and its metrics refresh) had finished. */
  hostEndMs?: number;
  apps: Map<number, AppPassResult>;
  /** Per app, the buckets (by start) the daemon logged as not collected in this pass, with the message. */
  failedBuckets: Map<number, Map<number, string>>;
  /** The pass failed as a whole (database), with this message. */
  error: string | null;
  /** The daemon was killed (kill -9) during the pass, or right after it. */
  killed?: boolean;
  /** The database relay was cut during the pass (or before it). */
  dbCut: boolean;
  /** Simulator calls [firstCall, endCall) arrived while this pass ran (other daemons' too). */
  firstCall: number;
  endCall: number;
  configured: number[];
  healthOk: boolean | null;
}

export interface Violation {
  seed: number;
  day: number;
  invariant: string;
  app?: number;
  bucketSize?: BucketSize;
  /** ISO start of the bucket, when the violation is about one. */
  bucket?: string;
  detail: string;
}

export interface SoakTally {
  bucketsChecked: number;
  final: number;
  pending: number;
  lost: number;
  /** Lost buckets no pass of the daemon ever saw answerable (downtime made them unreachable). */
  lostUnreachable: number;
  /** Lost buckets that keep an earlier answer: the horizon passed them before their final fetch. */
  settledEarly: number;
  missing: number;
  /** Bucket fetches that failed only because the client timed out on a slow machine. */
  slowFailures: number;
}

export interface SoakWorld {
  seed: number;
  /** A connection that bypasses the relay: the checks see the database even while it is cut. */
  db: Kysely<Database>;
  simulator: Simulator;
  schedule: SoakSchedule;
  passes: PassRecord[];
  secrets: string[];
  logLines: string[];
  appsEver: Record<BucketSize, number[]>;
  horizonMs: number;
  /** The daemons' settle policy, as it should be (a sabotage may configure another). */
  settle: SettlePolicy;
  /** How the simulator's counts grow with age: the truth of an answer depends on when it came. */
  settling: SettleModel;
  timeZone: string;
  metricsOf(size: BucketSize): Promise<{ text: string; apps: number[] } | null>;
  hostNowMs(): number;
  /** The simulator's (true) time. */
  trueNowMs(): number;
}

interface Answer {
  call: SimCall;
  window: Window;
  pass: PassRecord | undefined;
}

/** What the checks remember from one day to the next. */
interface CheckState {
  passesAudited: number;
  logLinesScanned: number;
  lastCallIdScanned: number;
  callsIndexed: number;
  answers: Map<string, Answer[]>;
  attempts: Map<string, SimCall[]>;
  /** Buckets not collected because the client timed out on an answer the simulator did give. */
  slowFailures: number;
  /** Per app, host time of its last fatal answer that was injected. */
  explainedFatal: Map<number, number>;
}
const states = new WeakMap<SoakWorld, CheckState>();

const USERSIG = /eJ[0-9A-Za-z*_-]{60,}/;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const key = (app: number, start: number) => `${app}:${start}`;

export async function checkDay(world: SoakWorld, day: number, tally: SoakTally, last: boolean): Promise<Violation[]> {
  const found: Violation[] = [];
  const report = (v: Omit<Violation, 'seed' | 'day'>) => found.push({ seed: world.seed, day, ...v });
  let state = states.get(world);
  if (!state) {
    state = {
      passesAudited: 0,
      logLinesScanned: 0,
      lastCallIdScanned: 0,
      callsIndexed: 0,
      answers: new Map(),
      attempts: new Map(),
      explainedFatal: new Map(),
      slowFailures: 0,
    };
    states.set(world, state);
  }
  indexCalls(world, state);
  auditPasses(world, state, report);
  tally.slowFailures = state.slowFailures;
  const trueNow = world.trueNowMs();

  for (const size of ['1d', '1h'] as const) {
    for (const app of world.appsEver[size]) {
      const seen = world.passes.filter((p) => p.size === size && p.configured.includes(app));
      if (seen.length === 0) continue;
      const from = firstReachableBucket(seen[0]!.hostStartMs, world.horizonMs / 1000, size, world.timeZone).start;
      // Every day the last ten days (what can still change); on the last day, the whole run.
      const checkFrom = last ? from : Math.max(from, Math.floor((trueNow - 10 * 86_400_000) / 1000));
      await checkApp(world, state, { app, size, checkFrom, trueNow, seen, last }, tally, report);
    }
    await checkStatusAndMetrics(world, size, report);
  }
  await checkRollups(world, last ? 0 : Math.floor((trueNow - 10 * 86_400_000) / 1000), report);
  await checkSecrets(world, state, report);
  return found;
}

/** Invariant 6, over the local days from `fromSeconds` on (what can still change, or the whole run). */
async function checkRollups(
  world: SoakWorld,
  fromSeconds: number,
  report: (v: Omit<Violation, 'seed' | 'day'>) => void,
) {
  const from = new Date(fromSeconds * 1000);
  const pairs = [
    [
      'push_loss_daily',
      sql`select sdkappid, day, stage, coalesce(platform, -1) as platform, '' as err_code, err_count
            from push_loss_daily where day_start >= ${from}`,
      sql`select sdkappid, day, stage, coalesce(platform, -1), '', err_count
            from push_loss_daily_by_fact where day_start >= ${from}`,
    ],
    [
      'push_loss_codes_all_apps',
      sql`select 0::int8 as sdkappid, day, stage, coalesce(platform, -1) as platform, err_code, err_count
            from push_loss_codes_all_apps where day_start >= ${from}`,
      sql`select 0::int8, day, stage, coalesce(platform, -1), err_code, sum(err_count)::int8
            from push_loss_top_codes_by_fact where day_start >= ${from} group by 2, 3, 4, 5`,
    ],
  ] as const;
  for (const [view, rollup, byFact] of pairs) {
    const { rows } = await sql<{ sdkappid: string; day: string; stage: string; platform: number; err_code: string }>`
      select sdkappid, day::text, stage, platform, err_code from ((${rollup}) except all (${byFact})) a (sdkappid, day, stage, platform, err_code, err_count)
      union all
      select sdkappid, day::text, stage, platform, err_code from ((${byFact}) except all (${rollup})) b (sdkappid, day, stage, platform, err_code, err_count)
      limit 1`.execute(world.db);
    const [row] = rows;
    if (row)
      report({
        invariant: 'rollups equal the facts',
        ...(Number(row.sdkappid) ? { app: Number(row.sdkappid) } : {}),
        detail: `${view} differs from its facts on ${row.day}, ${row.stage}, channel ${row.platform}${row.err_code ? `, code ${row.err_code}` : ''}`,
      });
  }
}

function indexCalls(world: SoakWorld, state: CheckState) {
  const calls = world.simulator.calls;
  const passOf = (index: number, app: number | null) =>
    world.passes.find((p) => index >= p.firstCall && index < p.endCall && app !== null && p.configured.includes(app));
  for (; state.callsIndexed < calls.length; state.callsIndexed++) {
    const call = calls[state.callsIndexed]!;
    if (call.sdkappid === null || call.body === '') continue;
    let body: { StartTime: number; EndTime: number };
    try {
      body = JSON.parse(call.body) as { StartTime: number; EndTime: number };
    } catch {
      continue;
    }
    const k = key(call.sdkappid, body.StartTime);
    const attempts = state.attempts.get(k) ?? [];
    attempts.push(call);
    state.attempts.set(k, attempts);
    if (call.injected === null && call.httpStatus === 200 && call.errorCode === 0) {
      const answers = state.answers.get(k) ?? [];
      answers.push({
        call,
        window: { start: body.StartTime, end: body.EndTime },
        pass: passOf(state.callsIndexed, call.sdkappid),
      });
      state.answers.set(k, answers);
    }
  }
}

/** Every failure must have an injected cause. */
function auditPasses(world: SoakWorld, state: CheckState, report: (v: Omit<Violation, 'seed' | 'day'>) => void) {
  for (; state.passesAudited < world.passes.length; state.passesAudited++) {
    const pass = world.passes[state.passesAudited]!;
    const at = new Date(pass.trueStartMs).toISOString();
    if (pass.error && !pass.dbCut && !pass.killed)
      report({
        invariant: 'outage explained',
        bucketSize: pass.size,
        detail: `pass at ${at} failed without a database outage: ${pass.error}`,
      });
    if (pass.error && pass.healthOk)
      report({ invariant: 'health', bucketSize: pass.size, detail: `pass at ${at} failed but /healthz answered 200` });
    if (!pass.error && !pass.dbCut && pass.healthOk === false)
      report({
        invariant: 'health',
        bucketSize: pass.size,
        detail: `pass at ${at} succeeded but /healthz answered 503`,
      });
    if (pass.error) continue;
    const calls = world.simulator.calls.slice(pass.firstCall, pass.endCall);
    const inFatalWindow = (app: number) =>
      app === world.schedule.fatal.sdkappid &&
      pass.trueStartMs >= world.schedule.fatal.from &&
      pass.trueStartMs < world.schedule.fatal.to + 3_600_000 + 600_000;
    for (const [app, result] of pass.apps) {
      // A fatal answer stops the app for an hour: the injected 90045, or an injected 70001 that
      // came again on the retry with a renewed UserSig.
      const lastCall = calls.filter((c) => c.sdkappid === app).at(-1);
      const injectedFatal = result.status === 'fatal' && lastCall?.injected === 'error';
      if (injectedFatal) state.explainedFatal.set(app, pass.hostStartMs);
      const pausedAfterFatal =
        result.status === 'paused' &&
        pass.hostStartMs - (state.explainedFatal.get(app) ?? -Infinity) < 3_600_000 + 600_000;
      if (result.status === 'fatal' || result.status === 'paused') {
        if (!inFatalWindow(app) && !injectedFatal && !pausedAfterFatal)
          report({
            invariant: 'outage explained',
            app,
            bucketSize: pass.size,
            detail: `pass at ${at}: app ${result.status}: ${result.error}`,
          });
      } else if (result.status !== 'collected') {
        report({
          invariant: 'outage explained',
          app,
          bucketSize: pass.size,
          detail: `pass at ${at}: app ${result.status}`,
        });
      }
    }
    for (const [app, failed] of pass.failedBuckets) {
      for (const [start, message] of failed) {
        const faulted = calls.some(
          (c) =>
            c.sdkappid === app &&
            c.body.includes(`"StartTime":${start}`) &&
            (c.injected !== null || c.errorCode !== 0 || c.httpStatus !== 200),
        );
        // The client gave up waiting for an answer the simulator gave: the machine was too slow
        // (not an injected fault, not a daemon bug); counted, not failed.
        if (!faulted && /ERR_CANCELED|ECONNRESET/.test(message)) state.slowFailures++;
        else if (!faulted)
          report({
            invariant: 'outage explained',
            app,
            bucketSize: pass.size,
            bucket: iso(start),
            detail: `pass at ${at}: ${message}; but no call for it was failed on purpose: ${describeCalls(world, pass, app, start)}`,
          });
      }
    }
  }
}

interface AppCheck {
  app: number;
  size: BucketSize;
  checkFrom: number;
  trueNow: number;
  seen: PassRecord[];
  last: boolean;
}

async function checkApp(
  world: SoakWorld,
  state: CheckState,
  check: AppCheck,
  tally: SoakTally,
  report: (v: Omit<Violation, 'seed' | 'day'>) => void,
) {
  const { app, size, trueNow, seen, last } = check;
  let { checkFrom } = check;
  const buckets = bucketsOverlapping(checkFrom * 1000, trueNow, size, world.timeZone);
  if (buckets.length === 0) return;
  checkFrom = buckets[0]!.start;
  const rows = await world.db
    .selectFrom('bucket_state')
    .selectAll()
    .where('sdkappid', '=', app)
    .where('bucket_size', '=', size)
    .where('bucket_start', '>=', new Date(checkFrom * 1000))
    .execute();
  const byStart = new Map(rows.map((r) => [r.bucket_start.getTime() / 1000, r]));
  const facts = await world.db
    .selectFrom('loss_fact')
    .selectAll()
    .where('sdkappid', '=', app)
    .where('bucket_size', '=', size)
    .where('bucket_start', '>=', new Date(checkFrom * 1000))
    .execute();
  const factsByStart = new Map<number, LossFact[]>();
  for (const fact of facts) {
    const start = fact.bucket_start.getTime() / 1000;
    factsByStart.set(start, [...(factsByStart.get(start) ?? []), fact]);
  }

  for (const bucket of buckets) {
    if (bucket.start * 1000 >= trueNow) continue;
    const row = byStart.get(bucket.start);
    const stored = factsByStart.get(bucket.start) ?? [];
    const where = { app, bucketSize: size, bucket: iso(bucket.start) };
    let answerable = false;
    let cleanOffer = false;
    let cleanFinalOffer: PassRecord | false = false;
    let pastHorizonPass = false;
    for (const pass of seen) {
      const lo = Math.min(pass.trueStartMs, pass.hostStartMs);
      const hi = Math.max(pass.trueStartMs, pass.hostStartMs);
      const canAnswer = bucket.start * 1000 <= lo && bucket.start * 1000 >= hi - world.horizonMs;
      const clean =
        !pass.error && pass.apps.get(app)?.status === 'collected' && !pass.failedBuckets.get(app)?.has(bucket.start);
      if (canAnswer) answerable = true;
      if (canAnswer && clean) {
        cleanOffer = true;
        if (pass.hostStartMs >= finalFetchFromMs(bucket, world.horizonMs / 1000, world.settle))
          cleanFinalOffer ||= pass;
      }
      if (
        !pass.error &&
        pass.apps.get(app)?.status === 'collected' &&
        pass.hostStartMs - world.horizonMs > bucket.start * 1000
      )
        pastHorizonPass = true;
    }

    const answers = state.answers.get(key(app, bucket.start)) ?? [];
    if (row?.final) {
      const diff = compareFacts(stored, truthLines(world, app, bucket));
      if (diff) report({ invariant: 'final equals truth', ...where, detail: diff });
    } else if (cleanFinalOffer) {
      report({
        invariant: 'final when answerable',
        ...where,
        detail:
          `answerable and settled during the clean pass at ${new Date(cleanFinalOffer.trueStartMs).toISOString()}, but ` +
          `${row ? (row.lost_at ? 'lost' : 'pending') : 'missing'}; its calls in that pass: ` +
          describeCalls(world, cleanFinalOffer, app, bucket.start),
      });
    }
    if (row && !row.final && row.last_fetched_at) {
      // Pending: the answer stored is the latest one a finished pass received, or a later one.
      const latestOk = Math.max(
        -Infinity,
        ...answers.filter((a) => a.pass && !a.pass.error).map((a) => a.call.receivedAt),
      );
      const candidates = answers.filter((a) => a.call.receivedAt >= latestOk);
      const matches = candidates.some(
        (a) =>
          compareFacts(
            stored,
            normalizeLoss(
              defaultLossData(app, finishedPart(a.window, a.call.receivedAt), {
                nowMs: a.call.receivedAt,
                model: world.settling,
              }),
            ),
          ) === null,
      );
      if (!matches)
        report({
          invariant: 'pending holds its latest answer',
          ...where,
          detail: `stored facts (${stored.length} rows) equal none of the ${candidates.length} latest answer(s) of ${answers.length}`,
        });
    }
    const callIds = new Set(stored.map((f) => f.call_id));
    if (callIds.size > 1 || (callIds.size === 1 && row?.last_call_id !== [...callIds][0]))
      report({
        invariant: 'nothing double counted',
        ...where,
        detail: `facts from call(s) ${[...callIds].join(', ')}, bookkeeping names ${row?.last_call_id ?? 'none'}`,
      });
    if (row?.lost_at && row.lost_at.getTime() < bucket.start * 1000 + world.horizonMs - 10 * 60_000)
      report({
        invariant: 'lost only past the horizon',
        ...where,
        detail: `marked lost at ${row.lost_at.toISOString()}`,
      });
    const fetched = row?.last_fetched_at != null;
    if (!fetched && cleanOffer)
      report({
        invariant: 'missing only when unreachable',
        ...where,
        detail: 'answerable during a clean pass, never fetched',
      });
    if (!row?.final && !row?.lost_at && pastHorizonPass)
      report({
        invariant: 'missing only when recorded lost',
        ...where,
        detail: `a pass ran after the horizon passed it, but it is ${fetched ? 'pending' : 'missing'}, not lost`,
      });
    if (last) {
      tally.bucketsChecked++;
      if (row?.final) tally.final++;
      else if (row?.lost_at) {
        tally.lost++;
        if (row.last_fetched_at) tally.settledEarly++;
        if (!answerable) tally.lostUnreachable++;
      } else if (fetched) tally.pending++;
      else tally.missing++;
    }
  }
}

const truthCache = new Map<string, ReturnType<typeof normalizeLoss>>();
/** The simulator's final answer for a bucket: its answer at the bucket's horizon, when counts have settled. */
function truthLines(world: SoakWorld, app: number, bucket: Window) {
  const k = `${app}:${bucket.start}:${bucket.end}`;
  let lines = truthCache.get(k);
  const atHorizon = { nowMs: bucket.start * 1000 + world.horizonMs, model: world.settling };
  if (!lines) truthCache.set(k, (lines = normalizeLoss(defaultLossData(app, bucket, atHorizon))));
  return lines;
}

/** null when equal, else what differs. */
function compareFacts(stored: readonly LossFact[], truth: ReturnType<typeof normalizeLoss>): string | null {
  const a = stored.map((f) => `${f.scope}|${f.stage}|${f.platform}|${f.err_code}|${f.err_count}|${f.err_info}`).sort();
  const b = truth.map((l) => `${l.scope}|${l.stage}|${l.platform}|${l.errCode}|${l.errCount}|${l.errInfo}`).sort();
  if (a.length === b.length && a.every((line, i) => line === b[i])) return null;
  const extra = a.filter((line) => !b.includes(line));
  const absent = b.filter((line) => !a.includes(line));
  return `${a.length} stored vs ${b.length} true facts; stored only: ${extra.slice(0, 2).join('; ') || '-'}; true only: ${absent.slice(0, 2).join('; ') || '-'}`;
}

async function checkStatusAndMetrics(
  world: SoakWorld,
  size: BucketSize,
  report: (v: Omit<Violation, 'seed' | 'day'>) => void,
) {
  const metrics = await world.metricsOf(size);
  if (!metrics) return;
  const lastPass = world.passes.filter((p) => p.size === size).at(-1);
  const hostNow = world.hostNowMs();
  for (const app of metrics.apps) {
    const input = {
      feed: 'loss' as const,
      horizonSeconds: world.horizonMs / 1000,
      bucketSize: size,
      timeZone: world.timeZone,
      settle: world.settle,
    };
    const buckets = await recentBuckets(world.db, app, { ...input, nowMs: hostNow });
    const view = await sql<{ bucket_start: Date; state: string; last_fetched_at: Date | null }>`
      select bucket_start, state, last_fetched_at from collection_status
       where sdkappid = ${app} and bucket_size = ${size} and bucket_start >= ${new Date(buckets[0]!.start * 1000)}`.execute(
      world.db,
    );
    const viewBy = new Map(view.rows.map((r) => [r.bucket_start.getTime() / 1000, r]));
    for (const b of buckets) {
      const v = viewBy.get(b.start);
      const reachable = b.start * 1000 >= hostNow - world.horizonMs;
      const expected = !v
        ? reachable
          ? 'missing'
          : 'lost'
        : v.state === 'final'
          ? 'final'
          : v.state === 'lost' || v.state === 'settled early' || !reachable
            ? v.last_fetched_at
              ? 'settled_early'
              : 'lost'
            : v.last_fetched_at
              ? 'pending'
              : 'missing';
      if (expected !== b.condition)
        report({
          invariant: 'status agrees with collection_status',
          app,
          bucketSize: size,
          bucket: iso(b.start),
          detail: `status says ${b.condition}, collection_status says ${v?.state ?? 'no row'}`,
        });
    }
    // /metrics was refreshed at the end of the last pass, if that pass succeeded.
    if (!lastPass || lastPass.error || lastPass.hostEndMs === undefined) continue;
    const atPass = await recentBuckets(world.db, app, { ...input, nowMs: lastPass.hostEndMs });
    for (const condition of ['final', 'pending', 'missing', 'settled_early', 'lost']) {
      const match = new RegExp(
        `^pushloss_buckets\\{app="${app}",feed="loss",condition="${condition}"\\} (\\d+)$`,
        'm',
      ).exec(metrics.text);
      const expected = atPass.filter((b) => b.condition === condition).length;
      if (!match || Number(match[1]) !== expected)
        report({
          invariant: '/metrics agrees with the database',
          app,
          bucketSize: size,
          detail: `pushloss_buckets{condition="${condition}"} is ${match?.[1] ?? 'absent'}, the database says ${expected}`,
        });
    }
  }
}

async function checkSecrets(world: SoakWorld, state: CheckState, report: (v: Omit<Violation, 'seed' | 'day'>) => void) {
  const leaks = (text: string | null) =>
    text !== null && (USERSIG.test(text) || world.secrets.some((s) => text.includes(s)));
  for (; state.logLinesScanned < world.logLines.length; state.logLinesScanned++) {
    const line = world.logLines[state.logLinesScanned]!;
    if (leaks(line)) report({ invariant: 'no secret', detail: `log line: ${line.slice(0, 200)}` });
  }
  const calls = await world.db
    .selectFrom('tim_call')
    .select(['id', 'body', 'error_info', 'request_id', 'host'])
    .where('id', '>', state.lastCallIdScanned)
    .orderBy('id')
    .execute();
  for (const call of calls) {
    for (const text of [call.body, call.error_info, call.request_id, call.host])
      if (leaks(text)) report({ invariant: 'no secret', detail: `tim_call ${call.id}: ${text?.slice(0, 200)}` });
    state.lastCallIdScanned = call.id;
  }
  for (const row of await world.db.selectFrom('app_state').select(['sdkappid', 'last_error']).execute())
    if (leaks(row.last_error))
      report({ invariant: 'no secret', app: row.sdkappid, detail: `app_state.last_error: ${row.last_error}` });
  const infos = await sql<{ err_info: string }>`select distinct err_info from loss_fact`.execute(world.db);
  for (const row of infos.rows)
    if (leaks(row.err_info)) report({ invariant: 'no secret', detail: `loss_fact.err_info: ${row.err_info}` });
}

/** The simulator's record of one bucket's calls in one pass, for a violation's message. */
function describeCalls(world: SoakWorld, pass: PassRecord, app: number, start: number): string {
  const calls = world.simulator.calls
    .slice(pass.firstCall, pass.endCall)
    .filter((c) => c.sdkappid === app && c.body.includes(`"StartTime":${start}`));
  if (calls.length === 0) return 'none';
  return calls
    .map(
      (c) =>
        `${new Date(c.receivedAt).toISOString()} ${c.injected ?? 'answered'} ${c.httpStatus ?? '-'}/${c.errorCode ?? '-'}`,
    )
    .join(', ');
}
