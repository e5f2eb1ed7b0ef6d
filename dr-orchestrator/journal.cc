#include "dr-orchestrator/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "common/clock.h"
#include "common/durable_file.h"

namespace ferry::dr {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void io_error(const std::string& what, const fs::path& p) {
  throw DrError(Exit::failed, fmt::format("{} {}: {}", what, p.string(), std::strerror(errno)));
}

// ferry::fsync_dir with ferry-dr's error type.
void fsync_dir(const fs::path& dir) {
  try {
    ferry::fsync_dir(dir);
  } catch (const std::system_error& e) {
    throw DrError(Exit::failed, e.what());
  }
}

void write_all(int fd, const std::string& s, const fs::path& p) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      io_error("cannot write", p);
    }
    done += static_cast<size_t>(n);
  }
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string new_op_id() {
  static std::random_device rd;
  return fmt::format("{}-{:08x}", wall_clock_ms(), rd());
}

LockHolder parse_holder(const std::string& text) {
  LockHolder h;
  std::istringstream in(text);
  in >> h.pid >> h.started_ms;
  std::getline(in >> std::ws, h.command);
  return h;
}

std::string describe(const LockHolder& h) {
  return fmt::format("pid {} ('{}') since {} ms", h.pid, h.command.empty() ? "?" : h.command, h.started_ms);
}

}  // namespace

nlohmann::json to_json(const OpSpec& s) {
  return {{"kind", s.kind}, {"from", s.from}, {"to", s.to}, {"mode", s.mode}, {"extra", s.extra}};
}

OpSpec op_spec_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("\"op\" is not an object");
  OpSpec s;
  for (auto [key, field] : {std::pair{"kind", &s.kind}, {"from", &s.from}, {"to", &s.to}, {"mode", &s.mode}}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) throw std::invalid_argument(fmt::format("\"op.{}\" missing or not a string", key));
    *field = it->get<std::string>();
  }
  if (auto it = j.find("extra"); it != j.end()) s.extra = *it;
  return s;
}

const StepRecord* OpRecord::step(const std::string& name) const {
  for (const auto& s : steps)
    if (s.name == name) return &s;
  return nullptr;
}

namespace {

// Applies one parsed journal entry to `c`; throws std::invalid_argument with the reason.
void apply_entry(JournalContents& c, const nlohmann::json& e) {
  if (!e.is_object()) throw std::invalid_argument("not a JSON object");
  for (const char* k : {"seq", "ts_ms"})
    if (!e.contains(k) || !e[k].is_number_integer()) throw std::invalid_argument(fmt::format("\"{}\" missing or not an integer", k));
  for (const char* k : {"op_id", "event"})
    if (!e.contains(k) || !e[k].is_string()) throw std::invalid_argument(fmt::format("\"{}\" missing or not a string", k));
  const int64_t seq = e["seq"].get<int64_t>();
  if (seq != c.last_seq + 1)
    throw std::invalid_argument(fmt::format("seq {} out of sequence (expected {})", seq, c.last_seq + 1));
  const std::string op_id = e["op_id"].get<std::string>(), event = e["event"].get<std::string>();
  const int64_t ts = e["ts_ms"].get<int64_t>();
  const nlohmann::json data = e.contains("data") ? e["data"] : nlohmann::json::object();
  OpRecord* open = (!c.ops.empty() && !c.ops.back().finished()) ? &c.ops.back() : nullptr;
  if (event == "op_begin") {
    if (open) throw std::invalid_argument(fmt::format("op_begin of {} while op {} is still open", op_id, open->op_id));
    OpRecord op;
    op.op_id = op_id;
    op.spec = op_spec_from_json(e.value("op", nlohmann::json()));
    op.begin_ms = ts;
    c.ops.push_back(std::move(op));
  } else {
    if (!open || open->op_id != op_id) throw std::invalid_argument(fmt::format("{} for op {} which is not open", event, op_id));
    if (event == "op_end") {
      if (!e.contains("outcome") || !e["outcome"].is_string()) throw std::invalid_argument("op_end without \"outcome\"");
      open->outcome = e["outcome"].get<std::string>();
      open->outcome_data = data;
      open->end_ms = ts;
    } else if (event == "step_begin" || event == "step_end" || event == "step_failed") {
      if (!e.contains("step") || !e["step"].is_string()) throw std::invalid_argument(event + " without \"step\"");
      const std::string name = e["step"].get<std::string>();
      StepRecord* s = nullptr;
      for (auto& x : open->steps)
        if (x.name == name) s = &x;
      if (event == "step_begin") {
        if (!s) {
          s = &open->steps.emplace_back();
          s->name = name;
        }
        s->began = true;
        s->ended = s->failed = false;
        s->failure_reason.clear();
        ++s->attempts;
        s->begin_data = data;
        s->end_data = nlohmann::json::object();
        s->began_ms = ts;
        s->ended_ms = 0;
      } else {
        if (!s || s->ended || s->failed) throw std::invalid_argument(fmt::format("{} of step '{}' that is not running", event, name));
        (event == "step_end" ? s->ended : s->failed) = true;
        if (event == "step_failed") s->failure_reason = e.value("reason", "");
        s->end_data = data;
        s->ended_ms = ts;
      }
    } else {
      throw std::invalid_argument(fmt::format("unknown event '{}'", event));
    }
  }
  c.last_seq = seq;
}

}  // namespace

