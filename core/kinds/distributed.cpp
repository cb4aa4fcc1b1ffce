#include "core/kinds/distributed.hpp"

#include <map>
#include <memory>

namespace am2z {

Result<std::vector<Result<State>>> join_results(std::vector<JoinChild> children, long long JoinChild::*index,
                                                const std::function<Result<std::size_t>()>& expected,
                                                const std::string& label, const std::string& where,
                                                const State& base) {
  std::map<long long, Result<State>> by_index;
  for (auto& c : children) {
    const long long i = c.*index;
    if (i < 0) return fail(errors::validation(where, c.key, "job " + c.key + " is not a branch of this join"));
    if (c.unreadable) return fail(std::move(*c.unreadable));
    by_index.insert_or_assign(i, std::move(c.result));
  }
  auto n = expected();
  if (!n) return fail(std::move(n.error()));
  std::vector<Result<State>> results;
  results.reserve(*n);
  for (std::size_t i = 0; i < *n; ++i) {
    auto it = by_index.find(static_cast<long long>(i));
    if (it == by_index.end()) {
      return fail(join_failure(errors::execution(label, "branch " + std::to_string(i) + " never reported a result"),
                               base));
    }
    results.push_back(std::move(it->second));
  }
  return results;
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
