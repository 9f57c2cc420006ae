// Metrics: every Prometheus series rrmd exports, names and labels in one place
// (README "Metrics" lists them). Served at /metrics on --metrics_listen by
// prometheus-cpp's Exposer, which main() owns.
//
// Thread safety: every method may be called from any thread.
#ifndef RRM_SERVER_METRICS_H_
#define RRM_SERVER_METRICS_H_

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace rrm::server {

namespace metric {
inline constexpr char kJobs[] = "rrm_jobs";                                   // gauge {state}
inline constexpr char kJobsSubmitted[] = "rrm_jobs_submitted_total";          // counter
inline constexpr char kQueueDepth[] = "rrm_queue_depth";                      // gauge: work items waiting
inline constexpr char kItemsStopped[] = "rrm_work_items_stopped_total";       // counter: stopped at a segment boundary
inline constexpr char kExamplesCompleted[] = "rrm_examples_completed_total";  // counter {model}
inline constexpr char kExamplesFailed[] = "rrm_examples_failed_total";        // counter {model}
inline constexpr char kExampleSeconds[] = "rrm_example_compute_seconds";      // histogram {model}
inline constexpr char kDeviceBusy[] = "rrm_device_busy_ratio";                // gauge {device}
inline constexpr char kDeviceBusySeconds[] = "rrm_device_busy_seconds_total"; // counter {device}
inline constexpr char kDeviceMemory[] = "rrm_device_memory_bytes";            // gauge {device, kind}
inline constexpr char kDeviceWeights[] = "rrm_device_weight_bytes";           // gauge {device}: checkpoint bytes held
inline constexpr char kItemsCut[] = "rrm_work_items_cut_total";               // counter {device}: run in chunks (budget)
inline constexpr char kDeviceInRotation[] = "rrm_device_in_rotation";         // gauge {device}
inline constexpr char kRecordsStored[] = "rrm_records_stored_total";          // counter
inline constexpr char kRecordBytes[] = "rrm_record_bytes_total";              // counter
inline constexpr char kStoreBytes[] = "rrm_store_bytes";                      // gauge: bytes under --data_dir/jobs
inline constexpr char kRpcs[] = "rrm_rpcs_total";                             // counter {method, code}
inline constexpr char kModelsLoaded[] = "rrm_models_loaded";                  // gauge
inline constexpr char kStateLabel[] = "state";
inline constexpr char kModelLabel[] = "model";
inline constexpr char kDeviceLabel[] = "device";
inline constexpr char kMethodLabel[] = "method";
inline constexpr char kCodeLabel[] = "code";
// kDeviceMemory's kinds (server/device_memory.h DeviceMemory says what each is).
inline constexpr char kKindLabel[] = "kind";
inline constexpr char kMemoryUsed[] = "used";
inline constexpr char kMemoryReserved[] = "reserved";
inline constexpr char kMemoryTotal[] = "total";
inline constexpr char kMemoryFree[] = "free";
}  // namespace metric

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void SetJobs(const std::string& state, double count);
  void JobSubmitted();
  void SetQueueDepth(double items);
  // A running work item stopped at a segment boundary (cancel, deadline).
  void ItemStopped();
  void ExampleDone(const std::string& model, bool failed, double compute_seconds);
  void SetDeviceBusy(const std::string& device, double ratio);
  void AddDeviceBusySeconds(const std::string& device, double seconds);
  // `kind`: one of metric::kMemoryUsed, kMemoryReserved, kMemoryTotal, kMemoryFree.
  void SetDeviceMemory(const std::string& device, const std::string& kind, double bytes);
  void SetDeviceWeightBytes(const std::string& device, double bytes);
  // Work items that ran in chunks smaller than themselves (--device_memory_budget).
  void AddItemsCut(const std::string& device, double items);
  void SetDeviceInRotation(const std::string& device, bool in_rotation);
  void RecordsStored(double records, double bytes);
  void SetStoreBytes(double bytes);
  void Rpc(const std::string& method, const std::string& code);
  void SetModelsLoaded(double count);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Counter& jobs_submitted_;
  prometheus::Gauge& queue_depth_;
  prometheus::Counter& items_stopped_;
  prometheus::Family<prometheus::Counter>& examples_completed_;
  prometheus::Family<prometheus::Counter>& examples_failed_;
  prometheus::Family<prometheus::Histogram>& example_seconds_;
  prometheus::Family<prometheus::Gauge>& device_busy_;
  prometheus::Family<prometheus::Counter>& device_busy_seconds_;
  prometheus::Family<prometheus::Gauge>& device_memory_;
  prometheus::Family<prometheus::Gauge>& device_weights_;
  prometheus::Family<prometheus::Counter>& items_cut_;
  prometheus::Family<prometheus::Gauge>& device_in_rotation_;
  prometheus::Counter& records_stored_;
  prometheus::Counter& record_bytes_;
  prometheus::Gauge& store_bytes_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Gauge& models_loaded_;
};

}  // namespace rrm::server

#endif  // RRM_SERVER_METRICS_H_
