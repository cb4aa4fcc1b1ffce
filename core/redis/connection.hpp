#pragma once
// One synchronous connection to Redis (hiredis), with connect and command timeouts, AUTH, SELECT
// and reconnection. Not thread-safe: each thread that talks to Redis owns its connections.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis/redis_url.hpp"
#include "core/result.hpp"

struct redisContext;
struct redisReply;

namespace am2z::redis {

/// A reply, copied out of hiredis so it outlives the call.
struct Reply {
  enum class Type { nil, string, integer, array, status, error };
  Type type = Type::nil;
  std::string str;  ///< string, status, error and double replies
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_nil() const { return type == Type::nil; }
  bool is_error() const { return type == Type::error; }
  bool is_array() const { return type == Type::array; }
};

/// A reply's text (a hash field, a counter) as an integer; 0 when it is not one.
long long to_integer(std::string_view text);

struct ConnectOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};  ///< 0: none (blocking commands set their own)
  std::string client_name;                          ///< CLIENT SETNAME after connecting, if set
  /// Called when a connection lost to an I/O error or timeout has been made again (metrics).
  std::function<void()> on_reconnect;
};

/// Whether a Redis error reply is one after which the same command may succeed: the server is
/// loading its data after a restart, busy with a script, out of memory, or a replica that cannot
/// take writes yet.
bool is_transient_reply(std::string_view error_text);
/// Whether a Redis error reply is a Redis Cluster redirection ("MOVED slot host:port" or "ASK ...").
bool is_redirect_reply(std::string_view error_text);
/// An error is transient when the connection failed or Redis answered with a transient reply.
bool is_transient(const Error& e);

class Connection {
 public:
  Connection(Endpoint endpoint, ConnectOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects (again) now. NetworkError naming the endpoint when Redis cannot be reached, or
  /// ConfigurationError when it refuses the credentials. With an endpoint's slot_key on a Redis
  /// Cluster, ends up on the node that owns the slot (following MOVED), and refuses a slot key
  /// without a hash tag: the deployment's keys would be spread over slots no script can span.
  Status connect();
  bool connected() const { return ctx_ != nullptr; }
  /// Drops the connection; the next command reconnects.
  void close();

  /// Runs one command. A Redis error reply is a Reply of type error, not a failure; failures are
  /// I/O errors and timeouts (the connection is then closed so the next call reconnects).
  Result<Reply> command(const std::vector<std::string>& args);
  /// Same, with a different read timeout for this call (blocking commands).
  Result<Reply> command(const std::vector<std::string>& args, std::chrono::milliseconds read_timeout);
  /// Sends one command without reading its reply: receive() reads the replies in the order the
  /// commands were sent. Nothing else may run on the connection in between.
  Status send(const std::vector<std::string>& args);
  /// The reply to the oldest command sent and not yet received.
  Result<Reply> receive();
  /// Sends every command, then reads every reply: one round trip.
  Result<std::vector<Reply>> pipeline(const std::vector<std::vector<std::string>>& commands);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Result<Reply> send_and_read(const std::vector<std::string>& args);
  /// A MOVED reply points this connection at the node it names (closed: the next call connects
  /// there); true when `r` was one.
  bool follow_moved(const Reply& r);
  Status connect_node();
  Result<std::vector<Reply>> pipeline_once(const std::vector<std::vector<std::string>>& commands);
  /// After connecting with a slot key: whether this is a cluster, and if so on the slot's node.
  Status find_slot_owner();
  Status set_read_timeout(std::chrono::milliseconds t);
  Error io_error(std::string_view what);

  Endpoint endpoint_;
  ConnectOptions options_;
  redisContext* ctx_ = nullptr;
  std::chrono::milliseconds current_timeout_{0};
  bool connected_once_ = false;
  bool lost_ = false;  ///< closed by an I/O error: the next successful connect() is a reconnection
};

/// Calls `each` with every key matching `pattern`, by SCAN (KEYS would block a busy Redis). A key
/// may come more than once, as SCAN promises only that every key present throughout comes.
Status scan(Connection& c, const std::string& pattern, const std::function<void(std::string&&)>& each);

/// Retries `connect` with exponential backoff (50 ms doubling to 2 s) until it succeeds or
/// `give_up_after` passes; the last error otherwise.
Status connect_with_backoff(Connection& c, std::chrono::milliseconds give_up_after);

}  // namespace am2z::redis
