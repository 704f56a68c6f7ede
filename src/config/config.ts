import { isIP } from 'node:net';
import { validate as validateCron } from 'node-cron';
import { isValidTimeZone, type BucketSize } from '../buckets.ts';
import { Secret } from '../secret.ts';
import { FEED_NAMES, isFeedName, TIM_APIS, type FeedName } from '../tencent/apis.ts';
import { loadApps, type AppConfig } from './apps.ts';
import { fail, parseDuration, read, readOptionalFile, readOrDefault, type CONFIG_DEFAULTS, type Env } from './env.ts';

export type { AppConfig } from './apps.ts';
export { loopbackApp } from './apps.ts';
export { ConfigError } from './env.ts';

/**
 * All configuration, validated once at start-up. Nothing else in pushloss reads process.env.
 * Every problem becomes a ConfigError whose one-line message names the variable (or the apps
 * file and entry) and says how to fix it; the CLI prints it and exits with code 2.
 */

export type { BucketSize };

/** When buckets are fetched again, and when a fetch makes one final (the planner, src/collect/planner.ts). */
export interface SettlePolicy {
  /** Ages after a bucket's end at which it is fetched again, ascending; `every-pass`: every pass. */
  scheduleMs: readonly number[] | 'every-pass';
  /** The final fetch falls in the last this-long before the bucket leaves the horizon. */
  finalWindowMs: number;
}

/** One feed's window limits (`<PREFIX>_HORIZON`, `<PREFIX>_MAX_SPAN`). */
export interface FeedLimits {
  /** How far back the API still answers, in seconds. */
  horizonSeconds: number;
  /** Longest window one call may ask for, in seconds. */
  maxSpanSeconds: number;
}

export interface Config {
  apps: readonly AppConfig[];
  logLevel: string;
  databaseUrl: string | undefined;
  dataDir: string;
  bucketSize: BucketSize;
  bucketTz: string;
  api: {
    /** Minimum gap between the starts of two calls for one app (at one rate slot). */
    minIntervalMs: number;
    timeoutMs: number;
    maxAttempts: number;
  };
  /** The feeds to collect, in collection order (default all). */
  feeds: readonly FeedName[];
  /** Every feed's limits, collected or not (a backfill may name any). */
  limits: Readonly<Record<FeedName, FeedLimits>>;
  /** The rate slot each feed's calls wait at: feeds with the same slot wait for each other. */
  rateSlots: Readonly<Record<FeedName, string>>;
  daemon: {
    cron: string;
    /** When buckets are fetched again, and when a fetch makes one final (collect/planner.ts). */
    settle: SettlePolicy;
    httpPort: number;
    /** The address `/healthz` and `/metrics` listen on. */
    httpHost: string;
  };
  migrateOnStart: boolean;
}

/** 1 s plus the 50 ms a start may be late (rateSlots.ts) plus 50 ms of network jitter. */
const MIN_REMOTE_INTERVAL_MS = 1100;
/**
 * What each API is documented to answer, as both its horizon and one window's longest span:
 * longer settings would ask for windows it refuses (90100) on every pass.
 */
