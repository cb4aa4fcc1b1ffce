#include "core/redis/connection.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <thread>

#include "core/sigpipe_block.hpp"

namespace am2z::redis {

bool is_transient_reply(std::string_view error_text) {
  if (is_redirect_reply(error_text)) return true;  // a Redis Cluster slot moved: the call goes there next
  for (std::string_view code : {"LOADING", "BUSY", "OOM", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN"}) {
    if (error_text.find(code) != std::string_view::npos) return true;
  }
  return false;
}

bool is_redirect_reply(std::string_view error_text) {
  return error_text.starts_with("MOVED ") || error_text.starts_with("ASK ");
}

bool is_transient(const Error& e) { return e.category == ErrorCategory::network || is_transient_reply(e.message); }

namespace {

Reply copy_reply(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:  // hiredis 0.14 (Debian 12) speaks RESP2 only
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
  }
  return out;
}

struct ReplyDeleter {
  void operator()(void* r) const { freeReplyObject(r); }
};
using OwnedReply = std::unique_ptr<void, ReplyDeleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

// The command in Redis's protocol (RESP), written here in one buffer: hiredis's
// redisAppendCommandArgv writes each argument's length with its own printf (sdscatfmt), which
// cost a worker at -c 64 about an eighth of its instructions per job (callgrind).
std::string resp_of(const std::vector<std::string>& args) {
  std::size_t size = 16;
  for (const auto& a : args) size += a.size() + 24;
  std::string out;
  out.reserve(size);
  const auto count = [&out](char mark, std::size_t n) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.push_back(mark);
    out.append(digits, end);
    out.append("\r\n", 2);
  };
  count('*', args.size());
  for (const auto& a : args) {
    count('$', a.size());
    out.append(a);
    out.append("\r\n", 2);
  }
  return out;
}

void append(redisContext* ctx, const std::vector<std::string>& args) {
  const std::string command = resp_of(args);
  redisAppendFormattedCommand(ctx, command.data(), command.size());
}

}  // namespace

long long to_integer(std::string_view text) {
  long long v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() ? v : 0;
}

Connection::Connection(Endpoint endpoint, ConnectOptions options)
    : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

Connection::~Connection() { close(); }

void Connection::close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

Error Connection::io_error(std::string_view what) {
  std::string detail = ctx_ != nullptr && ctx_->errstr[0] != '\0' ? ctx_->errstr : "connection lost";
  Error e = errors::network(endpoint_.display(), 0, std::string(what) + ": " + detail);
  e.message = "Redis at " + endpoint_.display() + ": " + std::string(what) + ": " + detail;
  e.retryable = true;
  lost_ = lost_ || connected_once_;
  close();
  return e;
}

Status Connection::connect() {
  if (auto st = connect_node(); !st) return st;
  if (!endpoint_.slot_key.empty()) {
    if (auto st = find_slot_owner(); !st) return st;
  }
  connected_once_ = true;
  if (lost_) {
    lost_ = false;
    if (options_.on_reconnect) options_.on_reconnect();
  }
  return {};
}

Status Connection::connect_node() {
  close();
  const timeval tv = to_timeval(options_.connect_timeout);
  ctx_ = endpoint_.unix_path.empty() ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                                     : redisConnectUnixWithTimeout(endpoint_.unix_path.c_str(), tv);
  if (ctx_ == nullptr) return fail(errors::resource("redis connection", 0, 0));
  if (ctx_->err != 0) return fail(io_error("cannot connect"));
  // hiredis frees its idle reply buffer once it grew past 16 KiB, so a worker whose replies are
  // bigger than that (one step-script call returns every job it fetched) allocated and freed it
  // on every call; keep up to 1 MiB.
  ctx_->reader->maxbuf = 1u << 20;
  current_timeout_ = std::chrono::milliseconds(-1);
  if (auto st = set_read_timeout(options_.command_timeout); !st) return st;

  auto must = [&](std::vector<std::string> args, std::string_view what) -> Status {
    auto r = send_and_read(args);
    if (!r) return fail(std::move(r.error()));
    if (r->is_error()) {
      Error e = errors::configuration("redis", std::string(what) + " refused: " + r->str);
      e.message = "Redis at " + endpoint_.display() + " refused " + std::string(what) + ": " + r->str;
      close();
      return fail(std::move(e));
    }
    return {};
  };
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
    auth.push_back(endpoint_.password);
    if (auto st = must(std::move(auth), "AUTH"); !st) return st;
  }
  if (endpoint_.db != 0) {
    if (auto st = must({"SELECT", std::to_string(endpoint_.db)}, "SELECT"); !st) return st;
  }
  if (!options_.client_name.empty()) {
    if (auto st = must({"CLIENT", "SETNAME", options_.client_name}, "CLIENT SETNAME"); !st) return st;
  }
  return {};
}

