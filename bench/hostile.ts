/**
 * Peak memory of one fetch against each broken or hostile upstream (test/helpers/hostileUpstream.ts):
 * every case runs in a fresh child process, which reports its peak RSS, so one case's garbage
 * never counts against another.
 *
 *   npm run bench:hostile
 */
import { fileURLToPath } from 'node:url';
import { loopbackApp } from '../src/config/config.ts';
import { startHostileUpstream, type HostileAnswer } from '../test/helpers/hostileUpstream.ts';
import { createTimClient } from '../src/tencent/client.ts';
import { createLogger } from '../src/log.ts';

const CASES: Array<[string, HostileAnswer]> = [
  ['a normal small answer', { kind: 'entries', count: 100 }],
  ['a 200 MB body', { kind: 'huge', bytes: 200 * 1024 * 1024 }],
  ['a gzip bomb (1 GB inflated)', { kind: 'gzip_bomb', inflatedBytes: 1024 ** 3 }],
  ['a never-ending slow drip', { kind: 'drip', everyMs: 10 }],
  ['a million array entries', { kind: 'entries', count: 1_000_000 }],
  ['JSON nested a million deep', { kind: 'deep', depth: 1_000_000 }],
  ['a count of 1e30', { kind: 'count', value: 1e30 }],
  ['a count of -5', { kind: 'count', value: -5 }],
  ['a count of "12"', { kind: 'count', value: '12' }],
  ['a count of null', { kind: 'count', value: null }],
];

/** The child: one fetch, then its outcome and peak RSS as one JSON line. */
async function client(url: string): Promise<void> {
  const tim = createTimClient(loopbackApp(1400000999, 'bench-secret-key-0123456789', [url]), {
    api: { minIntervalMs: 10, timeoutMs: 8_000, maxAttempts: 1 },
    logger: createLogger('silent'),
  });
  const now = Math.floor(Date.now() / 1000);
  const outcome = await tim.normalPushLoss({ start: now - 86_400, end: now }).then(
    (fetched) => `ok, ${fetched.entries.length} entries`,
    (error: unknown) =>
      (error as Error).message.replace(/^app \d+: normal_push_loss failed after 1 attempt\(s\): /, ''),
  );
  console.log(JSON.stringify({ outcome, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

async function main(): Promise<void> {
  const upstream = await startHostileUpstream(CASES[0]![1]);
  const self = fileURLToPath(import.meta.url);
  console.log('| upstream sends | outcome | peak RSS |\n|---|---|---|');
  try {
    for (const [name, answer] of CASES) {
      upstream.answer(answer);
      // Asynchronous: the upstream lives in this process and must keep serving.
      const line = await new Promise<string>((resolve, reject) => {
        import('node:child_process')
          .then(({ execFile }) =>
            execFile(process.execPath, [self, '--client', upstream.url], (error, stdout) =>
              error ? reject(error) : resolve(stdout.trim()),
            ),
          )
          .catch(reject);
      });
      const { outcome, peakRssMb } = JSON.parse(line) as { outcome: string; peakRssMb: number };
      console.log(`| ${name} | ${outcome.slice(0, 110)} | ${peakRssMb} MB |`);
    }
  } finally {
    await upstream.close();
  }
}

if (process.argv[2] === '--client') await client(process.argv[3]!);
else await main();
