/**
 * The environment variables pushloss reads, their defaults, and how a bad one is reported: a
 * ConfigError whose one-line message names the variable (or apps-file entry) and the fix.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Secret } from '../secret.ts';

/** Every variable with a default; the value is the default, as `.env.example` shows it. */
export const CONFIG_DEFAULTS = {
  TIM_IDENTIFIER: 'administrator',
  TIM_REGION: 'china',
  LOG_LEVEL: 'info',
  PUSHLOSS_DATA_DIR: './data',
  BUCKET_SIZE: '1d',
  BUCKET_TZ: 'Asia/Shanghai',
  // Which APIs (feeds) every pass, collect and backfill fetch, in this order. The task-push feeds
  // (all-member-loss, all-member-statistics) are opt-in for now (docs/operating.md says why).
  COLLECT_APIS: 'loss,statistics',
  // Each feed's horizon and longest window: <PREFIX>_HORIZON and <PREFIX>_MAX_SPAN, at most what
  // its API is documented to answer (src/tencent/apis.ts): loss 7 days, statistics 30.
  LOSS_HORIZON: '7d',
  LOSS_MAX_SPAN: '7d',
  STATS_HORIZON: '30d',
  STATS_MAX_SPAN: '30d',
  ALL_MEMBER_LOSS_HORIZON: '7d',
  ALL_MEMBER_LOSS_MAX_SPAN: '7d',
  ALL_MEMBER_STATS_HORIZON: '30d',
  ALL_MEMBER_STATS_MAX_SPAN: '30d',
  // Which feeds of an app wait at one call slot: every feed shares one (the safe reading: whether
  // Tencent counts the 1 call/second cap per API is unconfirmed), per-feed, or groups like
  // loss,statistics;all-member-loss (a feed named in no group gets a slot of its own).
  RATE_SLOTS: 'shared',
  // 1 call/s is the documented cap, measured where the calls ARRIVE. Of the extra 200 ms, up to
  // 50 ms may be spent by a late start (see rateSlots.ts) and the rest absorbs network jitter.
  MIN_CALL_INTERVAL: '1200ms',
  // Above the API's own 3 s, and short enough that after SIGTERM the call in flight still
  // finishes and commits before the daemon's 9.5 s hard exit.
  REQUEST_TIMEOUT: '8s',
  MAX_ATTEMPTS: '5',
  COLLECT_CRON: '*/30 * * * *',
  // Ages after a bucket's end at which it is fetched again until its final fetch (planner.ts);
  // ages past a feed's final window are skipped (loss stops after 5d, statistics use 10d, 20d).
  SETTLE_SCHEDULE: '1h,6h,1d,2d,3d,5d,10d,20d',
  // The final fetch comes in the last this-long before a bucket leaves its API's horizon.
  SETTLE_FINAL_WINDOW: '6h',
  HTTP_PORT: '9464',
  // Only this machine may ask, unless told otherwise: the image sets 0.0.0.0 for its probe.
  HTTP_HOST: '127.0.0.1',
  MIGRATE_ON_START: 'true',
} as const;

/** Variables without a default (unset means "not given"). */
const WITHOUT_DEFAULT = [
  'TIM_SDKAPPID',
  'TIM_SECRET_KEY',
  'TIM_SECRET_KEY_FILE',
  'TIM_BASE_URL',
  'PUSHLOSS_APPS_FILE',
  'DATABASE_URL',
  'DATABASE_URL_FILE',
] as const;

export type ConfigVariable = keyof typeof CONFIG_DEFAULTS | (typeof WITHOUT_DEFAULT)[number];

/** Every variable loadConfig reads: the only names `Env.read` accepts. */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  ...WITHOUT_DEFAULT,
  ...(Object.keys(CONFIG_DEFAULTS) as Array<keyof typeof CONFIG_DEFAULTS>),
];

export type Env = Record<string, string | undefined>;

/** The trimmed value of a variable, or undefined when unset or blank. */
export function read(env: Env, name: ConfigVariable): string | undefined {
  return nonEmpty(env[name]);
}

/** The trimmed value of a variable, or its default. */
export function readOrDefault(env: Env, name: keyof typeof CONFIG_DEFAULTS): string {
  return read(env, name) ?? CONFIG_DEFAULTS[name];
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly exitCode = 2;
}

export function fail(where: string, problem: string, fix: string): never {
  throw new ConfigError(`${where}: ${problem}; ${fix}`);
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `1100ms`, `10s`, `30m`, `48h`, `7d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : undefined;
}

/**
 * What a secret file (`*_FILE`) may hold: a secret key is 64 characters and a database URL a few
 * hundred, so 4 KiB is generous; reading stops there, so `/dev/zero` or a log file given by
 * mistake is refused at once instead of hanging or filling memory.
 */
export const MAX_SECRET_FILE_BYTES = 4096;

/**
 * The file's text, read as UTF-8 up to `maxBytes`; a longer file is refused with `tooLarge`.
 * Throws the file system's error (ENOENT, EACCES...).
 */
export function readBoundedFile(path: string, maxBytes: number): { text: string } | { tooLarge: true } {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let read; length < buffer.length && (read = readSync(fd, buffer, length, buffer.length - length, null)) > 0;)
      length += read;
    return length > maxBytes ? { tooLarge: true } : { text: buffer.toString('utf8', 0, length) };
  } finally {
    closeSync(fd);
  }
}

/** A secret file's text, trimmed; stops the program with one line if unreadable or too large. */
function readSecretFile(path: string, name: string, fix: string): string {
  let read;
  try {
    read = readBoundedFile(path, MAX_SECRET_FILE_BYTES);
  } catch (error) {
    fail(name, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, fix);
  }
  if ('tooLarge' in read)
    fail(name, `${path} holds more than ${MAX_SECRET_FILE_BYTES} bytes, too many for a secret`, fix);
  return read.text.trim();
}

/** The secret key from a variable or from the file another variable names; exactly one of the two. */
export function secretFrom(
  value: string | undefined,
  file: string | undefined,
  valueName: string,
  fileName: string,
): Secret {
  if (nonEmpty(value) !== undefined && nonEmpty(file) !== undefined)
    fail(valueName, `is set together with ${fileName}`, 'set only one of them');
  if (nonEmpty(file) !== undefined) {
    const text = readSecretFile(file!, fileName, 'point it at a readable file holding the secret key');
    if (text === '') fail(fileName, `${file} is empty`, "put the app's secret key from the Chat console in it");
    return new Secret(text);
  }
  if (nonEmpty(value) === undefined)
    fail(valueName, 'is not set', `set it (or ${fileName}) to the app's secret key from the Chat console`);
  return new Secret(value!.trim());
}

/** The trimmed contents of the file a `*_FILE` variable names (Docker / Kubernetes secrets). */
export function readOptionalFile(path: string | undefined, name: string): string | undefined {
  if (nonEmpty(path) === undefined) return undefined;
  return (
    nonEmpty(readSecretFile(path!, name, 'point it at a readable file holding only the value')) ??
    fail(name, `${path} is empty`, 'put the value in the file or unset the variable')
  );
}
