-- Part of the step script (step.lua includes it after the operations' arities): the ownership
-- check of finishes, with the locks read and released in bulk. The first finish of a call reads
-- the locks of every finish after it in one MGET (up to an op that takes or drops locks: M, U),
-- and the locks released go in one DEL before such an op and at the end of the call: two commands
-- per call instead of a GETDEL per job. A lock held by another worker is left as it is.
local heldLocks -- lock key -> value read (false: none), for the finishes ahead; nil: none read
local releasedLocks
local function resetLocks() heldLocks, releasedLocks = nil, {} end

local function readLocks(from)
  local keys = {}
  local j = from
  while j <= n do
    local op = ARGV[j]
    if op == "G" then
      j = j + 1
    else
      if op == "M" or op == "U" then break end
      if (op == "C" or op == "F" or op == "R" or op == "L") and ARGV[j + 3] ~= "" then
        keys[#keys + 1] = ARGV[j + 1] .. ARGV[j + 2] .. ":lock"
      end
      j = j + 1 + arity[op]
    end
  end
  heldLocks = {}
  for x = 1, #keys, 1000 do -- within unpack's limit
    local last = math.min(x + 999, #keys)
    local values = rcall("MGET", unpack(keys, x, last))
    for y = x, last do heldLocks[keys[y]] = values[y - x + 1] end
  end
end

-- Before an op that takes or drops locks: what was released is deleted, and read again after it.
local function flushLocks()
  for x = 1, #releasedLocks, 1000 do
    rcall("DEL", unpack(releasedLocks, x, math.min(x + 999, #releasedLocks)))
  end
  releasedLocks = {}
  heldLocks = nil
end

-- The lock of job id of q as this call sees it (false: none); `at` is the position of the op
-- asking, where the read of the finishes ahead starts.
local function lockOf(q, id, at)
  local key = q .. id .. ":lock"
  if not heldLocks then readLocks(at) end
  local held = heldLocks[key]
  if held == nil then -- not among the finishes read (cannot happen with a well-formed call)
    held = rcall("GET", key)
    heldLocks[key] = held
  end
  return held, key
end

-- Ownership check and lock release, as BullMQ's finish does it; "" = job fetched without lock.
-- 0, or -2 lock missing, -6 held by another worker, -3 job not active.
local function release(q, id, token, at)
  if token ~= "" then
    local held, key = lockOf(q, id, at)
    if not held then return -2 end
    if held ~= token then return -6 end
    heldLocks[key] = false
    releasedLocks[#releasedLocks + 1] = key
  end
  if rcall("LREM", q .. "active", "-1", id) == 0 then return -3 end
  return 0
end
