// The client contract rrmctl shares with rrmdyn, from the one table
// client/contract.json (tests/python/test_contract.py checks rrmdyn against
// the same table): retryable codes, exit codes, the --token_file grammar and
// the puzzle ids rrmctl reads from a file (core/puzzle's readers, whose ids
// PuzzleSetToInput sends).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "client/cpp/client.h"
#include "core/common/json.h"
#include "core/puzzle/puzzle_set.h"

namespace rrm {
namespace {

const JsonValue& Table() {
  static const JsonValue* table = [] {
    const std::string path = std::string(RRM_SOURCE_DIR) + "/client/contract.json";
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<JsonValue> parsed = ParseJson(text.str(), path);
    if (!parsed.ok()) {
      ADD_FAILURE() << parsed.status();
      return new JsonValue();
    }
    return new JsonValue(*std::move(parsed));
  }();
  return *table;
}

const std::vector<JsonValue>& Rows(absl::string_view name) {
  static const std::vector<JsonValue> kNone;
  const JsonValue* rows = Table().Find(name);
  EXPECT_NE(rows, nullptr) << "client/contract.json: expected \"" << name << "\", found none";
  return rows == nullptr ? kNone : rows->items;
}

const std::string& Text(const JsonValue& row, absl::string_view key) {
  static const std::string kEmpty;
  const JsonValue* value = row.Find(key);
  return value == nullptr ? kEmpty : value->text;
}

TEST(ClientContract, EveryGrpcCodeHasItsExitCodeAndRetry) {
  std::vector<std::string> named;
  for (const JsonValue& row : Rows("codes")) {
    const std::string& name = Text(row, "code");
    named.push_back(name);
    bool known = false;
    for (int code = 0; code <= 16; ++code) {
      const auto status_code = static_cast<absl::StatusCode>(code);
      if (absl::StatusCodeToString(status_code) != name) continue;
      known = true;
      const absl::Status status(status_code, "the server's message");
      EXPECT_EQ(ExitCode(status), *row.Find("exit")->integer) << name;
      EXPECT_EQ(IsRetryable(status), row.Find("retryable")->boolean) << name;
    }
    EXPECT_TRUE(known) << "client/contract.json: unknown code " << name;
  }
  EXPECT_EQ(named.size(), 17u) << "every gRPC code, once";
}

TEST(ClientContract, ExitCodeNames) {
  const JsonValue* names = Table().Find("exit_codes");
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(*names->Find("ok")->integer, kExitOk);
  EXPECT_EQ(*names->Find("other")->integer, kExitOther);
  EXPECT_EQ(*names->Find("usage")->integer, kExitUsage);
  EXPECT_EQ(*names->Find("unavailable")->integer, kExitUnavailable);
  EXPECT_EQ(*names->Find("not_found")->integer, kExitNotFound);
  EXPECT_EQ(*names->Find("refused")->integer, kExitRefused);
}

TEST(ClientContract, TokenFileGrammar) {
  for (const JsonValue& row : Rows("token_files")) {
    const std::string& text = Text(row, "text");
    absl::StatusOr<std::string> token = ParseTokenFile(text, "token");
    if (row.Find("token")->kind == JsonValue::Kind::kNull) {
      EXPECT_FALSE(token.ok()) << "'" << text << "' gave " << *token;
      EXPECT_EQ(token.status().message(), "--token_file token: expected a token, found none");
    } else {
      ASSERT_TRUE(token.ok()) << "'" << text << "': " << token.status();
      EXPECT_EQ(*token, Text(row, "token")) << "'" << text << "'";
    }
  }
}

TEST(ClientContract, PuzzleIdsOfAFile) {
  for (const JsonValue& row : Rows("puzzle_files")) {
    const std::string& text = Text(row, "text");
    absl::StatusOr<puzzle::PuzzleSet> set = Text(row, "kind") == "sudoku" ? puzzle::ParseSudokuText(text, "file")
                                                                           : puzzle::ParseMazeText(text, "file");
    ASSERT_TRUE(set.ok()) << set.status() << "\n" << text;
    std::vector<std::string> expected;
    for (const JsonValue& id : row.Find("ids")->items) expected.push_back(id.text);
    EXPECT_EQ(set->puzzle_ids, expected) << text;
  }
}

}  // namespace
}  // namespace rrm
