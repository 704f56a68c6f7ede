import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { arrayLiteral } from '../../src/db/arrayLiteral.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ migrate: false });
});
afterAll(() => t?.close());

it('array literals read back element for element: quotes, backslashes, NULL as a word and as a value, braces, commas', async () => {
  const texts = [
    'plain',
    '',
    'NULL',
    null,
    'say "hi"',
    'back\\slash',
    '\\"',
    '{a,b}',
    ' spaced ',
    'line\nbreak',
    '設備離線',
    "it's",
  ];
  const { rows } = await sql<{ a: (string | null)[] }>`select ${arrayLiteral(texts)}::text[] as a`.execute(t.db);
  expect(rows[0]!.a).toEqual(texts);
  const numbers = [0, -1, 32767, 2 ** 53 - 1];
  const { rows: ints } = await sql<{ a: string[] }>`select ${arrayLiteral(numbers)}::int8[]::text[] as a`.execute(t.db);
  expect(ints[0]!.a.map(Number)).toEqual(numbers);
  const { rows: empty } = await sql<{ n: number }>`select cardinality(${arrayLiteral([])}::text[]) as n`.execute(t.db);
  expect(empty[0]!.n).toBe(0);
});
