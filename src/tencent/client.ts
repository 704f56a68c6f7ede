import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import axios, { type AxiosInstance } from 'axios';
import { redactText } from '../redact.ts';
import { systemClock, unixSeconds, type Clock } from '../clock.ts';
import { TIM_APIS, type FeedName } from './apis.ts';
import type { Logger } from '../log.ts';
import {
  NETWORK_FAILURE,
  TimApiError,
  backoffMs,
  classifyHttpStatus,
  classifyTencentCode,
  type FailureClass,
} from './errors.ts';
import type { CallRecord, LossEntry, Window } from './loss.ts';
import { inProcessGate, type CallGate } from './callGate.ts';
import { ANSWER_LIMITS, archivedBody, readLimitedBody, truncateDescription, type AnswerLimits } from './limits.ts';
import { parsePushLossBody, type Envelope, type ParsedBody } from './response.ts';
import { parseStatisticsBody, type PushStatistics } from './statistics.ts';
import {
  parseAllMemberLossBody,
  parseAllMemberStatisticsBody,
  taskIdsProblem,
  type TaskLoss,
  type TaskStatistics,
} from './allMember.ts';
import { UserSigSource } from './usersig.ts';
import type { Secret } from '../secret.ts';
import { describeWindowLimits, windowProblem, type WindowLimits } from './window.ts';

/**
 * One line for a failed exchange: the error's code and first line only (axios errors carry the
 * request URL, and with it the UserSig), scrubbed of the secrets all the same.
 */
function networkReason(error: unknown, deadline: AbortSignal, secrets: readonly string[], where = ''): string {
  const suffix = where ? ` ${where}` : '';
  if (deadline.aborted) return `no complete answer within REQUEST_TIMEOUT${suffix}`;
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return redactText(`${code ?? 'network error'}: ${String(message ?? '').split('\n')[0]}${suffix}`, secrets);
}

/** An API's documented window limits: as many days back as one window may span. */
export function documentedLimits(feed: FeedName): WindowLimits {
  const seconds = TIM_APIS[feed].documentedDays * 86_400;
  return { horizonSeconds: seconds, maxSpanSeconds: seconds };
}

/** The app as the client needs it (the configuration's `AppConfig` is one). */
export interface TimApp {
  sdkappid: number;
  secretKey: Secret;
  /** The App administrator the calls are made as. */
  identifier: string;
  /** Tried in order; a network-level failure moves retries to the next one. */
  baseUrls: readonly string[];
}

/** How calls are made (the configuration's `api` settings are one). */
export interface CallSettings {
  /** Minimum gap between two calls for one app. */
  minIntervalMs: number;
  timeoutMs: number;
  maxAttempts: number;
}

/** One app's view of the Tencent API: one method per API call. */
export interface TimClient {
  readonly sdkappid: number;
  /**
   * Fetches the four loss arrays for a window; throws TimApiError when it cannot. Aborting the
   * signal stops waits (rate gate, backoff) but lets a request already sent finish.
   */
  normalPushLoss(window: Window, options?: { signal?: AbortSignal }): Promise<FetchedLoss>;
  /** Fetches the push statistics (sent, delivered, clicked) for a window, the same way. */
  normalPushStatistics(window: Window, options?: { signal?: AbortSignal }): Promise<FetchedStatistics>;
  /**
   * Fetches the loss of task pushes (`v4/timpush/push`, `batch`) for a window: one result per task
   * in `taskIds` (at most 5, distinct, non-empty), in that order, or the overall
   * numbers (one result, `taskId` null) for an empty list. Rejects a list it cannot send with a
   * TypeError before any call; otherwise like {@link normalPushLoss}.
   */
  allMemberPushLoss(
    window: Window,
    taskIds: readonly string[],
    options?: { signal?: AbortSignal },
  ): Promise<FetchedTaskLoss>;
  /** Fetches the statistics of task pushes for a window, the same way. */
  allMemberPushStatistics(
    window: Window,
    taskIds: readonly string[],
    options?: { signal?: AbortSignal },
  ): Promise<FetchedTaskStatistics>;
}

