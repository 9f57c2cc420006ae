// ShardedJob: one study over two real rrmd processes on loopback. The merged
// records must equal those of one server measuring everything (same
// example_index, hence the same Q_0 and restart draws), and the report over
// the merged records must equal that server's report.
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include "client/cpp/sharded_job.h"
#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;

const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";

// Six different records per restart even from one puzzle: λ needs Q_0 and the
// noise restarts need draws, both from (seed, example_index, restart).
v1::SubmitJobRequest StudyRequest(int puzzles) {
  v1::SubmitJobRequest request = SudokuJob("trm", puzzles, 3, /*batch_size=*/1);
  for (int i = 0; i < puzzles; ++i) request.mutable_puzzles()->mutable_sudoku()->add_ids("p" + std::to_string(i));
  request.mutable_options()->set_lyapunov_k(2);
  request.mutable_options()->set_seed(7);
  request.mutable_options()->mutable_restarts()->set_kind("init_noise");
  request.mutable_options()->mutable_restarts()->set_count(2);
  request.mutable_options()->mutable_restarts()->set_sigma(0.1);
  return request;
}

// Records by (example_index, restart), with what may differ between servers cleared.
std::map<std::pair<int, int>, v1::ExampleRecord> ByKey(const std::vector<v1::ExampleRecord>& records) {
  std::map<std::pair<int, int>, v1::ExampleRecord> by_key;
  for (v1::ExampleRecord r : records) {
    r.clear_job_id();
    r.clear_device();
    r.clear_compute_seconds();
    EXPECT_TRUE(by_key.emplace(std::make_pair(r.example_index(), r.restart()), r).second)
        << "record (" << r.example_index() << ", " << r.restart() << ") twice";
  }
  return by_key;
}

class ShardedJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      servers_.push_back(std::make_unique<RrmdProcess>(TempFolder("sharded" + std::to_string(i)),
                                                       std::vector<std::string>{kModelFlag}));
      std::string failure;
      ASSERT_TRUE(servers_.back()->Start(&failure)) << failure;
    }
  }
  std::vector<Target> Targets() const {
    return {{servers_[0]->address(), ""}, {servers_[1]->address(), ""}};
  }
  std::unique_ptr<Client> Connect(int server) const {
    ClientOptions options;
    options.target = servers_[server]->address();
    return *Client::Connect(options);
  }

  std::vector<std::unique_ptr<RrmdProcess>> servers_;
};

TEST_F(ShardedJobTest, MergedRecordsAndReportEqualOneServerMeasuringEverything) {
  const int kPuzzles = 6;
  // The reference: server 0 measures the whole study alone.
  std::unique_ptr<Client> single = Connect(0);
  absl::StatusOr<v1::SubmitJobResponse> whole = single->Submit(StudyRequest(kPuzzles));
  ASSERT_TRUE(whole.ok()) << whole.status();
  std::vector<v1::ExampleRecord> reference;
  ASSERT_TRUE(single->StreamRecords(whole->job_id(), 0, [&](const v1::ExampleRecord& r) {
    reference.push_back(r);
    return absl::OkStatus();
  }).ok());

  absl::StatusOr<ShardedJob> sharded = ShardedJob::Submit(ClientOptions{}, Targets(), StudyRequest(kPuzzles));
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  ASSERT_EQ(sharded->parts().size(), 2u);
  EXPECT_EQ(sharded->parts()[0].client->options().target, servers_[0]->address());
  EXPECT_EQ(sharded->parts()[1].client->options().target, servers_[1]->address());
  // Each server holds its block only.
  absl::StatusOr<std::vector<v1::Job>> parts = sharded->Parts();
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ((*parts)[0].examples(), 3);
  EXPECT_EQ((*parts)[1].examples(), 3);

  std::vector<v1::ExampleRecord> merged;
  ASSERT_TRUE(sharded->StreamRecords([&](const v1::ExampleRecord& r) {
    merged.push_back(r);
    return absl::OkStatus();
  }).ok());
  ASSERT_EQ(merged.size(), reference.size());
  const auto expected = ByKey(reference), found = ByKey(merged);
  ASSERT_EQ(found.size(), static_cast<size_t>(2 * kPuzzles));
  for (const auto& [key, record] : expected) {
    ASSERT_TRUE(found.count(key) == 1) << "missing (" << key.first << ", " << key.second << ")";
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(record, found.at(key)))
        << "record (" << key.first << ", " << key.second << ") differs:\n"
        << record.DebugString() << "\nvs\n"
        << found.at(key).DebugString();
  }
  EXPECT_EQ(found.at({4, 1}).puzzle_id(), "p4") << "ids travel with their puzzles";
  EXPECT_NE(found.at({4, 0}).lyapunov(0), found.at({1, 0}).lyapunov(0)) << "Q_0 differs per example_index";

  // The summed job, reopened from its id alone.
  absl::StatusOr<ShardedJob> reopened = ShardedJob::Open(ClientOptions{}, sharded->id());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::StatusOr<v1::Job> sum = reopened->Get();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->job_id(), sharded->id());
  EXPECT_EQ(sum->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(sum->examples(), kPuzzles);
  EXPECT_EQ(sum->total_records(), 2 * kPuzzles);
  EXPECT_EQ(sum->records_stored(), 2 * kPuzzles);

  // The report over the merged records (AnalyzeRecords) equals server 0's
  // report of the whole study (Analyze).
  v1::AnalysisParameters parameters;
  parameters.set_tau(0.05);  // the fixture solves nothing: no default tau
  parameters.set_bootstrap(50);
  parameters.set_seed(3);
  v1::AnalyzeRequest request;
  request.set_job_id(whole->job_id());
  *request.mutable_parameters() = parameters;
  absl::StatusOr<v1::AnalyzeResponse> one = single->Analyze(request);
  ASSERT_TRUE(one.ok()) << one.status();
  absl::StatusOr<v1::AnalyzeResponse> both = reopened->Analyze(parameters);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->report_json(), one->report_json());
  EXPECT_EQ(both->table(), one->table());
  EXPECT_EQ(both->records(), 2 * kPuzzles);
  EXPECT_TRUE(both->complete());
  EXPECT_EQ(both->job_id(), sharded->id());
}

