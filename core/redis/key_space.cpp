#include "core/redis/key_space.hpp"

#include <string>

namespace am2z::redis {

namespace {

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace

KeySpace::KeySpace(std::string prefix)
    : prefix_(std::move(prefix)), own_(prefix_ == "bull" ? std::string("am2z:") : prefix_ + ":am2z:") {}

std::string KeySpace::queue(std::string_view name) const {
  std::string out = prefix_;
  out += ':';
  out += name;
  out += ':';
  return out;
}

std::string KeySpace::all_queue_keys() const {
  std::string out;
  for (const char c : prefix_) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out + ":*:*";
}

std::optional<std::pair<std::string_view, std::string_view>> KeySpace::split_queue_key(std::string_view key) const {
  if (key.size() <= prefix_.size() + 1 || !key.starts_with(prefix_) || key[prefix_.size()] != ':' ||
      key.starts_with(own_)) {
    return std::nullopt;
  }
  const std::string_view rest = key.substr(prefix_.size() + 1);
  const std::size_t colon = rest.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == rest.size()) return std::nullopt;
  return std::pair{rest.substr(0, colon), rest.substr(colon + 1)};
}

std::string KeySpace::worker_client_name(std::string_view queue, std::string_view worker) const {
  return prefix_ + ":" + base64(queue) + ":w:" + std::string(worker);
}

std::string KeySpace::run_result(std::string_view run_id) const { return run_results() + std::string(run_id); }

std::string KeySpace::worker(std::string_view name) const { return own_ + "worker:" + std::string(name); }

}  // namespace am2z::redis
