// FaultEnv: the real file system (StoreEnv::Default()) with a switch that
// makes every write-side operation fail with a chosen errno, as a full disk
// (ENOSPC) or a failing one (EIO) would. Reads keep working, as they do on a
// full disk. A failing WriteAt first lands half of its bytes, so the store
// must cope with a torn frame, not just a refused one.
#ifndef RRM_TESTS_SERVER_FAULT_ENV_H_
#define RRM_TESTS_SERVER_FAULT_ENV_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/store_env.h"

namespace rrm::server {

class FaultEnv : public StoreEnv {
 public:
  // 0 = no fault; ENOSPC, EIO, ... = every write-side operation fails so.
  void Fail(int error_number) { fail_.store(error_number); }
  // Only the record logs' writes: the next `successes` appends land, every
  // later one fails with `error_number` (0 = appends work again).
  void FailAppendsAfter(int successes, int error_number) {
    append_successes_left_.store(successes);
    fail_appends_.store(error_number);
  }
  // Write-side operations refused so far.
  int failures() const { return failures_.load(); }

  absl::Status CreateDirs(const std::string& path) override {
    if (absl::Status s = Injected("cannot create", path); !s.ok()) return s;
    return real_->CreateDirs(path);
  }
  absl::Status RemoveAll(const std::string& path) override { return real_->RemoveAll(path); }
  absl::StatusOr<std::vector<std::string>> ListDirs(const std::string& path) override { return real_->ListDirs(path); }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override { return real_->ReadFile(path); }
  absl::Status WriteFile(const std::string& path, std::string_view contents) override {
    if (absl::Status s = Injected("cannot write", path); !s.ok()) return s;
    return real_->WriteFile(path, contents);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (absl::Status s = Injected("cannot rename to", to); !s.ok()) return s;
    return real_->Rename(from, to);
  }
  absl::Status SyncDir(const std::string& path) override {
    if (absl::Status s = Injected("cannot fsync folder", path); !s.ok()) return s;
    return real_->SyncDir(path);
  }
  absl::StatusOr<std::unique_ptr<StoreFile>> OpenFile(const std::string& path, bool truncate) override {
    absl::StatusOr<std::unique_ptr<StoreFile>> file = real_->OpenFile(path, truncate);
    if (!file.ok()) return file.status();
    return std::make_unique<File>(this, *std::move(file), path);
  }

 private:
  class File : public StoreFile {
   public:
    File(FaultEnv* env, std::unique_ptr<StoreFile> real, std::string path)
        : env_(env), real_(std::move(real)), path_(std::move(path)) {}
    absl::Status WriteAt(int64_t offset, std::string_view data) override {
      absl::Status s = env_->Injected("cannot write", path_);
      if (s.ok()) s = env_->InjectedAppend("cannot write", path_);
      if (!s.ok()) {
        (void)real_->WriteAt(offset, data.substr(0, data.size() / 2));  // a torn frame
        return s;
      }
      return real_->WriteAt(offset, data);
    }
    absl::Status Sync() override {
      if (absl::Status s = env_->Injected("cannot fdatasync", path_); !s.ok()) return s;
      return real_->Sync();
    }
    absl::StatusOr<std::string> ReadAt(int64_t offset, size_t length) const override {
      return real_->ReadAt(offset, length);
    }
    // Shrinking needs no space, so it works on a full disk too.
    absl::Status Truncate(int64_t size) override { return real_->Truncate(size); }

   private:
    FaultEnv* const env_;
    const std::unique_ptr<StoreFile> real_;
    const std::string path_;
  };

  absl::Status Injected(const std::string& what, const std::string& path) {
    const int error_number = fail_.load();
    if (error_number == 0) return absl::OkStatus();
    failures_.fetch_add(1);
    return ErrnoStatus(error_number, what, path);
  }

  absl::Status InjectedAppend(const std::string& what, const std::string& path) {
    const int error_number = fail_appends_.load();
    if (error_number == 0 || append_successes_left_.fetch_sub(1) > 0) return absl::OkStatus();
    failures_.fetch_add(1);
    return ErrnoStatus(error_number, what, path);
  }

  StoreEnv* const real_ = StoreEnv::Default();
  std::atomic<int> fail_{0};
  std::atomic<int> fail_appends_{0};
  std::atomic<int> append_successes_left_{0};
  std::atomic<int> failures_{0};
};

}  // namespace rrm::server

#endif  // RRM_TESTS_SERVER_FAULT_ENV_H_
