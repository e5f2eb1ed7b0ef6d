// The hash chain under every Ferry audit log (ferry-dr's operations log, the broker's security
// audit log): JSON objects appended one per line, each line carrying
//
//   "prev":   lower-case hex SHA-256 of the previous line's bytes (without its newline); 64 zeros
//             for the first line of a chain,
//   "sha256": lower-case hex SHA-256 of the object serialized without "sha256" (nlohmann::json's
//             compact dump, keys sorted: a canonical form any verifier can reproduce).
//
// An edited line no longer matches its own "sha256"; a removed, inserted or reordered line breaks
// the next line's "prev". The chain alone cannot show that its tail was cut off, so every append
// also moves an anchor file kept elsewhere ({"entries": N, "head": sha256 of line N of the active
// file, "ts_ms"}), replaced atomically (common/durable_file.h).
//
// Rotation (optional, size-based): the active file `<name>` is renamed `<name>.1`, older ones
// shift to `.2` … `.<max_files-1>` (the oldest beyond is removed), and the first line of the new
// active file chains to the last line of the renamed one, so one chain runs across the files and
// across restarts (each open finds the previous head in the file's last line).
//
// A torn append (power loss mid-write: the file ends without a newline) stays a line of its own:
// the next append starts on a fresh line and chains over the fragment, and verify() reports the
// fragment as the first bad line. Documented in docs/security.md "Audit log" and docs/dr.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ferry::hash_chain {

/// "prev" of the first line of a chain.
inline const std::string kGenesis(64, '0');

/// Any failure to read, write, lock or fsync a chained file or its anchor; the message names the
/// path and the failing step.
class ChainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Lower-case hex SHA-256 of `data` (OpenSSL EVP, FIPS 180-4). Throws ChainError if OpenSSL fails.
std::string sha256_hex(std::string_view data);

/// The hashed form of an entry: the object without "sha256", keys sorted, compact.
std::string canonical(nlohmann::json entry);

/// Sets entry["prev"] = `prev` and entry["sha256"]; returns the line to write (no newline).
std::string seal(nlohmann::json& entry, const std::string& prev);

/// The anchor file's content: the chain head after the newest append.
struct Anchor {
  int64_t entries = 0;  ///< lines in the active file when it was written (1-based number of the head line)
  std::string head;     ///< sha256 hex of that line's bytes (without the newline)
  int64_t ts_ms = 0;    ///< wall clock at the write, ms since the epoch
};
/// Reads an anchor file: nullopt when absent; throws ChainError ("audit anchor <path>: …") when
/// unreadable or not of that shape.
std::optional<Anchor> read_anchor(const std::filesystem::path& anchor);

/// How a ChainWriter writes.
struct WriterOptions {
  std::filesystem::path file;    ///< the active file (created with its directory)
  std::filesystem::path anchor;  ///< the anchor file every append moves ("" = none)
  int64_t max_bytes = 0;         ///< rotate before an append would take the file past this (0 = never)
  int max_files = 10;            ///< files kept including the active one (>= 1) when rotating
};

/// Appends chained lines to one file. Each append() takes flock(LOCK_EX) on the file (so several
/// processes appending to the same unrotated file keep one chain: ferry-dr), reads the true
/// previous line from the file's end, writes all lines of the batch in one write() with O_APPEND
/// and fsyncs before returning, then moves the anchor. Rotation assumes one writing process.
/// Not thread-safe: callers serialize appends.
class ChainWriter {
 public:
  /// Opens (creating it and its directory, mode 0640) the active file. Throws ChainError.
  explicit ChainWriter(WriterOptions options);
  ~ChainWriter();
  ChainWriter(const ChainWriter&) = delete;
  ChainWriter& operator=(const ChainWriter&) = delete;

  /// Appends `entries` (JSON objects; "prev" and "sha256" are set here) as consecutive lines, one
  /// write() and one fsync for the batch; returns them as written. When the active file no longer
  /// holds the anchored head (it was cut or rewritten) the lines are appended but the anchor is
  /// left where it is, so verify() keeps reporting the damage (logged at error). Throws ChainError.
  std::vector<nlohmann::json> append(std::vector<nlohmann::json> entries);

  const std::filesystem::path& file() const { return opt_.file; }

 private:
  void rotate();
  WriterOptions opt_;
  int fd_ = -1;
};

/// The set of files verify() should read for `files` given in any order: rotated siblings
/// (`<name>.N`) sorted oldest first (highest N first), the unsuffixed active file last; files of
/// different base names keep the order of their first appearance.
std::vector<std::filesystem::path> chain_order(std::vector<std::filesystem::path> files);

/// A line format on the chain: its name and the fields every line must carry.
struct LineFormat {
  std::string name;
  std::vector<std::string> required;  ///< besides "prev" and "sha256"
  /// A VerifyOptions::check_line for this format: "field \"x\" missing" for the first absent one.
  std::function<std::string(const nlohmann::json&)> checker() const;
};
/// ferry-dr's operations log (dr-orchestrator/audit.h).
extern const LineFormat kFerryDrFormat;
/// The broker's security audit log, CloudEvents 1.0 (security/audit_log.h).
extern const LineFormat kSecurityAuditFormat;
/// The format a line belongs to: "specversion" → security audit, "who" and "command" → ferry-dr,
/// else nullptr (verified as a bare chain).
const LineFormat* detect_format(const nlohmann::json& line);

/// How verify() reads.
struct VerifyOptions {
  std::filesystem::path anchor;  ///< checked when not "" and present (absent: ok, anchored = false)
  /// Format check of each parsed line (besides "prev"/"sha256"): "" when fine, else the reason.
  std::function<std::string(const nlohmann::json&)> check_line;
  /// The first line of the first file may chain to a line not given (its file was rotated away);
  /// otherwise it must carry the genesis "prev".
  bool allow_rotated_start = false;
};

/// The result of verify().
struct VerifyResult {
  bool ok = true;
  int64_t lines = 0;           ///< complete lines read, over all files, up to and including the bad one
  std::filesystem::path file;  ///< the file holding the first bad line ("" when ok)
  int64_t first_bad = 0;       ///< its 1-based line number within `file` (0 when ok)
  std::string reason;          ///< what is wrong with it
  bool anchored = false;       ///< an anchor was given, read and matched
  int64_t anchor_entries = 0;  ///< the entry count the anchor records (0: no anchor)
};

/// Checks every line of `files` (in chain order; see chain_order()): valid JSON object, check_line
/// passes, "sha256" matches the content ("… the line was edited"), "prev" matches the previous
/// line's hash, across file boundaries ("… removed, reordered or edited before this one"). Stops
/// at the first bad line. With an anchor: the last file must hold at least "entries" lines with
/// line "entries" hashing to "head" ("… truncated or deleted" / "… cut and rewritten"); lines
/// after it are appends whose anchor update a crash cut off; an anchor still naming the last line
/// of the previous file is a crash between a rotation and its anchor update, and accepted. A
/// missing or unreadable file is an error (line 0); an empty file is fine. Reads only.
VerifyResult verify(const std::vector<std::filesystem::path>& files, const VerifyOptions& options = {});

}  // namespace ferry::hash_chain
