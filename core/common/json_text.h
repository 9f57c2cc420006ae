// The two scalar encodings every JSON writer here shares, in the proto3 JSON
// mapping's conventions (SPEC §4): strings with the standard escapes, doubles
// in their shortest round-trip form and non-finite ones as "NaN",
// "Infinity", "-Infinity". (Reading is json.h.)
#ifndef RRM_CORE_COMMON_JSON_TEXT_H_
#define RRM_CORE_COMMON_JSON_TEXT_H_

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

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

}  // namespace rrm

#endif  // RRM_CORE_COMMON_JSON_TEXT_H_
