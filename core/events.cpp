#include "core/events.hpp"

namespace am2z {

JsonLinesSink::~JsonLinesSink() {
  if (owned_) std::fclose(out_);
}

void JsonLinesSink::publish(const Json& payload) {
  std::string line = payload.dump(-1, ' ', false, Json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace am2z
