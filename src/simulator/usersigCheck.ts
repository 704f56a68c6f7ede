/**
 * The simulator's own UserSig (TLS signature v2) verifier.
 *
 * Written from the documented algorithm, on purpose without importing the project's UserSig
 * generator: a test that signs and verifies with the same code would pass even if both were wrong.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { inflateSync } from 'node:zlib';

/** The fields of a decoded v2 signature document. */
export interface UserSigDocument {
  ver: string;
  identifier: string;
  sdkappid: number;
  time: number;
  expire: number;
  sig: string;
}

/** What a verification concluded; failures carry the Tencent error code to answer with. */
export type UserSigVerdict = { ok: true; doc: UserSigDocument } | { ok: false; code: number; info: string };

/** What the request claims and what the server knows. */
export interface UserSigExpectation {
  /** The `sdkappid` of the URL. */
  sdkappid: number;
  /** The `identifier` of the URL. */
  identifier: string;
  /** The app's console secret key, used as a UTF-8 string. */
  secretKey: string;
  /** The server's "now", in epoch milliseconds. */
  nowMs: number;
}

/** Signature parse failure. */
const PARSE_FAILED = 70003;
/** HMAC does not match the app's key. */
const BAD_SIGNATURE = 70009;
/** Signature issued for another user or app. */
const MISMATCH = 70013;
/** Signature lifetime over. */
const EXPIRED = 70001;

/** Inflated documents are tiny; the cap keeps a hostile "zip bomb" from costing memory. */
const MAX_DOCUMENT_BYTES = 64 * 1024;

/**
 * Decodes a UserSig into its document: URL-safe alphabet back to base64
 * (`*`→`+`, `-`→`/`, `_`→`=`), zlib inflate, JSON parse.
 * Returns a reason string when any step fails or a field has the wrong type.
 */
export function decodeUserSig(usersig: string): UserSigDocument | string {
  const base64 = usersig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  // Buffer.from silently skips characters outside the alphabet; reject them instead.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return 'usersig is not base64';
  let json: string;
  try {
    json = inflateSync(Buffer.from(base64, 'base64'), { maxOutputLength: MAX_DOCUMENT_BYTES }).toString('utf8');
  } catch {
    return 'usersig does not inflate';
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return 'usersig is not JSON';
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'usersig is not a JSON object';
  const doc = raw as Record<string, unknown>;
  const ver = doc['TLS.ver'];
  const identifier = doc['TLS.identifier'];
  const sdkappid = doc['TLS.sdkappid'];
  const time = doc['TLS.time'];
  const expire = doc['TLS.expire'];
  const sig = doc['TLS.sig'];
  if (typeof ver !== 'string') return 'TLS.ver missing';
  if (typeof identifier !== 'string') return 'TLS.identifier missing or not a string';
  if (!Number.isSafeInteger(sdkappid)) return 'TLS.sdkappid missing or not an integer';
  if (!Number.isSafeInteger(time)) return 'TLS.time missing or not an integer';
  if (!Number.isSafeInteger(expire)) return 'TLS.expire missing or not an integer';
  if (typeof sig !== 'string') return 'TLS.sig missing or not a string';
  return { ver, identifier, sdkappid: sdkappid as number, time: time as number, expire: expire as number, sig };
}

/** The HMAC-SHA256 input of a v2 signature, exactly as documented (each line ends in `\n`). */
function signedContent(doc: UserSigDocument): string {
  return (
    `TLS.identifier:${doc.identifier}\n` +
    `TLS.sdkappid:${doc.sdkappid}\n` +
    `TLS.time:${doc.time}\n` +
    `TLS.expire:${doc.expire}\n`
  );
}

/**
 * Verifies a UserSig against the request and the app's key. Checks, in order:
 * decodable and `TLS.ver` "2.0" (70003); `TLS.sdkappid` and `TLS.identifier` equal the URL's
 * (70013); HMAC matches (70009); not expired, i.e. `now <= time + expire` (70001).
 * Whether the identifier is the app's administrator is the caller's concern.
 */
export function verifyUserSig(usersig: string, expected: UserSigExpectation): UserSigVerdict {
  const doc = decodeUserSig(usersig);
  if (typeof doc === 'string') return { ok: false, code: PARSE_FAILED, info: `usersig invalid: ${doc}` };
  if (doc.ver !== '2.0')
    return { ok: false, code: PARSE_FAILED, info: `usersig invalid: TLS.ver ${doc.ver} is not 2.0` };
  if (doc.sdkappid !== expected.sdkappid) {
    return { ok: false, code: MISMATCH, info: 'usersig was issued for another sdkappid' };
  }
  if (doc.identifier !== expected.identifier) {
    return { ok: false, code: MISMATCH, info: 'usersig was issued for another identifier' };
  }
  // Compare the base64 text itself: decoding first would let stray characters slip through.
  const actual = Buffer.from(doc.sig, 'utf8');
  const wanted = Buffer.from(
    createHmac('sha256', expected.secretKey).update(signedContent(doc)).digest('base64'),
    'utf8',
  );
  if (actual.length !== wanted.length || !timingSafeEqual(actual, wanted)) {
    return { ok: false, code: BAD_SIGNATURE, info: 'usersig signature does not match the app key' };
  }
  if (expected.nowMs / 1000 > doc.time + doc.expire) {
    return { ok: false, code: EXPIRED, info: 'usersig expired' };
  }
  return { ok: true, doc };
}