TEST_F(ShardedJobTest, MergedStreamSurvivesOneServerKilledAndRestarted) {
  const int kPuzzles = 24;
  ClientOptions options;
  options.retry_for = absl::Seconds(90);
  v1::SubmitJobRequest request = SudokuJob("trm", kPuzzles, 16, /*batch_size=*/1);
  absl::StatusOr<ShardedJob> sharded = ShardedJob::Submit(options, Targets(), request);
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  std::set<std::pair<int, int>> keys;
  int received = 0;
  bool killed = false;
  std::string failure;
  std::thread restart;
  const absl::Status streamed = sharded->StreamRecords([&](const v1::ExampleRecord& r) {
    keys.insert({r.example_index(), r.restart()});
    ++received;
    if (!killed && r.example_index() >= kPuzzles / 2) {  // server 1 has started delivering: kill -9 it
      killed = true;
      servers_[1]->Kill();
      restart = std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        EXPECT_TRUE(servers_[1]->Start(&failure, /*keep_ports=*/true)) << failure;
      });
    }
    return absl::OkStatus();
  });
  if (restart.joinable()) restart.join();
  ASSERT_TRUE(streamed.ok()) << streamed;
  ASSERT_TRUE(killed) << "no record of server 1 arrived";
  EXPECT_EQ(received, kPuzzles) << "each record exactly once across the restart";
  EXPECT_EQ(keys.size(), static_cast<size_t>(kPuzzles));
  absl::StatusOr<v1::Job> sum = sharded->Get();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(sum->records_stored(), kPuzzles);
}

