#include "core/redis/call_events.hpp"

#include "core/redis/op_chunks.hpp"

namespace am2z::redis {

namespace {
/// Where a group's trailing "E count text" begins, or g.size() when it has none.
std::size_t trailing_events(const OpGroup& g) {
  if (g.size() < 4 || g[g.size() - 3] != "E") return g.size();
  // "E" three from the end could be an argument of another op (a job's data "E", say): the
  // group is walked op by op from its start to be sure.
  std::size_t at = g[0] == "G" ? 1 : 0;
  while (at < g.size()) {
    if (at == g.size() - 3) return g[at] == "E" ? at : g.size();
    at += 1 + op_arity(g[at]);
  }
  return g.size();
}
}  // namespace

void append_groups(std::vector<std::string>& call, std::span<const OpGroup> groups) {
  long long count = 0;
  std::string text;
  std::string ranges;   // "group:from:to:count;" per group with events: 1-based, inclusive (Lua's string.sub)
  long long group = 0;  // as the script counts them: one per "G"
  for (const OpGroup& g : groups) {
    if (!g.empty() && g[0] == "G") ++group;
    const std::size_t events = trailing_events(g);
    call.insert(call.end(), g.begin(), g.begin() + static_cast<std::ptrdiff_t>(events));
    if (events == g.size()) continue;
    const long long n = std::stoll(g[events + 1]);
    if (!text.empty()) text.push_back('\n');
    const std::size_t from = text.size() + 1;
    text += g[events + 2];
    ranges += std::to_string(group) + ":" + std::to_string(from) + ":" + std::to_string(text.size()) + ":" +
              std::to_string(n) + ";";
    count += n;
  }
  if (count == 0) return;
  call.push_back("V");
  call.push_back(std::to_string(count));
  call.push_back(std::move(text));
  call.push_back(std::move(ranges));
}

}  // namespace am2z::redis
