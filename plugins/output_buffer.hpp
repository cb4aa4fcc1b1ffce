#pragma once
// The bytes a program writes on stdout, in one block of anonymous memory grown with mremap: growing
// never holds the old and the new block at once (a std::string doubling to 256 MiB peaks at
// 384 MiB while it copies), capacity not yet written costs no memory, and release() gives the
// pages back to the system at once instead of to the allocator.
#include <sys/mman.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace am2z {

/// A growable byte buffer for program output; move-only.
class OutputBuffer {
 public:
  OutputBuffer() = default;
  OutputBuffer(OutputBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  OutputBuffer& operator=(OutputBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;
  ~OutputBuffer() { release(); }

  std::string_view view() const { return {data_ == nullptr ? "" : data_, size_}; }
  std::string str() const { return std::string(view()); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool operator==(std::string_view other) const { return view() == other; }

  /// Where to write up to `n` more bytes (then commit() them); nullptr when memory ran out.
  char* reserve_tail(std::size_t n) {
    if (capacity_ - size_ >= n) return data_ + size_;
    std::size_t want = capacity_ == 0 ? kFirst : capacity_;
    while (want - size_ < n) want *= 2;
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer does not see mremap: the range a move frees keeps the history of its old
    // accesses, and another thread's buffer mapped there later looked like a data race. A TSan
    // build copies into a new mapping instead.
    const bool fresh = true;
    void* p = ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && data_ != nullptr) {
      std::char_traits<char>::copy(static_cast<char*>(p), data_, size_);
      ::munmap(data_, capacity_);
    }
#else
    const bool fresh = data_ == nullptr;
    void* p = fresh ? ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                    : ::mremap(data_, capacity_, want, MREMAP_MAYMOVE);
#endif
    if (p == MAP_FAILED) return nullptr;
    // Not copied into the step reapers am2z forks meanwhile (see step_reaper.hpp): a fork copies
    // the page tables of every mapping it inherits. mremap keeps the flag.
    if (fresh) ::madvise(p, want, MADV_DONTFORK);
    data_ = static_cast<char*>(p);
    capacity_ = want;
    return data_ + size_;
  }
  /// Counts `n` bytes written at reserve_tail() as part of the content.
  void commit(std::size_t n) { size_ += n; }

  /// Appends `bytes`; false when memory ran out.
  bool append(std::string_view bytes) {
    char* at = reserve_tail(bytes.size());
    if (at == nullptr) return false;
    if (!bytes.empty()) std::char_traits<char>::copy(at, bytes.data(), bytes.size());
    commit(bytes.size());
    return true;
  }

  /// Empties the buffer and returns its memory to the system.
  void release() {
    if (data_ != nullptr) ::munmap(data_, capacity_);
    data_ = nullptr;
    size_ = 0;
    capacity_ = 0;
  }

 private:
  static constexpr std::size_t kFirst = 64 * 1024;

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace am2z
