/**
 * The embedded database on a small tmpfs that fills up: every start says so in one clear line and
 * exits (no "[object Object]", no hang, SIGTERM honoured), leaves no stray lock file, and once space
 * is freed the data is all there. Mounting needs root; elsewhere the test is skipped.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { runCli, spawnCli } from '../helpers/process.ts';

const APP = 1400000831;
const isRoot = process.getuid?.() === 0;
let mountPoint = '';
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ apps: simulatorApps([APP]), minIntervalMs: 20 });
  if (!isRoot) return;
  mountPoint = mkdtempSync(join(tmpdir(), 'pushloss-tinydisk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=160m', 'tmpfs', mountPoint]);
});
afterAll(async () => {
  await sim?.close();
  if (mountPoint) {
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
});

/** Writes a file until the disk is full; returns its path. */
function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return path;
}

async function factCount(dataDir: string): Promise<number> {
  const opened = await openDatabase({ dataDir });
  try {
    const row = await opened.db
      .selectFrom('loss_fact')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  } finally {
    await opened.close();
  }
}

describe('the embedded database on a disk that fills up', () => {
  it('fails in one clear line, never hangs, leaves no stray file, and keeps the data', async ({ skip }) => {
    if (!isRoot) skip('mounting a tmpfs needs root');
    const dataDir = join(mountPoint, 'data');
    mkdirSync(dataDir);
    const env = simulatorEnv(sim.url, [APP], { MIN_CALL_INTERVAL: '60ms', PUSHLOSS_DATA_DIR: dataDir });
    expect((await runCli(['collect'], env)).code).toBe(0);
    const facts = await factCount(dataDir);
    expect(facts).toBeGreaterThan(0);

    const filler = fillDisk(mountPoint);
    const full = await runCli(['collect'], env);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(
      /^pushloss: cannot start the embedded database in .*: .*; the disk holding it has only 0 MB free: free some space \(the data is kept\) and start again\n$/,
    );
    expect(full.stderr).not.toContain('[object Object]');

    // With a little room the lock is written and PGlite itself fails to start ("PGlite failed to
    // initialize properly", which used to hang the process). The daemon too ends by itself; a
    // SIGTERM meanwhile would end it at once.
    truncateSync(filler, statSync(filler).size - 16 * 1024);
    const daemon = spawnCli(['daemon'], { ...env, HTTP_PORT: '0' });
    setTimeout(() => daemon.child.kill('SIGTERM'), 20_000).unref();
    const code = await daemon.exited;
    // 1: it could not start and said why; 0: it started in what room there was and stopped on SIGTERM.
    expect([0, 1]).toContain(code);
    if (code === 1)
      expect(daemon.stderr()).toMatch(
        /^pushloss: cannot start the embedded database in .*; the disk holding it has only 0 MB free/,
      );
    expect(daemon.stderr()).not.toContain('[object Object]');
    expect(daemon.stderr().trim().split('\n').length).toBeLessThanOrEqual(1);
    expect(readdirSync(dataDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    rmSync(filler);
    expect(await factCount(dataDir)).toBe(facts);
    expect((await runCli(['collect'], env)).code).toBe(0);
  }, 300_000);
});
