// A read-only view of an in-memory zip archive whose entries are stored
// uncompressed, which is what torch.save writes.
//
// Internal to core/checkpoint. Every offset and length read from the archive is
// bounds-checked: corrupt or hostile input gives an error, never a crash.
#ifndef RRM_CORE_CHECKPOINT_ZIP_ARCHIVE_H_
#define RRM_CORE_CHECKPOINT_ZIP_ARCHIVE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rrm::checkpoint::internal {

struct ZipEntry {
  std::string name;        // full path inside the archive, e.g. "step_7/data/0"
  absl::string_view data;  // the entry's bytes, pointing into the archive bytes
};

class ZipArchive {
 public:
  // Parses the end-of-central-directory record (zip64 if present), the central
  // directory and every local header, and checks each entry's CRC-32.
  // INVALID_ARGUMENT for bad magic, truncation, compressed or encrypted
  // entries, multi-disk archives and checksum mismatches; messages do not name
  // the file (callers prefix it). `bytes` must outlive the archive.
  static absl::StatusOr<ZipArchive> Parse(absl::string_view bytes);

  // Entries in central-directory order; names are unique.
  const std::vector<ZipEntry>& entries() const { return entries_; }

  // The entry called `name`, or nullptr.
  const ZipEntry* Find(absl::string_view name) const;

 private:
  ZipArchive() = default;

  std::vector<ZipEntry> entries_;
  absl::flat_hash_map<std::string, size_t> index_by_name_;
};

}  // namespace rrm::checkpoint::internal

#endif  // RRM_CORE_CHECKPOINT_ZIP_ARCHIVE_H_
