import { createHmac } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { Clock } from '../clock.ts';
import { unixSeconds } from '../clock.ts';
import { rememberRotatingSecret } from '../redact.ts';
import type { Secret } from '../secret.ts';

/**
 * The admin UserSig (TLS signature version 2), computed locally from the app's secret key as
 * REFERENCE.md describes; node:crypto and node:zlib do the whole job, so the official package
 * would only add a dependency.
 */

export interface UserSigInput {
  sdkappid: number;
  identifier: string;
  secretKey: Secret;
  /** Unix seconds the signature is issued at. */
  time: number;
  /** Lifetime in seconds (a duration, not a timestamp). */
  expire: number;
}

/** The HMAC-SHA256 over the signed content, base64: the `TLS.sig` field. */
export function userSigHmac({ sdkappid, identifier, secretKey, time, expire }: UserSigInput): string {
  const content =
    `TLS.identifier:${identifier}\n` + `TLS.sdkappid:${sdkappid}\n` + `TLS.time:${time}\n` + `TLS.expire:${expire}\n`;
  return createHmac('sha256', secretKey.reveal()).update(content, 'utf8').digest('base64');
}

/** Builds the UserSig string: base64 of the deflated JSON document, with URL-safe substitutions. */
export function generateUserSig(input: UserSigInput): string {
  const doc = {
    'TLS.ver': '2.0',
    'TLS.identifier': input.identifier,
    'TLS.sdkappid': input.sdkappid,
    'TLS.time': input.time,
    'TLS.expire': input.expire,
    'TLS.sig': userSigHmac(input),
  };
  return deflateSync(Buffer.from(JSON.stringify(doc)))
    .toString('base64')
    .replace(/\+/g, '*')
    .replace(/\//g, '-')
    .replace(/=/g, '_');
}

/** Tencent recommends at least 24 h of validity; two days leaves room for clock skew. */
export const USERSIG_LIFETIME_SECONDS = 2 * 86_400;
/** Renewed once half its life is gone: "well before expiry", whatever the skew. */
const RENEW_AFTER_SECONDS = USERSIG_LIFETIME_SECONDS / 2;

/**
 * One app's current UserSig: reused while fresh, renewed well before it expires, and renewed on
 * demand when the API answers 70001 (expired), e.g. after the host's clock jumped.
 */
export class UserSigSource {
  readonly #app: { sdkappid: number; identifier: string; secretKey: Secret };
  readonly #clock: Clock;
  #issuedAt = Number.NEGATIVE_INFINITY;
  #sig = '';

  constructor(app: { sdkappid: number; identifier: string; secretKey: Secret }, clock: Clock) {
    this.#app = app;
    this.#clock = clock;
  }

  /** The signature to send now. */
  current(): string {
    if (unixSeconds(this.#clock.now()) - this.#issuedAt >= RENEW_AFTER_SECONDS) this.renew();
    return this.#sig;
  }

  /** Issues a new signature from the current time, discarding the cached one. */
  renew(): void {
    this.#issuedAt = unixSeconds(this.#clock.now());
    this.#sig = generateUserSig({ ...this.#app, time: this.#issuedAt, expire: USERSIG_LIFETIME_SECONDS });
    rememberRotatingSecret(`usersig:${this.#app.sdkappid}`, this.#sig);
  }

  /** Unix seconds the current signature was issued at (for tests and diagnostics). */
  get issuedAt(): number {
    return this.#issuedAt;
  }
}
