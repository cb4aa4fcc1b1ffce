// The dispatcher's step-script calls, pipelined: a call is sent, and its reply read while (or
// after) the next one goes out, so Redis runs one call while this thread handles the jobs of the
// one before. At most Impl::kMaxInFlight calls are in flight; their ended jobs' operations are
// kept (and those jobs' locks renewed) until each reply arrives, and are sent again, in order, when
// a reply is lost.
#include <algorithm>
#include <iterator>
#include <optional>
#include <thread>

#include "core/redis/blobs.hpp"
#include "core/redis/call_events.hpp"
#include "core/redis/op_chunks.hpp"
#include "core/redis/scripts.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using namespace detail;

int Worker::Impl::reserved_budget() const {
  int sum = 0;
  for (const auto& call : in_flight) sum += call.budget;
  return sum;
}

void Worker::Impl::queue_groups(std::vector<FedGroup> groups) {
  for (auto& g : groups) {
    if (g.feeds.empty()) {
      for (auto& part : chunk_group(std::move(g.ops))) unsent.push_back(std::move(part));
      continue;
    }
    OpGroup check = check_of(g.ops);
    feeding.push_back(Feeding{std::move(g.feeds), std::move(check), chunk_group(std::move(g.ops))});
  }
  feed_unsent();
}

void Worker::Impl::feed_unsent() {
  while (unsent.empty() && !feeding.empty()) {
    Feeding& f = feeding.front();
    while (!f.feeds.empty() && f.feeds.front()->remaining() == 0) f.feeds.erase(f.feeds.begin());
    if (f.feeds.empty()) {
      for (auto& part : f.then) unsent.push_back(std::move(part));
      feeding.pop_front();
      memory_to_return = true;
      continue;
    }
    unsent.push_back(next_chunk(*f.feeds.front(), f.check));
  }
}

void Worker::Impl::take_back(InFlight& call, std::vector<OpGroup>& again) {
  again.insert(again.end(), std::make_move_iterator(call.groups.begin()), std::make_move_iterator(call.groups.end()));
  call.groups.clear();
  if (call.token_prefix.empty()) return;
  // each lost call may have taken locks (under its own token prefix) before its reply was lost
  for (const auto& b : call.fetched_from) again.push_back(OpGroup{"G", "U", b->keys, call.token_prefix});
}

bool Worker::Impl::send_call(Connection& conn, OpList& ops, std::vector<std::shared_ptr<Binding>> fetched_from,
                             int budget, bool ended_some, LoopTimers& t) {
  std::vector<std::string> call = script_call(conn);
  std::vector<std::string> header = step_header(now_ms(), budget);
  std::string token_prefix = header[3];  // StepHeader::argv(): now, lock, max events, token prefix
  call.insert(call.end(), std::make_move_iterator(header.begin()), std::make_move_iterator(header.end()));
  // A big batch's chunks go one call each (op_chunks.hpp); the calls after them carry the rest.
  auto carried = static_cast<std::ptrdiff_t>(groups_per_call(unsent));
  // An outcome over kBigCallBytes travels alone (groups_per_call) and, when it can, staged ahead
  // of its call rather than in it (op_chunks.hpp, StagedOutcome).
  // A group whose staged outcome or blob was refused goes once as it is (inline_groups); such
  // groups go back to the front of unsent.
  const auto sent_inline = [&](const OpGroup& g) {
    return !inline_groups.empty() && inline_groups.erase(group_identity(g)) > 0;
  };
  const bool front_inline = !unsent.empty() && sent_inline(unsent.front());
  std::optional<StagedOutcome> staged =
      carried == 1 && !front_inline ? stage_outcome(unsent.front(), token_prefix) : std::nullopt;
  // Commands sent ahead of the call: a staged outcome's, or the blobs of values over a chunk
  // (blobs.hpp); the groups kept for sending again are the originals.
  std::vector<std::vector<std::string>> ahead;
  if (staged) {
    append_groups(call, std::span<const OpGroup>(&staged->group, 1));
    ahead = std::move(staged->commands);
  } else {
    for (std::ptrdiff_t g = 0; g < carried; ++g) {
      const OpGroup& group = unsent[static_cast<std::size_t>(g)];
      const bool as_it_is = g == 0 ? front_inline : sent_inline(group);
      std::optional<BlobbedGroup> blobbed =
          as_it_is ? std::nullopt : blob_values(group, token_prefix, space.run_results());
      if (!blobbed) {
        append_groups(call, std::span<const OpGroup>(&group, 1));
        continue;
      }
      append_groups(call, std::span<const OpGroup>(&blobbed->group, 1));
      for (auto& command : blobbed->commands) ahead.push_back(std::move(command));
      carried = g + 1;  // it ends the call: nothing may overtake it should it be refused (below)
    }
  }
  ops.append_to(call);
  std::vector<OpGroup> sent(std::make_move_iterator(unsent.begin()), std::make_move_iterator(unsent.begin() + carried));
  unsent.erase(unsent.begin(), unsent.begin() + carried);
  const int ahead_replies = static_cast<int>(ahead.size());
  in_flight.push_back(InFlight{std::move(sent), std::move(fetched_from), budget, ended_some, std::move(token_prefix),
                               Clock::now(), ahead_replies});
  Status st;
  for (const auto& command : ahead) {
    if (st = conn.send(command); !st) break;
  }
  if (st) st = send_script(conn, ScriptId::step, call);
  if (!st) {
    tell_redis_call("step", in_flight.back().sent_at, false);
    // The connection is gone, and with it the replies of the calls still in flight (this one
    // may have been written whole).
    lost_calls(st.error(), t);
    return false;
  }
  // Nothing follows a staged outcome or a blob until its reply is read: were it gone, its group
  // is sent again (kStagedOutcomeGoneCode, kBlobGoneCode), which its job's finish, queued behind
  // it, must not overtake (the finish releases the lock that the group's ownership check needs).
  if (!ahead.empty()) drain_calls(conn, t);
  return true;
}

