import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ScheduleNotFoundError } from '../../../src/errors.ts';
import type { JobRecord } from '../../../src/stores/records.ts';
import { executionFixture, jobFixture, type StoreFactory, type StoreHarness, scheduleFixture, T0 } from './harness.ts';

export function scheduleConformance(factory: StoreFactory): void {
  describe('schedules', () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.close();
    });

    it('finds schedules by a list of 40,000 ids (more than SQLite allows variables in one statement)', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.addSchedule(scheduleFixture('s2'), 'error');
      const ids = [...Array.from({ length: 40_000 }, (_, i) => `missing-${i}`), 's2', 's1'];
      expect((await h.store.getSchedules({ ids })).items.map((schedule) => schedule.id)).toEqual(['s1', 's2']);
    });

    it('finds a schedule by a list holding an id with a lone surrogate', async () => {
      const id = 'odd-\ud800-id';
      await h.store.addSchedule(scheduleFixture(id), 'error');
      expect((await h.store.getSchedules({ ids: [id] })).items).toHaveLength(1);
    });

    it('adds a schedule and reads it back unchanged', async () => {
      const result = await h.store.addSchedule(
        scheduleFixture('s1', { args: { deep: { list: [1, 'two', null] } } }),
        'error',
      );
      expect(result.outcome).toBe('added');
      const [stored] = (await h.store.getSchedules({ ids: ['s1'] })).items;
      expect(stored).toMatchObject({
        id: 's1',
        task: 'task-a',
        trigger: { type: 'interval', seconds: 60, timezone: 'UTC' },
        args: { deep: { list: [1, 'two', null] } },
        paused: false,
        misfireGraceTime: 60_000,
        coalesce: 'latest',
        maxInstances: 1,
        maxJitter: 0,
        nextFireTime: new Date(T0),
        lastFireTime: null,
        acquiredBy: null,
        brokenReason: null,
        revision: 1,
      });
      expect(h.events.map((event) => event.type)).toContain('schedule.added');
    });

    it('applies the conflict policies', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await expect(h.store.addSchedule(scheduleFixture('s1'), 'error')).rejects.toBeInstanceOf(ConflictError);
      const kept = await h.store.addSchedule(scheduleFixture('s1', { task: 'task-b' }), 'keep');
      expect(kept.outcome).toBe('kept');
      expect(kept.schedule.task).toBe('task-a');
      const replaced = await h.store.addSchedule(scheduleFixture('s1', { task: 'task-b' }), 'replace');
      expect(replaced.outcome).toBe('replaced');
      expect(replaced.schedule.task).toBe('task-b');
      expect(replaced.schedule.revision).toBe(1); // the trigger did not change
    });

    it('keeps fire-time state when replaced with an unchanged trigger, resets it when the trigger changes', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      const { schedules } = await h.store.acquireSchedules('n1', 30_000, 10);
      await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: schedules[0]?.revision ?? 0,
          nextFireTime: new Date(T0 + 60_000),
          lastFireTime: new Date(T0),
          jobs: [],
          missed: [],
        },
      ]);
      const same = await h.store.addSchedule(
        scheduleFixture('s1', { nextFireTime: new Date(T0 + 999_000) }),
        'replace',
      );
      expect(same.schedule.nextFireTime).toEqual(new Date(T0 + 60_000));
      expect(same.schedule.lastFireTime).toEqual(new Date(T0));
      const changed = await h.store.addSchedule(
        scheduleFixture('s1', {
          trigger: { type: 'interval', seconds: 30, timezone: 'UTC' },
          nextFireTime: new Date(T0 + 30_000),
        }),
        'replace',
      );
      expect(changed.schedule.nextFireTime).toEqual(new Date(T0 + 30_000));
    });

    it('is no longer broken once replaced, with its trigger unchanged (it fires again from where it was)', async () => {
      // Marked broken by a node that could not read the trigger (an older version, say).
      await h.store.addSchedule(scheduleFixture('s1', { nextFireTime: new Date(T0 - 5000) }), 'error');
      await h.store.updateSchedule('s1', { brokenReason: 'trigger cannot be used: unknown key' });
      const replaced = await h.store.addSchedule(
        scheduleFixture('s1', { nextFireTime: new Date(T0 + 60_000) }),
        'replace',
      );
      // A new revision: a release of a node that took it before (and could not read it) changes nothing.
      expect(replaced.schedule).toMatchObject({ brokenReason: null, nextFireTime: new Date(T0 - 5000), revision: 2 });
      expect((await h.store.acquireSchedules('n1', 30_000, 10)).schedules.map((s) => s.id)).toEqual(['s1']);
    });

    it('keeps a pause across a replace that does not mention it', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.updateSchedule('s1', { paused: true });
      const replaced = await h.store.addSchedule(scheduleFixture('s1'), 'replace');
      expect(replaced.schedule.paused).toBe(true);
      const unpaused = await h.store.addSchedule(scheduleFixture('s1', { paused: false }), 'replace');
      expect(unpaused.schedule.paused).toBe(false);
    });

    it('updates fields and publishes pause and resume events', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      const updated = await h.store.updateSchedule('s1', {
        maxInstances: 3,
        args: [1, 2],
        paused: true,
      });
      expect(updated).toMatchObject({ maxInstances: 3, args: [1, 2], paused: true, revision: 1 });
      const retriggered = await h.store.updateSchedule('s1', {
        trigger: { type: 'interval', seconds: 5, timezone: 'UTC' },
      });
      expect(retriggered.revision).toBe(2);
      await h.store.updateSchedule('s1', { paused: false });
      const types = h.events.map((event) => event.type);
      expect(types).toContain('schedule.paused');
      expect(types).toContain('schedule.resumed');
      await expect(h.store.updateSchedule('nope', { paused: true })).rejects.toBeInstanceOf(ScheduleNotFoundError);
    });

    it('removes only existing schedules and reports which', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      expect(await h.store.removeSchedules(['s1', 'missing'])).toEqual(['s1']);
      expect((await h.store.getSchedules({})).items).toEqual([]);
    });

    it('lists schedules by id with filters and cursor paging', async () => {
      for (const id of ['c', 'a', 'e', 'b', 'd']) {
        await h.store.addSchedule(scheduleFixture(id, { task: id < 'c' ? 'task-a' : 'task-b' }), 'error');
      }
      const first = await h.store.getSchedules({ limit: 2 });
      expect(first.items.map((s) => s.id)).toEqual(['a', 'b']);
      const second = await h.store.getSchedules({ limit: 2, cursor: first.nextCursor });
      expect(second.items.map((s) => s.id)).toEqual(['c', 'd']);
      const third = await h.store.getSchedules({ limit: 2, cursor: second.nextCursor });
      expect(third.items.map((s) => s.id)).toEqual(['e']);
      expect(third.nextCursor).toBeNull();
      expect((await h.store.getSchedules({ task: 'task-b' })).items.map((s) => s.id)).toEqual(['c', 'd', 'e']);
      await h.store.updateSchedule('d', { paused: true });
      expect((await h.store.getSchedules({ paused: true })).items.map((s) => s.id)).toEqual(['d']);
    });

    it('acquires only due, unpaused, healthy schedules that nobody else holds', async () => {
      await h.store.addSchedule(scheduleFixture('due'), 'error');
      await h.store.addSchedule(scheduleFixture('later', { nextFireTime: new Date(T0 + 1000) }), 'error');
      await h.store.addSchedule(scheduleFixture('paused', { paused: true }), 'error');
      await h.store.addSchedule(scheduleFixture('finished', { nextFireTime: null }), 'error');
      await h.store.addSchedule(scheduleFixture('broken'), 'error');
      await h.store.updateSchedule('broken', { brokenReason: 'cannot read trigger' });
      const first = await h.store.acquireSchedules('n1', 30_000, 10);
      expect(first.schedules.map((s) => s.id)).toEqual(['due']);
      expect(first.schedules[0]?.acquiredBy).toBe('n1');
      expect(first.now.getTime()).toBe(h.now());
      expect((await h.store.acquireSchedules('n2', 30_000, 10)).schedules).toEqual([]);
      await h.advance(1000);
      expect((await h.store.acquireSchedules('n2', 30_000, 10)).schedules.map((s) => s.id)).toEqual(['later']);
    });

    it('respects the acquire limit', async () => {
      for (let i = 0; i < 5; i++) await h.store.addSchedule(scheduleFixture(`s${i}`), 'error');
      expect((await h.store.acquireSchedules('n1', 30_000, 3)).schedules).toHaveLength(3);
      expect((await h.store.acquireSchedules('n2', 30_000, 3)).schedules).toHaveLength(2);
    });

    it('gives a node again a due schedule it still holds (its last release failed), and no other node', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.addSchedule(scheduleFixture('later', { nextFireTime: new Date(T0 + 60_000) }), 'error');
      expect((await h.store.acquireSchedules('n1', 30_000, 10)).schedules.map((s) => s.id)).toEqual(['s1']);
      expect((await h.store.acquireSchedules('n2', 30_000, 10)).schedules).toEqual([]);
      await h.advance(1000);
      const again = (await h.store.acquireSchedules('n1', 30_000, 10)).schedules;
      expect(again.map((s) => [s.id, s.acquiredBy, s.acquiredUntil?.getTime()])).toEqual([['s1', 'n1', T0 + 31_000]]);
      expect((await h.store.acquireSchedules('n2', 30_000, 10)).schedules).toEqual([]);
    });

    it('lets another node take over a schedule whose lease expired', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.acquireSchedules('n1', 5_000, 10);
      await h.advance(5_000);
      const taken = await h.store.acquireSchedules('n2', 5_000, 10);
      expect(taken.schedules.map((s) => s.acquiredBy)).toEqual(['n2']);
      // The old holder's release is ignored: it no longer holds the schedule.
      await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: 1,
          nextFireTime: new Date(T0 + 1),
          lastFireTime: new Date(T0),
          jobs: [jobFixture({ scheduleId: 's1', fireTime: new Date(T0) })],
          missed: [],
        },
      ]);
      expect((await h.store.getJobs({})).items).toEqual([]);
    });

    it('releases: inserts jobs and moves the schedule on in one step', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.acquireSchedules('n1', 30_000, 10);
      const job = jobFixture({ scheduleId: 's1', fireTime: new Date(T0), maxInstances: 1 });
      const released = await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: 1,
          nextFireTime: new Date(T0 + 60_000),
          lastFireTime: new Date(T0),
          jobs: [job],
          missed: [],
        },
      ]);
      expect(released.jobs.map((j) => j.id)).toEqual([job.id]);
      const [schedule] = (await h.store.getSchedules({ ids: ['s1'] })).items;
      expect(schedule).toMatchObject({
        nextFireTime: new Date(T0 + 60_000),
        lastFireTime: new Date(T0),
        acquiredBy: null,
      });
      expect((await h.store.getJobs({})).items.map((j) => j.id)).toEqual([job.id]);
      expect(h.events.some((event) => event.type === 'job.added' && event.jobId === job.id)).toBe(true);
      expect(await h.store.nextScheduleFireTime()).toEqual(new Date(T0 + 60_000));
    });

    it('leases the first fired job of a schedule to the firing node when asked, and only that one', async () => {
      await h.store.addSchedule(scheduleFixture('s1', { maxInstances: 3 }), 'error');
      await h.store.addSchedule(scheduleFixture('s2'), 'error');
      await h.store.addSchedule(scheduleFixture('s3'), 'error');
      await h.store.acquireSchedules('n1', 30_000, 10);
      const fired = (scheduleId: string, fireTime: number, runAt = fireTime) =>
        jobFixture({ scheduleId, fireTime: new Date(fireTime), runAt: new Date(runAt), maxInstances: 3 });
      // s1 fires twice (coalesce 'all'); s2 once, fired ahead (its run time still to come); s3 once, not asked for.
      const s1Jobs = [fired('s1', T0 - 1000), fired('s1', T0)];
      const s2Job = fired('s2', T0, T0 + 5000);
      const s3Job = fired('s3', T0);
      const release = (scheduleId: string, jobs: typeof s1Jobs) => ({
        scheduleId,
        revision: 1,
        nextFireTime: new Date(T0 + 60_000),
        lastFireTime: new Date(T0),
        jobs,
        missed: [],
      });
      const released = await h.store.releaseSchedules(
        'n1',
        [release('s1', s1Jobs), release('s2', [s2Job]), release('s3', [s3Job])],
        { leaseMs: 30_000, jobIds: new Set([s1Jobs[0]?.id, s1Jobs[1]?.id, s2Job.id] as string[]) },
      );
      expect(released.jobs).toHaveLength(4);
      expect(released.started.map((job) => job.id)).toEqual([s1Jobs[0]?.id, s2Job.id]);
      expect(released.started[0]).toMatchObject({
        status: 'running',
        acquiredBy: 'n1',
        acquiredUntil: new Date(T0 + 30_000),
        startedAt: new Date(T0),
      });
      // A job fired ahead starts at its run time.
      expect(released.started[1]).toMatchObject({
        status: 'running',
        acquiredBy: 'n1',
        startedAt: new Date(T0 + 5000),
      });
      const stored = new Map((await h.store.getJobs({})).items.map((job) => [job.id, job]));
      expect(stored.get(s1Jobs[0]?.id as string)).toMatchObject({ status: 'running', acquiredBy: 'n1' });
      for (const job of [s1Jobs[1], s3Job]) {
        expect(stored.get(job?.id as string)).toMatchObject({ status: 'pending', acquiredBy: null });
      }
      // The leased job counts as running: another node cannot acquire it.
      const acquired = await h.store.acquireJobs('n2', {
        leaseMs: 30_000,
        limit: 10,
        tasks: [{ name: 'task-a', maxRunningJobs: null }],
      });
      expect(acquired.jobs.map((job) => job.id)).not.toContain(s1Jobs[0]?.id);
      expect(
        await h.store.releaseJob('n1', s1Jobs[0]?.id as string, {
          execution: executionFixture(released.started[0] as JobRecord),
        }),
      ).toBe(true);
    });

    it('acquires ahead only the schedules due within the window that have no job pending or running', async () => {
      await h.store.addSchedule(scheduleFixture('due'), 'error');
      await h.store.addSchedule(scheduleFixture('soon', { nextFireTime: new Date(T0 + 50) }), 'error');
      await h.store.addSchedule(scheduleFixture('busy', { nextFireTime: new Date(T0 + 40) }), 'error');
      await h.store.addSchedule(scheduleFixture('later', { nextFireTime: new Date(T0 + 500) }), 'error');
      await h.store.addJob(jobFixture({ scheduleId: 'busy', fireTime: new Date(T0 - 960), maxInstances: 1 }));
      expect((await h.store.acquireSchedules('n1', 30_000, 10)).schedules.map((x) => x.id)).toEqual(['due']);
      const ahead = await h.store.acquireSchedules('n2', 30_000, 10, 100);
      expect(ahead.schedules.map((x) => x.id)).toEqual(['soon']);
      expect(ahead.now).toEqual(new Date(T0));
    });

    it('never makes two jobs for one (schedule, fire time)', async () => {
      await h.store.addSchedule(scheduleFixture('s1', { maxInstances: 5 }), 'error');
      for (let round = 0; round < 2; round++) {
        await h.store.updateSchedule('s1', { nextFireTime: new Date(T0) });
        const { schedules } = await h.store.acquireSchedules('n1', 30_000, 10);
        await h.store.releaseSchedules('n1', [
          {
            scheduleId: 's1',
            revision: schedules[0]?.revision ?? 0,
            nextFireTime: new Date(T0 + 60_000),
            lastFireTime: new Date(T0),
            jobs: [jobFixture({ scheduleId: 's1', fireTime: new Date(T0), maxInstances: 5 })],
            missed: [],
          },
        ]);
      }
      expect((await h.store.getJobs({ scheduleId: 's1' })).items).toHaveLength(1);
    });

    it('records fires over max instances as skipped instead of adding jobs', async () => {
      await h.store.addSchedule(scheduleFixture('s1', { maxInstances: 1 }), 'error');
      await h.store.addJob(jobFixture({ scheduleId: 's1', fireTime: new Date(T0 - 60_000), maxInstances: 1 }));
      await h.store.acquireSchedules('n1', 30_000, 10);
      const job = jobFixture({ scheduleId: 's1', fireTime: new Date(T0), maxInstances: 1 });
      const released = await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: 1,
          nextFireTime: new Date(T0 + 60_000),
          lastFireTime: new Date(T0),
          jobs: [job],
          missed: [],
        },
      ]);
      expect(released.jobs).toEqual([]);
      expect(released.executions.map((e) => [e.outcome, e.jobId])).toEqual([['skipped', job.id]]);
      const history = await h.store.getExecutions({ scheduleId: 's1' });
      expect(history.items.map((e) => e.outcome)).toEqual(['skipped']);
      expect(h.events.some((event) => event.type === 'job.skipped')).toBe(true);
    });

    it('keeps the fire times of a revision edited while the schedule was leased', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.acquireSchedules('n1', 30_000, 10);
      await h.store.updateSchedule('s1', {
        trigger: { type: 'interval', seconds: 5, timezone: 'UTC' },
        nextFireTime: new Date(T0 + 5_000),
      });
      await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: 1,
          nextFireTime: new Date(T0 + 60_000),
          lastFireTime: new Date(T0),
          jobs: [],
          missed: [],
        },
      ]);
      const [schedule] = (await h.store.getSchedules({ ids: ['s1'] })).items;
      expect(schedule?.nextFireTime).toEqual(new Date(T0 + 5_000));
      expect(schedule?.acquiredBy).toBeNull();
    });

    it('does not mark broken a schedule whose trigger was replaced while it was leased', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.acquireSchedules('n1', 30_000, 10);
      // The fix comes in while the node that found the old trigger unusable holds the schedule.
      await h.store.updateSchedule('s1', {
        trigger: { type: 'interval', seconds: 5, timezone: 'UTC' },
        nextFireTime: new Date(T0 + 5_000),
        brokenReason: null,
      });
      await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: 1,
          nextFireTime: null,
          lastFireTime: null,
          jobs: [],
          missed: [],
          brokenReason: 'bad trigger',
        },
      ]);
      const [schedule] = (await h.store.getSchedules({ ids: ['s1'] })).items;
      expect(schedule).toMatchObject({ brokenReason: null, nextFireTime: new Date(T0 + 5_000), acquiredBy: null });
    });

    it('keeps the fire times of a release when an unchanged trigger is re-declared meanwhile', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      const { schedules } = await h.store.acquireSchedules('n1', 30_000, 10);
      // Another replica declares the same schedule while n1 holds it.
      await h.store.addSchedule(scheduleFixture('s1', { args: { n: 2 } }), 'replace');
      await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: schedules[0]?.revision ?? 0,
          nextFireTime: new Date(T0 + 60_000),
          lastFireTime: new Date(T0),
          jobs: [],
          missed: [],
        },
      ]);
      expect((await h.store.getSchedules({ ids: ['s1'] })).items[0]?.nextFireTime).toEqual(new Date(T0 + 60_000));
    });

    it('reports a schedule leased by another node no earlier than its lease expiry', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.acquireSchedules('n1', 30_000, 10);
      expect(await h.store.nextScheduleFireTime()).toEqual(new Date(T0 + 30_000));
    });

    it('marks a schedule broken on release and stops handing it out', async () => {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.acquireSchedules('n1', 30_000, 10);
      await h.store.releaseSchedules('n1', [
        {
          scheduleId: 's1',
          revision: 1,
          nextFireTime: new Date(T0),
          lastFireTime: null,
          jobs: [],
          missed: [],
          brokenReason: 'bad trigger',
        },
      ]);
      expect((await h.store.getSchedules({ ids: ['s1'] })).items[0]?.brokenReason).toBe('bad trigger');
      expect((await h.store.acquireSchedules('n1', 30_000, 10)).schedules).toEqual([]);
    });

    it('reports the earliest next fire time of unpaused schedules', async () => {
      expect(await h.store.nextScheduleFireTime()).toBeNull();
      await h.store.addSchedule(scheduleFixture('a', { nextFireTime: new Date(T0 + 5000) }), 'error');
      await h.store.addSchedule(scheduleFixture('b', { nextFireTime: new Date(T0 + 1000), paused: true }), 'error');
      expect(await h.store.nextScheduleFireTime()).toEqual(new Date(T0 + 5000));
    });
  });
}
