// BullMQ doing what am2z's exec5ms scenario does (tests/bench/exec_flows/exec5ms.yaml): one worker
// process at concurrency 8 runs, for each of N prefilled jobs (removeOnComplete), the command
//   sh -c 'cat > /dev/null; sleep 0.005; echo "{}"'
// with the job's data on its stdin, and parses its stdout as JSON. Prints one JSON line.
// Run from a folder where `npm ci` installed the peer's packages (../shared/peers/bullmq):
//   REDIS_HOST=127.0.0.1 REDIS_PORT=6390 N=2000 node peer_exec.mjs
import { spawn } from 'node:child_process';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const env = process.env;
const connection = { host: env.REDIS_HOST || '127.0.0.1', port: Number(env.REDIS_PORT || 6390), maxRetriesPerRequest: null };
const N = Number(env.N || 2000);
const CONC = Number(env.CONC || 8);
const name = 'peer-exec';

function runStep(data) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'cat > /dev/null; sleep 0.005; echo "{}"'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`))));
    child.stdin.end(JSON.stringify(data));
  });
}

const redis = new IORedis(connection);
await redis.flushall();
const queue = new Queue(name, { connection });
for (let i = 0; i < N; i += 1000) {
  const jobs = [];
  for (let j = i; j < Math.min(N, i + 1000); j++) jobs.push({ name: 'work', data: { i: j }, opts: { removeOnComplete: true } });
  await queue.addBulk(jobs);
}
let done = 0;
const t0 = performance.now();
const finished = new Promise((resolve) => {
  const worker = new Worker(name, async (job) => runStep(job.data), { connection, concurrency: CONC });
  worker.on('completed', () => {
    if (++done === N) resolve(worker);
  });
  worker.on('failed', (job, err) => process.stderr.write(`failed: ${err}\n`));
});
const worker = await finished;
const seconds = (performance.now() - t0) / 1000;
await worker.close();
await queue.close();
await redis.quit();
process.stdout.write(JSON.stringify({
  scenario: 'peer_exec5ms', system: 'bullmq', concurrency: CONC, jobs: N,
  seconds: Math.round(seconds * 1000) / 1000, jobs_per_s: Math.round(N / seconds),
  peak_rss_kb: process.resourceUsage().maxRSS,
}) + '\n');
process.exit(0);
