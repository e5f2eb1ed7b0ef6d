// What ferry-mirror's control API last decided per flow (paused or running), kept on disk so a
// restarted mirror does not silently resume a flow that ferry-dr paused at failover
// (docs/mirror.md, "Control API"; the file is <mirror.state.dir>/flow-control.json).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace ferry::mirror {

/// One flow's last control decision.
struct FlowControlEntry {
  bool paused = false;
  int64_t updated_ms = 0;  ///< wall clock, ms since the epoch, of the POST that set it
};

/// The control decisions of one ferry-mirror process, durable in `<dir>/flow-control.json`:
///
///   {"flows": {"east->west": {"paused": true, "updated_ms": 1700000000000}, ...}}
///
/// Each change replaces the file atomically and fsyncs it before the change is applied
/// (ferry::atomic_write_file), so after a crash the file says what the flow was last told, or
/// what it was told before. Flows never told anything have no entry (their `paused` key rules).
/// Thread-safe.
class FlowControlState {
 public:
  /// Opens (creating `dir` if needed) and reads the file; a missing file is an empty state.
  /// Throws std::runtime_error naming the file for unreadable or malformed content (a mirror
  /// must not guess whether a flow was paused), std::filesystem::filesystem_error when `dir`
  /// cannot be created.
  static FlowControlState open(const std::filesystem::path& dir);

  /// The last decision for `flow` ("source->target"), or nullopt when none was recorded.
  std::optional<FlowControlEntry> get(const std::string& flow) const;

  /// Records `paused` for `flow` durably. Throws std::system_error naming the step and path when
  /// the file cannot be written; the recorded state is then unchanged.
  void set(const std::string& flow, bool paused, int64_t now_ms);

  /// The file the state lives in.
  const std::filesystem::path& file() const { return file_; }

  FlowControlState(FlowControlState&& other) noexcept;

 private:
  FlowControlState() = default;
  std::filesystem::path file_;
  mutable std::mutex mu_;
  std::map<std::string, FlowControlEntry> flows_;
};

}  // namespace ferry::mirror
