/**
 * The error-code catalogue, shipped as data: what each code in `push_loss.err_code` means on its
 * channel, what to do about it, and whether it says the device token is dead (prune it).
 *
 * A code only means something with its channel (`1` on Xiaomi is not `1` on APNs), so every entry
 * names its `PushPlatform`; `platform: null` is one of Tencent's own codes, valid on every channel.
 * The texts are our own words after the vendors' documents named in `source`. The database gets
 * this list at every migrate (`syncErrorCodes`), so adding a code is a change to this file alone.
 */

/** One catalogued code. */
export interface ErrorCodeEntry {
  /** PushPlatform (1 APNs, 2 Xiaomi, 3 Huawei, 4 FCM, 5 Meizu, 6 OPPO, 7 vivo, 8 HONOR); null: every channel. */
  platform: number | null;
  /** The code exactly as `ErrCode` carries it (text). */
  code: string;
  title: string;
  meaning: string;
  fix: string;
  /** The token will never work again: remove it from the app's token store. */
  tokenInvalid: boolean;
  source: string;
}

const TENCENT = 'https://www.tencentcloud.com/document/product/1047/74196';
const TENCENT_LOSS_API = 'https://cloud.tencent.com/document/product/269/117847';
const APNS = 'https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns';
const FCM = 'https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode';
const HUAWEI = 'https://developer.huawei.com/consumer/en/doc/HMSCore-References/https-send-api-0000001050986197';
const XIAOMI = 'https://dev.mi.com/xiaomihyperos/documentation/detail?pId=1558';
const MEIZU = 'https://github.com/MEIZUPUSH/PushAPI';
const VIVO = 'https://dev.vivo.com.cn/documentCenter/doc/362';
const OPPO = 'https://open.oppomobile.com/new/developmentDoc/info?id=11238';
/** Alibaba EMAS's per-vendor table with cause and fix: the structured source for OPPO and HONOR. */
const EMAS = 'https://help.aliyun.com/document_detail/2853108.html';

const APNS_PLATFORM = 1;
const XIAOMI_PLATFORM = 2;
const HUAWEI_PLATFORM = 3;
const FCM_PLATFORM = 4;
const MEIZU_PLATFORM = 5;
const OPPO_PLATFORM = 6;
const VIVO_PLATFORM = 7;
const HONOR_PLATFORM = 8;

type Row = [code: string, title: string, meaning: string, fix: string, tokenInvalid?: boolean];

function channel(platform: number | null, source: string, rows: readonly Row[]): ErrorCodeEntry[] {
  return rows.map(([code, title, meaning, fix, tokenInvalid = false]) => ({
    platform,
    code,
    title,
    meaning,
    fix,
    tokenInvalid,
    source,
  }));
}

/** Huawei's Push Kit numbering, which HONOR's push server kept when HONOR left Huawei. */
const HMS_ROWS: readonly Row[] = [
  [
    '80100000',
    'Some tokens invalid',
    'The message went out, but part of the token list was refused.',
    'Read the illegal_tokens list in the vendor answer and remove those tokens.',
  ],
  [
    '80100001',
    'Bad parameter',
    'A request parameter is missing or has a wrong value.',
    'Compare the push request with the vendor API reference; usually a pushloss-external integration bug.',
  ],
  [
    '80100003',
    'Illegal payload',
    'The message structure is invalid (a wrong field name or type in the message body).',
    'Fix the message body the server sends; check custom fields added to the offline push configuration.',
  ],
  [
    '80100004',
    'Bad TTL',
    'The message time-to-live is outside what the vendor accepts.',
    'Send a TTL within the documented range (at most 15 days).',
  ],
  [
    '80200001',
    'Authentication failed',
    'The request carried no valid OAuth access token, or one of another app.',
    'Check the App ID and App Secret configured in the Tencent console for this vendor.',
  ],
  [
    '80200003',
    'Access token expired',
    'The OAuth access token used for the push had expired.',
    'Usually transient (the token is renewed); if it persists, re-enter the vendor credentials in the console.',
  ],
  [
    '80300002',
    'No permission',
    'The app may not send to these tokens: push is not enabled for it or the tokens belong to another app.',
    'Enable Push Kit for the app in the vendor console and check the App ID configured in Tencent.',
  ],
  [
    '80300007',
    'All tokens invalid',
    'Every token of the request is invalid for this app (malformed, uninstalled, or of another app).',
    'Remove the tokens; make sure the client registers with the App ID the server pushes with.',
    true,
  ],
  [
    '80300008',
    'Message too large',
    'The message body is larger than the vendor allows (4 KB).',
    'Shorten the notification title, body and custom data.',
  ],
  [
    '80300010',
    'Too many tokens',
    'The token list is empty or longer than the vendor allows per request (1,000).',
    'Nothing to do for Tencent-side batching; report it to Tencent support if it persists.',
  ],
  [
    '81000001',
    'Vendor internal error',
    'The vendor push server failed internally.',
    'Transient: the vendor retries; if it lasts, check the vendor status page.',
  ],
];

