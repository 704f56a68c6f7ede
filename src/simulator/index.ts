/** The simulator's public surface, for the demo, the `simulator` command, the bench and tests. */
export { startSimulator } from './server.ts';
/** @public the simulator's handle, options and recorded calls, for tests and tools */
export type { Simulator, SimulatorOptions, SimCall } from './server.ts';
export { parseAnomaly, withAnomalies } from './anomalies.ts';
export type { InjectedAnomaly } from './anomalies.ts';
