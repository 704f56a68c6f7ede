import { createHmac } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../helpers/clock.ts';
import { runCli } from '../helpers/process.ts';
import { Secret } from '../../src/secret.ts';
import { USERSIG_LIFETIME_SECONDS, UserSigSource, generateUserSig } from '../../src/tencent/usersig.ts';

/** Undoes the URL-safe substitutions and the deflate, independently of the code under test. */
function decode(sig: string): Record<string, unknown> {
  const base64 = sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  return JSON.parse(inflateSync(Buffer.from(base64, 'base64')).toString('utf8')) as Record<string, unknown>;
}

describe('UserSig', () => {
  const key = 'dc8f4ac5bc0d2b6c1b9a5bd3e1f7c2a8e6d4b2a0c9e7f5d3b1a9c7e5f3d1b9a7';

  it('holds the documented document and an HMAC computed over the documented content', () => {
    const sig = generateUserSig({
      sdkappid: 1400000001,
      identifier: 'administrator',
      secretKey: new Secret(key),
      time: 1741708800,
      expire: 86400,
    });
    expect(sig).toMatch(/^[A-Za-z0-9*\-_]+$/);
    const doc = decode(sig);
    const expectedHmac = createHmac('sha256', Buffer.from(key, 'utf8'))
      .update('TLS.identifier:administrator\nTLS.sdkappid:1400000001\nTLS.time:1741708800\nTLS.expire:86400\n')
      .digest('base64');
    expect(doc).toEqual({
      'TLS.ver': '2.0',
      'TLS.identifier': 'administrator',
      'TLS.sdkappid': 1400000001,
      'TLS.time': 1741708800,
      'TLS.expire': 86400,
      'TLS.sig': expectedHmac,
    });
  });

  it('uses the key as a UTF-8 string, not hex-decoded', () => {
    const doc = decode(
      generateUserSig({ sdkappid: 1, identifier: 'a', secretKey: new Secret('00ff'), time: 1, expire: 2 }),
    );
    const hexKeyHmac = createHmac('sha256', Buffer.from('00ff', 'hex'))
      .update('TLS.identifier:a\nTLS.sdkappid:1\nTLS.time:1\nTLS.expire:2\n')
      .digest('base64');
    expect(doc['TLS.sig']).not.toBe(hexKeyHmac);
  });

  it('is reused while fresh and renewed well before it expires', () => {
    const clock = manualClock(1_800_000_000_000);
    const source = new UserSigSource({ sdkappid: 7, identifier: 'admin', secretKey: new Secret(key) }, clock);
    const first = source.current();
    const issued = source.issuedAt;
    clock.advance(3_600_000);
    expect(source.current()).toBe(first);
    // Past half its lifetime it is renewed, long before `time + expire`.
    clock.advance((USERSIG_LIFETIME_SECONDS / 2) * 1000);
    const second = source.current();
    expect(second).not.toBe(first);
    expect(source.issuedAt).toBeGreaterThan(issued);
    expect(decode(second)['TLS.time']).toBe(source.issuedAt);
    expect(source.issuedAt + USERSIG_LIFETIME_SECONDS).toBeGreaterThan(issued + USERSIG_LIFETIME_SECONDS);
  });

  it('renews on demand (the 70001 path)', () => {
    const clock = manualClock(1_800_000_000_000);
    const source = new UserSigSource({ sdkappid: 7, identifier: 'admin', secretKey: new Secret(key) }, clock);
    source.current();
    clock.advance(5_000);
    source.renew();
    expect(decode(source.current())['TLS.time']).toBe(1_800_000_005);
  });

  it('is printed by the usersig command, whole, and verifies with the app key', async () => {
    const before = Math.floor(Date.now() / 1000);
    const result = await runCli(['usersig'], { TIM_SDKAPPID: '1400000099', TIM_SECRET_KEY: key, LOG_LEVEL: 'silent' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const sig = result.stdout.trimEnd();
    expect(sig).not.toContain('[redacted]');
    const doc = decode(sig);
    expect(doc).toMatchObject({
      'TLS.ver': '2.0',
      'TLS.identifier': 'administrator',
      'TLS.sdkappid': 1400000099,
      'TLS.expire': USERSIG_LIFETIME_SECONDS,
    });
    const time = doc['TLS.time'] as number;
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    const hmac = createHmac('sha256', key)
      .update(
        `TLS.identifier:administrator\nTLS.sdkappid:1400000099\nTLS.time:${time}\nTLS.expire:${USERSIG_LIFETIME_SECONDS}\n`,
      )
      .digest('base64');
    expect(doc['TLS.sig']).toBe(hmac);
  });
});
