#pragma once
// Cancellation: a source fires, every token watching it (and every child source) sees it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace am2z {

using SteadyClock = std::chrono::steady_clock;
/// An absolute point by which work must finish; Deadline::max() means none.
using Deadline = SteadyClock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();
using Millis = std::chrono::milliseconds;

namespace detail {
struct CancelState;
}

class CancelToken;

/// Unregisters a cancellation callback when it goes out of scope; once reset() returns the callback
/// is neither pending nor running, so it may capture references to the registering frame.
class CancelRegistration {
 public:
  CancelRegistration() = default;
  CancelRegistration(std::shared_ptr<detail::CancelState> state, std::uint64_t id)
      : state_(std::move(state)), id_(id) {}
  CancelRegistration(CancelRegistration&& other) noexcept;
  CancelRegistration& operator=(CancelRegistration&& other) noexcept;
  CancelRegistration(const CancelRegistration&) = delete;
  CancelRegistration& operator=(const CancelRegistration&) = delete;
  ~CancelRegistration();
  void reset();

 private:
  std::shared_ptr<detail::CancelState> state_;
  std::uint64_t id_ = 0;
};

/// Read side of a cancellation source. Cheap to copy; `cancelled()` is one atomic load.
class CancelToken {
 public:
  CancelToken() = default;
  explicit CancelToken(std::shared_ptr<detail::CancelState> state) : state_(std::move(state)) {}

  bool cancelled() const noexcept;
  /// False for a default-constructed token, which no source can ever fire.
  bool can_be_cancelled() const noexcept { return state_ != nullptr; }
  /// Why it was cancelled ("interrupted", "timed out after 500ms", ...); empty when not cancelled.
  std::string reason() const;
  /// Runs `fn` once when cancelled (at once, in this thread, if it already is). `fn` must not block.
  CancelRegistration on_cancel(std::function<void()> fn) const;
  /// Sleeps until `until` or cancellation; true when cancelled.
  bool wait_until(SteadyClock::time_point until) const;
  bool wait_for(Millis d) const { return wait_until(SteadyClock::now() + d); }

 private:
  std::shared_ptr<detail::CancelState> state_;
};

/// Write side. A source made from a parent token is cancelled whenever the parent is.
class CancelSource {
 public:
  CancelSource();
  explicit CancelSource(const CancelToken& parent);
  CancelSource(const CancelSource&) = delete;
  CancelSource& operator=(const CancelSource&) = delete;
  ~CancelSource();

  /// Fires once; later calls keep the first reason.
  void cancel(const std::string& reason) const;
  CancelToken token() const { return CancelToken(state_); }
  bool cancelled() const noexcept { return token().cancelled(); }

 private:
  std::shared_ptr<detail::CancelState> state_;
  CancelRegistration parent_link_;
};

}  // namespace am2z
