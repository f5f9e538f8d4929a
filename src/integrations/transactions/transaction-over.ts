import { ValidationError } from '../../errors.ts';

/**
 * The error for an ORM transaction handle kept past its end (committed or rolled back): the ORM
 * refuses the statement anyway, but in words of its own, as a database error.
 */
export function transactionOver(field: string, kind: string): ValidationError {
  return new ValidationError(
    field,
    kind,
    'is over (committed or rolled back): add the job inside the transaction, before it ends',
  );
}