export const ERROR_CODES: readonly ErrorCodeEntry[] = [
  // Tencent's ready-to-send reasons: a push that never reached a vendor.
  ...channel(null, TENCENT_LOSS_API, [
    [
      '-1',
      'Certificate ID not set',
      'The push named no vendor certificate (business ID), so Tencent could not hand it to the vendor.',
      'Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).',
    ],
    [
      '-2',
      'Device token not uploaded',
      'The receiver’s device never reported a vendor token to Tencent.',
      'Check the client registers for offline push after login and that the vendor SDK returns a token on that device.',
    ],
    [
      '-3',
      'Receiver disabled offline push',
      'The receiver turned offline push off (or the app did for them).',
      'Nothing to fix unless unexpected: check the app does not disable offline push by mistake.',
    ],
    [
      '-4',
      'Excluded from offline push',
      'The message was sent with offline push disabled for it (e.g. an online-only or custom message).',
      'Nothing to fix unless unexpected: check the sender’s offline push flags.',
    ],
  ]),
  // Tencent's push server codes (9xxxx).
  ...channel(null, TENCENT, [
    [
      '90001',
      'Request JSON invalid',
      'The push request body was not valid JSON.',
      'Fix the request the app server sends.',
    ],
    [
      '90009',
      'Admin required',
      'The request needs the app administrator account.',
      'Call with an administrator identifier.',
    ],
    [
      '90018',
      'Too many accounts',
      'The request named more accounts than allowed.',
      'Split the push into smaller batches.',
    ],
    [
      '90024',
      'Pushing too often',
      'Pushes were sent less than a second apart.',
      'Space pushes at least one second apart.',
    ],
    [
      '90026',
      'Bad offline storage time',
      'The offline message storage time is out of range.',
      'Send a storage time within the documented range.',
    ],
    [
      '90045',
      'Push not enabled',
      'All-user, tag or single push is not enabled for the app.',
      'Enable the Push service for the app in the Tencent console.',
    ],
    [
      '90047',
      'Daily push limit reached',
      'The app used up its daily number of pushes (100 by default).',
      'Push less often or ask Tencent for a higher limit.',
    ],
    ['90056', 'Push body too large', 'An all-user push body is larger than 10 KB.', 'Shorten the push content.'],
    [
      '90100',
      'Invalid parameters',
      'A request parameter was invalid.',
      'Fix the request; for pushloss itself, see the collector log.',
    ],
    ['90102', 'Internal error', 'Tencent failed internally.', 'Transient: retry later.'],
    [
      '90103',
      'Account switch failed',
      'Tencent could not switch accounts while handling the request.',
      'Transient: retry later; report it to Tencent if it persists.',
    ],
    [
      '91000',
      'Internal server error',
      'Tencent’s push server failed internally.',
      'Transient: retry; report it to Tencent if it persists.',
    ],
  ]),
  ...channel(APNS_PLATFORM, APNS, [
    [
      '400',
      'Bad request',
      'APNs refused the request (HTTP 400); the reason says why, most often BadDeviceToken.',
      'Look at the reason (err_info); for BadDeviceToken check the token matches the certificate’s environment (sandbox or production).',
    ],
    [
      '403',
      'Certificate or auth token refused',
      'APNs refused the provider credentials (HTTP 403): a wrong, expired or revoked certificate or provider token.',
      'Upload a valid APNs certificate (or .p8 key) of the right environment for the bundle ID in the Tencent console.',
    ],
    [
      '404',
      'Bad path',
      'The request path was not a valid APNs path (HTTP 404).',
      'A sender bug: report it to Tencent support.',
    ],
    ['405', 'Method not allowed', 'APNs only accepts POST (HTTP 405).', 'A sender bug: report it to Tencent support.'],
    [
      '410',
      'Token no longer active',
      'The device token is no longer valid for the topic (HTTP 410): the app was uninstalled or the token expired.',
      'Remove the token and stop pushing to it until the device registers again.',
      true,
    ],
    [
      '413',
      'Payload too large',
      'The notification payload is larger than APNs allows (4 KB; 5 KB for VoIP).',
      'Shorten the notification title, body and custom data.',
    ],
    [
      '429',
      'Too many requests',
      'Too many requests for one device token, or too many provider-token updates (HTTP 429).',
      'Push less often to the same device; it clears on its own.',
    ],
    [
      '500',
      'APNs internal error',
      'APNs failed internally (HTTP 500).',
      'Transient: it is retried; check Apple’s system status if it lasts.',
    ],
    [
      '503',
      'APNs unavailable',
      'The APNs server is shut down or unavailable (HTTP 503).',
      'Transient: it is retried; check Apple’s system status if it lasts.',
    ],
    [
      'BadCollapseId',
      'Collapse ID too long',
      'The collapse identifier is longer than 64 bytes.',
      'Shorten the collapse ID the sender sets.',
    ],
    [
      'BadDeviceToken',
      'Bad device token',
      'The token is malformed, or of the other environment (a development token pushed with a production certificate, or the reverse).',
      'Check the certificate environment matches the app build; remove tokens that stay bad.',
      true,
    ],
    [
      'BadExpirationDate',
      'Bad expiration',
      'The apns-expiration value is invalid.',
      'Fix the expiration the sender sets.',
    ],
    ['BadMessageId', 'Bad message ID', 'The apns-id value is invalid.', 'A sender bug: report it to Tencent support.'],
    [
      'BadPriority',
      'Bad priority',
      'The apns-priority value is invalid.',
      'Send a priority APNs accepts (10, 5 or 1).',
    ],
    [
      'BadTopic',
      'Bad topic',
      'The apns-topic is invalid.',
      'Check the bundle ID of the certificate uploaded to Tencent.',
    ],
    [
      'DeviceTokenNotForTopic',
      'Token of another app',
      'The device token does not belong to the topic (bundle ID) pushed to.',
      'Check the certificate uploaded to Tencent is the one of this app’s bundle ID.',
    ],
    [
      'DuplicateHeaders',
      'Duplicate headers',
      'A request header was repeated.',
      'A sender bug: report it to Tencent support.',
    ],
    ['IdleTimeout', 'Idle timeout', 'The connection to APNs was idle too long.', 'Transient: nothing to do.'],
    [
      'InvalidPushType',
      'Invalid push type',
      'The apns-push-type header is invalid.',
      'A sender bug: report it to Tencent support.',
    ],
    [
      'MissingDeviceToken',
      'Missing device token',
      'The request carried no device token.',
      'Check the client uploads its APNs token.',
    ],
    [
      'MissingTopic',
      'Missing topic',
      'The apns-topic header was missing although required.',
      'Check the certificate or key configuration in the Tencent console.',
    ],
    ['PayloadEmpty', 'Empty payload', 'The notification payload was empty.', 'Send a notification with content.'],
    [
      'TopicDisallowed',
      'Topic not allowed',
      'Pushing to this topic is not allowed (e.g. a VoIP token with a normal certificate).',
      'Use the certificate that matches the push type and bundle ID.',
    ],
    [
      'BadCertificate',
      'Bad certificate',
      'The client certificate is invalid.',
      'Upload a valid APNs certificate in the Tencent console.',
    ],
    [
      'BadCertificateEnvironment',
      'Certificate of the wrong environment',
      'A sandbox certificate was used for production, or the reverse.',
      'Upload the certificate of the environment the app build uses.',
    ],
    [
      'ExpiredProviderToken',
      'Provider token expired',
      'The provider (JWT) token is older than an hour.',
      'Transient if the sender renews it; else check the key in the Tencent console.',
    ],
    ['Forbidden', 'Forbidden', 'The action is not allowed.', 'Check the APNs credentials in the Tencent console.'],
    [
      'InvalidProviderToken',
      'Invalid provider token',
      'The provider token or its signature is invalid (wrong key ID, team ID or key).',
      'Check the .p8 key, key ID and team ID in the Tencent console.',
    ],
    [
      'MissingProviderToken',
      'Missing provider token',
      'Neither a certificate nor a provider token authenticated the request.',
      'Configure an APNs certificate or key in the Tencent console.',
    ],
    ['BadPath', 'Bad path', 'The request path is invalid.', 'A sender bug: report it to Tencent support.'],
    ['MethodNotAllowed', 'Method not allowed', 'Only POST is accepted.', 'A sender bug: report it to Tencent support.'],
    ['ExpiredToken', 'Token expired', 'The device token has expired.', 'Remove the token.', true],
    [
      'Unregistered',
      'Token unregistered',
      'The device token is no longer active for the topic (app removed or notifications off for good).',
      'Remove the token and stop pushing to it.',
      true,
    ],
    ['PayloadTooLarge', 'Payload too large', 'The payload is larger than APNs allows.', 'Shorten the notification.'],
    [
      'TooManyProviderTokenUpdates',
      'Provider token renewed too often',
      'The provider token was changed too often.',
      'Transient; report it to Tencent if it persists.',
    ],
    [
      'TooManyRequests',
      'Too many requests',
      'Too many requests for the same device token.',
      'Push less often to the same device.',
    ],
    ['InternalServerError', 'APNs internal error', 'APNs failed internally.', 'Transient: nothing to do.'],
    ['ServiceUnavailable', 'APNs unavailable', 'APNs is unavailable.', 'Transient: nothing to do.'],
    [
      'Shutdown',
      'APNs server shut down',
      'The APNs server the connection used shut down.',
      'Transient: nothing to do.',
    ],
  ]),
  ...channel(FCM_PLATFORM, FCM, [
    [
      '400',
      'Invalid argument',
      'FCM refused the request as invalid (HTTP 400, INVALID_ARGUMENT): often a malformed registration token or payload.',
      'Check the token and the message fields; remove the token if it is malformed.',
    ],
    [
      '401',
      'Third-party auth error',
      'FCM could not deliver through APNs or Web Push because those credentials are invalid (HTTP 401).',
      'Check the APNs key or certificate uploaded to Firebase.',
    ],
    [
      '403',
      'Sender ID mismatch',
      'The token belongs to another Firebase project (HTTP 403, SENDER_ID_MISMATCH).',
      'Check the Firebase service account configured in Tencent is the project the app registers with.',
    ],
    [
      '404',
      'Token unregistered',
      'The registration token is no longer valid (HTTP 404, UNREGISTERED): the app was uninstalled or the token expired.',
      'Remove the token.',
      true,
    ],
    [
      '429',
      'Quota exceeded',
      'The sending quota was exceeded (HTTP 429, QUOTA_EXCEEDED), for the project, a device or a topic.',
      'Slow down; FCM says to retry with exponential backoff.',
    ],
    ['500', 'FCM internal error', 'FCM failed internally (HTTP 500, INTERNAL).', 'Transient: retried with backoff.'],
    ['503', 'FCM unavailable', 'FCM is overloaded (HTTP 503, UNAVAILABLE).', 'Transient: retried with backoff.'],
    [
      'UNSPECIFIED_ERROR',
      'Unspecified error',
      'FCM gave no further detail.',
      'Look at err_info; report it to Tencent if it persists.',
    ],
    [
      'INVALID_ARGUMENT',
      'Invalid argument',
      'A request parameter was invalid, often the registration token.',
      'Check the token and the message fields.',
    ],
    ['UNREGISTERED', 'Token unregistered', 'The registration token is no longer valid.', 'Remove the token.', true],
    [
      'SENDER_ID_MISMATCH',
      'Sender ID mismatch',
      'The token was issued for another sender (Firebase project).',
      'Configure the Firebase project the app registers with.',
    ],
    ['QUOTA_EXCEEDED', 'Quota exceeded', 'A sending limit was exceeded.', 'Slow down and retry with backoff.'],
    ['UNAVAILABLE', 'FCM unavailable', 'FCM is overloaded.', 'Transient: retry with backoff.'],
    ['INTERNAL', 'FCM internal error', 'FCM failed internally.', 'Transient: retry with backoff.'],
    [
      'THIRD_PARTY_AUTH_ERROR',
      'Third-party auth error',
      'The APNs or Web Push credentials behind FCM are invalid.',
      'Check the APNs credentials uploaded to Firebase.',
    ],
  ]),
  ...channel(HUAWEI_PLATFORM, HUAWEI, HMS_ROWS),
  ...channel(HONOR_PLATFORM, EMAS, HMS_ROWS),
  ...channel(XIAOMI_PLATFORM, XIAOMI, [
    [
      '1',
      'RegID invalid',
      'The Xiaomi regId is invalid for the app (regid_invalid): uninstalled, expired, or of another package.',
      'Remove the regId; check the client registers with the AppID and package the server pushes with.',
      true,
    ],
    [
      '21301',
      'Authentication failed',
      'Xiaomi refused the AppSecret the push was signed with.',
      'Check the Xiaomi AppSecret and package name configured in the Tencent console.',
    ],
  ]),
  ...channel(MEIZU_PLATFORM, MEIZU, [
    ['1001', 'Meizu system error', 'The Meizu push server failed.', 'Transient; nothing to do unless it lasts.'],
    ['1003', 'Meizu server busy', 'The Meizu push server is busy.', 'Transient; nothing to do unless it lasts.'],
    ['1005', 'Bad parameter', 'A request parameter was wrong.', 'Report it to Tencent support if it persists.'],
    [
      '110000',
      'AppId invalid',
      'The Meizu appId is not valid.',
      'Check the Meizu AppId configured in the Tencent console.',
    ],
    [
      '110001',
      'AppKey invalid',
      'The Meizu appKey is not valid.',
      'Check the Meizu AppKey/AppSecret configured in the Tencent console.',
    ],
    [
      '110002',
      'PushId invalid',
      'The Meizu pushId (device token) is not valid.',
      'Remove the pushId; it is renewed when the client registers again.',
      true,
    ],
    ['110010', 'Sending too fast', 'The app sends faster than Meizu allows.', 'Push less often; it clears on its own.'],
  ]),
  ...channel(OPPO_PLATFORM, OPPO, [
    ['-2', 'Flow control', 'OPPO throttled the app’s traffic.', 'Push less often; it clears on its own.'],
    [
      '11',
      'AuthToken invalid',
      'The OPPO auth token was invalid or expired.',
      'Usually renewed by the sender; if it persists, check the OPPO AppKey and MasterSecret in the Tencent console.',
    ],
    [
      '33',
      'Daily quota exceeded',
      'The app used up its OPPO daily push quota.',
      'Push less or apply to OPPO for a higher quota (it rises with active users).',
    ],
    [
      '10000',
      'RegistrationId invalid',
      'The OPPO registration_id is invalid (malformed, uninstalled, or of another app).',
      'Remove the registration_id; check the client registers with the app’s OPPO AppKey.',
      true,
    ],
  ]),
  ...channel(VIVO_PLATFORM, VIVO, [
    [
      '10070',
      'Daily total exceeded',
      'The app exceeded vivo’s total number of pushes for the day.',
      'Do not call vivo’s single push again today; apply for a higher quota or push less.',
    ],
    [
      '10094',
      'AppId mismatch',
      'The appId in the request does not match the authentication.',
      'Check the vivo AppId, AppKey and AppSecret configured in the Tencent console.',
    ],
    [
      '10252',
      'Batch body over limit',
      'The daily number of batch message bodies was exceeded.',
      'Push fewer batch messages today.',
    ],
    [
      '10254',
      'Broadcast over limit',
      'The daily number of pushes to all devices was exceeded.',
      'Broadcast less often.',
    ],
    [
      '10302',
      'RegId does not exist',
      'The vivo regId is unknown to vivo (uninstalled or never registered).',
      'Remove the regId.',
      true,
    ],
  ]),
];
