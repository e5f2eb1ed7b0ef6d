// The durable state of ferry-dr operations in <state.dir> (format in docs/dr.md "Journal"):
//
//   lock           flock(LOCK_EX|LOCK_NB) for a whole operation; holds "pid command started_ms"
//   journal.jsonl  one JSON object per line, every append write + fdatasync
//   state.json     the current primary as ferry-dr last set it, atomically replaced
//
// The failover/failback/drill state machine drives a Journal: begin_op, then per step
// step_begin -> (work) -> step_end or step_failed, then end_op. After a crash, open() finds the
// op without op_end via pending_op() and resume_op() continues it; steps must be idempotent,
// because a step that began but has no step_end is run again.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/errors.h"

namespace ferry::dr {

/// What an operation is. Serialized as the "op" object of op_begin.
struct OpSpec {
  std::string kind;  ///< "failover" | "failback" | "drill" (the state machine's vocabulary)
  std::string from;  ///< region losing the primary role
  std::string to;    ///< region becoming primary
  std::string mode;  ///< e.g. "planned" | "force"
  nlohmann::json extra = nlohmann::json::object();  ///< anything else (e.g. max_data_loss)
};
nlohmann::json to_json(const OpSpec& s);
/// Throws std::invalid_argument naming a missing or mistyped field.
OpSpec op_spec_from_json(const nlohmann::json& j);

/// One step of an operation as the journal recorded it. A step may be attempted several times
/// (after resume); the flags and data describe the latest attempt.
struct StepRecord {
  std::string name;
  bool began = false;
  bool ended = false;   ///< step_end recorded after the latest step_begin
  bool failed = false;  ///< step_failed recorded after the latest step_begin
  int attempts = 0;     ///< number of step_begin events
  std::string failure_reason;
  nlohmann::json begin_data = nlohmann::json::object();  ///< inputs of the latest step_begin
  nlohmann::json end_data = nlohmann::json::object();    ///< outputs of step_end (or step_failed)
  int64_t began_ms = 0;
  int64_t ended_ms = 0;  ///< of step_end or step_failed
};

/// One operation, rebuilt from the journal.
struct OpRecord {
  std::string op_id;
  OpSpec spec;
  int64_t begin_ms = 0;
  std::vector<StepRecord> steps;       ///< in order of their first step_begin
  std::optional<std::string> outcome;  ///< set by op_end ("ok" | "failed" | "aborted" ...)
  nlohmann::json outcome_data = nlohmann::json::object();
  int64_t end_ms = 0;

  bool finished() const { return outcome.has_value(); }
  /// The step `name`, or nullptr if it never began.
  const StepRecord* step(const std::string& name) const;
};

/// What read_journal() found.
struct JournalContents {
  std::vector<OpRecord> ops;  ///< in journal order
  int64_t last_seq = 0;       ///< 0 for an empty journal
  /// Bytes of a torn final line (no trailing newline) that were ignored; 0 = none.
  size_t torn_tail_bytes = 0;
  size_t valid_bytes = 0;  ///< length of the file up to the end of the last complete line
};

/// Reads a journal without taking the lock (for `status` and tests). A missing file is empty.
/// A final line without a trailing newline is a torn write from a crash mid-append: it is
/// dropped (torn_tail_bytes says so; the step it began is re-run). Any other unparsable line, a
/// seq that is not the previous one + 1, an event for an unknown op or step, or a second
/// op_begin while an op is open throws CorruptJournal "journal <path> line N: <why>".
JournalContents read_journal(const std::filesystem::path& file);

/// The operation lock plus an append handle on journal.jsonl. Move-only; the lock is released
/// when the Journal is destroyed (or the process dies: flock is released by the kernel).
class Journal {
 public:
  /// Creates `state_dir` if needed, takes <state_dir>/lock (flock LOCK_EX|LOCK_NB, then writes
  /// "pid command started_ms" into it), reads journal.jsonl, truncates a torn final line (logging
  /// a warning) and opens it for appending. Throws LockHeld (exit 3) naming the holder's pid,
  /// command and start time, CorruptJournal (exit 4), or DrError(Exit::failed) for I/O errors.
  /// `command` is this process's argv joined, recorded for the next contender.
  static Journal open(const std::filesystem::path& state_dir, const std::string& command);

  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  /// Starts a new operation and returns its op_id (a time-ordered unique id). Throws
  /// DrError(Exit::failed) if an operation is still pending (resume or abort it first).
  std::string begin_op(const OpSpec& spec);
  /// Makes the pending operation `op_id` current again after a crash (see pending_op()).
  /// Throws DrError(Exit::failed) if it is not the pending op.
  void resume_op(const std::string& op_id);
  /// Records that step `name` starts, with its inputs. Throws DrError if no op is current.
  void step_begin(const std::string& name, const nlohmann::json& data = nlohmann::json::object());
  /// Records that step `name` finished, with its outputs (what a resumed run needs to skip it).
  void step_end(const std::string& name, const nlohmann::json& data = nlohmann::json::object());
  /// Records that step `name` failed and why.
  void step_failed(const std::string& name, const std::string& reason,
                   const nlohmann::json& data = nlohmann::json::object());
  /// Closes the current operation with `outcome` ("ok", "failed", "aborted", ...).
  void end_op(const std::string& outcome, const nlohmann::json& data = nlohmann::json::object());

  /// The newest operation without op_end, if any (its spec and per-step progress).
  std::optional<OpRecord> pending_op() const;
  /// Every operation in the journal, oldest first.
  const std::vector<OpRecord>& history() const { return contents_.ops; }
  /// The op_id of the current operation ("" when none).
  const std::string& current_op() const { return current_; }
  const std::filesystem::path& dir() const { return dir_; }

  /// Every append is this durable: write of one whole line, then fdatasync. Each append also
  /// updates history() in memory. I/O errors throw DrError(Exit::failed); the in-memory view is
  /// then not updated, so the caller must not run the step.
 private:
  Journal() = default;
  void append(const std::string& event, const std::string& step, const nlohmann::json& fields);

  std::filesystem::path dir_;
  int lock_fd_ = -1;
  int journal_fd_ = -1;
  JournalContents contents_;
  std::string current_;
};

/// Who holds <state_dir>/lock right now, or nullopt when nobody does (probes with a
/// non-blocking shared flock, released at once). For `status`.
std::optional<LockHolder> lock_holder(const std::filesystem::path& state_dir);

/// state.json: the current primary region as ferry-dr last set it.
struct DrState {
  std::string primary;
  int64_t updated_ms = 0;
  std::string op_id;  ///< the operation that set it ("" = set by hand / initial)
};

/// Reads <state_dir>/state.json; nullopt when absent. Throws DrError(Exit::corrupt_journal)
/// naming the file when it is not valid JSON of that shape.
std::optional<DrState> read_state(const std::filesystem::path& state_dir);
/// Atomically replaces <state_dir>/state.json (write tmp, fsync, rename, fsync dir). Throws
/// DrError(Exit::failed) on I/O errors.
void write_state(const std::filesystem::path& state_dir, const DrState& s);

/// ferry::atomic_write_file (common/durable_file.h: tmp, fsync, rename, fsync the directory) for
/// ferry-dr's files (state.json, the bootstrap file, reports): throws DrError(Exit::failed) naming
/// the step, the path and the errno text instead of std::system_error.
void atomic_write_file(const std::filesystem::path& path, const std::string& content);

}  // namespace ferry::dr