TEST_F(ShardedJobTest, ServerDatasetIsSplitByIndexRange) {
  // Both servers read the same dataset (2 examples); each measures its range.
  for (auto& server : servers_) server->Terminate();
  servers_.clear();
  for (int i = 0; i < 2; ++i) {
    servers_.push_back(std::make_unique<RrmdProcess>(
        TempFolder("sharded_data" + std::to_string(i)),
        std::vector<std::string>{"--model=attn=" + kFixtures + "/trm_attn/step_0",
                                 "--data_root=" + kFixtures + "/trm_attn"}));
    std::string failure;
    ASSERT_TRUE(servers_.back()->Start(&failure)) << failure;
  }
  v1::SubmitJobRequest request;
  request.set_model("attn");
  request.mutable_puzzles()->set_dataset_path("data");
  request.mutable_options()->set_segments(2);
  // Without the number of examples there is nothing to split by.
  absl::StatusOr<ShardedJob> refused = ShardedJob::Submit(ClientOptions{}, Targets(), request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("puzzles.limit"));

  request.mutable_puzzles()->set_limit(2);
  absl::StatusOr<ShardedJob> sharded = ShardedJob::Submit(ClientOptions{}, Targets(), request);
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  std::map<int, std::string> ids;  // example_index -> puzzle_id
  ASSERT_TRUE(sharded->StreamRecords([&](const v1::ExampleRecord& r) {
    ids[r.example_index()] = r.puzzle_id();
    EXPECT_TRUE(r.error().empty()) << r.error();
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(ids, (std::map<int, std::string>{{0, "0"}, {1, "1"}}));

  // A first index past the dataset's end names the field.
  request.mutable_puzzles()->set_first_example_index(2);
  request.mutable_puzzles()->set_limit(0);
  absl::StatusOr<v1::SubmitJobResponse> past = Connect(0)->Submit(request);
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(past.status().message(), HasSubstr("puzzles.first_example_index: expected < 2"));
}

TEST_F(ShardedJobTest, AFailedPartCancelsThePartsAlreadySubmitted) {
  servers_[1]->Kill();
  ClientOptions options;
  options.deadline = absl::Seconds(5);
  absl::StatusOr<ShardedJob> sharded = ShardedJob::Submit(options, Targets(), StudyRequest(4));
  ASSERT_FALSE(sharded.ok());
  EXPECT_EQ(sharded.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(sharded.status().message(), HasSubstr(servers_[1]->address() + " (part 2 of 2)"));
  absl::StatusOr<std::vector<v1::Job>> jobs = Connect(0)->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().state(), v1::JOB_STATE_CANCELLED) << "no half-submitted study keeps running";
}

TEST(SplitPuzzles, ContiguousBlocksKeepTheirStudyIndicesIdsAndSolutions) {
  v1::PuzzleInput input;
  input.set_first_example_index(10);
  for (int i = 0; i < 5; ++i) {
    input.mutable_sudoku()->add_puzzles(kSudoku);
    input.mutable_sudoku()->add_ids("id" + std::to_string(i));
  }
  absl::StatusOr<std::vector<v1::PuzzleInput>> blocks = SplitPuzzles(input, 2);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0].first_example_index(), 10);
  EXPECT_EQ((*blocks)[0].sudoku().puzzles_size(), 2);
  EXPECT_EQ((*blocks)[1].first_example_index(), 12);
  EXPECT_EQ((*blocks)[1].sudoku().puzzles_size(), 3);
  EXPECT_EQ((*blocks)[1].sudoku().ids(0), "id2");
  EXPECT_EQ((*blocks)[1].sudoku().solutions_size(), 0) << "absent solutions stay absent";

  v1::PuzzleInput uneven = input;
  uneven.mutable_sudoku()->add_solutions(kSudokuSolution);
  EXPECT_THAT(SplitPuzzles(uneven, 2).status().message(),
              HasSubstr("puzzles.sudoku.solutions: expected 0 or 5 (one per puzzle), found 1"));

  // More servers than puzzles: one block per puzzle, none empty.
  blocks = SplitPuzzles(input, 8);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  EXPECT_EQ(blocks->size(), 5u);

  v1::PuzzleInput dataset;
  dataset.set_dataset_path("sudoku/test");
  dataset.set_limit(5);
  blocks = SplitPuzzles(dataset, 3);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 3u);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const v1::PuzzleInput& b : *blocks) ranges.emplace_back(b.first_example_index(), b.limit());
  EXPECT_EQ(ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {1, 2}, {3, 2}}));
  EXPECT_EQ((*blocks)[2].dataset_path(), "sudoku/test");
}

TEST(ExpandTargets, ListsAndResolvesNames) {
  absl::StatusOr<std::vector<Target>> targets = ExpandTargets("a:1, b:2");
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 2u);
  EXPECT_EQ((*targets)[1].address, "b:2");

  targets = ExpandTargets("all:localhost:50051");
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_FALSE(targets->empty());
  for (const Target& t : *targets) {
    EXPECT_THAT(t.address, ::testing::EndsWith(":50051"));
    EXPECT_EQ(t.tls_name, "localhost") << "TLS still checks the name, not the address";
  }

  EXPECT_EQ(ExpandTargets("a:1,,b:2").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandTargets("all:nowhere").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandTargets("all:no-such-host.invalid:1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ShardedJob::Open(ClientOptions{}, "a:1/j-1,nojob").status().message(), HasSubstr("\"nojob\""));
}

}  // namespace
}  // namespace rrm::testing
