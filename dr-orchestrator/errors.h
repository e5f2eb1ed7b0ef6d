// ferry-dr's error vocabulary: every refusal or failure a command can end in, each carrying the
// process exit code it maps to (documented in docs/dr.md "Exit codes"). Kafka and HTTP errors are
// translated into these at the edge (kafka_admin.cc, role_client.cc, mirror_client.cc).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace ferry::dr {

/// Process exit codes of ferry-dr; on-wire for scripts, never renumber.
enum class Exit : int {
  ok = 0,               ///< everything healthy / the operation completed
  failed = 1,           ///< something is unhealthy, or an operation step failed
  bad_input = 2,        ///< bad configuration or command line (the message names the key/argument)
  lock_held = 3,        ///< another ferry-dr operation holds <state.dir>/lock
  corrupt_journal = 4,  ///< <state.dir>/journal.jsonl cannot be trusted
};

/// A refusal or failure with the exit code it ends the process with. what() is the whole
/// operator-facing reason (it names the offending path, key, region, URL or holder).
class DrError : public std::runtime_error {
 public:
  DrError(Exit code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Exit code() const { return code_; }

 private:
  Exit code_;
};

/// Who holds <state.dir>/lock, as its holder wrote it into the lock file.
struct LockHolder {
  int64_t pid = 0;
  std::string command;   ///< the holder's argv joined with spaces
  int64_t started_ms = 0;  ///< wall-clock ms since the epoch when the holder took the lock
};

/// Another process (or another open Journal in this process) holds the operation lock. Exit 3.
class LockHeld : public DrError {
 public:
  LockHeld(const std::string& what, LockHolder holder) : DrError(Exit::lock_held, what), holder_(std::move(holder)) {}
  const LockHolder& holder() const { return holder_; }

 private:
  LockHolder holder_;
};

/// The journal has an unparsable or out-of-sequence line that is not a torn final write.
/// what() is "journal <path> line N: <why>". Exit 4.
class CorruptJournal : public DrError {
 public:
  CorruptJournal(const std::string& what, int64_t line) : DrError(Exit::corrupt_journal, what), line_(line) {}
  int64_t line() const { return line_; }

 private:
  int64_t line_;
};

}  // namespace ferry::dr
