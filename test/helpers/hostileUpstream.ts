/**
 * A broken or hostile upstream on 127.0.0.1, for the tests and `npm run bench -- hostile`: answers
 * that a real gateway, a misconfigured base URL or an attacker could send. It checks nothing; it
 * only sends. Bodies are streamed and generated as they go, and stop when the client hangs up, so
 * the upstream itself stays small whatever it pretends to send.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGzip } from 'node:zlib';

export type HostileAnswer =
  /** HTTP 200, a JSON-looking body of this many bytes (one ever-growing ErrInfo). */
  | { kind: 'huge'; bytes: number }
  /** HTTP 200, gzip-encoded: this many bytes once inflated, about a thousandth of that on the wire. */
  | { kind: 'gzip_bomb'; inflatedBytes: number }
  /** HTTP 200, one byte every `everyMs`, never ending. */
  | { kind: 'drip'; everyMs: number }
  /** HTTP 200, a valid answer listing this many entries. */
  | { kind: 'entries'; count: number }
  /** HTTP 200, an array nested this deep. */
  | { kind: 'deep'; depth: number }
  /** HTTP 200, a valid answer with this ErrCount (1e30, -5, "12", null...). */
  | { kind: 'count'; value: unknown }
  /** This status and exactly this body (bytes, so a raw NUL or broken UTF-8 can be sent). */
  | { kind: 'raw'; status?: number; body: Buffer | string }
  /** A Tencent FAIL with this code whose ErrorInfo quotes the request URL (with its UserSig). */
  | { kind: 'echo_error'; code: number }
  /** A gateway error page (this status) that quotes the request URL. */
  | { kind: 'echo_page'; status: number }
  /**
   * The request's UserSig and `secret` quoted back with every third character a JSON `\u`
   * escape: in an ErrorInfo with this code (a FAIL), or, with code 0, in a valid loss answer's ErrInfo.
   */
  | { kind: 'echo_escaped'; code: number; secret: string };

export interface HostileUpstream {
  readonly url: string;
  /** What the next requests get (until changed). */
  answer(answer: HostileAnswer): void;
  /** The URLs (path and query) of the requests received so far. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/** Writes `total` bytes made by `fill` in chunks, honouring backpressure, until done or hung up. */
async function stream(res: ServerResponse, total: number, fill: (size: number, offset: number) => Buffer | string) {
  let sent = 0;
  while (sent < total && !res.destroyed) {
    const size = Math.min(CHUNK, total - sent);
    if (!res.write(fill(size, sent))) await drained(res);
    sent += size;
  }
  res.end();
}

/** Resolves once `stream` drains or `res` closes, leaving no listener behind. */
function drained(stream: NodeJS.EventEmitter, res: NodeJS.EventEmitter = stream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      res.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    res.once('close', done);
  });
}

const OK_HEAD = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RequestId":"hostile",';

/** `text` as JSON string content, every third character written as a `\uXXXX` escape. */
function escapeEveryThird(text: string): string {
  return [...text]
    .map((char, index) =>
      index % 3 === 0 ? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(char).slice(1, -1),
    )
    .join('');
}

async function respond(answer: HostileAnswer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  switch (answer.kind) {
    case 'huge': {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.bytes });
      const head = `${OK_HEAD}"ReadyToSendLoss":[{"ErrCode":1,"ErrCount":1,"ErrInfo":"`;
      return stream(res, answer.bytes, (size, offset) =>
        offset === 0 ? (head + 'x'.repeat(Math.max(0, size - head.length))).slice(0, size) : 'x'.repeat(size),
      );
    }
    case 'gzip_bomb': {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      const gzip = createGzip({ level: 9 });
      gzip.pipe(res);
      res.on('close', () => gzip.destroy());
      const zeros = Buffer.alloc(CHUNK, 0x20);
      let produced = 0;
      while (produced < answer.inflatedBytes && !res.destroyed && !gzip.destroyed) {
        if (!gzip.write(zeros)) await drained(gzip, res);
        produced += CHUNK;
      }
      gzip.end();
      return;
    }
    case 'drip': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(OK_HEAD);
      const timer = setInterval(() => res.write(' '), answer.everyMs);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'entries': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${OK_HEAD}"ReadyToSendLoss":[`);
      const entry = '{"ErrCode":1,"ErrCount":1}';
      for (let written = 0; written < answer.count && !res.destroyed;) {
        const batch = Math.min(2_000, answer.count - written);
        const text = (written > 0 ? ',' : '') + Array<string>(batch).fill(entry).join(',');
        written += batch;
        if (!res.write(text)) await drained(res);
      }
      res.end(']}');
      return;
    }
    case 'deep': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('['.repeat(answer.depth) + ']'.repeat(answer.depth));
      return;
    }
    case 'count': {
      res.writeHead(200, { 'content-type': 'application/json' });
      const count = typeof answer.value === 'number' ? String(answer.value) : JSON.stringify(answer.value);
      res.end(`${OK_HEAD}"ReadyToSendLoss":[{"ErrCode":1,"ErrCount":${count},"ErrInfo":"x"}]}`);
      return;
    }
    case 'raw': {
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
      res.end(answer.body);
      return;
    }
    case 'echo_error': {
      res.writeHead(200, { 'content-type': 'application/json' });
      const info = `bad request ${req.url ?? ''}`;
      res.end(JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: answer.code, ErrorInfo: info }));
      return;
    }
    case 'echo_escaped': {
      res.writeHead(200, { 'content-type': 'application/json' });
      const usersig = new URL(req.url ?? '', 'http://upstream').searchParams.get('usersig') ?? '';
      const info = `signed ${escapeEveryThird(usersig)} with ${escapeEveryThird(answer.secret)}`;
      res.end(
        answer.code === 0
          ? `${OK_HEAD}"ReadyToSendLoss":[{"ErrCode":20001,"ErrCount":3,"ErrInfo":"${info}"}]}`
          : `{"ActionStatus":"FAIL","ErrorCode":${answer.code},"ErrorInfo":"${info}"}`,
      );
      return;
    }
    case 'echo_page': {
      res.writeHead(answer.status, { 'content-type': 'text/html' });
      res.end(`<html><body>upstream failed for POST ${req.url ?? ''}</body></html>`);
      return;
    }
  }
}

/** Starts a hostile upstream on 127.0.0.1 (a free port). */
export async function startHostileUpstream(initial: HostileAnswer): Promise<HostileUpstream> {
  let current = initial;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    req.resume();
    req.on('end', () => void respond(current, req, res).catch(() => res.destroy()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answer(answer) {
      current = answer;
    },
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
