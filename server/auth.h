// Authenticator: bearer tokens for rrmd (--auth_tokens FILE).
//
// The file holds one token per line, optionally as `name:token` (the name is
// the job owner shown in Job.owner and the unit of --max_jobs_per_token);
// blank lines and lines starting with '#' are skipped. A caller sends the
// gRPC metadata `authorization: Bearer <token>`. Without a token file every
// caller is accepted as owner "" (rrmd then listens on loopback only).
//
// Thread safety: immutable after construction.
#ifndef RRM_SERVER_AUTH_H_
#define RRM_SERVER_AUTH_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace rrm::server {

class Authenticator {
 public:
  // Accepts everyone.
  Authenticator() = default;
  // NOT_FOUND for a missing file; INVALID_ARGUMENT (naming file and line) for
  // an empty token, or a file without tokens.
  static absl::StatusOr<Authenticator> FromFile(const std::string& path);

  bool enabled() const { return enabled_; }

  // The caller's name for the `authorization` metadata value (absent when not
  // sent). UNAUTHENTICATED when tokens are required and missing, malformed
  // or unknown; the message never echoes the token.
  absl::StatusOr<std::string> Check(const std::optional<std::string>& authorization) const;

 private:
  bool enabled_ = false;
  absl::flat_hash_map<std::string, std::string> names_;  // token -> name
};

}  // namespace rrm::server

#endif  // RRM_SERVER_AUTH_H_
