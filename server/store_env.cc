#include "server/store_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace rrm::server {
namespace {

absl::Status LastErrno(const std::string& what, const std::string& path) { return ErrnoStatus(errno, what, path); }

absl::Status FilesystemError(const std::error_code& error, const std::string& what, const std::string& path) {
  return ErrnoStatus(error.value(), what, path);
}

// Writes all of `data` at `offset` of `fd`, retrying short writes and EINTR.
absl::Status WriteFully(int fd, int64_t offset, std::string_view data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::pwrite(fd, data.data() + written, data.size() - written, static_cast<off_t>(offset + written));
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastErrno("cannot write", path);
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

class PosixFile : public StoreFile {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  absl::Status WriteAt(int64_t offset, std::string_view data) override { return WriteFully(fd_, offset, data, path_); }

  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return LastErrno("cannot fdatasync", path_);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadAt(int64_t offset, size_t length) const override {
    std::string data(length, '\0');
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, data.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return LastErrno("cannot read", path_);
      if (n == 0) {
        return absl::InternalError(absl::StrCat("cannot read ", path_, ": ", length, " bytes at offset ", offset,
                                                " expected, the file ends after ", done));
      }
      done += static_cast<size_t>(n);
    }
    return data;
  }

  absl::Status Truncate(int64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return LastErrno("cannot truncate", path_);
    if (::fsync(fd_) != 0) return LastErrno("cannot fsync", path_);
    return absl::OkStatus();
  }

 private:
  const int fd_;
  const std::string path_;
};

class PosixEnv : public StoreEnv {
 public:
  absl::Status CreateDirs(const std::string& path) override {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) return FilesystemError(error, "cannot create", path);
    return absl::OkStatus();
  }

  absl::Status RemoveAll(const std::string& path) override {
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error) return FilesystemError(error, "cannot remove", path);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDirs(const std::string& path) override {
    std::vector<std::string> names;
    std::error_code error;
    for (auto it = std::filesystem::directory_iterator(path, error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      if (it->is_directory(error)) names.push_back(it->path().filename().string());
    }
    if (error) return FilesystemError(error, "cannot list", path);
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no file ", path));
      return LastErrno("cannot open", path);
    }
    std::string contents;
    char buffer[1 << 16];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        absl::Status status = LastErrno("cannot read", path);
        ::close(fd);
        return status;
      }
      if (n == 0) break;
      contents.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return contents;
  }

  absl::Status WriteFile(const std::string& path, std::string_view contents) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return LastErrno("cannot create", path);
    absl::Status status = WriteFully(fd, 0, contents, path);
    if (status.ok() && ::fsync(fd) != 0) status = LastErrno("cannot fsync", path);
    ::close(fd);
    return status;
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return LastErrno(absl::StrCat("cannot rename ", from, " to"), to);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return LastErrno("cannot open folder", path);
    const int rc = ::fsync(fd);
    absl::Status status = rc == 0 ? absl::OkStatus() : LastErrno("cannot fsync folder", path);
    ::close(fd);
    return status;
  }

  absl::StatusOr<std::unique_ptr<StoreFile>> OpenFile(const std::string& path, bool truncate) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
    if (fd < 0) return LastErrno("cannot open", path);
    return std::make_unique<PosixFile>(fd, path);
  }

};

}  // namespace

StoreEnv* StoreEnv::Default() {
  static StoreEnv* const env = new PosixEnv();
  return env;
}

absl::Status ErrnoStatus(int error_number, const std::string& what, const std::string& path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(error_number));
  if (error_number == ENOSPC || error_number == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status WriteFileAtomically(StoreEnv& env, const std::string& path, std::string_view contents) {
  const std::string temporary = path + ".tmp";
  if (absl::Status status = env.WriteFile(temporary, contents); !status.ok()) return status;
  if (absl::Status status = env.Rename(temporary, path); !status.ok()) return status;
  return env.SyncDir(std::filesystem::path(path).parent_path().string());
}

}  // namespace rrm::server
