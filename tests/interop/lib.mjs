// Shared by the interop scripts: the Redis connection the Python driver chose, JSON output on
// stdout, and a watchdog so a script that waits for something that never comes fails on its own.
export const connection = {
  host: '127.0.0.1',
  port: Number(process.env.AM2Z_INTEROP_REDIS_PORT),
  maxRetriesPerRequest: null, // BullMQ requires it for Worker and QueueEvents connections
};
if (!Number.isInteger(connection.port) || connection.port <= 0) {
  throw new Error('AM2Z_INTEROP_REDIS_PORT is not set to a port number');
}

/// The script's arguments after `node script.mjs`, decoded from one JSON document.
export function args() {
  if (process.argv.length < 3) throw new Error('usage: node script.mjs JSON-ARGUMENTS');
  return JSON.parse(process.argv[2]);
}

/// One JSON line on stdout: what the Python driver parses.
export function emit(doc) {
  process.stdout.write(JSON.stringify(doc) + '\n');
}

/// Exits with status 3 and a message on stderr if the script is still running after `ms`.
export function watchdog(ms, what) {
  const timer = setTimeout(() => {
    process.stderr.write(`watchdog: ${what} did not finish within ${ms} ms\n`);
    process.exit(3);
  }, ms);
  timer.unref();
}

/// Exits once stdout and stderr are flushed: writes to a pipe are asynchronous, and an exit
/// right after a large write would cut the JSON short.
function exitFlushed(code) {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/// Runs `main`; an uncaught error goes to stderr with its stack and exits with status 1.
export function runMain(main) {
  main().then(
    () => exitFlushed(0),
    (err) => {
      process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
      exitFlushed(1);
    },
  );
}

/// A job as plain JSON: every field BullMQ parsed out of the hash, plus its state.
export async function describeJob(job) {
  if (!job) return null;
  return {
    id: job.id,
    name: job.name,
    data: job.data,
    opts: job.opts,
    returnvalue: job.returnvalue ?? null,
    failedReason: job.failedReason ?? null,
    stacktrace: job.stacktrace,
    timestamp: job.timestamp,
    processedOn: job.processedOn,
    finishedOn: job.finishedOn,
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    delay: job.delay,
    priority: job.priority,
    parent: job.parent ?? null,
    parentKey: job.parentKey ?? null,
    state: await job.getState(),
  };
}
