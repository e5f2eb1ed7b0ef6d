#include "dr-orchestrator/audit.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "dr-orchestrator/errors.h"
#include "dr-orchestrator/journal.h"

namespace ferry::dr {

namespace fs = std::filesystem;

namespace {

const std::string kZeroHash(64, '0');

[[noreturn]] void io_error(const std::string& what, const fs::path& p) {
  throw DrError(Exit::failed, fmt::format("audit log {}: {}: {}", p.string(), what, std::strerror(errno)));
}

// The hashed form of an entry: the object without "sha256", keys sorted, compact.
std::string canonical(nlohmann::json entry) {
  entry.erase("sha256");
  return entry.dump();
}

// The last complete line of the file open as `fd` ("" when empty).
std::string last_line(int fd, const fs::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error("cannot stat", p);
  off_t end = st.st_size;
  std::string tail;
  const off_t chunk = 4096;
  off_t pos = end;
  while (pos > 0) {
    const off_t n = std::min(chunk, pos);
    pos -= n;
    std::string buf(static_cast<size_t>(n), '\0');
    if (::pread(fd, buf.data(), buf.size(), pos) != n) io_error("cannot read", p);
    tail = buf + tail;
    // Skip the file's final newline, then look for the one before the last line.
    size_t search_end = tail.size() > 0 && tail.back() == '\n' ? tail.size() - 1 : tail.size();
    size_t nl = search_end == 0 ? std::string::npos : tail.rfind('\n', search_end - 1);
    if (nl != std::string::npos) return tail.substr(nl + 1, search_end - nl - 1);
  }
  if (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

// The whole file open as `fd`.
std::string read_fd(int fd, const fs::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error("cannot stat", p);
  std::string buf(static_cast<size_t>(st.st_size), '\0');
  if (!buf.empty() && ::pread(fd, buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size())) io_error("cannot read", p);
  return buf;
}

// The complete lines of `text` (a torn last line without newline is not counted).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) out.push_back(text.substr(pos, nl - pos));
  return out;
}

}  // namespace

std::optional<AuditAnchor> read_audit_anchor(const fs::path& anchor) {
  std::ifstream in(anchor, std::ios::binary);
  if (!in) {
    if (!fs::exists(anchor)) return std::nullopt;
    throw DrError(Exit::failed, fmt::format("audit anchor {}: cannot read", anchor.string()));
  }
  try {
    const auto j = nlohmann::json::parse(in);
    AuditAnchor a{j.at("entries").get<int64_t>(), j.at("head").get<std::string>(), j.value("ts_ms", int64_t{0})};
    if (a.entries < 1 || a.head.size() != 64) throw std::invalid_argument("entries < 1 or head not a sha256 hex");
    return a;
  } catch (const std::exception& e) {
    throw DrError(Exit::failed, fmt::format("audit anchor {}: not {{\"entries\", \"head\"}}: {}", anchor.string(), e.what()));
  }
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw DrError(Exit::failed, "OpenSSL EVP_Digest(sha256) failed");
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

Actor current_actor() {
  Actor a;
  a.uid = ::getuid();
  a.pid = ::getpid();
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) {
    a.user = sudo;
  } else if (const passwd* pw = ::getpwuid(::getuid())) {
    a.user = pw->pw_name;
  } else {
    a.user = std::to_string(a.uid);
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) a.host = host;
  return a;
}

AuditLog::AuditLog(fs::path path, std::string command, fs::path anchor)
    : path_(std::move(path)), command_(std::move(command)), anchor_(std::move(anchor)), actor_(current_actor()) {
  std::error_code ec;
  if (path_.has_parent_path()) fs::create_directories(path_.parent_path(), ec);
  fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) io_error("cannot open", path_);
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

nlohmann::json AuditLog::append(const AuditEvent& e) {
  // The chain needs the true previous line, so concurrent ferry-dr processes take turns.
  if (::flock(fd_, LOCK_EX) != 0) io_error("cannot lock", path_);
  struct Unlock {
    int fd;
    ~Unlock() { ::flock(fd, LOCK_UN); }
  } unlock{fd_};
  const std::string prev_line = last_line(fd_, path_);
  nlohmann::json entry{{"ts", rfc3339_ms(wall_clock_ms())},
                       {"who", {{"user", actor_.user}, {"uid", actor_.uid}, {"host", actor_.host}, {"pid", actor_.pid}}},
                       {"command", command_},
                       {"op_id", e.op_id},
                       {"what", e.what},
                       {"result", e.result},
                       {"reason", e.reason},
                       {"details", e.details.is_null() ? nlohmann::json::object() : e.details},
                       {"prev", prev_line.empty() ? kZeroHash : sha256_hex(prev_line)}};
  entry["sha256"] = sha256_hex(canonical(entry));
  std::string line = entry.dump() + "\n";
  // A previous append torn by a crash left no newline: start on a fresh line so the tear stays a
  // line of its own (verify reports it) instead of merging with this entry.
  struct stat st {};
  if (::fstat(fd_, &st) != 0) io_error("cannot stat", path_);
  if (st.st_size > 0) {
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) != 1) io_error("cannot read", path_);
    if (last != '\n') line.insert(line.begin(), '\n');
  }
  // One write() with O_APPEND: the line lands whole at the end or the call fails.
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) io_error("cannot append", path_);
  if (::fsync(fd_) != 0) io_error("cannot fsync", path_);
  if (!anchor_.empty()) {
    // Still under the flock: the anchor moves in the same order as the log grows.
    const std::string head = sha256_hex(entry.dump());
    const std::string prev = prev_line.empty() ? kZeroHash : sha256_hex(prev_line);
    std::optional<int64_t> entries;
    const auto a = read_audit_anchor(anchor_);
    if (a && a->head == prev) {
      entries = a->entries + 1;
    } else {
      // No anchor yet (a new or pre-anchor log), or an anchor behind the log (a crash between
      // the log's fsync and the anchor's rename): count, provided the anchored head is still
      // where the anchor says.
      const auto ls = complete_lines(read_fd(fd_, path_));
      if (!a || (static_cast<int64_t>(ls.size()) >= a->entries && sha256_hex(ls[a->entries - 1]) == a->head))
        entries = static_cast<int64_t>(ls.size());
    }
    if (entries)
      atomic_write_file(anchor_, nlohmann::json{{"entries", *entries}, {"head", head}, {"ts_ms", wall_clock_ms()}}.dump() + "\n");
    else
      spdlog::error("audit log {} no longer holds the head anchored in {} (entry {}): it was truncated or rewritten; "
                    "the anchor is kept so `ferry-dr audit verify` reports it",
                    path_.string(), anchor_.string(), a->entries);
  }
  return entry;
}

