import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';

/**
 * A real pino logger whose JSON lines are kept for assertions. `onLine` sees each line as it is
 * written, synchronously inside the logging call, so it can observe the state at that moment.
 */
export function capturedLogger(
  level = 'debug',
  onLine?: (line: Record<string, unknown>) => void,
): {
  logger: Logger;
  lines: () => Record<string, unknown>[];
  text: () => string;
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      if (onLine)
        for (const line of String(chunk).split('\n').filter(Boolean))
          onLine(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger(level, stream);
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
