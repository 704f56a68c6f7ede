import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_TASK_IDS,
  parseAllMemberLossBody,
  parseAllMemberLossJson,
  parseAllMemberStatisticsBody,
  parseAllMemberStatisticsJson,
  taskIdsProblem,
} from '../../src/tencent/allMember.ts';

const ok = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: 'sucess' };
const envelope = { actionStatus: 'OK', errorCode: 0, errorInfo: 'sucess', requestId: null };

/** The documented loss sample's arrays, with EventType on the per-channel lines. */
const lossArrays = {
  ReadyToSendLoss: [{ ErrCode: '-1', ErrCount: 167, ErrInfo: 'certificate id not set' }],
  PostSendDeliveredLoss: [{ ErrCode: '410', ErrCount: 35, ErrInfo: 'Unregistered' }],
  PlatformReadyToSendLoss: [
    { PushPlatform: 1, EventType: 1, ErrCode: '-1', ErrCount: 167, ErrInfo: 'certificate id not set' },
  ],
  PlatformPostSendDeliveredLoss: [
    { PushPlatform: 1, EventType: 1, ErrCode: '410', ErrCount: 30, ErrInfo: 'Unregistered' },
    { PushPlatform: 0, EventType: 2, ErrCode: '410', ErrCount: 5, ErrInfo: 'Unregistered' },
  ],
};
const lossEntries = [
  {
    stage: 'ready_to_send',
    platform: null,
    eventType: null,
    errCode: '-1',
    errInfo: 'certificate id not set',
    errCount: 167,
  },
  {
    stage: 'post_send_delivered',
    platform: null,
    eventType: null,
    errCode: '410',
    errInfo: 'Unregistered',
    errCount: 35,
  },
  {
    stage: 'ready_to_send',
    platform: 1,
    eventType: 1,
    errCode: '-1',
    errInfo: 'certificate id not set',
    errCount: 167,
  },
  { stage: 'post_send_delivered', platform: 1, eventType: 1, errCode: '410', errInfo: 'Unregistered', errCount: 30 },
  { stage: 'post_send_delivered', platform: 0, eventType: 2, errCode: '410', errInfo: 'Unregistered', errCount: 5 },
];

const statsResult = {
  TotalCount: 1000,
  SentCount: 900,
  DeliveredCount: 800,
  ClickCount: 70,
  PlatformStatistics: [
    { EventType: 1, PushPlatform: 1, TotalCount: 600, SentCount: 550, DeliveredCount: 500, ClickCount: 50 },
    { EventType: 1, PushPlatform: 0, TotalCount: 10, SentCount: 9, DeliveredCount: 8, ClickCount: 0 },
    { EventType: 2, PushPlatform: 0, TotalCount: 300, SentCount: 300, DeliveredCount: 290, ClickCount: 20 },
  ],
};
const statsValue = {
  overall: { total: 1000, sent: 900, delivered: 800, click: 70 },
  platforms: [
    { platform: 1, eventType: 1, total: 600, sent: 550, delivered: 500, click: 50 },
    { platform: 0, eventType: 1, total: 10, sent: 9, delivered: 8, click: 0 },
    { platform: 0, eventType: 2, total: 300, sent: 300, delivered: 290, click: 20 },
  ],
};
const noStats = { overall: { total: null, sent: null, delivered: null, click: null }, platforms: [] };

const reasonOf = (parsed: { kind: string; reason?: string }) =>
  parsed.kind === 'invalid' ? parsed.reason : parsed.kind;

describe('taskIdsProblem', () => {
  it('allows none (the overall numbers) up to five distinct non-empty IDs', () => {
    expect(taskIdsProblem([])).toBeNull();
    expect(taskIdsProblem(['a', 'b', 'c', 'd', 'e'])).toBeNull();
  });
  it.each([
    [['a', 'b', 'c', 'd', 'e', 'f'], /at most 5 task IDs per call, got 6/],
    [['a', ''], /non-empty string/],
    [['a', 7], /non-empty string/],
    [['a', 'a'], /"a" is listed twice/],
  ])('refuses %j', (ids, reason) => {
    expect(taskIdsProblem(ids)).toMatch(reason);
  });
  it('names the documented limit', () => expect(MAX_TASK_IDS).toBe(5));
});

