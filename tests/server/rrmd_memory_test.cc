// rrmd end to end (issue #18 "Memory on a shared device"): per-device memory
// series on /metrics, and --device_memory_budget cutting work items into
// chunks without changing a single record.
//
// Bit for bit only with a BLAS whose sgemm rounds a row the same whatever the
// number of rows: BLIS (what rrm::SetUpCpu picks on an AVX2 machine without
// AVX-512) does not for some shapes (e.g. 256 or 512 -> 97, the token MLP's
// down projection of trm_mlpt), so two batch sizes give records that differ
// in the last float32 bits with or without a budget. Netlib's reference BLAS
// and OpenBLAS do not; the record test runs both servers on the reference
// BLAS, so what it compares is the server's chunking alone.
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <unistd.h>

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;

const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";
// Debian's netlib reference BLAS (package libblas3), beside the alternatives.
const std::string kReferenceBlasDir = "/usr/lib/x86_64-linux-gnu/blas";

// Every sample of the server's /metrics page: "name{labels}" (or "name") -> value.
std::map<std::string, double> Scrape(int metrics_port) {
  const std::string command = "curl -s http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics";
  std::string text;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) text.append(buffer, n);
    ::pclose(pipe);
  }
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space != std::string::npos) samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

double CutItems(const std::map<std::string, double>& samples) {
  double total = 0;
  for (const auto& [series, value] : samples) {
    if (series.rfind("rrm_work_items_cut_total{", 0) == 0) total += value;
  }
  return total;
}

// 4 puzzles in work items of 2, 3 segments, QR k = 2: both items fit a
// generous device, and neither fits a one-byte budget.
v1::SubmitJobRequest Job() {
  v1::SubmitJobRequest request = SudokuJob("trm", 4, 3, 2);
  request.mutable_options()->set_lyapunov_k(2);
  request.mutable_options()->set_seed(11);
  return request;
}

// Runs Job() on a fresh rrmd with `flags`; returns its records in example
// order and the /metrics samples after the job.
// `reference_blas`: on netlib's BLAS instead of the one rrmd would choose.
void RunJob(const std::string& name, std::vector<std::string> flags, std::vector<v1::ExampleRecord>* records,
            std::map<std::string, double>* samples, bool reference_blas = false) {
  flags.push_back(kModelFlag);
  RrmdProcess rrmd(TempFolder(name), flags);
  if (reference_blas) {
    rrmd.SetEnv("RRM_BLAS", "system");  // rrm::SetUpCpu then keeps LD_LIBRARY_PATH's libblas.so.3
    rrmd.SetEnv("LD_LIBRARY_PATH", kReferenceBlasDir);
  }
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  if (reference_blas) ASSERT_THAT(rrmd.log(), HasSubstr("BLAS system (" + kReferenceBlasDir + "/libblas.so.3"));
  auto stub = rrmd.Stub();
  v1::SubmitJobResponse response;
  auto context = Context();
  const grpc::Status submitted = stub->SubmitJob(context.get(), Job(), &response);
  ASSERT_TRUE(submitted.ok()) << submitted.error_message();
  ASSERT_EQ(WaitForJob(*stub, response.job_id()).state(), v1::JOB_STATE_SUCCEEDED) << rrmd.log();
  ASSERT_TRUE(StreamAll(*stub, response.job_id(), 0, records).ok());
  std::sort(records->begin(), records->end(), [](const v1::ExampleRecord& a, const v1::ExampleRecord& b) {
    return a.example_index() < b.example_index();
  });
  *samples = Scrape(rrmd.metrics_port());
}

TEST(RrmdMemory, ABudgetCutsItemsIntoChunksAndEveryRecordStaysTheSame) {
  if (::access((kReferenceBlasDir + "/libblas.so.3").c_str(), R_OK) != 0) {
    GTEST_SKIP() << kReferenceBlasDir << "/libblas.so.3 (Debian libblas3) is not installed";
  }
  std::vector<v1::ExampleRecord> whole, cut;
  std::map<std::string, double> whole_metrics, cut_metrics;
  ASSERT_NO_FATAL_FAILURE(RunJob("memory_whole", {}, &whole, &whole_metrics, /*reference_blas=*/true));
  // One byte: less than the process already uses, so every item runs one
  // example at a time.
  ASSERT_NO_FATAL_FAILURE(
      RunJob("memory_cut", {"--device_memory_budget=1"}, &cut, &cut_metrics, /*reference_blas=*/true));

  EXPECT_EQ(CutItems(whole_metrics), 0);
  EXPECT_EQ(CutItems(cut_metrics), 2) << "both items of 2 examples ran in chunks";

  ASSERT_EQ(whole.size(), 4u);
  ASSERT_EQ(cut.size(), whole.size());
  // Everything but which job and worker produced a record and how long it took.
  google::protobuf::util::MessageDifferencer differencer;
  const google::protobuf::Descriptor* descriptor = v1::ExampleRecord::descriptor();
  for (const char* field : {"job_id", "device", "compute_seconds"}) {
    differencer.IgnoreField(descriptor->FindFieldByName(field));
  }
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  for (size_t i = 0; i < whole.size(); ++i) {
    SCOPED_TRACE("example " + std::to_string(whole[i].example_index()));
    EXPECT_EQ(whole[i].error(), "");
    EXPECT_EQ(whole[i].lyapunov_size(), 2);
    EXPECT_TRUE(differencer.Compare(whole[i], cut[i])) << differences;
    differences.clear();
  }
}

TEST(RrmdMemory, ExportsEachWorkersDeviceMemoryByKind) {
  std::vector<v1::ExampleRecord> records;
  std::map<std::string, double> samples;
  ASSERT_NO_FATAL_FAILURE(RunJob("memory_metrics", {"--device_memory_budget=0.9"}, &records, &samples));
  for (const std::string device : {"cpu#0", "cpu#1"}) {
    SCOPED_TRACE(device);
    const auto value = [&](const std::string& kind) {
      const std::string series = "rrm_device_memory_bytes{device=\"" + device + "\",kind=\"" + kind + "\"}";
      EXPECT_EQ(samples.count(series), 1u) << series;
      return samples[series];
    };
    const double used = value("used"), reserved = value("reserved"), total = value("total"), free = value("free");
    EXPECT_GT(used, 1 << 20);
    EXPECT_EQ(reserved, used);  // the CPU has no caching allocator
    EXPECT_GE(total, used);
    EXPECT_GT(free, 0);
    EXPECT_LE(free, total);
    // The checkpoint bytes of the replica each worker holds.
    EXPECT_GT(samples["rrm_device_weight_bytes{device=\"" + device + "\"}"], 0);
    EXPECT_EQ(samples.count("rrm_work_items_cut_total{device=\"" + device + "\"}"), 1u);
  }
  EXPECT_EQ(CutItems(samples), 0) << "90% of the machine holds a 2-example item";
}

TEST(RrmdMemory, RefusesAMalformedBudgetAtStartUp) {
  RrmdProcess rrmd(TempFolder("memory_bad_flag"), {"--device_memory_budget=lots"});
  EXPECT_EQ(rrmd.RunExpectingExit(), 1);
  EXPECT_THAT(rrmd.log(), HasSubstr("--device_memory_budget: expected bytes"));
  EXPECT_THAT(rrmd.log(), HasSubstr("found 'lots'"));
}

}  // namespace
}  // namespace rrm::testing
