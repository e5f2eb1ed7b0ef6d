#include "admin/reassign_plan.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "admin/cli.h"
#include "admin/output.h"

namespace ferry::admin {
namespace {

using nlohmann::json;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// A value as it appears in the file, for "got ..." (cut short: an entry can be long).
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// An integer of the file in [0, kInt32Max], or nullopt (not an integer, 1.0 included, or out of range).
std::optional<int32_t> id_of(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kInt32Max)) return std::nullopt;
    return static_cast<int32_t>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (i < 0 || i > kInt32Max) return std::nullopt;
    return static_cast<int32_t>(i);
  }
  return std::nullopt;
}

// Throws the file's UsageError: "--reassignment-json-file FILE: <what>".
class Fail {
 public:
  Fail(const std::string& command, const std::string& file) : command_(command), file_(file) {}
  [[noreturn]] void operator()(const std::string& what) const {
    throw UsageError(command_, fmt::format("--reassignment-json-file {}: {}", file_, what));
  }

 private:
  const std::string& command_;
  const std::string& file_;
};

PartitionMove parse_entry(const Fail& fail, const json& e, size_t i) {
  const std::string at = fmt::format("partitions[{}]", i);
  if (!e.is_object())
    fail(fmt::format("{}: expected an object with \"topic\", \"partition\" and \"replicas\", got {}", at, shown(e)));
  PartitionMove m;
  const auto topic = e.find("topic");
  if (topic == e.end()) fail(fmt::format("{}: \"topic\" is missing; expected a non-empty string", at));
  if (!topic->is_string() || topic->get<std::string>().empty())
    fail(fmt::format("{}: \"topic\": expected a non-empty string, got {}", at, shown(*topic)));
  m.topic = topic->get<std::string>();
  const auto partition = e.find("partition");
  if (partition == e.end())
    fail(fmt::format("{} (topic '{}'): \"partition\" is missing; expected an integer 0..{}", at, m.topic, kInt32Max));
  const auto p = id_of(*partition);
  if (!p)
    fail(fmt::format("{} (topic '{}'): \"partition\": expected an integer 0..{}, got {}", at, m.topic, kInt32Max,
                     shown(*partition)));
  m.partition = *p;
  const std::string where = fmt::format("{} ({}-{})", at, m.topic, m.partition);
  const auto replicas = e.find("replicas");
  if (replicas == e.end())
    fail(fmt::format("{}: \"replicas\" is missing; expected a non-empty array of broker ids", where));
  if (!replicas->is_array() || replicas->empty())
    fail(fmt::format("{}: \"replicas\": expected a non-empty array of broker ids, got {}", where, shown(*replicas)));
  std::set<int32_t> seen;
  for (size_t r = 0; r < replicas->size(); ++r) {
    const auto id = id_of((*replicas)[r]);
    if (!id)
      fail(fmt::format("{}: \"replicas\"[{}]: expected a broker id 0..{}, got {}", where, r, kInt32Max,
                       shown((*replicas)[r])));
    if (!seen.insert(*id).second) fail(fmt::format("{}: \"replicas\" names broker {} twice", where, *id));
    m.replicas.push_back(*id);
  }
  if (const auto dirs = e.find("log_dirs"); dirs != e.end()) {
    const bool all_any = dirs->is_array() && dirs->size() == replicas->size() &&
                         std::all_of(dirs->begin(), dirs->end(), [](const json& d) { return d == "any"; });
    if (!all_any)
      fail(fmt::format("{}: \"log_dirs\": expected \"any\" for each of the {} replicas (Ferry does not place "
                       "replicas on log directories), got {}",
                       where, replicas->size(), shown(*dirs)));
  }
  return m;
}

}  // namespace

std::vector<PartitionMove> parse_reassignment_json(const std::string& command, const std::string& file,
                                                   std::string_view text) {
  const Fail fail(command, file);
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line 1, ..."
    if (const auto cut = what.find("] "); cut != std::string::npos) what = what.substr(cut + 2);
    fail(fmt::format("not valid JSON: {}", what));
  }
  if (!doc.is_object())
    fail(fmt::format("expected a JSON object {{\"version\":1,\"partitions\":[...]}}, got {}", shown(doc)));
  if (const auto v = doc.find("version"); v != doc.end() && !(v->is_number_integer() && v->get<int64_t>() == 1))
    fail(fmt::format("\"version\": expected 1 (the only version of the format), got {}", shown(*v)));
  const auto parts = doc.find("partitions");
  if (parts == doc.end())
    fail("\"partitions\" is missing; expected an array of {\"topic\",\"partition\",\"replicas\"} entries");
  if (!parts->is_array()) fail(fmt::format("\"partitions\": expected an array, got {}", shown(*parts)));
  if (parts->empty()) fail("\"partitions\" is empty; list at least one partition to reassign");
  std::vector<PartitionMove> out;
  std::map<std::pair<std::string, int32_t>, size_t> first_at;
  for (size_t i = 0; i < parts->size(); ++i) {
    PartitionMove m = parse_entry(fail, (*parts)[i], i);
    const auto [it, fresh] = first_at.emplace(std::make_pair(m.topic, m.partition), i);
    if (!fresh)
      fail(fmt::format("partitions[{}] ({}-{}): the partition is already listed at partitions[{}]", i, m.topic,
                       m.partition, it->second));
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<PartitionMove> read_reassignment_file(const std::string& command, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError(command, fmt::format("--reassignment-json-file: cannot read '{}'", file));
  const std::string text(std::istreambuf_iterator<char>(in), {});
  return parse_reassignment_json(command, file, text);
}

std::string reassignment_json(const std::vector<PartitionMove>& moves) {
  Json parts = Json::array();
  for (const auto& m : moves) {
    Json replicas = Json::array();
    for (int32_t r : m.replicas) replicas.push(Json(int64_t{r}));
    parts.push(Json::object().set("topic", m.topic).set("partition", Json(int64_t{m.partition}))
                   .set("replicas", std::move(replicas)));
  }
  return Json::object().set("version", 1).set("partitions", std::move(parts)).dump();
}

}  // namespace ferry::admin
