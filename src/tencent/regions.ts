/**
 * Regional domains of the Chat REST API (REFERENCE.md). Each region has a backup domain that
 * the client moves to when the primary fails at the network level.
 */
export const REGIONS = {
  china: { primary: 'console.tim.qq.com', backup: 'adminapi.my-imcloud.com' },
  singapore: { primary: 'adminapisgp.im.qcloud.com', backup: 'adminapisgp.my-imcloud.com' },
  seoul: { primary: 'adminapikr.im.qcloud.com', backup: 'adminapikr.my-imcloud.com' },
  frankfurt: { primary: 'adminapiger.im.qcloud.com', backup: 'adminapiger.my-imcloud.com' },
  'silicon-valley': { primary: 'adminapiusa.im.qcloud.com', backup: 'adminapiusa.my-imcloud.com' },
  jakarta: { primary: 'adminapiidn.im.qcloud.com', backup: 'adminapiidn.my-imcloud.com' },
} as const;

export type Region = keyof typeof REGIONS;
export const REGION_NAMES = Object.keys(REGIONS) as Region[];

/** Base URLs to try in order for a region: primary first, then backup. */
export function regionBaseUrls(region: Region): string[] {
  const { primary, backup } = REGIONS[region];
  return [`https://${primary}`, `https://${backup}`];
}

/** True when the URL points at this machine, where plain http and a faster cap are allowed. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
