#include "plugins/builtins.hpp"

#include "plugins/delete_processor.hpp"
#include "plugins/exec_processor.hpp"
#include "plugins/fail_processor.hpp"
#include "plugins/http_processor.hpp"
#include "plugins/log_processor.hpp"
#include "plugins/merge_processor.hpp"
#include "plugins/pick_processor.hpp"
#include "plugins/remote_processor.hpp"
#include "plugins/set_processor.hpp"
#include "plugins/sleep_processor.hpp"
#include "plugins/validate_processor.hpp"

namespace am2z {

void register_builtins(ProcessorRegistry& registry) {
  registry.add(exec_processor_type());
  registry.add(set_processor_type());
  registry.add(sleep_processor_type());
  registry.add(fail_processor_type());
  registry.add(log_processor_type());
  registry.add(remote_processor_type());
  registry.add(merge_processor_type());
  registry.add(pick_processor_type());
  registry.add(delete_processor_type());
  registry.add(validate_processor_type());
  registry.add(http_processor_type());
}

}  // namespace am2z
