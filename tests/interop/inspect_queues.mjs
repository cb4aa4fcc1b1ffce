// Reads queues that am2z wrote through BullMQ (Queue.getJobCounts, getJobs, getJob, job.getState,
// getDependencies, getChildrenValues, FlowProducer.getFlow) and through Bull Board's API handlers
// (createBullBoard with BullMQAdapter and a server adapter that only records the routes; every
// response is checked against Bull Board's own response schemas with validateResponses).
// Argument: {"queues": [NAME, ...], "joins": [NAME, ...]}: join queues' jobs get their children.
import { FlowProducer, Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { args, connection, describeJob, emit, runMain, watchdog } from './lib.mjs';

const STATUSES = ['active', 'waiting', 'waiting-children', 'prioritized', 'completed', 'failed', 'delayed', 'paused'];

/// A server adapter that keeps what createBullBoard registers, so routes can be called directly.
class RecordingServerAdapter {
  routes = [];
  setQueues(queues) { this.queues = queues; return this; }
  setViewsPath() { return this; }
  setStaticPath() { return this; }
  setEntryRoute() { return this; }
  setErrorHandler(handler) { this.errorHandler = handler; return this; }
  setApiRoutes(routes) { this.routes = routes; return this; }
  setUIConfig(config) { this.uiConfig = config; return this; }

  async call(method, path, params = {}, query = {}) {
    const route = this.routes.find(
      (r) => r.method === method && (Array.isArray(r.route) ? r.route : [r.route]).includes(path),
    );
    if (!route) throw new Error(`Bull Board has no route ${method} ${path}`);
    const req = { queues: this.queues, uiConfig: this.uiConfig, query, params, body: {}, headers: {} };
    try {
      const res = await route.handler(req);
      return { status: res.status ?? 200, body: res.body };
    } catch (err) {
      const res = this.errorHandler(err);
      return { status: res.status ?? 500, body: res.body, thrown: String(err && err.stack) };
    }
  }
}

runMain(async () => {
  const { queues: names, joins = [] } = args();
  watchdog(30000, 'inspect_queues.mjs');
  const queues = new Map(names.map((n) => [n, new Queue(n, { connection })]));
  const flowProducer = new FlowProducer({ connection });
  const out = { queues: {}, board: {} };

  for (const [name, queue] of queues) {
    const adapter = new BullMQAdapter(queue);
    const q = { counts: await queue.getJobCounts(), adapterCounts: await adapter.getJobCounts(), jobs: {}, byStatus: {} };
    q.workers = (await queue.getWorkers()).map((w) => w.name);
    for (const status of STATUSES) {
      const jobs = await adapter.getJobs([status], 0, 100);
      q.byStatus[status] = jobs.filter(Boolean).map((j) => j.id);
    }
    const ids = new Set(Object.values(q.byStatus).flat());
    for (const id of ids) {
      const job = await queue.getJob(id);
      const viaAdapter = await adapter.getJob(id);
      const entry = await describeJob(job);
      entry.adapterJobId = viaAdapter ? viaAdapter.id : null;
      if (joins.includes(name)) {
        entry.dependencies = await job.getDependencies();
        entry.dependenciesCount = await job.getDependenciesCount();
        entry.childrenValues = await job.getChildrenValues();
        entry.failedChildrenValues = await job.getFailedChildrenValues();
        const tree = await flowProducer.getFlow({ id, queueName: name });
        entry.flow = tree && {
          id: tree.job.id,
          queueName: tree.job.queueName,
          children: (tree.children ?? []).map((c) => c && { id: c.job.id, queueName: c.job.queueName, returnvalue: c.job.returnvalue }),
        };
      }
      q.jobs[id] = entry;
    }
    out.queues[name] = q;
  }

  const server = new RecordingServerAdapter();
  createBullBoard({
    queues: [...queues.values()].map((q) => new BullMQAdapter(q)),
    serverAdapter: server,
    options: { validateResponses: true },
  });
  out.board.queues = {};
  for (const name of names) {
    out.board.queues[name] = {};
    for (const status of ['latest', 'completed', 'failed', 'waiting-children', 'waiting', 'delayed']) {
      out.board.queues[name][status] = await server.call('get', '/api/queues', {}, {
        activeQueue: name, status, page: '1', jobsPerPage: '50',
      });
    }
  }
  out.board.jobs = {};
  out.board.flows = {};
  for (const [name, q] of Object.entries(out.queues)) {
    for (const id of Object.keys(q.jobs)) {
      out.board.jobs[`${name}/${id}`] = await server.call('get', '/api/queues/:queueName/:jobId', { queueName: name, jobId: id });
      if (joins.includes(name)) {
        out.board.flows[`${name}/${id}`] = await server.call('get', '/api/queues/:queueName/:jobId/flow', { queueName: name, jobId: id });
      }
    }
  }
  out.board.redisStats = await server.call('get', '/api/redis/stats');
  emit(out);
  await flowProducer.close();
  for (const q of queues.values()) await q.close();
});
