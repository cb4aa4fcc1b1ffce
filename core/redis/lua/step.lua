--[[ am2z step function: finishes jobs, schedules what follows them, and fetches new jobs, all in
one atomic call. Written for am2z from the BullMQ v5/v6 key layout (see README, "Distributed
runs"); keys are built from ARGV, so every key of a queue must live on one Redis node. A Redis
Functions library (core/redis/scripts.cpp loads it with FUNCTION LOAD, named after a hash of this
text, and calls it with FCALL): its helpers are defined once, not at every call as a script's
would be. Its source is split for reading: each "--#include FILE" line is replaced by that file
(core/redis/CMakeLists.txt).

ARGV[1] now (ms)   ARGV[2] lock duration (ms)   ARGV[3] events stream MAXLEN
ARGV[4] lock token prefix (unique per call)     ARGV[5] worker name (hash field pb, may be "")
ARGV[6] "all": also the events BullMQ writes for every job (added, waiting, active); "final": only
        those someone usually reads (completed, failed, retries, delays, stalls): cheaper.
ARGV[7] prefix of run outcome keys (KeySpace::run_results()): a fetched am2z job whose run already has an
        outcome is failed here, unrun (a retried step cannot revive an ended run)
ARGV[8] largest job (bytes of data + opts) a worker takes whole; a bigger one is returned without
        its data (and without its opts when they are bigger) and with its size, so the worker never
        loads it
ARGV[9] how many step jobs all fetches of this call may take together (the worker's free slots)
ARGV[10] not read (it named a field that carried that size, which now follows the job's values):
        kept so that the operations still start at ARGV[11]
Then operations, each an opcode followed by its fixed number of arguments. "G" opens a group of
operations: when the group's first operation (a finish) finds that this worker
no longer owns the job, the rest of the group is skipped, so a continuation is never scheduled
by a worker that lost its job to stalled-job recovery.

"O" writes a run's outcome only when the run has none yet: a run has exactly one outcome.
"V" (after the groups) carries the groups' run events, left out for the groups skipped.
"N" indexes a new run under its session; "O" counts its end there (KeySpace::session*).

Returns { {groupIndex, code}... for every group whose finish failed }, { fetched jobs, in one list:
per job q, id, token, the values of its fields that a worker reads (jobFields in
step_fetch.lua, in that order; false where the job has none; then its size when it is too big to
hand over), then 0; or 1 and how many children it has to
read; or 2 and its children's three hashes (processed, failed, errors) },
{ next delayed due time (ms) per promoted queue... }, { {queue, until}... for every queue a limit
kept from giving all that was asked: until = when a rate window opens (ms, the caller's clock),
-1 = a concurrency cap (a finish elsewhere wakes the queue) }, { queues a fetch took all it could
from, where more may wait }. Codes: -1 job missing, -2 lock
missing, -3 job not active, -6 lock held by another worker, -7 schedule occurrence already
claimed (op "K"), -8 a staged outcome is gone or incomplete (op "o"), -9 a value kept out of
line is (op "B").
]]
-- The call's arguments and what they say, set at its start (step() below); the helpers read them.
local ARGV, rcall
local now, nowText, lockMs, maxLen, tokenPrefix, workerName, allEvents, runPrefix, maxJobBytes, budget
local n

-- Decimal texts of small integers, kept across calls: a number handed to redis.call or joined
-- into a string is formatted by printf each time (the three of every job cost about 3% of the
-- step's Redis time, measured with callgrind). Made as first asked for: the library's load may
-- not call tostring.
local decimal = {}
local function dec(x)
  local text = decimal[x]
  if not text then
    text = tostring(x)
    if x >= -4096 and x <= 4096 then decimal[x] = text end
  end
  return text
end

--#include step_helpers.lua
--#include step_schedulers.lua

local arity = { C = 7, F = 8, R = 8, L = 3, A = 14, a = 14, S = 2, J = 6, O = 7, o = 7, B = 3, X = 2, T = 1, N = 4, E = 2, V = 3, W = 1, P = 1, Z = 1, M = 7, U = 2, K = 7, I = 6, Q = 5 }

--#include step_locks.lua
local failedGroups, fetched, dues, limits
local fetchedLen, fetchedCount -- slots of fetched used, jobs in it
local fullQueues -- queues a fetch took all it could from: more may wait there

--#include step_fetch.lua

-- Where the group being run ends, from position j: the next "G", the call's events ("V") or what
-- follows the groups (fetches, promotions, a wake-up). A refused group's other ops are skipped.
local function restOfGroup(j)
  while j <= n and ARGV[j] ~= "G" and ARGV[j] ~= "V" and ARGV[j] ~= "M" and ARGV[j] ~= "P" and ARGV[j] ~= "Z" do
    j = j + 1 + arity[ARGV[j]]
  end
  return j
end

-- A run's outcome was written (ops "O", "o"): what a resume of the run needs (recordKey, "" when
-- none) lives as long as it, and its session (sid, "" = none) counts its end.
local function outcomeWritten(runKey, ttl, sid, endKind, recordKey)
  if recordKey ~= "" then
    -- and its input when that was kept out of line (blobs.hpp)
    local input = runKey .. ":blob:input"
    if ttl ~= "0" then
      rcall("PEXPIRE", recordKey, ttl)
      rcall("PEXPIRE", input, ttl)
    else
      rcall("PERSIST", recordKey)
      rcall("PERSIST", input)
    end
  end
  local sk = sid ~= "" and sessionKey(sid)
  -- only a run the session still counts as running: an expired session is not revived
  if sk and rcall("ZREM", sk .. ":running", string.sub(runKey, #runPrefix + 1)) == 1 then
    sessionEndLater(sk, sid, endKind)
  end
end

local function step(_, args)
  ARGV = args
  rcall = redis.call
  now = tonumber(ARGV[1])
  -- Numbers handed to redis.call are formatted with printf each time: the hot paths hand Redis
  -- these texts instead (the caller sends both as decimal integers).
  nowText = ARGV[1]
  lockMs = ARGV[2]
  maxLen = ARGV[3]
  tokenPrefix = ARGV[4]
  workerName = ARGV[5]
  allEvents = ARGV[6] == "all"
  runPrefix = ARGV[7]
  maxJobBytes = tonumber(ARGV[8])
  budget = tonumber(ARGV[9])
  -- Without it an ended run's steps would run again: refuse a caller that forgot it.
  if runPrefix == nil or runPrefix == "" then
    return redis.error_reply("ERR am2z step script: the run results prefix (ARGV[7]) is required")
  end
  n = #ARGV
  resetHelpers()
  resetLocks()
  failedGroups, fetched, dues, limits, fullQueues = {}, {}, {}, {}, {}
  fetchedLen, fetchedCount = 0, 0
  startTaken = 0
  local i = 11
  local group = 0
  while i <= n do
    local op = ARGV[i]
    if op == "G" then
      group = group + 1
      i = i + 1
    else
      local a = i + 1
      i = a + arity[op]
      do
        if op == "K" then
          -- K scheduleKey schedulesKey id expectedNext newNext pendingRun pendingJobs: claims a
          -- schedule's occurrence (core/redis/schedules.hpp). Leads its group, the next occurrence's
          -- run: when the schedule is gone or another worker claimed it first, the run is skipped.
          local k = ARGV[a]
          if rcall("HGET", k, "next") ~= ARGV[a + 3] then
            failedGroups[#failedGroups + 1] = { group, -7 }
            i = restOfGroup(i)
          else
            rcall("HSET", k, "next", ARGV[a + 4], "pending", ARGV[a + 5], "pendingJobs", ARGV[a + 6])
            if ARGV[a + 3] ~= "0" then
              rcall("HINCRBY", k, "fired", 1)
              rcall("HSET", k, "last", ARGV[a + 3])
            end
            rcall("ZADD", ARGV[a + 1], ARGV[a + 4], ARGV[a + 2])
          end
        elseif op == "C" or op == "F" or op == "R" or op == "L" then
          -- C q id token processedOn atm returnvalue keep
          -- F q id token processedOn atm failedReason stacktrace keep
          -- R q id token processedOn atm failedReason stacktrace delay
          -- (processedOn is written at fetch, as BullMQ does; the argument is the worker's own record)
          -- L q id token: only the ownership check, for a chunk sent ahead of its job's finish
          local q, id, token = ARGV[a], ARGV[a + 1], ARGV[a + 2]
          local code
          if op == "L" then
            local held = lockOf(q, id, a - 1)
            code = (not held and -2) or (held ~= token and -6) or 0
          else
            code = release(q, id, token, a - 1)
          end
          if code ~= 0 then
            failedGroups[#failedGroups + 1] = { group, code }
            i = restOfGroup(i) -- skip the rest of this group
          elseif op ~= "L" then
            local k = q .. id
            if op == "C" then
              if ARGV[a + 6] ~= "0" then
                rcall("HSET", k, "returnvalue", ARGV[a + 5], "finishedOn", nowText, "atm", ARGV[a + 4])
                if ARGV[a + 6] == "1" then
                  completedLater(q, id)
                else
                  flushCompleted() -- the trim reads the set
                  rcall("ZADD", q .. "completed", now, id)
                  trim(q, "completed", ARGV[a + 6])
                end
              else
                dropJob(q, id)
              end
              -- A value over 1 MiB stays out of the event, which names its size instead (valid JSON,
              -- which BullMQ's QueueEvents parses): writing it once more costs Redis milliseconds and
              -- the stream keeps thousands of events. The job's returnvalue holds it.
              local rv = ARGV[a + 5]
              if #rv > 1048576 then rv = '{"am2zOmitted":{"bytes":' .. #rv .. ',"readFrom":"returnvalue"}}' end
              xadd(q, "event", "completed", "jobId", id, "returnvalue", rv, "prev", "active")
            elseif op == "F" then
              if ARGV[a + 7] ~= "0" then
                rcall("HSET", k, "failedReason", ARGV[a + 5], "stacktrace", ARGV[a + 6], "finishedOn", now,
                  "atm", ARGV[a + 4])
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
              enqueueAt(q, id, now + delay, "prev", "failed")
            end
          end
        elseif (op == "A" or op == "a") and not (op == "a" and rcall("EXISTS", ARGV[a] .. ARGV[a + 1]) == 1) then
          -- A q id name data opts state parentKey parentJson parentDeps fairSession priority due
          --   reuseFrom reuseTally
          -- state "w": ready (in wait, or in prioritized when fairSession names a session or it
          -- has a priority), or delayed until `due` (ms, the caller's clock; 0: now) when that is
          -- later than now;
          -- "c": a join that waits for its children, which were added before it (by this call or,
          -- for a big batch, by the chunks sent ahead): released at once when none is left.
          -- "a": the same, skipped when the job exists (a chunk sent again, or planned again after
          -- its worker died).
          local q, id = ARGV[a], ARGV[a + 1]
          local k = q .. id
          local parentKey = ARGV[a + 6]
          local priority = tonumber(ARGV[a + 10]) or 0
          local due = tonumber(ARGV[a + 11]) or 0
          local delay = (ARGV[a + 5] == "w" and due > now) and due - now or 0
          -- one HSET per job, whichever optional fields it has; the usual zeros as texts (numbers
          -- would be formatted with printf)
          local delayArg = delay == 0 and "0" or delay
          local priorityArg = priority == 0 and "0" or ARGV[a + 10]
          if parentKey ~= "" then
            rcall("HSET", k, "name", ARGV[a + 2], "data", ARGV[a + 3], "opts", ARGV[a + 4], "timestamp", nowText,
              "delay", delayArg, "priority", priorityArg, "parentKey", parentKey, "parent", ARGV[a + 7])
            rcall("SADD", ARGV[a + 8], k)
          else
            rcall("HSET", k, "name", ARGV[a + 2], "data", ARGV[a + 3], "opts", ARGV[a + 4], "timestamp", nowText,
              "delay", delayArg, "priority", priorityArg)
          end
          -- reuseFrom: a resumed run's step whose job in the resumed run (this queue, that id)
          -- completed takes its result as its data, marked, and the worker takes that as the
          -- step's outcome without running it; reuseTally "<key>\n<field>" counts it.
          local from = ARGV[a + 12]
          if from ~= "" then
            local rv = rcall("HGET", q .. from, "returnvalue")
            -- one kept out of line lives as long as the resumed run's outcome: the step runs again
            if rv and string.sub(rv, 1, 12) ~= '{"am2zBlob":' then
              rcall("HSET", k, "data", rv, "am2zReused", from)
              local tally = ARGV[a + 13]
              local nl = string.find(tally, "\n", 1, true)
              if nl then rcall("HINCRBY", string.sub(tally, 1, nl - 1), string.sub(tally, nl + 1), 1) end
            end
          end
          if allEvents then xadd(q, "event", "added", "jobId", id, "name", ARGV[a + 2]) end
          local fairSession = ARGV[a + 9]
          if ARGV[a + 5] == "c" then
            rcall("ZADD", q .. "waiting-children", now, id)
            if allEvents then xadd(q, "event", "waiting-children", "jobId", id) end
            -- a child that failed its parent (failParentOnFailure) before the join existed set defa
            release_parent(q, id, rcall("HEXISTS", k, "defa") == 1)
          elseif delay > 0 then
            -- BullMQ's delayed set; op "P" moves it on when due (to prioritized if it has a priority)
            rcall("ZADD", q .. "delayed", due * 4096, id)
            rcall("ZADD", q .. "marker", due, "1")
            xadd(q, "event", "delayed", "jobId", id, "delay", due)
          elseif fairSession ~= "" or priority > 0 then
            local score
            if fairSession ~= "" then
              -- Start-time fair queuing over named sessions: a session's next job is tagged one
              -- after its last queued one, but never before the queue's virtual time (field "": the
              -- tag last taken), so a session arriving behind another's backlog is served next and
              -- each session stays FIFO. Tags stay below 2^32: a priority p puts the job after
              -- every job of a lower p, as BullMQ's scores do, and fairly among those of its own.
              local fair = q .. "am2z:fair"
              -- nothing queued: the tags of runs gone before are stale (the fetch that took the last
              -- one may not have known it was the last)
              if rcall("ZCARD", q .. "prioritized") == 0 then rcall("DEL", fair) end
              local f = rcall("HMGET", fair, "", fairSession)
              local tag = math.max((tonumber(f[2]) or 0) + 1, tonumber(f[1]) or 0)
              rcall("HSET", fair, fairSession, tag)
              score = priority * 4294967296 + tag
            else
              score = priorityScore(q, priority)
            end
            rcall("ZADD", q .. "prioritized", score, id)
            marker(q)
            if allEvents then xadd(q, "event", "waiting", "jobId", id) end
          else
            waitLater(q, id)
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
          -- O replyKey payload ttlMs runKey session end recordKey: a run ended; its outcome goes to whoever
          -- waits for it, unless the run already has one (runKey exists). A run whose outcome goes to
          -- a reply list of many runs also gets it under runKey, which is what marks it ended. Its session
          -- ("" = none known) counts the end (completed / failed / cancelled).
          local reply, runKey, ttl, sid = ARGV[a], ARGV[a + 3], ARGV[a + 2], ARGV[a + 4]
          local first
          if reply ~= runKey then
            -- The outcome goes to a reply list that collects many runs': the run's own key only marks
            -- it ended and keeps its outcome for `am2z result`, a string written only when the key
            -- is not there (one command, not a list's push and its expiry). A key of any type there
            -- (a list: the run's end was cancelled to its own key) counts as an outcome.
            first = rcall("SET", runKey, ARGV[a + 1], "NX", "PX", ttl ~= "0" and ttl or "86400000")
            if first then replyLater(reply, ARGV[a + 1], ttl) end
          else
            -- runKey is a list its submitter blocks on, so it exists while it holds an outcome: the
            -- outcome is pushed first and taken back at once when another was there before it (one
            -- command, not EXISTS then LPUSH). A key of another type there (a string: the run's
            -- outcome for a reply list, or not am2z's) also counts as an outcome, as EXISTS did.
            local pushed = redis.pcall("LPUSH", runKey, ARGV[a + 1])
            if type(pushed) == "number" and pushed > 1 then rcall("LPOP", runKey) end
            first = pushed == 1
            if first and ttl ~= "0" then rcall("PEXPIRE", reply, ttl) end
          end
          if first then outcomeWritten(runKey, ttl, sid, ARGV[a + 5], ARGV[a + 6]) end
        elseif op == "o" then
          -- o replyKey stagedKey ttlMs runKey session end recordKey: "O" for an outcome too big
          -- to hand to this function (Redis's Lua hashes every byte of every string it is given),
          -- of a run whose submitter waits on runKey itself (replyKey = runKey). Its worker pushed
          -- it, in the same pipeline just before this call, to the list stagedKey: a header
          -- {"am2zChunks":n,...} and n chunks of its text (op_chunks.hpp, stage_outcome). A RENAME
          -- moves it into place whole and wakes the submitter blocked on runKey, as LPUSH does. A
          -- run that has an outcome keeps it; a staged list that is gone (evicted, deleted) or
          -- incomplete (a push refused, say for memory) refuses the group, sent again as "O".
          local staged, ttl, runKey, sid = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
          local length = rcall("LLEN", staged)
          local chunks
          if length > 0 then chunks = tonumber(string.match(rcall("LINDEX", staged, 0), '^{"am2zChunks":(%d+),')) end
          if rcall("EXISTS", runKey) == 1 then
            rcall("DEL", staged)
          elseif chunks == nil or length ~= chunks + 1 then
            rcall("DEL", staged)
            failedGroups[#failedGroups + 1] = { group, -8 }
            i = restOfGroup(i)
          else
            rcall("RENAME", staged, runKey)
            if ttl ~= "0" then rcall("PEXPIRE", runKey, ttl) else rcall("PERSIST", runKey) end
            outcomeWritten(runKey, ttl, sid, ARGV[a + 5], ARGV[a + 6])
          end
        elseif op == "Q" then
          -- Q q schedulerId producerJobId nextMillis opts: a BullMQ job scheduler's job ended here
          nextFromScheduler(ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
        elseif op == "I" then
          -- I recordKey input flow hash session resumeOf: what resuming the run needs; kept for
          -- 30 days at most, and once the run ends as long as its outcome (op "O")
          local rk = ARGV[a]
          rcall("HSET", rk, "input", ARGV[a + 1], "flow", ARGV[a + 2], "hash", ARGV[a + 3], "session", ARGV[a + 4],
            "submitted", now)
          if ARGV[a + 5] ~= "" then rcall("HSET", rk, "resumeOf", ARGV[a + 5]) end
          rcall("PEXPIRE", rk, 2592000000)
        elseif op == "E" then
          -- E count events: a group's events of runs submitted with events on, joined by newlines
          publish(tonumber(ARGV[a]) or 1, ARGV[a + 1])
        elseif op == "V" then
          -- V count events ranges: the events of the groups before it, taken out of them and joined
          -- (core/redis/call_events.hpp); ranges "group:from:to:count;" say whose is where. A
          -- skipped group's events are left out, as its own "E" would have been.
          if #failedGroups == 0 then
            publish(tonumber(ARGV[a]) or 1, ARGV[a + 1])
          else
            local skipped = {}
            for _, f in ipairs(failedGroups) do skipped[f[1]] = true end
            for g, from, to, count in string.gmatch(ARGV[a + 2], "(%d+):(%d+):(%d+):(%d+);") do
              if not skipped[tonumber(g)] then
                publish(tonumber(count), string.sub(ARGV[a + 1], tonumber(from), tonumber(to)))
              end
            end
          end
        elseif op == "N" then
          -- N session run ttlMs queues: a run joins its session's index at submission; `queues` are
          -- newline-terminated key prefixes. Its keys live while any run of it is running.
          local sid, run = ARGV[a], ARGV[a + 1]
          local sk = sessionKey(sid)
          flushSessionEnds() -- as if each run's end had been counted as it came
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
        elseif op == "U" then
          -- U q tokenPrefix: a call whose reply was lost may have fetched jobs the worker never
          -- saw: those still locked with its tokens go back to the front of wait at once, not when
          -- their locks expire. Jobs another worker took since carry other tokens.
          local q, prefix = ARGV[a], ARGV[a + 1] .. ":"
          flushLocks()
          flushWaits()
          for _, id in ipairs(rcall("LRANGE", q .. "active", 0, -1)) do
            local held = rcall("GET", q .. id .. ":lock")
            if held and string.sub(held, 1, #prefix) == prefix then
              rcall("DEL", q .. id .. ":lock")
              rcall("LREM", q .. "active", -1, id)
              rcall("RPUSH", q .. "wait", id)
              marker(q)
            end
          end
        elseif op == "W" then
          -- W q: a job of a queue with a concurrency limit ended: its slot is free, wake a worker
          local q = ARGV[a]
          flushWaits()
          if rcall("LLEN", q .. "wait") > 0 or rcall("ZCARD", q .. "prioritized") > 0 then marker(q) end
        elseif op == "P" then
          -- P q: move due delayed jobs to wait; report the next due time
          local q = ARGV[a]
          local due = rcall("ZRANGEBYSCORE", q .. "delayed", 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
          for _, id in ipairs(due) do
            rcall("ZREM", q .. "delayed", id)
            requeue(q, id)
            rcall("HSET", q .. id, "delay", 0)
            xadd(q, "event", "waiting", "jobId", id, "prev", "delayed")
          end
          if #due > 0 then marker(q) end
          local nextDue = rcall("ZRANGE", q .. "delayed", 0, 0, "WITHSCORES")
          dues[#dues + 1] = { q, nextDue[2] and math.floor(tonumber(nextDue[2]) / 4096) or -1 }
        elseif op == "Z" then
          -- Z key: wakes a worker's marker waker blocked on its own key (KeySpace::waker()); the
          -- expiry only matters when that worker died before popping it
          rcall("ZADD", ARGV[a], 0, "0")
          rcall("PEXPIRE", ARGV[a], 60000)
        elseif op == "M" then
          flushWaits()
          flushLocks()
          fetch(a)
        -- last: only a call with a value over 256 KiB has these
        elseif op == "B" or op == "X" then
          -- B blobKey chunks ttlMs: a value of this group kept out of line (blobs.hpp), pushed by
          -- its writer just before this call. A blob that is not whole (gone, a push refused)
          -- refuses the group, sent again with the value in it; else it expires after ttlMs
          -- ("0": never). X blobKey ttlMs: a job whose data was kept out of line ended: its blob
          -- lives on as long as the run's outcome.
          local blob, ttl = ARGV[a], ARGV[a + (op == "B" and 2 or 1)]
          if op == "B" and rcall("LLEN", blob) ~= tonumber(ARGV[a + 1]) then
            rcall("DEL", blob)
            failedGroups[#failedGroups + 1] = { group, -9 }
            i = restOfGroup(i)
          elseif ttl ~= "0" then
            rcall("PEXPIRE", blob, ttl)
          else
            rcall("PERSIST", blob)
          end
        elseif op == "T" then
          -- T ttlMs: how long the returnvalue of the finish after it lives when it is kept out of
          -- line (read by its writer, blobs.hpp); nothing to do here
        end
      end
    end
  end
  flushSessionEnds()
  flushCompleted()
  flushEvents()
  flushWaits()
  flushReplies()
  flushLocks()
  return { failedGroups, fetched, dues, limits, fullQueues }
end
-- core/redis/scripts.cpp appends the registration: redis.register_function("<name>", step)
