// Adds jobs with BullMQ's Queue.add to a queue an am2z worker serves, waits for each through
// QueueEvents (job.waitUntilFinished), and reports what BullMQ reads back: the outcome of the
// wait, Queue.getJob, Queue.getJobCounts and every QueueEvents event seen for the jobs.
// Argument: {"queue": NAME, "jobs": [{"name", "data", "opts"}], "timeoutMs": N}
import { Queue, QueueEvents } from 'bullmq';
import { args, connection, describeJob, emit, runMain, watchdog } from './lib.mjs';

runMain(async () => {
  const { queue: queueName, jobs: specs, timeoutMs = 20000 } = args();
  watchdog(timeoutMs + 5000, 'foreign_jobs.mjs');
  const queue = new Queue(queueName, { connection });
  // From the stream's start: events written before the first XREAD are not lost (ids filter them).
  const queueEvents = new QueueEvents(queueName, { connection, lastEventId: '0-0' });
  const events = [];
  for (const type of ['completed', 'failed', 'delayed', 'waiting', 'active', 'retries-exhausted', 'stalled']) {
    queueEvents.on(type, (payload) => events.push({ event: type, ...payload }));
  }
  await queueEvents.waitUntilReady();

  const added = [];
  for (const spec of specs) added.push(await queue.add(spec.name, spec.data, spec.opts ?? {}));
  const outcomes = await Promise.all(
    added.map((job) =>
      job.waitUntilFinished(queueEvents, timeoutMs).then(
        (returnvalue) => ({ id: job.id, ok: true, returnvalue }),
        (err) => ({ id: job.id, ok: false, error: err.message }),
      ),
    ),
  );
  // waitUntilFinished may answer from the job hash; wait for the terminal event of every job so
  // the event list is complete.
  const ids = new Set(added.map((j) => j.id));
  const deadline = Date.now() + 5000;
  const terminal = () =>
    new Set(events.filter((e) => e.event === 'completed' || e.event === 'failed').map((e) => e.jobId));
  while (Date.now() < deadline && [...ids].some((id) => !terminal().has(id))) {
    await new Promise((r) => setTimeout(r, 20));
  }

  const jobs = [];
  for (const job of added) jobs.push(await describeJob(await queue.getJob(job.id)));
  emit({
    ids: added.map((j) => j.id),
    outcomes,
    jobs,
    counts: await queue.getJobCounts(),
    events: events.filter((e) => ids.has(e.jobId)),
  });
  await queueEvents.close();
  await queue.close();
});
