--[[ am2z session scan: counts, and when asked removes, the jobs of one session's runs in the
queues its runs used (KeySpace::session_queues). A job belongs to a run by its id, "r<run>.<node>",
and a run to the session by the session's runs set. Keys are built from ARGV, as in step.lua.

ARGV[1] mode: "count"; "remove": also delete its queued jobs (wait, paused, prioritized, delayed,
        waiting-children); "purge": also its completed and failed ones. Active jobs are never
        touched: their workers end them (a stop cancels their runs first).
ARGV[2] key of the session's runs sorted set   ARGV[3] now (ms)   ARGV[4] window (ms)
ARGV[5] most durations returned per queue     ARGV[6] events stream MAXLEN
ARGV[7..] queue key prefixes ("bull:<queue>:")

Returns, per queue: { queue, waiting, active, delayed, prioritized, waitingChildren, completed,
failed, removed, completedInWindow, { durations (ms) of jobs completed in the window } }.
Every list and set of the queue is read whole: the cost grows with the queue, not the session.
]]
local mode = ARGV[1]
local runs = ARGV[2]
local now = tonumber(ARGV[3])
local since = now - tonumber(ARGV[4])
local maxSamples = tonumber(ARGV[5])
local maxLen = ARGV[6]
local rcall = redis.call
local removing = mode == "remove" or mode == "purge"
local sessionId = string.match(runs, "session:(.*):runs$")

-- The session's runs read once into a table: a lookup per job instead of a ZSCORE per job.
local member = {}
for s = 0, rcall("ZCARD", runs) - 1, 10000 do
  for _, run in ipairs(rcall("ZRANGE", runs, s, s + 9999)) do member[run] = true end
end
local function ours(id)
  local run = string.match(id, "^r([^%.]+)%.")
  return run ~= nil and member[run] == true
end

local function drop(q, id, prev)
  local k = q .. id
  rcall("DEL", k, k .. ":logs", k .. ":dependencies", k .. ":processed", k .. ":failed", k .. ":unsuccessful",
    k .. ":errors")
  rcall("XADD", q .. "events", "MAXLEN", "~", maxLen, "*", "event", "removed", "jobId", id, "prev", prev)
end

-- A list: the session's jobs counted; removed by rewriting the list without them, in order.
local function scanList(q, name, remove)
  local key = q .. name
  local ids = rcall("LRANGE", key, 0, -1)
  local keep, hits = {}, 0
  for _, id in ipairs(ids) do
    if ours(id) then
      hits = hits + 1
      if remove then drop(q, id, name == "paused" and "paused" or "waiting") end
    else
      keep[#keep + 1] = id
    end
  end
  if remove and hits > 0 then
    rcall("DEL", key)
    for s = 1, #keep, 1000 do rcall("RPUSH", key, unpack(keep, s, math.min(s + 999, #keep))) end
  end
  return hits
end

local function scanSet(q, name, remove, prev)
  local key = q .. name
  local ids = rcall("ZRANGE", key, 0, -1)
  local hits = 0
  for _, id in ipairs(ids) do
    if ours(id) then
      hits = hits + 1
      if remove then
        rcall("ZREM", key, id)
        drop(q, id, prev)
      end
    end
  end
  return hits
end

local out = {}
for i = 7, #ARGV do
  local q = ARGV[i]
  local waiting = scanList(q, "wait", removing) + scanList(q, "paused", removing)
  local active = scanList(q, "active", false)
  local delayed = scanSet(q, "delayed", removing, "delayed")
  local prioritized = scanSet(q, "prioritized", removing, "prioritized")
  -- a stopped session's fair-queuing tag (lua/step.lua op "A") goes too: its next run starts
  -- at the queue's virtual time instead of behind the jobs just removed
  if removing and sessionId then rcall("HDEL", q .. "am2z:fair", sessionId) end
  local children = scanSet(q, "waiting-children", removing, "waiting-children")
  -- durations before a purge deletes the jobs they are read from
  local durations, inWindow = {}, 0
  for _, id in ipairs(rcall("ZRANGEBYSCORE", q .. "completed", since, "+inf")) do
    if ours(id) then
      inWindow = inWindow + 1
      if #durations < maxSamples then
        local t = rcall("HMGET", q .. id, "processedOn", "finishedOn")
        if t[1] and t[2] then durations[#durations + 1] = tonumber(t[2]) - tonumber(t[1]) end
      end
    end
  end
  local completed = scanSet(q, "completed", mode == "purge", "completed")
  local failed = scanSet(q, "failed", mode == "purge", "failed")
  local removed = 0
  if removing then removed = waiting + delayed + prioritized + children end
  if mode == "purge" then removed = removed + completed + failed end
  out[#out + 1] = { q, waiting, active, delayed, prioritized, children, completed, failed, removed, inWindow,
    durations }
end
return out
