import { readFileSync } from 'node:fs';
import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import type { BucketSize } from './db/database.ts';
import { Secret } from './secret.ts';
import { isValidTimeZone } from './warehouse/buckets.ts';
import { REGION_NAMES, isLoopbackUrl, regionBaseUrls, type Region } from './tencent/regions.ts';

/**
 * All configuration, validated once at start-up. Nothing else in pushloss reads process.env.
 * Every problem becomes a ConfigError whose one-line message names the variable (or the apps
 * file and entry) and says how to fix it; the CLI prints it and exits with code 2.
 */

export interface AppConfig {
  sdkappid: number;
  secretKey: Secret;
  identifier: string;
  region: Region;
  /** Tried in order; a network-level failure moves retries to the next one. */
  baseUrls: string[];
  /** True when every base URL is on this machine (the simulator): a faster cap is allowed. */
  loopback: boolean;
}

export type { BucketSize };

export interface Config {
  apps: readonly AppConfig[];
  logLevel: string;
  databaseUrl: string | undefined;
  dataDir: string;
  bucketSize: BucketSize;
  bucketTz: string;
  api: {
    /** How far back the API still answers, in seconds (documented: 7 days). */
    horizonSeconds: number;
    /** Longest window one call may ask for, in seconds (documented: 7 days). */
    maxSpanSeconds: number;
    /** Minimum gap between the starts of two calls for one app. */
    minIntervalMs: number;
    timeoutMs: number;
    maxAttempts: number;
  };
  daemon: {
    cron: string;
    settleAfterMs: number;
    httpPort: number;
  };
  migrateOnStart: boolean;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly exitCode = 2;
}

type Env = Record<string, string | undefined>;

const DEFAULTS = {
  TIM_IDENTIFIER: 'administrator',
  TIM_REGION: 'china',
  LOG_LEVEL: 'info',
  PUSHLOSS_DATA_DIR: './data',
  BUCKET_SIZE: '1d',
  BUCKET_TZ: 'Asia/Shanghai',
  API_HORIZON: '7d',
  API_MAX_SPAN: '7d',
  // 1 call/s is the documented cap, measured where the calls ARRIVE. Of the extra 200 ms, up to
  // 50 ms may be spent by a late start (see rateSlots.ts) and the rest absorbs network jitter.
  MIN_CALL_INTERVAL: '1200ms',
  // Above the API's own 3 s, and short enough that after SIGTERM the call in flight still
  // finishes and commits before the daemon's 9.5 s hard exit.
  REQUEST_TIMEOUT: '8s',
  MAX_ATTEMPTS: '5',
  COLLECT_CRON: '*/30 * * * *',
  SETTLE_AFTER: '48h',
  HTTP_PORT: '9464',
  MIGRATE_ON_START: 'true',
} as const;

/** 1 s plus the 50 ms a start may be late (rateSlots.ts) plus 50 ms of network jitter. */
const MIN_REMOTE_INTERVAL_MS = 1100;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `1100ms`, `10s`, `30m`, `48h`, `7d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : undefined;
}

/** Validates the environment (and the apps file it names) into a frozen Config. */
export function loadConfig(env: Env): Config {
  const get = (name: keyof typeof DEFAULTS) => nonEmpty(env[name]) ?? DEFAULTS[name];
  const duration = (name: keyof typeof DEFAULTS, min = 1, max = Number.MAX_SAFE_INTEGER) => {
    const ms = parseDuration(get(name));
    if (ms === undefined || ms < min || ms > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min} ms` : `from ${min} to ${max} ms`;
      fail(name, `"${get(name)}" is not a duration ${range}`, 'write it like 1200ms, 8s, 30m, 48h or 7d');
    }
    return ms;
  };
  const integer = (name: keyof typeof DEFAULTS, min: number, max: number) => {
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

  const databaseUrl = nonEmpty(env.DATABASE_URL) ?? readOptionalFile(env.DATABASE_URL_FILE, 'DATABASE_URL_FILE');
  if (nonEmpty(env.DATABASE_URL) !== undefined && nonEmpty(env.DATABASE_URL_FILE) !== undefined)
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
      horizonSeconds: duration('API_HORIZON', 1000) / 1000,
      maxSpanSeconds: duration('API_MAX_SPAN', 1000) / 1000,
      minIntervalMs,
      timeoutMs: duration('REQUEST_TIMEOUT', 3001, 8000),
      maxAttempts: integer('MAX_ATTEMPTS', 1, 20),
    },
    daemon: {
      cron,
      settleAfterMs: duration('SETTLE_AFTER', 0),
      httpPort: integer('HTTP_PORT', 0, 65535),
    },
    migrateOnStart: migrateOnStart === 'true',
  };
  return deepFreeze(config);
}

/** Stops with a config error unless at least one app is configured (for commands that call the API). */
export function requireApps(config: Config): readonly AppConfig[] {
  if (config.apps.length === 0) {
    fail('TIM_SDKAPPID', 'no app is configured', 'set TIM_SDKAPPID and TIM_SECRET_KEY, or PUSHLOSS_APPS_FILE');
  }
  return config.apps;
}

const appEntrySchema = z.strictObject({
  sdkappid: z.number().int().positive(),
  secretKey: z.string().min(1).optional(),
  secretKeyFile: z.string().min(1).optional(),
  identifier: z.string().min(1).optional(),
  region: z.enum(REGION_NAMES as [Region, ...Region[]]),
  baseUrl: z.string().min(1).optional(),
});

