// The failover / failback state machine as one table (private to ferry_dr_core): one row per
// step, in order, with the step's name (its result type's kStep, the journal key), what it runs
// and, where the step changes something a failure before `promote` must undo, its rollback.
// Operation (failover.h) walks the table; the steps live in failover_steps.cc and flow_steps.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/backends.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/journal.h"
#include "dr-orchestrator/step_results.h"

namespace ferry::dr {

/// A step that cannot complete: `what` is the reason, `exit` the process exit code, `data` goes to
/// the journal's step_failed. `refuse` marks a precheck refusal (nothing was changed).
struct StepFailure : std::runtime_error {
  StepFailure(const std::string& what, Exit exit = Exit::failed, nlohmann::json data = nlohmann::json::object(),
              bool refuse = false)
      : std::runtime_error(what), exit(exit), data(std::move(data)), refuse(refuse) {}
  Exit exit;
  nlohmann::json data;
  bool refuse;
};

/// The typed result of step R of `op` (R::kStep) when that step ended; nullopt when it did not.
/// Throws StepDataError naming the operation, the step and the key when the journal's data lacks
/// one of R's keys.
template <class R>
std::optional<R> step_result(const OpRecord& op) {
  const StepRecord* s = op.step(R::kStep);
  if (!s || !s->ended) return std::nullopt;
  try {
    return s->end_data.get<R>();
  } catch (const StepDataError& e) {
    throw StepDataError(e.step(), e.key(), "journal: operation " + op.op_id + " " + e.what());
  }
}

/// Everything a step of one operation needs. Built afresh by every run of the operation (a
/// resumed run rebuilds it from the journal: steps read earlier decisions, never re-measure).
struct StepContext {
  const DrConfig& cfg;
  Backends io;
  const Journal& journal;
  AuditLog& audit;
  std::string op_id;
  OpSpec spec;
  const RegionConfig& from;        ///< the region losing the primary role
  const RegionConfig& to;          ///< the region being promoted
  const FlowConfig* flow;          ///< from -> to; nullptr when none is configured
  const FlowConfig* reverse_flow;  ///< to -> from; nullptr when none is configured
  bool force = false;              ///< --force
  bool want_planned = false;       ///< --planned (failback: always)
  int64_t max_data_loss = 0;       ///< --max-data-loss, records
  std::chrono::milliseconds drain_timeout{0};
  int64_t op_begin_ms = 0;
  std::function<void(const std::string&)> say;  ///< a progress line (timestamped by Operation)
  nlohmann::json final_health;     ///< the report step's status document (null until it ran)

  /// This operation as the journal has it now.
  const OpRecord& op() const;
  /// The typed result of an ended step of this operation (step_result()).
  template <class R>
  std::optional<R> result() const {
    return step_result<R>(op());
  }
  /// precheck's decision: FROM was reachable, so the operation drains to lag 0.
  bool planned() const;
};

/// One row of the state machine.
struct StepDef {
  const char* name;                          ///< the journal's step key (on-wire: never rename)
  nlohmann::json (*run)(StepContext&);       ///< the step's typed result, serialized
  /// Undoes what the step changed, adding what it did to the rollback's result; nullptr when there
  /// is nothing to undo. Called, newest step first, for every step that began, when a step before
  /// `promote` fails. Throws DrError when the undo itself fails (the rollback then fails).
  void (*rollback)(StepContext&, RollbackResult&);
};

/// The steps in order: precheck, keep_aside, sync_flow, fence, drain, stop_flow, promote, redirect,
/// reverse, verify, report.
const std::vector<StepDef>& failover_table();

/// The name of the step from which a failure no longer rolls back (the new primary serves).
inline constexpr const char* kPointOfNoReturn = "promote";

}  // namespace ferry::dr
