// Watches queues with BullMQ's QueueEvents while am2z works on them. Prints {"ready": true} once
// every QueueEvents is listening, then one JSON document with every event seen, when `until`
// terminal events (completed + failed) have arrived. It reads each events stream from its
// start (lastEventId 0-0), so nothing written before the listener's first XREAD is lost.
// Argument: {"queues": [NAME, ...], "until": N, "timeoutMs": N}
import { QueueEvents } from 'bullmq';
import { args, connection, emit, runMain, watchdog } from './lib.mjs';

const TYPES = ['added', 'waiting', 'active', 'delayed', 'completed', 'failed', 'retries-exhausted', 'stalled', 'waiting-children'];

runMain(async () => {
  const { queues: names, until, timeoutMs = 20000 } = args();
  watchdog(timeoutMs + 5000, 'watch_events.mjs');
  const events = [];
  const listeners = [];
  for (const name of names) {
    const qe = new QueueEvents(name, { connection, lastEventId: '0-0' });
    for (const type of TYPES) qe.on(type, (payload, id) => events.push({ queue: name, event: type, streamId: id, ...payload }));
    listeners.push(qe);
  }
  await Promise.all(listeners.map((qe) => qe.waitUntilReady()));
  emit({ ready: true });
  const terminal = () => events.filter((e) => e.event === 'completed' || e.event === 'failed').length;
  const deadline = Date.now() + timeoutMs;
  while (terminal() < until && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // events written in the same script call (retries-exhausted)
  emit({ events, timedOut: terminal() < until });
  await Promise.all(listeners.map((qe) => qe.close()));
});
