/**
 * The container files against the app, without Docker: what the image runs and the environment
 * docker-compose.yml gives it must be a command and a configuration the app accepts, so that a
 * renamed variable or command breaks here rather than at `docker compose up`.
 * scripts/validate-container.sh does the slow part (linters, emulated build and start).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// yaml comes with the dev dependencies (testcontainers' docker-compose uses it).
import { parse as parseYaml } from 'yaml';
import { commands } from '../src/cli/commands/index.ts';
import { loadConfig } from '../src/config/config.ts';
import {
  imageConfig,
  nodeImageVersion,
  parseDockerfile,
  parseDockerIgnore,
  runCommands,
} from '../scripts/container/dockerfile.ts';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const dockerfile = parseDockerfile(read('Dockerfile'));
const image = imageConfig(dockerfile);
const compose = parseYaml(read('docker-compose.yml')) as Compose;
const envExample = parseDotEnv(read('.env.example'));

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  env_file?: string | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
}

/** The values an operator puts in .env, per the README: .env.example plus the required ones. */
const operatorEnv: Record<string, string> = {
  ...envExample,
  TIM_SDKAPPID: '1400000001',
  TIM_SECRET_KEY: 'not-a-real-key',
  POSTGRES_PASSWORD: 'pg0123456789abcdef',
  PUSHLOSS_READER_PASSWORD: 'reader0123456789',
  GRAFANA_ADMIN_PASSWORD: 'admin0123456789',
};

describe('Dockerfile', () => {
  it('runs the Node the lockfile pins for the tests, on a pinned slim base', () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> };
    for (const stage of dockerfile.stages) {
      expect(nodeImageVersion(stage.from), stage.from).toEqual({
        version: lock.packages['node_modules/node']!.version,
        suite: 'bookworm',
      });
      expect(stage.from).toMatch(/-slim$/);
    }
  });

  it('builds with all dependencies, then keeps production dependencies and dist/ only', () => {
    const [build, runtime] = dockerfile.stages;
    const runs = (stage: typeof build) =>
      stage!.instructions.filter((i) => i.keyword === 'RUN').flatMap((i) => runCommands(i.args, i.line));
    expect(runs(build)).toEqual(expect.arrayContaining(['npm ci --no-audit --no-fund', 'npm run build']));
    expect(runs(runtime)).toContain('npm ci --omit=dev --no-audit --no-fund');
    const copies = runtime!.instructions
      .filter((i) => i.keyword === 'COPY')
      .map((i) => `${i.flags.from ?? ''} ${i.args}`.trim());
    expect(copies).toEqual(['package.json package-lock.json ./', 'build /app/dist ./dist']);
  });

  it('starts the compiled CLI under tini as a non-root user, with the daemon as the default command', () => {
    expect(image.entrypoint).toEqual(['/usr/bin/tini', '--', 'node', 'dist/src/cli/main.js']);
    // tsconfig.build.json compiles src/cli/main.ts to dist/src/cli/main.js (rootDir ".").
    const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(`${build.compilerOptions.outDir}/src/cli/main.js`).toBe(image.entrypoint[3]);
    expect(build.compilerOptions.rootDir).toBe('.');
    expect(image.cmd).toEqual(['daemon']);
    expect(commands.map((c) => c.name)).toEqual(expect.arrayContaining(['daemon', 'simulator', 'status', 'migrate']));
    expect(image.user).toBe('node');
  });

  it('sets only variables the app knows, and they give /data, migrations at start, the exposed port', () => {
    for (const name of Object.keys(image.env)) {
      if (name !== 'NODE_ENV') expect(envExample, `${name} is not documented in .env.example`).toHaveProperty(name);
    }
    const config = loadConfig({ ...image.env, TIM_SDKAPPID: '1400000001', TIM_SECRET_KEY: 'k' });
    expect(config.dataDir).toBe('/data');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.migrateOnStart).toBe(true);
    expect(image.volumes).toContain(config.dataDir);
    expect(image.expose).toEqual([String(config.daemon.httpPort)]);
  });

  it('health-checks /healthz on HTTP_PORT, falling back to the exposed port', () => {
    const test = image.healthcheck!.test;
    expect(test.slice(0, 2)).toEqual(['node', '-e']);
    expect(test[2]).toContain("'/healthz'");
    expect(test[2]).toContain(`process.env.HTTP_PORT||${image.expose[0]}`);
  });
});

describe('Dockerfile reading (scripts/container)', () => {
  it('refuses what the emulation could not reproduce faithfully', () => {
    const config = (text: string) => imageConfig(parseDockerfile(`FROM node:24.21.0-bookworm-slim\n${text}`));
    expect(() => config('CMD node dist/src/cli/main.js daemon')).toThrow(/JSON \(exec\) form/);
    expect(() => config('ENV A=$HOME')).toThrow(/substitution/);
    expect(() => parseDockerfile('FROM node:24\nONBUILD RUN x')).toThrow(/ONBUILD/);
    expect(() => runCommands('npm ci; npm run build', 1)).toThrow(/&&/);
    expect(config('ENTRYPOINT ["a"]\nCMD ["b"]\nENV X=1 \\\n  Y="two words"')).toMatchObject({
      entrypoint: ['a'],
      cmd: ['b'],
      env: { X: '1', Y: 'two words' },
    });
  });
});