JournalContents read_journal(const fs::path& file) {
  JournalContents c;
  const std::string text = read_all(file);
  size_t pos = 0;
  int64_t line = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    ++line;
    if (nl == std::string::npos) {
      c.torn_tail_bytes = text.size() - pos;
      break;
    }
    const std::string_view sv(text.data() + pos, nl - pos);
    try {
      apply_entry(c, nlohmann::json::parse(sv));
    } catch (const std::exception& e) {
      throw CorruptJournal(fmt::format("journal {} line {}: {}", file.string(), line, e.what()), line);
    }
    pos = nl + 1;
  }
  c.valid_bytes = pos;
  return c;
}

Journal Journal::open(const fs::path& state_dir, const std::string& command) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) throw DrError(Exit::failed, fmt::format("cannot create state.dir {}: {}", state_dir.string(), ec.message()));
  Journal j;
  j.dir_ = state_dir;
  const fs::path lock = state_dir / "lock";
  j.lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (j.lock_fd_ < 0) io_error("cannot open", lock);
  if (::flock(j.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) io_error("cannot lock", lock);
    LockHolder h = parse_holder(read_all(lock));
    throw LockHeld(fmt::format("another ferry-dr operation holds {}: {}; wait for it to finish (or, if that process "
                               "is gone, it has already released the lock and you can retry)",
                               lock.string(), describe(h)),
                   h);
  }
  const std::string holder = fmt::format("{} {} {}\n", ::getpid(), wall_clock_ms(), command);
  if (::ftruncate(j.lock_fd_, 0) != 0) io_error("cannot truncate", lock);
  if (::pwrite(j.lock_fd_, holder.data(), holder.size(), 0) != static_cast<ssize_t>(holder.size())) io_error("cannot write", lock);

  const fs::path file = state_dir / "journal.jsonl";
  const bool existed = fs::exists(file);
  j.contents_ = read_journal(file);
  j.journal_fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (j.journal_fd_ < 0) io_error("cannot open", file);
  if (j.contents_.torn_tail_bytes) {
    spdlog::warn("journal {}: dropping a torn final line of {} bytes (a crash mid-append); the step it recorded runs "
                 "again",
                 file.string(), j.contents_.torn_tail_bytes);
    if (::ftruncate(j.journal_fd_, static_cast<off_t>(j.contents_.valid_bytes)) != 0 || ::fdatasync(j.journal_fd_) != 0)
      io_error("cannot truncate", file);
    j.contents_.torn_tail_bytes = 0;
  }
  if (::lseek(j.journal_fd_, 0, SEEK_END) < 0) io_error("cannot seek", file);
  if (!existed) fsync_dir(state_dir);
  return j;
}

Journal::Journal(Journal&& o) noexcept
    : dir_(std::move(o.dir_)), lock_fd_(std::exchange(o.lock_fd_, -1)), journal_fd_(std::exchange(o.journal_fd_, -1)),
      contents_(std::move(o.contents_)), current_(std::move(o.current_)) {}

