// rrmd's token file (server/auth.h) against the table the clients share
// (client/contract.json "token_files"): the token rrmctl and rrmdyn send for
// a file is the one rrmd accepts for it, with the role the table names.
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/common/json.h"
#include "server/auth.h"

namespace rrm::server {
namespace {

using ::testing::HasSubstr;

JsonValue ContractTable() {
  const std::string path = std::string(RRM_SOURCE_DIR) + "/client/contract.json";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<JsonValue> parsed = ParseJson(text.str(), path);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : JsonValue();
}

std::string WriteTokens(const std::string& text, int row) {
  const std::string path = ::testing::TempDir() + "/auth_tokens_" + std::to_string(row);
  std::ofstream(path) << text;
  return path;
}

TEST(AuthTokens, RrmdAcceptsTheTokenTheClientsSendWithTheTableRole) {
  const JsonValue table = ContractTable();
  const JsonValue* rows = table.Find("token_files");
  ASSERT_NE(rows, nullptr);
  int checked_admins = 0;
  for (size_t i = 0; i < rows->items.size(); ++i) {
    const JsonValue& row = rows->items[i];
    const JsonValue* text = row.Find("text");
    const JsonValue* token = row.Find("token");
    const JsonValue* role = row.Find("role");
    ASSERT_TRUE(text != nullptr && token != nullptr && role != nullptr) << "row " << i << " needs text, token, role";
    absl::StatusOr<Authenticator> auth = Authenticator::FromFile(WriteTokens(text->text, static_cast<int>(i)));
    if (role->kind == JsonValue::Kind::kNull) {
      EXPECT_FALSE(auth.ok()) << "row " << i << " '" << text->text << "': expected rrmd to refuse the file";
      continue;
    }
    ASSERT_TRUE(auth.ok()) << "row " << i << ": " << auth.status();
    absl::StatusOr<Caller> caller = auth->Check("Bearer " + token->text);
    ASSERT_TRUE(caller.ok()) << "row " << i << ": " << caller.status();
    EXPECT_EQ(RoleName(caller->role()), role->text) << "row " << i << " '" << text->text << "'";
    if (caller->role() == Role::kAdmin) ++checked_admins;
  }
  EXPECT_GT(checked_admins, 0) << "the table holds an admin row";
}

TEST(AuthTokens, AnUnknownRoleIsRefusedNamingLineAndRole) {
  const std::string path = WriteTokens("alice:secret-a\ncarol/root:secret-c\n", 1000);
  absl::StatusOr<Authenticator> auth = Authenticator::FromFile(path);
  ASSERT_FALSE(auth.ok());
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(auth.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(auth.status().message(), HasSubstr("expected role user or admin"));
  EXPECT_THAT(auth.status().message(), HasSubstr("found 'root'"));
}

TEST(AuthTokens, EachRoleGetsItsOwnPriorityCeilingAndOnlyAdminsSeeOthersJobs) {
  const PriorityCeilings ceilings{3, 40};
  absl::StatusOr<Authenticator> auth =
      Authenticator::FromFile(WriteTokens("alice:secret-a\ncarol/admin:secret-c\n", 1001), ceilings);
  ASSERT_TRUE(auth.ok()) << auth.status();
  absl::StatusOr<Caller> alice = auth->Check("Bearer secret-a");
  absl::StatusOr<Caller> carol = auth->Check("Bearer secret-c");
  ASSERT_TRUE(alice.ok() && carol.ok());
  EXPECT_EQ(alice->name(), "alice");
  EXPECT_EQ(alice->max_priority(), 3);
  EXPECT_EQ(carol->max_priority(), 40);
  EXPECT_TRUE(alice->MayAccess("alice"));
  EXPECT_FALSE(alice->MayAccess("bob"));
  EXPECT_TRUE(carol->MayAccess("bob"));
}

TEST(AuthTokens, WithoutATokenFileEveryoneIsTheAdminWithNoName) {
  const Authenticator open(PriorityCeilings{0, 7});
  absl::StatusOr<Caller> anyone = open.Check(std::nullopt);
  ASSERT_TRUE(anyone.ok());
  EXPECT_EQ(anyone->name(), "");
  EXPECT_EQ(anyone->role(), Role::kAdmin);
  EXPECT_EQ(anyone->max_priority(), 7);
  EXPECT_TRUE(anyone->MayAccess("alice"));
}

}  // namespace
}  // namespace rrm::server
