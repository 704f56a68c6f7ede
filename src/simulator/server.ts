/**
 * The API simulator: a real HTTP server on 127.0.0.1 that answers `v4/timpush/normal_push_loss`,
 * `normal_push_statistics`, `all_member_push_loss` and `all_member_push_statistics` as documented
 * (signature, rate and window checks included), records every call, and fails on request. Client
 * tests, integration tests and `npm run demo` talk to it instead of Tencent.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../clock.ts';
import {
  answerRequest,
  type AnswerContext,
  type LossDataFn,
  type SimulatorApp,
  type StatsDataFn,
  type UnknownTaskAnswer,
} from './answer.ts';
import { defaultTaskIds } from './allMemberData.ts';
import { createFailureQueue, type FailureRule, type FailureScope } from './failures.ts';
import { defaultLossData } from './lossData.ts';
import { defaultStatsData } from './statsData.ts';
import { SETTLED_AT_ONCE, type SettleModel } from './settling.ts';
import { createArrivalLimiter } from './arrivalLimiter.ts';
import { apiOfPath, checkRequestLine, peekQuery, type RequestParams } from './requestChecks.ts';
import { failureBody, type ResponseShape } from './responseBody.ts';

export type { LossDataFn, SimulatorApp, StatsDataFn, UnknownTaskAnswer } from './answer.ts';
export type { FailureRule, FailureScope } from './failures.ts';
export type { ResponseShape } from './responseBody.ts';

export interface SimulatorOptions {
  /** The apps served; each app's `identifier` (administrator) defaults to `administrator`. */
  apps: SimulatorApp[];
  /** Port on 127.0.0.1; default 0 (any free port, see `Simulator.url`). */
  port?: number;
  /** "Now" for UserSig expiry, the query horizon and unfinished hours; default the system clock. */
  clock?: Clock;
  /** Calls for one sdkappid arriving less than this apart get 60011; default 1000, 0 disables. */
  minIntervalMs?: number;
  /** How far back StartTime may reach, in days; default 7 (also all_member_push_loss). */
  horizonDays?: number;
  /** Longest EndTime - StartTime, in seconds; default 7 days (also all_member_push_loss). */
  maxSpanSeconds?: number;
  /**
   * How counts grow with their hour's age (settling.ts); default {@link SETTLED_AT_ONCE}: complete
   * as soon as the hour has ended. Used by the default loss data and statistics.
   */
  settle?: SettleModel;
  /** Loss data per app and window; default {@link defaultLossData}, settling as `settle` says. */
  lossData?: LossDataFn;
  /** Where the four arrays sit in a success body; default `flat` (see `ResponseShape`). */
  shape?: ResponseShape;
  /** Push statistics per app and window; default {@link defaultStatsData} (consistent with the loss data). */
  statsData?: StatsDataFn;
  /** How far back a statistics StartTime may reach, in days; default 30 (also all_member_push_statistics). */
  statsHorizonDays?: number;
  /** Longest statistics window, in seconds; default 30 days (also all_member_push_statistics). */
  statsMaxSpanSeconds?: number;
  /** How the task-push APIs answer a TaskID the app does not know; default `empty` (see the type). */
  unknownTaskIds?: UnknownTaskAnswer;
  /**
   * The rate rule counts each API on its own (true) or all APIs of an app together (false,
   * default: the stricter reading, which is what pushloss assumes by default).
   */
  ratePerApi?: boolean;
  /**
   * Judge the rate rule on `clock` instead of monotonic time; default false. For a warped clock
   * (the soak), whose simulated seconds pass in a few real milliseconds.
   */
  rateOnClock?: boolean;
  /** Consulted when no `fail()` rule matches a call: a failure to inject, or undefined to answer. */
  chaos?: (sdkappid: number | null) => FailureRule | undefined;
}

/** One request as the simulator received and answered it. Never holds the usersig. */
export interface SimCall {
  /** Arrival, epoch ms by the simulator's clock. */
  receivedAt: number;
  /**
   * Arrival, `performance.now()` when the chunk that ended the request's headers was read off the
   * socket, before parsing: the time the rate rule judges.
   */
  receivedAtMono: number;
  method: string;
  path: string;
  /** From the URL, when it was a decimal number. */
  sdkappid: number | null;
  identifier: string | null;
  random: string | null;
  /** The request body text ('' until it has been read). */
  body: string;
  /** The injected failure that answered this call, if any. */
  injected: FailureRule['kind'] | null;
  /** null while unanswered, or for ever when the call hung or the connection went away. */
  httpStatus: number | null;
  /** The ErrorCode answered; null when the answer was not a Tencent envelope. */
  errorCode: number | null;
  errorInfo: string | null;
}

