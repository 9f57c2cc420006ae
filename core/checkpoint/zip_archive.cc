#include "core/checkpoint/zip_archive.h"

#include <array>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/common/status.h"

namespace rrm::checkpoint::internal {
namespace {

// Record signatures ("PK" followed by two record-type bytes), little-endian.
constexpr uint32_t kLocalHeaderMagic = 0x04034b50;
constexpr uint32_t kCentralHeaderMagic = 0x02014b50;
constexpr uint32_t kEndOfCentralDirMagic = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDirMagic = 0x06064b50;
constexpr uint32_t kZip64LocatorMagic = 0x07064b50;

constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kEndOfCentralDirSize = 22;
constexpr uint64_t kZip64EndOfCentralDirSize = 56;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kMaxCommentSize = 0xffff;
constexpr uint16_t kZip64ExtraFieldId = 0x0001;
constexpr uint16_t kEncryptedFlags = 0x0001 | 0x0040;  // traditional | strong

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// Fuzzing builds skip checksums so that mutated pickles get past them.
constexpr bool kVerifyChecksums = false;
#else
constexpr bool kVerifyChecksums = true;
#endif

// True if [pos, pos + len) lies inside `bytes`, without overflowing.
bool Fits(absl::string_view bytes, uint64_t pos, uint64_t len) {
  return pos <= bytes.size() && len <= bytes.size() - pos;
}

// The `width`-byte little-endian integer at `pos`; callers check Fits first.
uint64_t LoadLittleEndian(absl::string_view bytes, uint64_t pos, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[pos + i]);
  }
  return value;
}

constexpr std::array<uint32_t, 256> MakeCrc32Table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32Table = MakeCrc32Table();

// The CRC-32 (ISO 3309, as zip uses it) of `data`.
uint32_t Crc32(absl::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) crc = kCrc32Table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

struct CentralDirectory {
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t entry_count = 0;
  uint64_t end = 0;  // where the end-of-central-directory records begin
};

// Finds the end-of-central-directory record, which sits in the last 22 bytes
// plus an optional comment of up to 64 KiB, so it is searched for backwards.
absl::StatusOr<uint64_t> FindEndOfCentralDirectory(absl::string_view bytes) {
  if (bytes.size() < kEndOfCentralDirSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated: ", bytes.size(),
                     " bytes is too short for a zip end-of-central-directory record"));
  }
  const uint64_t last = bytes.size() - kEndOfCentralDirSize;
  const uint64_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
  for (uint64_t pos = last + 1; pos-- > first;) {
    if (LoadLittleEndian(bytes, pos, 4) != kEndOfCentralDirMagic) continue;
    const uint64_t comment_size = LoadLittleEndian(bytes, pos + 20, 2);
    if (Fits(bytes, pos + kEndOfCentralDirSize, comment_size)) return pos;
  }
  return absl::InvalidArgumentError(
      "no zip end-of-central-directory record (the file is truncated or not a zip archive)");
}

// Reads the zip64 end-of-central-directory record that the locator just before
// `eocd` points to. torch.save always writes one, whatever the archive size.
absl::StatusOr<CentralDirectory> ReadZip64EndOfCentralDirectory(absl::string_view bytes,
                                                                uint64_t locator) {
  const uint64_t record = LoadLittleEndian(bytes, locator + 8, 8);
  const uint64_t total_disks = LoadLittleEndian(bytes, locator + 16, 4);
  if (total_disks > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("multi-disk zip archives are not supported (", total_disks, " disks)"));
  }
  if (!Fits(bytes, record, kZip64EndOfCentralDirSize) || record > locator) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated: zip64 end-of-central-directory record at ", record,
                     " beyond its locator at ", locator));
  }
  if (LoadLittleEndian(bytes, record, 4) != kZip64EndOfCentralDirMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad zip64 end-of-central-directory magic at ", record));
  }
  const uint64_t disk = LoadLittleEndian(bytes, record + 16, 4);
  const uint64_t directory_disk = LoadLittleEndian(bytes, record + 20, 4);
  const uint64_t entries_on_disk = LoadLittleEndian(bytes, record + 24, 8);
  CentralDirectory directory;
  directory.entry_count = LoadLittleEndian(bytes, record + 32, 8);
  directory.size = LoadLittleEndian(bytes, record + 40, 8);
  directory.offset = LoadLittleEndian(bytes, record + 48, 8);
  directory.end = record;
  if (disk != 0 || directory_disk != 0 || entries_on_disk != directory.entry_count) {
    return absl::InvalidArgumentError("multi-disk zip archives are not supported");
  }
  return directory;
}

