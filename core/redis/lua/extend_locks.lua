--[[ am2z lock renewal: for each (lock key, token, stalled set, id) still held with that token,
extend the lock and take the job off the stalled list. ARGV: lock duration (ms), then groups of
four. Returns the ids whose lock was lost (another worker may own them now).
]]
local lockMs = ARGV[1]
local lost = {}
for i = 2, #ARGV, 4 do
  local lockKey, token, stalledKey, id = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call("GET", lockKey) == token then
    redis.call("SET", lockKey, token, "PX", lockMs)
    redis.call("SREM", stalledKey, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
