#include "core/redis/op_list.hpp"

#include <initializer_list>

namespace am2z::redis {

namespace {
void push(std::vector<std::string>& v, std::initializer_list<std::string> items) {
  v.insert(v.end(), items.begin(), items.end());
}
}  // namespace

void OpList::flush_group() {
  for (auto& s : head_) done_.push_back(std::move(s));
  for (auto& s : tail_) done_.push_back(std::move(s));
  head_.clear();
  tail_.clear();
}

void OpList::begin_group() {
  flush_group();
  done_.emplace_back("G");
}

void OpList::complete(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                      long long attempts_made, const std::string& return_value, const std::string& keep) {
  push(head_, {"C", q, id, token, std::to_string(processed_on), std::to_string(attempts_made), return_value, keep});
  ++ops_;
}

void OpList::fail_final(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                        long long attempts_made, const std::string& reason, const std::string& stacktrace,
                        const std::string& keep) {
  push(head_,
       {"F", q, id, token, std::to_string(processed_on), std::to_string(attempts_made), reason, stacktrace, keep});
  ++ops_;
}

void OpList::retry(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                   long long attempts_made, const std::string& reason, const std::string& stacktrace,
                   long long delay_ms) {
  push(head_, {"R", q, id, token, std::to_string(processed_on), std::to_string(attempts_made), reason, stacktrace,
               std::to_string(delay_ms)});
  ++ops_;
}

void OpList::add(const std::string& q, const std::string& id, const std::string& name, const std::string& data,
                 const std::string& opts, bool waiting_children, const std::string& parent_key,
                 const std::string& parent_json, const std::string& parent_dependencies) {
  push(head_,
       {"A", q, id, name, data, opts, waiting_children ? "c" : "w", parent_key, parent_json, parent_dependencies});
  ++ops_;
}

void OpList::drop_dependency(const std::string& dependencies_key, const std::string& child_key) {
  push(tail_, {"S", dependencies_key, child_key});
  ++ops_;
}

void OpList::deliver(const std::string& join_q, const std::string& join_id, const std::string& child_key,
                     const std::string& value, ChildEnd end, const std::string& error_json) {
  static constexpr const char* kModes[] = {"1", "0", "2", "3", "4"};
  push(tail_, {"J", join_q, join_id, child_key, value, kModes[static_cast<int>(end)], error_json});
  ++ops_;
}

void OpList::outcome(const std::string& reply_key, const std::string& payload, long long ttl_ms) {
  push(tail_, {"O", reply_key, payload, std::to_string(ttl_ms)});
  ++ops_;
}

void OpList::promote(const std::string& q) { push(fetches_, {"P", q}); }

void OpList::fetch(const Fetch& f) {
  push(fetches_, {"M", f.queue, std::to_string(f.count), f.with_children ? "1" : "0"});
}

void OpList::append_to(std::vector<std::string>& argv) {
  flush_group();
  for (auto& s : done_) argv.push_back(std::move(s));
  for (auto& s : fetches_) argv.push_back(std::move(s));
  done_.clear();
  fetches_.clear();
  ops_ = 0;
}

}  // namespace am2z::redis