describe('parseAllMemberLossJson', () => {
  it('reads one result per task, in the order asked, keeping EventType on channel lines', () => {
    const parsed = parseAllMemberLossJson(
      {
        ...ok,
        Results: [
          { TaskID: 'task-b', ...lossArrays },
          { TaskID: 'task-a', ReadyToSendLoss: [] },
        ],
      },
      ['task-a', 'task-b'],
    );
    expect(parsed).toEqual({
      kind: 'ok',
      envelope,
      results: [
        { taskId: 'task-a', entries: [] },
        { taskId: 'task-b', entries: lossEntries },
      ],
    });
  });

  it.each([
    ['an empty string', { TaskID: '' }],
    ['null', { TaskID: null }],
    ['a missing field', {}],
  ])('reads the overall numbers of an empty TaskID list, whose TaskID is %s', (_, taskId) => {
    const parsed = parseAllMemberLossJson({ ...ok, Results: [{ ...taskId, ...lossArrays }] }, []);
    expect(parsed).toEqual({ kind: 'ok', envelope, results: [{ taskId: null, entries: lossEntries }] });
  });

  it('gives an asked task the answer does not list an empty result (the documentation leaves it open)', () => {
    const parsed = parseAllMemberLossJson({ ...ok, Results: [{ TaskID: 'b', ...lossArrays }] }, ['a', 'b', 'c']);
    expect(parsed).toMatchObject({
      kind: 'ok',
      results: [
        { taskId: 'a', entries: [] },
        { taskId: 'b', entries: lossEntries },
        { taskId: 'c', entries: [] },
      ],
    });
    expect(parseAllMemberLossJson({ ...ok, Results: [] }, [])).toMatchObject({
      results: [{ taskId: null, entries: [] }],
    });
    expect(parseAllMemberLossJson({ ...ok }, ['a'])).toMatchObject({ results: [{ taskId: 'a', entries: [] }] });
    expect(parseAllMemberLossJson({ ...ok, Results: null }, ['a'])).toMatchObject({ kind: 'ok' });
  });

  it('keeps EventType null when a channel line has none, and ignores it on the overall arrays', () => {
    const parsed = parseAllMemberLossJson(
      {
        ...ok,
        Results: [
          {
            TaskID: 't',
            ReadyToSendLoss: [{ ErrCode: '-1', ErrCount: 1, EventType: 'whatever' }],
            PlatformReadyToSendLoss: [{ PushPlatform: 3, ErrCode: '-1', ErrCount: 2 }],
            PlatformPostSendDeliveredLoss: [{ PushPlatform: 3, ErrCode: '1', ErrCount: 3, EventType: '2' }],
          },
        ],
      },
      ['t'],
    );
    expect(parsed).toMatchObject({
      kind: 'ok',
      results: [
        {
          entries: [
            { platform: null, eventType: null, errCount: 1 },
            { platform: 3, eventType: null, errCount: 2 },
            { platform: 3, eventType: 2, errCount: 3 },
          ],
        },
      ],
    });
  });

  it('reads Results inside one nested object the same way', () => {
    const flat = parseAllMemberLossJson({ ...ok, Results: [{ TaskID: 'a', ...lossArrays }] }, ['a']);
    expect(parseAllMemberLossJson({ ...ok, Data: { Results: [{ TaskID: 'a', ...lossArrays }] } }, ['a'])).toEqual(flat);
  });

  it.each([
    [
      'a TaskID listed twice',
      { Results: [{ TaskID: 'a' }, { TaskID: 'a' }] },
      ['a', 'b'],
      /Results\[1\]: a second result TaskID "a"/,
    ],
    ['a TaskID not asked for', { Results: [{ TaskID: 'z' }] }, ['a'], /Results\[0\]: TaskID "z" was not asked for/],
    ['more results than asked', { Results: [{ TaskID: 'a' }, { TaskID: 'b' }] }, ['a'], /2 results for 1 task ID/],
    [
      'a task result for the overall numbers',
      { Results: [{ TaskID: 'a' }] },
      [],
      /"a" was not asked for \(the overall numbers were\)/,
    ],
    ['two overall results', { Results: [{}, { TaskID: '' }] }, [], /2 results for the overall numbers/],
    [
      'a result without TaskID when tasks were asked',
      { Results: [{ TaskID: '' }] },
      ['a'],
      /without a TaskID, though task IDs were asked/,
    ],
    ['a TaskID that is not a string', { Results: [{ TaskID: 7 }] }, ['7'], /Results\[0\]: TaskID is not a string/],
    ['a result that is not an object', { Results: [[]] }, ['a'], /Results\[0\]: not an object/],
    ['Results that is not an array', { Results: {} }, ['a'], /Results is not an array/],
    ['loss arrays outside Results', { ReadyToSendLoss: [] }, [], /ReadyToSendLoss is given outside Results/],
    ['Results in two nested objects', { A: { Results: [] }, B: { Results: [] } }, [], /more than one nested object/],
    [
      'an EventType beyond smallint',
      {
        Results: [
          { TaskID: 'a', PlatformReadyToSendLoss: [{ PushPlatform: 1, ErrCode: '1', ErrCount: 1, EventType: 40000 }] },
        ],
      },
      ['a'],
      /Results\[0\]: PlatformReadyToSendLoss\[0\]: EventType is not an integer/,
    ],
    [
      'a fractional EventType',
      {
        Results: [
          { TaskID: 'a', PlatformReadyToSendLoss: [{ PushPlatform: 1, ErrCode: '1', ErrCount: 1, EventType: 1.5 }] },
        ],
      },
      ['a'],
      /EventType/,
    ],
    [
      'an EventType that is not a number',
      {
        Results: [
          {
            TaskID: 'a',
            PlatformPostSendDeliveredLoss: [{ PushPlatform: 1, ErrCode: '1', ErrCount: 1, EventType: 'offline' }],
          },
        ],
      },
      ['a'],
      /EventType/,
    ],
    [
      'a negative count',
      { Results: [{ TaskID: 'a', ReadyToSendLoss: [{ ErrCode: '1', ErrCount: -1 }] }] },
      ['a'],
      /Results\[0\]: ReadyToSendLoss\[0\]: ErrCount/,
    ],
    [
      'a channel line without a platform',
      { Results: [{ TaskID: 'a', PlatformReadyToSendLoss: [{ ErrCode: '1', ErrCount: 1 }] }] },
      ['a'],
      /PushPlatform/,
    ],
  ])('refuses %s', (_, body, asked, reason) => {
    expect(reasonOf(parseAllMemberLossJson({ ...ok, ...body }, asked))).toMatch(reason);
  });

  it('caps the entries of all results together, counted before any is read', () => {
    const line = { ErrCode: '1', ErrCount: 1 };
    const body = {
      ...ok,
      Results: [
        { TaskID: 'a', ReadyToSendLoss: [line, line] },
        { TaskID: 'b', PostSendDeliveredLoss: [line, line] },
      ],
    };
    expect(reasonOf(parseAllMemberLossJson(body, ['a', 'b'], { maxEntries: 3 }))).toMatch(
      /lists 4 entries, more than the 3/,
    );
    expect(parseAllMemberLossJson(body, ['a', 'b'], { maxEntries: 4 }).kind).toBe('ok');
  });

  it('reports API errors with their code, and refuses what is not an OK JSON object', () => {
    expect(parseAllMemberLossBody('{"ActionStatus":"FAIL","ErrorCode":90045,"ErrorInfo":"not enabled"}', [])).toEqual({
      kind: 'api_error',
      envelope: { actionStatus: 'FAIL', errorCode: 90045, errorInfo: 'not enabled', requestId: null },
    });
    expect(parseAllMemberLossBody('<html>502</html>', [])).toMatchObject({
      kind: 'invalid',
      reason: 'body is not JSON',
    });
    expect(parseAllMemberLossBody('{"ActionStatus":"FAIL","ErrorCode":0}', []).kind).toBe('invalid');
    expect(parseAllMemberLossBody('[[[[1]]]]', [], [], { maxEntries: 10, maxJsonDepth: 3 })).toMatchObject({
      kind: 'invalid',
      reason: 'JSON nested deeper than 3 levels',
    });
  });

  it('scrubs secrets from every decoded string and makes it storable, TaskIDs included', () => {
    const secret = 'sig-abcdef-0123456789';
    const escaped = secret.replace('a', '\\u0061');
    const text = JSON.stringify({
      ...ok,
      Results: [
        { TaskID: 'nul\u0000task', ReadyToSendLoss: [{ ErrCode: `x${secret}`, ErrCount: 1, ErrInfo: 'a\u0000b' }] },
      ],
    }).replace(secret, escaped);
    expect(text).not.toContain(secret);
    const parsed = parseAllMemberLossBody(text, ['nul\uFFFDtask'], [secret]);
    expect(parsed.kind).toBe('ok');
    const decoded = JSON.stringify(parsed);
    expect(decoded).not.toContain(secret);
    expect(decoded).not.toContain('\\u0000');
    expect(parsed).toMatchObject({ results: [{ taskId: 'nul\uFFFDtask', entries: [{ errInfo: 'a\uFFFDb' }] }] });
  });
});

