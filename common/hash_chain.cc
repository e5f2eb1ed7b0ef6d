#include "common/hash_chain.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "common/clock.h"
#include "common/durable_file.h"

namespace ferry::hash_chain {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void io_error(const std::string& what, const fs::path& p) {
  throw ChainError(fmt::format("audit log {}: {}: {}", p.string(), what, std::strerror(errno)));
}

// The last line of the file open as `fd` ("" when empty); a torn last line (no newline) counts.
std::string last_line(int fd, const fs::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error("cannot stat", p);
  std::string tail;
  const off_t chunk = 4096;
  off_t pos = st.st_size;
  while (pos > 0) {
    const off_t n = std::min(chunk, pos);
    pos -= n;
    std::string buf(static_cast<size_t>(n), '\0');
    if (::pread(fd, buf.data(), buf.size(), pos) != n) io_error("cannot read", p);
    tail = buf + tail;
    // Skip the file's final newline, then look for the one before the last line.
    size_t search_end = !tail.empty() && tail.back() == '\n' ? tail.size() - 1 : tail.size();
    size_t nl = search_end == 0 ? std::string::npos : tail.rfind('\n', search_end - 1);
    if (nl != std::string::npos) return tail.substr(nl + 1, search_end - nl - 1);
  }
  if (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

std::string read_fd(int fd, const fs::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error("cannot stat", p);
  std::string buf(static_cast<size_t>(st.st_size), '\0');
  if (!buf.empty() && ::pread(fd, buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size()))
    io_error("cannot read", p);
  return buf;
}

// The newline-terminated lines of `text` (a torn last line without newline is not counted).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) out.push_back(text.substr(pos, nl - pos));
  return out;
}

int open_append(const fs::path& p) {
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  int fd = ::open(p.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) io_error("cannot open", p);
  return fd;
}

fs::path rotated_name(const fs::path& file, int n) { return fs::path(file.string() + "." + std::to_string(n)); }

// `<base>.N` → (base, N); anything else → (name, 0).
std::pair<std::string, int> split_rotation(const fs::path& p) {
  const std::string s = p.string();
  const auto dot = s.rfind('.');
  if (dot != std::string::npos && dot + 1 < s.size() &&
      std::all_of(s.begin() + static_cast<long>(dot) + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      s.size() - dot - 1 <= 6)
    return {s.substr(0, dot), std::stoi(s.substr(dot + 1))};
  return {s, 0};
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw ChainError("OpenSSL EVP_Digest(sha256) failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return out;
}

std::string canonical(nlohmann::json entry) {
  entry.erase("sha256");
  return entry.dump();
}

std::string seal(nlohmann::json& entry, const std::string& prev) {
  entry["prev"] = prev;
  entry.erase("sha256");
  entry["sha256"] = sha256_hex(entry.dump());
  return entry.dump();
}

std::optional<Anchor> read_anchor(const fs::path& anchor) {
  std::ifstream in(anchor, std::ios::binary);
  if (!in) {
    if (!fs::exists(anchor)) return std::nullopt;
    throw ChainError(fmt::format("audit anchor {}: cannot read", anchor.string()));
  }
  try {
    const auto j = nlohmann::json::parse(in);
    Anchor a{j.at("entries").get<int64_t>(), j.at("head").get<std::string>(), j.value("ts_ms", int64_t{0})};
    if (a.entries < 1 || a.head.size() != 64) throw std::invalid_argument("entries < 1 or head not a sha256 hex");
    return a;
  } catch (const std::exception& e) {
    throw ChainError(fmt::format("audit anchor {}: not {{\"entries\", \"head\"}}: {}", anchor.string(), e.what()));
  }
}

ChainWriter::ChainWriter(WriterOptions options) : opt_(std::move(options)) {
  opt_.max_files = std::max(1, opt_.max_files);
  fd_ = open_append(opt_.file);
}

ChainWriter::~ChainWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void ChainWriter::rotate() {
  // Oldest first: <file>.<max-1> is dropped, .k moves to .k+1, the active file becomes .1.
  std::error_code ec;
  if (opt_.max_files <= 1) {
    fs::remove(opt_.file, ec);
  } else {
    fs::remove(rotated_name(opt_.file, opt_.max_files - 1), ec);
    for (int k = opt_.max_files - 2; k >= 1; --k)
      if (fs::exists(rotated_name(opt_.file, k))) fs::rename(rotated_name(opt_.file, k), rotated_name(opt_.file, k + 1), ec);
    if (::rename(opt_.file.c_str(), rotated_name(opt_.file, 1).c_str()) != 0) io_error("cannot rotate", opt_.file);
  }
  const int fd = open_append(opt_.file);
  ::close(fd_);
  fd_ = fd;
  try {
    fsync_dir(opt_.file.has_parent_path() ? opt_.file.parent_path() : fs::path("."));
  } catch (const std::exception& e) {
    throw ChainError(e.what());
  }
}

std::vector<nlohmann::json> ChainWriter::append(std::vector<nlohmann::json> entries) {
  if (entries.empty()) return entries;
  // The chain needs the true previous line, so concurrent writers (ferry-dr processes) take turns.
  if (::flock(fd_, LOCK_EX) != 0) io_error("cannot lock", opt_.file);
  struct Unlock {
    int& fd;
    ~Unlock() { ::flock(fd, LOCK_UN); }
  } unlock{fd_};
  const std::string prev_line = last_line(fd_, opt_.file);
  const std::string first_prev = prev_line.empty() ? kGenesis : sha256_hex(prev_line);
  std::string prev = first_prev, data;
  std::string head;
  for (auto& e : entries) {
    const std::string line = seal(e, prev);
    prev = head = sha256_hex(line);
    data += line;
    data += '\n';
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) io_error("cannot stat", opt_.file);
  bool rotated = false;
  if (opt_.max_bytes > 0 && st.st_size > 0 && st.st_size + static_cast<off_t>(data.size()) > opt_.max_bytes) {
    // Under the old file's lock: the new file's first line chains to the rotated file's last.
    rotate();
    ::flock(fd_, LOCK_EX);
    rotated = true;
  } else if (st.st_size > 0) {
    // A previous append torn by a crash left no newline: start on a fresh line so the tear stays a
    // line of its own (verify reports it) instead of merging with this entry.
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) != 1) io_error("cannot read", opt_.file);
    if (last != '\n') data.insert(data.begin(), '\n');
  }
  // One write() with O_APPEND: the lines land whole at the end or the call fails.
  const ssize_t n = ::write(fd_, data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) io_error("cannot append", opt_.file);
  if (::fsync(fd_) != 0) io_error("cannot fsync", opt_.file);
  if (opt_.anchor.empty()) return entries;
  // Still under the flock: the anchor moves in the same order as the log grows.
  const auto added = static_cast<int64_t>(entries.size());
  std::optional<int64_t> count;
  const auto a = read_anchor(opt_.anchor);
  if (rotated) {
    if (!a || a->head == first_prev) count = added;
  } else if (a && a->head == first_prev) {
    count = a->entries + added;
  } else {
    // No anchor yet (a new or pre-anchor log), or an anchor behind the log (a crash between the
    // log's fsync and the anchor's rename): count, provided the anchored head is still where the
    // anchor says.
    const auto ls = complete_lines(read_fd(fd_, opt_.file));
    if (!a || (static_cast<int64_t>(ls.size()) >= a->entries && sha256_hex(ls[a->entries - 1]) == a->head))
      count = static_cast<int64_t>(ls.size());
  }
  if (count) {
    try {
      atomic_write_file(opt_.anchor,
                        nlohmann::json{{"entries", *count}, {"head", head}, {"ts_ms", wall_clock_ms()}}.dump() + "\n");
    } catch (const std::exception& e) {
      throw ChainError(e.what());
    }
  } else {
    spdlog::error("audit log {} no longer holds the head anchored in {} (entry {}): it was truncated or rewritten; "
                  "the anchor is kept so `audit verify` reports it",
                  opt_.file.string(), opt_.anchor.string(), a->entries);
  }
  return entries;
}

const LineFormat kFerryDrFormat{"ferry-dr", {"ts", "who", "command", "op_id", "what", "result", "reason", "details"}};
const LineFormat kSecurityAuditFormat{"security", {"id", "source", "specversion", "type", "time", "data"}};

std::function<std::string(const nlohmann::json&)> LineFormat::checker() const {
  return [fields = required](const nlohmann::json& j) -> std::string {
    for (const auto& k : fields)
      if (!j.contains(k)) return fmt::format("field \"{}\" missing", k);
    return "";
  };
}

const LineFormat* detect_format(const nlohmann::json& line) {
  if (!line.is_object()) return nullptr;
  if (line.contains("specversion")) return &kSecurityAuditFormat;
  if (line.contains("who") && line.contains("command")) return &kFerryDrFormat;
  return nullptr;
}

std::vector<fs::path> chain_order(std::vector<fs::path> files) {
  std::map<std::string, size_t> first_seen;
  for (const auto& f : files) first_seen.emplace(split_rotation(f).first, first_seen.size());
  std::stable_sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    const auto [ba, na] = split_rotation(a);
    const auto [bb, nb] = split_rotation(b);
    if (ba != bb) return first_seen[ba] < first_seen[bb];
    return na > nb;  // .3, .2, .1, then the active file (0)
  });
  return files;
}

