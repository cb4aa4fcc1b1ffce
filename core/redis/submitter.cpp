#include "core/redis/submitter.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <span>
#include <thread>
#include <utility>

#include "core/json_limits.hpp"
#include "core/redis/blobs.hpp"
#include "core/redis/job_codec.hpp"
#include "core/redis/op_chunks.hpp"
#include "core/redis/scripts.hpp"
#include "core/runner.hpp"

namespace am2z::redis {

long long unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Submission plan_run(const PlannedFlow& flow, State input, const SubmitOptions& options, long long now,
                    std::string run_id, OpList& ops) {
  Envelope run;
  run.run = std::move(run_id);
  if (!options.session.empty()) input.meta.session_id = options.session;
  // A run without a named session is a session of its own: not indexed, which would cost every
  // run a dozen writes (sessions.hpp, stop_session handles "session-<run>" by the run).
  const bool named = !input.meta.session_id.empty();
  if (!named) input.meta.session_id = generated_session(run.run);
  run.flow = flow.flow().name;
  run.flow_hash = flow.hash();
  run.session = input.meta.session_id;
  run.reply = options.reply_key.empty() ? flow.keys().run_result(run.run) : options.reply_key;
  run.reply_ttl_ms = options.result_ttl.count();
  run.started_ms = now;
  run.events = options.events;
  run.priority = options.priority;
  if (options.delay.count() > 0) run.not_before_ms = now + options.delay.count();
  run.resume_of = options.resume_of;
  run.recorded = options.keep_record;
  Submission out{run.run, run.reply, run.session};
  // One group: a schedule's claim (put first in it) skips the run's index and record with its jobs.
  ops.begin_group();
  if (named) {
    std::vector<std::string> queue_keys;
    for (const auto& name : queues_of(flow)) queue_keys.push_back(flow.keys().queue(name));
    ops.note_session(run.session, run.run, options.session_ttl.count(), queue_keys);
  }
  if (options.keep_record) {
    ops.record_run(flow.keys().run_record(run.run), dump_text(input.to_json()), flow.flow().name, flow.hash(),
                   run.session, options.resume_of);
  }
  Planner(flow).start_run(std::move(input), std::move(run), ops, false);
  return out;
}

Result<std::vector<Submission>> submit_runs(Connection& c, const PlannedFlow& flow, std::vector<State> inputs,
                                            const SubmitOptions& options) {
  OpList ops;
  std::vector<Submission> out;
  out.reserve(inputs.size());
  const long long now = unix_ms();
  for (State& input : inputs) out.push_back(plan_run(flow, std::move(input), options, now, new_run_id(), ops));
  if (auto st = send_planned(c, flow, ops, now, options.all_events); !st) return fail(std::move(st.error()));
  return out;
}

Status send_planned(Connection& c, const PlannedFlow& flow, OpList& ops, long long now, bool all_events) {
  StepHeader header;
  header.now_ms = now;
  header.token_prefix = "submit";
  header.all_events = all_events;
  header.run_results = flow.keys().run_results();
  // A run that starts with a big batch is added in calls of bounded size (op_chunks.hpp): its
  // items first, then its join and the rest. A submitter killed between them leaves the items
  // added so far to run for a run that never gets an outcome and whose id nobody was told.
  std::vector<OpGroup> parts;
  for (auto& g : ops.take_fed_groups()) {
    // A big batch's items are planned a chunk at a time, each chunk sent before the next is planned.
    for (const auto& feed : g.feeds) {
      while (feed->remaining() > 0) {
        std::vector<std::string> argv = header.argv();
        OpGroup chunk = next_chunk(*feed, check_of(g.ops));
        argv.insert(argv.end(), std::make_move_iterator(chunk.begin()), std::make_move_iterator(chunk.end()));
        if (auto r = run_script(c, ScriptId::step, argv); !r) return fail(std::move(r.error()));
      }
    }
    for (auto& part : chunk_group(std::move(g.ops))) parts.push_back(std::move(part));
  }
  // A value over a chunk (the input of a big batch, say) goes out of line (blobs.hpp), under a
  // name of this submission's own.
  const std::string blob_token = "submit-" + new_run_id();
  for (std::size_t at = 0; at < parts.size();) {
    const std::size_t n = groups_per_call(std::span<const OpGroup>(parts).subspan(at));
    std::vector<std::string> argv = header.argv();
    std::vector<std::vector<std::string>> ahead;
    std::vector<OpGroup> originals;  // of the groups sent with blobs: sent again should one be refused
    for (std::size_t g = at; g < at + n; ++g) {
      auto blobbed = blob_values(parts[g], blob_token + "-" + std::to_string(g), header.run_results);
      OpGroup& sent = blobbed ? blobbed->group : parts[g];
      argv.insert(argv.end(), std::make_move_iterator(sent.begin()), std::make_move_iterator(sent.end()));
      if (blobbed) {
        for (auto& command : blobbed->commands) ahead.push_back(std::move(command));
        originals.push_back(std::move(parts[g]));
      } else {
        originals.emplace_back();
      }
      OpGroup().swap(parts[g]);  // what was sent is not kept meanwhile
    }
    at += n;
    // A refused push (memory, say) leaves its blob not whole, and the call refuses its group.
    if (!ahead.empty()) {
      if (auto r = c.pipeline(ahead); !r) return fail(std::move(r.error()));
    }
    auto r = run_script(c, ScriptId::step, argv);
    if (!r) return fail(std::move(r.error()));
    if (ahead.empty()) continue;
    auto reply = decode_step_reply(*r);
    if (!reply) return fail(std::move(reply.error()));
    for (const auto& [group, code] : reply->refused) {
      if (code != kBlobGoneCode || group < 1 || static_cast<std::size_t>(group) > originals.size()) continue;
      // sent again with its values in it
      std::vector<std::string> again = header.argv();
      OpGroup& g = originals[static_cast<std::size_t>(group) - 1];
      again.insert(again.end(), std::make_move_iterator(g.begin()), std::make_move_iterator(g.end()));
      if (auto r2 = run_script(c, ScriptId::step, again); !r2) return fail(std::move(r2.error()));
    }
  }
  return {};
}

Result<Submission> submit_run(Connection& c, const PlannedFlow& flow, State input, const SubmitOptions& options) {
  std::vector<State> one;
  one.push_back(std::move(input));
  auto r = submit_runs(c, flow, std::move(one), options);
  if (!r) return fail(std::move(r.error()));
  return std::move(r->front());
}

namespace {
Result<Json> parse_outcome(const std::string& key, const std::string& text) {
  auto parsed = parse_outside_json(text);
  Json j = parsed ? std::move(*parsed) : Json();
  if (!j.is_object() || !j.contains("ok")) {
    return fail(errors::validation(key, text.substr(0, 200), "is not a run outcome"));
  }
  return j;
}

/// A run whose outcome went to a reply list of many runs keeps it under its own key as a string
/// (step.lua, op "O"), where a list's readers find WRONGTYPE: read it there instead.
Result<std::optional<Json>> read_kept_outcome(Connection& c, const std::string& key) {
  auto r = c.command({"GET", key});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::execution("redis", "GET " + key + ": " + r->str));
  if (r->is_nil()) return std::optional<Json>();
  auto j = parse_outcome(key, r->str);
  if (!j) return fail(std::move(j.error()));
  return std::optional<Json>(std::move(*j));
}

bool wrong_type(const Reply& r) { return r.is_error() && r.str.starts_with("WRONGTYPE"); }

/// The chunks' count and bytes when `first` (the first element of a run's key) is the header of
/// an outcome its worker staged in chunks (op_chunks.hpp, outcome_chunks_header).
std::optional<std::pair<std::size_t, std::size_t>> chunks_header(const std::string& first) {
  if (!first.starts_with("{\"am2zChunks\":")) return std::nullopt;
  auto parsed = parse_outside_json(first);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const auto chunks = parsed->find("am2zChunks");
  const auto bytes = parsed->find("bytes");
  if (chunks == parsed->end() || bytes == parsed->end() || !chunks->is_number_unsigned() ||
      !bytes->is_number_unsigned()) {
    return std::nullopt;
  }
  // as its worker cuts it: a forged header cannot make its reader ask for millions of chunks
  const auto n = chunks->get<std::size_t>(), size = bytes->get<std::size_t>();
  if (size > kMaxRedisStringBytes || n != value_chunks(size)) return std::nullopt;
  return std::make_pair(n, size);
}

/// The outcome whose first element under `key` is `first`: itself, or the chunks that follow a
/// header, read a chunk per command (none writes or reads more than kValueChunkBytes: a reply
/// of megabytes costs Redis a page fault per 4 KiB of its output buffer) and joined.
Result<Json> read_whole_outcome(Connection& c, const std::string& key, std::string first) {
  const auto header = chunks_header(first);
  if (!header) return parse_outcome(key, first);
  const auto [chunks, bytes] = *header;
  auto text = join_chunks(c, key, 1, chunks);
  if (!text) return fail(std::move(text.error()));
  if (text->size() != bytes) {
    return fail(errors::execution("redis", "the outcome at " + key + " is " + std::to_string(text->size()) +
                                               " bytes in its chunks, not the " + std::to_string(bytes) +
                                               " its header names (it expired or was replaced while read)"));
  }
  return parse_outcome(key, *text);
}
}  // namespace

