#include "core/fan_out.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace am2z {

namespace {

/// What the caller and its helpers share. Owned jointly, so a helper that starts after the
/// caller returned still has valid counters; `piece` is only called for a claimed index, and
/// the caller waits until every claimed index is done, so it is valid whenever it is called.
struct Claims {
  std::size_t n = 0;
  std::size_t max_helpers = 0;
  const std::function<void(std::size_t)>* piece = nullptr;
  TaskPool* pool = nullptr;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> helpers{0};
  std::atomic<std::size_t> done{0};
  std::mutex mutex;  ///< with all_done: the caller's wait once spinning did not see the end
  std::condition_variable all_done;
};

/// How long the caller spins for pieces a helper is finishing before it sleeps: a short piece
/// ends sooner than a sleeping thread wakes (tens of microseconds on a loaded machine).
constexpr auto kSpin = std::chrono::microseconds(50);

void drain(const std::shared_ptr<Claims>& c, bool is_helper);

/// Starts one more helper if the limit allows.
void add_helper(const std::shared_ptr<Claims>& c) {
  if (c->helpers.fetch_add(1) >= c->max_helpers) return;
  c->pool->submit([c] { drain(c, true); });
}

void drain(const std::shared_ptr<Claims>& c, bool is_helper) {
  for (;;) {
    // A helper about to take a piece while others are left makes sure they do not wait for it
    // to end. It starts the next helper first: a piece then starts as soon as it is claimed.
    if (is_helper && c->next.load() + 1 < c->n) add_helper(c);
    const std::size_t i = c->next.fetch_add(1);
    if (i >= c->n) return;
    (*c->piece)(i);
    if (c->done.fetch_add(1) + 1 == c->n) {
      std::lock_guard lock(c->mutex);  // the caller checks under it before sleeping
      c->all_done.notify_all();
    }
  }
}

}  // namespace

void fan_out(TaskPool& pool, std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& piece) {
  if (n == 0) return;
  auto c = std::make_shared<Claims>();
  c->n = n;
  c->max_helpers = (threads > 1 ? threads : 1) - 1;
  c->piece = &piece;
  c->pool = &pool;
  if (n > 1) add_helper(c);
  drain(c, false);
  const auto spin_until = std::chrono::steady_clock::now() + kSpin;
  while (c->done.load() != c->n) {
    if (std::chrono::steady_clock::now() > spin_until) {
      std::unique_lock lock(c->mutex);
      c->all_done.wait(lock, [&] { return c->done.load() == c->n; });
      break;
    }
    std::this_thread::yield();
  }
}

}  // namespace am2z
