// Finds the BullMQ queues under one prefix of a Redis: what the dashboard hands to Bull Board.
// The same rule as `am2z stats` (core/redis/queue_stats.cpp), so both list the same queues.

/// A queue's own keys (`<prefix>:<queue>:<kind>`) that adding a job creates. A worker serving an
/// empty queue creates others (marker, stalled-check), which do not make it a queue; a queue whose
/// jobs were all removed keeps its events stream.
export const QUEUE_KEY_KINDS = new Set([
  'meta', 'id', 'events', 'wait', 'paused', 'active', 'prioritized', 'delayed', 'waiting-children',
  'completed', 'failed',
]);

/// am2z's own keys under a prefix P other than `bull` are `P:am2z:*` (run outcomes, heartbeats,
/// events); with `bull` they are `am2z:*`, outside the prefix. Neither is a queue.
const AM2Z_ROOT = 'am2z';

const SCAN_COUNT = 1000;

/// The SCAN pattern of every key under `prefix`, its glob characters escaped.
export function scanPattern(prefix) {
  return `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
}

/// The queue a key names as one of its queue-level keys, or null (a job hash, a lock, am2z's own
/// keys, another prefix's key). Queue names never contain ':', so the split is unambiguous.
export function queueOfKey(key, prefix) {
  if (!key.startsWith(`${prefix}:`)) return null;
  const rest = key.slice(prefix.length + 1);
  const colon = rest.indexOf(':');
  if (colon <= 0) return null;
  const queue = rest.slice(0, colon);
  if (queue === AM2Z_ROOT) return null;
  return QUEUE_KEY_KINDS.has(rest.slice(colon + 1)) ? queue : null;
}

/// The sorted names of the queues under `prefix`, by SCAN (never KEYS: Redis serves other
/// clients between batches; a pass reads every key of the database once).
export async function discoverQueues(client, prefix) {
  const found = new Set();
  const match = scanPattern(prefix);
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    for (const key of keys) {
      const queue = queueOfKey(key, prefix);
      if (queue !== null) found.add(queue);
    }
    cursor = next;
  } while (cursor !== '0');
  return [...found].sort();
}
