#include "server/path_policy.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace rrm::server {

PathPolicy::PathPolicy(std::string flag, const std::string& root) : flag_(std::move(flag)) {
  if (!root.empty()) {
    std::error_code error;
    std::filesystem::path canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(root), error);
    root_ = error ? root : canonical.string();
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }
}

absl::StatusOr<std::string> PathPolicy::Resolve(const std::string& field, const std::string& path) const {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": expected a path, found none"));
  if (root_.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": server-side paths are disabled (the server runs without ", flag_, "), found '",
                     path, "'"));
  }
  std::filesystem::path candidate(path);
  if (candidate.is_relative()) candidate = std::filesystem::path(root_) / candidate;
  std::error_code error;
  // weakly_canonical resolves "..", "." and every symbolic link that exists.
  const std::string resolved = std::filesystem::weakly_canonical(candidate, error).string();
  const bool inside = !error && (resolved == root_ || (resolved.size() > root_.size() &&
                                                      resolved.compare(0, root_.size(), root_) == 0 &&
                                                      resolved[root_.size()] == '/'));
  if (!inside) {
    return absl::PermissionDeniedError(absl::StrCat(field, ": expected a path inside ", flag_, " (", root_,
                                                    "), found '", path, "'"));
  }
  return resolved;
}

}  // namespace rrm::server
