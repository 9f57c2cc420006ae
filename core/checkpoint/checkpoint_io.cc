#include "core/checkpoint/checkpoint_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/common/status.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoint readers copy little-endian file bytes straight into tensors");

namespace rrm::checkpoint::internal {
namespace {

constexpr size_t kMaxDims = 64;

std::string ErrnoMessage(int error) { return std::generic_category().message(error); }

// Closes a POSIX file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  FileDescriptor file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    const int error = errno;
    std::string message = absl::StrCat(path, ": ", ErrnoMessage(error));
    if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
    return absl::InvalidArgumentError(message);
  }
  struct stat info;
  if (fstat(file.get(), &info) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", ErrnoMessage(errno)));
  }
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, not a checkpoint file"));
  }
  std::string bytes;
  try {
    // Reads to EOF rather than trusting st_size: the file may still be growing.
    bytes.resize(info.st_size > 0 ? static_cast<size_t>(info.st_size) : 0);
    size_t filled = 0;
    while (true) {
      if (filled == bytes.size()) bytes.resize(bytes.size() + (bytes.size() >> 1) + 4096);
      const ssize_t got = read(file.get(), bytes.data() + filled, bytes.size() - filled);
      if (got == 0) break;
      if (got < 0) {
        if (errno == EINTR) continue;
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": read failed: ", ErrnoMessage(errno)));
      }
      filled += static_cast<size_t>(got);
    }
    bytes.resize(filled);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": out of memory reading ", info.st_size, " bytes"));
  }
  return bytes;
}

absl::Status WithContext(absl::string_view context, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

std::string FirstBytesForMessage(absl::string_view bytes) {
  if (bytes.empty()) return "none";
  std::vector<std::string> hex;
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    hex.push_back(absl::StrFormat("0x%02x", static_cast<unsigned char>(bytes[i])));
  }
  return absl::StrJoin(hex, " ");
}

absl::StatusOr<int64_t> CheckedNumel(const std::vector<int64_t>& shape) {
  if (shape.size() > kMaxDims) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape has ", shape.size(), " dimensions; at most ", kMaxDims, " allowed"));
  }
  int64_t numel = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return absl::InvalidArgumentError(absl::StrCat("negative dimension ", dim));
    if (__builtin_mul_overflow(numel, dim, &numel)) {
      return absl::InvalidArgumentError("element count overflows int64");
    }
  }
  return numel;
}

absl::StatusOr<torch::Tensor> TensorFromBytes(absl::string_view bytes, torch::ScalarType dtype,
                                              const std::vector<int64_t>& shape) {
  RRM_ASSIGN_OR_RETURN(const int64_t numel, CheckedNumel(shape));
  const uint64_t element_size = c10::elementSize(dtype);
  if (static_cast<uint64_t>(numel) > bytes.size() / element_size ||
      numel * element_size != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(bytes.size(), " bytes do not hold ", numel,
                                                   " elements of ", c10::toString(dtype)));
  }
  if (dtype == torch::kBool) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != 0 && bytes[i] != 1) {
        return absl::InvalidArgumentError(absl::StrFormat("bool element %d is 0x%02x, not 0 or 1",
                                                          i, static_cast<unsigned char>(bytes[i])));
      }
    }
  }
  return RunTorch("allocating a tensor", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::Tensor tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    if (!bytes.empty()) std::memcpy(tensor.data_ptr(), bytes.data(), bytes.size());
    return tensor;
  });
}

}  // namespace rrm::checkpoint::internal
