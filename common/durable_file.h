// Durable whole-file replacement, shared by the broker's checkpoints and metadata, ferry-dr's
// state and bootstrap files, and ferry-mirror's flow-control state.
#pragma once

#include <filesystem>
#include <string_view>

namespace ferry {

/// Replaces `file` with `content` atomically and durably: writes "<file>.tmp", fsyncs it, renames
/// it over `file` (rename(2) is atomic within a file system, POSIX.1-2017), then fsyncs the parent
/// directory, without which the rename itself may not survive a power loss. A crash at any point
/// leaves either the old or the new file. Concurrent writers of the same file must be serialised
/// by the caller (they share the temp name). Throws std::system_error naming the failing step and
/// path; the temp file is removed when the write or fsync fails. `mode` is the new file's
/// permission bits (before the umask); 0600 for files holding credential material.
void atomic_write_file(const std::filesystem::path& file, std::string_view content, unsigned mode = 0644);

/// fsyncs a directory so that entries created, renamed or removed in it are durable. Throws
/// std::system_error naming the directory.
void fsync_dir(const std::filesystem::path& dir);

}  // namespace ferry