describe('.dockerignore', () => {
  const ignore = parseDockerIgnore(read('.dockerignore'));

  it('lets in what the Dockerfile copies', () => {
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/cli/main.ts',
      'src/db/migrate.ts',
      'migrations/0001_warehouse.ts',
    ]) {
      expect(ignore.excludes(path), path).toBe(false);
    }
    for (const copy of dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && i.flags.from === undefined)) {
      for (const source of copy.args.split(/\s+/).slice(0, -1))
        expect(existsSync(new URL(`../${source}`, import.meta.url)) && !ignore.excludes(source), source).toBe(true);
    }
  });

  it('keeps secrets, local data and build output out of the context', () => {
    for (const path of [
      '.env',
      '.env.production',
      'src/.env',
      'data/pgdata/PG_VERSION',
      'data/pushloss.lock',
      'node_modules/pg/package.json',
      'dist/src/cli/main.js',
      '.git/config',
      'test/cli.test.ts',
      'secrets/tim.key',
      'src/tls/server.pem',
      'docker-compose.yml',
    ]) {
      expect(ignore.excludes(path), path).toBe(true);
    }
  });
});

describe('docker-compose.yml', () => {
  const services = compose.services;

  it('pins every image by version', () => {
    expect(services.postgres!.image).toMatch(/^postgres:17\.\d+-bookworm$/);
    expect(services.grafana!.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(services.pushloss!.build).toBe('.');
  });

  it('documents every variable it reads in .env.example', () => {
    const used = new Set([...read('docker-compose.yml').matchAll(/\$\{(\w+)/g)].map((m) => m[1]!));
    for (const name of used) expect(envExample, `${name} is not in .env.example`).toHaveProperty(name);
  });

  it('gives pushloss an environment the app accepts: the postgres service, /data, port 9464', () => {
    const service = services.pushloss!;
    expect(service.env_file).toBe('.env');
    // env_file first, `environment` over it, both after compose's ${...} interpolation from .env.
    const env = {
      ...operatorEnv,
      ...Object.fromEntries(
        Object.entries(service.environment!).map(([k, v]) => [k, interpolate(String(v), operatorEnv)]),
      ),
    };
    const config = loadConfig(env);
    expect(config.databaseUrl).toBe(`postgres://pushloss:${operatorEnv.POSTGRES_PASSWORD}@postgres:5432/pushloss`);
    expect(new URL(config.databaseUrl!).pathname).toBe(`/${services.postgres!.environment!.POSTGRES_DB}`);
    expect(new URL(config.databaseUrl!).username).toBe(services.postgres!.environment!.POSTGRES_USER);
    expect(config.dataDir).toBe('/data');
    expect(service.volumes).toContain(`pushloss-data:${config.dataDir}`);
    expect(service.ports).toEqual([`127.0.0.1:${config.daemon.httpPort}:${image.expose[0]}`]);
    expect(service.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it('refuses to start without the compose passwords', () => {
    for (const name of ['POSTGRES_PASSWORD', 'PUSHLOSS_READER_PASSWORD', 'GRAFANA_ADMIN_PASSWORD']) {
      const env = { ...operatorEnv, [name]: '' };
      const values = Object.values(services).flatMap((s) => Object.values(s.environment ?? {}));
      expect(() => values.forEach((v) => interpolate(String(v), env)), name).toThrow(name);
    }
  });

  it('mounts the Grafana provisioning that exists, with the password its data source reads', () => {
    const mounts = Object.values(services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.startsWith('./'));
    expect(mounts.length).toBeGreaterThan(0);
    for (const mount of mounts)
      expect(existsSync(new URL(`../${mount.split(':')[0]}`, import.meta.url)), mount).toBe(true);
    const datasource = read('grafana/provisioning/datasources/pushloss.yaml')
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .join('\n');
    for (const [, name] of datasource.matchAll(/\$\{?(\w+)\}?/g))
      expect(services.grafana!.environment, `grafana needs ${name}`).toHaveProperty(name!);
    expect(services.postgres!.environment).toHaveProperty('PUSHLOSS_READER_PASSWORD');
    expect(services.grafana!.depends_on?.pushloss).toEqual({ condition: 'service_healthy' });
  });
});

/** KEY=value lines of a .env file (comments and blank lines skipped; values taken as written). */
function parseDotEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_]\w*)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!;
  }
  return env;
}

/** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error} (throws naming VAR), $$. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}/g, (match, name?: string, op?: string, arg?: string) => {
    if (match === '$$') return '$';
    const current = env[name!] ?? '';
    if (current !== '') return current;
    if (op === '?') throw new Error(`${name}: ${arg}`);
    return op === '-' ? arg! : '';
  });
}