describe('parseAllMemberStatisticsJson', () => {
  it('reads the counts and the channel lines of each task, keyed by channel and EventType', () => {
    const parsed = parseAllMemberStatisticsJson({ ...ok, Results: [{ TaskID: 'b', ...statsResult }] }, ['a', 'b']);
    expect(parsed).toEqual({
      kind: 'ok',
      envelope,
      results: [
        { taskId: 'a', ...noStats },
        { taskId: 'b', ...statsValue },
      ],
    });
  });

  it('reads the overall numbers of an empty TaskID list, TaskID empty, null or missing', () => {
    for (const taskId of [{ TaskID: '' }, { TaskID: null }, {}]) {
      expect(parseAllMemberStatisticsJson({ ...ok, Results: [{ ...taskId, ...statsResult }] }, [])).toEqual({
        kind: 'ok',
        envelope,
        results: [{ taskId: null, ...statsValue }],
      });
    }
  });

  it('keeps a missing count unknown, reads numbers given as strings, and adds up a line listed twice', () => {
    const parsed = parseAllMemberStatisticsBody(
      JSON.stringify({
        ...ok,
        Results: [
          {
            TaskID: 'a',
            TotalCount: '9007199254740991',
            PlatformStatistics: [
              { PushPlatform: '2', EventType: '1', SentCount: 3 },
              { PushPlatform: 2, EventType: 1, SentCount: 4 },
              { PushPlatform: 2, SentCount: 5 },
            ],
          },
        ],
      }),
      ['a'],
    );
    expect(parsed).toMatchObject({
      kind: 'ok',
      results: [
        {
          taskId: 'a',
          overall: { total: 2 ** 53 - 1, sent: null, delivered: null, click: null },
          platforms: [
            { platform: 2, eventType: 1, total: null, sent: 7 },
            { platform: 2, eventType: null, sent: 5 },
          ],
        },
      ],
    });
  });

  it.each([
    [
      'a TaskID listed twice',
      { Results: [{ TaskID: 'a' }, { TaskID: 'a' }] },
      ['a', 'b'],
      /a second result TaskID "a"/,
    ],
    ['a TaskID not asked for', { Results: [{ TaskID: 'z' }] }, ['a'], /TaskID "z" was not asked for/],
    ['counts outside Results', { TotalCount: 1 }, [], /TotalCount is given outside Results/],
    [
      'a negative count',
      { Results: [{ TaskID: 'a', SentCount: -1 }] },
      ['a'],
      /Results\[0\]: SentCount is not a non-negative integer/,
    ],
    [
      'an EventType out of range',
      { Results: [{ PlatformStatistics: [{ PushPlatform: 1, EventType: -40000 }] }] },
      [],
      /Results\[0\]: PlatformStatistics\[0\]: EventType/,
    ],
    ['a channel without PushPlatform', { Results: [{ PlatformStatistics: [{ EventType: 1 }] }] }, [], /PushPlatform/],
    [
      'channels that are not an array',
      { Results: [{ PlatformStatistics: 3 }] },
      [],
      /PlatformStatistics is not an array/,
    ],
    [
      'two lines summing beyond 2^53',
      {
        Results: [
          {
            PlatformStatistics: [
              { PushPlatform: 1, TotalCount: 2 ** 52 },
              { PushPlatform: 1, TotalCount: 2 ** 52 },
            ],
          },
        ],
      },
      [],
      /exceeds 2\^53/,
    ],
  ])('refuses %s', (_, body, asked, reason) => {
    expect(reasonOf(parseAllMemberStatisticsJson({ ...ok, ...body }, asked))).toMatch(reason);
  });

  it('caps the channel lines of all results together', () => {
    const line = { PushPlatform: 1 };
    const body = {
      ...ok,
      Results: [
        { TaskID: 'a', PlatformStatistics: [line] },
        { TaskID: 'b', PlatformStatistics: [line, line] },
      ],
    };
    expect(reasonOf(parseAllMemberStatisticsJson(body, ['a', 'b'], { maxEntries: 2 }))).toMatch(
      /lists 3 channels, more than the 2/,
    );
  });

  it('reports API errors and refuses non-JSON', () => {
    expect(parseAllMemberStatisticsBody('{"ActionStatus":"FAIL","ErrorCode":"90009"}', ['a'])).toMatchObject({
      kind: 'api_error',
      envelope: { errorCode: 90009 },
    });
    expect(parseAllMemberStatisticsBody('not json', [])).toMatchObject({ kind: 'invalid', reason: 'body is not JSON' });
  });
});

