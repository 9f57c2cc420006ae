// PathPolicy: which server-side files a client may name. Only paths inside
// the configured root (--model_root, --data_root) are allowed; the check is
// made on the canonical path, so "..", doubled slashes and symbolic links that
// lead outside the root are refused too.
//
// Thread safety: immutable after construction.
#ifndef RRM_SERVER_PATH_POLICY_H_
#define RRM_SERVER_PATH_POLICY_H_

#include <string>

#include "absl/status/statusor.h"

namespace rrm::server {

class PathPolicy {
 public:
  // `flag` names the option that sets `root` (for messages); an empty root
  // refuses every path.
  PathPolicy(std::string flag, const std::string& root);

  // The canonical absolute path of `path` (relative paths are taken relative
  // to the root). PERMISSION_DENIED naming `field`, the path and the root when
  // it lies outside (or no root is configured); INVALID_ARGUMENT when empty.
  absl::StatusOr<std::string> Resolve(const std::string& field, const std::string& path) const;

  const std::string& root() const { return root_; }

 private:
  std::string flag_;
  std::string root_;  // canonical, without trailing slash; empty = none
};

}  // namespace rrm::server

#endif  // RRM_SERVER_PATH_POLICY_H_
