#include "server/auth.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rrm::server {

absl::StatusOr<Authenticator> Authenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--auth_tokens: cannot open ", path));
  Authenticator auth;
  auth.enabled_ = true;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string text(absl::StripAsciiWhitespace(line));
    if (text.empty() || text[0] == '#') continue;
    std::string name, token;
    if (const size_t colon = text.find(':'); colon != std::string::npos) {
      name = std::string(absl::StripAsciiWhitespace(text.substr(0, colon)));
      token = std::string(absl::StripAsciiWhitespace(text.substr(colon + 1)));
    } else {
      token = text;
      name = absl::StrCat("token", auth.names_.size() + 1);
    }
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--auth_tokens: ", path, " line ", number, ": empty token"));
    }
    auth.names_[token] = name;
  }
  if (auth.names_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_tokens: ", path, " holds no tokens"));
  }
  return auth;
}

absl::StatusOr<std::string> Authenticator::Check(const std::optional<std::string>& authorization) const {
  if (!enabled_) return std::string();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError("authorization: expected metadata 'authorization: Bearer <token>', found none");
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(*authorization, kBearer)) {
    return absl::UnauthenticatedError("authorization: expected 'Bearer <token>', found another scheme");
  }
  const std::string token(absl::StripAsciiWhitespace(authorization->substr(kBearer.size())));
  auto it = names_.find(token);
  if (it == names_.end()) return absl::UnauthenticatedError("authorization: unknown bearer token");
  return it->second;
}

}  // namespace rrm::server
