import { describe, expect, it } from 'vitest';
import { formatValue, TriggerError, ValidationError } from '../src/errors.ts';

describe('error messages', () => {
  it('name the field, the value and what was expected', () => {
    const error = new ValidationError('maxInstances', 0, 'must be a positive integer');
    expect(error.message).toBe('maxInstances: 0 must be a positive integer');
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'maxInstances', value: 0, name: 'ValidationError' });
    expect(new TriggerError('cron field "hour"', 25, 'is out of range 0-23').message).toBe(
      'cron field "hour": 25 is out of range 0-23',
    );
  });

  it('render any value without throwing, and briefly', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        ownKeys() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    expect(formatValue('x')).toBe('"x"');
    expect(formatValue(10n)).toBe('10n');
    expect(formatValue(new Date(Number.NaN))).toBe('Invalid Date');
    expect(formatValue(function named() {})).toBe('function named');
    expect(formatValue(Symbol('s'))).toBe('Symbol(s)');
    expect(formatValue(undefined)).toBe('undefined');
    expect([Number.NaN, Number.POSITIVE_INFINITY, -Infinity].map(formatValue)).toEqual([
      'NaN',
      'Infinity',
      '-Infinity',
    ]);
    expect(formatValue(cyclic)).toBe('{"self":"[seen]"}');
    expect(formatValue(hostile)).toBe('an object that cannot be inspected');
    expect(formatValue('y'.repeat(500))).toHaveLength(120);
  });

  it('names an instance of a class by its class, never by what it holds (a password in its settings)', () => {
    class EntityManager {
      readonly options = { password: 'hunter2' };
    }
    class Pool {
      readonly options = { password: 'hunter2' };
    }
    expect(formatValue(new EntityManager())).toBe('an EntityManager');
    expect(formatValue(new Pool())).toBe('a Pool');
    expect(formatValue(new Map([['k', 1]]))).toBe('a Map');
    expect(formatValue({ plain: true })).toBe('{"plain":true}'); // plain objects and arrays as JSON
    expect(formatValue([1, 2])).toBe('[1,2]');
    const error = new ValidationError('PostgresStore pool', new Pool(), 'must be a pg Pool');
    expect(error.message).toBe('PostgresStore pool: a Pool must be a pg Pool');
    expect(error.value).toBe('a Pool'); // what a logger writes of the error's fields
    expect(JSON.stringify(error)).not.toContain('hunter2');
    expect(new ValidationError('x', { plain: 1 }, 'is wrong').value).toEqual({ plain: 1 });
  });

  it('leaves out the secrets an options object holds: a URL password, a secret-named key, an instance in it', () => {
    class Pool {
      readonly options = { password: 'hunter2' };
    }
    const options = { connectionString: 'postgres://app:hunter2@db:5432/app', pool: new Pool(), apiKey: 'k-123', n: 1 };
    const error = new ValidationError('PostgresStore options', options, 'need exactly one of them');
    expect(error.message).toBe(
      'PostgresStore options: {"connectionString":"postgres://app:***@db:5432/app","pool":"a Pool","apiKey":"[hidden]","n":1} need exactly one of them',
    );
    expect(JSON.stringify(error)).not.toMatch(/hunter2|k-123/);
    expect(error.value).toEqual({
      connectionString: 'postgres://app:***@db:5432/app',
      pool: 'a Pool',
      apiKey: '[hidden]',
      n: 1,
    });
    expect(options.connectionString).toContain('hunter2'); // the caller's object is left as it was
    expect(formatValue('redis://:s3cret@cache:6379')).toBe('"redis://:***@cache:6379"');
    expect(formatValue(['https://example.com/a:b@c'])).toBe('["https://example.com/a:b@c"]'); // no password there
    const shared = { user: 'app', password: 'hunter2' };
    expect(formatValue({ primary: shared, replica: shared })).not.toContain('hunter2');
    expect(formatValue('postgres://admin@server:hunter2@host/db')).toBe('"postgres://admin@server:***@host/db"');
    expect(formatValue('http://localhost:3000/?email=a@b.c')).toBe('"http://localhost:3000/?email=a@b.c"');
    expect(formatValue({ maxTokens: 5, passes: 2, ssl: { key: 'PEM' } })).toBe(
      '{"maxTokens":"[hidden]","passes":2,"ssl":{"key":"[hidden]"}}',
    );
  });
});
