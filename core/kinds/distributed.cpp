#include "core/kinds/distributed.hpp"

#include <algorithm>
#include <memory>

namespace am2z {

Status place_join_results(JoinChildren& children, long long JoinChild::*index, std::size_t n,
                          const std::function<void(std::size_t, Result<State>)>& place, const std::string& label,
                          const std::string& where, const State& base) {
  std::vector<char> reported(n, 0);
  while (auto c = children.next()) {
    const long long i = (*c).*index;
    if (i < 0) return fail(errors::validation(where, c->key, "job " + c->key + " is not a branch of this join"));
    if (c->unreadable) return fail(std::move(*c->unreadable));
    const auto at = static_cast<std::size_t>(i);
    if (at >= n) continue;  // beyond the branches the join has: nothing waits for it
    reported[at] = 1;
    place(at, std::move(c->result));
  }
  const auto missing = std::find(reported.begin(), reported.end(), 0);
  if (missing != reported.end()) {
    const auto i = static_cast<std::size_t>(missing - reported.begin());
    return fail(
        join_failure(errors::execution(label, "branch " + std::to_string(i) + " never reported a result"), base));
  }
  return {};
}

Error with_partial(Error e, const State& input) {
  if (!e.partial_state) e.partial_state = std::make_shared<const Json>(input.to_json());
  return e;
}

Error join_failure(Error e, const State& base) {
  e.partial_state = std::make_shared<const Json>(base.to_json());
  return e;
}

}  // namespace am2z
