// Writes to a pipe or socket whose reader is gone raise SIGPIPE, which kills the whole process by
// default. Code that writes to such a peer (a child's stdin, a Redis socket) blocks the signal in
// its thread for the write, so the write fails with EPIPE instead, and consumes the signal it
// raised, so it is never delivered later. The process's own stdout keeps the default behaviour:
// `am2z events --follow | head` still ends when head does.
#pragma once

#include <signal.h>

#include <ctime>

namespace am2z {

class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
  }
  ~SigpipeBlock() {
    if (raised_) {
      timespec zero{};
      while (::sigtimedwait(&pipe_, nullptr, &zero) > 0) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  /// A write under this block failed (perhaps with EPIPE): the signal it raised is consumed.
  void note_epipe() { raised_ = true; }

 private:
  sigset_t pipe_;
  sigset_t previous_;
  bool raised_ = false;
};

}  // namespace am2z
