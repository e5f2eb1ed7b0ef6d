#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::bench {

/// Streams one pretty-printed JSON document (RFC 8259) into a string. The caller pairs
/// begin_/end_ calls and calls key() before every value inside an object; misuse is a
/// programming error and is not diagnosed.
class JsonWriter {
 public:
  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  /// Names the next value; only valid directly inside an object.
  void key(std::string_view name);

  void value(std::string_view text);
  void value(const char* text) { value(std::string_view(text)); }
  void value(int64_t number);
  void value(int number) { value(static_cast<int64_t>(number)); }
  /// Written with `decimals` digits after the point; NaN and infinities become null because
  /// JSON has no spelling for them.
  void value(double number, int decimals = 3);
  void value(bool flag);
  void null();

  /// The document so far, with a trailing newline once the outermost container is closed.
  const std::string& str() const { return out_; }

 private:
  void before_value();
  void open(char bracket);
  void close(char bracket);

  std::string out_;
  // One entry per open container: has it received an element yet?
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

/// `text` as a quoted JSON string, escaping quotes, backslashes and control characters.
std::string json_quote(std::string_view text);

}  // namespace ferry::bench
