import { parseTimestamptz } from './pg-timestamps.ts';
import type { PgTypeParsers } from './pg-types.ts';

const BOOL = 16;
const INT8 = 20;
const INT2 = 21;
const INT4 = 23;
const JSON_OID = 114;
const TIMESTAMPTZ = 1184;

/**
 * How Kairos reads its results, passed with every query as `types`. node-postgres keeps one global
 * registry of result parsers, which an application may change (`types.setTypeParser(114, …)` to
 * keep JSON as text, int8 as numbers): Kairos's own parsers for the types its tables use keep its
 * rows the same whatever the application set — booleans, integers, bigints as strings (as
 * node-postgres's default), JSON parsed, timestamptz as `Date` through `parseTimestamptz`. Other
 * types (none in Kairos's tables) go to the registry, as does the rare timestamptz that
 * `parseTimestamptz` leaves to the general parser (BC, infinity).
 */
export function kairosTypeParsers(registry: PgTypeParsers): PgTypeParsers {
  const general = registry.getTypeParser(TIMESTAMPTZ, 'text');
  const own = new Map<number, (text: string) => unknown>([
    [BOOL, (text) => text === 't'],
    [INT2, (text) => Number.parseInt(text, 10)],
    [INT4, (text) => Number.parseInt(text, 10)],
    [INT8, (text) => text],
    [JSON_OID, (text) => JSON.parse(text) as unknown],
    [TIMESTAMPTZ, (text) => parseTimestamptz(text, general)],
  ]);
  return {
    getTypeParser: (oid, format = 'text') =>
      (format === 'text' ? own.get(oid) : undefined) ?? registry.getTypeParser(oid, format),
  };
}
