#include "server/auth.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rrm::server {

absl::string_view RoleName(Role role) { return role == Role::kAdmin ? "admin" : "user"; }

absl::string_view Caller::max_priority_flag() const {
  return role_ == Role::kAdmin ? "--max_priority_admin" : "--max_priority_user";
}

absl::StatusOr<Authenticator> Authenticator::FromFile(const std::string& path, PriorityCeilings ceilings) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--auth_tokens: cannot open ", path));
  Authenticator auth(ceilings);
  auth.enabled_ = true;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string text(absl::StripAsciiWhitespace(line));
    if (text.empty() || text[0] == '#') continue;
    Identity identity;
    std::string token;
    if (const size_t colon = text.find(':'); colon != std::string::npos) {
      std::string who(absl::StripAsciiWhitespace(text.substr(0, colon)));
      token = std::string(absl::StripAsciiWhitespace(text.substr(colon + 1)));
      if (const size_t slash = who.rfind('/'); slash != std::string::npos) {
        const std::string role(absl::StripAsciiWhitespace(who.substr(slash + 1)));
        if (role == RoleName(Role::kAdmin)) {
          identity.role = Role::kAdmin;
        } else if (role != RoleName(Role::kUser)) {
          return absl::InvalidArgumentError(absl::StrCat("--auth_tokens: ", path, " line ", number,
                                                         ": expected role user or admin after '/', found '", role,
                                                         "'"));
        }
        who = std::string(absl::StripAsciiWhitespace(who.substr(0, slash)));
      }
      identity.name = std::move(who);
    } else {
      token = text;
      identity.name = absl::StrCat("token", auth.identities_.size() + 1);
    }
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--auth_tokens: ", path, " line ", number, ": empty token"));
    }
    auth.identities_[token] = std::move(identity);
  }
  if (auth.identities_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_tokens: ", path, " holds no tokens"));
  }
  return auth;
}

Caller Authenticator::MakeCaller(const Identity& identity) const {
  return Caller(identity.name, identity.role, identity.role == Role::kAdmin ? ceilings_.admin : ceilings_.user);
}

absl::StatusOr<Caller> Authenticator::Check(const std::optional<std::string>& authorization) const {
  if (!enabled_) return MakeCaller(Identity{"", Role::kAdmin});
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError("authorization: expected metadata 'authorization: Bearer <token>', found none");
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(*authorization, kBearer)) {
    return absl::UnauthenticatedError("authorization: expected 'Bearer <token>', found another scheme");
  }
  const std::string token(absl::StripAsciiWhitespace(authorization->substr(kBearer.size())));
  auto it = identities_.find(token);
  if (it == identities_.end()) return absl::UnauthenticatedError("authorization: unknown bearer token");
  return MakeCaller(it->second);
}

}  // namespace rrm::server
