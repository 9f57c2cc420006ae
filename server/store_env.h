// StoreEnv: every file operation JobStore performs, behind one small interface
// (LevelDB's Env is the model), so tests can make the disk fail — ENOSPC,
// EIO, a write cut short — and check that nothing stored is lost or torn.
// StoreEnv::Default() is the real POSIX file system; nothing else in rrmd
// implements it.
//
// Errors: every operation returns a Status naming the operation and the path
// and ending in the system's message (strerror). A full disk or quota
// (ENOSPC, EDQUOT) is RESOURCE_EXHAUSTED, so callers can wait for space to
// return; anything else (EIO, a missing folder) is INTERNAL. A file that does
// not exist is NOT_FOUND from ReadFile.
//
// Thread safety: Default() and its files may be used from any thread; a
// StoreFile's WriteAt and Sync are serialised by the caller (JobStore's
// per-log append lock), ReadAt may run concurrently with them.
#ifndef RRM_SERVER_STORE_ENV_H_
#define RRM_SERVER_STORE_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rrm::server {

// An open file read and written at explicit offsets (a job's records.log).
class StoreFile {
 public:
  virtual ~StoreFile() = default;
  // Writes all of `data` at `offset`; on failure part of it may have landed.
  virtual absl::Status WriteAt(int64_t offset, std::string_view data) = 0;
  // Makes what was written durable (fdatasync).
  virtual absl::Status Sync() = 0;
  // Exactly `length` bytes at `offset`, or INTERNAL.
  virtual absl::StatusOr<std::string> ReadAt(int64_t offset, size_t length) const = 0;
  // Cuts the file to `size` bytes, durably (ftruncate + fsync).
  virtual absl::Status Truncate(int64_t size) = 0;
};

class StoreEnv {
 public:
  virtual ~StoreEnv() = default;

  // The real file system; never destroyed.
  static StoreEnv* Default();

  // mkdir -p.
  virtual absl::Status CreateDirs(const std::string& path) = 0;
  // rm -r; OK when `path` does not exist.
  virtual absl::Status RemoveAll(const std::string& path) = 0;
  // The names of the folders directly inside `path`, sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListDirs(const std::string& path) = 0;
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Creates or truncates `path`, writes `contents` and fsyncs it.
  virtual absl::Status WriteFile(const std::string& path, std::string_view contents) = 0;
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // fsync of a folder, so a rename or a new entry in it is durable.
  virtual absl::Status SyncDir(const std::string& path) = 0;
  // Opens `path` for reading and writing, creating it; `truncate` empties it.
  virtual absl::StatusOr<std::unique_ptr<StoreFile>> OpenFile(const std::string& path, bool truncate) = 0;
};

// The Status for a failed system call: RESOURCE_EXHAUSTED for ENOSPC and
// EDQUOT, INTERNAL otherwise; "<what> <path>: <strerror(error_number)>".
absl::Status ErrnoStatus(int error_number, const std::string& what, const std::string& path);

// Writes `contents` to `path` so that it exists whole or not at all: a
// temporary name, fsync, rename, fsync of the folder.
absl::Status WriteFileAtomically(StoreEnv& env, const std::string& path, std::string_view contents);

}  // namespace rrm::server

#endif  // RRM_SERVER_STORE_ENV_H_