const limitFix = (feed: FeedName) => {
  const { api, documentedDays: days } = TIM_APIS[feed];
  return `${api} answers at most ${days} days back and ${days} days per call: use ${days}d or less (e.g. ${days}d, 36h)`;
};
/** Variables read no more, refused so a leftover is never silently ignored, with what replaced each. */
const RENAMED: Readonly<Record<string, string>> = {
  API_HORIZON: 'LOSS_HORIZON',
  API_MAX_SPAN: 'LOSS_MAX_SPAN',
  STATS_OWN_RATE_SLOT: 'RATE_SLOTS (e.g. RATE_SLOTS=per-feed)',
};
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** Validates the environment (and the apps file it names) into a frozen Config. */
export function loadConfig(env: Env): Config {
  for (const [old, now] of Object.entries(RENAMED))
    if (env[old] !== undefined) fail(old, 'is no longer read', `rename it to ${now} (docs/operating.md)`);
  const get = (name: keyof typeof CONFIG_DEFAULTS) => readOrDefault(env, name);
  const duration = (
    name: keyof typeof CONFIG_DEFAULTS,
    min = 1,
    max = Number.MAX_SAFE_INTEGER,
    fix = 'write it like 1200ms, 8s, 30m, 48h or 7d',
  ) => {
    const ms = parseDuration(get(name));
    if (ms === undefined || ms < min || ms > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min} ms` : `from ${min} to ${max} ms`;
      fail(name, `"${get(name)}" is not a duration ${range}`, fix);
    }
    return ms;
  };
  const integer = (name: keyof typeof CONFIG_DEFAULTS, min: number, max: number) => {
    const text = get(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      fail(name, `"${text}" is not a whole number from ${min} to ${max}`, `set it to a number in that range`);
    }
    return value;
  };

  const logLevel = get('LOG_LEVEL');
  if (!LOG_LEVELS.includes(logLevel))
    fail('LOG_LEVEL', `"${logLevel}" is not a log level`, `use one of ${LOG_LEVELS.join('|')}`);

  const bucketSize = get('BUCKET_SIZE');
  if (bucketSize !== '1d' && bucketSize !== '1h')
    fail('BUCKET_SIZE', `"${bucketSize}" is not a bucket size`, 'use 1d or 1h');

  const bucketTz = get('BUCKET_TZ');
  if (!isValidTimeZone(bucketTz))
    fail('BUCKET_TZ', `"${bucketTz}" is not an IANA time zone`, 'use a name like Asia/Shanghai or UTC');

  const databaseUrl =
    read(env, 'DATABASE_URL') ?? readOptionalFile(read(env, 'DATABASE_URL_FILE'), 'DATABASE_URL_FILE');
  if (read(env, 'DATABASE_URL') !== undefined && read(env, 'DATABASE_URL_FILE') !== undefined)
    fail('DATABASE_URL', 'is set together with DATABASE_URL_FILE', 'set only one of them');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    fail(
      'DATABASE_URL',
      'is not a postgres:// URL',
      'use postgres://user:password@host:5432/database, or unset it for the embedded database',
    );
  }

  const cron = get('COLLECT_CRON');
  if (!validateCron(cron))
    fail(
      'COLLECT_CRON',
      `"${cron}" is not a cron expression`,
      'use five fields (or six with seconds), e.g. */30 * * * *',
    );

  const migrateOnStart = get('MIGRATE_ON_START');
  if (migrateOnStart !== 'true' && migrateOnStart !== 'false')
    fail('MIGRATE_ON_START', `"${migrateOnStart}" is not a boolean`, 'use true or false');

  const feeds = [
    ...new Set(
      get('COLLECT_APIS')
        .split(',')
        .map((name) => name.trim()),
    ),
  ];
  const unknownFeed = feeds.find((name) => !isFeedName(name));
  if (unknownFeed !== undefined || feeds.length === 0)
    fail(
      'COLLECT_APIS',
      `"${get('COLLECT_APIS')}" names an unknown API (${JSON.stringify(unknownFeed ?? '')})`,
      `use a comma-separated list of ${FEED_NAMES.join(', ')}`,
    );
  const limits = Object.fromEntries(
    FEED_NAMES.map((feed) => {
      const prefix = TIM_APIS[feed].settingPrefix;
      const maxMs = TIM_APIS[feed].documentedDays * 86_400_000;
      const setting = (suffix: string) =>
        duration(`${prefix}_${suffix}` as keyof typeof CONFIG_DEFAULTS, 1000, maxMs, limitFix(feed)) / 1000;
      return [feed, { horizonSeconds: setting('HORIZON'), maxSpanSeconds: setting('MAX_SPAN') }];
    }),
  ) as Record<FeedName, FeedLimits>;

  const httpHost = get('HTTP_HOST');
  if (isIP(httpHost) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(httpHost))
    fail(
      'HTTP_HOST',
      `"${httpHost}" is not an address`,
      'use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an IP of this host',
    );

  const apps = loadApps(env);
  const minIntervalMs = duration('MIN_CALL_INTERVAL');
  if (minIntervalMs < MIN_REMOTE_INTERVAL_MS) {
    const remote = apps.find((app) => !app.loopback);
    if (remote) {
      fail(
        'MIN_CALL_INTERVAL',
        `${minIntervalMs} ms leaves no margin over the API's 1 call/second cap for app ${remote.sdkappid}`,
        `use ${MIN_REMOTE_INTERVAL_MS}ms or more; shorter intervals are only for a loopback simulator`,
      );
    }
  }

  const config: Config = {
    apps,
    logLevel,
    databaseUrl,
    dataDir: get('PUSHLOSS_DATA_DIR'),
    bucketSize,
    bucketTz,
    api: {
      minIntervalMs,
      timeoutMs: duration('REQUEST_TIMEOUT', 3001, 8000),
      maxAttempts: integer('MAX_ATTEMPTS', 1, 20),
    },
    feeds: FEED_NAMES.filter((feed) => feeds.includes(feed)),
    limits,
    rateSlots: rateSlots(get('RATE_SLOTS')),
    daemon: {
      cron,
      settle: settlePolicy(
        env,
        get('SETTLE_SCHEDULE'),
        duration(
          'SETTLE_FINAL_WINDOW',
          60_000,
          86_400_000,
          'use 1m to 1d, e.g. 6h: longer than the gap between passes, so a pass falls inside it',
        ),
      ),
      httpPort: integer('HTTP_PORT', 0, 65535),
      httpHost,
    },
    migrateOnStart: migrateOnStart === 'true',
  };
  return deepFreeze(config);
}

