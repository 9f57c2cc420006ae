// Authenticator: bearer tokens and roles for rrmd (--auth_tokens FILE), and
// the Caller every Dynamics RPC acts as (issue #18 "Tenants").
//
// The file holds one token per line:
//   token                a user named token1, token2, ... by line order
//   name:token           a user named `name` (the job owner shown in
//                        Job.owner and the unit of --max_jobs_per_token)
//   name/role:token      `role` is `user` (the default) or `admin`
// The token is everything after the first ':' (it may hold ':' itself), so
// the role sits with the name; blank lines and lines starting with '#' are
// skipped. client/contract.json "token_files" is the shared table of this
// grammar. A caller sends the gRPC metadata `authorization: Bearer <token>`.
//
// A user sees and manages only their own jobs; an admin all of them. Without
// a token file every caller is the admin "" (rrmd then listens on loopback
// only), so one researcher on their own box sees everything, as before.
//
// Thread safety: immutable after construction.
#ifndef RRM_SERVER_AUTH_H_
#define RRM_SERVER_AUTH_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rrm::server {

enum class Role { kUser, kAdmin };

// "user" / "admin", as written in the token file.
absl::string_view RoleName(Role role);

// The highest SubmitJob priority each role may ask for (--max_priority_user,
// --max_priority_admin); lower priorities are always allowed.
struct PriorityCeilings {
  int32_t user = 0;
  int32_t admin = std::numeric_limits<int32_t>::max();
};

// Who an RPC acts for. Only an Authenticator makes one, and every JobManager
// job method takes one, so no job RPC can skip authentication.
class Caller {
 public:
  const std::string& name() const { return name_; }
  Role role() const { return role_; }
  int32_t max_priority() const { return max_priority_; }
  // The flag that sets max_priority(), for error messages.
  absl::string_view max_priority_flag() const;

  // The one ownership rule: a job is visible to, and managed by, its owner
  // and admins. Everything else answers as if the job did not exist.
  bool MayAccess(const std::string& owner) const { return role_ == Role::kAdmin || owner == name_; }

 private:
  friend class Authenticator;
  Caller(std::string name, Role role, int32_t max_priority)
      : name_(std::move(name)), role_(role), max_priority_(max_priority) {}

  std::string name_;
  Role role_;
  int32_t max_priority_;
};

class Authenticator {
 public:
  // Accepts everyone as the admin "".
  explicit Authenticator(PriorityCeilings ceilings = {}) : ceilings_(ceilings) {}
  // NOT_FOUND for a missing file; INVALID_ARGUMENT (naming file and line) for
  // an empty token, an unknown role, or a file without tokens.
  static absl::StatusOr<Authenticator> FromFile(const std::string& path, PriorityCeilings ceilings = {});

  bool enabled() const { return enabled_; }

  // The caller for the `authorization` metadata value (absent when not
  // sent). UNAUTHENTICATED when tokens are required and missing, malformed
  // or unknown; the message never echoes the token.
  absl::StatusOr<Caller> Check(const std::optional<std::string>& authorization) const;

 private:
  struct Identity {
    std::string name;
    Role role = Role::kUser;
  };
  Caller MakeCaller(const Identity& identity) const;

  bool enabled_ = false;
  PriorityCeilings ceilings_;
  absl::flat_hash_map<std::string, Identity> identities_;  // token -> who
};

}  // namespace rrm::server

#endif  // RRM_SERVER_AUTH_H_
