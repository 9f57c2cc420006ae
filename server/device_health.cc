#include "server/device_health.h"

#include <algorithm>

namespace rrm::server {

void DeviceHealth::Add(const std::string& worker) { workers_[worker] = Worker{}; }

bool DeviceHealth::MayWork(const std::string& worker, absl::Time now, Change* change) {
  Worker& w = workers_[worker];
  *change = Change::kNone;
  if (!w.in_rotation && now >= w.back_at) {
    // Probation: the next failure reaches the threshold and takes it out again.
    w.in_rotation = true;
    w.consecutive_failures = kMaxConsecutiveFailures - 1;
    *change = Change::kBackOnProbation;
  }
  return w.in_rotation;
}

void DeviceHealth::Succeeded(const std::string& worker) {
  Worker& w = workers_[worker];
  w.consecutive_failures = 0;
  w.rest = absl::ZeroDuration();  // a later fault rests it from the start
}

DeviceHealth::Change DeviceHealth::Failed(const std::string& worker, absl::Time now) {
  Worker& w = workers_[worker];
  ++w.consecutive_failures;
  if (w.consecutive_failures < kMaxConsecutiveFailures || !w.in_rotation) return Change::kNone;
  if (!AnyInRotationExcept({worker})) return Change::kNone;  // the last one keeps working
  w.in_rotation = false;
  w.rest = w.rest == absl::ZeroDuration() ? first_rest_ : std::min(2 * w.rest, kMaxDeviceRest);
  w.back_at = now + w.rest;
  return Change::kTakenOut;
}

bool DeviceHealth::InRotation(const std::string& worker) const {
  auto it = workers_.find(worker);
  return it == workers_.end() || it->second.in_rotation;
}

bool DeviceHealth::AnyInRotationExcept(const absl::flat_hash_set<std::string>& excluded) const {
  for (const auto& [name, w] : workers_) {
    if (w.in_rotation && !excluded.contains(name)) return true;
  }
  return false;
}

absl::Duration DeviceHealth::Rest(const std::string& worker) const {
  auto it = workers_.find(worker);
  return it == workers_.end() ? absl::ZeroDuration() : it->second.rest;
}

int DeviceHealth::ConsecutiveFailures(const std::string& worker) const {
  auto it = workers_.find(worker);
  return it == workers_.end() ? 0 : it->second.consecutive_failures;
}

}  // namespace rrm::server
