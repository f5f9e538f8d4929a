/**
 * A list as one JSON parameter, for `column ${IN_LIST}` with `list(values)`. One `?` per element
 * would make a distinct SQL text (and a cached prepared statement) for every length, and fail past
 * SQLite's limit of 32,766 variables.
 */
export const IN_LIST = 'IN (SELECT value FROM json_each(?))';

/**
 * A lone surrogate is stored as U+FFFD (the drivers write UTF-8), but JSON would carry it as a
 * `\ud800` escape that matches nothing: it goes in as it is stored.
 */
export const list = (values: readonly string[]): string =>
  JSON.stringify(values.map((value) => (value as string & { toWellFormed(): string }).toWellFormed()));
