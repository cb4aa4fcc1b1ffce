--[[ am2z stalled-job check, on the BullMQ layout: a job that was active at the previous check,
whose lock has expired since (its worker died or hung), goes back to wait to run again; after
more than maxStalled such recoveries it is failed at its next pickup instead (hash field defa).
Runs at most once per interval per queue, whichever worker gets there first (the interval of the
worker that asks, not of the one that ran the previous check).

ARGV: now, interval (ms), maxStalled, maxLen, then queue key prefixes ("bull:name:").
Returns the ids moved back to wait, as "prefix|id".
]]
local now, interval, maxStalled, maxLen = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local rcall = redis.call
local moved = {}
for i = 5, #ARGV do
  local q = ARGV[i]
  -- The key holds when the last check ran (as BullMQ writes it). A worker with a shorter
  -- interval than the one that set it does not wait out the other's longer TTL.
  local last = tonumber(rcall("GET", q .. "stalled-check"))
  if not last or tonumber(now) - last >= tonumber(interval) then
    rcall("SET", q .. "stalled-check", now, "PX", interval)
    local stalled = rcall("SMEMBERS", q .. "stalled")
    for _, id in ipairs(stalled) do
      if rcall("EXISTS", q .. id .. ":lock") == 0 and rcall("LREM", q .. "active", 1, id) > 0 then
        local count = rcall("HINCRBY", q .. id, "stc", 1)
        if count > maxStalled then
          rcall("HSET", q .. id, "defa", "job stalled more than allowable limit")
        end
        rcall("RPUSH", q .. "wait", id)
        rcall("ZADD", q .. "marker", 0, "0")
        rcall("XADD", q .. "events", "MAXLEN", "~", maxLen, "*", "event", "waiting", "jobId", id, "prev", "active")
        rcall("XADD", q .. "events", "MAXLEN", "~", maxLen, "*", "event", "stalled", "jobId", id)
        moved[#moved + 1] = q .. "|" .. id
      end
    end
    rcall("DEL", q .. "stalled")
    local active = rcall("LRANGE", q .. "active", 0, -1)
    for j = 1, #active, 1000 do
      rcall("SADD", q .. "stalled", unpack(active, j, math.min(j + 999, #active)))
    end
  end
end
return moved
