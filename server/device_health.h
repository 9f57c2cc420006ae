// DeviceHealth: which device workers take work (issue #18). The policy, and
// nothing else: no threads, no clock (every call is given the time), no
// logging, so its rules are unit-tested without sleeping.
//
// A worker whose last kMaxConsecutiveFailures work items failed with a device
// fault is taken out of rotation, but only while another worker remains in
// it (a study never stops because every device had a bad minute). It rests
// for `first_rest`, then takes work again on probation: one more failure
// takes it out at once for twice as long (at most kMaxDeviceRest), one
// success restores it fully. A transient fault (a driver reset, a neighbour's
// memory spike) so costs a day-long study minutes, not half its devices.
//
// Thread safety: none; JobManager calls it under its own lock.
#ifndef RRM_SERVER_DEVICE_HEALTH_H_
#define RRM_SERVER_DEVICE_HEALTH_H_

#include <map>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

namespace rrm::server {

inline constexpr int kMaxConsecutiveFailures = 3;
inline constexpr absl::Duration kMaxDeviceRest = absl::Hours(1);

class DeviceHealth {
 public:
  // What a call changed, for the caller's log line and metric.
  enum class Change { kNone, kTakenOut, kBackOnProbation };

  explicit DeviceHealth(absl::Duration first_rest) : first_rest_(first_rest) {}

  // Registers a worker, in rotation and healthy. Unknown workers are added on
  // first use, so a call never fails.
  void Add(const std::string& worker);

  // Whether `worker` may take work at `now`. A rested worker comes back on
  // probation here (kBackOnProbation in `change`).
  bool MayWork(const std::string& worker, absl::Time now, Change* change);
  // An item succeeded: the worker is fully healthy again.
  void Succeeded(const std::string& worker);
  // An item failed with a device fault at `now`. kTakenOut when this failure
  // took the worker out of rotation.
  Change Failed(const std::string& worker, absl::Time now);

  bool InRotation(const std::string& worker) const;
  // Whether a worker in rotation is not in `excluded` (where an item that
  // failed on `excluded` may be retried).
  bool AnyInRotationExcept(const absl::flat_hash_set<std::string>& excluded) const;
  // The current (or last) rest of a worker out of rotation; zero when healthy.
  absl::Duration Rest(const std::string& worker) const;
  int ConsecutiveFailures(const std::string& worker) const;

 private:
  struct Worker {
    int consecutive_failures = 0;
    bool in_rotation = true;
    absl::Duration rest;  // of the current or last time out of rotation
    absl::Time back_at;   // when a worker out of rotation takes work again
  };

  const absl::Duration first_rest_;
  std::map<std::string, Worker> workers_;
};

}  // namespace rrm::server

#endif  // RRM_SERVER_DEVICE_HEALTH_H_
