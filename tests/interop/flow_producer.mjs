// Adds a parent job with children through BullMQ's FlowProducer to queues an am2z worker serves:
// BullMQ keeps the parent in waiting-children until every child completed, records each child's
// returnvalue in the parent's :processed hash and then moves the parent to wait. Reports the
// parent's outcome, its children's values and every job's state.
// Argument: {"parent": {"queue", "name", "data"}, "children": [{"queue", "name", "data"}], "timeoutMs": N}
import { FlowProducer, Queue, QueueEvents } from 'bullmq';
import { args, connection, describeJob, emit, runMain, watchdog } from './lib.mjs';

runMain(async () => {
  const { parent, children, timeoutMs = 5000 } = args();
  watchdog(timeoutMs + 15000, 'flow_producer.mjs');
  const producer = new FlowProducer({ connection });
  const queueEvents = new QueueEvents(parent.queue, { connection, lastEventId: '0-0' });
  await queueEvents.waitUntilReady();
  const tree = await producer.add({
    name: parent.name, queueName: parent.queue, data: parent.data,
    children: children.map((c) => ({ name: c.name, queueName: c.queue, data: c.data })),
  });
  const outcome = await tree.job.waitUntilFinished(queueEvents, timeoutMs).then(
    (returnvalue) => ({ ok: true, returnvalue }),
    (err) => ({ ok: false, error: err.message }),
  );
  const queues = new Map();
  const queueOf = (name) => {
    if (!queues.has(name)) queues.set(name, new Queue(name, { connection }));
    return queues.get(name);
  };
  const parentJob = await queueOf(parent.queue).getJob(tree.job.id);
  emit({
    outcome,
    parent: await describeJob(parentJob),
    childrenValues: await parentJob.getChildrenValues(),
    children: await Promise.all(
      tree.children.map(async (c) => ({ key: `bull:${c.job.queueName}:${c.job.id}`,
        ...(await describeJob(await queueOf(c.job.queueName).getJob(c.job.id))) })),
    ),
  });
  await queueEvents.close();
  await producer.close();
  for (const q of queues.values()) await q.close();
});
