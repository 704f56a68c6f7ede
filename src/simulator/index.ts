/** The simulator's public surface, for the demo, the `simulator` command, the bench and tests. */
export { startSimulator } from './server.ts';
export type { Simulator, SimulatorOptions, SimCall, SimulatorApp, LossDataFn, FailureRule } from './server.ts';