VerifyResult verify(const std::vector<fs::path>& files, const VerifyOptions& opt) {
  VerifyResult r;
  std::string prev_hash = kGenesis;
  bool first_line = true;
  std::vector<std::vector<std::string>> hashes;  // per file, each line's sha256
  for (const auto& path : files) {
    hashes.emplace_back();
    std::ifstream in(path, std::ios::binary);
    auto fail = [&](int64_t line, std::string why) {
      r.ok = false;
      r.file = path;
      r.first_bad = line;
      r.reason = std::move(why);
      return r;
    };
    if (!in) return fail(0, fmt::format("cannot read {}", path.string()));
    std::ostringstream s;
    s << in.rdbuf();
    const std::string text = s.str();
    size_t pos = 0;
    int64_t no = 0;
    while (pos < text.size()) {
      const size_t nl = text.find('\n', pos);
      ++r.lines;
      ++no;
      if (nl == std::string::npos) return fail(no, "last line has no trailing newline (truncated write)");
      const std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception& e) {
        return fail(no, fmt::format("not JSON (a torn write, or an edit): {}", e.what()));
      }
      if (!j.is_object()) return fail(no, "not a JSON object");
      if (opt.check_line)
        if (std::string why = opt.check_line(j); !why.empty()) return fail(no, why);
      if (!j.contains("sha256") || !j.contains("prev")) return fail(no, "field \"prev\" or \"sha256\" missing");
      if (!j["sha256"].is_string() || !j["prev"].is_string()) return fail(no, "\"sha256\"/\"prev\" not strings");
      const std::string prev = j["prev"].get<std::string>();
      const bool rotated_start = first_line && opt.allow_rotated_start;
      if (prev != prev_hash && !rotated_start)
        return fail(no, fmt::format("\"prev\" is {} but the previous line hashes to {} (a line was removed, reordered or "
                                    "edited before this one)",
                                    prev, prev_hash));
      const std::string want = sha256_hex(canonical(j));
      if (j["sha256"].get<std::string>() != want)
        return fail(no, fmt::format("\"sha256\" does not match the line's content (expected {}): the line was edited", want));
      first_line = false;
      prev_hash = sha256_hex(line);
      hashes.back().push_back(prev_hash);
    }
  }
  if (opt.anchor.empty() || files.empty()) return r;
  auto fail = [&](int64_t line, std::string why) {
    r.ok = false;
    r.file = files.back();
    r.first_bad = line;
    r.reason = std::move(why);
    return r;
  };
  std::optional<Anchor> a;
  try {
    a = read_anchor(opt.anchor);
  } catch (const ChainError& e) {
    return fail(0, e.what());
  }
  if (!a) return r;
  r.anchor_entries = a->entries;
  const auto& last = hashes.back();
  const auto n = static_cast<int64_t>(last.size());
  // A crash between a rotation's first append and the anchor update leaves the anchor on the
  // previous file's last line.
  const bool behind_rotation = hashes.size() >= 2 && n >= 1 &&
                               static_cast<int64_t>(hashes[hashes.size() - 2].size()) == a->entries &&
                               hashes[hashes.size() - 2].back() == a->head;
  if (behind_rotation) {
    r.anchored = true;
    return r;
  }
  if (n < a->entries)
    return fail(n + 1, fmt::format("the log ends after line {} but the anchor {} records {} entries: its last {} "
                                   "line(s) were truncated or deleted",
                                   n, opt.anchor.string(), a->entries, a->entries - n));
  if (last[a->entries - 1] != a->head)
    return fail(a->entries, fmt::format("line {} hashes to {} but the anchor {} records head {}: the log was cut and "
                                        "rewritten",
                                        a->entries, last[a->entries - 1], opt.anchor.string(), a->head));
  r.anchored = true;
  return r;
}

}  // namespace ferry::hash_chain
