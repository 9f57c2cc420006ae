#include "server/device_worker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/common/status.h"
#include "core/model/model_config.h"

namespace rrm::server {
namespace {
constexpr absl::Duration kBusyWindow = absl::Seconds(30);
}  // namespace

DeviceWorker::DeviceWorker(DeviceSlot slot, WorkSource* source, Metrics* metrics, bool fail_injected,
                           MemoryBudget budget)
    : slot_(std::move(slot)), source_(source), metrics_(metrics), fail_injected_(fail_injected), budget_(budget) {}

DeviceWorker::~DeviceWorker() { Stop(); }

void DeviceWorker::Start() {
  if (metrics_ != nullptr) {
    metrics_->SetDeviceBusy(slot_.name, 0);
    metrics_->AddDeviceBusySeconds(slot_.name, 0);
    metrics_->AddItemsCut(slot_.name, 0);
  }
  PublishMemory();
  thread_ = std::thread([this] { Loop(); });
}

void DeviceWorker::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::vector<measure::ExampleRecord>> DeviceWorker::Run(const Assignment& a,
                                                                      const std::string& device_name,
                                                                      int64_t max_examples) {
  const WorkItem& item = a.item;
  measure::MeasureOptions options = a.options;
  // Items count positions in the job's puzzles; records carry study indices.
  options.first_example_index = a.options.first_example_index + item.begin;
  // MeasurePuzzles runs consecutive batches of batch_size and hands their
  // records on in order: a chunked item is the same call with smaller batches.
  options.batch_size = max_examples > 0 ? std::min(item.size(), max_examples) : item.size();
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

double DeviceWorker::BytesPerExample(const Assignment& a) {
  const model::ModelConfig& config = a.model->config();
  const int64_t directions = std::max<int64_t>(1, a.options.lyapunov_draws) * measure::TangentColumns(a.options);
  double bytes = model::ActivationBytesPerRow(config) * static_cast<double>(1 + directions);
  if (a.options.lyapunov_k > 0 && a.options.lyapunov_method == measure::LyapunovMethod::kPropagator) {
    // Its Krylov bases: float64 vectors of the joint state (z_H and z_L, [S, D] each).
    const double state = 2.0 * static_cast<double>(config.state_positions() * config.hidden_size);
    bytes += 8.0 * state * static_cast<double>(measure::PropagatorBasisColumns(a.options.lyapunov_k));
  }
  return bytes;
}

int64_t DeviceWorker::ExamplesAtOnce(const Assignment& a) {
  const int64_t examples = a.item.size();
  if (!budget_.enabled()) return examples;
  // rrmd checked at start-up that the device can be read; should a later read
  // fail, the item runs whole and JobManager's out-of-memory split remains.
  const absl::StatusOr<DeviceMemory> memory = ReadDeviceMemory(slot_.device);
  if (!memory.ok()) return examples;
  const int64_t fit = ExamplesThatFit(budget_, *memory, BytesPerExample(a), examples);
  if (fit < examples && metrics_ != nullptr) metrics_->AddItemsCut(slot_.name, 1);
  return fit;
}

void DeviceWorker::Loop() {
  while (!stop_) {
    std::optional<Assignment> assignment = source_->Next(slot_, absl::Milliseconds(500));
    if (!assignment.has_value()) {
      AccountBusy(absl::Now(), absl::Now());
      PublishMemory();
      continue;
    }
    const absl::Time start = absl::Now();
    absl::StatusOr<std::vector<measure::ExampleRecord>> result =
        fail_injected_ ? absl::InternalError(absl::StrCat("injected failure on ", slot_.name, " (--fail_device)"))
                       : Run(*assignment, slot_.name, ExamplesAtOnce(*assignment));
    // The caching allocator keeps what the failed batch took; without handing
    // it back the retry of the halves (JobManager) may fail the same way.
    if (result.status().code() == absl::StatusCode::kResourceExhausted) ReleaseCachedMemory(slot_.device);
    AccountBusy(start, absl::Now());
    PublishMemory();
    source_->Complete(slot_, std::move(*assignment), std::move(result));
  }
}

void DeviceWorker::PublishMemory() {
  if (metrics_ == nullptr) return;
  const absl::StatusOr<DeviceMemory> memory = ReadDeviceMemory(slot_.device);
  if (!memory.ok()) return;  // UNIMPLEMENTED without CUDA support: no series rather than zeros
  metrics_->SetDeviceMemory(slot_.name, metric::kMemoryUsed, memory->used);
  metrics_->SetDeviceMemory(slot_.name, metric::kMemoryReserved, memory->reserved);
  metrics_->SetDeviceMemory(slot_.name, metric::kMemoryTotal, memory->total);
  metrics_->SetDeviceMemory(slot_.name, metric::kMemoryFree, memory->free);
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
