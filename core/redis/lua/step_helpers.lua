-- Part of the step script (step.lua includes it): helpers of its operations.
local function xadd(q, ...)
  rcall("XADD", q .. "events", "MAXLEN", "~", maxLen, "*", ...)
end

local marked -- queues woken in this call
local function marker(q)
  if not marked[q] then -- one wake-up per queue and call is enough
    marked[q] = true
    rcall("ZADD", q .. "marker", 0, "0")
  end
end

-- BullMQ's prioritized score: priority p (1 runs first, up to 2^21) times 2^32, plus a counter
-- (BullMQ's "pc" key) so jobs of one priority stay FIFO.
local function priorityScore(q, p)
  return p * 4294967296 + rcall("INCR", q .. "pc") % 4294967296
end

-- Writes held back to go out as one variadic command per key and call instead of one per job:
-- `command` on key .. suffix with the arguments added, in the order added (at most 1000 at once,
-- within unpack's limit). A batch is flushed before anything in the call reads its keys.
local function batchOf(command, suffix)
  return { command = command, suffix = suffix, by = {}, order = {} }
end
local function batchAdd(b, key, x, y)
  local args = b.by[key]
  if not args then
    args = {}
    b.by[key] = args
    b.order[#b.order + 1] = key
  end
  args[#args + 1] = x
  if y then args[#args + 1] = y end
  if #args >= 1000 then
    rcall(b.command, key .. b.suffix, unpack(args))
    b.by[key] = {}
  end
end
local function batchFlush(b)
  for _, key in ipairs(b.order) do
    local args = b.by[key]
    if #args > 0 then rcall(b.command, key .. b.suffix, unpack(args)) end
  end
  b.by, b.order = {}, {}
end

-- Jobs made ready by this call, per queue. Pushing at the back in the same order gives the same
-- list, however the pushes interleave with RPUSHes at the front; flushed before anything reads a
-- wait list (ops M, W, U) and at the end of the call.
local waits
local function waitLater(q, id) batchAdd(waits, q, id) end
local function flushWaits() batchFlush(waits) end

-- Outcomes for reply lists (op "O": runs whose submitter collects many outcomes on one list), in
-- order; the list's expiry is the last non-zero ttl given, as one PEXPIRE per run left it.
-- Nothing in the call reads them.
local replies, replyTtl
local function replyLater(reply, payload, ttl)
  batchAdd(replies, reply, payload)
  if ttl ~= "0" then replyTtl[reply] = ttl end
end
local function flushReplies()
  batchFlush(replies)
  for reply, ttl in pairs(replyTtl) do rcall("PEXPIRE", reply, ttl) end
  replyTtl = {}
end

-- A job ready again (a retry, a delayed job come due): back in prioritized when it has a priority,
-- as BullMQ does, else at the back of wait.
local function requeue(q, id)
  local p = tonumber(rcall("HGET", q .. id, "priority")) or 0
  if p > 0 then
    rcall("ZADD", q .. "prioritized", priorityScore(q, p), id)
  else
    waitLater(q, id)
  end
end

-- A job due at `due` (ms): in BullMQ's delayed set until then when that is later than now (op "P"
-- moves it on), else ready at once; `...` goes into its "waiting" event.
local function enqueueAt(q, id, due, ...)
  if due > now then
    rcall("ZADD", q .. "delayed", due * 4096, id)
    rcall("ZADD", q .. "marker", due, "1")
    xadd(q, "event", "delayed", "jobId", id, "delay", due)
  else
    requeue(q, id)
    marker(q)
    xadd(q, "event", "waiting", "jobId", id, ...)
  end
end

local function dropJob(q, id)
  local k = q .. id
  rcall("DEL", k, k .. ":logs", k .. ":dependencies", k .. ":processed", k .. ":failed", k .. ":unsuccessful",
    k .. ":errors")
end

-- Retention as BullMQ's removeOnComplete / removeOnFail: "1" keep, "0" delete now (handled by
-- the caller), "c<count>a<seconds>" keep, then trim the set to the newest count (-1: no limit)
-- and to jobs younger than the age (0: no limit).
local function trim(q, set, keep)
  local count, age = string.match(keep, "^c(-?%d+)a(%d+)$")
  if not count then return end
  count, age = tonumber(count), tonumber(age)
  if age > 0 then
    local old = rcall("ZRANGEBYSCORE", q .. set, 0, now - age * 1000, "LIMIT", 0, 1000)
    for _, id in ipairs(old) do
      dropJob(q, id)
      rcall("ZREM", q .. set, id)
    end
  end
  if count >= 0 then
    local extra = rcall("ZRANGE", q .. set, 0, -(count + 1))
    for _, id in ipairs(extra) do dropJob(q, id) end
    if #extra > 0 then rcall("ZREMRANGEBYRANK", q .. set, 0, #extra - 1) end
  end
end

-- Jobs completed by this call and kept without a trim, per queue (they all finish at `now`).
-- Flushed before a trim reads a completed set and at the end of the call.
local completions
local function completedLater(q, id) batchAdd(completions, q, nowText, id) end
local function flushCompleted() batchFlush(completions) end

-- Moves a job that waits for its children to wait, once, when `force` or no dependency is left.
local function release_parent(jq, jid, force)
  local jk = jq .. jid
  if (force or rcall("SCARD", jk .. ":dependencies") == 0) and rcall("ZREM", jq .. "waiting-children", jid) == 1 then
    rcall("RPUSH", jq .. "wait", jid)
    marker(jq)
    xadd(jq, "event", "waiting", "jobId", jid, "prev", "waiting-children")
  end
end

-- Sessions index (KeySpace::session*): am2z's own root is the run results prefix minus "run:".
local ownRoot
local function sessionKey(sid) return ownRoot .. "session:" .. sid end

-- A session with no running run is idle: its keys expire after its ttl; a new run revives them.
local function armSessionExpiry(sk)
  local ttl = rcall("HGET", sk, "ttl")
  if ttl and ttl ~= "0" then
    for _, k in ipairs({ sk, sk .. ":runs", sk .. ":running", sk .. ":queues" }) do rcall("PEXPIRE", k, ttl) end
  end
end

-- Runs that ended in this call, counted per session at the end of it (or before a run joins a
-- session): one HINCRBY per kind of end and one check for idleness per session and call, not
-- per run. sessionEnds[sk] = { sid = id, [end] = count }, in sessionOrder.
local sessionEnds, sessionOrder
local function sessionEndLater(sk, sid, kind)
  local e = sessionEnds[sk]
  if not e then
    e = { sid = sid }
    sessionEnds[sk] = e
    sessionOrder[#sessionOrder + 1] = sk
  end
  e[kind] = (e[kind] or 0) + 1
end
local function flushSessionEnds()
  for _, sk in ipairs(sessionOrder) do
    local e = sessionEnds[sk]
    for _, kind in ipairs({ "completed", "failed", "cancelled" }) do
      if e[kind] then rcall("HINCRBY", sk, kind, e[kind]) end
    end
    rcall("HSET", sk, "last", now)
    rcall("ZADD", ownRoot .. "sessions", now, e.sid)
    if rcall("ZCARD", sk .. ":running") == 0 then armSessionExpiry(sk) end
  end
  sessionEnds, sessionOrder = {}, {}
end

-- Runs' events (KeySpace::events): one stream, about kEventsRetention events. The events of
-- one call share an entry: fields all named "ev", each one or more events' JSON texts joined by
-- newlines (JSON text never holds a raw newline), in order. One XADD per call, rather than per
-- event, is most of what events cost; the texts go in as they came (no table.concat: copying
-- them into one more string cost more than the fields, measured). Flushed every 500 events, so
-- an entry stays readable in one piece and within unpack's limit.
local pendingEvents, pendingCount
local function flushEvents()
  if pendingCount > 0 then
    -- about kEventsRetention events, not entries: the cap in entries shrinks as entries grow
    local cap = math.max(100, math.floor(100000 / pendingCount))
    rcall("XADD", ownRoot .. "events", "MAXLEN", "~", cap, "*", unpack(pendingEvents))
    pendingEvents = {}
    pendingCount = 0
  end
end
-- `count` events, already joined by newlines
local function publish(count, text)
  pendingEvents[#pendingEvents + 1] = "ev"
  pendingEvents[#pendingEvents + 1] = text
  pendingCount = pendingCount + count
  if pendingCount >= 500 then flushEvents() end
end

-- What the helpers gather in a call, empty at its start: the library's functions outlive calls,
-- and a call that failed halfway leaves nothing to the next.
local function resetHelpers()
  marked = {}
  waits = batchOf("LPUSH", "wait")
  replies, replyTtl = batchOf("LPUSH", ""), {}
  completions = batchOf("ZADD", "completed")
  ownRoot = string.sub(runPrefix, 1, #runPrefix - 4)
  sessionEnds, sessionOrder = {}, {}
  pendingEvents, pendingCount = {}, 0
end
