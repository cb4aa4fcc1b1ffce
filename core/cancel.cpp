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

  void fire(const std::string& why) {
    std::map<std::uint64_t, std::function<void()>> to_run;
    {
      std::lock_guard lock(mutex);
      if (fired.load(std::memory_order_relaxed)) return;
      reason = why;
      fired.store(true, std::memory_order_release);
      to_run.swap(callbacks);
    }
    cv.notify_all();
    for (auto& [id, fn] : to_run) fn();
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
  if (state_) {
    std::lock_guard lock(state_->mutex);
    state_->callbacks.erase(id_);
  }
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
