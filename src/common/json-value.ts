import { ValidationError } from '../errors.ts';

/** What Kairos persists: task arguments, results and metadata are JSON, never code. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MAX_DEPTH = 64;

/**
 * Checks that `value` survives a JSON round trip unchanged and returns it (with `undefined`
 * turned into `null`). `JSON.stringify` silently drops functions and `undefined` members and turns
 * dates into strings; a job would then run with different arguments than it was given, so those
 * are rejected here with the path of the offending member instead.
 */
export function assertJsonValue(field: string, value: unknown): JsonValue {
  if (value === undefined) return null;
  checkMember(field, value, 0);
  return value as JsonValue;
}

function checkMember(path: string, value: unknown, depth: number): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
    throw new ValidationError(path, value, 'is not JSON: numbers must be finite');
  }
  if (depth >= MAX_DEPTH) {
    throw new ValidationError(path, '…', `is nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      checkMember(`${path}[${index}]`, value[index], depth + 1);
    }
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind =
        value instanceof Date ? 'a Date (pass date.toISOString())' : `a ${value.constructor?.name ?? 'class'} instance`;
      throw new ValidationError(
        path,
        value,
        `is not JSON: ${kind}; only plain objects, arrays, strings, finite numbers, booleans and null are stored`,
      );
    }
    for (const key of Object.keys(value)) {
      const member = (value as Record<string, unknown>)[key];
      if (member === undefined) {
        throw new ValidationError(
          `${path}.${key}`,
          member,
          'is undefined, which JSON cannot store (omit the key or use null)',
        );
      }
      checkMember(`${path}.${key}`, member, depth + 1);
    }
    return;
  }
  throw new ValidationError(path, value, `is not JSON: a ${typeof value} cannot be stored`);
}

/** A deep copy through JSON, so stored values cannot be changed by the caller afterwards. */
export function cloneJson<T extends JsonValue>(value: T): T {
  return value === null || typeof value !== 'object' ? value : (JSON.parse(JSON.stringify(value)) as T);
}
