import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { beijingDay, simulatorApps, simulatorEnv, TEST_SECRET } from '../helpers/config.ts';
import { runCli } from '../helpers/process.ts';

/** The part of `status --json` these tests read. */
type StatusJson = { apps: Array<{ buckets: Array<{ condition: string }> }> };

const APP = 1400000301;
let sim: Simulator;
let dataDir: string;

beforeAll(async () => {
  sim = await startSimulator({ apps: simulatorApps([APP]), minIntervalMs: 25 });
  dataDir = mkdtempSync(join(tmpdir(), 'pushloss-cli-'));
});
afterAll(() => sim?.close());

const env = (extra: Record<string, string> = {}) =>
  simulatorEnv(sim.url, [APP], { PUSHLOSS_DATA_DIR: dataDir, ...extra });
const day = beijingDay;

describe('the pushloss CLI', () => {
  it('stops on bad configuration with one line naming the variable, exit code 2', async () => {
    const result = await runCli(['collect'], { TIM_SDKAPPID: '1', TIM_SECRET_KEY: 'x', TIM_REGION: 'atlantis' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'pushloss: configuration error: TIM_REGION: "atlantis" is not a region; use one of china|singapore|seoul|frankfurt|silicon-valley|jakarta\n',
    );
  });

  it('lists its commands and explains each with --help', async () => {
    const list = await runCli(['--help'], {});
    expect(list.code).toBe(0);
    for (const command of [
      'daemon',
      'collect',
      'backfill',
      'status',
      'report',
      'migrate',
      'renormalize',
      'demo',
      'usersig',
      'simulator',
    ])
      expect(list.stdout).toContain(`  ${command}`);
    const help = await runCli(['backfill', '--help'], {});
    expect(help.stdout).toMatch(/--from 2026-11-20 --to 2026-11-25 is six days/);
  });

  it('refuses a backfill range beyond the horizon before calling, exit code 2', async () => {
    const calls = sim.calls.length;
    const result = await runCli(['backfill', '--from', day(-9), '--to', day(-1)], env());
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^pushloss: \d+ bucket\(s\) from .* are older than the loss API \(normal_push_loss\)'s 7-day horizon and can no longer be fetched; the earliest bucket that can is .*; for statistics alone, which reach 30 days back, add --api statistics\n$/,
    );
    expect(sim.calls.length).toBe(calls);
  });

  it('refuses malformed ranges and unknown apps with a one-line usage error', async () => {
    expect(await runCli(['backfill', '--from', '2026-13-01', '--to', day(0)], env())).toMatchObject({
      code: 2,
      stderr: 'pushloss: backfill: "2026-13-01" is not a calendar date\n',
    });
    expect(await runCli(['backfill', '--from', day(-1)], env())).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--from and --to are required/),
    });
    expect(await runCli(['backfill', '--from', day(-1), '--to', day(-1), '--app', '42'], env())).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--app: app 42 is not configured; configured apps: 1400000301/),
    });
    expect(await runCli(['backfill', '--from', day(-1), '--to', day(-1), '--api', 'trace'], env())).toMatchObject({
      code: 2,
      stderr:
        'pushloss: backfill: --api trace is not an API; use one of loss, statistics, all-member-loss, all-member-statistics\n',
    });
    // A stray word (a forgotten --to, a pasted date) used to be ignored.
    expect(await runCli(['backfill', '--from', day(-1), '--to', day(-1), day(0)], env())).toMatchObject({
      code: 2,
      stderr: `pushloss: backfill: unexpected argument "${day(0)}" (options start with --); see pushloss backfill --help\n`,
    });
  });

  it('refuses a range ending far in the future, and an option given twice, exit code 2 (not 1, not last-wins)', async () => {
    expect(await runCli(['backfill', '--from', day(-1), '--to', '9999-12-31'], env())).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'pushloss: the range ends 9999-12-31T16:00:00Z, more than 7 days from now, and only buckets that have begun can be fetched; end it today or earlier\n',
    });
    expect(await runCli(['backfill', '--from', day(-3), '--from', day(-1), '--to', day(-1)], env())).toEqual({
      code: 2,
      stdout: '',
      stderr: 'pushloss: backfill: --from is given twice; give it once\n',
    });
    expect(await runCli(['status', '--json', '--json'], env())).toMatchObject({
      code: 2,
      stderr: 'pushloss: status: --json is given twice; give it once\n',
    });
  });

  it('warns about a misspelt variable, naming the right one, and goes on', async () => {
    const result = await runCli(['status'], env({ BUCKET_SIZ: '1h', LOG_LEVEL: 'warn' }));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('BUCKET_SIZ is not a pushloss variable and is ignored; did you mean BUCKET_SIZE?');
    expect(result.stdout).not.toContain('PATH');
    // The likely cause of a configuration error is named on its line.
    expect(await runCli(['collect'], { TIM_SDKAPID: '1400000001', TIM_SECRET_KEY: 'x' })).toMatchObject({
      code: 2,
      stderr:
        'pushloss: configuration error: TIM_SDKAPPID: no app is configured; set TIM_SDKAPPID and TIM_SECRET_KEY, or PUSHLOSS_APPS_FILE (note: TIM_SDKAPID is not a pushloss variable and is ignored; did you mean TIM_SDKAPPID?)\n',
    });
  });

  it('backfills into the embedded database with a line per bucket, prints status, and keeps secrets out of everything', async () => {
    const backfill = await runCli(['backfill', '--from', day(-2), '--to', day(-1)], env({ LOG_LEVEL: 'info' }));
    expect(backfill.stderr).toBe('');
    expect(backfill.code).toBe(0);
    expect(backfill.stdout).toMatch(/app 1400000301 bucket 1\/2 .*: \d+ rows/);
    // Both APIs by default: two loss buckets and two statistics buckets.
    expect(backfill.stdout).toMatch(/statistics app 1400000301 bucket 2\/2 .*: \d+ rows/);
    expect(backfill.stdout).toMatch(/backfill done: 4 loaded \(0 final\), 0 failed, \d+ fact rows/);
    expect(backfill.stdout).not.toContain(TEST_SECRET);

    const status = await runCli(['status', '--json'], env());
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as StatusJson;
    const conditions = report.apps[0]!.buckets.map((b) => b.condition);
    expect(conditions.slice(-3)).toEqual(['pending', 'pending', 'missing']);
    expect(conditions[0]).toBe('lost');

    const table = await runCli(['status'], env());
    expect(table.stdout).toMatch(new RegExp(`  ${day(-1)}\\s+pending\\s+1  `));
  }, 90_000); // three processes, each opening the embedded database from disk

  it('names HTTP_PORT when the port is taken, exit code 2', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runCli(
        ['daemon'],
        env({ HTTP_PORT: String(port), PUSHLOSS_DATA_DIR: mkdtempSync(join(tmpdir(), 'pushloss-port-')) }),
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `pushloss: HTTP_PORT: port ${port} is already in use; set HTTP_PORT to a free port (or 0 for any)\n`,
      );
    } finally {
      blocker.close();
    }
  });

  it('a second process on the same embedded data directory is refused at once', async () => {
    const { spawnCli } = await import('../helpers/process.ts');
    const daemon = spawnCli(['daemon'], env({ HTTP_PORT: '0', LOG_LEVEL: 'info' }));
    try {
      const { eventually } = await import('../helpers/process.ts');
      await eventually(() => (daemon.stdout().includes('daemon started') ? true : undefined), 30_000, 'daemon start');
      const began = Date.now();
      const second = await runCli(['status'], env());
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(
        new RegExp(`^pushloss: data directory .* is in use by pid ${daemon.child.pid} .*DATABASE_URL`),
      );
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
      // Refused rather than queued behind the daemon (which holds the lock for as long as it runs):
      // the bound is that of one process start on a busy 2-core machine, not a speed target.
      expect(Date.now() - began).toBeLessThan(20_000);
    } finally {
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
    }
  });
});

