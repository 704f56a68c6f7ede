/**
 * The image, for real: run on a Docker engine against the local PostgreSQL server and the
 * simulator, as an operator runs it (`--read-only --cap-drop ALL`, secrets in mounted files).
 *
 * Runs when PUSHLOSS_IMAGE names a built image, as `bash scripts/containers.sh` does after it
 * built the Dockerfile; skipped otherwise. The containers use the host's network, so the
 * simulator and PostgreSQL on 127.0.0.1 are theirs too.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { beijingDay } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { docker, health, inspect, run } from '../helpers/docker.ts';
import { eventually, freePort } from '../helpers/process.ts';

const IMAGE = process.env.PUSHLOSS_IMAGE;
const APP = 1400000701;
const SECRET = randomBytes(16).toString('hex');
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe.runIf(IMAGE)(`the image ${IMAGE}`, () => {
  const image = IMAGE!;
  const name = `pushloss-check-${randomBytes(4).toString('hex')}`;
  const volume = `${name}-data`;
  let sim: Simulator;
  let database: TestDatabase;
  let databasePassword: string;
  let secrets: string;
  let httpPort: number;

  /** `docker run` options for every container here: as compose runs pushloss, secrets in files. */
  const runOptions = (store: 'server' | 'embedded') => [
    '--network=host',
    '--read-only',
    '--cap-drop=ALL',
    '--security-opt=no-new-privileges',
    '--tmpfs=/tmp',
    `--volume=${secrets}:/run/secrets/pushloss:ro`,
    `--env=TIM_SDKAPPID=${APP}`,
    '--env=TIM_SECRET_KEY_FILE=/run/secrets/pushloss/tim_secret_key',
    `--env=TIM_BASE_URL=${sim.url}`,
    '--env=MIN_CALL_INTERVAL=150ms',
    // These checks count loss calls and buckets; statistics have tests of their own.
    '--env=COLLECT_APIS=loss',
    // Every pending bucket is due every pass and a pass starts every 5 s: there is always a next call to stop in.
    '--env=SETTLE_SCHEDULE=every-pass',
    '--env=COLLECT_CRON=*/5 * * * * *',
    ...(store === 'server'
      ? ['--env=DATABASE_URL_FILE=/run/secrets/pushloss/database_url']
      : [`--volume=${volume}:/data`, '--hostname=pushloss-check']),
  ];
  const runImage = (store: 'server' | 'embedded', ...args: string[]) =>
    run('docker', ['run', '--rm', ...runOptions(store), image, ...args], { timeoutMs: 90_000 });
  const archivedCalls = async () =>
    Number(
      (
        await database.db
          .selectFrom('tim_call')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    // A rate cap well below Tencent's, which loopback allows: these checks are about the image.
    sim = await startSimulator({ apps: [{ sdkappid: APP, secretKey: SECRET }], minIntervalMs: 100 });
    // An empty database: the image migrates it at start-up.
    database = await createTestDatabase({ migrate: false });
    if (!database.url) throw new Error('the image checks need a PostgreSQL server: set TEST_DATABASE_URL');
    const url = new URL(database.url);
    // A password to look for in logs (the test server may trust any).
    url.password ||= randomBytes(12).toString('hex');
    databasePassword = decodeURIComponent(url.password);
    // Readable by the image's uid 1000, as mounted secrets are.
    secrets = mkdtempSync(join(tmpdir(), 'pushloss-image-secrets-'));
    chmodSync(secrets, 0o755);
    writeFileSync(join(secrets, 'tim_secret_key'), SECRET, { mode: 0o644 });
    writeFileSync(join(secrets, 'database_url'), url.toString(), { mode: 0o644 });
    httpPort = await freePort();
    await docker('run', '--detach', `--name=${name}`, ...runOptions('server'), `--env=HTTP_PORT=${httpPort}`, image);
  }, 60_000);

  afterAll(async () => {
    await run('docker', ['rm', '--force', '--volumes', name]);
    await run('docker', ['volume', 'rm', volume]);
    await sim?.close();
    await database?.close();
    if (secrets) rmSync(secrets, { recursive: true, force: true });
  });

  it('is configured as documented: tini, the CLI, the daemon by default, uid 1000, /data, the port', async () => {
    const { Config, Size } = await inspect(image);
    console.log(
      `[pushloss tests] ${image}: ${Math.round(Size! / 1e6)} MB` +
        (Config.Labels?.['pushloss.stand-in'] ? ' (on a STAND-IN base image)' : ''),
    );
    expect(Config.Entrypoint).toEqual(['/usr/bin/tini', '--', 'node', 'dist/src/cli/main.js']);
    expect(Config.Cmd).toEqual(['daemon']);
    expect(Config.User).toBe('node');
    // The image's own variables (beyond its base's) are the app's, and give /data and migrations.
    const base = await inspect(read('Dockerfile').match(/^ARG NODE_IMAGE=(.+)$/m)![1]!);
    const env = Object.fromEntries(
      Config.Env.filter((v) => !base.Config.Env.includes(v)).map((v) => v.split(/=(.*)/s).slice(0, 2)),
    ) as Record<string, string>;
    const example = read('.env.example');
    for (const variable of Object.keys(env))
      if (variable !== 'NODE_ENV') expect(example, `${variable} is not in .env.example`).toMatch(`\n${variable}=`);
    const config = loadConfig({ ...env, TIM_SDKAPPID: String(APP), TIM_SECRET_KEY: 'k' });
    expect(config.dataDir).toBe('/data');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.migrateOnStart).toBe(true);
    expect(Object.keys(Config.Volumes ?? {})).toEqual(['/data']);
    expect(Object.keys(Config.ExposedPorts ?? {})).toEqual([`${config.daemon.httpPort}/tcp`]);
    expect(Config.Healthcheck?.Test.join(' ')).toContain('/healthz');
  });

  it('holds the compiled program, its migrations and production dependencies only', async () => {
    const listing = await docker(
      'run',
      '--rm',
      '--entrypoint=node',
      image,
      '-e',
      `const fs = require('fs');
       console.log(JSON.stringify({
         app: fs.readdirSync('/app').sort(),
         migrations: fs.readdirSync('/app/dist/migrations').filter((f) => f.endsWith('.js')).length,
         main: fs.existsSync('/app/dist/src/cli/main.js'),
         modules: fs.readdirSync('/app/node_modules'),
       }))`,
    );
    const found = JSON.parse(listing) as { app: string[]; migrations: number; main: boolean; modules: string[] };
    expect(found.app).toEqual(['dist', 'node_modules', 'package-lock.json', 'package.json']);
    expect(found.main).toBe(true);
    expect(found.migrations).toBeGreaterThan(0);
    const pkg = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };
    for (const dev of Object.keys(pkg.devDependencies)) expect(found.modules, dev).not.toContain(dev.split('/')[0]);
  });

  it('keeps secrets, local data and build output out of the build context (.dockerignore)', async () => {
    // The engine's own reading of .dockerignore: a context with planted files, copied whole.
    const kept = ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli/main.ts', 'migrations/0001_a.ts'];
    const left = [
      '.env',
      '.env.production',
      'src/.env',
      'src/tls/server.pem',
      'secrets/tim.key',
      'data/pgdata/PG_VERSION',
      'node_modules/pg/package.json',
      'dist/src/cli/main.js',
      '.git/config',
      'test/system/cli.test.ts',
      'docker-compose.yml',
    ];
    const context = mkdtempSync(join(tmpdir(), 'pushloss-context-'));
    const tag = `${name}-context`;
    try {
      for (const file of [...kept, ...left]) {
        mkdirSync(join(context, file, '..'), { recursive: true });
        writeFileSync(join(context, file), 'planted');
      }
      writeFileSync(join(context, '.dockerignore'), read('.dockerignore'));
      // The engine always reads the Dockerfile, but COPY never sees it when .dockerignore leaves it out.
      writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nCOPY . /context\n`);
      await docker('build', '--quiet', `--tag=${tag}`, context);
      const copied = await docker('run', '--rm', '--entrypoint=find', tag, '/context', '-type', 'f');
      expect(
        copied
          .split('\n')
          .map((path) => path.slice('/context/'.length))
          .sort(),
      ).toEqual([...kept].sort());
    } finally {
      await run('docker', ['rmi', tag]);
      rmSync(context, { recursive: true, force: true });
    }
  });

  it('turns healthy by its own HEALTHCHECK, having migrated the empty database', async () => {
    await eventually(async () => ((await health(name)) === 'healthy' ? true : undefined), 60_000, 'healthy');
    const logs = await run('docker', ['logs', name]);
    expect(logs.stdout).toContain('database schema migrated');
  }, 90_000);

  it('counts calls on /metrics', async () => {
    const ok = await eventually(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith('pushloss_calls_total{') && l.includes(`"${APP}"`));
        return line && Number(line.split(' ').pop()) > 0 ? line : undefined;
      },
      30_000,
      'a call counted in pushloss_calls_total',
    );
    expect(ok).toContain('outcome="ok"');
    expect(sim.calls.length).toBeGreaterThan(0);
  }, 40_000);

  it('runs as uid 1000 under tini as PID 1, on a read-only root, with no capabilities', async () => {
    const { HostConfig } = await inspect(name);
    expect(HostConfig).toMatchObject({ ReadonlyRootfs: true, CapDrop: ['ALL'] });
    expect(await docker('exec', name, 'id', '-u')).toBe('1000');
    expect(await docker('exec', name, 'cat', '/proc/1/comm')).toBe('tini');
    const status = await docker('exec', name, 'cat', '/proc/1/status');
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapBnd:\s+0+$/m);
    const write = await run('docker', ['exec', name, 'touch', '/app/written']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('Read-only file system');
  });

  it('on docker stop, finishes and commits the call in flight and exits 0 within the grace period', async () => {
    // The next call to arrive is answered after 4 s: it is in flight when the stop comes.
    const before = sim.calls.length;
    sim.fail({ kind: 'slow', ms: 4_000 });
    await sim.waitForCalls(before + 1);
    expect(sim.calls[before]!.injected).toBe('slow');
    const stopping = Date.now();
    // docker's default grace, 10 s, after which it would SIGKILL (exit code 137).
    await docker('stop', '--time=10', name);
    const took = Date.now() - stopping;
    const { State } = await inspect(name);
    expect(State).toMatchObject({ Status: 'exited', ExitCode: 0, OOMKilled: false });
    expect(took).toBeLessThan(10_000);
    expect(took).toBeGreaterThan(1_000); // it did wait for the slow answer
    expect(sim.calls[before]!.httpStatus).toBe(200);
    expect((await run('docker', ['logs', name])).stdout).toContain('daemon stopped');
    // Every answered call is archived, the one in flight at the stop included.
    expect(await archivedCalls()).toBe(sim.calls.filter((call) => call.httpStatus !== null).length);
  }, 40_000);

  it('shows no secret in docker logs or docker inspect', async () => {
    const logs = await run('docker', ['logs', name]);
    const inspected = await docker('inspect', name);
    for (const text of [logs.stdout, logs.stderr, inspected]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(databasePassword);
      expect(text.toLowerCase()).not.toContain('usersig=');
    }
  });

  it('runs migrate, backfill, status and report as `docker run IMAGE <command>`', async () => {
    const migrate = await runImage('server', 'migrate');
    expect(migrate.code, migrate.stderr).toBe(0);

    const before = await archivedCalls();
    const backfill = await runImage('server', 'backfill', '--from', beijingDay(-3), '--to', beijingDay(-2));
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.stdout).toMatch(/backfill done: 2 loaded/);
    expect(await archivedCalls()).toBe(before + 2);

    const status = await runImage('server', 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    const [app] = (JSON.parse(status.stdout) as { apps: Array<{ sdkappid: number; buckets: Bucket[] }> }).apps;
    expect(app!.sdkappid).toBe(APP);
    expectCollected(app!.buckets);

    const report = await runImage('server', 'report', '--days', '7', '--format', 'csv');
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout.trim().split('\n').length).toBeGreaterThan(1);
  }, 120_000);

  it('uses the embedded database in the /data volume without DATABASE_URL', async () => {
    const collect = await runImage('embedded', 'collect');
    expect(collect.code, collect.stderr).toBe(0);
    // A new container on the same volume finds what the first one collected.
    const status = await runImage('embedded', 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    const [app] = (JSON.parse(status.stdout) as { apps: Array<{ buckets: Bucket[] }> }).apps;
    expectCollected(app!.buckets);
    const owner = await docker(
      'run',
      '--rm',
      `--volume=${volume}:/data`,
      '--entrypoint=stat',
      image,
      '-c',
      '%u',
      '/data',
    );
    expect(owner).toBe('1000');
  }, 120_000);
});

interface Bucket {
  /** Epoch seconds. */
  end: number;
  condition: 'final' | 'pending' | 'missing' | 'lost';
}

/**
 * Every day bucket that ended within the API's 7-day horizon was collected: pending, as nothing
 * settles with SETTLE_AFTER=30d. There are 6 of them, 7 when today's has begun to be fetched too.
 */
function expectCollected(buckets: Bucket[]) {
  const ended = buckets.filter((b) => b.condition !== 'lost' && b.end * 1000 <= Date.now());
  expect(ended.length).toBeGreaterThanOrEqual(6);
  expect(ended.map((b) => b.condition)).toEqual(ended.map(() => 'pending'));
}
