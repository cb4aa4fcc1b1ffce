// Repeats a job with BullMQ's job scheduler (Queue.upsertJobScheduler, "every" ms) on a queue an
// am2z worker serves, removes the scheduler after `forMs`, and reports the jobs that completed.
// BullMQ's worker schedules each next iteration when it takes the current one, so a worker that
// does not do so runs the scheduler's first job only.
// Argument: {"queue": NAME, "every": MS, "forMs": MS, "data": {...}}
import { Queue } from 'bullmq';
import { args, connection, describeJob, emit, runMain, watchdog } from './lib.mjs';

runMain(async () => {
  const { queue: queueName, every, forMs, data } = args();
  watchdog(forMs + 15000, 'job_scheduler.mjs');
  const queue = new Queue(queueName, { connection });
  await queue.upsertJobScheduler('interop-tick', { every }, { name: 'tick', data });
  await new Promise((r) => setTimeout(r, forMs));
  await queue.removeJobScheduler('interop-tick');
  await new Promise((r) => setTimeout(r, 200)); // let an iteration that was running finish
  const completed = await queue.getJobs(['completed'], 0, 1000);
  emit({
    counts: await queue.getJobCounts(),
    completed: await Promise.all(completed.map(describeJob)),
  });
  await queue.close();
});
