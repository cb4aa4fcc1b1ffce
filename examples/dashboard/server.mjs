// Bull Board over an am2z deployment: finds every BullMQ queue under a prefix of a Redis, serves
// Bull Board for them, and finds them again every --interval, so queues of flows submitted later
// appear (and queues whose keys are gone disappear).
//   node server.mjs [--redis URL] [--prefix P] [--port N] [--host H] [--interval DUR] [--read-only]
import { parseArgs } from 'node:util';
import express from 'express';
import IORedis from 'ioredis';
import { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { discoverQueues } from './discover.mjs';

const USAGE = `usage: node server.mjs [options]
  --redis URL      redis://[user:password@]host:port/db or unix:///path.sock?db=N
                   (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --prefix P       the deployment's prefix, as given to am2z --prefix (default: bull)
  --port N         HTTP port (default: $AM2Z_DASHBOARD_PORT, else 3000; 0 picks a free one)
  --host H         address to listen on (default: 127.0.0.1; Bull Board can delete jobs)
  --base-path P    URL path to serve the board under (default: /)
  --interval DUR   how often to look for new queues: 10s, 500ms, 2m (default: 10s)
  --read-only      no retry, clean, pause or delete buttons
`;

/// "10s", "500ms", "2m" or a number of seconds, in milliseconds.
function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text).trim());
  if (!m) throw new Error(`bad duration '${text}': use 10s, 500ms or 2m`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60000 }[m[2] ?? 's'];
  if (ms < 100) throw new Error(`--interval ${text} is too short: at least 100ms`);
  return ms;
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: 'string' },
      prefix: { type: 'string', default: 'bull' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'base-path': { type: 'string', default: '/' },
      interval: { type: 'string', default: '10s' },
      'read-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const port = Number(values.port ?? process.env.AM2Z_DASHBOARD_PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port '${values.port}'`);
  if (values.prefix === '' || values.prefix.includes(':')) {
    throw new Error(`--prefix must be non-empty and contain no ':', as am2z's (got '${values.prefix}')`);
  }
  const basePath = `/${values['base-path'].replace(/^\/+|\/+$/g, '')}`;
  return {
    redis: values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: values.prefix,
    port,
    host: values.host,
    basePath,
    intervalMs: parseDuration(values.interval),
    readOnly: values['read-only'],
  };
}

/// ioredis options for the URL forms am2z takes; `unix://` is not one ioredis parses itself.
function connect(url) {
  const common = { lazyConnect: true, maxRetriesPerRequest: 3 };
  if (url.startsWith('unix://')) {
    const u = new URL(url);
    return new IORedis({ ...common, path: decodeURIComponent(u.pathname), db: Number(u.searchParams.get('db') ?? 0) });
  }
  return new IORedis(url, common);
}

/// The URL without its password, for logs.
function redacted(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/// The queues Bull Board shows, kept equal to what discovery finds. All share one connection and
/// never write (skipMetasUpdate: a bare `new Queue` would write the queue's meta hash).
class Board {
  constructor(client, options) {
    this.client = client;
    this.options = options;
    this.queues = new Map(); // name -> BullMQ Queue
    this.server = new ExpressAdapter().setBasePath(options.basePath);
    this.board = createBullBoard({
      queues: [],
      serverAdapter: this.server,
      options: { uiConfig: { boardTitle: `am2z (${options.prefix})` } },
    });
  }

  /// Finds the queues again; returns {added, removed} names.
  async refresh() {
    const names = await discoverQueues(this.client, this.options.prefix);
    const found = new Set(names);
    const added = names.filter((n) => !this.queues.has(n));
    const removed = [...this.queues.keys()].filter((n) => !found.has(n));
    if (added.length === 0 && removed.length === 0) return { added, removed };
    for (const name of added) {
      const queue = new Queue(name, { connection: this.client, prefix: this.options.prefix, skipMetasUpdate: true });
      queue.on('error', () => {}); // each connection error, once per queue: refresh reports it once
      this.queues.set(name, queue);
    }
    const gone = removed.map((name) => this.queues.get(name));
    for (const name of removed) this.queues.delete(name);
    // `.` groups a flow's queues (<flow>.<instance>, <flow>._join) under the flow in the menu.
    this.board.replaceQueues([...this.queues.values()].map(
      (q) => new BullMQAdapter(q, { readOnlyMode: this.options.readOnly, delimiter: '.' })));
    await Promise.all(gone.map((q) => q.close()));
    return { added, removed };
  }

  async close() {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`am2z-dashboard: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const where = `${redacted(options.redis)} (prefix '${options.prefix}')`;
  const client = connect(options.redis);
  client.setMaxListeners(0); // every Queue on the shared connection listens to it
  client.on('error', () => {}); // reported by refresh; ioredis reconnects by itself
  const board = new Board(client, options);
  try {
    await client.connect();
    await board.refresh();
  } catch (err) {
    process.stderr.write(`am2z-dashboard: cannot read Redis at ${where}: ${err.message}\n`);
    client.disconnect();
    process.exit(4);
  }

  const app = express();
  app.use(options.basePath, board.server.getRouter());
  const http = app.listen(options.port, options.host, () => {
    const { address, port } = http.address();
    const path = options.basePath === '/' ? '/' : `${options.basePath}/`;
    process.stdout.write(`am2z-dashboard: Bull Board on http://${address.includes(':') ? `[${address}]` : address}:${port}${path} ` +
                         `for ${where}: ${board.queues.size} queue(s)\n`);
  });
  http.on('error', (err) => {
    process.stderr.write(`am2z-dashboard: cannot listen on ${options.host}:${options.port}: ${err.message}\n`);
    process.exit(1);
  });

  let busy = false; // a pass slower than the interval is not started twice
  let failing = false;
  let stopping = false;
  const lost = (why) => {
    if (!failing && !stopping) process.stderr.write(`am2z-dashboard: cannot list the queues of ${where}: ${why}\n`);
    failing = true;
  };
  // A lost connection is reported when it closes, not only when a discovery pass fails: ioredis
  // queues a pass issued while it reconnects, so a short outage could otherwise go unreported.
  client.on('close', () => lost('connection closed'));
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const { added, removed } = await board.refresh();
      if (failing) process.stderr.write(`am2z-dashboard: reading ${where} again\n`);
      failing = false;
      if (added.length) process.stdout.write(`am2z-dashboard: new queue(s): ${added.join(', ')}\n`);
      if (removed.length) process.stdout.write(`am2z-dashboard: queue(s) gone: ${removed.join(', ')}\n`);
    } catch (err) {
      lost(err.message);
    } finally {
      busy = false;
    }
  }, options.intervalMs);

  const stop = () => {
    stopping = true;
    clearInterval(timer);
    http.close();
    http.closeAllConnections?.();
    board.close().finally(() => {
      client.disconnect();
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
