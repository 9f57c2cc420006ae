#include "server/job_store.h"

#include <zlib.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/common/status.h"
#include "server/status_proto.h"
#include "wire/record_proto.h"

namespace rrm::server {
namespace {

constexpr uint32_t kFrameMagic = 0x314C5252;  // "RRL1" little-endian
constexpr size_t kFrameHeader = 12;

void PutU32(uint32_t value, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint32_t GetU32(const char* p) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return value;
}

uint32_t Checksum(const std::string& payload) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
}

uint64_t KeyOf(int32_t example_index, int32_t restart) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(example_index)) << 32) | static_cast<uint32_t>(restart);
}

StoredJobEnd EndToStored(const JobEnd& end) {
  StoredJobEnd stored;
  stored.set_state(JobStateToProto(end.state));
  stored.set_error(end.error);
  stored.set_finished_unix(end.finished_unix);
  return stored;
}

JobEnd EndFromStored(const StoredJobEnd& stored) {
  JobEnd end;
  end.error = stored.error();
  end.finished_unix = stored.finished_unix();
  if (std::optional<JobState> state = JobStateFromProto(stored.state()); state.has_value() && IsFinished(*state)) {
    end.state = *state;
  } else {  // an end.pb from a build with other states: finished all the same
    end.state = JobState::kFailed;
    end.error = absl::StrCat("end.pb: state ", stored.state(), " is not a final state this build knows; ",
                             stored.error());
  }
  return end;
}

}  // namespace

// One job's record log, opened for writing at its end and reading anywhere.
struct JobStore::Log {
  std::string path;
  std::unique_ptr<StoreFile> file;
  mutable absl::Mutex mu;
  std::vector<int64_t> offsets ABSL_GUARDED_BY(mu);  // frame start per stream index
  std::vector<uint32_t> lengths ABSL_GUARDED_BY(mu);  // payload length per stream index
  int64_t end_offset ABSL_GUARDED_BY(mu) = 0;
  int64_t spec_and_end_bytes ABSL_GUARDED_BY(mu) = 0;  // spec.pb and end.pb (the log is end_offset)
  absl::flat_hash_set<uint64_t> keys ABSL_GUARDED_BY(mu);
  bool finished ABSL_GUARDED_BY(mu) = false;
  std::vector<std::function<void()>> waiters ABSL_GUARDED_BY(mu);
  // Serialises appends (write + fdatasync) without holding `mu` during I/O,
  // so readers are never blocked by a slow disk.
  absl::Mutex append_mu;
};

JobStore::JobStore(std::string data_dir, StoreEnv* env) : data_dir_(std::move(data_dir)), env_(env) {}
JobStore::~JobStore() = default;

std::string JobStore::JobDir(const std::string& job_id) const { return data_dir_ + "/jobs/" + job_id; }

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& data_dir, StoreEnv* env) {
  if (absl::Status status = env->CreateDirs(data_dir + "/jobs"); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("--data_dir: ", status.message()));
  }
  // Deletes a crash cut short: their jobs were already gone from jobs/.
  if (absl::Status status = env->RemoveAll(data_dir + "/trash"); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("--data_dir: ", status.message()));
  }
  std::unique_ptr<JobStore> store(new JobStore(data_dir, env));
  if (absl::Status status = store->Scan(); !status.ok()) return status;
  return store;
}

absl::Status JobStore::Scan() {
  RRM_ASSIGN_OR_RETURN(const std::vector<std::string> folders, env_->ListDirs(data_dir_ + "/jobs"));
  for (const std::string& job_id : folders) {
    const std::string dir = JobDir(job_id);
    RecoveredJob job;
    absl::StatusOr<std::string> spec = env_->ReadFile(dir + "/spec.pb");
    if (!spec.ok() || !job.spec.ParseFromString(*spec) || job.spec.job_id() != job_id) {
      // A job whose spec never became durable was never acknowledged.
      std::cerr << "rrmd: skipping " << dir << ": no readable spec.pb\n";
      continue;
    }
    int64_t spec_and_end_bytes = static_cast<int64_t>(spec->size());
    if (absl::StatusOr<std::string> end = env_->ReadFile(dir + "/end.pb"); end.ok()) {
      spec_and_end_bytes += static_cast<int64_t>(end->size());
      StoredJobEnd parsed;
      if (parsed.ParseFromString(*end)) job.end = EndFromStored(parsed);
    }

    auto log = std::make_shared<Log>();
    log->path = dir + "/records.log";
    RRM_ASSIGN_OR_RETURN(log->file, env_->OpenFile(log->path, /*truncate=*/false));
    RRM_ASSIGN_OR_RETURN(const std::string contents, env_->ReadFile(log->path));
    absl::MutexLock lock(&log->mu);
    size_t at = 0;
    while (at + kFrameHeader <= contents.size()) {
      const char* header = contents.data() + at;
      const uint32_t length = GetU32(header + 4);
      if (GetU32(header) != kFrameMagic || at + kFrameHeader + length > contents.size()) break;
      std::string payload = contents.substr(at + kFrameHeader, length);
      v1::ExampleRecord record;
      if (Checksum(payload) != GetU32(header + 8) || !record.ParseFromString(payload)) break;
      log->offsets.push_back(static_cast<int64_t>(at));
      log->lengths.push_back(length);
      log->keys.insert(KeyOf(record.example_index(), record.restart()));
      job.records += 1;
      if (!record.error().empty()) job.failed_records += 1;
      job.compute_seconds += record.compute_seconds();
      at += kFrameHeader + length;
    }
    if (at != contents.size()) {
      std::cerr << "rrmd: " << log->path << ": discarding " << contents.size() - at
                << " bytes of torn or corrupt tail after " << job.records << " records\n";
      RRM_RETURN_IF_ERROR(log->file->Truncate(static_cast<int64_t>(at)));
    }
    log->end_offset = static_cast<int64_t>(at);
    log->spec_and_end_bytes = spec_and_end_bytes;
    total_bytes_ += log->end_offset + spec_and_end_bytes;
    log->finished = job.end.has_value();
    {
      absl::MutexLock store_lock(&mu_);
      logs_[job_id] = log;
    }
    recovered_.push_back(std::move(job));
  }
  return absl::OkStatus();
}

