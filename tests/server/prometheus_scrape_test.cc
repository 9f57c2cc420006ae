// A real Prometheus server (Debian package `prometheus`) scrapes rrmd's
// /metrics; its query API must then return the job and example series.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;

const char kPrometheus[] = "/usr/bin/prometheus";

std::string Shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

TEST(RrmdMetrics, PrometheusScrapesJobAndExampleCounters) {
  if (::access(kPrometheus, X_OK) != 0) GTEST_SKIP() << "prometheus is not installed (scripts/packages.txt)";
  RrmdProcess rrmd(TempFolder("metrics"), {"--model=trm=" + kFixtures + "/trm_mlpt/step_0"});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  auto stub = rrmd.Stub();
  v1::SubmitJobResponse response;
  auto context = Context();
  ASSERT_TRUE(stub->SubmitJob(context.get(), SudokuJob("trm", 4, 2, 2), &response).ok());
  ASSERT_EQ(WaitForJob(*stub, response.job_id()).state(), v1::JOB_STATE_SUCCEEDED);
  v1::SubmitJobRequest bad = SudokuJob("nope", 1, 2, 1);
  auto bad_context = Context();
  EXPECT_FALSE(stub->SubmitJob(bad_context.get(), bad, &response).ok());

  // The exposition itself.
  const std::string metrics_url = "http://127.0.0.1:" + std::to_string(rrmd.metrics_port()) + "/metrics";
  const std::string text = Shell("curl -s " + metrics_url);
  EXPECT_THAT(text, HasSubstr("rrm_examples_completed_total{model=\"trm\"} 4"));
  EXPECT_THAT(text, HasSubstr("rrm_jobs{state=\"succeeded\"} 1"));
  EXPECT_THAT(text, HasSubstr("rrm_rpcs_total{code=\"NOT_FOUND\",method=\"SubmitJob\"} 1"));

  const std::string dir = TempFolder("prometheus");
  const int port = FreePort();
  std::ofstream(dir + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                            "scrape_configs:\n  - job_name: rrmd\n    static_configs:\n"
                                            "      - targets: ['127.0.0.1:"
                                         << rrmd.metrics_port() << "']\n";
  const pid_t prometheus = ::fork();
  if (prometheus == 0) {
    const int fd = ::open((dir + "/prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string config = "--config.file=" + dir + "/prometheus.yml";
    const std::string storage = "--storage.tsdb.path=" + dir + "/data";
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
    ::execl(kPrometheus, kPrometheus, config.c_str(), storage.c_str(), listen.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query?query=";
  std::string examples, jobs;
  for (int attempt = 0; attempt < 120; ++attempt) {
    examples = Shell("curl -s '" + api + "rrm_examples_completed_total'");
    jobs = Shell("curl -s '" + api + "rrm_jobs'");
    if (examples.find("\"model\":\"trm\"") != std::string::npos &&
        jobs.find("\"state\":\"succeeded\"") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ::kill(prometheus, SIGTERM);
  ::waitpid(prometheus, nullptr, 0);
  EXPECT_THAT(examples, HasSubstr("\"job\":\"rrmd\"")) << ReadText(dir + "/prometheus.log");
  EXPECT_THAT(examples, HasSubstr("\"model\":\"trm\""));
  EXPECT_THAT(examples, HasSubstr("\"4\"]"));  // [timestamp, "4"]
  EXPECT_THAT(jobs, HasSubstr("\"state\":\"succeeded\""));
}

}  // namespace
}  // namespace rrm::testing
