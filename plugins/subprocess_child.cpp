// One started program under its reaper, watched until everything it started is gone: its pipes
// pumped concurrently, its deadline, token and output limit enforced through the reaper.
#include "plugins/subprocess_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "core/sigpipe_block.hpp"

namespace am2z::detail {

namespace {

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/// Keeps the last `keep` bytes; trims lazily so appending stays amortised O(n).
void append_tail(std::string& tail, const char* data, std::size_t n, std::size_t keep) {
  if (keep == 0) return;
  if (n >= keep) {
    tail.assign(data + (n - keep), keep);
    return;
  }
  tail.append(data, n);
  if (tail.size() > 2 * keep) tail.erase(0, tail.size() - keep);
}

int millis_until(SteadyClock::time_point t, SteadyClock::time_point now) {
  if (t <= now) return 0;
  auto ms = std::chrono::ceil<Millis>(t - now).count();
  return static_cast<int>(std::min<long long>(ms, INT_MAX));
}

/// One started program under its reaper: pumps its pipes, enforces the deadline and the token
/// through the reaper, and waits until the reaper reports that everything is gone.
class Child {
 public:
  Child(const SubprocessOptions& options, detail::ReaperHandle reaper, Fd in, Fd out, Fd err)
      : options_(options),
        reaper_(reaper.reaper),
        channel_(reaper.channel),
        in_(std::move(in)),
        out_(std::move(out)),
        err_(std::move(err)) {}

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Only reached without wait() on an exception: the program must not outlive us.
  ~Child() {
    if (!reaped_) {
      order(detail::ReaperOrder::kill);
      reap();
    }
  }

  SubprocessResult wait() {
    watch();
    SigpipeBlock sigpipe;
    sigpipe_ = &sigpipe;
    pump();
    in_.reset();
    drain_rest(out_, false);
    drain_rest(err_, true);
    if (!line_.empty()) pass_line(line_, false);  // a last line without its newline
    reap();
    sigpipe_ = nullptr;
    if (result_.err_tail.size() > options_.stderr_tail) {
      result_.err_tail.erase(0, result_.err_tail.size() - options_.stderr_tail);
    }
    return std::move(result_);
  }

 private:
  enum class Phase { running, terminating, killed };
  static constexpr std::size_t kChunk = 64 * 1024;

  // Set up here rather than in the constructor: if anything throws, the destructor still
  // stops and reaps the program.
  void watch() {
    set_nonblocking(in_.get());
    set_nonblocking(out_.get());
    set_nonblocking(err_.get());
    if (options_.input.empty()) in_.reset();
    if (options_.cancel != nullptr) {
      auto wake = std::make_shared<Fd>(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      wake_ = wake;
      // The callback owns the descriptor too: one racing with our return still writes to an
      // open descriptor.
      cancel_registration_ = options_.cancel->on_cancel([wake] {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake->get(), &one, sizeof one);
      });
    }
  }

  void order(detail::ReaperOrder what) { detail::send_order(channel_.get(), what); }

  /// Until the reaper says the program and everything it started are gone.
  void pump() {
    while (true) {
      auto now = SteadyClock::now();
      check_limits(now);

      pollfd fds[5];
      nfds_t n = 0;
      auto add = [&](const Fd& fd, short events) -> int {
        if (!fd.is_open()) return -1;
        fds[n] = pollfd{fd.get(), events, 0};
        return static_cast<int>(n++);
      };
      int in_i = add(in_, POLLOUT);
      int out_i = add(out_, POLLIN);
      int err_i = add(err_, POLLIN);
      int channel_i = add(channel_, POLLIN);
      int wake_i = (wake_ && phase_ == Phase::running) ? add(*wake_, POLLIN) : -1;

      int rc = ::poll(fds, n, poll_timeout(now));
      if (rc < 0) {
        if (errno == EINTR) continue;
        // Cannot watch it any more: make sure it is gone (reap() waits for the reaper).
        order(detail::ReaperOrder::kill);
        phase_ = Phase::killed;
        return;
      }
      auto fired = [&](int i) { return i >= 0 && fds[i].revents != 0; };
      if (fired(in_i)) write_input();
      if (fired(out_i)) read_some(out_, false);
      if (fired(err_i)) read_some(err_, true);
      if (fired(wake_i)) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_->get(), &count, sizeof count);
      }
      if (fired(channel_i) && listen()) return;
    }
  }

  /// True once the reaper has reported (or is gone).
  bool listen() {
    switch (detail::read_news(channel_.get(), wait_status_)) {
      case detail::ReaperNews::nothing:
        return false;
      case detail::ReaperNews::exited:
        have_status_ = true;
        return true;
      case detail::ReaperNews::gone:
        return true;
    }
    return true;
  }

  void check_limits(SteadyClock::time_point now) {
    if (phase_ == Phase::running) {
      if (options_.cancel != nullptr && options_.cancel->cancelled()) {
        result_.cancelled = true;
        terminate(now);
      } else if (options_.deadline != kNoDeadline && now >= options_.deadline) {
        result_.timed_out = true;
        terminate(now);
      }
    }
    if (phase_ == Phase::terminating && now >= kill_at_) {
      order(detail::ReaperOrder::kill);
      phase_ = Phase::killed;
    }
  }

  void terminate(SteadyClock::time_point now) {
    result_.killed = true;
    in_.reset();  // a program being stopped gets no more input
    if (options_.kill_grace.count() <= 0) {
      order(detail::ReaperOrder::kill);
      phase_ = Phase::killed;
      return;
    }
    order(detail::ReaperOrder::terminate);
    kill_at_ = now + options_.kill_grace;
    phase_ = Phase::terminating;
  }

