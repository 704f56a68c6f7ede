/**
 * End to end, for real: Debian's prometheus and prometheus-alertmanager, the daemon as a child
 * process and the HTTP simulator. The simulator spikes APNs ready-to-send loss for one app; the
 * daemon's first pass finds it (push_loss_anomalies) and exports it on /metrics; Prometheus
 * scrapes it with the project's rules (prometheus/alerts.yml) and Alertmanager routes the alert to
 * a webhook receiver on loopback. An unspiked run sends nothing. Skipped, with the reason, where
 * prometheus is not installed (scripts/check-alerts.sh installs it as root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startSimulator, withAnomalies, type InjectedAnomaly } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { eventually, freePort, spawnCli } from '../helpers/process.ts';

const RULES = fileURLToPath(new URL('../../prometheus/alerts.yml', import.meta.url));
const installed = (binary: string) => spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0;
const missing = ['prometheus', 'prometheus-alertmanager'].filter((binary) => !installed(binary));

interface Notification {
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
}

/** A running stack, on a database of its own; `stop()` ends every process it started, last first. */
async function startStack(app: number, anomalies: InjectedAnomaly[]) {
  const t = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pushloss-alerts-'));
  const [daemonPort, promPort, amPort, hookPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const received: Notification[] = [];
  const hook: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push(JSON.parse(body) as Notification);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(hookPort, '127.0.0.1', resolve));
  const sim = await startSimulator({ apps: simulatorApps([app]), minIntervalMs: 25, ...withAnomalies(anomalies) });

  writeFileSync(
    join(dir, 'alertmanager.yml'),
    `route: {receiver: hook, group_by: [alertname, sdkappid], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers: [{name: hook, webhook_configs: [{url: "http://127.0.0.1:${hookPort}/"}]}]
`,
  );
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [${JSON.stringify(RULES)}]
alerting: {alertmanagers: [{static_configs: [{targets: ["127.0.0.1:${amPort}"]}]}]}
scrape_configs: [{job_name: pushloss, static_configs: [{targets: ["127.0.0.1:${daemonPort}"]}]}]
`,
  );
  const processes: ChildProcess[] = [];
  const run = (command: string, args: string[]) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    processes.push(child);
    return child;
  };
  run('prometheus-alertmanager', [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'am')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    '--cluster.listen-address=',
  ]);
  run('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  const database: Record<string, string> = t.url ? { DATABASE_URL: t.url } : { PUSHLOSS_DATA_DIR: join(dir, 'data') };
  const daemon = spawnCli(['daemon'], {
    ...simulatorEnv(sim.url, [app], { LOG_LEVEL: 'info' }),
    ...database,
    HTTP_PORT: String(daemonPort),
  });
  processes.push(daemon.child);

  const metrics = async () => {
    try {
      return await (await fetch(`http://127.0.0.1:${daemonPort}/metrics`)).text();
    } catch {
      return '';
    }
  };
  /** Resolves once Prometheus has scraped the detection of a finished pass (the gauge is 0 before it). */
  const detectionScraped = () =>
    eventually(
      async () => {
        try {
          const answer = (await (
            await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=pushloss_detection_timestamp_seconds%3E0`)
          ).json()) as { data: { result: unknown[] } };
          return answer.data.result.length > 0 ? true : undefined;
        } catch {
          return undefined;
        }
      },
      120_000,
      `Prometheus scraping the daemon's detection (daemon log: ${daemon.stderr().slice(-500)})`,
    );
  const stop = async () => {
    for (const child of processes.reverse()) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    }
    await sim.close();
    await new Promise((resolve) => hook.close(resolve));
    await t.close();
  };
  return { received, metrics, detectionScraped, stop };
}

describe.skipIf(missing.length > 0)('alerts end to end (prometheus, alertmanager, daemon, simulator)', () => {
  it('routes PushLossSpike for the spiked app and channel, with the fix in its description', async () => {
    const app = 1400000901;
    // Six hours back, so the spike has hours behind it whatever the time of day (the simulator
    // answers finished hours only); it is today's, or yesterday's evening as well just after midnight.
    const from = Math.floor(Date.now() / 1000) - 6 * 3600;
    const stack = await startStack(app, [{ kind: 'spike', sdkappid: app, stage: 'ready_to_send', platform: 1, from }]);
    try {
      const spike = await eventually(
        () =>
          stack.received
            .flatMap((n) => n.alerts)
            .find((a) => a.labels.alertname === 'PushLossSpike' && a.status === 'firing'),
        180_000,
        'PushLossSpike at the webhook receiver',
      );
      expect(spike.labels).toMatchObject({
        sdkappid: String(app),
        stage: 'ready_to_send',
        platform_name: 'APNs',
        err_code: '-1',
      });
      expect(spike.annotations.description).toContain('Certificate ID not set');
      expect(spike.annotations.description).toContain('Upload the vendor certificate in the Tencent console');
      expect(spike.annotations.runbook_url).toBe('docs/operating.md#runbook-pushlossspike');
    } finally {
      await stack.stop();
    }
  }, 240_000);

  it('an unspiked run sends nothing', async () => {
    const app = 1400000902;
    const stack = await startStack(app, []);
    try {
      await stack.detectionScraped();
      expect(await stack.metrics()).toContain('pushloss_anomalies{kind="spike"} 0');
      // Rules evaluate every second and Alertmanager waits 1 s to group: 10 s is many cycles.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      expect(stack.received.flatMap((n) => n.alerts).map((a) => a.labels.alertname)).toEqual([]);
    } finally {
      await stack.stop();
    }
  }, 240_000);
});

describe.runIf(missing.length > 0)('alerts end to end', () => {
  it.skip(`needs ${missing.join(' and ')} (apt-get install -y prometheus prometheus-alertmanager)`, () => {});
});
