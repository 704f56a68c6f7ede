/**
 * The domain of `v4/timpush/normal_push_loss`: what one answer says, independent of how the
 * JSON happened to be shaped on the wire.
 */

/** Where in the push pipeline a notification was lost. */
export type LossStage = 'ready_to_send' | 'post_send_delivered';

/**
 * One line of one of the four loss arrays. `platform` is null for the two overall arrays
 * (ReadyToSendLoss, PostSendDeliveredLoss) and the vendor number for the per-platform arrays,
 * so overall and per-channel counts can never be summed together by accident.
 */
export interface LossEntry {
  stage: LossStage;
  platform: number | null;
  errCode: string;
  errInfo: string;
  errCount: number;
}

/** A time window in unix seconds, `start` inclusive, `end` exclusive. */
export interface Window {
  start: number;
  end: number;
}

/** The four arrays of the API, their stage and whether they are per platform. */
export const LOSS_ARRAYS = [
  { field: 'ReadyToSendLoss', stage: 'ready_to_send', perPlatform: false },
  { field: 'PostSendDeliveredLoss', stage: 'post_send_delivered', perPlatform: false },
  { field: 'PlatformReadyToSendLoss', stage: 'ready_to_send', perPlatform: true },
  { field: 'PlatformPostSendDeliveredLoss', stage: 'post_send_delivered', perPlatform: true },
] as const satisfies ReadonlyArray<{ field: string; stage: LossStage; perPlatform: boolean }>;

/** How one HTTP exchange with the API ended; every call is archived with its outcome. */
export type CallOutcome =
  | 'ok' // ActionStatus OK and a body we could read exactly
  | 'retryable' // network, timeout, 5xx, or a transient Tencent code
  | 'rate_limited' // a Tencent rate-limit code
  | 'renew_signature' // 70001: the UserSig expired
  | 'fatal' // configuration or permission problem: stop this app
  | 'invalid_response'; // HTTP 200 but a body we cannot read without guessing

/**
 * The archive's view of one API call. Holds no secret: the URL with its UserSig is never kept.
 * `body` is the response text as received (null when no response arrived), with the current
 * UserSig and the secret key scrubbed should the upstream have echoed them.
 */
export interface CallRecord {
  sdkappid: number;
  window: Window;
  /** Milliseconds since the epoch when the request was sent. */
  startedAt: number;
  durationMs: number;
  attempt: number;
  host: string;
  /** The `TaskID` list asked for: the task-push APIs only, empty for their overall numbers. */
  taskIds?: readonly string[];
  httpStatus: number | null;
  actionStatus: string | null;
  errorCode: number | null;
  errorInfo: string | null;
  requestId: string | null;
  body: string | null;
  /**
   * The exact bytes, when `body` cannot be exact: the answer held U+0000 (shown as U+FFFD in
   * `body`) or was not valid UTF-8. Absent or null otherwise.
   */
  bodyRaw?: Uint8Array | null;
  /** Bytes received (decompressed); more than `body` holds when truncated. */
  bodyBytes?: number | null;
  /** The answer was refused for its size or cut off: `body` holds only its beginning. */
  bodyTruncated?: boolean;
  outcome: CallOutcome;
}
