/**
 * The container files against the app, without Docker: the environment docker-compose.yml gives
 * pushloss must be a configuration the app accepts, so that a renamed variable breaks here rather
 * than at `docker compose up`. The image and compose themselves run for real in
 * test/system/container.image.test.ts and test/system/container.compose.test.ts (`bash scripts/containers.sh`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// yaml comes with the dev dependencies (testcontainers' docker-compose uses it).
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/config.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
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
  it('builds on the Node the lockfile pins for the tests, on a pinned bookworm slim base', () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> };
    expect(read('Dockerfile')).toMatch(
      new RegExp(`^ARG NODE_IMAGE=node:${lock.packages['node_modules/node']!.version}-bookworm-slim$`, 'm'),
    );
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
    expect(service.ports).toEqual([`127.0.0.1:${config.daemon.httpPort}:${config.daemon.httpPort}`]);
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
      expect(existsSync(new URL(`../../${mount.split(':')[0]}`, import.meta.url)), mount).toBe(true);
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
