/**
 * A text with every NUL character replaced by U+FFFD, the replacement character: SQL text columns
 * (PostgreSQL's at least) cannot hold NUL, and a record they refuse could never be stored.
 */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}
