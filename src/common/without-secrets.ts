/**
 * What an error may show of a value it was given: options and handles can hold a password (a
 * connection string, a pool's settings), and an error's message and fields end up in logs.
 */

/** Words of a key (camelCase, `-` and `_` split) that make its value a secret whatever it holds. */
const SECRET_WORDS = new Set([
  'pass',
  'passwd',
  'password',
  'passphrase',
  'secret',
  'token',
  'tokens',
  'credential',
  'credentials',
  'apikey',
  'key',
  'privatekey',
  'auth',
]);
/** The password in a URL (`postgres://user:password@host`), up to the authority's last `@`. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#:]*:)[^\s/?#]*@/gi;
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
 * fields), a secret-named key's value as "[hidden]", a URL's password as "***", and what it does not
 * look through (an object seen before, one too deep, one that throws) as a placeholder. The same
 * value when it holds none of these.
 */
export function withoutSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return value.replace(URL_PASSWORD, '$1***@');
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  const kind = instanceKind(value);
  if (kind !== null) return kind;
  // Never the value itself where it was not looked through: it could hold a secret.
  if (seen.has(value)) return '[seen]';
  if (depth >= MAX_DEPTH) return '[deeper]';
  seen.add(value);
  const clean = (key: string, item: unknown) =>
    isSecretKey(key) && item !== undefined ? '[hidden]' : withoutSecrets(item, depth + 1, seen);
  try {
    const copy = Array.isArray(value)
      ? value.map((item, index) => clean(String(index), item))
      : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, clean(key, item)]));
    return sameShallow(value, copy) ? value : copy;
  } catch {
    return '[uninspectable]'; // a getter or Proxy that throws
  }
}

function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_-]+/);
  return words.some((word) => SECRET_WORDS.has(word)) || SECRET_WORDS.has(key.toLowerCase().replace(/[_-]/g, ''));
}

/** Whether cleaning changed nothing, so the caller's own value can stand. */
function sameShallow(value: object, copy: unknown): boolean {
  const before = Object.values(value);
  const after = Object.values(copy as object);
  return before.length === after.length && before.every((item, index) => item === after[index]);
}
