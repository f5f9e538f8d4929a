import { describe, expect, it } from 'vitest';
import { finishedKey, isObservation } from '../../src/events/event-interest.ts';
import { executionEvent, jobAddedEvent, type KairosEvent } from '../../src/events/event-types.ts';
import { ClusterInterest, INTEREST_TTL_MS } from '../../src/stores/postgres/cluster-interest.ts';
import { executionFixture, jobFixture } from '../stores/conformance/harness.ts';

const job = jobFixture({ task: 'mail' });
const succeeded = executionEvent(executionFixture(job), null, new Date());
const retrying = executionEvent(executionFixture(job, { outcome: 'failed' }), new Date(), new Date());

describe('which events other nodes need', () => {
  it('keeps observations (a start, a last outcome, a job already leased) for listeners', () => {
    expect(isObservation(succeeded)).toBe(true);
    expect(isObservation({ ...jobAddedEvent(job, new Date()), leasedTo: 'n1' } as KairosEvent)).toBe(true);
    const started: KairosEvent = {
      type: 'job.started',
      timestamp: new Date(),
      jobId: 'j',
      task: 't',
      scheduleId: null,
      fireTime: null,
      attempt: 1,
      node: 'n',
      startedAt: new Date(),
    };
    expect(isObservation(started)).toBe(true);
  });

  it('always sends what other schedulers act on: a job to take (also one to run again), a cancel request', () => {
    expect(isObservation(jobAddedEvent(job, new Date()))).toBe(false);
    expect(isObservation(retrying)).toBe(false);
    expect(isObservation({ type: 'job.cancel_requested', timestamp: new Date(), jobId: 'j', node: null })).toBe(false);
    // An older node's job.added has no leasedTo: a job for any node.
    const { leasedTo: _dropped, ...older } = jobAddedEvent(job, new Date()) as KairosEvent<'job.added'>;
    expect(isObservation(older as KairosEvent)).toBe(false);
  });
});

describe('ClusterInterest', () => {
  it('counts local listeners and reports when the wanted types change', () => {
    const interest = new ClusterInterest();
    let changes = 0;
    const changed = () => changes++;
    const first = interest.add(['job.succeeded'], changed);
    const second = interest.add(['job.succeeded', 'job.failed'], changed);
    expect(interest.localKeys()).toEqual(['job.failed', 'job.succeeded']);
    expect(changes).toBe(2);
    first();
    first(); // a second call does nothing
    expect(interest.localKeys()).toEqual(['job.failed', 'job.succeeded']);
    expect(changes).toBe(2);
    second();
    expect(interest.localKeys()).toEqual([]);
    expect(changes).toBe(3);
  });

  it('matches remote interest by type, by task outcome, or everything; withdrawn and expired nodes stop counting', () => {
    const interest = new ClusterInterest();
    const otherTask = executionEvent(executionFixture(jobFixture({ task: 'other' })), null, new Date());
    expect(interest.wantedElsewhere(succeeded)).toBe(false);
    interest.setRemote('a', [finishedKey('mail')], 0);
    expect(interest.wantedElsewhere(succeeded)).toBe(true);
    expect(interest.wantedElsewhere(otherTask)).toBe(false);
    interest.setRemote('a', [], 0);
    expect(interest.wantedElsewhere(succeeded)).toBe(false);
    interest.setRemote('b', ['*'], 0);
    expect(interest.wantedElsewhere(otherTask)).toBe(true);
    interest.expire(INTEREST_TTL_MS);
    expect(interest.wantedElsewhere(succeeded)).toBe(true);
    interest.expire(INTEREST_TTL_MS + 1);
    expect(interest.wantedElsewhere(succeeded)).toBe(false);
  });
});
