import { ValidationError } from '../errors.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './queries.ts';

/**
 * Cursors are opaque to callers: the sort key of the last item of a page, base64url-encoded JSON.
 * Keyset paging (rather than offsets) keeps pages stable while rows are added and deleted.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Decodes a cursor made by `encodeCursor` with the given shape, or throws `ValidationError`. */
export function decodeCursor<T extends readonly ('string' | 'number')[]>(
  cursor: string,
  shape: T,
): { [K in keyof T]: T[K] extends 'string' ? string : number } {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== shape.length || key.some((part, index) => typeof part !== shape[index])) {
    throw new ValidationError('cursor', cursor, 'is not a cursor returned by this listing');
  }
  return key as { [K in keyof T]: T[K] extends 'string' ? string : number };
}

/** The page size to use for a query's `limit`. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new ValidationError('limit', limit, `must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return limit;
}