describe('all-member parsers, properties', () => {
  const taskIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: MAX_TASK_IDS });

  it('never throw on arbitrary JSON or text', () => {
    const value = fc.oneof(
      fc.jsonValue(),
      fc.record({ ActionStatus: fc.constant('OK'), Results: fc.jsonValue() }),
      fc.record({
        ActionStatus: fc.constant('OK'),
        Results: fc.array(
          fc.dictionary(
            fc.constantFrom('TaskID', 'ReadyToSendLoss', 'PlatformStatistics', 'TotalCount', 'PlatformReadyToSendLoss'),
            fc.jsonValue(),
          ),
        ),
      }),
    );
    fc.assert(
      fc.property(value, taskIds, (json, asked) => {
        parseAllMemberLossJson(json, asked);
        parseAllMemberStatisticsJson(json, asked);
        parseAllMemberLossBody(JSON.stringify(json) ?? 'null', asked);
        parseAllMemberStatisticsBody(JSON.stringify(json) ?? 'null', asked);
      }),
    );
    fc.assert(fc.property(fc.string(), (text) => void parseAllMemberLossBody(text, [])));
  });

  const lossItem = fc.record({
    ErrCode: fc.oneof(fc.string(), fc.integer()),
    ErrCount: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    ErrInfo: fc.string(),
    PushPlatform: fc.nat({ max: 40 }),
    EventType: fc.constantFrom(1, 2),
  });
  const arrays = fc.record(
    {
      ReadyToSendLoss: fc.array(lossItem, { maxLength: 4 }),
      PostSendDeliveredLoss: fc.array(lossItem, { maxLength: 4 }),
      PlatformReadyToSendLoss: fc.array(lossItem, { maxLength: 4 }),
      PlatformPostSendDeliveredLoss: fc.array(lossItem, { maxLength: 4 }),
    },
    { requiredKeys: [] },
  );

  it('attributes every count to the task it was listed under, in any order, leaving unlisted tasks empty', () => {
    fc.assert(
      fc.property(
        taskIds.chain((asked) =>
          fc.tuple(
            fc.constant(asked),
            fc
              .shuffledSubarray(asked)
              .chain((listed) =>
                fc.tuple(fc.constant(listed), fc.array(arrays, { minLength: listed.length, maxLength: listed.length })),
              ),
          ),
        ),
        ([asked, [listed, bodies]]) => {
          const parsed = parseAllMemberLossJson(
            { ...ok, Results: listed.map((TaskID, i) => ({ TaskID, ...bodies[i] })) },
            asked,
          );
          expect(parsed.kind).toBe('ok');
          if (parsed.kind !== 'ok') return;
          expect(parsed.results.map((r) => r.taskId)).toEqual(asked.length ? asked : [null]);
          for (const result of parsed.results) {
            const at = listed.indexOf(result.taskId!);
            const sent = at < 0 ? [] : Object.values(bodies[at]!).flat();
            expect(result.entries.map((e) => e.errCount)).toEqual(sent.map((item) => item.ErrCount));
            expect(result.entries.every((e) => (e.platform === null) === (e.eventType === null))).toBe(true);
          }
        },
      ),
    );
  });

  it('on arbitrary channel lines, every count it returns was sent, or it refuses the body', () => {
    const line = fc.record(
      {
        PushPlatform: fc.oneof(fc.jsonValue(), fc.nat({ max: 3 })),
        EventType: fc.oneof(fc.jsonValue(), fc.constantFrom(1, 2)),
        TotalCount: fc.nat({ max: 1_000_000 }),
        ClickCount: fc.nat({ max: 1_000_000 }),
      },
      { requiredKeys: ['TotalCount', 'ClickCount'] },
    );
    fc.assert(
      fc.property(fc.array(line), (items) => {
        const parsed = parseAllMemberStatisticsJson({ ...ok, Results: [{ TaskID: 'a', PlatformStatistics: items }] }, [
          'a',
        ]);
        if (parsed.kind !== 'ok') return void expect(parsed.kind).toBe('invalid');
        for (const [field, key] of [
          ['TotalCount', 'total'],
          ['ClickCount', 'click'],
        ] as const) {
          const sent = items.reduce((n, item) => n + item[field], 0);
          expect(parsed.results[0]!.platforms.reduce((n, l) => n + l[key]!, 0)).toBe(sent);
        }
      }),
    );
  });
});
