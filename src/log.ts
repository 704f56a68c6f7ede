import { pino, type DestinationStream, type Logger } from 'pino';
import { scrubKnownSecrets } from './redact.ts';

export type { Logger };

/**
 * Field names that may hold a secret. Secret objects already print as `[redacted]`; this is the
 * second lock on the door for anything that reaches a log as a plain string.
 */
const REDACT_PATHS = [
  'secretKey',
  'usersig',
  'userSig',
  'url',
  '*.secretKey',
  '*.usersig',
  '*.userSig',
  '*.url',
  'config.headers',
  'config.params',
];

/** The process logger: JSON lines on stdout (or the given stream), secrets censored. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pushloss' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The last lock: a secret quoted inside any string (an echoed URL, an error message).
      hooks: { streamWrite: scrubKnownSecrets },
    },
    destination,
  );
}
