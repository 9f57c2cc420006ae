#include "core/common/json.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/status.h"

namespace rrm {

const JsonValue* JsonValue::Find(absl::string_view key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

namespace {

// "'x'" for a printable ASCII character, "byte 0x01" otherwise.
std::string Shown(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return absl::StrCat("character '", std::string(1, c), "'");
  return absl::StrFormat("byte 0x%02x", u);
}

void AppendUtf8(uint32_t code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code >> 6)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else if (code < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  }
}

// Recursive descent; `depth` counts the arrays and objects around a value.
class Parser {
 public:
  Parser(absl::string_view text, absl::string_view source, const JsonOptions& options)
      : text_(text), source_(source), options_(options) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    RRM_RETURN_IF_ERROR(ParseValue(&value, 0));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error(pos_, "unexpected text after the JSON value");
    return value;
  }

 private:
  absl::Status Error(size_t at, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, source_.empty() ? "" : ": ",
                                                   "invalid JSON at byte ", at, ": ", problem));
  }
  absl::Status EndError() const { return Error(text_.size(), "unexpected end of input"); }

  bool AtEnd() const { return pos_ >= text_.size(); }

  void SkipWhitespace() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                        text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(absl::string_view token) {
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }

  // Whitespace, then `token`, or an error naming what was expected.
  absl::Status Expect(char token, absl::string_view expected) {
    SkipWhitespace();
    if (AtEnd()) return EndError();
    if (text_[pos_] != token) {
      return Error(pos_, absl::StrCat("expected ", expected, ", found ", Shown(text_[pos_])));
    }
    ++pos_;
    return absl::OkStatus();
  }

  absl::Status ParseValue(JsonValue* out, int depth) {
    SkipWhitespace();
    if (AtEnd()) return EndError();
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= options_.max_depth) {
        return Error(pos_, absl::StrCat("nested deeper than ", options_.max_depth, " levels"));
      }
      return c == '{' ? ParseObject(out, depth + 1) : ParseArray(out, depth + 1);
    }
    if (c == '"') {
      out->kind = JsonValue::Kind::kString;
      return ParseString(&out->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    if (Consume("true")) {
      out->kind = JsonValue::Kind::kBool;
      out->boolean = true;
      return absl::OkStatus();
    }
    if (Consume("false")) {
      out->kind = JsonValue::Kind::kBool;
      return absl::OkStatus();
    }
    if (Consume("null")) return absl::OkStatus();
    if (options_.allow_nonfinite && (c == 'N' || c == 'I')) {
      const size_t start = pos_;
      if (Consume("NaN") || Consume("Infinity")) {
        return SetNonfinite(out, start,
                            c == 'N' ? std::numeric_limits<double>::quiet_NaN()
                                     : std::numeric_limits<double>::infinity());
      }
    }
    return Error(pos_, absl::StrCat("unexpected ", Shown(c)));
  }

  absl::Status SetNonfinite(JsonValue* out, size_t start, double number) {
    out->kind = JsonValue::Kind::kNumber;
    out->number = number;
    out->text = std::string(text_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  absl::Status ParseObject(JsonValue* out, int depth) {
    out->kind = JsonValue::Kind::kObject;
    ++pos_;  // '{'
    SkipWhitespace();
    if (Consume("}")) return absl::OkStatus();
    while (true) {
      SkipWhitespace();
      if (AtEnd()) return EndError();
      if (text_[pos_] != '"') {
        return Error(pos_,
                     absl::StrCat("expected a string member name, found ", Shown(text_[pos_])));
      }
      std::string name;
      RRM_RETURN_IF_ERROR(ParseString(&name));
      RRM_RETURN_IF_ERROR(Expect(':', "':'"));
      JsonValue member;
      RRM_RETURN_IF_ERROR(ParseValue(&member, depth));
      out->members.emplace_back(std::move(name), std::move(member));
      SkipWhitespace();
      if (Consume("}")) return absl::OkStatus();
      RRM_RETURN_IF_ERROR(Expect(',', "',' or '}'"));
    }
  }

  absl::Status ParseArray(JsonValue* out, int depth) {
    out->kind = JsonValue::Kind::kArray;
    ++pos_;  // '['
    SkipWhitespace();
    if (Consume("]")) return absl::OkStatus();
    while (true) {
      JsonValue item;
      RRM_RETURN_IF_ERROR(ParseValue(&item, depth));
      out->items.push_back(std::move(item));
      SkipWhitespace();
      if (Consume("]")) return absl::OkStatus();
      RRM_RETURN_IF_ERROR(Expect(',', "',' or ']'"));
    }
  }

  size_t SkipDigits() {
    const size_t start = pos_;
    while (!AtEnd() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ - start;
  }

  absl::Status ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    const bool negative = Consume("-");
    if (negative && options_.allow_nonfinite && Consume("Infinity")) {
      return SetNonfinite(out, start, -std::numeric_limits<double>::infinity());
    }
    const size_t int_start = pos_;
    const size_t int_digits = SkipDigits();
    if (int_digits == 0) {
      return AtEnd() ? EndError()
                     : Error(pos_, absl::StrCat("expected a digit after '-', found ",
                                                Shown(text_[pos_])));
    }
    if (int_digits > 1 && text_[int_start] == '0') {
      return Error(int_start, "number with a leading zero");
    }
    bool is_integer = true;
    if (Consume(".")) {
      is_integer = false;
      if (SkipDigits() == 0) {
        return AtEnd() ? EndError()
                       : Error(pos_, absl::StrCat("expected a digit after '.', found ",
                                                  Shown(text_[pos_])));
      }
    }
    if (!AtEnd() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_integer = false;
      ++pos_;
      if (!Consume("+")) Consume("-");
      if (SkipDigits() == 0) {
        return AtEnd() ? EndError()
                       : Error(pos_, absl::StrCat("expected a digit in the exponent, found ",
                                                  Shown(text_[pos_])));
      }
    }
    out->kind = JsonValue::Kind::kNumber;
    out->text = std::string(text_.substr(start, pos_ - start));
    // The grammar is checked, so this only rounds (correctly): beyond the
    // double range it gives ±infinity, below it ±0.
    if (!absl::SimpleAtod(out->text, &out->number)) {
      return Error(start, "unreadable number");  // not reached for a valid literal
    }
    if (is_integer) {
      int64_t negated = 0;  // -|value|: accumulated negatively, so INT64_MIN fits
      bool fits = true;
      for (size_t i = int_start; i < pos_ && fits; ++i) {
        fits = !__builtin_mul_overflow(negated, 10, &negated) &&
               !__builtin_sub_overflow(negated, text_[i] - '0', &negated);
      }
      if (fits && negative) {
        out->integer = negated;
      } else if (fits && negated != std::numeric_limits<int64_t>::min()) {
        out->integer = -negated;
      }
    }
    return absl::OkStatus();
  }

  // The four hex digits after "\u" at pos_.
  absl::StatusOr<uint32_t> ParseHex4() {
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      if (AtEnd()) return EndError();
      const char h = text_[pos_];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        code |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        code |= h - 'A' + 10;
      } else {
        return Error(pos_, absl::StrCat("expected a hex digit in \\u escape, found ", Shown(h)));
      }
      ++pos_;
    }
    return code;
  }

  absl::Status ParseString(std::string* out) {
    ++pos_;  // '"'
    while (true) {
      if (AtEnd()) return Error(pos_, "unterminated string");
      const size_t at = pos_;
      const char c = text_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) {
        return Error(at, absl::StrFormat("control character 0x%02x in string (escape it)",
                                         static_cast<unsigned char>(c)));
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (AtEnd()) return Error(pos_, "unterminated string");
      const char escape = text_[pos_++];
      switch (escape) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          RRM_ASSIGN_OR_RETURN(uint32_t code, ParseHex4());
          if (code >= 0xdc00 && code < 0xe000) {
            return Error(at, absl::StrFormat("unpaired surrogate \\u%04x", code));
          }
          if (code >= 0xd800 && code < 0xdc00) {  // must be followed by its low half
            const size_t low_at = pos_;
            if (!Consume("\\u")) {
              return Error(at, absl::StrFormat("unpaired surrogate \\u%04x", code));
            }
            RRM_ASSIGN_OR_RETURN(const uint32_t low, ParseHex4());
            if (low < 0xdc00 || low >= 0xe000) {
              return Error(low_at, absl::StrFormat("\\u%04x after the high surrogate \\u%04x, "
                                                   "expected a low surrogate",
                                                   low, code));
            }
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          AppendUtf8(code, out);
          break;
        }
        default: return Error(at, absl::StrCat("bad escape: '\\' followed by ", Shown(escape)));
      }
    }
  }

  const absl::string_view text_;
  const absl::string_view source_;
  const JsonOptions& options_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<JsonValue> ParseJson(absl::string_view text, absl::string_view source,
                                    const JsonOptions& options) {
  return Parser(text, source, options).ParseDocument();
}

}  // namespace rrm
