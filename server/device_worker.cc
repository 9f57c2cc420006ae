#include "server/device_worker.h"

#include "absl/strings/str_cat.h"
#include "core/common/status.h"

namespace rrm::server {
namespace {
constexpr absl::Duration kBusyWindow = absl::Seconds(30);
}  // namespace

DeviceWorker::DeviceWorker(DeviceSlot slot, WorkSource* source, Metrics* metrics, bool fail_injected)
    : slot_(std::move(slot)), source_(source), metrics_(metrics), fail_injected_(fail_injected) {}

DeviceWorker::~DeviceWorker() { Stop(); }

void DeviceWorker::Start() {
  if (metrics_ != nullptr) {
    metrics_->SetDeviceBusy(slot_.name, 0);
    metrics_->AddDeviceBusySeconds(slot_.name, 0);
  }
  thread_ = std::thread([this] { Loop(); });
}

void DeviceWorker::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::vector<measure::ExampleRecord>> DeviceWorker::Run(const Assignment& a,
                                                                      const std::string& device_name) {
  const WorkItem& item = a.item;
  measure::MeasureOptions options = a.options;
  // Items count positions in the job's puzzles; records carry study indices.
  options.first_example_index = a.options.first_example_index + item.begin;
  options.batch_size = item.size();
  options.restart = item.restart;
  absl::StatusOr<puzzle::PuzzleSet> slice = RunTorch(absl::StrCat("slicing examples ", item.begin, "..", item.end - 1),
                                                     [&]() -> absl::StatusOr<puzzle::PuzzleSet> {
                                                       return a.puzzles->Slice(item.begin, item.end);
                                                     });
  if (!slice.ok()) return slice.status();
  std::vector<measure::ExampleRecord> records;
  absl::Status status = measure::MeasurePuzzles(*a.model, *slice, options, [&](measure::ExampleRecord record) {
    record.device = device_name;  // the worker, e.g. "cpu#1", not just "cpu"
    records.push_back(std::move(record));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return records;
}

void DeviceWorker::Loop() {
  while (!stop_) {
    std::optional<Assignment> assignment = source_->Next(slot_, absl::Milliseconds(500));
    if (!assignment.has_value()) {
      AccountBusy(absl::Now(), absl::Now());
      continue;
    }
    const absl::Time start = absl::Now();
    absl::StatusOr<std::vector<measure::ExampleRecord>> result =
        fail_injected_ ? absl::InternalError(absl::StrCat("injected failure on ", slot_.name, " (--fail_device)"))
                       : Run(*assignment, slot_.name);
    AccountBusy(start, absl::Now());
    source_->Complete(slot_, std::move(*assignment), std::move(result));
  }
}

void DeviceWorker::AccountBusy(absl::Time start, absl::Time end) {
  if (metrics_ == nullptr) return;
  if (end > start) {
    busy_.push_back({start, end});
    metrics_->AddDeviceBusySeconds(slot_.name, absl::ToDoubleSeconds(end - start));
  }
  const absl::Time window_start = end - kBusyWindow;
  while (!busy_.empty() && busy_.front().second < window_start) busy_.pop_front();
  absl::Duration busy;
  for (const auto& [from, to] : busy_) busy += to - std::max(from, window_start);
  metrics_->SetDeviceBusy(slot_.name, absl::ToDoubleSeconds(busy) / absl::ToDoubleSeconds(kBusyWindow));
}

}  // namespace rrm::server
