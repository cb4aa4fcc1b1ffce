// A BullMQ job scheduler (Queue.upsertJobScheduler) on a queue an am2z worker serves: creates it,
// waits until `iterations` of its jobs completed, reads the scheduler back (Queue.getJobScheduler),
// removes it, and reports the completed jobs and what was left.
// Argument: {"queue": NAME, "id": SCHEDULER_ID, "repeat": {every|pattern, limit...},
//            "template": {"name", "data"}, "iterations": N, "timeoutMs": N}
import { Queue } from 'bullmq';
import { args, connection, describeJob, emit, runMain, watchdog } from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

runMain(async () => {
  const { queue: queueName, id, repeat, template, iterations, timeoutMs = 20000, settleMs = 0 } = args();
  watchdog(timeoutMs + 10000, 'job_scheduler.mjs');
  const queue = new Queue(queueName, { connection });
  const first = await queue.upsertJobScheduler(id, repeat, template);
  const until = Date.now() + timeoutMs;
  let done = [];
  for (;;) {
    const completed = await queue.getJobs(['completed'], 0, -1, true);
    done = completed.filter((job) => job.id.startsWith(`repeat:${id}:`));
    if (done.length >= iterations || Date.now() > until) break;
    await sleep(50);
  }
  if (settleMs > 0) await sleep(settleMs);  // would a scheduler that should stop go on?
  const scheduler = await queue.getJobScheduler(id);
  const jobs = [];
  for (const job of await queue.getJobs(['completed', 'delayed', 'waiting', 'active', 'failed'], 0, -1, true)) {
    if (job.id.startsWith(`repeat:${id}:`)) jobs.push(await describeJob(job));
  }
  const removed = await queue.removeJobScheduler(id);
  emit({ firstId: first.id, scheduler, jobs, removed });
  await queue.close();
});
