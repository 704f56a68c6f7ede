/**
 * Decoding an answer's JSON. The raw text is scrubbed of secrets before it gets here, but what
 * reaches a column is the DECODED strings: a `\u0000` escape becomes a NUL that PostgreSQL
 * refuses, and a secret could be spelt in a way the raw scrub does not foresee. So every string
 * of the decoded value is scrubbed again and made storable, whichever field it ends up in.
 */
import { redactText, scrubKnownSecrets } from '../redact.ts';
import { jsonNestsDeeperThan, storableText } from './limits.ts';

/** The decoded answer, or why it could not be decoded. Never throws. */
export function decodeAnswerJson(
  text: string,
  maxDepth: number,
  secrets: readonly string[],
): { json: unknown } | { reason: string } {
  // A deeply nested answer must not exhaust the stack.
  if (jsonNestsDeeperThan(text, maxDepth)) return { reason: `JSON nested deeper than ${maxDepth} levels` };
  try {
    // Without a backslash every decoded string is a piece of the (scrubbed, NUL-free) raw text.
    if (!text.includes('\\')) return { json: JSON.parse(text) };
    return {
      json: JSON.parse(text, (_key, value: unknown) =>
        typeof value === 'string' ? storableText(scrubKnownSecrets(redactText(value, secrets))) : value,
      ),
    };
  } catch {
    return { reason: 'body is not JSON' };
  }
}
