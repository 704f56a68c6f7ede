/**
 * `pushloss report` as a user runs it: options checked with one-line messages, the report printed
 * in each format from a real database (PostgreSQL, or an on-disk PGlite data directory), and a
 * refusal, without touching the schema, when the database is not migrated.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UsageError } from '../../../src/cli/command.ts';
import type { CommandContext, OptionValues } from '../../../src/cli/command.ts';
import { parseReportOptions, reportCommand, SchemaNotMigratedError } from '../../../src/cli/commands/report.ts';
import { loadConfig } from '../../../src/config/config.ts';
import { openDatabase } from '../../../src/db/connect.ts';
import type { Database } from '../../../src/db/database.ts';
import { migrateToLatest, migrationStatus } from '../../../src/db/migrate.ts';
import { createLogger } from '../../../src/log.ts';
import { CSV_HEADER } from '../../../src/report/formats.ts';
import type { LossReport } from '../../../src/report/lossReport.ts';
import { createTestDatabase } from '../../helpers/database.ts';
import type { TestDatabase } from '../../helpers/database.ts';
import { dayBucket, load, loss } from '../../helpers/fixtures.ts';

const A = 1400000001;
const DAY_MS = 86_400_000;

/** A Shanghai calendar date, `days` before the current one. */
function shanghaiDate(daysAgo: number): string {
  return new Date(Date.now() + 8 * 3_600_000 - daysAgo * DAY_MS).toISOString().slice(0, 10);
}

/** Two days ago, so a run that straddles midnight still finds it in a 7-day report. */
const DATA_DAY = shanghaiDate(2);

async function seed(db: Kysely<Database>): Promise<void> {
  const entries = [
    loss('ready_to_send', null, '-1', 9, 'unknown error'),
    loss('ready_to_send', 4, '-1', 9, 'unknown error'),
  ];
  // Fetched a minute ago by the real clock, not the fixtures' fake one.
  await load(db, A, dayBucket(DATA_DAY), '1d', entries, { startedAt: Date.now() - 60_000, durationMs: 40 });
}

/** Where the database is, as the configuration would say it: a server URL or a data directory. */
interface Target {
  env: Record<string, string>;
  close(): Promise<void>;
}

async function migratedTarget(): Promise<Target> {
  if (inject('pushlossTestDb').mode === 'server') {
    const t: TestDatabase = await createTestDatabase();
    await seed(t.db);
    return { env: { DATABASE_URL: t.url! }, close: () => t.close() };
  }
  const dir = await mkdtemp(join(tmpdir(), 'pushloss-report-'));
  const opened = await openDatabase({ dataDir: dir });
  try {
    await migrateToLatest(opened.db);
    await seed(opened.db);
  } finally {
    await opened.close();
  }
  return { env: { PUSHLOSS_DATA_DIR: dir }, close: () => rm(dir, { recursive: true, force: true }) };
}

async function emptyTarget(): Promise<Target & { status(): Promise<Array<{ executedAt: Date | undefined }>> }> {
  if (inject('pushlossTestDb').mode === 'server') {
    const t = await createTestDatabase({ migrate: false });
    return { env: { DATABASE_URL: t.url! }, close: () => t.close(), status: () => migrationStatus(t.db) };
  }
  const dir = await mkdtemp(join(tmpdir(), 'pushloss-report-empty-'));
  return {
    env: { PUSHLOSS_DATA_DIR: dir },
    close: () => rm(dir, { recursive: true, force: true }),
    status: async () => {
      const opened = await openDatabase({ dataDir: dir });
      try {
        return await migrationStatus(opened.db);
      } finally {
        await opened.close();
      }
    },
  };
}

/** Runs the command; returns its exit code and what it printed, as console.log would print it. */
async function runReport(
  env: Record<string, string>,
  values: OptionValues,
  positionals: string[] = [],
): Promise<{ code: number; printed: string }> {
  const lines: string[] = [];
  const ctx: CommandContext = {
    config: loadConfig({ ...env, LOG_LEVEL: 'silent' }),
    logger: createLogger('silent'),
    out: (line) => lines.push(line),
    signal: new AbortController().signal,
  };
  const code = await reportCommand.run(ctx, values, positionals);
  return { code, printed: lines.map((line) => line + '\n').join('') };
}

