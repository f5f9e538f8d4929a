import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../src/stores/records.ts';
import { executionFixture, jobFixture, type StoreFactory, type StoreHarness, T0, TASKS } from './harness.ts';

export function jobConformance(factory: StoreFactory): void {
  describe('jobs', () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.close();
    });

    const acquire = (node: string, limit = 10, tasks = TASKS, leaseMs = 30_000) =>
      h.store.acquireJobs(node, { leaseMs, limit, tasks });

    it('finds jobs by a list of 40,000 ids (more than SQLite allows variables in one statement)', async () => {
      const jobs = [jobFixture(), jobFixture({ runAt: new Date(T0 + 1000) })];
      for (const job of jobs) await h.store.addJob(job);
      const ids = [...Array.from({ length: 40_000 }, (_, i) => `missing-${i}`), ...jobs.map((job) => job.id)];
      const page = await h.store.getJobs({ ids, limit: 10 });
      expect(page.items.map((job) => job.id)).toEqual(jobs.map((job) => job.id));
    });

    it('adds a job, publishes job.added and lists it', async () => {
      const job = jobFixture({ args: { setId: 'x' } });
      await h.store.addJob(job);
      const [stored] = (await h.store.getJobs({ ids: [job.id] })).items;
      expect(stored).toMatchObject({
        id: job.id,
        task: 'task-a',
        args: { setId: 'x' },
        status: 'pending',
        attempt: 1,
      });
      expect(h.events.find((event) => event.type === 'job.added')).toMatchObject({
        jobId: job.id,
        runAt: new Date(T0),
      });
    });

    it('hands out due jobs of known tasks, earliest first, up to the limit', async () => {
      const late = jobFixture({ runAt: new Date(T0 - 1000) });
      const early = jobFixture({ runAt: new Date(T0 - 2000) });
      const future = jobFixture({ runAt: new Date(T0 + 1000) });
      const unknown = jobFixture({ task: 'task-z' });
      for (const job of [late, early, future, unknown]) await h.store.addJob(job);
      const first = await acquire('n1', 1);
      expect(first.jobs.map((j) => j.id)).toEqual([early.id]);
      expect(first.jobs[0]).toMatchObject({
        status: 'running',
        acquiredBy: 'n1',
        startedAt: new Date(T0),
      });
      // What an acquire hands out is the job as stored, every field of it.
      expect(first.jobs).toEqual((await h.store.getJobs({ ids: [early.id] })).items);
      const second = await acquire('n2', 10);
      expect(second.jobs.map((j) => j.id)).toEqual([late.id]);
      expect(second.jobs[0]).toEqual({
        ...late,
        status: 'running',
        acquiredBy: 'n2',
        acquiredUntil: new Date(T0 + 30_000),
        startedAt: new Date(T0),
      });
      expect(await h.store.nextJobTimes(TASKS, second.now)).toEqual({
        runAt: new Date(T0 + 1000),
        leaseExpiry: new Date(T0 + 30_000),
      });
    });

    it('hands out as many due jobs as asked for while they last, after capped ones were due', async () => {
      const tasks = [
        { name: 'task-a', maxRunningJobs: 10 },
        { name: 'task-b', maxRunningJobs: null },
      ];
      await h.store.addJob(jobFixture({ task: 'task-a', runAt: new Date(T0 - 10_000) }));
      for (let i = 0; i < 10; i++) await h.store.addJob(jobFixture({ task: 'task-b', runAt: new Date(T0 - 5000 + i) }));
      const claim = async (limit: number) =>
        (await h.store.acquireJobs('n1', { leaseMs: 30_000, limit, tasks })).jobs.length;
      // A store may keep places for the capped job while it is due; once it is taken, none: a
      // node that gets fewer jobs than it asked for takes it that none is left.
      expect(await claim(2)).toBe(2);
      expect(await claim(1)).toBe(1);
      let left = 11 - 3;
      while (left > 0) {
        const got = await claim(4);
        expect(got).toBe(Math.min(4, left));
        left -= got;
      }
    });

    it('answers, if it can, what nextJobTimes would after an acquire, in the same round trip', async () => {
      const elsewhere = jobFixture({ runAt: new Date(T0 - 2000) });
      const due = jobFixture({ runAt: new Date(T0 - 1000) });
      const later = jobFixture({ runAt: new Date(T0 + 5000) });
      for (const job of [elsewhere, due, later]) await h.store.addJob(job);
      expect((await acquire('n1', 1, TASKS, 10_000)).jobs.map((j) => j.id)).toEqual([elsewhere.id]);
      const acquired = await acquire('n2', 10);
      expect(acquired.jobs.map((j) => j.id)).toEqual([due.id]);
      const expected = { runAt: new Date(T0 + 5000), leaseExpiry: new Date(T0 + 10_000) };
      if (acquired.next !== undefined) expect(acquired.next).toEqual(expected);
      expect(await h.store.nextJobTimes(TASKS, acquired.now)).toEqual(expected);
    });

    it('caps running jobs per task across nodes (maxRunningJobs)', async () => {
      for (let i = 0; i < 4; i++) await h.store.addJob(jobFixture());
      const capped = [{ name: 'task-a', maxRunningJobs: 2 }];
      expect((await acquire('n1', 1, capped)).jobs).toHaveLength(1);
      expect((await acquire('n2', 10, capped)).jobs).toHaveLength(1);
      expect((await acquire('n3', 10, capped)).jobs).toHaveLength(0);
    });

    it('hands out a due job whenever one may run, however capped jobs before it are held back', async () => {
      const tasks = [
        { name: 'task-a', maxRunningJobs: 1 },
        { name: 'task-b', maxRunningJobs: null },
      ];
      const [a1, a2, b1, b2] = (['task-a', 'task-a', 'task-b', 'task-b'] as const).map((task, i) =>
        jobFixture({ task, runAt: new Date(T0 - 10_000 + i) }),
      ) as [JobRecord, JobRecord, JobRecord, JobRecord];
      for (const job of [a1, a2, b1, b2]) await h.store.addJob(job);
      // One place at a time: a store may balance capped and uncapped jobs, but never leaves a place
      // empty while a job that may run is due (a node that finds none stops looking until woken).
      const taken: string[] = [];
      for (const node of ['n1', 'n2', 'n3']) {
        const { jobs } = await h.store.acquireJobs(node, { leaseMs: 30_000, limit: 1, tasks });
        expect(jobs, `acquire by ${node}`).toHaveLength(1);
        taken.push(...jobs.map((job) => job.id));
      }
      expect(taken.sort()).toEqual([a1.id, b1.id, b2.id].sort());
      expect((await h.store.acquireJobs('n4', { leaseMs: 30_000, limit: 1, tasks })).jobs).toEqual([]);
    });

    it('caps running jobs per schedule across nodes (maxInstances) and resumes when one finishes', async () => {
      const jobs = [0, 1, 2].map((i) =>
        jobFixture({
          scheduleId: 's1',
          fireTime: new Date(T0 - i * 1000),
          runAt: new Date(T0 - i * 1000),
          maxInstances: 1,
        }),
      );
      for (const job of jobs) await h.store.addJob(job);
      const first = await acquire('n1');
      expect(first.jobs).toHaveLength(1);
      expect((await acquire('n2')).jobs).toHaveLength(0);
      const running = first.jobs[0];
      if (!running) throw new Error('expected a job');
      await h.store.releaseJob('n1', running.id, { execution: executionFixture(running) });
      expect((await acquire('n2')).jobs).toHaveLength(1);
    });

    it('does not let jobs held back by max instances crowd out other due jobs', async () => {
      for (let i = 0; i < 400; i++) {
        await h.store.addJob(
          jobFixture({
            scheduleId: 's1',
            fireTime: new Date(T0 - 400_000 + i),
            runAt: new Date(T0 - 400_000 + i),
            maxInstances: 1,
          }),
        );
      }
      const other = jobFixture({ runAt: new Date(T0) });
      await h.store.addJob(other);
      const first = await acquire('n1', 10);
      // One job of the capped schedule, and the other due job (in no particular order).
      expect(first.jobs).toHaveLength(2);
      expect(first.jobs.filter((j) => j.scheduleId === 's1')).toHaveLength(1);
      expect(first.jobs.some((j) => j.id === other.id)).toBe(true);
    });

    it('claims jobs to wait (past startNow) only if they may be re-run, and none behind one that may not', async () => {
      // Due in this order: r1, z1, z2, r2, z3, r3 (z: must not run twice, r: may be re-run).
      const kinds = ['r', 'z', 'z', 'r', 'z', 'r'];
      const jobs = kinds.map((kind, i) =>
        jobFixture({ runAt: new Date(T0 - 10_000 + i), abandonRetries: kind === 'z' ? 0 : 2 }),
      );
      for (const job of jobs) await h.store.addJob(job);
      const claim = async (node: string, limit: number, startNow: number) =>
        (await h.store.acquireJobs(node, { leaseMs: 30_000, limit, startNow, tasks: TASKS })).jobs
          .map((job) => kinds[jobs.findIndex((j) => j.id === job.id)] + String(jobs.findIndex((j) => j.id === job.id)))
          .sort();
      // Two start at once, of any kind; z2 may not wait, and nothing behind it overtakes it.
      expect(await claim('n1', 4, 2)).toEqual(['r0', 'z1']);
      // With nothing to start at once: nothing, z2 is next.
      expect(await claim('n2', 4, 0)).toEqual([]);
      // One to start at once (z2), then r3 may wait, up to z4.
      expect(await claim('n3', 4, 1)).toEqual(['r3', 'z2']);
      expect(await claim('n4', 4, 4)).toEqual(['r5', 'z4']);
    });

    it('applies startNow to capped jobs too', async () => {
      const capped = [{ name: 'task-a', maxRunningJobs: 10 }];
      const [first, once, last] = [2, 0, 1].map((retries, i) =>
        jobFixture({ runAt: new Date(T0 - 10_000 + i), abandonRetries: retries }),
      ) as [JobRecord, JobRecord, JobRecord];
      for (const job of [first, once, last]) await h.store.addJob(job);
      const claim = async (startNow: number) =>
        (await h.store.acquireJobs('n1', { leaseMs: 30_000, limit: 3, startNow, tasks: capped })).jobs.map(
          (job) => job.id,
        );
      expect(await claim(0)).toEqual([first.id]);
      expect(await claim(1)).toEqual([once.id, last.id]);
    });
    it('finishes a job on release and records its execution', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1');
      const execution = executionFixture(job, { result: { ok: true } });
      expect(await h.store.releaseJob('n1', job.id, { execution })).toBe(true);
      expect((await h.store.getJobs({})).items).toEqual([]);
      const [recorded] = (await h.store.getExecutions({ jobId: job.id })).items;
      expect(recorded).toMatchObject({
        id: execution.id,
        outcome: 'succeeded',
        result: { ok: true },
      });
      expect(h.events.find((event) => event.type === 'job.succeeded')).toMatchObject({
        jobId: job.id,
        retryAt: null,
      });
    });

    it('hands out claimed jobs with their own arguments', async () => {
      const jobs = [0, 1, 2].map((n) =>
        jobFixture({ runAt: new Date(T0 - 1000 + n), args: { n, pad: 'x'.repeat(n) } }),
      );
      for (const job of [...jobs].reverse()) await h.store.addJob(job);
      const first = await acquire('n1', 2);
      const second = await acquire('n2', 2);
      expect([...first.jobs, ...second.jobs].map((job) => [job.id, job.args])).toEqual(
        jobs.map((job) => [job.id, job.args]),
      );
    });

    it('records texts of any characters a task may produce, exactly to the millisecond', async () => {
      const awkward = 'quote " backslash \\ braces {a,b} NULL comma, ünïcödé 🙂 tab\t newline\n end';
      const job = jobFixture({ args: { text: awkward, list: [awkward, null] } });
      await h.store.addJob(job);
      await acquire('n1');
      const startedAt = new Date(T0 - 1234);
      const execution = executionFixture(job, {
        startedAt,
        finishedAt: new Date(T0 + 7),
        durationMs: 1241,
        outcome: 'failed',
        error: { name: `Odd${awkward}`, message: awkward, stack: `${awkward}\n    at somewhere` },
        result: { text: awkward },
      });
      await h.store.releaseJob('n1', job.id, { execution });
      const [recorded] = (await h.store.getExecutions({ jobId: job.id })).items;
      expect(recorded).toEqual(execution);
    });

    it('records an error text holding a NUL character (as is, or with U+FFFD where SQL text cannot hold it)', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1');
      const error = { name: 'Error\u0000', message: 'before\u0000after', stack: 'at x\u0000' };
      expect(
        await h.store.releaseJob('n1', job.id, { execution: executionFixture(job, { outcome: 'failed', error }) }),
      ).toBe(true);
      const [recorded] = (await h.store.getExecutions({ jobId: job.id })).items;
      const replaced = { name: 'Error\uFFFD', message: 'before\uFFFDafter', stack: 'at x\uFFFD' };
      expect([JSON.stringify(error), JSON.stringify(replaced)]).toContain(JSON.stringify(recorded?.error));
      expect((await h.store.getJobs({})).items).toEqual([]);
    });

    it('puts a job back as pending when released with a requeue', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1');
      const retryAt = new Date(T0 + 5000);
      await h.store.releaseJob('n1', job.id, {
        execution: executionFixture(job, {
          outcome: 'failed',
          error: { name: 'Error', message: 'boom', stack: null },
        }),
        requeue: { runAt: retryAt, startDeadline: null, attempt: 2, abandonRetries: 2, failedRuns: 1 },
      });
      const [pending] = (await h.store.getJobs({})).items;
      expect(pending).toMatchObject({
        id: job.id,
        status: 'pending',
        attempt: 2,
        failedRuns: 1,
        runAt: retryAt,
        acquiredBy: null,
      });
      expect(h.events.find((event) => event.type === 'job.failed')).toMatchObject({ retryAt });
      expect((await acquire('n1')).jobs).toEqual([]);
      await h.advance(5000);
      const [again] = (await acquire('n1')).jobs;
      expect(again).toMatchObject({ attempt: 2, failedRuns: 1 });
      // Handed back (a node stopping) with the job's own count, as the runner sends it: it stays.
      await h.store.releaseJob('n1', job.id, {
        execution: null,
        attempt: 2,
        startedAt: again?.startedAt ?? null,
        requeue: { runAt: retryAt, startDeadline: null, attempt: 2, abandonRetries: 2, failedRuns: 1 },
      });
      expect((await acquire('n1')).jobs).toMatchObject([{ attempt: 2, failedRuns: 1 }]);
    });

    it('keeps a cancel request its node had not seen when the job is put back, due at once, so it ends cancelled unrun', async () => {
      const failed = jobFixture();
      const handedBack = jobFixture();
      await h.store.addJob(failed);
      await h.store.addJob(handedBack);
      const { jobs } = await acquire('n1');
      expect(jobs).toHaveLength(2);
      for (const job of jobs) expect(await h.store.requestCancel(job.id, 'n2')).toMatchObject({ status: 'requested' });
      // The run failed, and is to be tried again; the other job is handed back (its node stops).
      await h.store.releaseJob('n1', failed.id, {
        execution: executionFixture(failed, { outcome: 'failed', error: { name: 'E', message: 'm', stack: null } }),
        // Its back-off is an hour: the cancel is not left waiting for it.
        requeue: { runAt: new Date(T0 + 3_600_000), startDeadline: null, attempt: 2, abandonRetries: 2, failedRuns: 0 },
      });
      const claimed = jobs.find((job) => job.id === handedBack.id) as JobRecord;
      await h.store.releaseJob('n1', handedBack.id, {
        execution: null,
        attempt: claimed.attempt,
        startedAt: claimed.startedAt,
        requeue: {
          runAt: new Date(T0),
          startDeadline: null,
          attempt: claimed.attempt,
          abandonRetries: 2,
          failedRuns: 0,
        },
      });
      const again = (await acquire('n3')).jobs;
      expect(again.map((job) => [job.id, job.cancelRequested]).sort()).toEqual(
        [
          [failed.id, true],
          [handedBack.id, true],
        ].sort(),
      );
    });

    it('hands back a job that never started: pending again, nothing recorded, fenced by attempt', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1');
      const requeue = { runAt: new Date(T0), startDeadline: null, attempt: 1, abandonRetries: 2, failedRuns: 0 };
      const handBack = (node: string, attempt: number) =>
        h.store.releaseJob(node, job.id, { execution: null, attempt, startedAt: null, requeue });
      expect(await handBack('n1', 2)).toBe(false);
      expect(await handBack('n2', 1)).toBe(false);
      expect(await handBack('n1', 1)).toBe(true);
      const [pending] = (await h.store.getJobs({})).items;
      expect(pending).toMatchObject({ id: job.id, status: 'pending', attempt: 1, acquiredBy: null });
      expect((await h.store.getExecutions({})).items).toEqual([]);
      expect(h.events.some((event) => 'execution' in event)).toBe(false);
      expect((await acquire('n2')).jobs.map((j) => j.id)).toEqual([job.id]);
    });

    it('fences a hand-back by its claim: a late retry of it leaves a new claim of the same attempt alone', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      const requeue = { runAt: new Date(T0), startDeadline: null, attempt: 1, abandonRetries: 2, failedRuns: 0 };
      const handBack = (claim: JobRecord) =>
        h.store.releaseJob('n1', job.id, { execution: null, attempt: 1, startedAt: claim.startedAt, requeue });
      const [first] = (await acquire('n1')).jobs;
      if (first === undefined) throw new Error('the job was not claimed');
      expect(await handBack(first)).toBe(true);
      await h.advance(1);
      const [second] = (await acquire('n1')).jobs;
      expect(second).toMatchObject({ id: job.id, attempt: 1, acquiredBy: 'n1' });
      if (second === undefined) throw new Error('the job was not claimed again');
      // The first hand-back again, as a retry whose first try went through but whose answer was lost.
      expect(await handBack(first)).toBe(false);
      expect((await h.store.getJobs({})).items[0]).toMatchObject({ status: 'running', acquiredBy: 'n1' });
      expect(await handBack(second)).toBe(true);
      expect((await h.store.getJobs({})).items[0]).toMatchObject({ status: 'pending', acquiredBy: null });
    });

    it('hands back the jobs leased to a node but not among those it holds (a claim whose answer it lost)', async () => {
      const [known, stray, otherAttempt, others] = [jobFixture(), jobFixture(), jobFixture(), jobFixture()];
      for (const job of [known, stray, otherAttempt]) await h.store.addJob(job);
      await acquire('n1', 10, TASKS, 1000);
      await h.store.addJob(others);
      await acquire('n2');
      // n1 held attempt 1 of otherAttempt, which was taken over; its attempt 2 came back to n1 by a lost claim.
      await h.advance(1000);
      await h.store.reapAbandoned();
      const retaken = (await acquire('n1', 10, TASKS, 30_000)).jobs.map((job) => [job.id, job.attempt]);
      expect(retaken.sort()).toEqual([known.id, stray.id, otherAttempt.id].map((id) => [id, 2]).sort());
      // A run whose lease is about to end may be one n1 stopped when it could not renew it: left alone.
      const expiring = jobFixture();
      await h.store.addJob(expiring);
      await acquire('n1', 10, TASKS, 10_000);
      const eventsBefore = h.events.length;
      // Leased before the node's start (a process before it with the same id): left alone.
      const held = [{ id: known.id, attempt: 2 }];
      expect(await h.store.handBackStrayJobs('n1', held, 15_000, new Date(h.now() + 1))).toEqual([]);
      const handedBack = await h.store.handBackStrayJobs(
        'n1',
        [
          { id: known.id, attempt: 2 },
          { id: otherAttempt.id, attempt: 1 },
        ],
        15_000,
        new Date(T0),
      );
      expect(handedBack.map((job) => job.id).sort()).toEqual([stray.id, otherAttempt.id].sort());
      expect(handedBack[0]).toMatchObject({
        status: 'pending',
        acquiredBy: null,
        acquiredUntil: null,
        startedAt: null,
      });
      const byId = new Map((await h.store.getJobs({})).items.map((job) => [job.id, job]));
      expect(byId.get(known.id)).toMatchObject({ status: 'running', acquiredBy: 'n1', attempt: 2 });
      expect(byId.get(stray.id)).toMatchObject({ status: 'pending', acquiredBy: null, attempt: 2 });
      expect(byId.get(otherAttempt.id)).toMatchObject({ status: 'pending', acquiredBy: null, attempt: 2 });
      expect(byId.get(others.id)).toMatchObject({ status: 'running', acquiredBy: 'n2' });
      expect(byId.get(expiring.id)).toMatchObject({ status: 'running', acquiredBy: 'n1' });
      // Nothing recorded: they never started.
      expect((await h.store.getExecutions({ jobId: stray.id })).items.map((e) => e.outcome)).toEqual(['abandoned']);
      expect(h.events.slice(eventsBefore).filter((event) => 'execution' in event)).toEqual([]);
      expect(await h.store.handBackStrayJobs('n1', [{ id: known.id, attempt: 2 }], 15_000, new Date(T0))).toEqual([]);
      expect((await acquire('n3')).jobs.map((job) => job.id).sort()).toEqual([stray.id, otherAttempt.id].sort());
    });

    it('ignores a release from a node that no longer holds the job, and does not record its execution', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1', 10, TASKS, 1000);
      await h.advance(1000);
      await h.store.reapAbandoned();
      await acquire('n2');
      const eventsBefore = h.events.length;
      expect(await h.store.releaseJob('n1', job.id, { execution: executionFixture(job) })).toBe(false);
      expect((await h.store.getJobs({})).items[0]).toMatchObject({
        status: 'running',
        acquiredBy: 'n2',
      });
      // The takeover's record is the attempt's one record.
      expect((await h.store.getExecutions({ jobId: job.id })).items.map((e) => [e.attempt, e.outcome])).toEqual([
        [1, 'abandoned'],
      ]);
      expect(h.events.slice(eventsBefore).filter((event) => event.type === 'job.succeeded')).toEqual([]);
    });

    for (const retried of [false, true]) {
      it(`counts a release tried again after it went through as released, and records it once${retried ? ' (a retry put back)' : ''}`, async () => {
        // The first try committed, but its answer was lost (a connection that broke): the node tries again.
        const job = jobFixture();
        await h.store.addJob(job);
        await acquire('n1', 10, TASKS, 1000);
        const release = retried
          ? {
              execution: executionFixture(job, { outcome: 'failed' }),
              requeue: {
                runAt: new Date(T0 + 5000),
                startDeadline: null,
                attempt: 2,
                abandonRetries: 2,
                failedRuns: 1,
              },
            }
          : { execution: executionFixture(job) };
        expect(await h.store.releaseJob('n1', job.id, release)).toBe(true);
        const after = (await h.store.getJobs({})).items;
        expect(await h.store.releaseJob('n1', job.id, release)).toBe(true);
        expect((await h.store.getJobs({})).items).toEqual(after);
        expect((await h.store.getExecutions({ jobId: job.id })).items.map((e) => e.id)).toEqual([
          release.execution?.id,
        ]);
        // The retried job's event says when it runs again, also after the second try.
        const outcomes = h.events.filter((event) => event.type === (retried ? 'job.failed' : 'job.succeeded'));
        expect(outcomes.map((event) => ('retryAt' in event ? event.retryAt : undefined)).at(-1)).toEqual(
          retried ? new Date(T0 + 5000) : null,
        );
      });
    }

    it('renews leases, reports lost ones and cancellation requests', async () => {
      const a = jobFixture();
      const b = jobFixture();
      await h.store.addJob(a);
      await h.store.addJob(b);
      await acquire('n1', 10, TASKS, 1000);
      await h.advance(900);
      expect(
        await h.store.extendLeases('n1', 1000, [
          { id: a.id, attempt: 1 },
          { id: 'gone', attempt: 1 },
        ]),
      ).toEqual({
        lost: ['gone'],
        cancelRequested: [],
      });
      await h.advance(900);
      // a was renewed; b's lease has run out
      const reaped = await h.store.reapAbandoned();
      expect(reaped.map((e) => e.jobId)).toEqual([b.id]);
      expect(await h.store.requestCancel(a.id, 'n9')).toEqual({ status: 'requested', node: 'n1' });
      expect(await h.store.extendLeases('n1', 1000, [{ id: a.id, attempt: 1 }])).toEqual({
        lost: [],
        cancelRequested: [a.id],
      });
    });

    it('fences releases and renewals by attempt: a late release of attempt 1 never touches attempt 2', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1', 10, TASKS, 1000);
      await h.advance(1000);
      await h.store.reapAbandoned(); // n1 looked dead: attempt 1 abandoned, attempt 2 queued
      const [second] = (await acquire('n1', 10, TASKS, 30_000)).jobs; // the same node takes attempt 2
      expect(second?.attempt).toBe(2);
      expect(await h.store.extendLeases('n1', 30_000, [{ id: job.id, attempt: 1 }])).toEqual({
        lost: [job.id],
        cancelRequested: [],
      });
      expect(await h.store.releaseJob('n1', job.id, { execution: executionFixture(job, { attempt: 1 }) })).toBe(false);
      expect((await h.store.getJobs({})).items[0]).toMatchObject({ id: job.id, status: 'running', attempt: 2 });
      expect(await h.store.releaseJob('n1', job.id, { execution: executionFixture(job, { attempt: 2 }) })).toBe(true);
      expect((await h.store.getJobs({})).items).toEqual([]);
    });

    it('tells a late release of attempt 1 from the release of attempt 2 made at the same time (one batch)', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      await acquire('n1', 10, TASKS, 1000);
      await h.advance(1000);
      await h.store.reapAbandoned(); // attempt 1 abandoned; the same node takes attempt 2
      expect((await acquire('n1', 10, TASKS, 30_000)).jobs.map((claimed) => claimed.attempt)).toEqual([2]);
      const late = executionFixture(job, { attempt: 1 });
      const second = executionFixture(job, { attempt: 2 });
      expect(
        await Promise.all([
          h.store.releaseJob('n1', job.id, { execution: late }),
          h.store.releaseJob('n1', job.id, { execution: second }),
        ]),
      ).toEqual([false, true]);
      const executions = (await h.store.getExecutions({ jobId: job.id })).items;
      expect(executions.map((e) => [e.attempt, e.outcome]).sort()).toEqual([
        [1, 'abandoned'],
        [2, 'succeeded'],
      ]);
      expect(executions.map((e) => e.id)).not.toContain(late.id);
    });

    it('reaps expired jobs as abandoned and re-queues them while the abandonment budget lasts', async () => {
      const job = jobFixture({ abandonRetries: 1, startDeadline: new Date(T0 + 60_000) });
      await h.store.addJob(job);
      await acquire('dead', 10, TASKS, 1000);
      await h.advance(999);
      expect(await h.store.reapAbandoned()).toEqual([]);
      await h.advance(1);
      const [first] = await h.store.reapAbandoned();
      expect(first).toMatchObject({
        jobId: job.id,
        outcome: 'abandoned',
        node: 'dead',
        attempt: 1,
        startedAt: new Date(T0),
      });
      const [again] = (await acquire('n2', 10, TASKS, 1000)).jobs;
      // Re-run at once, with the same grace after its new run time.
      expect(again).toMatchObject({
        id: job.id,
        attempt: 2,
        abandonRetries: 0,
        runAt: new Date(T0 + 1000),
        startDeadline: new Date(T0 + 61_000),
      });
      await h.advance(1000);
      const [second] = await h.store.reapAbandoned();
      expect(second).toMatchObject({ attempt: 2, outcome: 'abandoned' });
      expect((await h.store.getJobs({})).items).toEqual([]);
      const abandonedEvents = h.events.filter((event) => event.type === 'job.abandoned');
      expect(abandonedEvents.map((event) => ('retryAt' in event ? event.retryAt !== null : null))).toEqual([
        true,
        false,
      ]);
    });

    for (const capped of [false, true]) {
      it(`lowers a claimed job's abandonment budget to the claiming node's for its task${capped ? ' (a capped task)' : ''}`, async () => {
        // Made by a node that did not know the task's options (it only fires schedules): the default.
        const job = jobFixture({ abandonRetries: 2 });
        const other = jobFixture({ task: 'task-b', abandonRetries: 2 });
        await h.store.addJob(job);
        await h.store.addJob(other);
        const tasks = [
          { name: job.task, maxRunningJobs: capped ? 5 : null, abandonRetries: 0 },
          { name: 'task-b', maxRunningJobs: null, abandonRetries: 3 }, // never raised
        ];
        const { jobs } = await acquire('dead', 10, tasks, 1000);
        expect(jobs.map((claimed) => [claimed.task, claimed.abandonRetries]).sort()).toEqual(
          [
            [job.task, 0],
            ['task-b', 2],
          ].sort(),
        );
        await h.advance(1000);
        const reaped = await h.store.reapAbandoned();
        expect(reaped.map((execution) => execution.jobId).sort()).toEqual([job.id, other.id].sort());
        // The job that must not run twice is finished; the other runs again.
        expect((await h.store.getJobs({})).items.map((left) => left.id)).toEqual([other.id]);
      });
    }

    it('does not run again a job whose cancellation was asked for before its node died', async () => {
      const job = jobFixture({ abandonRetries: 2 });
      await h.store.addJob(job);
      await acquire('dead', 10, TASKS, 1000);
      expect(await h.store.requestCancel(job.id, 'n1')).toMatchObject({ status: 'requested' });
      await h.advance(1000);
      const [reaped] = await h.store.reapAbandoned();
      expect(reaped).toMatchObject({ jobId: job.id, outcome: 'abandoned', node: 'dead', attempt: 1 });
      expect(reaped?.error?.message).toMatch(/cancel/);
      expect((await h.store.getJobs({})).items).toEqual([]);
      expect((await acquire('n2', 10, TASKS, 1000)).jobs).toEqual([]);
      const abandoned = h.events.filter((event) => event.type === 'job.abandoned');
      expect(abandoned.map((event) => ('retryAt' in event ? event.retryAt : undefined))).toEqual([null]);
    });

    it('cancels a pending job at once and reports unknown ones', async () => {
      const job = jobFixture();
      await h.store.addJob(job);
      const result = await h.store.requestCancel(job.id, 'n1');
      expect(result.status).toBe('cancelled');
      expect((await h.store.getJobs({})).items).toEqual([]);
      expect((await h.store.getExecutions({ jobId: job.id })).items.map((e) => e.outcome)).toEqual(['cancelled']);
      expect(await h.store.requestCancel('nope', 'n1')).toEqual({ status: 'not_found' });
    });

    it('lists jobs by run time with filters and cursor paging', async () => {
      const jobs = [3, 1, 2, 0].map((i) =>
        jobFixture({ runAt: new Date(T0 + i * 1000), task: i % 2 ? 'task-a' : 'task-b' }),
      );
      for (const job of jobs) await h.store.addJob(job);
      const page1 = await h.store.getJobs({ limit: 3 });
      const page2 = await h.store.getJobs({ limit: 3, cursor: page1.nextCursor });
      expect([...page1.items, ...page2.items].map((j) => j.runAt.getTime() - T0)).toEqual([0, 1000, 2000, 3000]);
      expect(page2.nextCursor).toBeNull();
      expect((await h.store.getJobs({ task: 'task-b' })).items).toHaveLength(2);
      await acquire('n1', 1);
      expect((await h.store.getJobs({ status: 'running' })).items).toHaveLength(1);
    });
  });
}
