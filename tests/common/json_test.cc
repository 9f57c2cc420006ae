// The shared JSON reader: the tree it builds, the numbers it keeps, the
// extensions it accepts only when asked, and where its errors point.
#include "core/common/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rrm {
namespace {

using ::testing::HasSubstr;
using Kind = JsonValue::Kind;

JsonValue Parse(const std::string& text, const JsonOptions& options = {}) {
  absl::StatusOr<JsonValue> value = ParseJson(text, "t.json", options);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *std::move(value) : JsonValue();
}

// The whole message for text that must not parse.
std::string Error(const std::string& text, const JsonOptions& options = {}) {
  absl::StatusOr<JsonValue> value = ParseJson(text, "t.json", options);
  EXPECT_FALSE(value.ok()) << text;
  if (value.ok()) return "";
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(value.status().message());
}

JsonOptions WithNonfinite() {
  JsonOptions options;
  options.allow_nonfinite = true;
  return options;
}

TEST(Json, BuildsTheTreeWithMembersInFileOrder) {
  const JsonValue v = Parse(R"( {"b": [1, "x", true, false, null, {}], "a": {"c": -2}, "b": 3} )");
  ASSERT_EQ(v.kind, Kind::kObject);
  ASSERT_EQ(v.members.size(), 3u);  // a repeated name is kept; the caller decides
  EXPECT_EQ(v.members[0].first, "b");
  EXPECT_EQ(v.members[1].first, "a");
  EXPECT_EQ(v.members[2].first, "b");
  const JsonValue* b = v.Find("b");  // the first one
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->kind, Kind::kArray);
  ASSERT_EQ(b->items.size(), 6u);
  EXPECT_EQ(b->items[0].integer, 1);
  EXPECT_EQ(b->items[1].kind, Kind::kString);
  EXPECT_EQ(b->items[1].text, "x");
  EXPECT_EQ(b->items[2].kind, Kind::kBool);
  EXPECT_TRUE(b->items[2].boolean);
  EXPECT_EQ(b->items[3].kind, Kind::kBool);
  EXPECT_FALSE(b->items[3].boolean);
  EXPECT_EQ(b->items[4].kind, Kind::kNull);
  EXPECT_EQ(b->items[5].kind, Kind::kObject);
  EXPECT_TRUE(b->items[5].members.empty());
  ASSERT_NE(v.Find("a"), nullptr);
  ASSERT_NE(v.Find("a")->Find("c"), nullptr);
  EXPECT_EQ(v.Find("a")->Find("c")->integer, -2);
  EXPECT_EQ(v.Find("c"), nullptr);
  EXPECT_EQ(b->Find("b"), nullptr);     // not an object
  EXPECT_EQ(Parse("\"s\"").text, "s");  // any value may be the document
  EXPECT_EQ(Parse(" \t\r\n7 \t\r\n").integer, 7);
}

