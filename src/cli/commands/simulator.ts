import { requireApps } from '../../config/config.ts';
import {
  parseAnomaly,
  SETTLED_AT_ONCE,
  SETTLING_OVER_DAYS,
  startSimulator,
  withAnomalies,
  type InjectedAnomaly,
} from '../../simulator/index.ts';
import { UsageError, untilAborted, type Command } from '../command.ts';

/**
 * Serves the API simulator for the configured apps (their secret keys and identifiers), so a
 * deployment can be tried end to end on one machine without touching Tencent.
 */
export const simulatorCommand: Command = {
  name: 'simulator',
  summary: 'serve a local simulator of the Tencent API for the configured apps (testing)',
  usage: `pushloss simulator [--port <port>] [--settling] [--inject <anomaly>]...

Serves v4/timpush/normal_push_loss on http://127.0.0.1:<port> for the configured apps, checking
UserSig, random, body, window and the 1 call/second cap as documented, with deterministic loss
data. Point pushloss at it with TIM_BASE_URL=http://127.0.0.1:<port>. Stops on SIGTERM / SIGINT.
  --port       default 8089
  --settling   counts keep growing after their hour ends, as vendors report late: post-send
               loss and delivery settle over 5 days, clicks over 10 (default: complete at once)
  --inject     add an anomaly to the data, from an instant on (repeatable):
               kind=spike|new_code|failing,app=<sdkappid>,stage=ready_to_send|post_send_delivered,
               platform=<PushPlatform>[,from=<ISO instant, default now>][,code=<ErrCode>][,rate=<0..1>]
               e.g. kind=spike,app=1400000001,stage=ready_to_send,platform=1 (APNs, 30 % lost from now)`,
  options: { port: { type: 'string' }, settling: { type: 'boolean' }, inject: { type: 'string', multiple: true } },
  async run({ config, out, signal }, values) {
    const port = Number(values.port ?? '8089');
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`simulator: --port "${String(values.port)}" is not a port number`);
    const apps = requireApps(config).map((app) => ({
      sdkappid: app.sdkappid,
      secretKey: app.secretKey.reveal(),
      identifier: app.identifier,
    }));
    if (values.settling && values.inject)
      throw new UsageError('simulator: --inject adds to complete data; give it without --settling');
    const anomalies: InjectedAnomaly[] = [];
    for (const text of (values.inject as string[] | undefined) ?? []) {
      try {
        anomalies.push(parseAnomaly(text, Math.floor(Date.now() / 1000)));
      } catch (error) {
        throw new UsageError(`simulator: ${(error as Error).message}`);
      }
    }
    const sim = await startSimulator({
      apps,
      port,
      settle: values.settling ? SETTLING_OVER_DAYS : SETTLED_AT_ONCE,
      ...withAnomalies(anomalies),
    });
    for (const a of anomalies)
      out(
        `injecting ${a.kind} for app ${a.sdkappid}, ${a.stage}, platform ${a.platform}, from ${new Date(a.from * 1000).toISOString()}`,
      );
    out(`simulator listening on ${sim.url} for app(s) ${apps.map((a) => a.sdkappid).join(', ')}`);
    await untilAborted(signal);
    await sim.close();
    out(`simulator stopped after ${sim.calls.length} call(s)`);
    return 0;
  },
};