Result<Reply> Worker::Impl::receive_step(Connection& conn, const InFlight& call) {
  for (int i = 0; i < call.ahead_replies; ++i) {
    auto r = conn.receive();
    if (!r) return r;
    // Out of memory, say: the call finds the list not whole and refuses the group (ops "o", "B").
    if (r->is_error()) log->warn("redis: writing a big value ahead of its call: {}", r->str);
  }
  return receive_script(conn, ScriptId::step);
}

bool Worker::Impl::receive_call(Connection& conn, LoopTimers& t) {
  InFlight call = std::move(in_flight.front());
  in_flight.pop_front();
  auto reply = receive_step(conn, call);
  tell_redis_call("step", call.sent_at, static_cast<bool>(reply));
  if (reply) return accept_call(call, *reply, t);
  const Error e = std::move(reply.error());
  // Its operations are sent again first, then those of the calls after it that fail too.
  std::vector<OpGroup> again;
  take_back(call, again);
  // The server answered (NOSCRIPT, or an error from inside the script): read the other calls'
  // replies, which may have gone through, as usual.
  while (!in_flight.empty() && conn.connected()) {
    InFlight next = std::move(in_flight.front());
    in_flight.pop_front();
    auto r = receive_step(conn, next);
    tell_redis_call("step", next.sent_at, static_cast<bool>(r));
    if (r) {
      accept_call(next, *r, t);
    } else {
      take_back(next, again);
    }
  }
  for (auto& lost : in_flight) {  // the connection is gone, and their replies with it
    take_back(lost, again);
  }
  in_flight.clear();
  unsent.insert(unsent.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
  if (is_transient(e)) {
    lost_calls(e, t);
  } else {
    // The call itself is wrong: find out which part Redis refuses, keep the rest going.
    log->error("redis: {}", e.message);
    isolate_failure(conn, call.fetched_from);
    back_off(t);
  }
  return true;
}

bool Worker::Impl::accept_call(InFlight& call, const Reply& reply, LoopTimers& t) {
  t.redis_backoff = options.redis_backoff_min;
  for (const auto& g : call.groups) unsent_locks.erase(group_job_key(g));
  return accept_reply(reply, call) || call.ended_some;
}

void Worker::Impl::drain_calls(Connection& conn, LoopTimers& t) {
  while (!in_flight.empty()) receive_call(conn, t);
}

void Worker::Impl::lost_calls(const Error& e, LoopTimers& t) {
  // Redis went away, is loading its data or is out of memory: every ended job's operations are
  // kept exactly as built and sent again, oldest first; their locks are still renewed.
  std::vector<OpGroup> again;
  for (auto& call : in_flight) {
    take_back(call, again);
  }
  in_flight.clear();
  unsent.insert(unsent.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
  const auto ended =
      std::count_if(unsent.begin(), unsent.end(), [](const OpGroup& g) { return !group_job_key(g).empty(); });
  log->warn("redis: {}; {} finished job(s) kept, retrying in {} ms", e.message, ended, t.redis_backoff.count());
  back_off(t);
}

void Worker::Impl::tell_redis_call(std::string_view call, Clock::time_point sent_at, bool ok) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent_at);
  for (const auto& o : observers) {
    try {
      o->redis_call(call, elapsed, ok);
    } catch (const std::exception& ex) {
      log->error("a worker observer threw: {}", ex.what());  // it must not stop the dispatcher
    }
  }
}

ConnectOptions Worker::Impl::dispatcher_connect_options() {
  ConnectOptions o;
  o.on_reconnect = [this] {
    for (const auto& obs : observers) {
      try {
        obs->redis_reconnected();
      } catch (const std::exception& ex) {
        log->error("a worker observer threw: {}", ex.what());
      }
    }
  };
  return o;
}

void Worker::Impl::back_off(LoopTimers& t) {
  std::this_thread::sleep_for(t.redis_backoff);
  t.redis_backoff = std::min(t.redis_backoff * 2, options.redis_backoff_max);
}

}  // namespace am2z::redis
