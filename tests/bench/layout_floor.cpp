// The floor under am2z's step calls (layout_floor.hpp). At -c 64 the Redis server's one core is
// the limit, so its CPU per job sets the throughput; this scenario tells how much of it BullMQ's
// layout and one outcome per run cost on their own, and so how much am2z's own logic adds
// (compare.py: redis_cpu_over_layout_floor_c64).
#include "tests/bench/layout_floor.hpp"

#include <chrono>
#include <cstdio>

#include "tests/bench/bench_support.hpp"

namespace am2z::bench {
namespace {

using redis::Connection;
using redis::Reply;

constexpr const char* kFunction = "am2z_bench_floor";

// One call: finishes (id token returnvalue runKey payload, from ARGV[7]) as am2z's ops C and O
// do for a one-step run whose outcome goes to a shared reply list, then takes up to ARGV[5] jobs
// as am2z's op M does from wait, reading the fields am2z's fetch reads (redis::kFetchedFields)
// the same way; returns id, token, those fields' values per job taken.
constexpr const char* kLibrary = R"lua(#!lua name=am2z_bench_floor
local function floor(_, a)
  local rcall = redis.call
  local q, now, lockMs, maxLen, want, reply = a[1], a[2], a[3], a[4], tonumber(a[5]), a[6]
  local locks = {}
  for i = 8, #a, 5 do locks[#locks + 1] = q .. a[i] .. ":lock" end
  local held = #locks > 0 and rcall("MGET", unpack(locks)) or {}
  local released, completed, replies = {}, {}, {}
  local f = 0
  for i = 8, #a, 5 do
    f = f + 1
    local id, rv = a[i], a[i + 2]
    if held[f] == a[i + 1] and rcall("LREM", q .. "active", -1, id) == 1 then
      released[#released + 1] = locks[f]
      rcall("HSET", q .. id, "returnvalue", rv, "finishedOn", now, "atm", "1")
      completed[#completed + 1] = now
      completed[#completed + 1] = id
      rcall("XADD", q .. "events", "MAXLEN", "~", maxLen, "*", "event", "completed", "jobId", id, "returnvalue", rv,
        "prev", "active")
      if rcall("SET", a[i + 3], a[i + 4], "NX", "PX", "86400000") then replies[#replies + 1] = a[i + 4] end
    end
  end
  if #released > 0 then rcall("DEL", unpack(released)) end
  if #completed > 0 then rcall("ZADD", q .. "completed", unpack(completed)) end
  if #replies > 0 then rcall("LPUSH", reply, unpack(replies)) end
  local out = {}
  local tail = rcall("LRANGE", q .. "wait", -want, -1)
  if #tail == 0 then return out end
  rcall("LTRIM", q .. "wait", 0, -#tail - 1)
  local ids = {}
  for x = #tail, 1, -1 do ids[#ids + 1] = tail[x] end
  rcall("LPUSH", q .. "active", unpack(ids))
  for x, id in ipairs(ids) do
    local k = q .. id
    local fields = rcall("HMGET", k, "data", "opts", "timestamp", "atm", "ats", "defa", "am2zReused", "rjk", "parent",
      "parentKey")
    local token = a[7] .. ":" .. x
    rcall("SET", k .. ":lock", token, "PX", lockMs)
    rcall("HSET", k, "processedOn", now, "pb", "floor", "ats", "1")
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = fields
  end
  return out
end
redis.register_function("am2z_bench_floor", floor)
)lua";

/// A job's data from the values the floor read (those of redis::kFetchedFields, data first).
std::string data_of(const Reply& values) {
  if (values.elements.empty() || values.elements[0].is_nil()) die("layout_floor: a job without data");
  return values.elements[0].str;
}

long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void layout_floor_scenario(Connection& c, const redis::PlannedFlow& flow, long long n) {
  must(c, {"FLUSHALL"});
  const std::string reply = "am2z:bench:reply";
  submit_numbered_runs(c, flow, n, reply, false);
  const auto queues = redis::queues_of(flow);
  if (queues.size() != 1) die("layout_floor: the flow must have one queue");
  const std::string q = flow.keys().queue(queues.front());
  must(c, {"FUNCTION", "LOAD", "REPLACE", kLibrary});
  must(c, {"CONFIG", "RESETSTAT"});
  const double cpu0 = redis_cpu_us(c);
  std::vector<std::string> finishes;
  for (long long call = 0;; ++call) {
    std::vector<std::string> args{"FCALL", kFunction, "0",  q,     std::to_string(wall_ms()),
                                  "30000", "10000",   "64", reply, "floor:" + std::to_string(call)};
    args.insert(args.end(), finishes.begin(), finishes.end());
    const bool finished_some = !finishes.empty();
    finishes.clear();
    const Reply r = must(c, args);
    for (std::size_t i = 0; i + 2 < r.elements.size(); i += 3) {
      const std::string& id = r.elements[i].str;
      const std::string data = data_of(r.elements[i + 2]);
      const std::string run = id.substr(1, id.find('.') - 1);  // r<run>.<node>
      finishes.insert(finishes.end(), {id, r.elements[i + 1].str, data, "am2z:run:" + run,
                                       R"({"ok":true,"run":")" + run + R"(","state":)" + data + "}"});
    }
    if (r.elements.empty() && !finished_some) break;
  }
  const double redis_cpu = redis_cpu_us(c) - cpu0;
  if (const long long got = must(c, {"LLEN", reply}).integer; got != n) {
    die("layout_floor: " + std::to_string(got) + " outcomes of " + std::to_string(n));
  }
  const Json line{{"scenario", "layout_floor_c64"},
                  {"system", "am2z"},
                  {"jobs", n},
                  {"redis_cmds_per_job", round3(static_cast<double>(server_commands(c)) / static_cast<double>(n))},
                  {"redis_cpu_us_per_job", round3(redis_cpu / static_cast<double>(n))}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

}  // namespace am2z::bench