Result<Json> wait_outcome(Connection& c, const std::string& reply_key, std::optional<Deadline> deadline,
                          const CancelToken& cancel) {
  // Block in slices so Ctrl-C and the caller's deadline are noticed within a fraction of a second.
  constexpr std::chrono::milliseconds kSlice{250};
  constexpr std::chrono::seconds kReconnectFor{60};
  Deadline lost_since = kNoDeadline;  // when Redis went away; kNoDeadline: it did not
  std::chrono::milliseconds backoff{50};
  for (;;) {
    if (cancel.cancelled()) return fail(errors::cancelled(cancel.reason()));
    auto slice = kSlice;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - SteadyClock::now());
      if (left.count() <= 0) return fail(errors::timeout("wait for " + reply_key, 0));
      slice = std::min(slice, left);
    }
    const double seconds = std::max<double>(0.001, static_cast<double>(slice.count()) / 1000.0);
    auto r = c.command({"BLMOVE", reply_key, reply_key, "LEFT", "LEFT", std::to_string(seconds)},
                       slice + std::chrono::milliseconds(2000));
    // Redis restarted (still loading its data, say) or the network blipped: the outcome will
    // still be there; reconnect with backoff for a while before giving up.
    const bool transient_reply = r && r->is_error() && is_transient_reply(r->str);
    if ((!r && r.error().category == ErrorCategory::network) || transient_reply) {
      if (lost_since == kNoDeadline) lost_since = SteadyClock::now();
      if (SteadyClock::now() - lost_since > kReconnectFor) {
        return r ? fail(errors::network(reply_key, 0, r->str)) : fail(std::move(r.error()));
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    lost_since = kNoDeadline;
    backoff = std::chrono::milliseconds(50);
    if (!r) return fail(std::move(r.error()));
    if (wrong_type(*r)) {
      auto kept = read_kept_outcome(c, reply_key);
      if (!kept) return fail(std::move(kept.error()));
      if (*kept) return std::move(**kept);
      continue;  // replaced meanwhile (it expired and a list came): block on that
    }
    if (r->is_error()) return fail(errors::execution("redis", "BLMOVE " + reply_key + ": " + r->str));
    if (r->type == Reply::Type::string) return read_whole_outcome(c, reply_key, std::move(r->str));
  }
}

