#include "cli/redis_support.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/cli_support.hpp"
#include "cli/exit_codes.hpp"
#include "core/redis/key_space.hpp"
#include "core/redis/sha256.hpp"
#include "flows/loader.hpp"

namespace am2z::cli {

void add_redis_options(CLI::App* cmd, RedisArgs& args, const std::string& url_help) {
  cmd->add_option("--redis", args.url, url_help);
  cmd->add_option("--prefix", args.prefix, "Key prefix of the queues (BullMQ's prefix option)")
      ->check([](const std::string& p) {
        return p.empty() || p.find(':') != std::string::npos ? std::string("must be non-empty and contain no ':'")
                                                             : std::string();
      });
}

std::optional<redis::Endpoint> resolve_endpoint(const RedisArgs& args, const char* command) {
  auto ep = args.url.empty() ? redis::endpoint_from_env() : redis::parse_url(args.url);
  if (!ep) {
    std::fprintf(stderr, "am2z %s: %s\n", command, ep.error().message.c_str());
    return std::nullopt;
  }
  ep->slot_key = redis::KeySpace(args.prefix).slot_key();  // routes a Redis Cluster to the deployment's node
  return *ep;
}

std::unique_ptr<redis::Connection> connect_or_report(const redis::Endpoint& endpoint, const char* command) {
  auto conn = std::make_unique<redis::Connection>(endpoint, redis::ConnectOptions{});
  if (auto st = conn->connect(); !st) {
    std::fprintf(stderr, "am2z %s: cannot use Redis at %s: %s\n", command, endpoint.display().c_str(),
                 st.error().message.c_str());
    print_error(st.error());
    return nullptr;
  }
  return conn;
}

std::unique_ptr<redis::Connection> connect_for(const RedisArgs& args, const std::string& command) {
  auto endpoint = resolve_endpoint(args, command.c_str());
  if (!endpoint) return nullptr;
  return connect_or_report(*endpoint, command.c_str());
}

int redis_failed(const std::string& command, const Error& e) {
  std::fprintf(stderr, "am2z %s: %s\n", command.c_str(), e.message.c_str());
  return kExitUnreachable;
}

std::shared_ptr<const redis::PlannedFlow> plan_loaded_flow(const std::string& path, const LoadResult& loaded,
                                                           const std::string& prefix) {
  std::vector<std::string> files{path};
  files.insert(files.end(), loaded.flow->included.begin(), loaded.flow->included.end());
  redis::KeySpace layout(prefix);
  return std::make_shared<const redis::PlannedFlow>(loaded.flow, redis::sha256_of_files(files), layout);
}

std::shared_ptr<const redis::PlannedFlow> plan_flow_file(const std::string& path, PluginCatalog& catalog,
                                                         const std::string& prefix) {
  const ProcessorRegistry registry = catalog.registry();
  LoadResult loaded = load_flow_file(path, registry, flow_plugin_hook(catalog));
  if (!loaded.ok()) {
    print_diagnostics(loaded.diagnostics);
    return nullptr;
  }
  return plan_loaded_flow(path, loaded, prefix);
}

}  // namespace am2z::cli
