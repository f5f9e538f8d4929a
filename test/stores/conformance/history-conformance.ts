import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/errors.ts';
import type { Outcome } from '../../../src/stores/records.ts';
import { DEAD_NODE_FORGOTTEN_AFTER_MS } from '../../../src/stores/store-records.ts';
import { executionFixture, jobFixture, type StoreFactory, type StoreHarness, T0 } from './harness.ts';

export function historyConformance(factory: StoreFactory): void {
  describe('history and nodes', () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.close();
    });

    /** Records executions finished at T0 + i seconds through a job release each. */
    async function record(specs: Array<{ outcome: Outcome; task?: string; scheduleId?: string | null }>) {
      const ids: string[] = [];
      for (const [i, spec] of specs.entries()) {
        const job = jobFixture({
          task: spec.task ?? 'task-a',
          scheduleId: spec.scheduleId ?? null,
        });
        await h.store.addJob(job);
        await h.store.acquireJobs('n1', {
          leaseMs: 30_000,
          limit: 1,
          tasks: [{ name: job.task, maxRunningJobs: null }],
        });
        const execution = executionFixture(job, {
          outcome: spec.outcome,
          finishedAt: new Date(T0 + i * 1000),
        });
        await h.store.releaseJob('n1', job.id, { execution });
        ids.push(execution.id);
      }
      return ids;
    }

    it('lists executions newest first with filters and stable cursor paging', async () => {
      const ids = await record([
        { outcome: 'succeeded', scheduleId: 's1' },
        { outcome: 'failed', task: 'task-b' },
        { outcome: 'succeeded', scheduleId: 's1' },
        { outcome: 'timed_out' },
        { outcome: 'failed', scheduleId: 's1' },
      ]);
      const all = (await h.store.getExecutions({})).items.map((e) => e.id);
      expect(all).toEqual([...ids].reverse());
      const page1 = await h.store.getExecutions({ limit: 2 });
      const page2 = await h.store.getExecutions({ limit: 2, cursor: page1.nextCursor });
      const page3 = await h.store.getExecutions({ limit: 2, cursor: page2.nextCursor });
      expect([...page1.items, ...page2.items, ...page3.items].map((e) => e.id)).toEqual(all);
      expect(page3.nextCursor).toBeNull();
      expect((await h.store.getExecutions({ scheduleId: 's1' })).items).toHaveLength(3);
      expect((await h.store.getExecutions({ task: 'task-b' })).items).toHaveLength(1);
      expect((await h.store.getExecutions({ outcome: ['failed', 'timed_out'] })).items.map((e) => e.outcome)).toEqual([
        'failed',
        'timed_out',
        'failed',
      ]);
      const window = await h.store.getExecutions({
        from: new Date(T0 + 1000),
        to: new Date(T0 + 3000),
      });
      expect(window.items.map((e) => e.id)).toEqual([ids[2], ids[1]]);
    });

    it('rejects a cursor it did not make', async () => {
      await expect(h.store.getExecutions({ cursor: 'garbage' })).rejects.toBeInstanceOf(ValidationError);
      await expect(h.store.getExecutions({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    });

    it('prunes executions older than a date', async () => {
      await record([{ outcome: 'succeeded' }, { outcome: 'succeeded' }, { outcome: 'failed' }]);
      expect(await h.store.pruneExecutions(new Date(T0 + 2000))).toBe(2);
      expect((await h.store.getExecutions({})).items.map((e) => e.outcome)).toEqual(['failed']);
    });

    it('prunes at most `limit` executions per call, the oldest first', async () => {
      const ids = await record([{ outcome: 'succeeded' }, { outcome: 'failed' }, { outcome: 'succeeded' }]);
      expect(await h.store.pruneExecutions(new Date(T0 + 5000), 2)).toBe(2);
      expect((await h.store.getExecutions({})).items.map((e) => e.id)).toEqual([ids[2]]);
      expect(await h.store.pruneExecutions(new Date(T0 + 5000), 2)).toBe(1);
      expect(await h.store.pruneExecutions(new Date(T0 + 5000), 2)).toBe(0);
    });

    it('keeps node heartbeats and forgets a node that leaves', async () => {
      await h.store.heartbeat({
        id: 'n1',
        host: 'h',
        pid: 1,
        startedAt: new Date(T0),
        lastSeen: new Date(T0),
        runningJobs: 2,
      });
      await h.advance(5000);
      await h.store.heartbeat({
        id: 'n2',
        host: 'h',
        pid: 2,
        startedAt: new Date(T0),
        lastSeen: new Date(T0),
        runningJobs: 0,
      });
      const nodes = await h.store.getNodes();
      expect(nodes.map((n) => n.id).sort()).toEqual(['n1', 'n2']);
      expect(nodes.find((n) => n.id === 'n2')?.lastSeen).toEqual(new Date(T0 + 5000));
      await h.store.removeNode('n1');
      expect((await h.store.getNodes()).map((n) => n.id)).toEqual(['n2']);
    });

    it('shows when a node restarted under the same id, and forgets a node not seen for a day', async () => {
      const beat = (id: string, pid: number, startedAt: number) =>
        h.store.heartbeat({
          id,
          host: 'h',
          pid,
          startedAt: new Date(startedAt),
          lastSeen: new Date(0),
          runningJobs: 0,
        });
      await beat('dead', 1, T0);
      await beat('n1', 2, T0);
      await h.advance(60_000);
      await beat('n1', 3, T0 + 60_000); // the same node id, a new process
      expect((await h.store.getNodes()).find((n) => n.id === 'n1')).toMatchObject({
        pid: 3,
        startedAt: new Date(T0 + 60_000),
      });
      await h.advance(DEAD_NODE_FORGOTTEN_AFTER_MS - 60_000);
      await beat('n1', 3, T0 + 60_000); // 'dead' was last seen exactly a day ago: still shown
      expect((await h.store.getNodes()).map((n) => n.id).sort()).toEqual(['dead', 'n1']);
      await h.advance(1);
      await beat('n1', 3, T0 + 60_000);
      expect((await h.store.getNodes()).map((n) => n.id)).toEqual(['n1']);
    });
  });
}