Result<std::optional<Json>> read_outcome(Connection& c, const std::string& reply_key) {
  auto r = c.command({"LINDEX", reply_key, "0"});
  if (!r) return fail(std::move(r.error()));
  if (wrong_type(*r)) return read_kept_outcome(c, reply_key);
  if (r->is_error()) return fail(errors::execution("redis", "LINDEX " + reply_key + ": " + r->str));
  if (r->is_nil()) return std::optional<Json>();
  auto j = read_whole_outcome(c, reply_key, std::move(r->str));
  if (!j) return fail(std::move(j.error()));
  return std::optional<Json>(std::move(*j));
}

Status cancel_runs(Connection& c, const KeySpace& keys, const std::vector<std::string>& run_ids,
                   const std::string& session, const Error& why, std::chrono::milliseconds result_ttl) {
  if (run_ids.empty()) return {};
  const long long now = unix_ms();
  OpList ops;
  ops.begin_group();
  for (const auto& run_id : run_ids) {
    const std::string key = keys.run_result(run_id);
    ops.outcome(key, dump_text(outcome_payload(run_id, fail(why))), result_ttl.count(), key, session,
                OpList::end_for(why.category), keys.run_record(run_id));
  }
  StepHeader header;
  header.now_ms = now;
  header.token_prefix = "cancel";
  header.run_results = keys.run_results();
  std::vector<std::string> argv = header.argv();
  ops.append_to(argv);
  if (auto r = run_script(c, ScriptId::step, argv); !r) return fail(std::move(r.error()));
  const long long forget_before = now - std::chrono::milliseconds(kCancelledMemory).count();
  std::vector<std::string> zadd{"ZADD", keys.cancelled_runs()};
  for (const auto& run_id : run_ids) {
    zadd.push_back(std::to_string(now));
    zadd.push_back(run_id);
  }
  auto r = c.pipeline({zadd, {"ZREMRANGEBYSCORE", keys.cancelled_runs(), "-inf", std::to_string(forget_before)}});
  if (!r) return fail(std::move(r.error()));
  return {};
}

Status cancel_run(Connection& c, const KeySpace& keys, const std::string& run_id, const std::string& session,
                  const Error& why, std::chrono::milliseconds result_ttl) {
  return cancel_runs(c, keys, {run_id}, session, why, result_ttl);
}

}  // namespace am2z::redis
