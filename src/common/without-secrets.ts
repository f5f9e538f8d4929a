/**
 * What an error may show of a value it was given: options and handles can hold a password (a
 * connection string, a pool's settings), and an error's message and fields end up in logs.
 */

/** Keys whose values are secrets whatever they hold. */
const SECRET_KEY = /pass(word)?|secret|token|credential|api[-_]?key/i;
/** The password in a URL (`postgres://user:password@host`). */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]*@/gi;
/** Deep enough for any options object; deeper, a value is left as it is. */
const MAX_DEPTH = 8;

/** "a Pool", "an EntityManager" for an instance of a class; null for anything else (plain objects, arrays too). */
export function instanceKind(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) return null;
  let prototype: unknown;
  try {
    prototype = Object.getPrototypeOf(value);
  } catch {
    return null; // a Proxy that refuses: whoever prints it says so
  }
  if (prototype === null || prototype === Object.prototype) return null;
  const name = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  const kind = typeof name === 'string' && name !== '' ? name : 'object';
  return `${/^[aeiou]/i.test(kind) ? 'an' : 'a'} ${kind}`;
}

/**
 * `value` with its secrets left out: an instance of a class as what it is ("a Pool", never its
 * fields), a secret-named key's value as "[hidden]", a URL's password as "***". The same value
 * when it holds none (a cycle is left for the printer to refuse).
 */
export function withoutSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return value.replace(URL_PASSWORD, '$1***@');
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  const kind = instanceKind(value);
  if (kind !== null) return kind;
  if (depth >= MAX_DEPTH || seen.has(value)) return value;
  seen.add(value);
  let changed = false;
  const clean = (key: string, item: unknown) => {
    const cleaned = SECRET_KEY.test(key) && item !== undefined ? '[hidden]' : withoutSecrets(item, depth + 1, seen);
    if (cleaned !== item) changed = true;
    return cleaned;
  };
  let copy: unknown;
  try {
    copy = Array.isArray(value)
      ? value.map((item, index) => clean(String(index), item))
      : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, clean(key, item)]));
  } catch {
    return value; // a getter or Proxy that throws: whoever prints it says so
  }
  return changed ? copy : value;
}