TEST(Json, IntegersAreExactAndOtherNumbersAreDoubles) {
  const JsonValue max = Parse("9223372036854775807");
  EXPECT_EQ(max.integer, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(max.text, "9223372036854775807");
  EXPECT_EQ(Parse("-9223372036854775808").integer, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Parse("-0").integer, 0);
  EXPECT_EQ(Parse("0").integer, 0);
  // Beyond int64: still a number, but no exact integer.
  for (const char* text :
       {"9223372036854775808", "-9223372036854775809", "123456789012345678901234567890"}) {
    const JsonValue v = Parse(text);
    EXPECT_EQ(v.kind, Kind::kNumber) << text;
    EXPECT_FALSE(v.integer.has_value()) << text;
    EXPECT_EQ(v.text, text);
  }
  EXPECT_EQ(Parse("9223372036854775808").number, 9223372036854775808.0);
  // A fraction or an exponent makes it no integer, even when the value is integral.
  for (const char* text : {"1.0", "1e2", "1E+2", "-5e-0"}) {
    EXPECT_FALSE(Parse(text).integer.has_value()) << text;
  }
  EXPECT_EQ(Parse("1e2").number, 100.0);
  EXPECT_EQ(Parse("-2.5E-3").number, -2.5e-3);
  EXPECT_EQ(Parse("12").number, 12.0);
  // Beyond the double range: infinity (callers refuse it); below it: zero.
  EXPECT_EQ(Parse("1e999").number, std::numeric_limits<double>::infinity());
  EXPECT_EQ(Parse("-1e999").number, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(Parse("1e-999").number, 0.0);
  EXPECT_TRUE(std::signbit(Parse("-1e-999").number));
}

TEST(Json, DoublesReadBackBitExact) {
  std::vector<double> values = {0.1, 1.0 / 3.0, 1e-300, 5e-324, 2.2250738585072009e-308,
                                std::numeric_limits<double>::max(), 123456.789, -2.5e-7, -0.0};
  std::mt19937_64 random(7);
  while (values.size() < 2000) {
    const uint64_t bits = random();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    if (std::isfinite(d)) values.push_back(d);
  }
  for (double d : values) {
    char shortest[32];
    const auto end = std::to_chars(shortest, shortest + sizeof(shortest), d).ptr;
    char g17[32];
    std::snprintf(g17, sizeof(g17), "%.17g", d);
    for (const std::string text : {std::string(shortest, end), std::string(g17)}) {
      const double back = Parse(text).number;
      EXPECT_EQ(std::memcmp(&back, &d, sizeof(d)), 0) << text;
    }
  }
}

TEST(Json, LeadingZerosAndMalformedNumbersAreErrors) {
  EXPECT_EQ(Error("01"), "t.json: invalid JSON at byte 0: number with a leading zero");
  EXPECT_EQ(Error("[-00]"), "t.json: invalid JSON at byte 2: number with a leading zero");
  EXPECT_EQ(Parse("0.5").number, 0.5);
  EXPECT_THAT(Error("-x"), HasSubstr("at byte 1: expected a digit after '-', found character 'x'"));
  EXPECT_THAT(Error("1.e5"), HasSubstr("at byte 2: expected a digit after '.'"));
  EXPECT_THAT(Error("1e+"), HasSubstr("at byte 3: unexpected end of input"));
  EXPECT_THAT(Error("[1ex]"), HasSubstr("at byte 3: expected a digit in the exponent"));
  EXPECT_THAT(Error(".5"), HasSubstr("at byte 0: unexpected character '.'"));
  EXPECT_THAT(Error("+1"), HasSubstr("at byte 0: unexpected character '+'"));
  EXPECT_THAT(Error("0x10"), HasSubstr("at byte 1: unexpected text after the JSON value"));
}

TEST(Json, NanAndInfinityOnlyWhenEnabled) {
  EXPECT_EQ(Error("[NaN]"), "t.json: invalid JSON at byte 1: unexpected character 'N'");
  EXPECT_THAT(Error("Infinity"), HasSubstr("at byte 0: unexpected character 'I'"));
  EXPECT_THAT(Error("-Infinity"),
              HasSubstr("at byte 1: expected a digit after '-', found character 'I'"));

  const JsonValue v = Parse("[NaN, Infinity, -Infinity]", WithNonfinite());
  ASSERT_EQ(v.items.size(), 3u);
  for (const JsonValue& item : v.items) {
    EXPECT_EQ(item.kind, Kind::kNumber);
    EXPECT_FALSE(item.integer.has_value());
  }
  EXPECT_TRUE(std::isnan(v.items[0].number));
  EXPECT_EQ(v.items[1].number, std::numeric_limits<double>::infinity());
  EXPECT_EQ(v.items[2].number, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(v.items[2].text, "-Infinity");
  // Exactly Python's spellings, nothing else.
  for (const char* text : {"nan", "-NaN", "inf", "Inf", "+Infinity", "NaNa"}) {
    EXPECT_THAT(Error(text, WithNonfinite()), HasSubstr("invalid JSON at byte")) << text;
  }
}

TEST(Json, NestingIsLimited) {
  JsonOptions three;
  three.max_depth = 3;
  EXPECT_EQ(Parse("[[[]]]", three).kind, Kind::kArray);
  EXPECT_EQ(Parse(R"({"a": {"b": [1]}})", three).kind, Kind::kObject);
  EXPECT_EQ(Error("[[[[]]]]", three),
            "t.json: invalid JSON at byte 3: nested deeper than 3 levels");
  EXPECT_THAT(Error(R"({"a": {"b": [{}]}})", three),
              HasSubstr("at byte 13: nested deeper than 3 levels"));
  // The default, 64 levels; far deeper input fails cleanly instead of overflowing the stack.
  EXPECT_EQ(Parse(std::string(64, '[') + std::string(64, ']')).kind, Kind::kArray);
  EXPECT_THAT(Error(std::string(65, '[') + std::string(65, ']')),
              HasSubstr("at byte 64: nested deeper than 64 levels"));
  EXPECT_THAT(Error(std::string(1'000'000, '[')), HasSubstr("nested deeper than 64 levels"));
}

TEST(Json, StringEscapesAndUnicode) {
  EXPECT_EQ(Parse(R"("\" \\ \/ \b \f \n \r \t")").text, "\" \\ / \b \f \n \r \t");
  EXPECT_EQ(Parse(R"("\u0041\u00e9\u20AC")").text, "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(Parse(R"("\u0000")").text, std::string(1, '\0'));
  EXPECT_EQ(Parse(R"("\ud83d\ude00")").text, "\xf0\x9f\x98\x80");  // U+1F600, a surrogate pair
  EXPECT_EQ(Parse(R"("\uDBFF\uDFFF")").text, "\xf4\x8f\xbf\xbf");  // U+10FFFF
  EXPECT_EQ(Parse("\"\xc3\xa9\x7f\"").text, "\xc3\xa9\x7f");       // raw bytes pass through
  EXPECT_EQ(Error(R"("\q")"),
            "t.json: invalid JSON at byte 1: bad escape: '\\' followed by character 'q'");
  EXPECT_THAT(Error(R"("ab\u12g4")"),
              HasSubstr("at byte 7: expected a hex digit in \\u escape, found character 'g'"));
}

TEST(Json, UnpairedSurrogatesAreErrors) {
  EXPECT_EQ(Error(R"("x\ude00")"), "t.json: invalid JSON at byte 2: unpaired surrogate \\ude00");
  EXPECT_THAT(Error(R"("x\ud83d")"), HasSubstr("at byte 2: unpaired surrogate \\ud83d"));
  EXPECT_THAT(Error(R"("x\ud83dy")"), HasSubstr("at byte 2: unpaired surrogate \\ud83d"));
  EXPECT_THAT(Error(R"("x\ud83d\n")"), HasSubstr("at byte 2: unpaired surrogate \\ud83d"));
  EXPECT_THAT(
      Error(R"("x\ud83d\u0041")"),
      HasSubstr("at byte 8: \\u0041 after the high surrogate \\ud83d, expected a low surrogate"));
  EXPECT_THAT(Error(R"("x\ud83d\ud83d")"),
              HasSubstr("at byte 8: \\ud83d after the high surrogate"));
}

TEST(Json, ControlCharactersInStringsAreErrors) {
  EXPECT_EQ(Error("\"a\nb\""),
            "t.json: invalid JSON at byte 2: control character 0x0a in string (escape it)");
  EXPECT_THAT(Error(std::string("[\"\t\"]")), HasSubstr("at byte 2: control character 0x09"));
  EXPECT_THAT(Error(std::string("\"\0\"", 3)), HasSubstr("at byte 1: control character 0x00"));
  EXPECT_THAT(Error(std::string("{\"k\x1f\": 1}")), HasSubstr("at byte 3: control character 0x1f"));
}

TEST(Json, TrailingCharactersAreErrors) {
  EXPECT_EQ(Error("{} x"), "t.json: invalid JSON at byte 3: unexpected text after the JSON value");
  EXPECT_THAT(Error("1 2"), HasSubstr("at byte 2: unexpected text after"));
  EXPECT_THAT(Error("[1]]"), HasSubstr("at byte 3: unexpected text after"));
  EXPECT_THAT(Error("truex"), HasSubstr("at byte 4: unexpected text after"));
  EXPECT_THAT(Error(std::string("{}\0", 3)), HasSubstr("at byte 2: unexpected text after"));
}

TEST(Json, TruncatedInputIsAnErrorAtItsEnd) {
  EXPECT_EQ(Error(""), "t.json: invalid JSON at byte 0: unexpected end of input");
  EXPECT_THAT(Error("  "), HasSubstr("at byte 2: unexpected end of input"));
  EXPECT_THAT(Error("{"), HasSubstr("at byte 1: unexpected end of input"));
  EXPECT_THAT(Error("[1,"), HasSubstr("at byte 3: unexpected end of input"));
  EXPECT_THAT(Error("[1"), HasSubstr("at byte 2: unexpected end of input"));
  EXPECT_THAT(Error(R"({"a")"), HasSubstr("at byte 4: unexpected end of input"));
  EXPECT_THAT(Error(R"({"a":)"), HasSubstr("at byte 5: unexpected end of input"));
  EXPECT_THAT(Error(R"({"a": 1)"), HasSubstr("at byte 7: unexpected end of input"));
  EXPECT_THAT(Error("-"), HasSubstr("at byte 1: unexpected end of input"));
  EXPECT_THAT(Error("1."), HasSubstr("at byte 2: unexpected end of input"));
  EXPECT_THAT(Error(R"("abc)"), HasSubstr("at byte 4: unterminated string"));
  EXPECT_THAT(Error(R"("abc\)"), HasSubstr("at byte 5: unterminated string"));
  EXPECT_THAT(Error(R"("\u12)"), HasSubstr("at byte 5: unexpected end of input"));
  EXPECT_THAT(Error("tru"), HasSubstr("at byte 0: unexpected character 't'"));
}

TEST(Json, StructuralErrorsNameWhatWasExpected) {
  EXPECT_EQ(Error("{a: 1}"),
            "t.json: invalid JSON at byte 1: expected a string member name, found character 'a'");
  EXPECT_THAT(Error(R"({"a" 1})"), HasSubstr("at byte 5: expected ':', found character '1'"));
  EXPECT_THAT(Error(R"({"a": 1 "b": 2})"),
              HasSubstr("at byte 8: expected ',' or '}', found character '\"'"));
  EXPECT_THAT(Error("[1 2]"), HasSubstr("at byte 3: expected ',' or ']', found character '2'"));
  EXPECT_THAT(Error("[1,]"), HasSubstr("at byte 3: unexpected character ']'"));
  EXPECT_THAT(Error(R"({"a": 1,})"),
              HasSubstr("at byte 8: expected a string member name, found character '}'"));
  EXPECT_THAT(Error("\x01"), HasSubstr("at byte 0: unexpected byte 0x01"));
}

TEST(Json, TheSourceLeadsTheMessage) {
  EXPECT_EQ(ParseJson("[", "safetensors header").status().message(),
            "safetensors header: invalid JSON at byte 1: unexpected end of input");
  EXPECT_EQ(ParseJson("[", "").status().message(),
            "invalid JSON at byte 1: unexpected end of input");
}

}  // namespace
}  // namespace rrm