std::shared_ptr<JobStore::Log> JobStore::FindLog(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(job_id);
  return it == logs_.end() ? nullptr : it->second;
}

absl::Status JobStore::Create(const StoredJob& spec) {
  const std::string& job_id = spec.job_id();
  if (job_id.empty() || job_id.find('/') != std::string::npos || job_id[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat("job_id: not a valid folder name: '", job_id, "'"));
  }
  if (FindLog(job_id) != nullptr) return absl::AlreadyExistsError(absl::StrCat("job ", job_id, " exists"));
  const std::string dir = JobDir(job_id);
  auto log = std::make_shared<Log>();
  log->path = dir + "/records.log";
  // The spec goes last: a folder without spec.pb is ignored by Scan().
  absl::Status status = env_->CreateDirs(dir);
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<StoreFile>> file = env_->OpenFile(log->path, /*truncate=*/true);
    status = file.status();
    if (file.ok()) log->file = *std::move(file);
  }
  const std::string contents = spec.SerializeAsString();
  if (status.ok()) status = WriteFileAtomically(*env_, dir + "/spec.pb", contents);
  if (status.ok()) status = env_->SyncDir(data_dir_ + "/jobs");
  if (!status.ok()) {
    // Not acknowledged: leave nothing behind (best effort; Scan ignores the rest).
    log->file.reset();
    (void)env_->RemoveAll(dir);
    return status;
  }
  {
    absl::MutexLock log_lock(&log->mu);
    log->spec_and_end_bytes = static_cast<int64_t>(contents.size());
  }
  total_bytes_ += static_cast<int64_t>(contents.size());
  absl::MutexLock lock(&mu_);
  logs_[job_id] = std::move(log);
  return absl::OkStatus();
}

absl::StatusOr<JobStore::AppendResult> JobStore::Append(const std::string& job_id,
                                                        const std::vector<measure::ExampleRecord>& records) {
  std::shared_ptr<Log> log = FindLog(job_id);
  if (log == nullptr) return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  absl::MutexLock append_lock(&log->append_mu);
  std::string buffer;
  std::vector<uint32_t> lengths;
  std::vector<uint64_t> keys;
  AppendResult result;
  int64_t start;
  {
    absl::MutexLock lock(&log->mu);
    if (log->finished) {
      return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is finished; its log is sealed"));
    }
    absl::flat_hash_set<uint64_t> batch;
    for (size_t i = 0; i < records.size(); ++i) {
      const measure::ExampleRecord& record = records[i];
      const uint64_t key = KeyOf(record.example_index, record.restart);
      if (log->keys.contains(key) || !batch.insert(key).second) continue;
      result.appended.push_back(i);
      const std::string payload = wire::RecordToProto(record).SerializeAsString();
      PutU32(kFrameMagic, &buffer);
      PutU32(static_cast<uint32_t>(payload.size()), &buffer);
      PutU32(Checksum(payload), &buffer);
      buffer += payload;
      lengths.push_back(static_cast<uint32_t>(payload.size()));
      keys.push_back(key);
    }
    start = log->end_offset;
  }
  if (keys.empty()) return AppendResult{};
  absl::Status status = log->file->WriteAt(start, buffer);
  if (status.ok()) status = log->file->Sync();
  if (!status.ok()) {
    // Nothing is published, and the frames that may have landed in part are
    // cut off again (best effort: Open() drops a torn tail anyway), so the
    // next append starts at the same offset on a clean end.
    (void)log->file->Truncate(start);
    return status;
  }

  std::vector<std::function<void()>> waiters;
  {
    absl::MutexLock lock(&log->mu);
    int64_t at = start;
    for (size_t i = 0; i < keys.size(); ++i) {
      log->offsets.push_back(at);
      log->lengths.push_back(lengths[i]);
      log->keys.insert(keys[i]);
      at += static_cast<int64_t>(kFrameHeader + lengths[i]);
    }
    log->end_offset = at;
    waiters.swap(log->waiters);
  }
  total_bytes_ += static_cast<int64_t>(buffer.size());
  for (auto& wake : waiters) wake();
  result.bytes = static_cast<int64_t>(buffer.size());
  return result;
}

