// What every JSON writer here shares, in the proto3 JSON
// mapping's conventions (SPEC §4): strings with the standard escapes, doubles
// in their shortest round-trip form and non-finite ones as "NaN",
// "Infinity", "-Infinity"; and JsonObject, the object builder of the record
// and report writers. (Reading is json.h.)
#ifndef RRM_CORE_COMMON_JSON_TEXT_H_
#define RRM_CORE_COMMON_JSON_TEXT_H_

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rrm {

inline void AppendJsonString(const std::string& value, std::string* out) {
  out->push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out->append(escaped);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

inline void AppendJsonDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);  // shortest round trip
    out->append(buffer, result.ptr);
  }
}

// Writes one JSON object into *out: '{' now, '}' when it goes out of scope,
// members separated by commas in call order. Key() writes `"name":` and
// returns `out` for a value written by hand (a nested object, null).
class JsonObject {
 public:
  explicit JsonObject(std::string* out) : out_(out) { out_->push_back('{'); }
  ~JsonObject() { out_->push_back('}'); }
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;

  std::string* Key(const char* name) {
    if (!first_) out_->push_back(',');
    first_ = false;
    AppendJsonString(name, out_);
    out_->push_back(':');
    return out_;
  }
  void Int(const char* name, int64_t value) { absl::StrAppend(Key(name), value); }
  // proto3 JSON: 64-bit unsigned integers are strings.
  void Uint64(const char* name, uint64_t value) { absl::StrAppend(Key(name), "\"", value, "\""); }
  void Bool(const char* name, bool value) { Key(name)->append(value ? "true" : "false"); }
  void Double(const char* name, double value) { AppendJsonDouble(value, Key(name)); }
  void String(const char* name, const std::string& value) { AppendJsonString(value, Key(name)); }
  // append_one(item, out) writes one element.
  template <typename T, typename AppendOne>
  void Array(const char* name, const std::vector<T>& items, AppendOne append_one) {
    std::string* out = Key(name);
    out->push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out->push_back(',');
      append_one(items[i], out);
    }
    out->push_back(']');
  }
  void Doubles(const char* name, const std::vector<double>& values) {
    Array(name, values, [](double v, std::string* out) { AppendJsonDouble(v, out); });
  }

 private:
  std::string* out_;
  bool first_ = true;
};

}  // namespace rrm

#endif  // RRM_CORE_COMMON_JSON_TEXT_H_
