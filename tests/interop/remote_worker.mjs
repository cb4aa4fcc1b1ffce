// A BullMQ Node Worker standing in for a service am2z delegates a step to (the `remote` processor
// type). For each job it records what am2z enqueued and returns the job's state with the result
// of its "work": {width, height} doubled and a `resizedBy` mark. `failFirst` makes the first N
// attempts of every job throw, to check that BullMQ's attempts apply. Prints {"ready": true} once
// the worker listens, then, after `jobs` jobs completed and `failures` jobs failed for good, one
// JSON document with what it saw.
// Argument: {"queue": NAME, "jobs": N, "failures": N, "failFirst": N, "timeoutMs": N}
import { Worker } from 'bullmq';
import { args, connection, emit, runMain, watchdog } from './lib.mjs';

runMain(async () => {
  const { queue, jobs: expected, failures = 0, failFirst = 0, timeoutMs = 20000 } = args();
  watchdog(timeoutMs + 5000, 'remote_worker.mjs');
  const seen = [];
  let completed = 0;
  let failedForGood = 0;
  const worker = new Worker(
    queue,
    async (job) => {
      seen.push({
        id: job.id, name: job.name, data: job.data, opts: job.opts, attemptsMade: job.attemptsMade,
        parent: job.parent ?? null, parentKey: job.parentKey ?? null,
      });
      if (job.attemptsMade < failFirst) throw new Error(`node worker refuses attempt ${job.attemptsMade + 1}`);
      const { width = 0, height = 0 } = job.data;
      return { ...job.data, width: width * 2, height: height * 2, resizedBy: `node-worker:${job.id}` };
    },
    { connection, concurrency: 2, autorun: false },
  );
  const errors = [];
  worker.on('error', (err) => errors.push(String(err)));
  worker.on('completed', () => { completed += 1; });
  worker.on('failed', (job) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) failedForGood += 1;
  });
  worker.run();
  await worker.waitUntilReady();
  emit({ ready: true });
  const deadline = Date.now() + timeoutMs;
  const done = () => completed >= expected && failedForGood >= failures;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await worker.close();
  emit({ seen, completed, failedForGood, errors, timedOut: !done() });
});