  int poll_timeout(SteadyClock::time_point now) const {
    int timeout = -1;
    if (phase_ == Phase::running && options_.deadline != kNoDeadline) timeout = millis_until(options_.deadline, now);
    if (phase_ == Phase::terminating) timeout = millis_until(kill_at_, now);
    bool must_tick = wake_ && !wake_->is_open() && phase_ == Phase::running;
    if (must_tick) timeout = timeout < 0 ? kTickMs : std::min(timeout, kTickMs);
    return timeout;
  }

  void write_input() {
    std::size_t left = options_.input.size() - written_;
    ssize_t n = ::write(in_.get(), options_.input.data() + written_, std::min(left, kChunk));
    if (n > 0) {
      written_ += static_cast<std::size_t>(n);
      if (written_ == options_.input.size()) in_.reset();  // EOF tells the child the input is complete
      return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    // EPIPE: the child closed stdin without reading everything, which is its right.
    if (n < 0 && errno == EPIPE && sigpipe_ != nullptr) sigpipe_->note_epipe();
    in_.reset();
  }

  // A few reads per wake-up: enough for throughput, bounded so a program flooding its output
  // cannot keep us from noticing the deadline. Stdout goes straight into its buffer.
  void read_some(Fd& fd, bool is_err, int max_reads = 4) {
    char err_buf[kChunk];
    for (int i = 0; i < max_reads && fd.is_open(); ++i) {
      char* at = is_err ? err_buf : result_.out.reserve_tail(kChunk);
      if (at == nullptr) {  // no memory for more output: as good as too much of it
        stop_output();
        return;
      }
      ssize_t n = ::read(fd.get(), at, kChunk);
      if (n > 0) {
        if (is_err) {
          take_stderr(at, static_cast<std::size_t>(n));
          continue;
        }
        result_.out.commit(static_cast<std::size_t>(n));
        if (options_.max_output != 0 && result_.out.size() > options_.max_output) {
          stop_output();
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      fd.reset();  // EOF or a read error
    }
  }

  // A flood of output must not grow our memory until the deadline: stop the program.
  void stop_output() {
    result_.output_too_large = true;
    result_.out.release();
    out_.reset();
    if (phase_ == Phase::running) terminate(SteadyClock::now());
  }

  /// Bytes of a stderr line kept while waiting for its end; a longer line is passed on in pieces.
  static constexpr std::size_t kMaxLine = 1u << 20;

  void take_stderr(const char* data, std::size_t n) {
    if (!options_.on_stderr_line) {
      append_tail(result_.err_tail, data, n, options_.stderr_tail);
      return;
    }
    line_.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = line_.find('\n', start)) != std::string::npos; start = nl + 1) {
      pass_line(std::string_view(line_).substr(start, nl - start), true);
    }
    line_.erase(0, start);
    if (line_.size() > kMaxLine) {
      pass_line(line_, false);
      line_.clear();
    }
  }

  void pass_line(std::string_view line, bool complete) {
    if (options_.on_stderr_line(line)) return;
    append_tail(result_.err_tail, line.data(), line.size(), options_.stderr_tail);
    if (complete) append_tail(result_.err_tail, "\n", 1, options_.stderr_tail);
  }

  // After the program exited: what it wrote is in the pipe already. Something it left behind
  // may still hold the pipe open, so stop at "nothing more right now" rather than wait for EOF.
  void drain_rest(Fd& fd, bool is_err) {
    read_some(fd, is_err, 64);
    fd.reset();
  }

  /// Waits for the reaper, which exits once everything below it is gone.
  void reap() {
    {
      auto& live = live_reapers();
      std::lock_guard lock(live.mutex);
      live.channels.erase(reaper_);
    }
    reaped_ = true;
    int reaper_status = 0;
    pid_t r;
    do {
      r = ::waitpid(reaper_, &reaper_status, 0);
    } while (r < 0 && errno == EINTR);
    // The report may still be queued when we stopped listening early.
    if (!have_status_ && detail::read_news(channel_.get(), wait_status_) == detail::ReaperNews::exited) {
      have_status_ = true;
    }
    channel_.reset();
    if (!have_status_) {
      // The reaper itself was killed from outside: report how it ended.
      if (r != reaper_) return;  // SIGCHLD ignored by the host: the status is lost
      wait_status_ = reaper_status;
    }
    if (WIFEXITED(wait_status_)) {
      result_.exit_code = WEXITSTATUS(wait_status_);
    } else if (WIFSIGNALED(wait_status_)) {
      result_.term_signal = WTERMSIG(wait_status_);
    }
  }

  static constexpr int kTickMs = 10;

  const SubprocessOptions& options_;
  pid_t reaper_;
  Fd channel_;
  Fd in_;
  Fd out_;
  Fd err_;
  std::shared_ptr<Fd> wake_;
  CancelRegistration cancel_registration_;
  SigpipeBlock* sigpipe_ = nullptr;
  std::size_t written_ = 0;
  Phase phase_ = Phase::running;
  SteadyClock::time_point kill_at_{};
  bool reaped_ = false;
  bool have_status_ = false;
  int wait_status_ = 0;
  std::string line_;  ///< an unfinished stderr line, with on_stderr_line
  SubprocessResult result_;
};

}  // namespace

SubprocessResult supervise_child(const SubprocessOptions& options, ReaperHandle reaper, Fd in, Fd out, Fd err) {
  Child child(options, reaper, std::move(in), std::move(out), std::move(err));
  return child.wait();
}

}  // namespace am2z::detail