absl::Status JobStore::Finish(const std::string& job_id, const JobEnd& end) {
  std::shared_ptr<Log> log = FindLog(job_id);
  if (log == nullptr) return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  absl::MutexLock append_lock(&log->append_mu);
  {
    absl::MutexLock lock(&log->mu);
    if (log->finished) return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is already finished"));
  }
  const std::string contents = EndToStored(end).SerializeAsString();
  if (absl::Status status = WriteFileAtomically(*env_, JobDir(job_id) + "/end.pb", contents); !status.ok()) {
    return status;
  }
  total_bytes_ += static_cast<int64_t>(contents.size());
  std::vector<std::function<void()>> waiters;
  {
    absl::MutexLock lock(&log->mu);
    log->spec_and_end_bytes += static_cast<int64_t>(contents.size());
    log->finished = true;
    waiters.swap(log->waiters);
  }
  for (auto& wake : waiters) wake();
  return absl::OkStatus();
}

absl::Status JobStore::Delete(const std::string& job_id) {
  std::shared_ptr<Log> log;
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(job_id);
    if (it == logs_.end()) return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
    log = it->second;
  }
  absl::MutexLock append_lock(&log->append_mu);  // no append is half-way
  const std::string trash = data_dir_ + "/trash";
  RRM_RETURN_IF_ERROR(env_->CreateDirs(trash));
  RRM_RETURN_IF_ERROR(env_->Rename(JobDir(job_id), trash + "/" + job_id));
  RRM_RETURN_IF_ERROR(env_->SyncDir(data_dir_ + "/jobs"));
  RRM_RETURN_IF_ERROR(env_->SyncDir(trash));
  std::vector<std::function<void()>> waiters;
  {
    absl::MutexLock lock(&mu_);
    logs_.erase(job_id);
  }
  {
    absl::MutexLock lock(&log->mu);
    total_bytes_ -= log->end_offset + log->spec_and_end_bytes;  // out of jobs/ since the rename
    log->finished = true;
    waiters.swap(log->waiters);
  }
  for (auto& wake : waiters) wake();  // readers find the job gone
  return env_->RemoveAll(trash + "/" + job_id);
}

absl::StatusOr<absl::flat_hash_set<std::pair<int32_t, int32_t>>> JobStore::StoredKeys(
    const std::string& job_id) const {
  std::shared_ptr<Log> log = FindLog(job_id);
  if (log == nullptr) return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  absl::flat_hash_set<std::pair<int32_t, int32_t>> result;
  absl::MutexLock lock(&log->mu);
  for (uint64_t key : log->keys) {
    result.insert({static_cast<int32_t>(key >> 32), static_cast<int32_t>(key & 0xFFFFFFFFu)});
  }
  return result;
}

absl::StatusOr<JobStore::LogState> JobStore::State(const std::string& job_id) const {
  std::shared_ptr<Log> log = FindLog(job_id);
  if (log == nullptr) return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  absl::MutexLock lock(&log->mu);
  return LogState{static_cast<int64_t>(log->offsets.size()), log->finished};
}

absl::StatusOr<std::vector<v1::ExampleRecord>> JobStore::Read(const std::string& job_id, int64_t from,
                                                              int64_t max) const {
  std::shared_ptr<Log> log = FindLog(job_id);
  if (log == nullptr) return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  std::vector<std::pair<int64_t, uint32_t>> frames;
  {
    absl::MutexLock lock(&log->mu);
    for (int64_t i = std::max<int64_t>(from, 0); i < static_cast<int64_t>(log->offsets.size()) &&
                                                 static_cast<int64_t>(frames.size()) < max;
         ++i) {
      frames.push_back({log->offsets[i], log->lengths[i]});
    }
  }
  std::vector<v1::ExampleRecord> records;
  for (const auto& [offset, length] : frames) {
    absl::StatusOr<std::string> payload = log->file->ReadAt(offset + static_cast<int64_t>(kFrameHeader), length);
    v1::ExampleRecord record;
    if (!payload.ok() || !record.ParseFromString(*payload)) {
      return absl::InternalError(absl::StrCat("cannot read back the record at offset ", offset, " of ", log->path));
    }
    records.push_back(std::move(record));
  }
  return records;
}

void JobStore::Subscribe(const std::string& job_id, int64_t seen, std::function<void()> wake) {
  std::shared_ptr<Log> log = FindLog(job_id);
  if (log != nullptr) {
    absl::MutexLock lock(&log->mu);
    if (!log->finished && static_cast<int64_t>(log->offsets.size()) <= seen) {
      log->waiters.push_back(std::move(wake));
      return;
    }
  }
  wake();
}

}  // namespace rrm::server
