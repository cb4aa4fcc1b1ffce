// Adds jobs with BullMQ's Queue.add to a queue an am2z worker serves, waits for each through
// QueueEvents (job.waitUntilFinished), and reports what BullMQ reads back: the outcome of the
// wait, Queue.getJob, Queue.getJobCounts and every QueueEvents event seen for the jobs. Prints
// {"ready": true} once the jobs are added, the report last.
// Options: `pauseMs` pauses the queue (Queue.pause) before adding, records the jobs' states after
// that long, then resumes it; `retryFailed` retries each failed job that many times the way Bull
// Board's retry button does (job.retry of its state) and records each new outcome.
// Argument: {"queue": NAME, "jobs": [{"name", "data", "opts"}], "pauseMs": N, "retryFailed": N,
//            "timeoutMs": N}
import { Queue, QueueEvents } from 'bullmq';
import { args, connection, describeJob, emit, runMain, watchdog } from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A job removed on completion (removeOnComplete / removeOnFail: true) may be gone before
// waitUntilFinished looks at it ("Missing key"), however fast or slow the worker: BullMQ still
// emits its terminal event, so the outcome is read from the events seen.
async function fromEvents(job, events, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const e = events.find((x) => x.jobId === job.id && (x.event === 'completed' || x.event === 'failed'));
    if (e) {
      return e.event === 'completed'
        ? { id: job.id, ok: true, returnvalue: e.returnvalue }
        : { id: job.id, ok: false, error: e.failedReason };
    }
    if (Date.now() > until) return { id: job.id, ok: false, error: 'no terminal event' };
    await sleep(20);
  }
}

function waitFor(job, queueEvents, timeoutMs, events) {
  return job.waitUntilFinished(queueEvents, timeoutMs).then(
    (returnvalue) => ({ id: job.id, ok: true, returnvalue }),
    (err) =>
      err.message.startsWith('Missing key') && events
        ? fromEvents(job, events, timeoutMs)
        : { id: job.id, ok: false, error: err.message },
  );
}

runMain(async () => {
  const { queue: queueName, jobs: specs, pauseMs = 0, retryFailed = 0, timeoutMs = 20000 } = args();
  watchdog(timeoutMs * (1 + retryFailed) + pauseMs + 15000, 'foreign_jobs.mjs');
  const queue = new Queue(queueName, { connection });
  // From the stream's start: events written before the first XREAD are not lost (ids filter them).
  const queueEvents = new QueueEvents(queueName, { connection, lastEventId: '0-0' });
  const events = [];
  for (const type of ['completed', 'failed', 'delayed', 'waiting', 'active', 'retries-exhausted', 'stalled']) {
    queueEvents.on(type, (payload) => events.push({ event: type, ...payload }));
  }
  await queueEvents.waitUntilReady();

  if (pauseMs > 0) await queue.pause();
  const added = [];
  for (const spec of specs) added.push(await queue.add(spec.name, spec.data, spec.opts ?? {}));
  emit({ ready: true }); // for a driver that runs this script in the background
  let whilePaused = null;
  if (pauseMs > 0) {
    await sleep(pauseMs);
    whilePaused = {
      paused: await queue.isPaused(),
      states: await Promise.all(added.map((j) => j.getState())),
      counts: await queue.getJobCounts(),
    };
    await queue.resume();
  }
  const outcomes = await Promise.all(added.map((job) => waitFor(job, queueEvents, timeoutMs, events)));
  const retries = [];
  for (let round = 0; round < retryFailed; round++) {
    for (const job of added) {
      const current = await queue.getJob(job.id);
      const state = await current.getState();
      if (state !== 'failed') continue;
      await current.retry(state);
      retries.push({ round, ...(await waitFor(current, queueEvents, timeoutMs)) });
    }
  }
  // waitUntilFinished may answer from the job hash; wait for the terminal event of every job so
  // the event list is complete.
  const ids = new Set(added.map((j) => j.id));
  const deadline = Date.now() + 5000;
  const terminal = () =>
    new Set(events.filter((e) => e.event === 'completed' || e.event === 'failed').map((e) => e.jobId));
  while (Date.now() < deadline && [...ids].some((id) => !terminal().has(id))) await sleep(20);

  const jobs = [];
  for (const job of added) jobs.push(await describeJob(await queue.getJob(job.id)));
  emit({
    ids: added.map((j) => j.id),
    outcomes,
    whilePaused,
    retries,
    jobs,
    counts: await queue.getJobCounts(),
    events: events.filter((e) => ids.has(e.jobId)),
  });
  await queueEvents.close();
  await queue.close();
});