function loadApps(env: Env): AppConfig[] {
  const appsFile = nonEmpty(env.PUSHLOSS_APPS_FILE);
  if (appsFile !== undefined) {
    if (nonEmpty(env.TIM_SDKAPPID) !== undefined) {
      fail(
        'PUSHLOSS_APPS_FILE',
        'is set together with TIM_SDKAPPID',
        'configure apps either in the file or through TIM_* variables, not both',
      );
    }
    return loadAppsFile(appsFile);
  }
  const sdkappidText = nonEmpty(env.TIM_SDKAPPID);
  if (sdkappidText === undefined) return [];
  if (!/^[1-9]\d{0,15}$/.test(sdkappidText))
    fail('TIM_SDKAPPID', `"${sdkappidText}" is not an SDKAppID`, 'copy the numeric SDKAppID from the Chat console');

  const regionText = nonEmpty(env.TIM_REGION) ?? DEFAULTS.TIM_REGION;
  if (!(REGION_NAMES as string[]).includes(regionText))
    fail('TIM_REGION', `"${regionText}" is not a region`, `use one of ${REGION_NAMES.join('|')}`);
  const region = regionText as Region;

  return [
    buildApp({
      sdkappid: Number(sdkappidText),
      secretKey: secretFrom(env.TIM_SECRET_KEY, env.TIM_SECRET_KEY_FILE, 'TIM_SECRET_KEY', 'TIM_SECRET_KEY_FILE'),
      identifier: nonEmpty(env.TIM_IDENTIFIER) ?? DEFAULTS.TIM_IDENTIFIER,
      region,
      baseUrl: nonEmpty(env.TIM_BASE_URL),
      where: 'TIM_BASE_URL',
    }),
  ];
}

function loadAppsFile(path: string): AppConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    // Never echo the parser's message: it quotes the file's text, which holds secret keys.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    const why =
      (error as NodeJS.ErrnoException).code ??
      (position === undefined ? 'invalid JSON' : `invalid JSON at character ${position}`);
    fail(
      'PUSHLOSS_APPS_FILE',
      `cannot read ${path} as JSON (${why})`,
      'point it at a JSON array of apps as shown in the README',
    );
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    fail(
      'PUSHLOSS_APPS_FILE',
      `${path} is not a non-empty JSON array`,
      'write an array of {"sdkappid", "secretKey" or "secretKeyFile", "region"} objects',
    );
  }
  const seen = new Set<number>();
  return parsed.map((raw, index) => {
    const where = `PUSHLOSS_APPS_FILE ${path} entry ${index}`;
    const result = appEntrySchema.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const field = issue.path.join('.') || 'entry';
      fail(
        where,
        `${field}: ${issue.message}`,
        'each entry needs sdkappid (number), secretKey or secretKeyFile, region; identifier and baseUrl are optional',
      );
    }
    const entry = result.data;
    if (seen.has(entry.sdkappid)) fail(where, `sdkappid ${entry.sdkappid} is listed twice`, 'keep one entry per app');
    seen.add(entry.sdkappid);
    return buildApp({
      sdkappid: entry.sdkappid,
      secretKey: secretFrom(entry.secretKey, entry.secretKeyFile, `${where} secretKey`, `${where} secretKeyFile`),
      identifier: entry.identifier ?? DEFAULTS.TIM_IDENTIFIER,
      region: entry.region,
      baseUrl: entry.baseUrl,
      where: `${where} baseUrl`,
    });
  });
}

function buildApp(input: {
  sdkappid: number;
  secretKey: Secret;
  identifier: string;
  region: Region;
  baseUrl: string | undefined;
  where: string;
}): AppConfig {
  const baseUrls =
    input.baseUrl === undefined
      ? regionBaseUrls(input.region)
      : input.baseUrl.split(',').map((url) => checkBaseUrl(url.trim(), input.where));
  return {
    sdkappid: input.sdkappid,
    secretKey: input.secretKey,
    identifier: input.identifier,
    region: input.region,
    baseUrls,
    loopback: baseUrls.every((url) => isLoopbackUrl(new URL(url))),
  };
}

function checkBaseUrl(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(where, `"${text}" is not a URL`, "use https://host[:port], or leave it unset to use the region's domains");
  }
  if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
    fail(
      where,
      `"${text}" uses plain http on a remote host`,
      'use https://, plain http is only allowed for 127.0.0.1/localhost',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(where, `"${text}" is not http(s)`, 'use https://host[:port]');
  return url.origin;
}

function secretFrom(value: string | undefined, file: string | undefined, valueName: string, fileName: string): Secret {
  if (nonEmpty(value) !== undefined && nonEmpty(file) !== undefined)
    fail(valueName, `is set together with ${fileName}`, 'set only one of them');
  if (nonEmpty(file) !== undefined) {
    let text: string;
    try {
      text = readFileSync(file!, 'utf8').trim();
    } catch (error) {
      fail(
        fileName,
        `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        'point it at a readable file holding the secret key',
      );
    }
    if (text === '') fail(fileName, `${file} is empty`, "put the app's secret key from the Chat console in it");
    return new Secret(text);
  }
  if (nonEmpty(value) === undefined)
    fail(valueName, 'is not set', `set it (or ${fileName}) to the app's secret key from the Chat console`);
  return new Secret(value!.trim());
}

/** The trimmed contents of the file a `*_FILE` variable names (Docker / Kubernetes secrets). */
function readOptionalFile(path: string | undefined, name: string): string | undefined {
  if (nonEmpty(path) === undefined) return undefined;
  try {
    return (
      nonEmpty(readFileSync(path!, 'utf8')) ??
      fail(name, `${path} is empty`, 'put the value in the file or unset the variable')
    );
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    fail(
      name,
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      'point it at a readable file',
    );
  }
}

function fail(where: string, problem: string, fix: string): never {
  throw new ConfigError(`${where}: ${problem}; ${fix}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
