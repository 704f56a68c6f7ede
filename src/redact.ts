/**
 * Secrets out of free text. Field-name redaction (log.ts) and the `Secret` wrapper keep a secret
 * out of logs when it is passed as a value; neither helps when an upstream ECHOES it: a gateway's
 * error page or an `ErrorInfo` that quotes the request URL carries the UserSig inside a string
 * that pushloss logs, prints and archives. So every text that came from outside is scrubbed by
 * value before it is logged or stored.
 */

const REDACTED = '[redacted]';

/**
 * Shorter values are not scrubbed: replacing a 3-character "secret" everywhere would shred the
 * text and protects nothing (real secret keys are 64 characters, UserSigs several hundred).
 */
const MIN_SECRET_LENGTH = 8;

/** The forms a value can take when a server echoes it back inside a URL or a query string. */
function variants(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), secret.replaceAll('*', '%2A')]);
  return [...forms].sort((a, b) => b.length - a.length);
}

/** One hexadecimal digit of a JSON escape, in either case (`\u002A` and `\u002a` are the same). */
const hexDigit = (digit: string) => (/[a-f]/.test(digit) ? `[${digit}${digit.toUpperCase()}]` : digit);

/**
 * The secret as JSON text may spell it: any of its characters written as a `\uXXXX` escape (or
 * `\/`). An upstream that escapes every third character would otherwise slip the secret past the
 * verbatim match, and JSON.parse would hand it decoded to the warehouse.
 */
function jsonEscapedPattern(secret: string): RegExp {
  const alternatives = [...secret].map((char) => {
    const code = char.codePointAt(0)!;
    const escape = code > 0xffff ? null : `\\\\u${[...code.toString(16).padStart(4, '0')].map(hexDigit).join('')}`;
    const literal = char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    return `(?:${[literal, escape, char === '/' ? '\\\\/' : null].filter(Boolean).join('|')})`;
  });
  return new RegExp(alternatives.join(''), 'g');
}

/**
 * `text` with every occurrence of the given secrets (verbatim, percent-encoded or JSON-escaped)
 * replaced by `[redacted]`. Exhaustive: use it on what an upstream sent, where the secrets are few
 * and known.
 */
export function redactText(text: string, secrets: Iterable<string>): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    for (const form of variants(secret)) if (result.includes(form)) result = result.replaceAll(form, REDACTED);
    // Only a text holding a backslash can hide an escaped secret: the common case stays a plain search.
    if (result.includes('\\')) result = result.replace(jsonEscapedPattern(secret), REDACTED);
  }
  return result;
}

/**
 * The process-wide set of secret values, for the last line of defence (every log line, every
 * error the CLI prints). Secret keys stay for the life of the process; a UserSig is replaced by
 * its successor under the same owner, so the set stays as small as the number of apps.
 */
const keys = new Set<string>();
const rotating = new Map<string, string[]>();
const known = new Set<string>();

/** Remembers a long-lived secret (a secret key) for {@link scrubKnownSecrets}. */
export function rememberSecret(value: string): void {
  if (value.length < MIN_SECRET_LENGTH || keys.has(value)) return;
  keys.add(value);
  known.add(value);
}

/**
 * Remembers the current value of a rotating secret (an app's UserSig); the previous one is kept
 * too, as an answer to a request signed with it may still arrive.
 */
export function rememberRotatingSecret(owner: string, value: string): void {
  if (value.length < MIN_SECRET_LENGTH) return;
  const [current, ...older] = [value, ...(rotating.get(owner) ?? []).filter((old) => old !== value)];
  rotating.set(owner, [current!, ...older.slice(0, 1)]);
  known.add(value);
  for (const dropped of older.slice(1)) if (!keys.has(dropped)) known.delete(dropped);
}

/**
 * Secrets are tokens of base64url-like characters (a UserSig is base64 with `*-_`, a secret key
 * hex): one pass over the text looking each token up is fast enough for every log line, whatever
 * the number of apps. A secret glued to other token characters is not found this way; texts
 * from upstreams are scrubbed exhaustively by {@link redactText} before they get this far.
 */
const TOKEN = /[A-Za-z0-9*_-]{8,}/g;

/** `text` with every remembered secret that stands as a token of its own replaced by `[redacted]`. */
export function scrubKnownSecrets(text: string): string {
  if (known.size === 0) return text;
  return text.replace(TOKEN, (token) => (known.has(token) ? REDACTED : token));
}