Journal& Journal::operator=(Journal&& o) noexcept {
  if (this != &o) {
    if (journal_fd_ >= 0) ::close(journal_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    dir_ = std::move(o.dir_);
    lock_fd_ = std::exchange(o.lock_fd_, -1);
    journal_fd_ = std::exchange(o.journal_fd_, -1);
    contents_ = std::move(o.contents_);
    current_ = std::move(o.current_);
  }
  return *this;
}

Journal::~Journal() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void Journal::append(const std::string& event, const std::string& step, const nlohmann::json& fields) {
  nlohmann::json e = fields;
  e["seq"] = contents_.last_seq + 1;
  e["op_id"] = current_;
  e["ts_ms"] = wall_clock_ms();
  e["event"] = event;
  if (!step.empty()) e["step"] = step;
  JournalContents next = contents_;
  try {
    apply_entry(next, e);
  } catch (const std::invalid_argument& why) {
    throw DrError(Exit::failed, fmt::format("journal {}: refusing to record {}: {}", (dir_ / "journal.jsonl").string(),
                                            event, why.what()));
  }
  const fs::path file = dir_ / "journal.jsonl";
  write_all(journal_fd_, e.dump() + "\n", file);
  if (::fdatasync(journal_fd_) != 0) io_error("cannot fdatasync", file);
  contents_ = std::move(next);
}

std::string Journal::begin_op(const OpSpec& spec) {
  if (auto p = pending_op())
    throw DrError(Exit::failed, fmt::format("operation {} ({} {}->{}) is still pending; `ferry-dr resume` it first",
                                            p->op_id, p->spec.kind, p->spec.from, p->spec.to));
  current_ = new_op_id();
  try {
    append("op_begin", "", {{"op", to_json(spec)}});
  } catch (...) {
    current_.clear();
    throw;
  }
  return current_;
}

void Journal::resume_op(const std::string& op_id) {
  auto p = pending_op();
  if (!p || p->op_id != op_id)
    throw DrError(Exit::failed, fmt::format("operation {} is not the pending operation{}", op_id,
                                            p ? " (" + p->op_id + " is)" : " (none is pending)"));
  current_ = op_id;
}

void Journal::step_begin(const std::string& name, const nlohmann::json& data) {
  append("step_begin", name, {{"data", data}});
}

void Journal::step_end(const std::string& name, const nlohmann::json& data) { append("step_end", name, {{"data", data}}); }

void Journal::step_failed(const std::string& name, const std::string& reason, const nlohmann::json& data) {
  append("step_failed", name, {{"data", data}, {"reason", reason}});
}

void Journal::end_op(const std::string& outcome, const nlohmann::json& data) {
  append("op_end", "", {{"data", data}, {"outcome", outcome}});
  current_.clear();
}

std::optional<OpRecord> Journal::pending_op() const {
  if (contents_.ops.empty() || contents_.ops.back().finished()) return std::nullopt;
  return contents_.ops.back();
}

std::optional<LockHolder> lock_holder(const fs::path& state_dir) {
  const fs::path lock = state_dir / "lock";
  int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<LockHolder> out;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
  } else {
    out = parse_holder(read_all(lock));
  }
  ::close(fd);
  return out;
}

void atomic_write_file(const fs::path& path, const std::string& content) {
  try {
    ferry::atomic_write_file(path, content);
  } catch (const std::system_error& e) {
    throw DrError(Exit::failed, e.what());
  }
}

std::optional<DrState> read_state(const fs::path& state_dir) {
  const fs::path file = state_dir / "state.json";
  if (!fs::exists(file)) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(read_all(file));
    DrState s;
    s.primary = j.at("primary").get<std::string>();
    s.updated_ms = j.at("updated_ms").get<int64_t>();
    s.op_id = j.value("op_id", "");
    return s;
  } catch (const std::exception& e) {
    throw DrError(Exit::corrupt_journal, fmt::format("state file {}: {}", file.string(), e.what()));
  }
}

void write_state(const fs::path& state_dir, const DrState& s) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  nlohmann::json j{{"primary", s.primary}, {"updated_ms", s.updated_ms}, {"op_id", s.op_id}};
  atomic_write_file(state_dir / "state.json", j.dump(2) + "\n");
}

}  // namespace ferry::dr