describe('npm run demo', () => {
  it('collects a week from its own simulator into the embedded database and prints the report', async () => {
    const demoDir = mkdtempSync(join(tmpdir(), 'pushloss-demo-'));
    const result = await runCli(['demo'], { PUSHLOSS_DATA_DIR: demoDir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // A week of each of the four APIs.
    expect(result.stdout.match(/ {2}\S+Z \.\. \S+Z {2}ok {2}\d+ ms/g)).toHaveLength(28);
    expect(result.stdout).toMatch(/"status":"collected","fetched":28,"failed":0/);
    expect(result.stdout).toMatch(
      /task pushes \(all_member_push_loss, all_member_push_stats\): [1-9]\d* sent, [1-9]\d* lost/,
    );
    expect(result.stdout).toMatch(/Loss rate per stage and channel/);
    expect(result.stdout).toMatch(
      /1400000000 +FCM +Sent, not delivered +\d+ +\d+ +\d+\.\d\d% +FCM reports no delivery/,
    );
    expect(result.stdout).toMatch(/Loss per stage \(all channels\)\n/);
    expect(result.stdout).toMatch(/1400000000 +Sent, not delivered +APNs +1 +\S+ +\d+ +\S/);
    // As the README says: status of the demo's database, with no app configured.
    const status = await runCli(['status', '--json'], { PUSHLOSS_DATA_DIR: join(demoDir, 'demo') });
    expect(
      (JSON.parse(status.stdout) as StatusJson).apps[0]!.buckets.filter((b) => b.condition !== 'lost').length,
    ).toBe(7);
  }, 90_000);
});
