/**
 * The loss report as text: an aligned table for a terminal, CSV for spreadsheets, JSON for
 * scripts. Pure: the same report always gives the same bytes, which is what the tests pin.
 */
import { describeAnomaly } from './anomalies.ts';
import { csvDocument } from './csv.ts';
import { formatHtml } from './html.ts';
import type { LossReport } from './lossReport.ts';
import { percent, rateCells } from './rates.ts';
import { REVISION_AGES } from './revisions.ts';
import { textTable } from './textTable.ts';

export const REPORT_FORMATS = ['table', 'csv', 'json', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const REPORT_SECTIONS = ['anomalies', 'stages', 'channels', 'topCodes', 'rates', 'revisions'] as const;
export type ReportSection = (typeof REPORT_SECTIONS)[number];

export interface FormatOptions {
  /**
   * Sections to print, for `table` and `csv` (default all, in this order). `json` always holds the
   * whole report. E.g. `['topCodes']` for a short report.
   */
  sections?: readonly ReportSection[];
}

/** The report in one format; the text ends with a line break. */
export function formatReport(report: LossReport, format: ReportFormat, options: FormatOptions = {}): string {
  switch (format) {
    case 'table':
      return formatTable(report, options);
    case 'csv':
      return formatCsv(report, options);
    case 'json':
      return formatJson(report);
    case 'html':
      return formatHtml(report);
  }
}

/** Loss in overall rows is shown against this channel label. */
const ALL_CHANNELS = 'all channels';

/** Aligned text: a title line, then one titled table per section. */
export function formatTable(report: LossReport, options: FormatOptions = {}): string {
  const sections = options.sections ?? REPORT_SECTIONS;
  const who = report.sdkappid === null ? 'all apps' : `app ${report.sdkappid}`;
  const span = `${report.days} day${report.days === 1 ? '' : 's'}, ${report.timeZone}`;
  const lines = [`Push loss report: ${who}, ${report.from} to ${report.to} (${span})`];
  const section = (title: string, table: string[] | null) => {
    lines.push('', title, ...(table ?? ['(no loss recorded)']));
  };

  if (sections.includes('anomalies')) {
    lines.push(
      '',
      'Anomalies now (push_loss_anomalies)',
      ...(report.anomalies.length === 0 ? ['(none)'] : report.anomalies.map(describeAnomaly)),
    );
  }
  if (sections.includes('stages')) {
    section(
      'Loss per stage (all channels)',
      report.stages.length === 0
        ? null
        : textTable(
            [{ header: 'app' }, { header: 'stage' }, { header: 'lost', align: 'right' }],
            report.stages.map((r) => [String(r.sdkappid), r.stageName, String(r.errCount)]),
          ),
    );
  }
  if (sections.includes('channels')) {
    section(
      'Loss per stage and channel',
      report.channels.length === 0
        ? null
        : textTable(
            [
              { header: 'app' },
              { header: 'stage' },
              { header: 'channel' },
              { header: 'lost', align: 'right' },
              { header: 'share', align: 'right' },
            ],
            report.channels.map((r) => [
              String(r.sdkappid),
              r.stageName,
              r.platformName,
              String(r.errCount),
              percent(r.share),
            ]),
          ),
    );
  }
  if (sections.includes('topCodes')) {
    section(
      report.top === 1 ? 'Top error code per stage and channel' : `Top ${report.top} error codes per stage and channel`,
      report.topCodes.length === 0
        ? null
        : textTable(
            [
              { header: 'app' },
              { header: 'stage' },
              { header: 'channel' },
              { header: '#', align: 'right' },
              { header: 'code' },
              { header: 'lost', align: 'right' },
              { header: 'description' },
              { header: 'title' },
              { header: 'fix' },
            ],
            report.topCodes.map((r) => [
              String(r.sdkappid),
              r.stageName,
              r.platformName ?? ALL_CHANNELS,
              String(r.rank),
              r.errCode,
              String(r.errCount),
              r.errInfo,
              r.title,
              r.fix,
            ]),
          ),
    );
  }
  if (sections.includes('rates')) {
    lines.push(
      '',
      'Loss rate per stage and channel (loss / pushes that could be sent, or were sent)',
      ...(report.rates.length === 0
        ? ['(no statistics collected)']
        : textTable(
            [
              { header: 'app' },
              { header: 'channel' },
              { header: 'stage' },
              { header: 'lost', align: 'right' },
              { header: 'of', align: 'right' },
              { header: 'loss rate', align: 'right' },
              { header: 'delivered', align: 'right' },
              { header: 'clicked', align: 'right' },
              { header: 'note' },
            ],
            report.rates.map((r) => [String(r.sdkappid), r.platformName ?? ALL_CHANNELS, r.stageName, ...rateCells(r)]),
          )),
    );
  }
  if (sections.includes('revisions')) {
    lines.push(
      '',
      'How counts settled: share of the final value by age after the bucket end (all apps, final buckets)',
      ...(report.revisions.length === 0
        ? ['(no final bucket with archived answers yet)']
        : textTable(
            [
              { header: 'api' },
              { header: 'stage' },
              { header: 'channel' },
              { header: 'buckets', align: 'right' },
              ...REVISION_AGES.map((age) => ({ header: age, align: 'right' as const })),
              { header: 'changed after 48 h', align: 'right' },
            ],
            report.revisions.map((r) => [
              r.feed,
              r.stage,
              r.platform === null ? ALL_CHANNELS : String(r.platform),
              String(r.buckets),
              ...REVISION_AGES.map((age) => percent(r.shares[age])),
              String(r.changedAfter48h),
            ]),
          )),
    );
  }
  return lines.join('\n') + '\n';
}

/** Column names of {@link formatCsv}. */
export const CSV_HEADER = [
  'section',
  'sdkappid',
  'stage',
  'platform',
  'platform_name',
  'rank',
  'err_code',
  'err_info',
  'err_count',
  'share',
  'denominator',
  'loss_rate',
  'delivery_rate',
  'click_rate',
  'statistics_incomplete',
] as const;

/**
 * One RFC 4180 table for all sections, told apart by the `section` column (`stage`, `channel`,
 * `top_code`, `rate`); cells that do not apply to a section are empty. Overall rows have an empty
 * platform. Identifiers rather than display names, so the file joins with the views.
 */
export function formatCsv(report: LossReport, options: FormatOptions = {}): string {
  // The revisions have columns of their own (a share per age): they are in the table and the
  // JSON, and in push_loss_revisions for a spreadsheet; this CSV's columns are a contract.
  const sections = options.sections ?? REPORT_SECTIONS;
  const records: Array<Array<string | number | null>> = [];
  if (sections.includes('stages')) {
    for (const r of report.stages)
      records.push(['stage', r.sdkappid, r.stage, null, null, null, null, null, r.errCount, null, ...NO_RATE]);
  }
  if (sections.includes('channels')) {
    for (const r of report.channels)
      records.push([
        'channel',
        r.sdkappid,
        r.stage,
        r.platform,
        r.platformName,
        null,
        null,
        null,
        r.errCount,
        r.share,
        ...NO_RATE,
      ]);
  }
  if (sections.includes('topCodes')) {
    for (const r of report.topCodes) {
      records.push([
        'top_code',
        r.sdkappid,
        r.stage,
        r.platform,
        r.platformName,
        r.rank,
        r.errCode,
        r.errInfo,
        r.errCount,
        null,
        ...NO_RATE,
      ]);
    }
  }
  if (sections.includes('rates')) {
    for (const r of report.rates) {
      records.push([
        'rate',
        r.sdkappid,
        r.stage,
        r.platform,
        r.platformName,
        null,
        null,
        null,
        r.lossCount,
        null,
        r.denominator,
        r.lossRate,
        r.deliveryRate,
        r.clickRate,
        r.statisticsIncomplete ? 'true' : 'false',
      ]);
    }
  }
  return csvDocument(CSV_HEADER, records);
}

/** The whole report object, indented by two spaces. */
export function formatJson(report: LossReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

/** The rate columns of the CSV, empty for the loss sections. */
const NO_RATE = [null, null, null, null, null] as const;
