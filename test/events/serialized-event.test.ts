import { describe, expect, it } from 'vitest';
import { executionEvent, jobAddedEvent, type KairosEvent } from '../../src/events/event-types.ts';
import { packEvents, unpackEvents } from '../../src/events/serialized-event.ts';
import { executionFixture, jobFixture, T0 } from '../stores/conformance/harness.ts';

const at = new Date(T0);
const job = jobFixture({ scheduleId: 's-1', fireTime: at });

/** One event of every type, as Kairos builds them. */
const EVERY_TYPE: KairosEvent[] = [
  { type: 'scheduler.started', timestamp: at, node: 'n' },
  { type: 'scheduler.stopped', timestamp: at, node: 'n' },
  { type: 'scheduler.error', timestamp: at, node: 'n', operation: 'fire', error: { name: 'E', message: 'm' } },
  { type: 'schedule.added', timestamp: at, scheduleId: 's-1', task: 't', nextFireTime: at },
  { type: 'schedule.updated', timestamp: at, scheduleId: 's-1', task: 't', nextFireTime: null },
  { type: 'schedule.paused', timestamp: at, scheduleId: 's-1', task: 't', nextFireTime: at },
  { type: 'schedule.resumed', timestamp: at, scheduleId: 's-1', task: 't', nextFireTime: at },
  { type: 'schedule.removed', timestamp: at, scheduleId: 's-1' },
  jobAddedEvent(job, at),
  {
    type: 'job.started',
    timestamp: at,
    jobId: job.id,
    task: job.task,
    scheduleId: null,
    fireTime: null,
    attempt: 1,
    node: 'n',
    startedAt: at,
  },
  { type: 'job.cancel_requested', timestamp: at, jobId: job.id, node: null },
  ...(['succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped', 'abandoned'] as const).map((outcome) =>
    executionEvent(executionFixture(job, { outcome }), outcome === 'failed' ? at : null, at),
  ),
];

describe('events between processes', () => {
  it('come through a pack whole, one of every type, dates revived', () => {
    const [pack, ...more] = packEvents('other-node', EVERY_TYPE);
    expect(more).toEqual([]);
    const unpacked = unpackEvents(pack as string, 'this-node');
    expect(unpacked.map((event) => event.type)).toEqual(EVERY_TYPE.map((event) => event.type));
    expect(unpacked.find((event) => event.type === 'job.added')).toMatchObject({ runAt: at, fireTime: at });
  });

  it('fit a NOTIFY, however long the error a task or the scheduler reports (cut short, never dropped)', () => {
    const long = { name: '𝔈'.repeat(9_000), message: '𝔪'.repeat(9_000) };
    const failed = executionEvent(
      executionFixture(job, { outcome: 'failed', error: { ...long, stack: 's'.repeat(9_000) } }),
      at,
      at,
    );
    const schedulerError: KairosEvent = {
      type: 'scheduler.error',
      timestamp: at,
      node: 'n',
      operation: 'fire',
      error: long,
    };
    const packs = packEvents('other-node', [failed, schedulerError]);
    for (const pack of packs) expect(Buffer.byteLength(pack)).toBeLessThan(8_000);
    const unpacked = packs.flatMap((pack) => unpackEvents(pack, 'this-node'));
    expect(unpacked.map((event) => event.type)).toEqual(['job.failed', 'scheduler.error']);
    const [travelled, reported] = unpacked;
    expect(travelled).toMatchObject({ execution: { error: { name: '𝔈'.repeat(100), stack: null } } });
    expect(reported).toMatchObject({ error: { name: '𝔈'.repeat(100), message: '𝔪'.repeat(250) } });
  });

  it('fit by bytes: ids of characters that take 6 bytes in JSON get a shorter error; none too big is sent', () => {
    const wide = '\u0001'.repeat(200); // 1,200 bytes in JSON
    const long = { name: wide, message: '\u0001'.repeat(500), stack: null };
    const failed = executionEvent(
      executionFixture(jobFixture({ id: wide }), { node: wide, scheduleId: wide, outcome: 'failed', error: long }),
      at,
      at,
    );
    const [pack, ...more] = packEvents('other-node', [failed]);
    expect(more).toEqual([]);
    expect(Buffer.byteLength(pack as string)).toBeLessThan(8_000);
    expect(unpackEvents(pack as string, 'this-node')).toMatchObject([{ type: 'job.failed', jobId: wide }]);
    const huge = { ...failed, task: wide.repeat(7) } as KairosEvent; // no error to cut would make it fit
    const tooBig: KairosEvent[] = [];
    expect(packEvents('other-node', [huge], (event) => tooBig.push(event))).toEqual([]);
    expect(tooBig).toEqual([huge]);
  });

  it('are dropped when another program wrote something malformed on the channel', () => {
    const good = JSON.stringify(jobAddedEvent(job, at));
    const broken = [
      { type: 'job.added', task: 't' }, // no timestamp, id or run time
      { ...JSON.parse(good), runAt: 'garbage' }, // a date that is not one
      { ...JSON.parse(good), jobId: 42 },
      { ...JSON.parse(good), type: 'job.exploded' },
      { ...JSON.parse(good), type: 'constructor' },
      { type: 'job.succeeded', timestamp: at.toISOString(), jobId: 'j', task: 't', retryAt: null, execution: null },
      null,
      'job.added',
    ];
    const payload = `other-node|[${[good, ...broken.map((event) => JSON.stringify(event))].join(',')}]`;
    expect(unpackEvents(payload, 'this-node').map((event) => event.type)).toEqual(['job.added']);
  });
});
