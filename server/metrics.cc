#include "server/metrics.h"

namespace rrm::server {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      jobs_(BuildGauge().Name(metric::kJobs).Help("Jobs by state").Register(*registry_)),
      jobs_submitted_(BuildCounter()
                          .Name(metric::kJobsSubmitted)
                          .Help("Jobs accepted by SubmitJob (idempotent repeats not counted)")
                          .Register(*registry_)
                          .Add({})),
      queue_depth_(BuildGauge().Name(metric::kQueueDepth).Help("Work items waiting for a device").Register(*registry_).Add({})),
      items_stopped_(BuildCounter()
                         .Name(metric::kItemsStopped)
                         .Help("Running work items stopped at a segment boundary (CancelJob, deadline)")
                         .Register(*registry_)
                         .Add({})),
      examples_completed_(BuildCounter()
                              .Name(metric::kExamplesCompleted)
                              .Help("Records stored without error, by model")
                              .Register(*registry_)),
      examples_failed_(BuildCounter()
                           .Name(metric::kExamplesFailed)
                           .Help("Records stored with error set, by model")
                           .Register(*registry_)),
      example_seconds_(BuildHistogram()
                           .Name(metric::kExampleSeconds)
                           .Help("Compute time per record (seconds), by model")
                           .Register(*registry_)),
      device_busy_(BuildGauge()
                       .Name(metric::kDeviceBusy)
                       .Help("Share of the last 30 s a device worker spent measuring")
                       .Register(*registry_)),
      device_busy_seconds_(BuildCounter()
                               .Name(metric::kDeviceBusySeconds)
                               .Help("Seconds a device worker spent measuring")
                               .Register(*registry_)),
      device_memory_(BuildGauge()
                         .Name(metric::kDeviceMemory)
                         .Help("Memory of a device worker's device by kind: used, reserved, total, free")
                         .Register(*registry_)),
      device_weights_(BuildGauge()
                          .Name(metric::kDeviceWeights)
                          .Help("Bytes of model weights held on a device worker (checkpoint sizes of its replicas)")
                          .Register(*registry_)),
      items_cut_(BuildCounter()
                     .Name(metric::kItemsCut)
                     .Help("Work items run in chunks smaller than the item to fit --device_memory_budget")
                     .Register(*registry_)),
      device_in_rotation_(BuildGauge()
                              .Name(metric::kDeviceInRotation)
                              .Help("1 while a device worker takes work, 0 once taken out for failing")
                              .Register(*registry_)),
      records_stored_(BuildCounter().Name(metric::kRecordsStored).Help("Records appended to the job store").Register(*registry_).Add({})),
      record_bytes_(BuildCounter().Name(metric::kRecordBytes).Help("Bytes appended to record logs").Register(*registry_).Add({})),
      store_bytes_(BuildGauge()
                       .Name(metric::kStoreBytes)
                       .Help("Bytes of every stored job's files under --data_dir/jobs")
                       .Register(*registry_)
                       .Add({})),
      rpcs_(BuildCounter().Name(metric::kRpcs).Help("RPCs answered, by method and gRPC status code").Register(*registry_)),
      models_loaded_(BuildGauge().Name(metric::kModelsLoaded).Help("Models in the registry").Register(*registry_).Add({})) {
  for (const char* state : {"queued", "running", "succeeded", "failed", "cancelled"}) SetJobs(state, 0);
}

void Metrics::SetJobs(const std::string& state, double count) { jobs_.Add({{metric::kStateLabel, state}}).Set(count); }
void Metrics::JobSubmitted() { jobs_submitted_.Increment(); }
void Metrics::SetQueueDepth(double items) { queue_depth_.Set(items); }
void Metrics::ItemStopped() { items_stopped_.Increment(); }

void Metrics::ExampleDone(const std::string& model, bool failed, double compute_seconds) {
  const prometheus::Labels labels{{metric::kModelLabel, model}};
  // Touch both counters so a model's series exist from its first record on.
  auto& completed = examples_completed_.Add(labels);
  auto& failures = examples_failed_.Add(labels);
  (failed ? failures : completed).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                0.25,  0.5,    1,     2.5,  5,     10,   30};
  example_seconds_.Add(labels, kBuckets).Observe(compute_seconds);
}

void Metrics::SetDeviceBusy(const std::string& device, double ratio) {
  device_busy_.Add({{metric::kDeviceLabel, device}}).Set(ratio);
}
void Metrics::AddDeviceBusySeconds(const std::string& device, double seconds) {
  device_busy_seconds_.Add({{metric::kDeviceLabel, device}}).Increment(seconds);
}
void Metrics::SetDeviceMemory(const std::string& device, const std::string& kind, double bytes) {
  device_memory_.Add({{metric::kDeviceLabel, device}, {metric::kKindLabel, kind}}).Set(bytes);
}
void Metrics::SetDeviceWeightBytes(const std::string& device, double bytes) {
  device_weights_.Add({{metric::kDeviceLabel, device}}).Set(bytes);
}
void Metrics::AddItemsCut(const std::string& device, double items) {
  items_cut_.Add({{metric::kDeviceLabel, device}}).Increment(items);
}
void Metrics::SetDeviceInRotation(const std::string& device, bool in_rotation) {
  device_in_rotation_.Add({{metric::kDeviceLabel, device}}).Set(in_rotation ? 1 : 0);
}
void Metrics::RecordsStored(double records, double bytes) {
  records_stored_.Increment(records);
  record_bytes_.Increment(bytes);
}
void Metrics::SetStoreBytes(double bytes) { store_bytes_.Set(bytes); }
void Metrics::Rpc(const std::string& method, const std::string& code) {
  rpcs_.Add({{metric::kMethodLabel, method}, {metric::kCodeLabel, code}}).Increment();
}
void Metrics::SetModelsLoaded(double count) { models_loaded_.Set(count); }

}  // namespace rrm::server
