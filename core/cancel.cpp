#include "core/cancel.hpp"

#include <thread>
#include <vector>

namespace am2z {

namespace detail {
struct CancelState {
  std::atomic<bool> fired{false};
  std::mutex mutex;
  std::condition_variable cv;
  std::string reason;
  std::map<std::uint64_t, std::function<void()>> callbacks;
  std::uint64_t next_id = 1;
  std::uint64_t running_id = 0;  ///< the callback fire() is running right now, outside the lock
  std::thread::id running_thread;

  void fire(const std::string& why) {
    std::unique_lock lock(mutex);
    if (fired.load(std::memory_order_relaxed)) return;
    reason = why;
    fired.store(true, std::memory_order_release);
    cv.notify_all();
    // One at a time, each removed before it runs, so a registration reset meanwhile either
    // prevents its callback or waits for it to finish (see remove()).
    while (!callbacks.empty()) {
      auto node = callbacks.extract(callbacks.begin());
      running_id = node.key();
      running_thread = std::this_thread::get_id();
      lock.unlock();
      node.mapped()();
      lock.lock();
      running_id = 0;
      cv.notify_all();
    }
  }

  /// After this returns the callback will not run and is not running (unless this very thread
  /// is the one running it: a callback may drop its own registration).
  void remove(std::uint64_t id) {
    std::unique_lock lock(mutex);
    callbacks.erase(id);
    cv.wait(lock, [&] { return running_id != id || running_thread == std::this_thread::get_id(); });
  }
};
}  // namespace detail

CancelRegistration::CancelRegistration(CancelRegistration&& other) noexcept
    : state_(std::move(other.state_)), id_(other.id_) {}

CancelRegistration& CancelRegistration::operator=(CancelRegistration&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    id_ = other.id_;
  }
  return *this;
}

CancelRegistration::~CancelRegistration() { reset(); }

void CancelRegistration::reset() {
  if (state_) state_->remove(id_);
  state_.reset();
}

bool CancelToken::cancelled() const noexcept { return state_ && state_->fired.load(std::memory_order_acquire); }

std::string CancelToken::reason() const {
  if (!state_) return {};
  std::lock_guard lock(state_->mutex);
  return state_->reason;
}

CancelRegistration CancelToken::on_cancel(std::function<void()> fn) const {
  if (!state_) return {};
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->fired.load(std::memory_order_relaxed)) {
      const std::uint64_t id = state_->next_id++;
      state_->callbacks.emplace(id, std::move(fn));
      return CancelRegistration(state_, id);
    }
  }
  fn();
  return {};
}

bool CancelToken::wait_until(SteadyClock::time_point until) const {
  if (!state_) {
    std::this_thread::sleep_until(until);
    return false;
  }
  std::unique_lock lock(state_->mutex);
  return state_->cv.wait_until(lock, until, [&] { return state_->fired.load(std::memory_order_relaxed); });
}

CancelSource::CancelSource() : state_(std::make_shared<detail::CancelState>()) {}

CancelSource::CancelSource(const CancelToken& parent) : CancelSource() {
  std::weak_ptr<detail::CancelState> weak = state_;
  parent_link_ = parent.on_cancel([weak, parent] {
    if (auto s = weak.lock()) s->fire(parent.reason());
  });
}

CancelSource::~CancelSource() { parent_link_.reset(); }

void CancelSource::cancel(const std::string& reason) const { state_->fire(reason); }

}  // namespace am2z
