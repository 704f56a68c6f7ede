/**
 * The simulator's truth, for tests to compare the warehouse with: what it serves for an app and a
 * window at a given time, computed by the simulator's own functions (not by the code under test).
 */
import type { SimCall } from '../../src/simulator/index.ts';
export { finishedPart } from '../../src/simulator/answer.ts';
export { defaultLossData, sumLossEntries } from '../../src/simulator/lossData.ts';
export { toResponseBody } from '../../src/simulator/responseBody.ts';
export { defaultStatsData } from '../../src/simulator/statsData.ts';
export { allMemberLossData, allMemberStatsData, defaultTaskIds } from '../../src/simulator/allMemberData.ts';

/** The `StartTime` a recorded call asked for. */
export function startTimeOf(call: SimCall): number {
  return (JSON.parse(call.body) as { StartTime: number }).StartTime;
}
