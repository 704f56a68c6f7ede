/** The simulator's public surface, for the demo, the `simulator` command, the bench and tests. */
export { startSimulator } from './server.ts';
/** @public the simulator's handle, options and recorded calls, for tests and tools */
export type { Simulator, SimulatorOptions, SimCall } from './server.ts';
export { parseAnomaly, withAnomalies } from './anomalies.ts';
export type { InjectedAnomaly } from './anomalies.ts';
/** @public how the simulator's counts settle with age, for tests and the soak */
export { SETTLED_AT_ONCE, SETTLING_OVER_DAYS, STEP, type SettleCurve, type SettleModel } from './settling.ts';
