// Which queues the worker serves: one per processor instance of each flow and one for the flow's
// joins. add_flow and remove_flow change the served set from any thread; the dispatcher and the
// marker waker follow it at their next turn.
#include <unistd.h>

#include <algorithm>

#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using namespace detail;

namespace {
/// Retired flow versions kept per worker (each holds its plan and processors).
constexpr std::size_t kRetiredFlows = 16;
}  // namespace

Status Worker::Impl::add_bindings(const std::shared_ptr<const PlannedFlow>& flow) {
  const KeySpace& layout = flow->keys();
  if (layout.prefix() != options.prefix) {
    return fail(errors::configuration("flows", "flow '" + flow->flow().name + "' was planned for prefix '" +
                                                   layout.prefix() + "', the worker serves '" + options.prefix + "'"));
  }
  BindingMap adding;
  std::lock_guard lock(mutex);
  auto add = [&](std::string name, std::shared_ptr<const ProcessorInstance> inst) -> Status {
    const std::string keys = layout.queue(name);
    for (const BindingMap* m : {&served_bindings, &adding}) {
      auto it = m->find(keys);
      if (it == m->end()) continue;
      if (it->second->instance == inst && it->second->flow == flow) return {};
      return fail(errors::configuration(
          "flows", "queue '" + name + "' is claimed twice: by flow '" + it->second->flow->flow().name + "' (" +
                       it->second->flow->flow().source + ") and by '" + flow->flow().source + "'"));
    }
    auto b = std::make_shared<Binding>();
    b->name = std::move(name);
    b->keys = keys;
    b->flow = flow;
    b->instance = std::move(inst);
    b->planner = std::make_unique<Planner>(*flow);
    adding.emplace(keys, std::move(b));
    return {};
  };
  for (const auto& entry : flow->entries()) {
    if (entry.node->kind() != NodeKind::processor) continue;
    const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance_ptr();
    if (inst->remote_queue()) continue;  // done by other workers, on the queue it names
    if (auto st = add(layout.processor_queue(flow->flow().name, inst->name), inst); !st) return st;
  }
  if (auto st = add(layout.join_queue(flow->flow().name), nullptr); !st) return st;
  if (adding.empty()) return {};  // this very flow is served already
  served_bindings.merge(adding);
  served_flows.push_back(flow);
  ++served_version;
  wake.notify_all();
  waker_wake.notify_all();
  return {};
}

Status Worker::Impl::remove_bindings(const std::string& flow_name) {
  std::lock_guard lock(mutex);
  for (const auto& f : served_flows) {
    if (f->flow().name != flow_name) continue;
    retired_flows.push_back(f);
    if (retired_flows.size() > kRetiredFlows) {
      const std::string gone = retired_flows.front()->hash();
      retired_flows.pop_front();
      std::erase_if(retired_bindings, [&](const auto& kv) { return kv.first.first == gone; });
    }
  }
  const auto erased = std::erase_if(served_flows, [&](const auto& f) { return f->flow().name == flow_name; });
  if (erased == 0) {
    return fail(errors::configuration("flows", "this worker serves no flow named '" + flow_name + "'"));
  }
  // Jobs of these queues still running hold their binding; it goes when the last one ends.
  std::erase_if(served_bindings, [&](const auto& kv) { return kv.second->flow->flow().name == flow_name; });
  ++served_version;
  wake.notify_all();
  waker_wake.notify_all();
  return {};
}

std::shared_ptr<Binding> Worker::Impl::retired_binding(const Binding& b, const std::string& hash) {
  std::lock_guard lock(mutex);
  const auto key = std::make_pair(hash, b.keys);
  if (auto it = retired_bindings.find(key); it != retired_bindings.end()) return it->second;
  for (const auto& flow : retired_flows) {
    if (flow->hash() != hash || flow->flow().name != b.flow->flow().name) continue;
    auto old = std::make_shared<Binding>();
    old->name = b.name;
    old->keys = b.keys;
    old->flow = flow;
    if (b.instance) {  // the step's instance in that version, by name
      for (const auto& entry : flow->entries()) {
        if (entry.node->kind() != NodeKind::processor) continue;
        const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance_ptr();
        if (inst->name == b.instance->name) old->instance = inst;
      }
      if (!old->instance) return nullptr;  // that version had no such step
    }
    old->planner = std::make_unique<Planner>(*flow);
    retired_bindings.emplace(key, old);
    return old;
  }
  return nullptr;
}

bool Worker::Impl::follow_bindings() {
  std::lock_guard lock(mutex);
  if (served_version == bindings_version) return false;
  BindingMap next = served_bindings;
  for (auto& [keys, b] : next) {
    if (!bindings.contains(keys)) {
      log->info("worker {} now serves queue {}", options.name, b->name);
    }
  }
  for (auto& [keys, b] : bindings) {
    if (!next.contains(keys)) log->info("worker {} no longer serves queue {}", options.name, b->name);
  }
  bindings = std::move(next);
  bindings_version = served_version;
  return true;
}

std::vector<std::string> Worker::Impl::marker_keys(std::uint64_t& version, std::uint64_t& skip_version) {
  std::lock_guard lock(mutex);
  version = served_version;
  skip_version = waker_skip_version;
  waker_skipping = waker_skip;
  std::vector<std::string> keys;
  for (const auto& [k, b] : served_bindings) {
    if (!waker_skip.contains(k)) keys.push_back(queue_key(k, "marker"));
  }
  return keys;
}

std::string default_worker_name() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

Result<std::unique_ptr<Worker>> Worker::create(WorkerOptions options,
                                               std::vector<std::shared_ptr<const PlannedFlow>> flows) {
  auto impl = std::make_unique<Impl>();
  impl->log = options.logger ? options.logger : spdlog::default_logger();
  if (options.name.empty()) options.name = default_worker_name();
  // A call costs Redis about as much as two jobs whatever it carries: calls of 8 (the default
  // held at -c 8 was -c, each of the two calls in flight asking for half of -c + prefetch) left
  // Redis about a fifth of its time on calls; with 16 held they carry 12 (+13% jobs/s at -c 8 in
  // alternating pairs, none at -c 64 from holding 128 instead of 64).
  if (options.prefetch < 0) options.prefetch = std::max(options.concurrency, kDefaultPrefetchAtLeast);
  impl->token_base = options.name + ":" + std::to_string(now_ms());
  impl->space = KeySpace(options.prefix);
  impl->pool = options.pool ? options.pool.get() : &TaskPool::shared();
  impl->observers.push_back(impl->stats);
  for (const auto& o : options.observers) {
    if (o) impl->observers.push_back(o);
  }
  impl->options = std::move(options);
  for (const auto& flow : flows) {
    if (auto st = impl->add_bindings(flow); !st) return fail(st.error());
  }
  return std::unique_ptr<Worker>(new Worker(std::move(impl)));
}

Status Worker::add_flow(std::shared_ptr<const PlannedFlow> flow) {
  if (!flow) return fail(errors::configuration("flows", "add_flow: no flow given"));
  return impl_->add_bindings(flow);
}

Status Worker::remove_flow(const std::string& flow_name) { return impl_->remove_bindings(flow_name); }

std::vector<std::string> Worker::queues() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> out;
  for (const auto& [keys, b] : impl_->served_bindings) out.push_back(b->name);
  return out;
}

}  // namespace am2z::redis
