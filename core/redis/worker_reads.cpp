// What pool threads read from Redis, each on a connection of its own (the dispatcher's is not
// for them), riding out a Redis restart: a big join's children as it merges them, and a fetched
// job's data when it was kept out of line (blobs.hpp).
#include <thread>

#include "core/redis/blobs.hpp"
#include "core/redis/join_children.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

Status Worker::Impl::read_blob_data(FetchedJob& job, Finished& f) {
  const auto ref = blob_ref(job.field("data"));
  if (!ref || !blob_of_run(*ref, run_key_of_job(space.run_results(), job.id))) return {};
  std::string text;
  Status st = until_not_transient("the data of " + job.key(), [&]() -> Status {
    Connection c(options.endpoint, ConnectOptions{});
    if (Status connected = c.connect(); !connected) return connected;
    auto read = read_blob(c, *ref, options.max_job_bytes);
    if (!read) return fail(std::move(read.error()));
    text = std::move(*read);
    return {};
  });
  if (!st) {
    st.error().message = job.key() + " data: " + st.error().message;
    return st;
  }
  job.fields["data"] = std::move(text);
  f.data_blob = ref->key;
  return {};
}

Worker::Impl::ScannedChildren::ScannedChildren(Impl& worker, std::string key)
    : worker_(worker), scan_(std::move(key)) {}

std::optional<std::pair<std::string, std::string>> Worker::Impl::ScannedChildren::next() {
  while (at_ == chunk_.size()) {
    if (scan_.done() || failure_) return std::nullopt;
    chunk_.clear();
    at_ = 0;
    if (!read_chunk()) return std::nullopt;
  }
  return std::move(chunk_[at_++]);
}

bool Worker::Impl::ScannedChildren::read_chunk() {
  Status st = worker_.until_not_transient("the children in " + scan_.key(), [this]() -> Status {
    if (!conn_) {
      conn_ = std::make_unique<Connection>(worker_.options.endpoint, ConnectOptions{});
      if (Status c = conn_->connect(); !c) {
        conn_.reset();
        return c;
      }
    }
    auto fields = scan_.next(*conn_);  // on failure the cursor stays: the same chunk is read again
    if (!fields) {
      conn_.reset();
      return fail(std::move(fields.error()));
    }
    chunk_ = std::move(*fields);
    return {};
  });
  if (!st) failure_ = std::move(st.error());
  return static_cast<bool>(st);
}

Status Worker::Impl::read_children(FetchedJob& job) {
  // On a connection of its own: the dispatcher's is not for pool threads.
  return until_not_transient("the children of join " + job.key(), [&]() -> Status {
    Connection c(options.endpoint, ConnectOptions{});
    Status st = c.connect();
    if (st) st = read_join_failures(c, job);
    return st;
  });
}

Status Worker::Impl::until_not_transient(const std::string& what, const std::function<Status()>& attempt) const {
  // Redis may be away for a while (a restart); the join stays active meanwhile and the
  // dispatcher renews its lock once Redis is back, so a transient failure is tried again until
  // the attempt succeeds or the worker stops.
  auto backoff = options.redis_backoff_min;
  while (true) {
    Status st = attempt();
    if (st || st.error().category != ErrorCategory::network || stopping.load()) return st;
    log->warn("reading {} failed: {}; trying again in {} ms", what, st.error().message, backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, options.redis_backoff_max);
  }
}

}  // namespace am2z::redis