absl::StatusOr<CentralDirectory> LocateCentralDirectory(absl::string_view bytes) {
  RRM_ASSIGN_OR_RETURN(const uint64_t eocd, FindEndOfCentralDirectory(bytes));
  CentralDirectory directory;
  if (eocd >= kZip64LocatorSize &&
      LoadLittleEndian(bytes, eocd - kZip64LocatorSize, 4) == kZip64LocatorMagic) {
    RRM_ASSIGN_OR_RETURN(directory,
                         ReadZip64EndOfCentralDirectory(bytes, eocd - kZip64LocatorSize));
  } else {
    const uint64_t disk = LoadLittleEndian(bytes, eocd + 4, 2);
    const uint64_t directory_disk = LoadLittleEndian(bytes, eocd + 6, 2);
    const uint64_t entries_on_disk = LoadLittleEndian(bytes, eocd + 8, 2);
    directory.entry_count = LoadLittleEndian(bytes, eocd + 10, 2);
    directory.size = LoadLittleEndian(bytes, eocd + 12, 4);
    directory.offset = LoadLittleEndian(bytes, eocd + 16, 4);
    directory.end = eocd;
    if (disk != 0 || directory_disk != 0 || entries_on_disk != directory.entry_count) {
      return absl::InvalidArgumentError("multi-disk zip archives are not supported");
    }
  }
  if (directory.offset > directory.end || directory.size > directory.end - directory.offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated: central directory at ", directory.offset, " (", directory.size,
                     " bytes) beyond the end-of-central-directory record at ", directory.end,
                     " (file size ", bytes.size(), ")"));
  }
  if (directory.entry_count > directory.size / kCentralHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("corrupt central directory: ", directory.entry_count,
                     " entries cannot fit in ", directory.size, " bytes"));
  }
  return directory;
}

struct CentralHeader {
  std::string name;
  uint64_t flags = 0;
  uint64_t method = 0;
  uint64_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
  uint64_t disk = 0;
};

// Replaces the 32-bit fields that overflowed (all ones) with their 64-bit
// values from the zip64 extended-information extra field, in the order the
// zip specification fixes.
absl::Status ApplyZip64Extra(absl::string_view extra, CentralHeader& header) {
  uint64_t pos = 0;
  while (Fits(extra, pos, 4)) {
    const uint64_t id = LoadLittleEndian(extra, pos, 2);
    const uint64_t size = LoadLittleEndian(extra, pos + 2, 2);
    pos += 4;
    if (!Fits(extra, pos, size)) break;  // a malformed trailing field; torch never writes one
    if (id == kZip64ExtraFieldId) {
      absl::string_view field = extra.substr(pos, size);
      uint64_t at = 0;
      auto replace = [&](uint64_t& value, uint64_t overflow, int width) -> absl::Status {
        if (value != overflow) return absl::OkStatus();
        if (!Fits(field, at, width)) {
          return absl::InvalidArgumentError(
              absl::StrCat("entry '", header.name, "': zip64 extra field too short"));
        }
        value = LoadLittleEndian(field, at, width);
        at += width;
        return absl::OkStatus();
      };
      RRM_RETURN_IF_ERROR(replace(header.uncompressed_size, 0xffffffff, 8));
      RRM_RETURN_IF_ERROR(replace(header.compressed_size, 0xffffffff, 8));
      RRM_RETURN_IF_ERROR(replace(header.local_header_offset, 0xffffffff, 8));
      RRM_RETURN_IF_ERROR(replace(header.disk, 0xffff, 4));
      return absl::OkStatus();
    }
    pos += size;
  }
  return absl::OkStatus();
}

// Parses the central header at `pos` (inside `directory`) and advances `pos`.
absl::StatusOr<CentralHeader> ReadCentralHeader(absl::string_view directory, uint64_t& pos) {
  if (!Fits(directory, pos, kCentralHeaderSize)) {
    return absl::InvalidArgumentError(
        absl::StrCat("corrupt central directory: header at +", pos, " runs past its end"));
  }
  if (LoadLittleEndian(directory, pos, 4) != kCentralHeaderMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat("corrupt central directory: bad header magic at +", pos));
  }
  CentralHeader header;
  header.flags = LoadLittleEndian(directory, pos + 8, 2);
  header.method = LoadLittleEndian(directory, pos + 10, 2);
  header.crc32 = LoadLittleEndian(directory, pos + 16, 4);
  header.compressed_size = LoadLittleEndian(directory, pos + 20, 4);
  header.uncompressed_size = LoadLittleEndian(directory, pos + 24, 4);
  const uint64_t name_size = LoadLittleEndian(directory, pos + 28, 2);
  const uint64_t extra_size = LoadLittleEndian(directory, pos + 30, 2);
  const uint64_t comment_size = LoadLittleEndian(directory, pos + 32, 2);
  header.disk = LoadLittleEndian(directory, pos + 34, 2);
  header.local_header_offset = LoadLittleEndian(directory, pos + 42, 4);
  pos += kCentralHeaderSize;
  if (!Fits(directory, pos, name_size + extra_size + comment_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("corrupt central directory: entry name at +", pos, " runs past its end"));
  }
  header.name = std::string(directory.substr(pos, name_size));
  RRM_RETURN_IF_ERROR(ApplyZip64Extra(directory.substr(pos + name_size, extra_size), header));
  pos += name_size + extra_size + comment_size;
  return header;
}