export interface FetchedTaskLoss {
  results: TaskLoss[];
  call: CallRecord;
}

export interface FetchedTaskStatistics {
  results: TaskStatistics[];
  call: CallRecord;
}

export interface FetchedStatistics {
  stats: PushStatistics;
  call: CallRecord;
}

export interface FetchedLoss {
  entries: LossEntry[];
  /** The successful call, for the archive (loaded in the same transaction as the facts). */
  call: CallRecord;
}

export interface TimClientDeps {
  api: CallSettings;
  logger: Logger;
  clock?: Clock;
  /** Shared by all apps' clients so the cap is per app, whatever the number of clients. */
  gate?: CallGate;
  /** Shared keep-alive HTTP client; one is made when absent. */
  http?: AxiosInstance;
  /** Every failed attempt, so the archive holds one row per call, not only per success. */
  onFailedCall?: (call: CallRecord, feed: FeedName) => Promise<void> | void;
  /** Each API's window limits (the feed's settings); default {@link documentedLimits}. */
  windowLimits?: Partial<Readonly<Record<FeedName, WindowLimits>>>;
  /** Where each API's calls wait (its rate slot); default `gate`. */
  gates?: Partial<Readonly<Record<FeedName, CallGate>>>;
  /** What an answer may be (default ANSWER_LIMITS). */
  limits?: AnswerLimits;
}

/** What differs between the APIs: where they live, how their answer is read, their limits. */
interface ApiSpec<T> {
  name: FeedName;
  path: string;
  parse(
    body: string,
    secrets: readonly string[],
  ): { kind: 'ok'; envelope: Envelope; value: T } | Exclude<ParsedBody, { kind: 'ok' }>;
  limits: WindowLimits;
  gate: CallGate;
  /** The task-push APIs' `TaskID` list, sent in the body and kept with the call. */
  taskIds?: readonly string[];
  /** A short summary of a success for the log line. */
  summary(value: T): Record<string, number>;
}

/**
 * A keep-alive axios instance that hands back the body as a stream (read within limits by
 * `readLimitedBody`) and never throws on HTTP status. No redirect is followed: the API has none,
 * and following one would resend the UserSig to another host.
 */
export function createHttp(timeoutMs: number): AxiosInstance {
  return axios.create({
    timeout: timeoutMs,
    httpAgent: new http.Agent({ keepAlive: true }),
    httpsAgent: new https.Agent({ keepAlive: true }),
    responseType: 'stream',
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxRedirects: 0,
    // Our request is a few dozen bytes; the answer's size is enforced while it is read.
    maxBodyLength: 64 * 1024,
    headers: { 'Content-Type': 'application/json' },
  });
}

/**
 * Node's transport, with each request's bytes held until `send` lets them go: the request gets
 * its socket corked, so what it writes stays in the socket's buffer; once the socket is connected
 * (TLS handshake included), `send` is asked, and its `write` uncorks the socket and resolves when
 * the request has been written. The rate cap is thus enforced where Tencent measures it, the
 * arrival of the bytes, rather than when the call started: a new connection or a busy event loop
 * between the two no longer counts against the next call's gap. A failure of `send` itself (the
 * database) destroys the request and is handed to `failed`.
 */
function gatedTransport(
  send: (write: () => Promise<void>, signal: AbortSignal) => Promise<void>,
  failed: (error: unknown) => void,
) {
  return {
    request(options: http.RequestOptions, callback: (response: http.IncomingMessage) => void): http.ClientRequest {
      const request = (options.protocol === 'https:' ? https : http).request(options, callback);
      const closed = new AbortController();
      request.once('close', () => closed.abort());
      // 'socket' comes before the request flushes what it has buffered, a reused socket included.
      request.once('socket', (socket: net.Socket) => {
        socket.cork();
        const write = () =>
          new Promise<void>((resolve) => {
            if (request.writableFinished || request.destroyed) return resolve();
            request.once('finish', resolve);
            request.once('close', resolve);
            socket.uncork();
          });
        // A connect that fails is the request's to report; only the gate's own failure is ours.
        connected(socket, closed.signal).then(
          () =>
            send(write, closed.signal).catch((error: unknown) => {
              if (closed.signal.aborted) return;
              failed(error);
              request.destroy(error as Error);
            }),
          () => {},
        );
      });
      return request;
    },
  };
}

