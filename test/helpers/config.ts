import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { formatLocalDate } from '../../src/buckets.ts';

export const TEST_SECRET = 'test-secret-key-do-not-log';

/** The env of a pushloss process pointed at a loopback simulator with the given apps. */
export function simulatorEnv(
  simUrl: string,
  sdkappids: number[],
  extra: Record<string, string> = {},
): Record<string, string> {
  const file = join(mkdtempSync(join(tmpdir(), 'pushloss-apps-')), 'apps.json');
  writeFileSync(
    file,
    JSON.stringify(
      sdkappids.map((sdkappid) => ({
        sdkappid,
        secretKey: `${TEST_SECRET}-${sdkappid}`,
        region: 'china',
        baseUrl: simUrl,
      })),
    ),
  );
  // Well above the simulators' 25 ms in these tests: room for a busy machine's jitter.
  return { PUSHLOSS_APPS_FILE: file, MIN_CALL_INTERVAL: '60ms', LOG_LEVEL: 'silent', ...extra };
}

/** Simulator apps matching {@link simulatorEnv}. */
export const simulatorApps = (sdkappids: number[]) =>
  sdkappids.map((sdkappid) => ({ sdkappid, secretKey: `${TEST_SECRET}-${sdkappid}` }));

/** A validated Config for in-process tests against the simulator. */
export function simulatorConfig(simUrl: string, sdkappids: number[], extra: Record<string, string> = {}): Config {
  return loadConfig(simulatorEnv(simUrl, sdkappids, extra));
}

/** `YYYY-MM-DD` of the Beijing day `offsetDays` from today (the default BUCKET_TZ). */
export const beijingDay = (offsetDays: number): string =>
  formatLocalDate(Date.now() + offsetDays * 86_400_000, 'Asia/Shanghai');