// Checks `header` against the local header it points to and returns the
// entry's data.
absl::StatusOr<absl::string_view> LocateEntryData(absl::string_view bytes,
                                                  const CentralHeader& header) {
  const std::string& name = header.name;
  if (header.disk != 0) {
    return absl::InvalidArgumentError(absl::StrCat("entry '", name, "' is on disk ", header.disk,
                                                   "; multi-disk zip archives are not supported"));
  }
  if (header.flags & kEncryptedFlags) {
    return absl::InvalidArgumentError(absl::StrCat("entry '", name, "' is encrypted"));
  }
  if (header.method != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry '", name, "' is compressed (method ", header.method,
                     "); torch.save archives store entries uncompressed (method 0)"));
  }
  if (header.compressed_size != header.uncompressed_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry '", name, "' is stored but its compressed size ",
                     header.compressed_size, " differs from its size ", header.uncompressed_size));
  }
  const uint64_t local = header.local_header_offset;
  if (!Fits(bytes, local, kLocalHeaderSize)) {
    return absl::InvalidArgumentError(absl::StrCat("truncated: local header of entry '", name,
                                                   "' at ", local, " beyond file size ",
                                                   bytes.size()));
  }
  if (LoadLittleEndian(bytes, local, 4) != kLocalHeaderMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad local header magic for entry '", name, "' at ", local));
  }
  const uint64_t name_size = LoadLittleEndian(bytes, local + 26, 2);
  const uint64_t extra_size = LoadLittleEndian(bytes, local + 28, 2);
  const uint64_t name_pos = local + kLocalHeaderSize;
  if (!Fits(bytes, name_pos, name_size + extra_size) || bytes.substr(name_pos, name_size) != name) {
    return absl::InvalidArgumentError(absl::StrCat("local header at ", local,
                                                   " does not name entry '", name,
                                                   "' as the central directory does"));
  }
  // The local extra field (torch pads it to align storages) decides where the
  // data starts; the sizes come from the central directory because torch
  // writes zeros in the local header and a data descriptor after the data.
  const uint64_t data_pos = name_pos + name_size + extra_size;
  if (!Fits(bytes, data_pos, header.compressed_size)) {
    return absl::InvalidArgumentError(absl::StrCat("truncated: entry '", name, "' data at ",
                                                   data_pos, " (", header.compressed_size,
                                                   " bytes) beyond file size ", bytes.size()));
  }
  absl::string_view data = bytes.substr(data_pos, header.compressed_size);
  if (kVerifyChecksums) {
    if (const uint32_t crc = Crc32(data); crc != header.crc32) {
      return absl::InvalidArgumentError(absl::StrCat("entry '", name, "' is corrupt: CRC-32 ", crc,
                                                     " does not match the recorded ",
                                                     header.crc32));
    }
  }
  return data;
}

}  // namespace

absl::StatusOr<ZipArchive> ZipArchive::Parse(absl::string_view bytes) {
  if (bytes.size() >= 4 && LoadLittleEndian(bytes, 0, 4) != kLocalHeaderMagic &&
      LoadLittleEndian(bytes, 0, 4) != kEndOfCentralDirMagic) {
    return absl::InvalidArgumentError("not a zip archive (bad magic)");
  }
  RRM_ASSIGN_OR_RETURN(const CentralDirectory directory_location, LocateCentralDirectory(bytes));
  const absl::string_view directory =
      bytes.substr(directory_location.offset, directory_location.size);
  ZipArchive archive;
  archive.entries_.reserve(directory_location.entry_count);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < directory_location.entry_count; ++i) {
    RRM_ASSIGN_OR_RETURN(CentralHeader header, ReadCentralHeader(directory, pos));
    RRM_ASSIGN_OR_RETURN(absl::string_view data, LocateEntryData(bytes, header));
    if (!archive.index_by_name_.emplace(header.name, archive.entries_.size()).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate zip entry '", header.name, "'"));
    }
    archive.entries_.push_back(ZipEntry{std::move(header.name), data});
  }
  return archive;
}

const ZipEntry* ZipArchive::Find(absl::string_view name) const {
  auto it = index_by_name_.find(name);
  return it == index_by_name_.end() ? nullptr : &entries_[it->second];
}

}  // namespace rrm::checkpoint::internal
