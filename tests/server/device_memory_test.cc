// Device memory (issue #18): --device_memory_budget parsing, the one sizing
// rule, and reading the CPU's memory. The CUDA path needs a CUDA LibTorch and
// a GPU and is not exercised here.
#include "server/device_memory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/model/model_config.h"
#include "core/measure/trajectory.h"
#include "server/device_worker.h"

namespace rrm::server {
namespace {

using ::testing::HasSubstr;

TEST(MemoryBudget, ParsesBytesUnitsAndShares) {
  struct Case {
    const char* text;
    double bytes;
    double fraction;
  };
  for (const Case& c : {Case{"", 0, 0}, Case{"0", 0, 0}, Case{"0.0", 0, 0}, Case{"  8000000000 ", 8e9, 0},
                        Case{"1", 1, 0}, Case{"500MiB", 500.0 * 1024 * 1024, 0}, Case{"8GiB", 8.0 * (1 << 30), 0},
                        Case{"8 gib", 8.0 * (1 << 30), 0}, Case{"1.5GB", 1.5e9, 0}, Case{"2KiB", 2048, 0},
                        Case{"7B", 7, 0}, Case{"1TB", 1e12, 0}, Case{"0.8", 0, 0.8}, Case{"1.0", 0, 1}}) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<MemoryBudget> budget = ParseMemoryBudget(c.text);
    ASSERT_TRUE(budget.ok()) << budget.status();
    EXPECT_EQ(budget->bytes, c.bytes);
    EXPECT_EQ(budget->fraction, c.fraction);
    EXPECT_EQ(budget->enabled(), c.bytes > 0 || c.fraction > 0);
  }
}

TEST(MemoryBudget, RefusesMalformedValuesNamingTheFlagExpectedAndFound) {
  for (const char* text : {"abc", "-1", "1.5", "8XB", "1e9", "1.2.3", "0.5B", "GiB", "-0.5"}) {
    SCOPED_TRACE(text);
    const absl::StatusOr<MemoryBudget> budget = ParseMemoryBudget(text);
    ASSERT_FALSE(budget.ok());
    EXPECT_EQ(budget.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(budget.status().message(), HasSubstr("--device_memory_budget: expected "));
    EXPECT_THAT(budget.status().message(), HasSubstr(std::string("found '") + text + "'"));
  }
  EXPECT_THAT(ParseMemoryBudget("1.5").status().message(), HasSubstr("(0, 1]"));
  EXPECT_THAT(ParseMemoryBudget("8XB").status().message(), HasSubstr("a unit of B, KiB, MiB, GiB"));
}

TEST(MemoryBudget, ResolvesAShareAgainstTheDevicesTotal) {
  DeviceMemory memory;
  memory.total = 1000;
  EXPECT_EQ(ParseMemoryBudget("0.8")->BytesOn(memory), 800);
  EXPECT_EQ(ParseMemoryBudget("300")->BytesOn(memory), 300);
}

TEST(ExamplesThatFit, AsManyAsTheBudgetLeavesAtLeastOne) {
  DeviceMemory memory;
  memory.used = memory.reserved = 100;
  memory.total = 10000;
  memory.free = 5000;
  MemoryBudget budget;
  EXPECT_EQ(ExamplesThatFit(budget, memory, 10, 64), 64);  // no budget: the whole item
  budget.bytes = 1000;
  EXPECT_EQ(ExamplesThatFit(budget, memory, 10, 64), 64);   // 900 bytes left: 90 would fit
  EXPECT_EQ(ExamplesThatFit(budget, memory, 100, 64), 9);   // 900 / 100
  EXPECT_EQ(ExamplesThatFit(budget, memory, 1000, 64), 1);  // none fits: still one
  budget.bytes = 50;                                        // already over the budget
  EXPECT_EQ(ExamplesThatFit(budget, memory, 10, 64), 1);
  // The device's own free memory (plus the allocator's cache) bounds it too.
  budget.bytes = 1e9;
  memory.reserved = 300;
  EXPECT_EQ(ExamplesThatFit(budget, memory, 100, 1000), 52);  // (5000 + 200) / 100
  budget = MemoryBudget{};
  budget.fraction = 0.5;  // 5000 of 10000, 4900 beyond what is used
  memory.free = 1e9;
  EXPECT_EQ(ExamplesThatFit(budget, memory, 100, 1000), 49);
  EXPECT_EQ(ExamplesThatFit(budget, memory, 100, 1), 1);
}

TEST(DeviceWorker, SizesAnExampleByTheModelsActivationsTimesPrimalAndTangentsAndThePropagatorsBases) {
  absl::StatusOr<model::LoadedModel> loaded =
      model::LoadModel(std::string(RRM_SOURCE_DIR) + "/tests/fixtures/trm_mlpt/step_0", "", {}, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  Assignment a;
  a.model = std::shared_ptr<const model::RecurrentModel>(std::move(loaded->model));
  const double row = model::ActivationBytesPerRow(a.model->config());
  ASSERT_GT(row, 0);
  EXPECT_EQ(DeviceWorker::BytesPerExample(a), row);  // trajectory only: the primal
  a.options.lyapunov_k = 3;
  a.options.lyapunov_draws = 2;
  EXPECT_EQ(DeviceWorker::BytesPerExample(a), row * (1 + 2 * 3));  // QR: k per draw
  a.options.lyapunov_draws = 1;
  a.options.lyapunov_method = measure::LyapunovMethod::kPropagator;
  // A block of directions (0 means k), and the Krylov bases of float64 joint
  // states, whose cap follows k whatever the block.
  const model::ModelConfig& config = a.model->config();
  const double basis = 8.0 * 2 * config.state_positions() * config.hidden_size;
  EXPECT_EQ(DeviceWorker::BytesPerExample(a), row * (1 + 3) + basis * measure::PropagatorBasisColumns(3));
  a.options.propagator_block = 5;
  EXPECT_EQ(DeviceWorker::BytesPerExample(a), row * (1 + 5) + basis * measure::PropagatorBasisColumns(3));
}

TEST(ReadDeviceMemory, ReadsThisProcessOnTheCpu) {
  const absl::StatusOr<DeviceMemory> memory = ReadDeviceMemory(torch::kCPU);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_GT(memory->used, 1 << 20);  // a process with LibTorch loaded holds more than a MiB
  EXPECT_EQ(memory->reserved, memory->used);
  EXPECT_GE(memory->total, memory->used);
  EXPECT_GT(memory->free, 0);
  EXPECT_LE(memory->free, memory->total);
  // Resident memory grows with what the process touches.
  std::vector<char> block(256 << 20, 1);
  const absl::StatusOr<DeviceMemory> after = ReadDeviceMemory(torch::kCPU);
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->used, memory->used + 200.0 * (1 << 20)) << static_cast<int>(block[block.size() / 2]);
}

TEST(ReadDeviceMemory, CudaWithoutCudaSupportIsUnimplemented) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const absl::StatusOr<DeviceMemory> memory = ReadDeviceMemory(torch::Device("cuda:0"));
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.status().code(), absl::StatusCode::kUnimplemented);
  ReleaseCachedMemory(torch::Device("cuda:0"));  // a no-op, not a crash
}

}  // namespace
}  // namespace rrm::server