namespace {

constexpr int kMaxRedirects = 5;

/// Whether Redis Cluster hashes `key` by a tag: the text between its first '{' and the next '}',
/// when not empty.
bool has_hash_tag(std::string_view key) {
  const auto open = key.find('{');
  if (open == std::string_view::npos) return false;
  const auto close = key.find('}', open + 1);
  return close != std::string_view::npos && close > open + 1;
}

}  // namespace

bool Connection::follow_moved(const Reply& r) {
  if (!r.is_error() || !r.str.starts_with("MOVED ")) return false;
  // "MOVED <slot> <host>:<port>"; the host may be empty (the node does not know its address)
  const std::string_view text(r.str);
  const auto space = text.rfind(' ');
  const auto colon = text.rfind(':');
  if (space == std::string_view::npos || colon == std::string_view::npos || colon < space) return false;
  const std::string host(text.substr(space + 1, colon - space - 1));
  int port = 0;
  for (char ch : text.substr(colon + 1)) {
    if (ch < '0' || ch > '9') return false;
    port = port * 10 + (ch - '0');
  }
  if (!host.empty()) endpoint_.host = host;
  endpoint_.port = port;
  endpoint_.unix_path.clear();
  close();
  return true;
}

Status Connection::find_slot_owner() {
  auto slot = send_and_read({"CLUSTER", "KEYSLOT", endpoint_.slot_key});
  if (!slot) return fail(std::move(slot.error()));
  if (slot->is_error()) return {};  // "cluster support disabled": a plain Redis
  if (!has_hash_tag(endpoint_.slot_key)) {
    Error e = errors::configuration("redis", "cluster without a hash-tagged prefix");
    e.message = "Redis at " + endpoint_.display() +
                " is a Redis Cluster node: every key of an am2z deployment must share one hash slot, so its "
                "--prefix must be a hash tag such as '{am2z}' (one deployment per tag; see README, Redis Cluster)";
    close();
    return fail(std::move(e));
  }
  for (int hop = 0; hop < kMaxRedirects; ++hop) {
    auto r = send_and_read({"EXISTS", endpoint_.slot_key});
    if (!r) return fail(std::move(r.error()));
    if (!follow_moved(*r)) return {};  // this node serves the slot
    if (auto st = connect_node(); !st) return st;
  }
  return fail(io_error("too many MOVED redirections"));
}

Status Connection::set_read_timeout(std::chrono::milliseconds t) {
  if (t == current_timeout_) return {};
  const timeval tv = to_timeval(t);
  if (redisSetTimeout(ctx_, tv) != REDIS_OK) return fail(io_error("cannot set the timeout"));
  current_timeout_ = t;
  return {};
}

Result<Reply> Connection::send_and_read(const std::vector<std::string>& args) {
  append(ctx_, args);
  void* raw = nullptr;
  SigpipeBlock sigpipe;  // a server that went away fails the write, not the process
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
    sigpipe.note_epipe();
    return fail(io_error(args.empty() ? "command" : args.front()));
  }
  OwnedReply owned(raw);
  return copy_reply(static_cast<redisReply*>(raw));
}

Result<Reply> Connection::command(const std::vector<std::string>& args) {
  return command(args, options_.command_timeout);
}