nlohmann::json AuditLog::record(const std::string& what, const std::string& result, const std::string& reason,
                                const nlohmann::json& details, const std::string& op_id) {
  return append(AuditEvent{what, result, reason, details, op_id});
}

AuditVerifyResult verify_audit_log(const fs::path& path, const fs::path& anchor_path) {
  AuditVerifyResult r;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    r.ok = false;
    r.reason = fmt::format("cannot read {}", path.string());
    return r;
  }
  std::ostringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  std::string prev_hash = kZeroHash;
  std::vector<std::string> lines;  // each line's sha256
  size_t pos = 0;
  auto fail = [&](std::string why) {
    r.ok = false;
    r.first_bad = r.lines;
    r.reason = std::move(why);
    return r;
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    ++r.lines;
    if (nl == std::string::npos) return fail("last line has no trailing newline (truncated write)");
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      return fail(fmt::format("not JSON: {}", e.what()));
    }
    if (!j.is_object()) return fail("not a JSON object");
    for (const char* k : {"ts", "who", "command", "op_id", "what", "result", "reason", "details", "prev", "sha256"})
      if (!j.contains(k)) return fail(fmt::format("field \"{}\" missing", k));
    if (!j["sha256"].is_string() || !j["prev"].is_string()) return fail("\"sha256\"/\"prev\" not strings");
    if (j["prev"].get<std::string>() != prev_hash)
      return fail(fmt::format("\"prev\" is {} but the previous line hashes to {} (a line was removed, reordered or "
                              "edited before this one)",
                              j["prev"].get<std::string>(), prev_hash));
    const std::string want = sha256_hex(canonical(j));
    if (j["sha256"].get<std::string>() != want)
      return fail(fmt::format("\"sha256\" does not match the line's content (expected {}): the line was edited", want));
    prev_hash = sha256_hex(line);
    lines.push_back(prev_hash);
  }
  if (anchor_path.empty()) return r;
  std::optional<AuditAnchor> a;
  try {
    a = read_audit_anchor(anchor_path);
  } catch (const DrError& e) {
    return fail(e.what());
  }
  if (!a) return r;
  r.anchor_entries = a->entries;
  if (r.lines < a->entries) {
    r.first_bad = r.lines + 1;
    r.ok = false;
    r.reason = fmt::format("the log ends after line {} but the anchor {} records {} entries: its last {} line(s) "
                           "were truncated or deleted",
                           r.lines, anchor_path.string(), a->entries, a->entries - r.lines);
    return r;
  }
  if (lines[a->entries - 1] != a->head) {
    r.first_bad = a->entries;
    r.ok = false;
    r.reason = fmt::format("line {} hashes to {} but the anchor {} records head {}: the log was cut and rewritten",
                           a->entries, lines[a->entries - 1], anchor_path.string(), a->head);
    return r;
  }
  r.anchored = true;
  return r;
}

}  // namespace ferry::dr
