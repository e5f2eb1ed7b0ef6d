#include "admin/output.h"

#include <algorithm>
#include <cassert>

#include <fmt/format.h>

namespace ferry::admin {

Json& Json::set(std::string key, Json value) {
  v_[std::move(key)] = std::move(value.v_);
  return *this;
}

Json& Json::push(Json value) {
  v_.push_back(std::move(value.v_));
  return *this;
}

std::string Json::dump() const { return v_.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace); }

void Table::add(std::vector<std::string> row) {
  assert(row.size() == headers_.size());
  rows_.push_back(std::move(row));
}

std::string Table::render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& r : rows_) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) l += "  ";
      l += fmt::format("{:<{}}", cells[c], width[c]);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l;
    out += '\n';
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
  return out;
}

std::string join_ids(const std::vector<int32_t>& ids, const std::string& empty) {
  std::string out;
  for (int32_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out.empty() ? empty : out;
}

Json id_array(const std::vector<int32_t>& ids) {
  Json a = Json::array();
  for (int32_t id : ids) a.push(Json(int64_t{id}));
  return a;
}

}  // namespace ferry::admin
