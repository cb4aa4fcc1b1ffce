--[[ am2z step script: finishes jobs, schedules what follows them, and fetches new jobs, all in
one atomic call. Written for am2z from the BullMQ v5/v6 key layout (see README, "Distributed
runs"); keys are built from ARGV, so every key of a queue must live on one Redis node.

ARGV[1] now (ms)   ARGV[2] lock duration (ms)   ARGV[3] events stream MAXLEN
ARGV[4] lock token prefix (unique per call)     ARGV[5] worker name (hash field pb, may be "")
ARGV[6] "all": also the events BullMQ writes for every job (added, waiting, active); "final": only
        those someone usually reads (completed, failed, retries, delays, stalls): cheaper.
ARGV[7] prefix of run outcome keys (KeySpace::run_results()): a fetched am2z job whose run already has an
        outcome is failed here, unrun (a retried step cannot revive an ended run)
ARGV[8] largest job (bytes of data + opts) a worker takes whole; a bigger one is returned with its
        small fields only and field ARGV[10] = its size, so the worker never loads it
ARGV[9] how many step jobs all fetches of this call may take together (the worker's free slots)
ARGV[10] name of that field (kOversizeField)
Then operations, each an opcode followed by its fixed number of arguments. "G" opens a group of
operations: when the group's first operation (a finish) finds that this worker
no longer owns the job, the rest of the group is skipped, so a continuation is never scheduled
by a worker that lost its job to stalled-job recovery.

"O" writes a run's outcome only when the run has none yet: a run has exactly one outcome.
"N" indexes a new run under its session; "O" counts its end there (KeySpace::session*).

Returns { {groupIndex, code}... for every group whose finish failed }, { fetched jobs... },
{ next delayed due time (ms) per promoted queue... }. Codes: -1 job missing, -2 lock missing,
-3 job not active, -6 lock held by another worker.
]]
local now = tonumber(ARGV[1])
local lockMs = tonumber(ARGV[2])
local maxLen = ARGV[3]
local tokenPrefix = ARGV[4]
local workerName = ARGV[5]
local allEvents = ARGV[6] == "all"
local runPrefix = ARGV[7]
local maxJobBytes = tonumber(ARGV[8])
local budget = tonumber(ARGV[9])
local oversizeField = ARGV[10]
-- Without these an ended run's steps would run again: refuse a caller that forgot them.
if runPrefix == "" or oversizeField == nil or oversizeField == "" then
  return redis.error_reply("ERR am2z step script: the run results prefix and oversize field are required")
end
local rcall = redis.call

local function xadd(q, ...)
  rcall("XADD", q .. "events", "MAXLEN", "~", maxLen, "*", ...)
end

local marked = {}
local function marker(q)
  if not marked[q] then -- one wake-up per queue and call is enough
    marked[q] = true
    rcall("ZADD", q .. "marker", 0, "0")
  end
end

-- Ownership check and lock release, as BullMQ's finish does it; "" = job fetched without lock.
local function release(q, id, token)
  if token ~= "" then
    local held = rcall("GETDEL", q .. id .. ":lock")
    if not held then return -2 end
    if held ~= token then
      rcall("SET", q .. id .. ":lock", held, "PX", lockMs)
      return -6
    end
  end
  if rcall("LREM", q .. "active", -1, id) == 0 then return -3 end
  return 0
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
local ownRoot = string.sub(runPrefix, 1, #runPrefix - 4)
local function sessionKey(sid) return ownRoot .. "session:" .. sid end

-- A session with no running run is idle: its keys expire after its ttl; a new run revives them.
local function armSessionExpiry(sk)
  local ttl = rcall("HGET", sk, "ttl")
  if ttl and ttl ~= "0" then
    for _, k in ipairs({ sk, sk .. ":runs", sk .. ":running", sk .. ":queues" }) do rcall("PEXPIRE", k, ttl) end
  end
end

-- Unix ms as the engine's event timestamps, "2026-11-29T01:02:03.456Z" (days to civil date after
-- H. Hinnant's algorithm).
local function isoTime(ms)
  local secs = math.floor(ms / 1000)
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, math.floor(rem / 3600),
    math.floor(rem % 3600 / 60), rem % 60, ms % 1000)
end

-- Runs' events (KeySpace::events): one stream, about kEventsRetention events. The events of
-- one call share an entry ("run", "sess", "e" repeated per event, in order): one XADD per call
-- rather than per event, which is most of what events cost (flushed every 500 events, to stay
-- far below Lua's limit on unpack).
local pendingEvents = {}
local function flushEvents()
  if #pendingEvents > 0 then
    -- about kEventsRetention events, not entries: the cap in entries shrinks as entries grow
    local cap = math.max(100, math.floor(100000 * 6 / #pendingEvents))
    rcall("XADD", ownRoot .. "events", "MAXLEN", "~", cap, "*", unpack(pendingEvents))
    pendingEvents = {}
  end
end
local function publish(run, sid, payload)
  local p = pendingEvents
  p[#p + 1] = "run"
  p[#p + 1] = run
  p[#p + 1] = "sess"
  p[#p + 1] = sid
  p[#p + 1] = "e"
  p[#p + 1] = payload
  if #p >= 3000 then flushEvents() end
end

local nowIso
-- processor:started of a job taken by this call: its job's "am2zev" field is the event's JSON
-- up to the time, written when the job was added (OpList::JobExtras::started_event).
local function startedEvent(run, sid, head, atm)
  nowIso = nowIso or isoTime(now)
  publish(run, sid, head .. nowIso .. '","attempt":' .. ((tonumber(atm or "0") or 0) + 1) .. '}')
end

local arity = { C = 7, F = 8, R = 8, A = 12, S = 2, J = 6, O = 6, N = 4, E = 3, P = 1, M = 3 }
local failedGroups = {}
local fetched = {}
local dues = {}

local i = 11
local group = 0
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == "G" then
    group = group + 1
    i = i + 1
  else
    local a = i + 1
    i = a + arity[op]
    do
      if op == "C" or op == "F" or op == "R" then
        -- C q id token processedOn atm returnvalue keep
        -- F q id token processedOn atm failedReason stacktrace keep
        -- R q id token processedOn atm failedReason stacktrace delay
        -- (processedOn is written at fetch, as BullMQ does; here only for jobs fetched without it)
        local q, id, token = ARGV[a], ARGV[a + 1], ARGV[a + 2]
        local code = release(q, id, token)
        if code ~= 0 then
          failedGroups[#failedGroups + 1] = { group, code }
          -- skip the rest of this group: scan forward to the next "G" or the fetch
          local j = i
          while j <= n and ARGV[j] ~= "G" and ARGV[j] ~= "M" and ARGV[j] ~= "P" do
            j = j + 1 + arity[ARGV[j]]
          end
          i = j
        else
          local k = q .. id
          if op == "C" then
            if ARGV[a + 6] ~= "0" then
              rcall("HSET", k, "returnvalue", ARGV[a + 5], "finishedOn", now, "atm", ARGV[a + 4])
              rcall("HSETNX", k, "processedOn", ARGV[a + 3])
              rcall("ZADD", q .. "completed", now, id)
              trim(q, "completed", ARGV[a + 6])
            else
              dropJob(q, id)
            end
            xadd(q, "event", "completed", "jobId", id, "returnvalue", ARGV[a + 5], "prev", "active")
          elseif op == "F" then
            if ARGV[a + 7] ~= "0" then
              rcall("HSET", k, "failedReason", ARGV[a + 5], "stacktrace", ARGV[a + 6], "finishedOn", now,
                "atm", ARGV[a + 4])
              rcall("HSETNX", k, "processedOn", ARGV[a + 3])
              rcall("HDEL", k, "defa")
              rcall("ZADD", q .. "failed", now, id)
              trim(q, "failed", ARGV[a + 7])
            else
              dropJob(q, id)
            end
            xadd(q, "event", "failed", "jobId", id, "failedReason", ARGV[a + 5], "prev", "active")
            xadd(q, "event", "retries-exhausted", "jobId", id, "attemptsMade", ARGV[a + 4])
          else
            local delay = tonumber(ARGV[a + 7])
            rcall("HSET", k, "failedReason", ARGV[a + 5], "stacktrace", ARGV[a + 6], "atm", ARGV[a + 4],
              "delay", delay)
            if delay > 0 then
              local due = now + delay
              rcall("ZADD", q .. "delayed", due * 4096, id)
              rcall("ZADD", q .. "marker", due, "1")
              xadd(q, "event", "delayed", "jobId", id, "delay", due)
            else
              rcall("LPUSH", q .. "wait", id)
              marker(q)
              xadd(q, "event", "waiting", "jobId", id, "prev", "failed")
            end
          end
        end
      elseif op == "A" then
        -- A q id name data opts state parentKey parentJson parentDeps fairSession evSession evStarted
        -- state "w": ready (in wait, or in prioritized when fairSession names a session);
        -- "c": a join that waits for its children. evStarted: see startedEvent.
        local q, id = ARGV[a], ARGV[a + 1]
        local k = q .. id
        local parentKey = ARGV[a + 6]
        if parentKey ~= "" then
          rcall("HSET", k, "name", ARGV[a + 2], "data", ARGV[a + 3], "opts", ARGV[a + 4], "timestamp", now,
            "delay", 0, "priority", 0, "parentKey", parentKey, "parent", ARGV[a + 7])
          rcall("SADD", ARGV[a + 8], k)
        else
          rcall("HSET", k, "name", ARGV[a + 2], "data", ARGV[a + 3], "opts", ARGV[a + 4], "timestamp", now,
            "delay", 0, "priority", 0)
        end
        if ARGV[a + 11] ~= "" then rcall("HSET", k, "am2zes", ARGV[a + 10], "am2zev", ARGV[a + 11]) end
        if allEvents then xadd(q, "event", "added", "jobId", id, "name", ARGV[a + 2]) end
        local fairSession = ARGV[a + 9]
        if ARGV[a + 5] == "c" then
          rcall("ZADD", q .. "waiting-children", now, id)
          if allEvents then xadd(q, "event", "waiting-children", "jobId", id) end
        elseif fairSession ~= "" then
          -- Start-time fair queuing over named sessions: a session's next job is tagged one after
          -- its last queued one, but never before the queue's virtual time (field "": the tag
          -- last taken), so a session arriving behind another's backlog is served next and each
          -- session stays FIFO. Tags stay below 2^32, under every BullMQ priority score.
          local fair = q .. "am2z:fair"
          local f = rcall("HMGET", fair, "", fairSession)
          local tag = math.max((tonumber(f[2]) or 0) + 1, tonumber(f[1]) or 0)
          rcall("HSET", fair, fairSession, tag)
          rcall("ZADD", q .. "prioritized", tag, id)
          marker(q)
          if allEvents then xadd(q, "event", "waiting", "jobId", id) end
        else
          rcall("LPUSH", q .. "wait", id)
          marker(q)
          if allEvents then xadd(q, "event", "waiting", "jobId", id) end
        end
      elseif op == "S" then
        -- S dependenciesKey childKey: a branch moved on to its next step
        rcall("SREM", ARGV[a], ARGV[a + 1])
      elseif op == "J" then
        -- J parentQueue parentId childKey value mode errorJson: a child of a join ended.
        -- mode "1" completed (value = returnvalue), "0" failed (value = failedReason; also
        -- ignoreDependencyOnFailure), "2" failed, dependency just removed (removeDependency...),
        -- "3" failed with failParentOnFailure, "4" failed with continueParentOnFailure.
        local jq, jid, child, mode = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 4]
        local jk = jq .. jid
        if mode == "1" then
          rcall("HSET", jk .. ":processed", child, ARGV[a + 3])
        elseif mode == "0" or mode == "4" then
          rcall("HSET", jk .. ":failed", child, ARGV[a + 3])
          if ARGV[a + 5] ~= "" then rcall("HSET", jk .. ":errors", child, ARGV[a + 5]) end
        elseif mode == "3" then
          rcall("ZADD", jk .. ":unsuccessful", now, child)
          rcall("HSET", jk, "defa", "child " .. child .. " failed")
        end
        rcall("SREM", jk .. ":dependencies", child)
        release_parent(jq, jid, mode == "3" or mode == "4")
      elseif op == "O" then
        -- O replyKey payload ttlMs runKey session end: a run ended; its outcome goes to whoever
        -- waits for it, unless the run already has one (runKey exists). A run with a reply list of
        -- its own also gets its outcome under runKey, which is what marks it ended. Its session
        -- ("" = none known) counts the end (completed / failed / cancelled).
        local reply, runKey, ttl, sid = ARGV[a], ARGV[a + 3], ARGV[a + 2], ARGV[a + 4]
        if rcall("EXISTS", runKey) == 0 then
          rcall("LPUSH", reply, ARGV[a + 1])
          if ttl ~= "0" then rcall("PEXPIRE", reply, ttl) end
          if reply ~= runKey then
            rcall("LPUSH", runKey, ARGV[a + 1])
            rcall("PEXPIRE", runKey, ttl ~= "0" and ttl or 86400000)
          end
          local sk = sid ~= "" and sessionKey(sid)
          -- only a run the session still counts as running: an expired session is not revived
          if sk and rcall("ZREM", sk .. ":running", string.sub(runKey, #runPrefix + 1)) == 1 then
            rcall("HINCRBY", sk, ARGV[a + 5], 1)
            rcall("HSET", sk, "last", now)
            rcall("ZADD", ownRoot .. "sessions", now, sid)
            if rcall("ZCARD", sk .. ":running") == 0 then armSessionExpiry(sk) end
          end
        end
      elseif op == "E" then
        -- E run session payload: an event of a run submitted with events on
        publish(ARGV[a], ARGV[a + 1], ARGV[a + 2])
      elseif op == "N" then
        -- N session run ttlMs queues: a run joins its session's index at submission; `queues` are
        -- newline-terminated key prefixes. Its keys live while any run of it is running.
        local sid, run = ARGV[a], ARGV[a + 1]
        local sk = sessionKey(sid)
        -- an idle session's keys carry its expiry: a new run takes it off
        local idle = rcall("ZCARD", sk .. ":running") == 0
        rcall("HSETNX", sk, "first", now)
        rcall("HSET", sk, "last", now, "ttl", ARGV[a + 2])
        rcall("HINCRBY", sk, "runs", 1)
        rcall("ZADD", sk .. ":runs", now, run)
        rcall("ZADD", sk .. ":running", now, run)
        local queues = {}
        for q in string.gmatch(ARGV[a + 3], "[^\n]+") do queues[#queues + 1] = q end
        if #queues > 0 then rcall("SADD", sk .. ":queues", unpack(queues)) end
        rcall("ZADD", ownRoot .. "sessions", now, sid)
        if idle then
          for _, k in ipairs({ sk, sk .. ":runs", sk .. ":queues" }) do rcall("PERSIST", k) end
        end
      elseif op == "P" then
        -- P q: move due delayed jobs to wait; report the next due time
        local q = ARGV[a]
        local due = rcall("ZRANGEBYSCORE", q .. "delayed", 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
        for _, id in ipairs(due) do
          rcall("ZREM", q .. "delayed", id)
          rcall("LPUSH", q .. "wait", id)
          rcall("HSET", q .. id, "delay", 0)
          xadd(q, "event", "waiting", "jobId", id, "prev", "delayed")
        end
        if #due > 0 then marker(q) end
        local nextDue = rcall("ZRANGE", q .. "delayed", 0, 0, "WITHSCORES")
        dues[#dues + 1] = { q, nextDue[2] and math.floor(tonumber(nextDue[2]) / 4096) or -1 }
      elseif op == "M" then
        -- M q count withChildren: take up to count jobs from q; "1" also returns a join's results.
        -- Step jobs (withChildren "0") also draw on the call's budget, so a worker never holds
        -- more locked step jobs than it has slots, however many queues it serves.
        local q, count, withChildren = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2] == "1"
        if not withChildren then count = math.min(count, budget) end
        local meta = rcall("HMGET", q .. "meta", "paused", "concurrency")
        if meta[1] then
          count = 0 -- paused (Queue.pause): the jobs stay in wait
        elseif meta[2] then
          count = math.min(count, tonumber(meta[2]) - rcall("LLEN", q .. "active"))
        end
        local taken = 0
        -- Ready jobs wait in two places: wait (FIFO: runs without a named session, retries,
        -- BullMQ's plain jobs) and prioritized (named sessions in fair order, BullMQ's priority
        -- jobs after them). Slots alternate between the two, starting on a coin flip from the
        -- clock so one-slot fetches favour neither; a source found empty is not asked again.
        local waitEmpty, fairEmpty = false, false
        local fairFirst = now % 2 == 1
        local function fromWait()
          if waitEmpty then return nil end
          local id = rcall("RPOPLPUSH", q .. "wait", q .. "active")
          waitEmpty = not id
          return id
        end
        local function fromFair()
          if fairEmpty then return nil end
          local p = rcall("ZPOPMIN", q .. "prioritized", 1)
          if #p == 0 then
            -- nothing queued fairly: every tag is behind the virtual time, so all can go
            fairEmpty = true
            rcall("DEL", q .. "am2z:fair")
            return nil
          end
          rcall("LPUSH", q .. "active", p[1])
          local score = tonumber(p[2])
          if score < 4294967296 then rcall("HSET", q .. "am2z:fair", "", score) end
          return p[1]
        end
        while taken < count do
          local id
          if (taken % 2 == 0) == fairFirst then
            id = fromFair() or fromWait()
          else
            id = fromWait() or fromFair()
          end
          if not id then break end
          local k = q .. id
          local run = string.match(id, "^r([^%.]+)%.")
          if string.sub(id, 1, 2) == "0:" or rcall("EXISTS", k) == 0 then
            rcall("LREM", q .. "active", 1, id) -- a BullMQ v4 marker, or an id without a job: dropped
          elseif run and rcall("EXISTS", runPrefix .. run) == 1 then
            -- a step of a run that already ended (a retry from Bull Board, say): fail it unrun
            local reason = "run " .. run .. " already ended; its steps do not run again (submit a new run)"
            rcall("LREM", q .. "active", 1, id)
            rcall("HSET", k, "failedReason", reason, "finishedOn", now, "processedOn", now)
            rcall("ZADD", q .. "failed", now, id)
            xadd(q, "event", "failed", "jobId", id, "failedReason", reason, "prev", "active")
          else
            taken = taken + 1
            local token = tokenPrefix .. ":" .. #fetched
            rcall("SET", k .. ":lock", token, "PX", lockMs)
            if workerName ~= "" then rcall("HSET", k, "processedOn", now, "pb", workerName)
            else rcall("HSET", k, "processedOn", now) end
            rcall("HINCRBY", k, "ats", 1)
            if allEvents then xadd(q, "event", "active", "jobId", id, "prev", "waiting") end
            local size = rcall("HSTRLEN", k, "data") + rcall("HSTRLEN", k, "opts")
            local fields
            if size > maxJobBytes then
              -- too big to load: only what the worker needs to fail it and tell its run
              local small = { "name", "atm", "ats", "stc", "defa", "parentKey", "parent", "opts" }
              if rcall("HSTRLEN", k, "opts") > maxJobBytes then small[#small] = nil end
              local values = rcall("HMGET", k, unpack(small))
              fields = { oversizeField, tostring(size) }
              for f = 1, #small do
                if values[f] then
                  fields[#fields + 1] = small[f]
                  fields[#fields + 1] = values[f]
                end
              end
            else
              fields = rcall("HGETALL", k)
            end
            -- A run that asked for events hears processor:started as its step is taken.
            -- Read from the fields just fetched: no command for runs without events.
            if run and not withChildren and size <= maxJobBytes then
              local head, sid, atm
              for x = 1, #fields, 2 do
                local field = fields[x]
                if field == "am2zev" then head = fields[x + 1]
                elseif field == "am2zes" then sid = fields[x + 1]
                elseif field == "atm" then atm = fields[x + 1] end
              end
              if head then startedEvent(run, sid or "", head, atm) end
            end
            local job = { q, id, token, fields }
            if withChildren then
              job[5] = rcall("HGETALL", q .. id .. ":processed")
              job[6] = rcall("HGETALL", q .. id .. ":failed")
              job[7] = rcall("HGETALL", q .. id .. ":errors")
            end
            fetched[#fetched + 1] = job
          end
        end
        if not withChildren then budget = budget - taken end
        if taken == count and count > 0 then marker(q) end -- more may be waiting: wake another worker
      end
    end
  end
end
flushEvents()
return { failedGroups, fetched, dues }
