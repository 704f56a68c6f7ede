/**
 * The report's text formats on hand-made reports (no database): alignment, CSV quoting, empty
 * sections, the short form the demo prints.
 */
import { describe, expect, it } from 'vitest';
import { csvDocument, csvField } from '../../src/report/csv.ts';
import { formatReport } from '../../src/report/formats.ts';
import type { LossReport } from '../../src/report/lossReport.ts';
import { textTable } from '../../src/report/textTable.ts';

const empty: LossReport = {
  sdkappid: null,
  timeZone: 'Asia/Shanghai',
  from: '2025-03-12',
  to: '2025-03-12',
  days: 1,
  top: 1,
  anomalies: [],
  stages: [],
  channels: [],
  topCodes: [],
  rates: [],
  revisions: [],
};

const small: LossReport = {
  ...empty,
  sdkappid: 7,
  top: 3,
  stages: [{ sdkappid: 7, stage: 'ready_to_send', stageName: 'Ready to send', errCount: 12 }],
  channels: [
    {
      sdkappid: 7,
      stage: 'ready_to_send',
      stageName: 'Ready to send',
      platform: 8,
      platformName: 'HONOR',
      errCount: 12,
      share: null,
    },
  ],
  topCodes: [
    {
      sdkappid: 7,
      stage: 'ready_to_send',
      stageName: 'Ready to send',
      platform: 8,
      platformName: 'HONOR',
      rank: 1,
      errCode: '80',
      errInfo: 'line one\r\nline two',
      errCount: 12,
      title: 'Some title',
      fix: 'Do this.',
    },
  ],
};

describe('textTable', () => {
  it('pads by terminal columns: a wide character takes two', () => {
    expect(
      textTable(
        [{ header: 'name' }, { header: 'n', align: 'right' }, { header: 'note' }],
        [
          ['离线', '5', 'x'],
          ['ab', '123', ''],
          ['e\u0301', '1', ''], // e + combining acute accent: one column
        ],
      ),
    ).toEqual(['name    n  note', '----  ---  ----', '离线    5  x', 'ab    123', 'e\u0301       1']);
  });

  it('keeps one row on one line', () => {
    expect(textTable([{ header: 'a' }, { header: 'b' }], [['x\ny', 'tab\there']])).toEqual([
      'a    b',
      '---  --------',
      'x y  tab here',
    ]);
  });
});

describe('csv', () => {
  it('quotes a field only for a comma, a quote, CR or LF, and doubles inner quotes', () => {
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField(' spaces kept ')).toBe(' spaces kept ');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(-1)).toBe('-1');
    expect(csvField(0.5)).toBe('0.5');
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField('')).toBe('');
  });

  it('ends every record, the last one too, with CRLF', () => {
    expect(csvDocument(['a', 'b'], [[1, 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
    expect(csvDocument(['a'], [])).toBe('a\r\n');
  });
});

describe('formatReport', () => {
  it('table of an empty period says so under each heading', () => {
    expect(formatReport(empty, 'table')).toBe(
      [
        'Push loss report: all apps, 2025-03-12 to 2025-03-12 (1 day, Asia/Shanghai)',
        '',
        'Anomalies now (push_loss_anomalies)',
        '(none)',
        '',
        'Loss per stage (all channels)',
        '(no loss recorded)',
        '',
        'Loss per stage and channel',
        '(no loss recorded)',
        '',
        'Top error code per stage and channel',
        '(no loss recorded)',
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

  it('csv and json of an empty period: the header alone, empty arrays', () => {
    expect(formatReport(empty, 'csv')).toBe(
      'section,sdkappid,stage,platform,platform_name,rank,err_code,err_info,err_count,share,denominator,loss_rate,delivery_rate,click_rate,statistics_incomplete\r\n',
    );
    expect(JSON.parse(formatReport(empty, 'json'))).toEqual(empty);
  });

  it('only the sections asked for: the short report of top codes', () => {
    expect(formatReport(small, 'table', { sections: ['topCodes'] })).toBe(
      [
        'Push loss report: app 7, 2025-03-12 to 2025-03-12 (1 day, Asia/Shanghai)',
        '',
        'Top 3 error codes per stage and channel',
        'app  stage          channel  #  code  lost  description         title       fix',
        '---  -------------  -------  -  ----  ----  ------------------  ----------  --------',
        '7    Ready to send  HONOR    1  80      12  line one  line two  Some title  Do this.',
        '',
      ].join('\n'),
    );
    expect(formatReport(small, 'csv', { sections: ['channels', 'topCodes'] })).toBe(
      [
        'section,sdkappid,stage,platform,platform_name,rank,err_code,err_info,err_count,share,denominator,loss_rate,delivery_rate,click_rate,statistics_incomplete',
        'channel,7,ready_to_send,8,HONOR,,,,12,,,,,,', // share null: the stage's per-channel total was 0
        'top_code,7,ready_to_send,8,HONOR,1,80,"line one\r\nline two",12,,,,,,',
        '',
      ].join('\r\n'),
    );
  });

  it('a share of null prints as an empty cell in the table', () => {
    const lines = formatReport(small, 'table', { sections: ['channels'] }).split('\n');
    expect(lines.slice(2, 6)).toEqual([
      'Loss per stage and channel',
      'app  stage          channel  lost  share',
      '---  -------------  -------  ----  -----',
      '7    Ready to send  HONOR      12',
    ]);
  });
});
