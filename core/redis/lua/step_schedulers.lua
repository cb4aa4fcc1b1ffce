-- Part of the step script (step.lua includes it): BullMQ's job schedulers (Queue.upsertJobScheduler)
-- on queues am2z serves. Written for am2z from BullMQ 6's updateJobScheduler: when a scheduler's
-- current job ends on an am2z worker, the scheduler's next job is added, delayed until its time.

-- The next time of an `every` scheduler after `prev`, and its offset, as BullMQ computes them
-- (getJobSchedulerEveryNextMillis): iterations missed while nobody served the queue are skipped.
local function everyNext(prev, every, offset, startDate)
  offset = tonumber(offset)
  local nextMillis
  if not prev then
    if startDate then
      nextMillis = math.max(tonumber(startDate), now)
    elseif offset and offset > 0 then
      nextMillis = math.floor(now / every) * every + offset
      if nextMillis <= now then nextMillis = nextMillis + every end
    else
      nextMillis = now
    end
  else
    nextMillis = prev + every
    if nextMillis < now then
      local aligned = math.floor(now / every) * every + (offset or 0)
      nextMillis = aligned <= now and aligned + every or aligned
    end
  end
  if not offset or offset == 0 then offset = nextMillis - math.floor(nextMillis / every) * every end
  return math.floor(nextMillis), math.floor(offset)
end

-- Scheduler `sid` of queue `q` produced job `producer`, which ended: adds the scheduler's next job
-- "repeat:<sid>:<next>" with the scheduler's name and template data and the options `optsJson`
-- (the ended job's, moved on by the worker), unless the scheduler is gone, moved on already (the
-- producer is not its current job) or the next job exists. `nextMillis` is the worker's for a
-- cron pattern; an `every` scheduler's is computed here.
local function nextFromScheduler(q, sid, producer, nextMillis, optsJson)
  local repeatKey = q .. "repeat"
  local prev = tonumber(rcall("ZSCORE", repeatKey, sid))
  if not prev or producer ~= "repeat:" .. sid .. ":" .. prev then return end
  local sk = repeatKey .. ":" .. sid
  local attrs = rcall("HMGET", sk, "name", "data", "every", "startDate", "offset")
  local ok, opts = pcall(cjson.decode, optsJson)
  if not ok or type(opts) ~= "table" then return end
  local repeatOpts = type(opts["repeat"]) == "table" and opts["repeat"] or {}
  local every = tonumber(attrs[3]) or tonumber(repeatOpts["every"])
  nextMillis = tonumber(nextMillis)
  if every and every > 0 then
    nextMillis = everyNext(prev, every, attrs[5] or repeatOpts["offset"] or 0, attrs[4])
  end
  if not nextMillis then return end
  local id = "repeat:" .. sid .. ":" .. nextMillis
  local k = q .. id
  if rcall("EXISTS", k) == 1 then
    xadd(q, "event", "duplicated", "jobId", id)
    return
  end
  rcall("ZADD", repeatKey, nextMillis, sid)
  rcall("HINCRBY", sk, "ic", 1)
  rcall("INCR", q .. "id")
  local delay = math.max(0, nextMillis - now)
  opts["delay"] = delay
  opts["jobId"] = id
  opts["prevMillis"] = nextMillis
  local priority = tonumber(opts["priority"]) or 0
  rcall("HSET", k, "name", attrs[1] or "", "data", attrs[2] or "{}", "opts", cjson.encode(opts), "timestamp", now,
    "delay", delay, "priority", priority, "rjk", sid)
  xadd(q, "event", "added", "jobId", id, "name", attrs[1] or "")
  enqueueAt(q, id, nextMillis)
end
