#include "broker/storage/checkpoint.h"


#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fmt/format.h>


namespace ferry::storage {
namespace {

template <typename T>
bool parse_int(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

std::map<TopicPartition, int64_t> read_offset_checkpoint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec) && !ec) return {};
    throw std::system_error(errno ? errno : EIO, std::generic_category(), "open " + file.string());
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  auto bad = [&](size_t line, const std::string& why) {
    return std::runtime_error(fmt::format("{}:{}: {}", file.string(), line, why));
  };

  std::vector<std::string_view> lines;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(rest);
      break;
    }
    lines.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  if (lines.empty() || lines[0] != "0") throw bad(1, "expected version line \"0\"");
  int64_t count = -1;
  if (lines.size() < 2 || !parse_int(lines[1], &count) || count < 0) throw bad(2, "expected a non-negative entry count");
  if (static_cast<int64_t>(lines.size()) - 2 != count) {
    throw bad(lines.size(), fmt::format("count line says {} entries but {} lines follow", count, lines.size() - 2));
  }
  std::map<TopicPartition, int64_t> out;
  for (size_t i = 2; i < lines.size(); ++i) {
    auto f = split_fields(lines[i]);
    TopicPartition tp;
    int64_t offset;
    if (f.size() != 3 || !parse_int(f[1], &tp.partition) || tp.partition < 0 || !parse_int(f[2], &offset)) {
      throw bad(i + 1, "expected \"topic partition offset\"");
    }
    tp.topic = std::string(f[0]);
    if (!out.emplace(std::move(tp), offset).second) throw bad(i + 1, "duplicate partition");
  }
  return out;
}

void write_offset_checkpoint(const std::filesystem::path& file, const std::map<TopicPartition, int64_t>& offsets) {
  std::string text = fmt::format("0\n{}\n", offsets.size());
  for (const auto& [tp, offset] : offsets) {
    if (tp.topic.empty() || tp.topic.find_first_of(" \t\r\n") != std::string::npos) {
      throw std::invalid_argument(fmt::format("topic name '{}' cannot be written to a checkpoint", tp.topic));
    }
    text += fmt::format("{} {} {}\n", tp.topic, tp.partition, offset);
  }
  atomic_write_file(file, text);
}

}  // namespace ferry::storage