export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:43121`; the API lives at `${url}/v4/timpush/normal_push_loss`. */
  readonly url: string;
  /** Every request, in arrival order; recorded on arrival and completed when answered. */
  readonly calls: SimCall[];
  /** Makes the next matching call(s) fail this way; rules are used up in the order given. */
  fail(rule: FailureRule, scope?: FailureScope): void;
  /** Replaces the loss data; no argument restores the default (settling as `settle` says). */
  setLossData(fn?: LossDataFn): void;
  /** Replaces the statistics; no argument restores the default (settling as `settle` says). */
  setStatsData(fn?: StatsDataFn): void;
  /** Resolves once at least `count` calls have arrived (since the last reset). */
  waitForCalls(count: number): Promise<SimCall[]>;
  /** Forgets calls, pending failure rules and the rate rule's previous arrivals. */
  reset(): void;
  /** Stops listening and drops every connection, hanging calls included. */
  close(): Promise<void>;
}

/** How long a `timeout` failure holds a request before dropping the connection. */
const HANG_MS = 30_000;
/** Request bodies are a few dozen bytes; anything huge is a client bug. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Starts a simulator listening on 127.0.0.1. Checks and their ErrorCodes (all HTTP 200):
 * not POST or not the API path 60009; sdkappid missing 60012; another parameter missing or
 * repeated, contenttype not `json`, random not in [0, 4294967295] 60002; sdkappid not a number
 * 60006; unknown sdkappid 70020; UserSig unreadable or not v2 70003, issued for another
 * app/identifier 70013, bad HMAC 70009, expired 70001; identifier not the app's administrator
 * 60010; rate 60011; body not JSON 60003; bad StartTime/EndTime, span or horizon 90100; for the
 * task-push APIs, TaskID not an array of at most 5 distinct non-empty strings 90100.
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const clock = options.clock ?? systemClock;
  const apps = new Map<number, Required<SimulatorApp>>();
  for (const app of options.apps) {
    if (apps.has(app.sdkappid)) throw new Error(`sdkappid ${app.sdkappid} configured twice`);
    apps.set(app.sdkappid, {
      identifier: 'administrator',
      ...app,
      taskIds: Object.freeze([...(app.taskIds ?? defaultTaskIds(app.sdkappid))]),
    });
  }
  const minIntervalMs = options.minIntervalMs ?? 1000;
  if (!(minIntervalMs >= 0)) throw new RangeError(`minIntervalMs must be >= 0, got ${minIntervalMs}`);
  const model = options.settle ?? SETTLED_AT_ONCE;
  const settledLoss: LossDataFn = (sdkappid, window, nowMs) => defaultLossData(sdkappid, window, { nowMs, model });
  const settledStats: StatsDataFn = (sdkappid, window, nowMs) => defaultStatsData(sdkappid, window, { nowMs, model });
  const ctx: AnswerContext = {
    apps,
    lossData: options.lossData ?? settledLoss,
    statsData: options.statsData ?? settledStats,
    shape: options.shape ?? 'flat',
    windowRules: {
      horizonSeconds: (options.horizonDays ?? 7) * 86400,
      maxSpanSeconds: options.maxSpanSeconds ?? 7 * 86400,
    },
    statsWindowRules: {
      horizonSeconds: (options.statsHorizonDays ?? 30) * 86400,
      maxSpanSeconds: options.statsMaxSpanSeconds ?? 30 * 86400,
    },
    settle: model,
    unknownTaskIds: options.unknownTaskIds ?? 'empty',
  };
  const rate = createArrivalLimiter(minIntervalMs);
  const failures = createFailureQueue();
  const calls: SimCall[] = [];
  const waiters = new Set<{ count: number; resolve: (calls: SimCall[]) => void; reject: (e: Error) => void }>();
  const timers = new Set<NodeJS.Timeout>();
  let closing: Promise<void> | null = null;

  /** setTimeout that close() can cancel, so no answer is written to a dead server. */
  function later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  }

  function send(
    res: ServerResponse,
    call: SimCall,
    status: number,
    body: string,
    json: boolean,
    errorCode: number | null = null,
    errorInfo: string | null = null,
  ): void {
    if (closing || res.destroyed) return;
    Object.assign(call, { httpStatus: status, errorCode, errorInfo });
    res.writeHead(status, { 'content-type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8' });
    res.end(body);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const receivedAtMono = readAt.get(req.socket) ?? performance.now();
    const receivedAt = clock.now();
    const peek = peekQuery(req.url);
    const call: SimCall = {
      receivedAt,
      receivedAtMono,
      method: req.method ?? '',
      path: peek.path,
      sdkappid: peek.sdkappid,
      identifier: peek.identifier,
      random: peek.random,
      body: '',
      injected: null,
      httpStatus: null,
      errorCode: null,
      errorInfo: null,
    };
    calls.push(call);
    for (const waiter of waiters) {
      if (calls.length >= waiter.count) {
        waiters.delete(waiter);
        waiter.resolve(calls);
      }
    }

    // Injected failures stand in for a gateway in front of the API: they answer before any
    // check and never reach the rate rule. `slow` is the exception: it is a normal call, late.
    const rule = failures.take(peek.sdkappid, apiOfPath(peek.path)) ?? options.chaos?.(peek.sdkappid);
    call.injected = rule?.kind ?? null;
    const normal = rule === undefined || rule.kind === 'slow';
    // The rate rule judges arrivals, so it is decided now, not after the body or a delay;
    // every call that names a configured app counts, whatever it is answered later.
    const line = checkRequestLine(req.method, req.url, (id) => apps.has(id));
    // Per API: a key per app and API, when asked to; otherwise one per app for all its APIs.
    const rateKey = (params: RequestParams) =>
      options.ratePerApi ? `${params.api}:${params.sdkappid}` : params.sdkappid;
    const rateOk =
      normal && line.ok ? rate.arrive(rateKey(line.value), options.rateOnClock ? receivedAt : receivedAtMono) : true;

    readBody(req).then(
      (body) => {
        if (body === null) return send(res, call, 413, 'request body too large', false);
        call.body = body;
        const answer = () => {
          const a = answerRequest({ line, rateOk, body, nowMs: receivedAt }, ctx);
          send(res, call, a.status, a.body, true, a.errorCode, a.errorInfo);
        };
        if (rule === undefined) return answer();
        switch (rule.kind) {
          case 'slow':
            return later(rule.ms, answer);
          case 'timeout':
            return later(HANG_MS, () => res.destroy());
          case 'http':
            return send(
              res,
              call,
              rule.status,
              `<html><body><h1>${rule.status} ${STATUS_CODES[rule.status] ?? ''}</h1></body></html>`,
              false,
            );
          case 'malformed':
            return send(res, call, 200, '<html><body>Service temporarily unavailable</body></html>', false);
          case 'error': {
            const info = rule.info ?? `injected error ${rule.code}`;
            return send(res, call, 200, failureBody(rule.code, info), true, rule.code, info);
          }
          case 'body':
            return send(res, call, 200, rule.body, true);
        }
      },
      () => {
        // The client went away mid-body: nothing to answer.
      },
    );
  }

  // When each connection's latest chunk was read, taken before Node's parser sees it: the
  // 'request' event comes only once the headers are parsed, which for the first request on a
  // fresh server (code not yet compiled) takes from one to a dozen milliseconds more than for the
  // next one. Stamped there, the first arrival came late and the gap after it looked short, so a
  // client holding the interval exactly at its socket was refused 60011. The request's headers
  // end in the chunk being parsed when 'request' fires, so this is that chunk's arrival.
  const readAt = new WeakMap<Socket, number>();
  const server = createServer(onRequest);
  server.on('connection', (socket: Socket) => {
    // Prepended, so it runs before the parser's own 'data' listener.
    socket.prependListener('data', () => readAt.set(socket, performance.now()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    fail: (rule, scope) => failures.add(rule, scope),
    setLossData(fn) {
      ctx.lossData = fn ?? settledLoss;
    },
    setStatsData(fn) {
      ctx.statsData = fn ?? settledStats;
    },
    waitForCalls(count) {
      if (calls.length >= count) return Promise.resolve(calls);
      if (closing) return Promise.reject(new Error('simulator closed'));
      return new Promise((resolve, reject) => waiters.add({ count, resolve, reject }));
    },
    reset() {
      calls.length = 0;
      failures.clear();
      rate.clear();
    },
    close() {
      if (closing) return closing;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const waiter of waiters) waiter.reject(new Error('simulator closed'));
      waiters.clear();
      closing = new Promise<void>((resolve) => server.close(() => resolve()));
      // server.close() alone waits for in-flight requests; a hanging call would keep it open.
      server.closeAllConnections();
      return closing;
    },
  };
}

/** The whole body as text, or null when it exceeds {@link MAX_BODY_BYTES}. */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
