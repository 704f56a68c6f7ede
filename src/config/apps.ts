/**
 * The apps to collect: one from TIM_* variables, or several from the JSON file PUSHLOSS_APPS_FILE.
 */
import { z } from 'zod';
import { Secret } from '../secret.ts';
import { REGION_NAMES, isLoopbackUrl, regionBaseUrls, type Region } from '../tencent/regions.ts';
import { CONFIG_DEFAULTS, ConfigError, fail, read, readBoundedFile, secretFrom, type Env } from './env.ts';

/** 10,000 apps take about 2 MB; reading stops past this, so a wrong path cannot hang or fill memory. */
const MAX_APPS_FILE_BYTES = 32 * 1024 * 1024;

export interface AppConfig {
  sdkappid: number;
  secretKey: Secret;
  identifier: string;
  region: Region;
  /** Tried in order; a network-level failure moves retries to the next one. */
  baseUrls: string[];
  /** True when every base URL is on this machine (the simulator): a faster cap is allowed. */
  loopback: boolean;
}

/** An app served by a simulator on this machine (the demo, the bench, tests). */
export function loopbackApp(sdkappid: number, secretKey: string, baseUrls: string[]): AppConfig {
  return {
    sdkappid,
    secretKey: new Secret(secretKey),
    identifier: CONFIG_DEFAULTS.TIM_IDENTIFIER,
    region: 'china',
    baseUrls,
    loopback: true,
  };
}

/**
 * SDKAppIDs are unsigned 32-bit numbers (1400000001, 20000xxxxx). A longer text is a typo, and
 * past 2^53 JavaScript would silently read another number (9999999999999999 as 10^16).
 */
export const MAX_SDKAPPID = 4_294_967_295;

