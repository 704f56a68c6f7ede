/**
 * How `int8` (bigint) values come back from the database: as a plain JS `number`.
 *
 * Every int8 we store (sdkappid, err_count, call ids) is far below 2^53, and numbers are what the
 * rest of the code and JSON want. node-postgres returns int8 as a string by default and PGlite as a
 * number-or-BigInt; both are told to use {@link parseInt8} instead, so the two engines agree. A value
 * that would silently lose precision throws instead of being rounded.
 *
 * `numeric` (e.g. `sum(bigint)`) is left as a string on both engines: cast sums with `::int8`.
 */
import pg from 'pg';

/** PostgreSQL type oids we parse ourselves. */
export const INT8_OID = 20;
export const INT8_ARRAY_OID = 1016;

/** Parses an int8's text form into a safe integer; throws a RangeError past Number.MAX_SAFE_INTEGER. */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} is beyond Number.MAX_SAFE_INTEGER and cannot be read exactly`);
  }
  return value;
}

/**
 * The node-postgres `types` option for one pool: int8 and int8[] through {@link parseInt8}, every
 * other type as pg's defaults. Per pool rather than `pg.types.setTypeParser`, so nothing else in the
 * process that uses `pg` is affected.
 */
export const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === INT8_OID) return parseInt8;
      if (oid === INT8_ARRAY_OID) {
        // pg's own int8[] parser yields the elements as strings (nested for multi-dimensional arrays).
        const parseArray = (pg.types.getTypeParser as (oid: number) => (text: string) => unknown)(INT8_ARRAY_OID);
        return (text: string) => mapInt8Strings(parseArray(text));
      }
    }
    return (format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format)) as unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

function mapInt8Strings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mapInt8Strings);
  return typeof value === 'string' ? parseInt8(value) : value;
}

/**
 * The PGlite `parsers` option. PGlite parses arrays element by element with the scalar parser, so
 * int8 alone covers int8[] too.
 */
export const pgliteParsers: Record<number, (text: string) => unknown> = {
  [INT8_OID]: parseInt8,
};
