/** Builds `WHERE` clauses with numbered parameters. */
export class Where {
  readonly clauses: string[] = [];
  readonly values: unknown[] = [];
  add(sql: string, ...values: unknown[]): void {
    let text = sql;
    for (const value of values) {
      this.values.push(value);
      text = text.replace('?', `$${this.values.length}`);
    }
    this.clauses.push(text);
  }
  get sql(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
  limit(limit: number): string {
    this.values.push(limit);
    return `LIMIT $${this.values.length}`;
  }
}