/** Resolves once the socket can carry bytes: connected, and for TLS past the handshake. */
async function connected(socket: net.Socket, signal: AbortSignal): Promise<void> {
  if (socket instanceof tls.TLSSocket) {
    // No Finished message yet: the handshake is under way.
    if (socket.getFinished() === undefined) await once(socket, 'secureConnect', { signal });
  } else if (socket.connecting) {
    await once(socket, 'connect', { signal });
  }
}

type AttemptResult<T> =
  | { ok: true; value: T; call: CallRecord }
  | {
      ok: false;
      call: CallRecord;
      failure: FailureClass | 'invalid_response';
      advice: string;
      reason: string;
      network: boolean;
    };

/** Builds the client for one app. */
export function createTimClient(app: TimApp, deps: TimClientDeps): TimClient {
  const clock = deps.clock ?? systemClock;
  const gate = deps.gate ?? inProcessGate(deps.api.minIntervalMs);
  const httpClient = deps.http ?? createHttp(deps.api.timeoutMs);
  const userSig = new UserSigSource(app, clock);
  const log = deps.logger.child({ app: app.sdkappid });
  const limits = deps.limits ?? ANSWER_LIMITS;

  async function attempt<T>(
    api: ApiSpec<T>,
    window: Window,
    attemptNo: number,
    host: string,
    signal: AbortSignal | undefined,
  ): Promise<AttemptResult<T>> {
    await api.gate.wait(app.sdkappid, signal);
    signal?.throwIfAborted();
    const startedAt = clock.now();
    const began = performance.now();
    const call: CallRecord = {
      sdkappid: app.sdkappid,
      window,
      startedAt,
      durationMs: 0,
      attempt: attemptNo,
      host: new URL(host).host,
      httpStatus: null,
      actionStatus: null,
      errorCode: null,
      errorInfo: null,
      requestId: null,
      body: null,
      outcome: 'retryable',
      ...(api.taskIds && { taskIds: api.taskIds }),
    };
    // The signature sent with this request, scrubbed from whatever comes back (with the key).
    const sig = userSig.current();
    const secrets = [sig, app.secretKey.reveal()];
    const deadline = AbortSignal.timeout(deps.api.timeoutMs);
    const send = api.gate.send?.bind(api.gate) ?? ((_sdkappid: number, write: () => Promise<void>) => write());
    // A gate that failed at the socket (its database) fails the call as a failed `wait` does,
    // rather than as a network error.
    let gateFailure: { error: unknown } | undefined;
    try {
      const response = await httpClient.post<Readable>(
        host + api.path,
        JSON.stringify({ StartTime: window.start, EndTime: window.end, TaskID: api.taskIds }),
        {
          params: {
            sdkappid: app.sdkappid,
            identifier: app.identifier,
            usersig: sig,
            random: randomInt(0, 2 ** 32), // a fresh uint32 per request, as the API requires
            contenttype: 'json',
          },
          // Deliberately not the caller's signal: a shutdown lets the call in flight finish (and
          // its bucket commit); it only stops new calls and backoff waits. The deadline covers
          // the whole exchange, body included, so a body that drips forever ends too.
          signal: deadline,
          transport: gatedTransport(
            (write, closed) => send(app.sdkappid, write, closed),
            (error) => (gateFailure = { error }),
          ),
        },
      );
      const read = await readLimitedBody(response.data, limits);
      call.durationMs = Math.round(performance.now() - began);
      call.httpStatus = response.status;
      const archived = archivedBody(read, secrets);
      Object.assign(call, {
        body: archived.body,
        bodyRaw: archived.bodyRaw,
        bodyBytes: archived.bodyBytes,
        bodyTruncated: archived.bodyTruncated,
      });
      if (read.problem?.kind === 'too_large') {
        call.outcome = 'invalid_response';
        return {
          ok: false,
          call,
          failure: 'invalid_response',
          advice: `the first ${limits.keptBodyBytes} bytes are archived, marked truncated; check the base URL`,
          reason: `answer larger than ${limits.maxBodyBytes} bytes (HTTP ${response.status}), refused`,
          network: false,
        };
      }
      if (read.problem?.kind === 'stream_error') {
        return {
          ok: false,
          call,
          ...NETWORK_FAILURE,
          reason: networkReason(
            read.problem.error,
            deadline,
            secrets,
            `after ${read.receivedBytes} bytes of the answer`,
          ),
          network: true,
        };
      }
      if (response.status !== 200) {
        const rule = classifyHttpStatus(response.status);
        call.outcome = rule.failure;
        return { ok: false, call, ...rule, reason: `HTTP ${response.status}`, network: false };
      }
      const parsed = api.parse(archived.text, secrets);
      Object.assign(call, parsed.envelope);
      if (parsed.kind === 'ok') {
        call.outcome = 'ok';
        return { ok: true, value: parsed.value, call };
      }
      if (parsed.kind === 'api_error') {
        const rule = classifyTencentCode(parsed.envelope.errorCode, api.limits);
        call.outcome = rule.failure;
        return {
          ok: false,
          call,
          ...rule,
          reason: `Tencent error ${parsed.envelope.errorCode}: ${truncateDescription(parsed.envelope.errorInfo ?? '', 200)}`,
          network: false,
        };
      }
      call.outcome = 'invalid_response';
      return {
        ok: false,
        call,
        failure: 'invalid_response',
        advice: 'the raw body is archived; report it if it repeats',
        reason: `unreadable answer: ${parsed.reason}`,
        network: false,
      };
    } catch (error) {
      if (gateFailure) throw gateFailure.error;
      call.durationMs = Math.round(performance.now() - began);
      return { ok: false, call, ...NETWORK_FAILURE, reason: networkReason(error, deadline, secrets), network: true };
    }
  }

  async function callApi<T>(
    api: ApiSpec<T>,
    window: Window,
    options: { signal?: AbortSignal },
  ): Promise<{ value: T; call: CallRecord }> {
    const problem = windowProblem(window, unixSeconds(clock.now()), api.limits);
    if (problem) {
      throw new TimApiError({
        message: `app ${app.sdkappid}: cannot ask for this window: ${problem}`,
        code: 'WINDOW_REJECTED',
        failure: 'window_rejected',
        sdkappid: app.sdkappid,
        window,
        attempt: 0,
        advice: `the API only answers windows ${describeWindowLimits(api.limits)}`,
      });
    }
    let hostIndex = 0;
    let renewed = false;
    for (let attemptNo = 1; ; attemptNo++) {
      const result = await attempt(api, window, attemptNo, app.baseUrls[hostIndex]!, options.signal);
      const { call } = result;
      log.info(
        {
          window,
          taskIds: api.taskIds,
          host: call.host,
          attempt: attemptNo,
          durationMs: call.durationMs,
          outcome: call.outcome,
          httpStatus: call.httpStatus,
          errorCode: call.errorCode,
          ...(result.ok ? api.summary(result.value) : { reason: result.reason }),
        },
        `${TIM_APIS[api.name].api} call`,
      );
      if (result.ok) return { value: result.value, call };
      await deps.onFailedCall?.(call, api.name);

      const fail = (advice: string) =>
        new TimApiError({
          message: `app ${app.sdkappid}: ${TIM_APIS[api.name].api} failed after ${attemptNo} attempt(s): ${result.reason}; ${advice}`,
          code: call.errorCode ? `TIM_${call.errorCode}` : result.failure.toUpperCase(),
          failure: result.failure,
          sdkappid: app.sdkappid,
          window,
          attempt: attemptNo,
          tencentCode: call.errorCode,
          advice,
        });

      if (result.failure === 'renew_signature' && !renewed) {
        renewed = true;
        userSig.renew();
        continue; // the retry still waits for its turn at the gate
      }
      if (result.failure === 'fatal' || result.failure === 'renew_signature' || result.failure === 'invalid_response')
        throw fail(result.advice);
      if (attemptNo >= deps.api.maxAttempts) throw fail(`gave up after ${attemptNo} attempts`);
      if (result.network) hostIndex = Math.min(hostIndex + 1, app.baseUrls.length - 1);
      await clock.sleep(backoffMs(result.failure, call.errorCode, attemptNo), options.signal);
    }
  }

  const limitsOf = (feed: FeedName): WindowLimits => deps.windowLimits?.[feed] ?? documentedLimits(feed);
  const gateOf = (feed: FeedName): CallGate => deps.gates?.[feed] ?? gate;

  const lossApi: ApiSpec<LossEntry[]> = {
    name: 'loss',
    path: TIM_APIS.loss.path,
    parse(body, secrets) {
      const parsed = parsePushLossBody(body, limits, secrets);
      return parsed.kind === 'ok' ? { kind: 'ok', envelope: parsed.envelope, value: parsed.entries } : parsed;
    },
    limits: limitsOf('loss'),
    gate: gateOf('loss'),
    summary: (entries) => ({ entries: entries.length }),
  };
  const statisticsApi: ApiSpec<PushStatistics> = {
    name: 'statistics',
    path: TIM_APIS.statistics.path,
    parse(body, secrets) {
      const parsed = parseStatisticsBody(body, secrets, limits);
      return parsed.kind === 'ok' ? { kind: 'ok', envelope: parsed.envelope, value: parsed.stats } : parsed;
    },
    limits: limitsOf('statistics'),
    gate: gateOf('statistics'),
    summary: (stats) => ({ platforms: stats.platforms.length }),
  };
  // The task-push APIs: one spec per call, as the TaskIDs asked are part of the request.
  const taskApi = <T extends Array<{ taskId: string | null }>>(
    name: FeedName,
    taskIds: readonly string[],
    read: (
      body: string,
      asked: readonly string[],
      secrets: readonly string[],
      limits: AnswerLimits,
    ) => { kind: 'ok'; envelope: Envelope; results: T } | Exclude<ParsedBody, { kind: 'ok' }>,
    summary: (value: T) => Record<string, number>,
  ): ApiSpec<T> => {
    const problem = taskIdsProblem(taskIds);
    if (problem) throw new TypeError(`${TIM_APIS[name].api}: ${problem}`);
    const asked = Object.freeze([...taskIds]);
    return {
      name,
      path: TIM_APIS[name].path,
      taskIds: asked,
      parse(body, secrets) {
        const parsed = read(body, asked, secrets, limits);
        return parsed.kind === 'ok' ? { kind: 'ok', envelope: parsed.envelope, value: parsed.results } : parsed;
      },
      limits: limitsOf(name),
      gate: gateOf(name),
      summary: (value) => ({ results: value.length, ...summary(value) }),
    };
  };

  return {
    sdkappid: app.sdkappid,
    async normalPushLoss(window, options = {}) {
      const { value, call } = await callApi(lossApi, window, options);
      return { entries: value, call };
    },
    async normalPushStatistics(window, options = {}) {
      const { value, call } = await callApi(statisticsApi, window, options);
      return { stats: value, call };
    },
    async allMemberPushLoss(window, taskIds, options = {}) {
      const api = taskApi('all-member-loss', taskIds, parseAllMemberLossBody, (results) => ({
        entries: results.reduce((n, r) => n + r.entries.length, 0),
      }));
      const { value, call } = await callApi(api, window, options);
      return { results: value, call };
    },
    async allMemberPushStatistics(window, taskIds, options = {}) {
      const api = taskApi('all-member-statistics', taskIds, parseAllMemberStatisticsBody, (results) => ({
        platforms: results.reduce((n, r) => n + r.platforms.length, 0),
      }));
      const { value, call } = await callApi(api, window, options);
      return { results: value, call };
    },
  };
}
