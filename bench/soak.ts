/**
 * The time-warp soak (test/soak): weeks of simulated outages and faults in minutes, with the
 * promise checked bucket by bucket after every simulated day.
 *
 *   npm run soak                          # seeds 1, 2 and 3, 60 simulated days each
 *   npm run soak -- --seed 7 --days 14    # one seed (replays a failure printed by a run)
 *
 * Needs PostgreSQL (the soak cuts the connection to it): SOAK_DATABASE_URL, else TEST_DATABASE_URL,
 * else postgres://postgres@127.0.0.1:5432/postgres. A scratch database is created and dropped.
 */
import { parseArgs } from 'node:util';
import { runSoak, type SoakReport } from '../test/soak/soak.ts';

const { values } = parseArgs({
  options: { seed: { type: 'string', multiple: true }, days: { type: 'string' }, quiet: { type: 'boolean' } },
});
const seeds = (values.seed ?? ['1', '2', '3']).map(Number);
const days = Number(values.days ?? 60);
if (seeds.some((s) => !Number.isInteger(s)) || !Number.isInteger(days) || days < 2) {
  console.error('soak: --seed takes an integer (repeatable) and --days an integer of at least 2');
  process.exit(2);
}
const serverUrl =
  process.env.SOAK_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const reports: SoakReport[] = [];
for (const seed of seeds) {
  const report = await runSoak({
    seed,
    days,
    serverUrl,
    progress: values.quiet ? undefined : (line) => console.error(line),
  });
  reports.push(report);
  const { violations, ...figures } = report;
  console.log(JSON.stringify(figures));
  for (const v of violations.slice(0, 20)) {
    console.error(
      `VIOLATION seed ${v.seed} day ${v.day} [${v.invariant}]` +
        `${v.app ? ` app ${v.app}` : ''}${v.bucketSize ? ` ${v.bucketSize}` : ''}${v.bucket ? ` bucket ${v.bucket}` : ''}: ${v.detail}`,
    );
  }
  if (violations.length > 0) {
    console.error(`replay: npm run soak -- --seed ${seed} --days ${days}`);
    process.exitCode = 1;
  }
}
