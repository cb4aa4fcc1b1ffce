-- Part of the step script (step.lua includes it): op "M", taking jobs from a queue for this call.
-- M q count withChildren concurrency rateMax ratePeriodMs startable: take up to count jobs from
-- q; "1" also returns a join's results. Step jobs (withChildren "0") also draw on the call's
-- budget, so a worker never holds more locked step jobs than it has slots, however many
-- queues it serves. The limits hold across every worker of the queue, here, as the jobs
-- are taken: `concurrency` (the flow's, and BullMQ's meta.concurrency: the lower wins)
-- caps the queue's active jobs; `rateMax` per `ratePeriodMs` caps the starts in any
-- sliding window (a log of start times in <q>am2z:rate, by Redis's clock, so workers'
-- clocks do not matter); BullMQ's global rate limit (meta.max per meta.duration) counts
-- in its fixed-window `limiter` key as BullMQ's own workers do.
-- The budget may include jobs a worker holds for a slot (--prefetch) beyond those it can start
-- now: `startable` ("" = no such limit), the same for every step fetch of a call, which share it
-- (startTaken). A fetch whose count is no more than startable takes only jobs to start (a queue
-- whose jobs are not held), so what the call's fetches before it took counts against it. One
-- whose count is more may hold the rest, but not while its prioritized set holds jobs: named
-- sessions' fair turns and BullMQ's priorities are there, a job there may be the newcomer that
-- fair queuing lets past a backlog, and held jobs would keep it waiting. Jobs of wait (first
-- in, first out) lose nothing: what a worker holds came before them anyway.
local startTaken = 0
-- The job fields a fetch reads and returns, in this order (kFetchedFields, core/redis/job_codec.hpp):
-- what the worker uses, and ats for the count of starts. One HMGET of these costs Redis about 3%
-- fewer instructions per job than an HGETALL of the whole hash (callgrind at -c 64): no field
-- names go into Lua and back out, nor the fields nobody reads (name, delay, priority).
local jobFields = { "data", "opts", "timestamp", "atm", "ats", "defa", "am2zReused", "rjk", "parent", "parentKey" }
-- Arguments as op "M" has them: q count withChildren concurrency rateMax ratePeriodMs startable,
-- from ARGV[a].
local function fetch(a)
  local q, count, withChildren = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2] == "1"
  local startable, cut = not withChildren and tonumber(ARGV[a + 6]), false
  local room = startable and math.max(0, startable - startTaken)
  local holds = startable and count > startable
  if not withChildren then count = math.min(count, budget) end
  if startable and not holds and room < count then
    count, cut = room, true -- the call's fetches before this one took the slots to start
  end
  local flowLimit, rateMax = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local meta = rcall("HMGET", q .. "meta", "paused", "concurrency", "max", "duration")
  local bullMax = tonumber(meta[3])
  local ratePeriod, rateKey, rateNow
  if meta[1] then
    count = 0 -- paused (Queue.pause): the jobs stay in wait
  else
    local cap = tonumber(meta[2])
    if flowLimit and (not cap or flowLimit < cap) then cap = flowLimit end
    if cap and count > 0 then
      count = math.min(count, cap - rcall("LLEN", q .. "active"))
      if count <= 0 then limits[#limits + 1] = { q, -1 } end -- a finish wakes it (op "W")
    end
    if bullMax and count > 0 then
      local used = tonumber(rcall("GET", q .. "limiter") or "0") or 0
      if used >= bullMax then
        count = 0
        limits[#limits + 1] = { q, now + math.max(1, rcall("PTTL", q .. "limiter")) }
      else
        count = math.min(count, bullMax - used)
      end
    end
    if rateMax and count > 0 then
      ratePeriod = tonumber(ARGV[a + 5])
      rateKey = q .. "am2z:rate"
      local t = rcall("TIME")
      rateNow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      rcall("ZREMRANGEBYSCORE", rateKey, "-inf", rateNow - ratePeriod)
      local used = rcall("ZCARD", rateKey)
      if used >= rateMax then
        count = 0
        local oldest = rcall("ZRANGE", rateKey, 0, 0, "WITHSCORES")
        -- in the worker's clock: when the oldest start leaves the window
        limits[#limits + 1] = { q, now + math.max(1, tonumber(oldest[2]) + ratePeriod - rateNow + 1) }
      else
        count = math.min(count, rateMax - used)
      end
    end
  end
  local taken = 0
  -- Ready jobs wait in two places: wait (FIFO: runs without a named session, retries,
  -- BullMQ's plain jobs) and prioritized (named sessions in fair order, BullMQ's priority
  -- jobs after them). Slots alternate between the two, starting on a coin flip from the
  -- clock so one-slot fetches favour neither; a source found empty is not asked again.
  -- One ZCARD tells whether anything is queued in prioritized at all (it usually is not): then
  -- the whole fetch comes from wait in one go, with no pop of prioritized to find it empty.
  local waitEmpty, fairEmpty = false, count <= 0 or rcall("ZCARD", q .. "prioritized") == 0
  if not fairEmpty and holds and room < count then
    count, cut = room, true
    fairEmpty = count <= 0
  end
  local fairFirst = now % 2 == 1
  local function fromWait()
    if waitEmpty then return nil end
    local id = rcall("RPOPLPUSH", q .. "wait", q .. "active")
    waitEmpty = not id
    return id
  end
  -- Up to n ids from wait at once, as n RPOPLPUSH would take them (wait's tail first, each to
  -- active's head). A small round in one LMPOP (two commands with the LPUSH); a big one by
  -- LRANGE and one LTRIM, as LMPOP pops one element at a time, shrinking the list's node each
  -- time: with rounds of about 32 (concurrency 64) it cost 4% of the jobs/s (alternating pairs).
  local function manyFromWait(n)
    if waitEmpty then return {} end
    local ids
    if n < 8 then
      local popped = rcall("LMPOP", "1", q .. "wait", "RIGHT", "COUNT", dec(n))
      ids = popped and popped[2] or {}
    else
      local tail = rcall("LRANGE", q .. "wait", dec(-n), "-1")
      if #tail > 0 then rcall("LTRIM", q .. "wait", "0", dec(-#tail - 1)) end
      ids = {}
      for x = #tail, 1, -1 do ids[#ids + 1] = tail[x] end
    end
    if #ids < n then waitEmpty = true end
    if #ids > 0 then rcall("LPUSH", q .. "active", unpack(ids)) end
    return ids
  end
  -- Up to n ids from prioritized at once, as n ZPOPMIN of one would take them.
  local function manyFromFair(n)
    if fairEmpty then return {} end
    local p = rcall("ZPOPMIN", q .. "prioritized", n)
    local ids = {}
    for x = 1, #p, 2 do ids[#ids + 1] = p[x] end
    if #ids < n then
      -- ran dry: nothing queued fairly any more (every tag is behind the virtual time, so all
      -- can go): the virtual time goes (when a pop takes the last one exactly, the next fair
      -- job's enqueue finds the set empty and starts afresh: op "A")
      fairEmpty = true
      if #ids > 0 then rcall("DEL", q .. "am2z:fair") end
    end
    if #ids == 0 then return ids end
    rcall("LPUSH", q .. "active", unpack(ids))
    if not fairEmpty then
      -- the virtual time: the last tag taken (scores from 2^32 on are BullMQ priorities)
      for x = #p, 2, -2 do
        local score = tonumber(p[x])
        if score < 4294967296 then
          rcall("HSET", q .. "am2z:fair", "", score)
          break
        end
      end
    end
    return ids
  end
  local function fromFair()
    return manyFromFair(1)[1]
  end
  -- Is the run of a job just taken over? One EXISTS over the outcome keys of all the jobs of a
  -- round answers "none" (the usual case) in one command; each is asked on its own only then.
  local someEnded = false
  local function runEnded(run)
    return someEnded and rcall("EXISTS", runPrefix .. run) == 1
  end
  local function take(id, run)
    local k = q .. id
    -- The fields the worker reads (jobFields), read before the lock and processedOn are written
    -- (the worker does not read those back), so no EXISTS and no HSTRLEN per job. Every job has
    -- data, opts or timestamp: when none is there, EXISTS tells a missing job from a corrupt one.
    local values = string.sub(id, 1, 2) ~= "0:" and rcall("HMGET", k, unpack(jobFields))
    if values and not (values[1] or values[2] or values[3]) and rcall("EXISTS", k) == 0 then values = nil end
    if not values then
      rcall("LREM", q .. "active", 1, id) -- a BullMQ v4 marker, or an id without a job: dropped
    elseif run and runEnded(run) then
      -- a step of a run that already ended (a retry from Bull Board, say): fail it unrun
      local reason = "run " .. run .. " already ended; its steps do not run again (submit a new run)"
      rcall("LREM", q .. "active", 1, id)
      rcall("HSET", k, "failedReason", reason, "finishedOn", now, "processedOn", now)
      rcall("ZADD", q .. "failed", now, id)
      xadd(q, "event", "failed", "jobId", id, "failedReason", reason, "prev", "active")
    else
      taken = taken + 1
      local token = tokenPrefix .. ":" .. dec(fetchedCount)
      rcall("SET", k .. ":lock", token, "PX", lockMs)
      local data, opts, added = values[1], values[2], values[3]
      local ats = tonumber(values[5]) or 0
      -- processedOn, pb and the count of starts (BullMQ's HINCRBY ats, from the value read).
      -- `now` is when the worker built this call, which may have waited behind another: a job
      -- added meanwhile is not taken before it was added (timestamp <= processedOn, as BullMQ's
      -- readers expect).
      local startedOn = nowText
      if added and (tonumber(added) or 0) > now then startedOn = added end
      if workerName ~= "" then rcall("HSET", k, "processedOn", startedOn, "pb", workerName, "ats", dec(ats + 1))
      else rcall("HSET", k, "processedOn", startedOn, "ats", dec(ats + 1)) end
      if allEvents then xadd(q, "event", "active", "jobId", id, "prev", "waiting") end
      local optsBytes = opts and #opts or 0
      local size = (data and #data or 0) + optsBytes
      if size > maxJobBytes then
        -- too big to hand over: only what the worker needs to fail it and tell its run, and
        -- the size after the fields (core/redis/job_codec.cpp)
        values[1] = false
        if optsBytes > maxJobBytes then values[2] = false end
        values[#jobFields + 1] = tostring(size)
      end
      -- All the jobs of a call in one list (q, id, token, its fields' values, what follows), not
      -- a table each: Redis turns every table of a reply into an array at a cost
      -- of about a fifth of the job's reply (callgrind).
      local at = fetchedLen
      fetched[at + 1], fetched[at + 2], fetched[at + 3], fetched[at + 4] = q, id, token, values
      at = at + 4
      if not withChildren then
        fetched[at + 1] = 0 -- nothing follows
        at = at + 1
      else
        -- A big join's children would make this one long command and one huge reply: the
        -- worker reads them in chunks instead (core/redis/join_children.hpp, same limit).
        local ended = rcall("HLEN", q .. id .. ":processed") + rcall("HLEN", q .. id .. ":failed")
        if ended > 256 then
          fetched[at + 1], fetched[at + 2] = 1, ended -- how many to read
          at = at + 2
        else
          fetched[at + 1] = 2 -- the children's hashes
          fetched[at + 2] = rcall("HGETALL", q .. id .. ":processed")
          fetched[at + 3] = rcall("HGETALL", q .. id .. ":failed")
          fetched[at + 4] = rcall("HGETALL", q .. id .. ":errors")
          at = at + 4
        end
      end
      fetchedLen = at
      fetchedCount = fetchedCount + 1
    end
  end
  while taken < count do
    local ids, runs, outcomeKeys = {}, {}, {}
    local want = count - taken
    local function add(id)
      ids[#ids + 1] = id
      local run = string.match(id, "^r([^%.]+)%.")
      runs[#ids] = run or false
      if run then outcomeKeys[#outcomeKeys + 1] = runPrefix .. run end
    end
    while #ids < want do
      if want - #ids >= 2 and (fairEmpty or waitEmpty) then
        -- only one source is left: the rest of the round in one go
        local many = fairEmpty and manyFromWait or manyFromFair
        for _, id in ipairs(many(math.min(want - #ids, 256))) do add(id) end
        break
      end
      local id
      if ((taken + #ids) % 2 == 0) == fairFirst then
        id = fromFair() or fromWait()
      else
        id = fromWait() or fromFair()
      end
      if not id then break end
      add(id)
    end
    if #ids == 0 then break end
    someEnded = false
    for x = 1, #outcomeKeys, 256 do  -- within unpack's limit
      if rcall("EXISTS", unpack(outcomeKeys, x, math.min(x + 255, #outcomeKeys))) > 0 then someEnded = true end
    end
    for x = 1, #ids do take(ids[x], runs[x] or nil) end
    if waitEmpty and fairEmpty then break end -- both sources ran dry
  end
  if not withChildren then
    budget = budget - taken
    startTaken = startTaken + taken
  end
  if taken > 0 and bullMax then
    if rcall("INCRBY", q .. "limiter", taken) == taken then
      rcall("PEXPIRE", q .. "limiter", tonumber(meta[4]) or 1000)
    end
  end
  if taken > 0 and rateKey then
    local log = {}
    for x = 1, taken do
      log[#log + 1] = rateNow
      log[#log + 1] = tokenPrefix .. ":" .. dec(fetchedCount - taken + x - 1)
    end
    rcall("ZADD", rateKey, unpack(log))
    rcall("PEXPIRE", rateKey, ratePeriod)
  end
  -- More may be waiting (or, cut to nothing, is): wake another worker; this one asks again.
  if taken == count and (count > 0 or cut) then
    marker(q)
    fullQueues[#fullQueues + 1] = q
  end
end
