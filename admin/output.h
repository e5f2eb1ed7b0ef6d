// What ferry-admin prints: aligned tables for people, one JSON document for scripts.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ferry::admin {

/// A JSON value built in memory and printed once: a small builder over nlohmann::ordered_json (the
/// library does the encoding). Objects keep insertion order so the output reads in the same order
/// as the table columns.
class Json {
 public:
  Json() = default;  ///< null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int v) : v_(static_cast<int64_t>(v)) {}
  Json(int64_t v) : v_(v) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}

  /// An empty object / array, for building with set() / push().
  static Json object() { return Json(nlohmann::ordered_json::object()); }
  static Json array() { return Json(nlohmann::ordered_json::array()); }

  /// Adds a key to an object (callers add each key once).
  Json& set(std::string key, Json value);
  /// Appends to an array.
  Json& push(Json value);

  /// Compact single-line rendering; bytes that are not valid UTF-8 become U+FFFD rather than
  /// failing the whole document.
  std::string dump() const;

 private:
  explicit Json(nlohmann::ordered_json v) : v_(std::move(v)) {}
  nlohmann::ordered_json v_;
};

/// A table printed with every column as wide as its widest cell, two spaces apart, headers in
/// upper case as given. Cells are plain strings; callers render "-" for absent values.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  /// Adds a row; it must have as many cells as there are headers.
  void add(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  /// The whole table, one line per row, each ending in '\n'; trailing spaces trimmed.
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// Broker ids as a table cell, "1,2,3"; `empty` when there are none.
std::string join_ids(const std::vector<int32_t>& ids, const std::string& empty = "-");
/// Broker ids as a JSON array of numbers.
Json id_array(const std::vector<int32_t>& ids);
/// The ids of a librdkafka metadata list (`n` of them at `ids`).
inline std::vector<int32_t> ids_of(const int32_t* ids, int n) {
  return n > 0 ? std::vector<int32_t>(ids, ids + n) : std::vector<int32_t>{};
}

}  // namespace ferry::admin
