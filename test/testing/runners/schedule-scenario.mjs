// The scenario every test runner runs: a weekday 09:00 Berlin schedule over 25 virtual hours,
// plus a task that sleeps on the scheduler clock. Returns what happened, for the runner to check.
export async function runScenario({ createTestScheduler, cron }) {
  const scheduler = createTestScheduler({ now: '2030-01-07T00:00:00Z' });
  scheduler.task('digest', async (ctx) => {
    await ctx.sleep('30m');
    return ctx.fireTime.toISOString();
  });
  await scheduler.addSchedule('digest', cron('0 9 * * mon-fri', { timezone: 'Europe/Berlin' }), { id: 'digest' });
  await scheduler.start();
  await scheduler.advance('25h');
  const history = await scheduler.history();
  await scheduler.stop();
  return history.map((e) => [e.outcome, e.result, e.finishedAt.toISOString()]);
}

// 25 hours from Monday 00:00 UTC hold one weekday 09:00 in Berlin (08:00 UTC); the task sleeps 30 min.
export const expected = [['succeeded', '2030-01-07T08:00:00.000Z', '2030-01-07T08:30:00.000Z']];
