/**
 * The JSON texts the simulator answers with, shaped like Tencent's envelopes.
 */
import { LOSS_ARRAYS, type LossEntry } from '../tencent/loss.ts';

/**
 * Where the four loss arrays sit. The documentation's sample puts them in an unnamed object
 * (not valid JSON), so nobody knows for sure: `flat` puts them at the top level beside
 * `ActionStatus` (the likeliest real shape), `nested` inside one object under {@link NESTED_KEY}.
 */
export type ResponseShape = 'flat' | 'nested';

/** The key of the nested object in the `nested` shape. */
const NESTED_KEY = 'Data';

/**
 * The success body for these entries: the four arrays, each present even when empty.
 * Entries with `platform: null` go to the overall arrays, the others to the `Platform*` arrays
 * with their `PushPlatform`.
 */
export function toResponseBody(entries: readonly LossEntry[], shape: ResponseShape = 'flat'): string {
  const arrays = toLossArrays(entries);
  const envelope = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };
  return JSON.stringify(shape === 'nested' ? { ...envelope, [NESTED_KEY]: arrays } : { ...envelope, ...arrays });
}

/** The four loss arrays of these entries; an `eventType` (task pushes) is sent as `EventType`. */
export function toLossArrays(
  entries: ReadonlyArray<LossEntry & { eventType?: number | null }>,
): Record<string, unknown[]> {
  const arrays: Record<string, unknown[]> = {};
  for (const spec of LOSS_ARRAYS) {
    arrays[spec.field] = entries
      .filter((e) => e.stage === spec.stage && (e.platform !== null) === spec.perPlatform)
      .map((e) =>
        e.platform === null
          ? { ErrCode: e.errCode, ErrCount: e.errCount, ErrInfo: e.errInfo }
          : {
              PushPlatform: e.platform,
              ...(typeof e.eventType === 'number' && { EventType: e.eventType }),
              ErrCode: e.errCode,
              ErrCount: e.errCount,
              ErrInfo: e.errInfo,
            },
      );
  }
  return arrays;
}

/** A Tencent failure envelope: `{"ActionStatus":"FAIL","ErrorCode":code,"ErrorInfo":info}`. */
export function failureBody(code: number, info: string): string {
  return JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: info });
}
