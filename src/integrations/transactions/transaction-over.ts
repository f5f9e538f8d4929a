import { ValidationError } from '../../errors.ts';

/**
 * The error for an ORM transaction handle kept past its end (committed, rolled back, or timed
 * out): the ORM refuses the statement anyway, but in words of its own, as a database error. Its
 * own error stays as the cause (a timeout's says how long it waited).
 */
export function transactionOver(field: string, kind: string, cause: unknown): ValidationError {
  return new ValidationError(
    field,
    kind,
    'is over (committed, rolled back or timed out): add the job inside the transaction, before it ends',
    { cause },
  );
}
