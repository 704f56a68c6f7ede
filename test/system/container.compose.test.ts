/**
 * docker-compose.yml, for real: `up` with the Compose that is installed (Debian's docker-compose
 * 1.29, or the docker compose plugin), laid out as an operator lays it out (a copy of the file,
 * grafana/ and a .env made from .env.example), plus test/docker-compose.check.yml: the image
 * under test, and the simulator inside pushloss's network namespace. Grafana is not started (no
 * image where no registry is reachable); its provisioning is checked by test/bi/dashboard.test.ts.
 *
 * Runs when PUSHLOSS_IMAGE names a built image, as `bash scripts/containers.sh` does; skipped
 * otherwise.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, health, run, type Ran } from '../helpers/docker.ts';
import { eventually } from '../helpers/process.ts';

const IMAGE = process.env.PUSHLOSS_IMAGE;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const APP = 1400000801;

describe.runIf(IMAGE)('docker-compose.yml with a real engine', () => {
  const project = `pushloss-check-${randomBytes(4).toString('hex')}`;
  const readerPassword = randomBytes(12).toString('hex');
  let dir: string;
  let compose: (...args: string[]) => Promise<Ran>;

  /** `psql -tA` in the postgres service; as pushloss over its socket unless `login` is given. */
  const psql = (sql: string, login?: { user: string; password: string }) =>
    compose(
      'exec',
      '-T',
      ...(login ? ['-e', `PGPASSWORD=${login.password}`] : []),
      'postgres',
      'psql',
      '-v',
      'ON_ERROR_STOP=1',
      '-tA',
      ...(login ? ['--host=127.0.0.1', `--username=${login.user}`] : ['--username=pushloss']),
      '--dbname=pushloss',
      '-c',
      sql,
    );
  const count = async (sql: string) => {
    const ran = await psql(sql);
    expect(ran.code, ran.stderr).toBe(0);
    return Number(ran.stdout.trim());
  };
  const container = async (service: string) => (await compose('ps', '-q', service)).stdout.trim();
  const healthy = async (...services: string[]) => {
    for (const service of services)
      await eventually(
        async () => ((await health(await container(service))) === 'healthy' ? true : undefined),
        90_000,
        `${service} healthy`,
      );
  };
  const up = async () => {
    const ran = await compose('up', '--detach', '--no-build', 'pushloss', 'simulator');
    expect(ran.code, ran.stderr).toBe(0);
  };

  beforeAll(async () => {
    // The installed Compose: the plugin (v2) if there is one, else Debian's docker-compose (v1).
    const plugin = (await run('docker', ['compose', 'version'])).code === 0;
    dir = mkdtempSync(join(tmpdir(), 'pushloss-compose-'));
    copyFileSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    copyFileSync(join(ROOT, 'test/docker-compose.check.yml'), join(dir, 'docker-compose.check.yml'));
    cpSync(join(ROOT, 'grafana'), join(dir, 'grafana'), { recursive: true });
    const values: Record<string, string> = {
      COMPOSE_PROJECT_NAME: project,
      TIM_SDKAPPID: String(APP),
      TIM_SECRET_KEY: randomBytes(16).toString('hex'),
      TIM_BASE_URL: 'http://127.0.0.1:8089',
      // A pass every 10 s: one that ran before the simulator listened is soon followed by another.
      COLLECT_CRON: '*/10 * * * * *',
      POSTGRES_PASSWORD: randomBytes(12).toString('hex'),
      PUSHLOSS_READER_PASSWORD: readerPassword,
      GRAFANA_ADMIN_PASSWORD: randomBytes(12).toString('hex'),
    };
    const env = readFileSync(join(ROOT, '.env.example'), 'utf8').replace(/^(\w+)=.*$/gm, (line, name: string) =>
      name in values ? `${name}=${values[name]}` : line,
    );
    writeFileSync(join(dir, '.env'), env);
    compose = (...args) =>
      run(
        plugin ? 'docker' : 'docker-compose',
        [...(plugin ? ['compose'] : []), '-f', 'docker-compose.yml', '-f', 'docker-compose.check.yml', ...args],
        { cwd: dir, env: { ...process.env, PUSHLOSS_IMAGE: IMAGE }, timeoutMs: 180_000 },
      );
    await up();
  }, 200_000);

  afterAll(async () => {
    if (!compose) return;
    const down = await compose('down', '--volumes', '--remove-orphans');
    if (down.code !== 0) console.error(down.stderr);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('takes its project name from .env (COMPOSE_PROJECT_NAME), and starts no Grafana', async () => {
    const names = await docker(
      'ps',
      '--filter',
      `label=com.docker.compose.project=${project}`,
      '--format',
      '{{.Names}}',
    );
    expect(names.split('\n').sort()).toEqual(
      ['postgres', 'pushloss', 'simulator'].map((s): unknown =>
        expect.stringMatching(new RegExp(`^${project}[-_]${s}[-_]1$`)),
      ),
    );
  });

  it('brings postgres and pushloss to healthy', async () => {
    await healthy('postgres', 'pushloss');
  }, 200_000);

  it('collects from the simulator into the postgres service', async () => {
    await eventually(
      async () => ((await count('select count(*) from push_loss')) > 0 ? true : undefined),
      60_000,
      'rows in push_loss',
    );
    expect(await count('select count(*) from tim_call where http_status = 200')).toBeGreaterThan(0);
    const metrics = await (await fetch('http://127.0.0.1:9464/metrics')).text();
    expect(metrics).toMatch(new RegExp(`^pushloss_calls_total\\{app="${APP}",feed="loss",outcome="ok"`, 'm'));
  }, 90_000);

  it("made Grafana's read-only login (grafana/init): it selects push_loss, not tim_call", async () => {
    const login = { user: 'pushloss_grafana', password: readerPassword };
    const views = await psql('select count(*) from push_loss', login);
    expect(views.code, views.stderr).toBe(0);
    expect(Number(views.stdout.trim())).toBeGreaterThan(0);
    const raw = await psql('select count(*) from tim_call', login);
    expect(raw.code).not.toBe(0);
    expect(raw.stderr).toContain('permission denied');
    const wrong = await psql('select 1', { user: 'pushloss_grafana', password: 'not-the-password' });
    expect(wrong.stderr).toContain('password authentication failed');
  });

  it('runs `run --rm pushloss status`', async () => {
    const status = await compose('run', '--rm', '-T', 'pushloss', 'status');
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(String(APP));
    expect(status.stdout).toMatch(/pending|final/);
  }, 60_000);

  it('keeps the data across down and up (named volumes)', async () => {
    // Stopped first, so no call commits between the two counts.
    const stop = await compose('stop', 'pushloss');
    expect(stop.code, stop.stderr).toBe(0);
    const calls = await count('select count(*) from tim_call');
    const last = await count('select max(id) from tim_call');
    const down = await compose('down');
    expect(down.code, down.stderr).toBe(0);
    expect(await container('postgres')).toBe('');
    await up();
    await healthy('postgres', 'pushloss');
    expect(await count(`select count(*) from tim_call where id <= ${last}`)).toBe(calls);
  }, 200_000);
});
