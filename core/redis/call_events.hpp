#pragma once
// A call's run events as one argument. Each group of ended-job operations ends with its events
// (op "E", OpList::flush_group), so a group skipped because its worker lost the job publishes
// nothing. Sent that way, every step costs the step script two more arguments to read and two
// more fields in its XADD: a measurable part of what events cost (README, "Events"). When a
// call is built, the groups' trailing events are taken out and sent after the groups as one op,
// "V count text ranges": the step script publishes `text` whole when no group of the call was
// skipped (the usual case), and otherwise only the `ranges` of the groups that were not.
#include <span>
#include <string>
#include <vector>

#include "core/redis/op_list.hpp"

namespace am2z::redis {

/// Appends `groups` to the step-script call `call` (after its header, or after other groups),
/// then, when any of them ends with events, one "V" op carrying those events. The groups are
/// not changed: a call whose reply is lost is built again from them.
void append_groups(std::vector<std::string>& call, std::span<const OpGroup> groups);

}  // namespace am2z::redis
