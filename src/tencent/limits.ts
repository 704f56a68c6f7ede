/**
 * What pushloss accepts from an upstream, and how it reads an answer within those limits.
 *
 * A real answer of `normal_push_loss` is a few kilobytes: four arrays of error codes, one line per
 * code and vendor channel. Without limits, one broken or hostile base URL could take the whole
 * process down for every app: a 200 MB body, a gzip bomb that inflates to gigabytes, a body that
 * never ends, a million entries loaded as a million facts. Each limit is far above any real answer
 * and low enough that the process stays small. What goes over a limit is refused with a clear
 * reason, and its beginning is archived, marked as truncated, so the operator can see what came.
 */
import type { Readable } from 'node:stream';
import { redactText } from '../redact.ts';

export interface AnswerLimits {
  /** Bytes of one answer after decompression; reading stops there. */
  maxBodyBytes: number;
  /** Of an answer refused for its size or cut off, how many bytes the archive keeps. */
  keptBodyBytes: number;
  /** Entries in the four loss arrays together. */
  maxEntries: number;
  /** Nesting depth of the JSON (a real answer has 3 levels). */
  maxJsonDepth: number;
  /** Characters of one description (`ErrInfo`, `ErrorInfo`) that are stored. */
  maxDescriptionChars: number;
}

export const ANSWER_LIMITS: Readonly<AnswerLimits> = Object.freeze({
  maxBodyBytes: 4 * 1024 * 1024,
  keptBodyBytes: 64 * 1024,
  maxEntries: 20_000,
  maxJsonDepth: 32,
  maxDescriptionChars: 1_000,
});

/** An answer's body as far as it was read. */
export interface ReadBody {
  /** The bytes read, or only the first `keptBodyBytes` when `truncated`. */
  bytes: Buffer;
  /** Bytes received in all (decompressed), including those not kept. */
  receivedBytes: number;
  /** Not the whole answer: it was over the size limit, or the connection failed part-way. */
  truncated: boolean;
  /** Why reading stopped early; undefined when the whole body arrived within the limit. */
  problem?: { kind: 'too_large' } | { kind: 'stream_error'; error: unknown };
}

/**
 * Reads a (decompressed) response stream up to `maxBodyBytes`. Never throws: a body over the
 * limit is destroyed at once (so a gzip bomb inflates no further than the limit) and a stream
 * error (a timeout, a reset) ends the read; both keep what arrived, cut to `keptBodyBytes`.
 */
export async function readLimitedBody(stream: Readable, limits: AnswerLimits = ANSWER_LIMITS): Promise<ReadBody> {
  const chunks: Buffer[] = [];
  let received = 0;
  const partial = (problem: NonNullable<ReadBody['problem']>): ReadBody => ({
    bytes: Buffer.concat(chunks).subarray(0, limits.keptBodyBytes),
    receivedBytes: received,
    truncated: true,
    problem,
  });
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      received += buffer.length;
      if (received > limits.maxBodyBytes) {
        stream.destroy();
        // Only what the archive keeps is held on to while the rest is thrown away.
        chunks.push(buffer);
        return partial({ kind: 'too_large' });
      }
      chunks.push(buffer);
    }
  } catch (error) {
    stream.destroy();
    return partial({ kind: 'stream_error', error });
  }
  return { bytes: Buffer.concat(chunks), receivedBytes: received, truncated: false };
}

/**
 * Whether JSON text nests deeper than `maxDepth`, by one scan that skips strings. Parsing a body
 * nested a million deep works, but builds a million objects; this refuses it for the price of a
 * loop over the characters.
 */
export function jsonNestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A text PostgreSQL can store: U+0000 shown as U+FFFD. Every text from outside goes through it. */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/** `text` cut to `max` characters, with a marker saying how long it was. */
export function truncateDescription(text: string, max: number = ANSWER_LIMITS.maxDescriptionChars): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… [truncated by pushloss: ${text.length} characters]`;
}

/** A body as the archive keeps it, and the text pushloss reads. */
export interface ArchivedBody {
  /** For the parser: the body decoded as UTF-8, secrets scrubbed. */
  text: string;
  /** For `tim_call.body`: `text`, with U+0000 (which a PostgreSQL text cannot hold) as U+FFFD. */
  body: string;
  /** For `tim_call.body_raw`: the exact bytes (secrets scrubbed), only when `body` is not exact. */
  bodyRaw: Buffer | null;
  bodyBytes: number;
  bodyTruncated: boolean;
}

/**
 * Turns what was read into what is archived. The text column keeps every answer that is valid
 * UTF-8 without U+0000 exactly as received; anything else (a NUL byte, broken UTF-8) is kept
 * byte for byte in `body_raw` as well, so no answer is ever lost or silently altered. The secrets
 * are scrubbed from both forms before anything else sees them.
 */
export function archivedBody(read: ReadBody, secrets: readonly string[]): ArchivedBody {
  let exact = true;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(read.bytes);
  } catch {
    exact = false;
    text = read.bytes.toString('utf8');
  }
  text = redactText(text, secrets);
  const body = storableText(text);
  return {
    text,
    body,
    // latin1 maps bytes to characters one to one, so the ASCII secrets can be replaced in place.
    bodyRaw: exact && body === text ? null : Buffer.from(redactText(read.bytes.toString('latin1'), secrets), 'latin1'),
    bodyBytes: read.receivedBytes,
    bodyTruncated: read.truncated,
  };
}