Status Connection::send(const std::vector<std::string>& args) {
  if (ctx_ == nullptr) {
    if (auto st = connect(); !st) return st;
  }
  if (auto st = set_read_timeout(options_.command_timeout); !st) return st;
  append(ctx_, args);
  // Write it all now (blocking): Redis reads and queues its replies meanwhile, so this cannot
  // wait on a reply we have not read.
  SigpipeBlock sigpipe;
  for (int done = 0; done == 0;) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
      sigpipe.note_epipe();
      return fail(io_error(args.empty() ? "command" : args.front()));
    }
  }
  return {};
}

Result<Reply> Connection::receive() {
  if (ctx_ == nullptr) return fail(io_error("reply"));
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return fail(io_error("reply"));
  OwnedReply owned(raw);
  Reply r = copy_reply(static_cast<redisReply*>(raw));
  // A moved slot: the calls still in flight are lost with the connection; the caller sends
  // them again (a transient reply), to the node MOVED named.
  follow_moved(r);
  return r;
}

Result<Reply> Connection::command(const std::vector<std::string>& args, std::chrono::milliseconds read_timeout) {
  if (ctx_ == nullptr) {
    if (auto st = connect(); !st) return fail(std::move(st.error()));
  }
  if (auto st = set_read_timeout(read_timeout); !st) return fail(std::move(st.error()));
  auto r = send_and_read(args);
  // A Redis Cluster moved the deployment's slot: go where it is now and ask there.
  for (int hop = 0; r && follow_moved(*r) && hop < kMaxRedirects; ++hop) {
    if (auto st = connect(); !st) return fail(std::move(st.error()));
    if (auto st = set_read_timeout(read_timeout); !st) return fail(std::move(st.error()));
    r = send_and_read(args);
  }
  return r;
}

Result<std::vector<Reply>> Connection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  auto replies = pipeline_once(commands);
  // Every command was refused with MOVED (the deployment's keys share one slot): none ran, so
  // the whole pipeline goes to the node that has the slot now.
  for (int hop = 0; replies && !replies->empty() && hop < kMaxRedirects; ++hop) {
    const bool all_moved = std::all_of(replies->begin(), replies->end(),
                                       [](const Reply& r) { return r.is_error() && r.str.starts_with("MOVED "); });
    if (!all_moved || !follow_moved(replies->front())) break;
    replies = pipeline_once(commands);
  }
  return replies;
}

Result<std::vector<Reply>> Connection::pipeline_once(const std::vector<std::vector<std::string>>& commands) {
  if (ctx_ == nullptr) {
    if (auto st = connect(); !st) return fail(std::move(st.error()));
  }
  if (auto st = set_read_timeout(options_.command_timeout); !st) return fail(std::move(st.error()));
  for (const auto& c : commands) append(ctx_, c);
  std::vector<Reply> out;
  out.reserve(commands.size());
  SigpipeBlock sigpipe;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      sigpipe.note_epipe();
      return fail(io_error("pipeline"));
    }
    OwnedReply owned(raw);
    out.push_back(copy_reply(static_cast<redisReply*>(raw)));
  }
  return out;
}

Status scan(Connection& c, const std::string& pattern, const std::function<void(std::string&&)>& each) {
  std::string cursor = "0";
  do {
    auto r = c.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!r) return fail(std::move(r.error()));
    if (r->is_error()) return fail(errors::network("SCAN", 0, r->str));
    if (!r->is_array() || r->elements.size() != 2) return fail(errors::network("SCAN", 0, "unexpected reply"));
    cursor = r->elements[0].str;
    for (auto& k : r->elements[1].elements) each(std::move(k.str));
  } while (cursor != "0");
  return {};
}

Status connect_with_backoff(Connection& c, std::chrono::milliseconds give_up_after) {
  const auto until = std::chrono::steady_clock::now() + give_up_after;
  std::chrono::milliseconds delay{50};
  for (;;) {
    Status st = c.connect();
    if (st || st.error().category == ErrorCategory::configuration) return st;
    if (std::chrono::steady_clock::now() + delay > until) return st;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace am2z::redis
