/**
 * From the API's loss entries of one bucket to the lines stored in `loss_fact`.
 *
 * Pure. The API is not documented to return each (array, platform, error code) once; if it
 * repeats one, the counts are added up (never dropped) and the description of the larger count
 * is kept, as `ErrInfo` is documented as "the most frequent error description".
 *
 * Texts are made storable, never refused: U+0000 (which a PostgreSQL text cannot hold) becomes
 * U+FFFD, and a description longer than ANSWER_LIMITS.maxDescriptionChars is cut and marked. The
 * answer itself is archived exactly (`tim_call.body`, `body_raw`), so nothing is lost.
 */
import { storableText, truncateDescription } from '../../tencent/limits.ts';
import type { LossEntry, LossStage } from '../../tencent/loss.ts';
import { OVERALL_PLATFORM } from '../../db/database.ts';
import type { LossScope } from '../../db/database.ts';

/** One fact line of a bucket: the key columns and the measures of `loss_fact`. */
export interface FactLine {
  scope: LossScope;
  stage: LossStage;
  /** Vendor number, or -1 ({@link OVERALL_PLATFORM}) for the overall arrays. */
  platform: number;
  errCode: string;
  errInfo: string;
  errCount: number;
}

const STAGES: ReadonlySet<string> = new Set<LossStage>(['ready_to_send', 'post_send_delivered']);
/** `platform` is a smallint column. */
const MAX_PLATFORM = 32_767;
/** `err_code` is part of the primary key, whose index entries must stay small. */
const MAX_ERR_CODE_CHARS = 100;

/**
 * Groups entries by (scope, stage, platform, errCode), summing counts. Output order is the order
 * in which each key first appears. Throws a RangeError on an entry that cannot be stored exactly
 * (unknown stage, platform outside 0..32767, count not a non-negative safe integer).
 */
export function normalizeLoss(entries: readonly LossEntry[]): FactLine[] {
  const lines = new Map<string, FactLine & { infoCount: number }>();
  for (const [index, entry] of entries.entries()) {
    validate(entry, index);
    const errCode = storableText(entry.errCode);
    const errInfo = truncateDescription(storableText(entry.errInfo));
    const scope: LossScope = entry.platform === null ? 'overall' : 'platform';
    const platform = entry.platform ?? OVERALL_PLATFORM;
    const key = JSON.stringify([scope, entry.stage, platform, errCode]);
    const line = lines.get(key);
    if (!line) {
      lines.set(key, {
        scope,
        stage: entry.stage,
        platform,
        errCode,
        errInfo,
        errCount: entry.errCount,
        infoCount: entry.errCount,
      });
      continue;
    }
    const total = line.errCount + entry.errCount;
    if (!Number.isSafeInteger(total))
      throw new RangeError(`loss entry ${index}: the total count of error ${entry.errCode} exceeds 2^53`);
    line.errCount = total;
    if (entry.errCount > line.infoCount) {
      line.errInfo = errInfo;
      line.infoCount = entry.errCount;
    }
  }
  return [...lines.values()].map(({ infoCount: _, ...line }) => line);
}

function validate(entry: LossEntry, index: number): void {
  if (!STAGES.has(entry.stage))
    throw new RangeError(`loss entry ${index}: unknown stage ${JSON.stringify(entry.stage)}`);
  if (
    entry.platform !== null &&
    !(Number.isInteger(entry.platform) && entry.platform >= 0 && entry.platform <= MAX_PLATFORM)
  ) {
    throw new RangeError(`loss entry ${index}: platform ${entry.platform} is not an integer in 0..${MAX_PLATFORM}`);
  }
  if (!(Number.isSafeInteger(entry.errCount) && entry.errCount >= 0)) {
    throw new RangeError(`loss entry ${index}: count ${entry.errCount} is not a non-negative integer`);
  }
  if (typeof entry.errCode !== 'string') throw new RangeError(`loss entry ${index}: error code is not a string`);
  if (entry.errCode.length > MAX_ERR_CODE_CHARS)
    throw new RangeError(
      `loss entry ${index}: error code is ${entry.errCode.length} characters, more than ${MAX_ERR_CODE_CHARS}`,
    );
  if (typeof entry.errInfo !== 'string') throw new RangeError(`loss entry ${index}: error description is not a string`);
}
