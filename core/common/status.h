// Error-handling helpers shared by every core module.
//
// Errors are values (absl::Status); the packaged Abseil predates
// ABSL_RETURN_IF_ERROR, so the two tiny macros live here. LibTorch reports
// failures as c10::Error exceptions: RunTorch() is the one place they become a
// Status, so no exception crosses a module edge.
#ifndef RRM_CORE_COMMON_STATUS_H_
#define RRM_CORE_COMMON_STATUS_H_

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define RRM_STATUS_CONCAT_INNER_(a, b) a##b
#define RRM_STATUS_CONCAT_(a, b) RRM_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RRM_RETURN_IF_ERROR(expr)                 \
  do {                                            \
    absl::Status rrm_status_ = (expr);            \
    if (!rrm_status_.ok()) return rrm_status_;    \
  } while (0)

// `lhs = value of expr` for an absl::StatusOr<T> expr, or returns its error.
#define RRM_ASSIGN_OR_RETURN(lhs, expr) \
  RRM_ASSIGN_OR_RETURN_IMPL_(RRM_STATUS_CONCAT_(rrm_statusor_, __LINE__), lhs, expr)
#define RRM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

namespace rrm {

// Runs `fn` (which calls LibTorch) and turns any exception into an INTERNAL
// (or RESOURCE_EXHAUSTED for out-of-memory) status prefixed by `what`.
// `fn` returns absl::Status or absl::StatusOr<T>.
template <typename Fn>
auto RunTorch(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    std::string message = e.what();
    // c10::Error messages carry a C++ backtrace after the first line.
    if (auto eol = message.find('\n'); eol != std::string::npos) message.resize(eol);
    const bool oom = message.find("out of memory") != std::string::npos ||
                     message.find("DefaultCPUAllocator: can't allocate") != std::string::npos;
    std::string full = absl::StrCat(what, ": ", message);
    return oom ? absl::ResourceExhaustedError(full) : absl::InternalError(full);
  }
}

}  // namespace rrm

#endif  // RRM_CORE_COMMON_STATUS_H_
