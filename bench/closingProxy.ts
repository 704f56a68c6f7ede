/**
 * A loopback upstream in front of the simulator that answers as the probe's did: every answer
 * padded to `bodyBytes` (JSON whitespace) and sent with `Connection: close`, so each call opens a
 * new connection. It records when each request reached it (its headers read, on its own event
 * loop), per app. Usage: closingProxy.ts <simulator URL> <bodyBytes>. Prints its URL, and on
 * SIGTERM one JSON line: requests and the smallest gap between two requests of one app.
 */
import http from 'node:http';

const [target, bodyBytes] = [process.argv[2]!, Number(process.argv[3])];
const arrivals = new Map<string, number[]>();

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
          const text = Buffer.concat(body).toString('utf8');
          const padding = Math.max(0, bodyBytes - Buffer.byteLength(text));
          const padded = text.replace(/\}\s*$/, `${' '.repeat(padding)}}`);
          response.writeHead(answer.statusCode ?? 502, {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(padded),
            Connection: 'close',
          });
          response.end(padded);
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
  console.log(JSON.stringify({ requests, minGapMs: Math.round(minGapMs) }));
  process.exit(0);
});
