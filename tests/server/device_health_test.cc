// DeviceHealth policy (issue #18): rotation, rest, probation. The time is an
// argument, so these tests step it instead of sleeping.
#include <algorithm>

#include <gtest/gtest.h>

#include "server/device_health.h"

namespace rrm::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000000);
constexpr absl::Duration kRest = absl::Minutes(5);

bool MayWork(DeviceHealth& health, const std::string& worker, absl::Time now,
             DeviceHealth::Change expected_change = DeviceHealth::Change::kNone) {
  DeviceHealth::Change change;
  const bool may = health.MayWork(worker, now, &change);
  EXPECT_EQ(change, expected_change) << worker;
  return may;
}

// Fails `worker` until it is taken out; returns how many failures it took.
int FailUntilTakenOut(DeviceHealth& health, const std::string& worker, absl::Time now) {
  for (int failures = 1; failures <= 10; ++failures) {
    if (health.Failed(worker, now) == DeviceHealth::Change::kTakenOut) return failures;
  }
  return -1;
}

DeviceHealth TwoWorkers() {
  DeviceHealth health(kRest);
  health.Add("cpu#0");
  health.Add("cpu#1");
  return health;
}

TEST(DeviceHealth, WorkerOutOfRotationAfterConsecutiveFaults) {
  DeviceHealth health = TwoWorkers();
  EXPECT_EQ(health.Failed("cpu#1", kStart), DeviceHealth::Change::kNone);
  EXPECT_EQ(health.Failed("cpu#1", kStart), DeviceHealth::Change::kNone);
  EXPECT_EQ(health.Failed("cpu#1", kStart), DeviceHealth::Change::kTakenOut);
  EXPECT_FALSE(health.InRotation("cpu#1"));
  EXPECT_FALSE(MayWork(health, "cpu#1", kStart + kRest - absl::Seconds(1)));
  EXPECT_TRUE(MayWork(health, "cpu#0", kStart));
  EXPECT_EQ(health.Rest("cpu#1"), kRest);
}

TEST(DeviceHealth, SuccessInBetweenResetsTheCount) {
  DeviceHealth health = TwoWorkers();
  health.Failed("cpu#1", kStart);
  health.Failed("cpu#1", kStart);
  health.Succeeded("cpu#1");
  EXPECT_EQ(health.Failed("cpu#1", kStart), DeviceHealth::Change::kNone);
  EXPECT_EQ(health.Failed("cpu#1", kStart), DeviceHealth::Change::kNone);
  EXPECT_TRUE(health.InRotation("cpu#1"));
}

TEST(DeviceHealth, LastWorkerInRotationKeepsWorking) {
  DeviceHealth health = TwoWorkers();
  ASSERT_EQ(FailUntilTakenOut(health, "cpu#0", kStart), kMaxConsecutiveFailures);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(health.Failed("cpu#1", kStart), DeviceHealth::Change::kNone);
  EXPECT_TRUE(MayWork(health, "cpu#1", kStart));
  EXPECT_EQ(health.ConsecutiveFailures("cpu#1"), 10);
}

TEST(DeviceHealth, RestedWorkerReturnsOnProbationAndOneFailureTakesItOutForTwiceAsLong) {
  DeviceHealth health = TwoWorkers();
  ASSERT_EQ(FailUntilTakenOut(health, "cpu#1", kStart), kMaxConsecutiveFailures);
  const absl::Time back = kStart + kRest;
  EXPECT_TRUE(MayWork(health, "cpu#1", back, DeviceHealth::Change::kBackOnProbation));
  EXPECT_TRUE(MayWork(health, "cpu#1", back));  // the change is reported once
  ASSERT_EQ(FailUntilTakenOut(health, "cpu#1", back), 1);
  EXPECT_EQ(health.Rest("cpu#1"), 2 * kRest);
  EXPECT_FALSE(MayWork(health, "cpu#1", back + 2 * kRest - absl::Seconds(1)));
  EXPECT_TRUE(MayWork(health, "cpu#1", back + 2 * kRest, DeviceHealth::Change::kBackOnProbation));
}

TEST(DeviceHealth, RestDoublesUpToTheMaximum) {
  DeviceHealth health = TwoWorkers();
  absl::Time now = kStart;
  absl::Duration expected = kRest;
  for (int relapse = 0; relapse < 8; ++relapse) {
    FailUntilTakenOut(health, "cpu#1", now);
    EXPECT_EQ(health.Rest("cpu#1"), expected) << relapse;
    now += health.Rest("cpu#1");
    ASSERT_TRUE(MayWork(health, "cpu#1", now, DeviceHealth::Change::kBackOnProbation));
    expected = std::min(2 * expected, kMaxDeviceRest);
  }
  EXPECT_EQ(health.Rest("cpu#1"), kMaxDeviceRest);
}

TEST(DeviceHealth, OneSuccessOnProbationRestoresItFully) {
  DeviceHealth health = TwoWorkers();
  FailUntilTakenOut(health, "cpu#1", kStart);
  ASSERT_TRUE(MayWork(health, "cpu#1", kStart + kRest, DeviceHealth::Change::kBackOnProbation));
  health.Succeeded("cpu#1");
  EXPECT_EQ(health.Rest("cpu#1"), absl::ZeroDuration());
  // Healthy again: it takes the full count to go out, and then the first rest.
  EXPECT_EQ(FailUntilTakenOut(health, "cpu#1", kStart + kRest), kMaxConsecutiveFailures);
  EXPECT_EQ(health.Rest("cpu#1"), kRest);
}

TEST(DeviceHealth, RetryGoesToAWorkerInRotationItHasNotFailedOn) {
  DeviceHealth health(kRest);
  for (const char* w : {"cuda:0", "cuda:1", "cuda:2"}) health.Add(w);
  EXPECT_TRUE(health.AnyInRotationExcept({"cuda:0"}));
  EXPECT_TRUE(health.AnyInRotationExcept({"cuda:0", "cuda:1"}));
  EXPECT_FALSE(health.AnyInRotationExcept({"cuda:0", "cuda:1", "cuda:2"}));
  FailUntilTakenOut(health, "cuda:2", kStart);
  EXPECT_FALSE(health.AnyInRotationExcept({"cuda:0", "cuda:1"}));
}

}  // namespace
}  // namespace rrm::server
