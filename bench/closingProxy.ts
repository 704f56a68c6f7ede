/**
 * A loopback upstream in front of the simulator that answers as the probe's did: every answer
 * padded to `bodyBytes` (JSON whitespace) and sent with `Connection: close`, so each call opens a
 * new connection. It records when each request reached it (its headers read, on its own event
 * loop), per app. Usage: closingProxy.ts <simulator URL> <bodyBytes>. Prints its URL, and on
 * SIGTERM one JSON line: requests, the smallest gap between two requests of one app, and how late
 * its own event loop ran (an arrival is stamped when the loop gets to it: a gap measured here is
 * short by up to that delay).
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const [target, bodyBytes] = [process.argv[2]!, Number(process.argv[3])];
const arrivals = new Map<string, number[]>();
// The padding made once: building 300 KB per answer kept this loop busy under the bench's load.
const padding = Buffer.alloc(bodyBytes, ' ');
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

const server = http.createServer((request, response) => {
  const at = performance.now();
  const sdkappid = new URL(request.url!, 'http://proxy').searchParams.get('sdkappid') ?? '?';
  arrivals.set(sdkappid, [...(arrivals.get(sdkappid) ?? []), at]);
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const upstream = http.request(
      target + request.url!,
      { method: request.method, headers: { 'content-type': 'application/json' }, agent: false },
      (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => body.push(chunk));
        answer.on('end', () => {
          // The answer's closing brace moved past the padding: the same JSON, `bodyBytes` long.
          const text = Buffer.concat(body).toString('utf8').trimEnd();
          const head = Buffer.from(text.endsWith('}') ? text.slice(0, -1) : text);
          const tail = text.endsWith('}') ? '}' : '';
          const pad = padding.subarray(0, Math.max(0, bodyBytes - head.length - tail.length));
          response.writeHead(answer.statusCode ?? 502, {
            'Content-Type': 'application/json',
            'Content-Length': head.length + pad.length + tail.length,
            Connection: 'close',
          });
          response.write(head);
          response.write(pad);
          response.end(tail);
        });
      },
    );
    upstream.on('error', () => response.destroy());
    upstream.end(Buffer.concat(chunks));
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`http://127.0.0.1:${port}`);
});

process.once('SIGTERM', () => {
  let minGapMs = Infinity;
  let requests = 0;
  for (const times of arrivals.values()) {
    requests += times.length;
    for (let i = 1; i < times.length; i++) minGapMs = Math.min(minGapMs, times[i]! - times[i - 1]!);
  }
  const ms = (ns: number) => Math.round(ns / 1e6);
  console.log(
    JSON.stringify({
      requests,
      minGapMs: Math.round(minGapMs),
      loopDelayP99Ms: ms(loopDelay.percentile(99)),
      loopDelayMaxMs: ms(loopDelay.max),
    }),
  );
  process.exit(0);
});
