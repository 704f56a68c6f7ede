/**
 * The simulator in a process of its own, so the arrival times it judges the rate cap by are not
 * skewed by the collector's work on the same event loop. Usage: simulatorProcess.ts <first
 * sdkappid> <count>. Prints its URL, and on SIGTERM one JSON line of call statistics.
 */
import { startSimulator } from '../src/simulator/index.ts';

const [first, count] = process.argv.slice(2).map(Number) as [number, number];
const sdkappids = Array.from({ length: count }, (_, i) => first + i);
const sim = await startSimulator({ apps: sdkappids.map((sdkappid) => ({ sdkappid, secretKey: `bench-${sdkappid}` })) });
console.log(sim.url);
process.once('SIGTERM', () => void reportAndExit());
async function reportAndExit(): Promise<void> {
  const byApp = Map.groupBy(sim.calls, (call) => call.sdkappid);
  let minGapMs = Infinity;
  for (const calls of byApp.values()) {
    const times = calls.map((call) => call.receivedAtMono).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) minGapMs = Math.min(minGapMs, times[i]! - times[i - 1]!);
  }
  console.log(
    JSON.stringify({
      calls: sim.calls.length,
      refusedForRate: sim.calls.filter((c) => c.errorCode === 60011).length,
      minGapMs: Math.round(minGapMs),
    }),
  );
  await sim.close();
  process.exit(0);
}
