import { writeFile } from 'node:fs/promises';
import { systemClock } from '../../clock.ts';
import { migrationStatus } from '../../db/migrate.ts';
import { formatReport, REPORT_FORMATS } from '../../report/formats.ts';
import type { ReportFormat } from '../../report/formats.ts';
import { lossReport } from '../../report/lossReport.ts';
import { parseAppOption, UsageError, type Command, type OptionValues } from '../command.ts';
import { withDatabase } from '../database.ts';

/** The longest period `--days` accepts: ten years, far beyond any sensible terminal report. */
export const MAX_REPORT_DAYS = 3660;

/** The schema is behind this program: the report reads views a pending migration creates. */
export class SchemaNotMigratedError extends Error {
  readonly code = 'SCHEMA_NOT_MIGRATED';
  constructor(pending: readonly string[]) {
    super(`the database schema is not up to date (pending: ${pending.join(', ')}); run pushloss migrate first`);
    this.name = 'SchemaNotMigratedError';
  }
}

export interface ReportCommandOptions {
  sdkappid: number | undefined;
  days: number;
  format: ReportFormat;
  /** File to write the report to, instead of printing it. */
  out: string | undefined;
}

/** Validates the command line; every problem is one UsageError line naming the option. */
export function parseReportOptions(values: OptionValues, positionals: readonly string[] = []): ReportCommandOptions {
  if (positionals.length > 0)
    throw new UsageError(`report: unexpected argument "${positionals[0]}"; see pushloss report --help`);
  const sdkappid = parseAppOption(values.app);
  const daysText = values.days ?? '7';
  const days = Number(daysText);
  if (typeof daysText !== 'string' || !/^\d+$/.test(daysText) || days < 1 || days > MAX_REPORT_DAYS) {
    throw new UsageError(`--days: "${String(daysText)}" is not a whole number from 1 to ${MAX_REPORT_DAYS}`);
  }
  const format = values.format ?? 'table';
  if (typeof format !== 'string' || !(REPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format: "${String(format)}" is not a format; use ${REPORT_FORMATS.join(', ')}`);
  }
  const out = values.out;
  if (out !== undefined && (typeof out !== 'string' || out === ''))
    throw new UsageError('--out: give the file to write, e.g. --out report.html');
  return { sdkappid, days, format: format as ReportFormat, out };
}

/**
 * Prints the loss report of the last days from the warehouse: no BI tool needed. Read-only: it
 * refuses a database with pending migrations rather than migrating it, because a report is often
 * run with a reader's credentials, against a production database, by someone who did not mean to
 * change its schema.
 */
export const reportCommand: Command = {
  name: 'report',
  summary: 'print loss per stage and channel, and the top error codes (table, csv, json or an html page)',
  usage: `pushloss report [--app <sdkappid>] [--days <n>] [--format table|csv|json|html] [--out <file>]

Loss per stage, per stage and channel, and the top 5 error codes per stage and channel, over the
last <n> days ending today (local days in BUCKET_TZ). Reads the BI views only and never migrates:
run pushloss migrate first.
  --app <sdkappid>          one app (default: every app with loss in the period)
  --days <n>                1 to ${MAX_REPORT_DAYS} days, today included (default 7)
  --format table|csv|json|html
                            aligned text (default), RFC 4180 CSV, JSON, or one self-contained
                            HTML page with charts (loss per stage and channel over time, top
                            codes, rates), which needs no network and prints well
  --out <file>              write the report to <file> instead of printing it`,
  options: { app: { type: 'string' }, days: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } },
  async run({ config, logger, out }, values, positionals) {
    const options = parseReportOptions(values, positionals);
    return withDatabase(
      config,
      logger,
      async (db) => {
        const pending = (await migrationStatus(db)).filter((m) => m.executedAt === undefined).map((m) => m.name);
        if (pending.length > 0) throw new SchemaNotMigratedError(pending);
        const report = await lossReport(db, {
          sdkappid: options.sdkappid,
          days: options.days,
          nowMs: systemClock.now(),
          timeZone: config.bucketTz,
          daily: options.format === 'html',
        });
        const text = formatReport(report, options.format);
        if (options.out !== undefined) {
          await writeFile(options.out, text);
          out(`wrote ${options.out}`);
          return 0;
        }
        // out() adds the line break the text already ends with (for CSV: the LF of its CRLF).
        out(text.endsWith('\n') ? text.slice(0, -1) : text);
        return 0;
      },
      { migrate: false },
    );
  },
};