/**
 * `RATE_SLOTS`: `shared` (every feed of an app at one slot), `per-feed`, or groups of feeds
 * separated by `;`, each group's feeds by `,`. A slot is named after its group's first feed.
 */
function rateSlots(text: string): Record<FeedName, string> {
  const fix = `use shared, per-feed, or groups like ${FEED_NAMES.slice(0, 2).join(',')};${FEED_NAMES.slice(2).join(',') || FEED_NAMES[0]}`;
  const slots: Record<string, string> = Object.fromEntries(
    FEED_NAMES.map((feed) => [feed, text === 'shared' ? FEED_NAMES[0]! : feed]),
  );
  if (text === 'shared' || text === 'per-feed') return slots as Record<FeedName, string>;
  const named = new Set<string>();
  for (const group of text.split(';')) {
    const members = group.split(',').map((name) => name.trim());
    for (const name of members) {
      if (!isFeedName(name)) fail('RATE_SLOTS', `"${text}" names an unknown API (${JSON.stringify(name)})`, fix);
      if (named.has(name)) fail('RATE_SLOTS', `"${text}" names ${name} twice`, 'name each API in one group at most');
      named.add(name);
      slots[name] = members[0]!;
    }
  }
  return slots as Record<FeedName, string>;
}

/**
 * `SETTLE_SCHEDULE`: `every-pass`, or ages like `1h,6h,1d`, each longer than the one before.
 * `SETTLE_AFTER` (final 48 h after the end) is gone: a leftover setting would be silently
 * ignored, and the operator would believe days freeze at 48 h, so it is refused.
 */
function settlePolicy(env: Env, text: string, finalWindowMs: number): SettlePolicy {
  if (env.SETTLE_AFTER !== undefined)
    fail(
      'SETTLE_AFTER',
      'is no longer read: a bucket is now fetched again until its final window before the horizon',
      'remove it; set SETTLE_SCHEDULE and SETTLE_FINAL_WINDOW instead (README "Configuration")',
    );
  if (text === 'every-pass') return { scheduleMs: 'every-pass', finalWindowMs };
  const ages = text.split(',').map((part) => parseDuration(part.trim()));
  ages.forEach((age, i) => {
    if (age === undefined || age <= 0 || (i > 0 && age <= ages[i - 1]!))
      fail(
        'SETTLE_SCHEDULE',
        `"${text}" is not a list of ascending durations (entry ${i + 1})`,
        "write ages after a bucket's end like 1h,6h,1d,2d,3d,5d, or every-pass",
      );
  });
  return { scheduleMs: ages as number[], finalWindowMs };
}

/** Stops with a config error unless at least one app is configured (for commands that call the API). */
export function requireApps(config: Config): readonly AppConfig[] {
  if (config.apps.length === 0) {
    fail('TIM_SDKAPPID', 'no app is configured', 'set TIM_SDKAPPID and TIM_SECRET_KEY, or PUSHLOSS_APPS_FILE');
  }
  return config.apps;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
