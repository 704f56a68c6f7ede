import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, requireApps } from '../../src/config/config.ts';
import { parseDuration } from '../../src/config/env.ts';

const base = { TIM_SDKAPPID: '1400000001', TIM_SECRET_KEY: 'k3y' };
const dir = mkdtempSync(join(tmpdir(), 'pushloss-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults and freezes the result', () => {
    const config = loadConfig(base);
    expect(config.apps).toHaveLength(1);
    expect(config.apps[0]).toMatchObject({
      sdkappid: 1400000001,
      identifier: 'administrator',
      region: 'china',
      baseUrls: ['https://console.tim.qq.com', 'https://adminapi.my-imcloud.com'],
      loopback: false,
    });
    expect(config).toMatchObject({
      bucketSize: '1d',
      bucketTz: 'Asia/Shanghai',
      dataDir: './data',
      databaseUrl: undefined,
      logLevel: 'info',
    });
    expect(config.feeds).toEqual(['loss', 'statistics']);
    expect(config.limits).toEqual({
      loss: { horizonSeconds: 604800, maxSpanSeconds: 604800 },
      statistics: { horizonSeconds: 2592000, maxSpanSeconds: 2592000 },
      'all-member-loss': { horizonSeconds: 604800, maxSpanSeconds: 604800 },
      'all-member-statistics': { horizonSeconds: 2592000, maxSpanSeconds: 2592000 },
    });
    // One slot per app, shared by every feed.
    expect(config.rateSlots).toEqual({
      loss: 'loss',
      statistics: 'loss',
      'all-member-loss': 'loss',
      'all-member-statistics': 'loss',
    });
    expect(config.api).toEqual({
      minIntervalMs: 1200,
      timeoutMs: 8000,
      maxAttempts: 5,
    });
    const H = 3600_000;
    expect(config.daemon).toEqual({
      cron: '*/30 * * * *',
      settle: { scheduleMs: [H, 6 * H, 24 * H, 48 * H, 72 * H, 120 * H, 240 * H, 480 * H], finalWindowMs: 6 * H },
      httpPort: 9464,
      httpHost: '127.0.0.1',
    });
    expect(loadConfig({ ...base, SETTLE_SCHEDULE: 'every-pass' }).daemon.settle.scheduleMs).toBe('every-pass');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.apps[0])).toBe(true);
    expect(() => {
      (config as { logLevel: string }).logLevel = 'x';
    }).toThrow();
  });

  it('never shows the secret key when printed', () => {
    const config = loadConfig(base);
    expect(JSON.stringify(config)).not.toContain('k3y');
    expect(inspect(config, { depth: 10 })).not.toContain('k3y');
    expect(config.apps[0]!.secretKey.reveal()).toBe('k3y');
  });

  it('reads the key from a file', () => {
    const config = loadConfig({ TIM_SDKAPPID: '5', TIM_SECRET_KEY_FILE: file('key', 'from-file\n') });
    expect(config.apps[0]!.secretKey.reveal()).toBe('from-file');
  });

  it('reads DATABASE_URL from a file too', () => {
    expect(loadConfig({ DATABASE_URL_FILE: file('db', 'postgres://u:p@db/pushloss\n') }).databaseUrl).toBe(
      'postgres://u:p@db/pushloss',
    );
    expect(configError({ DATABASE_URL_FILE: '/nonexistent' })).toMatch(
      /^DATABASE_URL_FILE: cannot read \/nonexistent \(ENOENT\)/,
    );
  });

  it('accepts a loopback http base URL and a shorter interval for it', () => {
    const config = loadConfig({ ...base, TIM_BASE_URL: 'http://127.0.0.1:8080/', MIN_CALL_INTERVAL: '50ms' });
    expect(loadConfig({ ...base, LOSS_HORIZON: '7d', LOSS_MAX_SPAN: '36h' }).limits.loss.maxSpanSeconds).toBe(129600);
    expect(config.apps[0]).toMatchObject({ baseUrls: ['http://127.0.0.1:8080'], loopback: true });
    expect(config.api.minIntervalMs).toBe(50);
  });

  it.each([
    [{ ...base, TIM_REGION: 'mars' }, /^TIM_REGION: "mars" is not a region; use one of china\|singapore/],
    [{ ...base, TIM_SDKAPPID: 'abc' }, /^TIM_SDKAPPID: "abc" is not an SDKAppID/],
    // Past 2^53 it used to be read as another number (10000000000000000).
    [
      { ...base, TIM_SDKAPPID: '9999999999999999' },
      /^TIM_SDKAPPID: "9999999999999999" is not an SDKAppID \(a whole number from 1 to 4294967295\); copy/,
    ],
    [{ ...base, TIM_SDKAPPID: '4294967296' }, /^TIM_SDKAPPID: "4294967296" is not an SDKAppID/],
    // A device or a huge file used to hang the start (or fill memory); reading stops at 4 KiB.
    [
      { TIM_SDKAPPID: '1', TIM_SECRET_KEY_FILE: '/dev/zero' },
      /^TIM_SECRET_KEY_FILE: \/dev\/zero holds more than 4096 bytes, too many for a secret; point it at/,
    ],
    [{ ...base, DATABASE_URL_FILE: '/dev/zero' }, /^DATABASE_URL_FILE: \/dev\/zero holds more than 4096 bytes/],
    [{ TIM_SDKAPPID: '1' }, /^TIM_SECRET_KEY: is not set; set it \(or TIM_SECRET_KEY_FILE\)/],
    [{ ...base, TIM_SECRET_KEY_FILE: '/x' }, /^TIM_SECRET_KEY: is set together with TIM_SECRET_KEY_FILE/],
    [
      { TIM_SDKAPPID: '1', TIM_SECRET_KEY_FILE: '/nonexistent/key' },
      /^TIM_SECRET_KEY_FILE: cannot read \/nonexistent\/key \(ENOENT\)/,
    ],
    [
      { ...base, TIM_BASE_URL: 'http://example.com' },
      /^TIM_BASE_URL: "http:\/\/example.com" uses plain http on a remote host/,
    ],
    [{ ...base, TIM_BASE_URL: 'not a url' }, /^TIM_BASE_URL: "not a url" is not a URL/],
    // Everything but the origin used to be dropped without a word.
    [
      { ...base, TIM_BASE_URL: 'https://user:k3y@console.tim.qq.com' },
      /^TIM_BASE_URL: https:\/\/console.tim.qq.com has credentials, which pushloss would not send; give only scheme/,
    ],
    [{ ...base, TIM_BASE_URL: 'https://console.tim.qq.com/v4' }, /has a path \(\/v4\)/],
    [{ ...base, TIM_BASE_URL: 'https://console.tim.qq.com/?x=1' }, /has a query/],
    [{ ...base, TIM_BASE_URL: 'https://console.tim.qq.com#top' }, /has a fragment/],
    [{ ...base, TIM_BASE_URL: 'https://console.tim.qq.com?' }, /has a query/],
    [
      { ...base, LOSS_HORIZON: '30d' },
      /^LOSS_HORIZON: "30d" is not a duration from 1000 to 604800000 ms; normal_push_loss answers at most 7 days back and 7 days per call: use 7d or less/,
    ],
    // The statistics API answers 30 days: 60d used to be accepted, and the first call got 90100.
    [
      { ...base, STATS_HORIZON: '60d' },
      /^STATS_HORIZON: "60d" is not a duration from 1000 to 2592000000 ms; normal_push_statistics answers at most 30 days back and 30 days per call: use 30d or less/,
    ],
    [{ ...base, STATS_MAX_SPAN: '31d' }, /^STATS_MAX_SPAN: "31d" is not a duration from 1000 to 2592000000 ms/],
    [{ ...base, LOSS_MAX_SPAN: '8d' }, /^LOSS_MAX_SPAN: "8d" is not a duration from 1000 to 604800000 ms/],
    // Renamed variables are refused with their new name, never silently ignored.
    [{ ...base, API_HORIZON: '7d' }, /^API_HORIZON: is no longer read; rename it to LOSS_HORIZON/],
    [{ ...base, STATS_OWN_RATE_SLOT: 'true' }, /^STATS_OWN_RATE_SLOT: is no longer read; rename it to RATE_SLOTS/],
    [{ ...base, RATE_SLOTS: 'loss;loss' }, /^RATE_SLOTS: "loss;loss" names loss twice/],
    [{ ...base, RATE_SLOTS: 'loss,stats' }, /^RATE_SLOTS: "loss,stats" names an unknown API \("stats"\)/],
    [
      { ...base, MIN_CALL_INTERVAL: '1050ms' },
      /^MIN_CALL_INTERVAL: 1050 ms leaves no margin over the API's 1 call\/second cap for app 1400000001; use 1100ms or more/,
    ],
    [{ ...base, LOG_LEVEL: 'loud' }, /^LOG_LEVEL: "loud" is not a log level/],
    [{ ...base, BUCKET_SIZE: '2h' }, /^BUCKET_SIZE: "2h" is not a bucket size; use 1d or 1h/],
    [{ ...base, BUCKET_TZ: 'Mars/Base' }, /^BUCKET_TZ: "Mars\/Base" is not an IANA time zone/],
    [{ ...base, REQUEST_TIMEOUT: '2s' }, /^REQUEST_TIMEOUT: "2s" is not a duration from 3001 to 8000 ms/],
    [{ ...base, REQUEST_TIMEOUT: '10s' }, /^REQUEST_TIMEOUT: "10s" is not a duration from 3001 to 8000 ms/],
    [{ ...base, SETTLE_AFTER: '48h' }, /^SETTLE_AFTER: is no longer read: .*; remove it; set SETTLE_SCHEDULE/],
    [
      { ...base, SETTLE_SCHEDULE: '6h,1h' },
      /^SETTLE_SCHEDULE: "6h,1h" is not a list of ascending durations \(entry 2\)/,
    ],
    [{ ...base, SETTLE_SCHEDULE: '1h,soon' }, /^SETTLE_SCHEDULE: "1h,soon" is not a list of ascending durations/],
    [{ ...base, SETTLE_SCHEDULE: '0s' }, /^SETTLE_SCHEDULE: "0s" is not a list of ascending durations \(entry 1\)/],
    [{ ...base, SETTLE_FINAL_WINDOW: '2d' }, /^SETTLE_FINAL_WINDOW: "2d" is not a duration from 60000 to 86400000 ms/],
    [{ ...base, DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: is not a postgres:\/\/ URL/],
    [{ ...base, COLLECT_CRON: '*/30 * * *' }, /^COLLECT_CRON: "\*\/30 \* \* \*" is not a cron expression/],
    [{ ...base, COLLECT_CRON: '99 * * * *' }, /^COLLECT_CRON: "99 \* \* \* \*" is not a cron expression/],
    [{ ...base, HTTP_PORT: '70000' }, /^HTTP_PORT: "70000" is not a whole number from 0 to 65535/],
  ])('names the variable and the fix: %j', (env, message) => {
    const text = configError(env as Record<string, string>);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
    expect(text).not.toContain('k3y');
  });

  it('reads several apps from PUSHLOSS_APPS_FILE', () => {
    const path = file(
      'apps.json',
      JSON.stringify([
        { sdkappid: 1, secretKey: 'a', region: 'singapore' },
        {
          sdkappid: 2,
          secretKeyFile: file('k2', 'b'),
          identifier: 'admin',
          region: 'frankfurt',
          baseUrl: 'http://localhost:9',
        },
      ]),
    );
    const config = loadConfig({ PUSHLOSS_APPS_FILE: path });
    expect(config.apps.map((app) => [app.sdkappid, app.identifier, app.region, app.baseUrls[0]])).toEqual([
      [1, 'administrator', 'singapore', 'https://adminapisgp.im.qcloud.com'],
      [2, 'admin', 'frankfurt', 'http://localhost:9'],
    ]);
    expect(config.apps[1]!.secretKey.reveal()).toBe('b');
  });

  it('accepts an apps file that starts with a UTF-8 byte order mark', () => {
    const path = file('bom.json', '\uFEFF' + JSON.stringify([{ sdkappid: 7, secretKey: 'a', region: 'china' }]));
    expect(loadConfig({ PUSHLOSS_APPS_FILE: path }).apps.map((app) => app.sdkappid)).toEqual([7]);
  });

  it('refuses an apps-file sdkappid outside the SDKAppID range, and a file that never ends', () => {
    const path = file('big.json', '[{"sdkappid": 9999999999999999, "secretKey": "a", "region": "china"}]');
    expect(configError({ PUSHLOSS_APPS_FILE: path })).toMatch(
      new RegExp(`^PUSHLOSS_APPS_FILE ${path} entry 0: sdkappid: .*4294967295`),
    );
    expect(configError({ PUSHLOSS_APPS_FILE: '/dev/zero' })).toMatch(
      /^PUSHLOSS_APPS_FILE: \/dev\/zero is larger than 33554432 bytes; point it at the JSON array of apps$/,
    );
  });

  it('names the apps file entry that is wrong', () => {
    const path = file(
      'bad.json',
      JSON.stringify([
        { sdkappid: 1, secretKey: 'a', region: 'china' },
        { sdkappid: 2, secretKey: 'b', region: 'moon' },
      ]),
    );
    expect(configError({ PUSHLOSS_APPS_FILE: path })).toMatch(
      new RegExp(`^PUSHLOSS_APPS_FILE ${path} entry 1: region: `),
    );
    const dup = file(
      'dup.json',
      JSON.stringify([
        { sdkappid: 1, secretKey: 'a', region: 'china' },
        { sdkappid: 1, secretKey: 'b', region: 'china' },
      ]),
    );
    expect(configError({ PUSHLOSS_APPS_FILE: dup })).toMatch(/entry 1: sdkappid 1 is listed twice/);
    expect(configError({ PUSHLOSS_APPS_FILE: file('junk.json', '{') })).toMatch(
      /^PUSHLOSS_APPS_FILE: cannot read .* as JSON/,
    );
    // A syntax error must not quote the file: it holds secret keys.
    const leaky = configError({
      PUSHLOSS_APPS_FILE: file('leaky.json', '[{"sdkappid": 1, "secretKey": SUPERSECRETVALUE, "region": "china"}]'),
    });
    expect(leaky).toMatch(/cannot read .* as JSON \(invalid JSON( at character \d+)?\); point it at/);
    expect(leaky).not.toContain('SUPERSECRET');
    expect(configError({ PUSHLOSS_APPS_FILE: file('obj.json', '{}') })).toMatch(/is not a non-empty JSON array/);
    expect(configError({ PUSHLOSS_APPS_FILE: file('nokey.json', '[{"sdkappid":3,"region":"china"}]') })).toMatch(
      /entry 0 secretKey: is not set/,
    );
  });

  it('requireApps stops commands that need an app', () => {
    expect(() => requireApps(loadConfig({}))).toThrow(/^TIM_SDKAPPID: no app is configured/);
  });

  it('parses durations', () => {
    expect([
      parseDuration('1100ms'),
      parseDuration('10s'),
      parseDuration('30m'),
      parseDuration('48h'),
      parseDuration('7d'),
    ]).toEqual([1100, 10000, 1800000, 172800000, 604800000]);
    expect(parseDuration('7 days')).toBeUndefined();
  });
});