describe('options', () => {
  it('defaults to 7 days, all apps, a table', () => {
    expect(parseReportOptions({})).toEqual({ sdkappid: undefined, days: 7, format: 'table' });
    expect(parseReportOptions({ app: '1400000001', days: '30', format: 'csv' })).toEqual({
      sdkappid: 1400000001,
      days: 30,
      format: 'csv',
    });
  });

  it.each([
    [{ app: 'abc' }, '--app: "abc" is not an SDKAppID; pass the app\'s number, e.g. --app 1400000001'],
    [{ app: '0' }, '--app: "0" is not an SDKAppID; pass the app\'s number, e.g. --app 1400000001'],
    [
      { app: '99999999999999999' },
      '--app: "99999999999999999" is not an SDKAppID; pass the app\'s number, e.g. --app 1400000001',
    ],
    [{ days: '0' }, '--days: "0" is not a whole number from 1 to 3660'],
    [{ days: '1.5' }, '--days: "1.5" is not a whole number from 1 to 3660'],
    [{ days: '3661' }, '--days: "3661" is not a whole number from 1 to 3660'],
    [{ days: '' }, '--days: "" is not a whole number from 1 to 3660'],
    [{ format: 'xml' }, '--format: "xml" is not a format; use table, csv, json, html'],
    [{ out: '' }, '--out: give the file to write, e.g. --out report.html'],
  ])('rejects %j with one line', (values, message) => {
    expect(() => parseReportOptions(values)).toThrow(new UsageError(message));
    try {
      parseReportOptions(values);
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(2);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('rejects a stray argument', () => {
    expect(() => parseReportOptions({}, ['today'])).toThrow(
      'report: unexpected argument "today"; see pushloss report --help',
    );
  });

  it('declares its options for the CLI parser', () => {
    expect(reportCommand.name).toBe('report');
    expect(reportCommand.options).toEqual({
      app: { type: 'string' },
      days: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
    });
    expect(reportCommand.usage).toMatch(
      /--app <sdkappid>[\s\S]*--days <n>[\s\S]*--format table\|csv\|json\|html[\s\S]*--out <file>/,
    );
  });
});

describe('on a migrated database', () => {
  let target: Target;
  beforeAll(async () => {
    target = await migratedTarget();
  });
  afterAll(() => target?.close());

  it('prints the table by default', async () => {
    const { code, printed } = await runReport(target.env, { app: String(A) });
    expect(code).toBe(0);
    expect(printed).toBe(
      [
        `Push loss report: app ${A}, ${shanghaiDate(6)} to ${shanghaiDate(0)} (7 days, Asia/Shanghai)`,
        '',
        'Anomalies now (push_loss_anomalies)',
        '(none)',
        '',
        'Loss per stage (all channels)',
        'app         stage                lost',
        '----------  -------------------  ----',
        `${A}  Ready to send           9`,
        `${A}  Sent, not delivered     0`,
        '',
        'Loss per stage and channel',
        'app         stage          channel  lost   share',
        '----------  -------------  -------  ----  ------',
        `${A}  Ready to send  FCM         9  100.0%`,
        '',
        'Top 5 error codes per stage and channel',
        'app         stage          channel       #  code  lost  description    title                   fix',
        '----------  -------------  ------------  -  ----  ----  -------------  ----------------------  -------------------------------------------------------------------------------------------------------------------------------',
        `${A}  Ready to send  all channels  1  -1       9  unknown error  Certificate ID not set  Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).`,
        `${A}  Ready to send  FCM           1  -1       9  unknown error  Certificate ID not set  Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).`,
        '',
        'Loss rate per stage and channel (loss / pushes that could be sent, or were sent)',
        '(no statistics collected)',
        '',
        'How counts settled: share of the final value by age after the bucket end (all apps, final buckets)',
        '(no final bucket with archived answers yet)',
        '',
      ].join('\n'),
    );
  });

  it('prints JSON that parses to the report', async () => {
    const { printed } = await runReport(target.env, { app: String(A), format: 'json', days: '3' });
    const report = JSON.parse(printed) as LossReport;
    expect(report).toMatchObject({
      sdkappid: A,
      days: 3,
      from: shanghaiDate(2),
      to: shanghaiDate(0),
      timeZone: 'Asia/Shanghai',
    });
    expect(report.stages.map((s: { errCount: number }) => s.errCount)).toEqual([9, 0]);
    expect(report.channels).toEqual([
      {
        sdkappid: A,
        stage: 'ready_to_send',
        stageName: 'Ready to send',
        platform: 4,
        platformName: 'FCM',
        errCount: 9,
        share: 1,
      },
    ]);
  });

  it('prints CSV with CRLF line ends; a period without loss is the header alone', async () => {
    const { printed } = await runReport(target.env, { format: 'csv', days: '2' });
    expect(printed).toBe(CSV_HEADER.join(',') + '\r\n');
    const withData = await runReport(target.env, { format: 'csv' });
    expect(withData.printed.split('\r\n')).toEqual([
      CSV_HEADER.join(','),
      `stage,${A},ready_to_send,,,,,,9,,,,,,`,
      `stage,${A},post_send_delivered,,,,,,0,,,,,,`,
      `channel,${A},ready_to_send,4,FCM,,,,9,1,,,,,`,
      `top_code,${A},ready_to_send,,,1,-1,unknown error,9,,,,,,`,
      `top_code,${A},ready_to_send,4,FCM,1,-1,unknown error,9,,,,,,`,
      '',
    ]);
  });
});

describe('on a database that is not migrated', () => {
  it('refuses with one line naming the fix, and leaves the schema alone', async () => {
    const target = await emptyTarget();
    try {
      const error = await runReport(target.env, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SchemaNotMigratedError);
      expect((error as Error).message).toMatch(
        /^the database schema is not up to date \(pending: 0001_warehouse, [\w, ]*0003_bi_views[\w, ]*\); run pushloss migrate first$/,
      );
      expect((await target.status()).every((m) => m.executedAt === undefined)).toBe(true);
    } finally {
      await target.close();
    }
  });
});