/** The SDKAppID a text spells, or undefined when it is not one. */
export function parseSdkAppId(text: string): number | undefined {
  if (!/^[1-9]\d{0,9}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_SDKAPPID ? value : undefined;
}

const appEntrySchema = z.strictObject({
  sdkappid: z.number().refine((value) => Number.isInteger(value) && value >= 1 && value <= MAX_SDKAPPID, {
    message: `not an SDKAppID (a whole number from 1 to ${MAX_SDKAPPID})`,
  }),
  secretKey: z.string().min(1).optional(),
  secretKeyFile: z.string().min(1).optional(),
  identifier: z.string().min(1).optional(),
  region: z.enum(REGION_NAMES as [Region, ...Region[]]),
  baseUrl: z.string().min(1).optional(),
});

export function loadApps(env: Env): AppConfig[] {
  const appsFile = read(env, 'PUSHLOSS_APPS_FILE');
  if (appsFile !== undefined) {
    if (read(env, 'TIM_SDKAPPID') !== undefined) {
      fail(
        'PUSHLOSS_APPS_FILE',
        'is set together with TIM_SDKAPPID',
        'configure apps either in the file or through TIM_* variables, not both',
      );
    }
    return loadAppsFile(appsFile);
  }
  const sdkappidText = read(env, 'TIM_SDKAPPID');
  if (sdkappidText === undefined) return [];
  const sdkappid = parseSdkAppId(sdkappidText);
  if (sdkappid === undefined)
    fail(
      'TIM_SDKAPPID',
      `"${sdkappidText}" is not an SDKAppID (a whole number from 1 to ${MAX_SDKAPPID})`,
      'copy the numeric SDKAppID from the Chat console',
    );

  const regionText = read(env, 'TIM_REGION') ?? CONFIG_DEFAULTS.TIM_REGION;
  if (!(REGION_NAMES as string[]).includes(regionText))
    fail('TIM_REGION', `"${regionText}" is not a region`, `use one of ${REGION_NAMES.join('|')}`);
  const region = regionText as Region;

  return [
    buildApp({
      sdkappid,
      secretKey: secretFrom(
        read(env, 'TIM_SECRET_KEY'),
        read(env, 'TIM_SECRET_KEY_FILE'),
        'TIM_SECRET_KEY',
        'TIM_SECRET_KEY_FILE',
      ),
      identifier: read(env, 'TIM_IDENTIFIER') ?? CONFIG_DEFAULTS.TIM_IDENTIFIER,
      region,
      baseUrl: read(env, 'TIM_BASE_URL'),
      where: 'TIM_BASE_URL',
    }),
  ];
}

function loadAppsFile(path: string): AppConfig[] {
  let parsed: unknown;
  try {
    // A UTF-8 byte order mark (Windows editors add one) is not part of the JSON.
    const read = readBoundedFile(path, MAX_APPS_FILE_BYTES);
    if ('tooLarge' in read)
      fail(
        'PUSHLOSS_APPS_FILE',
        `${path} is larger than ${MAX_APPS_FILE_BYTES} bytes`,
        'point it at the JSON array of apps',
      );
    parsed = JSON.parse(read.text.replace(/^\uFEFF/, ''));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // Never echo the parser's message: it quotes the file's text, which holds secret keys.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    const why =
      (error as NodeJS.ErrnoException).code ??
      (position === undefined ? 'invalid JSON' : `invalid JSON at character ${position}`);
    fail(
      'PUSHLOSS_APPS_FILE',
      `cannot read ${path} as JSON (${why})`,
      'point it at a JSON array of apps as shown in the README',
    );
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    fail(
      'PUSHLOSS_APPS_FILE',
      `${path} is not a non-empty JSON array`,
      'write an array of {"sdkappid", "secretKey" or "secretKeyFile", "region"} objects',
    );
  }
  const seen = new Set<number>();
  return parsed.map((raw, index) => {
    const where = `PUSHLOSS_APPS_FILE ${path} entry ${index}`;
    const result = appEntrySchema.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const field = issue.path.join('.') || 'entry';
      fail(
        where,
        `${field}: ${issue.message}`,
        'each entry needs sdkappid (number), secretKey or secretKeyFile, region; identifier and baseUrl are optional',
      );
    }
    const entry = result.data;
    if (seen.has(entry.sdkappid)) fail(where, `sdkappid ${entry.sdkappid} is listed twice`, 'keep one entry per app');
    seen.add(entry.sdkappid);
    return buildApp({
      sdkappid: entry.sdkappid,
      secretKey: secretFrom(entry.secretKey, entry.secretKeyFile, `${where} secretKey`, `${where} secretKeyFile`),
      identifier: entry.identifier ?? CONFIG_DEFAULTS.TIM_IDENTIFIER,
      region: entry.region,
      baseUrl: entry.baseUrl,
      where: `${where} baseUrl`,
    });
  });
}

function buildApp(input: {
  sdkappid: number;
  secretKey: Secret;
  identifier: string;
  region: Region;
  baseUrl: string | undefined;
  where: string;
}): AppConfig {
  const baseUrls =
    input.baseUrl === undefined
      ? regionBaseUrls(input.region)
      : input.baseUrl.split(',').map((url) => checkBaseUrl(url.trim(), input.where));
  return {
    sdkappid: input.sdkappid,
    secretKey: input.secretKey,
    identifier: input.identifier,
    region: input.region,
    baseUrls,
    loopback: baseUrls.every((url) => isLoopbackUrl(new URL(url))),
  };
}

function checkBaseUrl(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(where, `"${text}" is not a URL`, "use https://host[:port], or leave it unset to use the region's domains");
  }
  if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
    fail(
      where,
      `"${text}" uses plain http on a remote host`,
      'use https://, plain http is only allowed for 127.0.0.1/localhost',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(where, `"${text}" is not http(s)`, 'use https://host[:port]');
  // Only the origin is used: anything else in the URL would be silently dropped, so refuse it.
  const extra = [
    url.username !== '' || url.password !== '' ? 'credentials' : undefined,
    url.pathname !== '/' ? `a path (${url.pathname})` : undefined,
    url.search !== '' || text.includes('?') ? 'a query' : undefined,
    url.hash !== '' || text.includes('#') ? 'a fragment' : undefined,
  ].filter((part) => part !== undefined);
  if (extra.length > 0)
    fail(
      where,
      `${url.origin} has ${extra.join(', ')}, which pushloss would not send`,
      'give only scheme, host and port, e.g. https://console.tim.qq.com',
    );
  return url.origin;
}
