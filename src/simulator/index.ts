/** The simulator's public surface, for tests, the demo and the `simulator` command. */
export { startSimulator } from './server.ts';
export type {
  Simulator,
  SimulatorOptions,
  SimCall,
  SimulatorApp,
  LossDataFn,
  FailureRule,
  FailureScope,
  ResponseShape,
} from './server.ts';
export { defaultLossData, hourLossData, sumLossEntries } from './lossData.ts';
export { toResponseBody, failureBody, NESTED_KEY } from './responseBody.ts';
export { API_PATH } from './requestChecks.ts';
export { finishedPart } from './answer.ts';
export { decodeUserSig, verifyUserSig } from './usersigCheck.ts';
