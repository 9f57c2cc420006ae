// rrmctl end to end: the real rrmctl binary against a real rrmd on loopback
// (tests/server/rrmd_process.h), checked by exit code, stdout and stderr as a
// shell script would see them.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/measure/record_json.h"
#include "wire/record_proto.h"
#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;

const std::string kRrmctl = std::string(RRM_BINARY_DIR) + "/bin/rrmctl";
const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";

struct Result {
  int code = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Result Rrmctl(const std::vector<std::string>& args) {
  static int calls = 0;
  const std::string base = ::testing::TempDir() + "/rrmctl_" + std::to_string(::getpid()) + "_" + std::to_string(++calls);
  std::string command = Quote(kRrmctl);
  for (const std::string& a : args) command += " " + Quote(a);
  command += " >" + Quote(base + ".out") + " 2>" + Quote(base + ".err") + " </dev/null";
  const int status = std::system(command.c_str());
  Result run;
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = ReadText(base + ".out");
  run.err = ReadText(base + ".err");
  return run;
}

std::string WriteSudokuFile(const std::string& dir, int copies) {
  const std::string path = dir + "/sudoku_" + std::to_string(copies) + ".txt";
  std::ofstream out(path);
  for (int i = 0; i < copies; ++i) out << kSudoku << "," << kSudokuSolution << "\n";
  return path;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines;
}

TEST(Rrmctl, SubmitWaitRecordsReportStatusAndCancel) {
  const std::string dir = TempFolder("rrmctl_main");
  RrmdProcess rrmd(dir + "/data", {kModelFlag});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  const std::string target = "--target=" + rrmd.address();

  Result health = Rrmctl({target, "health"});
  EXPECT_EQ(health.code, 0) << health.err;
  EXPECT_EQ(health.out, "SERVING\n");
  Result models = Rrmctl({target, "models"});
  EXPECT_EQ(models.code, 0) << models.err;
  EXPECT_THAT(models.out, HasSubstr("trm"));

  // submit --wait: the job id alone on stdout, plain progress lines on stderr.
  const int kExamples = 8;
  Result submit = Rrmctl({target, "submit", "--model=trm", "--sudoku=" + WriteSudokuFile(dir, kExamples),
                       "--segments=3", "--batch_size=4", "--lyapunov_k=1", "--wait"});
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string job_id(absl::StripTrailingAsciiWhitespace(submit.out));
  ASSERT_EQ(Lines(submit.out).size(), 1u) << submit.out;
  EXPECT_THAT(job_id, ::testing::StartsWith("j-"));
  EXPECT_THAT(submit.err, HasSubstr("SUCCEEDED"));

  Result status = Rrmctl({target, "status", job_id});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("SUCCEEDED"));
  Result jobs = Rrmctl({target, "jobs"});
  EXPECT_THAT(jobs.out, HasSubstr(job_id));

  // records (JSONL): the SPEC §4 mapping of exactly what the stream carries.
  const std::string jsonl = dir + "/records.jsonl";
  Result records = Rrmctl({target, "records", job_id, "--out=" + jsonl});
  ASSERT_EQ(records.code, 0) << records.err;
  std::vector<v1::ExampleRecord> streamed;
  auto stub = rrmd.Stub();
  ASSERT_TRUE(StreamAll(*stub, job_id, 0, &streamed).ok());
  const std::vector<std::string> lines = Lines(ReadText(jsonl));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kExamples));
  ASSERT_EQ(streamed.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StatusOr<measure::ExampleRecord> parsed = measure::RecordFromJson(lines[i]);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(wire::RecordToProto(*parsed).SerializeAsString(), streamed[i].SerializeAsString()) << i;
    EXPECT_EQ(lines[i], measure::RecordToJson(wire::RecordFromProto(streamed[i])));
  }
  Result tail = Rrmctl({target, "records", job_id, "--from=5"});
  EXPECT_EQ(Lines(tail.out).size(), 3u);

  Result csv = Rrmctl({target, "records", job_id, "--format=csv"});
  ASSERT_EQ(csv.code, 0) << csv.err;
  const std::vector<std::string> rows = Lines(csv.out);
  ASSERT_EQ(rows.size(), static_cast<size_t>(kExamples + 1));
  EXPECT_THAT(rows[0], HasSubstr("displacement_joint_1,displacement_joint_2,displacement_joint_3"));
  EXPECT_THAT(rows[0], HasSubstr("lyapunov_increment_3_1"));

  // report: the decomposition table; offline on the JSONL gives the same bytes.
  // (The fixture's random weights solve nothing, so the default tau, the p95
  // of d_T among successes, is absent; --tau gives one.)
  Result report = Rrmctl({target, "report", job_id, "--tau=0.05"});
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr("Settling and decomposition"));
  EXPECT_THAT(report.out, HasSubstr("unsettled"));
  Result offline = Rrmctl({"report", "--records=" + jsonl, "--tau=0.05"});
  ASSERT_EQ(offline.code, 0) << offline.err;
  EXPECT_EQ(offline.out, report.out);
  Result by_default = Rrmctl({target, "report", job_id});
  EXPECT_EQ(by_default.code, 0) << by_default.err;
  EXPECT_EQ(by_default.out, Rrmctl({"report", "--records=" + jsonl}).out);
  Result json = Rrmctl({target, "report", job_id, "--json"});
  Result offline_json = Rrmctl({"report", "--records=" + jsonl, "--json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"settling\""));
  EXPECT_EQ(json.out, offline_json.out);
  Result bad_parameter = Rrmctl({target, "report", job_id, "--tau=-1"});
  EXPECT_EQ(bad_parameter.code, 5) << bad_parameter.err;
  EXPECT_THAT(bad_parameter.err, HasSubstr("parameters.tau"));
  Result unknown = Rrmctl({target, "status", "j-no-such-job"});
  EXPECT_EQ(unknown.code, 4);
  EXPECT_THAT(unknown.err, HasSubstr("rrmctl: NOT_FOUND"));

  // cancel: a long job ends CANCELLED; cancelling a finished job is refused (5).
  Result longer = Rrmctl({target, "submit", "--model=trm", "--sudoku=" + WriteSudokuFile(dir, 200), "--segments=16",
                       "--batch_size=2"});
  ASSERT_EQ(longer.code, 0) << longer.err;
  const std::string long_id(absl::StripTrailingAsciiWhitespace(longer.out));
  Result cancel = Rrmctl({target, "cancel", long_id});
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr("CANCELLED"));
  Result again = Rrmctl({target, "cancel", job_id});
  EXPECT_EQ(again.code, 5);
  EXPECT_THAT(again.err, HasSubstr("FAILED_PRECONDITION"));

  // delete: the job is gone (status exit 4 = NOT_FOUND), and deleting it again too.
  Result deleted = Rrmctl({target, "delete", long_id});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_THAT(deleted.out, HasSubstr(long_id + " deleted"));
  EXPECT_EQ(Rrmctl({target, "status", long_id}).code, 4);
  EXPECT_EQ(Rrmctl({target, "delete", long_id}).code, 4);
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
}

TEST(Rrmctl, ShardsASubmissionOverSeveralServers) {
  const std::string dir = TempFolder("rrmctl_sharded");
  RrmdProcess a(dir + "/a", {kModelFlag}), b(dir + "/b", {kModelFlag});
  std::string failure;
  ASSERT_TRUE(a.Start(&failure)) << failure;
  ASSERT_TRUE(b.Start(&failure)) << failure;
  const std::string targets = "--target=" + a.address() + "," + b.address();

  Result health = Rrmctl({targets, "health"});
  EXPECT_EQ(health.code, 0) << health.err;
  EXPECT_EQ(health.out, "# " + a.address() + "\nSERVING\n# " + b.address() + "\nSERVING\n");

  const int kExamples = 5;
  Result submit = Rrmctl({targets, "submit", "--model=trm", "--sudoku=" + WriteSudokuFile(dir, kExamples),
                          "--segments=2", "--lyapunov_k=1", "--wait", "--progress=lines"});
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string id(absl::StripTrailingAsciiWhitespace(submit.out));
  const std::vector<std::string> parts = absl::StrSplit(id, ',');
  ASSERT_EQ(parts.size(), 2u) << id;
  EXPECT_THAT(parts[0], ::testing::StartsWith(a.address() + "/j-"));
  EXPECT_THAT(parts[1], ::testing::StartsWith(b.address() + "/j-"));

  // The sharded id names its servers: no --target needed.
  Result status = Rrmctl({"status", id});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("records:       5/5"));
  EXPECT_THAT(status.out, HasSubstr("part 2:        " + parts[1] + " SUCCEEDED 3/3"));
  Result records = Rrmctl({"records", id});
  ASSERT_EQ(records.code, 0) << records.err;
  std::set<int> indices;
  for (const std::string& line : Lines(records.out)) {
    absl::StatusOr<measure::ExampleRecord> r = measure::RecordFromJson(line);
    ASSERT_TRUE(r.ok()) << r.status();
    indices.insert(r->example_index);
  }
  EXPECT_EQ(indices, (std::set<int>{0, 1, 2, 3, 4})) << "study-wide indices, each once";
  // The report of the merged records equals the offline report of the same records.
  const std::string jsonl = dir + "/merged.jsonl";
  std::ofstream(jsonl) << records.out;
  Result report = Rrmctl({"report", id, "--tau=0.05", "--json"});
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_EQ(report.out, Rrmctl({"report", "--records=" + jsonl, "--tau=0.05", "--json"}).out);

  Result from = Rrmctl({"records", id, "--from=2"});
  EXPECT_EQ(from.code, 2);
  EXPECT_THAT(from.err, HasSubstr("flag --from"));
  Result plain = Rrmctl({targets, "status", "j-1"});
  EXPECT_EQ(plain.code, 2);
  EXPECT_THAT(plain.err, HasSubstr("sharded job's id"));
  Result bad = Rrmctl({"--target=" + a.address() + ",", "health"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("empty one"));
  EXPECT_EQ(a.Terminate(), 0) << a.log();
  EXPECT_EQ(b.Terminate(), 0) << b.log();
}

// report JOB_A JOB_B: two jobs of two models side by side (issue 16).
TEST(Rrmctl, ReportOfSeveralJobsPutsThemSideBySide) {
  const std::string dir = TempFolder("rrmctl_compare");
  RrmdProcess rrmd(dir + "/data", {kModelFlag, "--model=hrm=" + kFixtures + "/hrm/step_0"});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  const std::string target = "--target=" + rrmd.address();
  const std::string sudoku = WriteSudokuFile(dir, 3);
  std::vector<std::string> ids;
  for (const std::string model : {"trm", "hrm", "trm"}) {
    Result submit = Rrmctl({target, "submit", "--model=" + model, "--sudoku=" + sudoku, "--segments=3",
                            "--lyapunov_k=1", "--wait", "--progress=none"});
    ASSERT_EQ(submit.code, 0) << submit.err;
    ids.emplace_back(absl::StripTrailingAsciiWhitespace(submit.out));
  }
  Result both = Rrmctl({target, "report", ids[0], ids[1], "--tau=0.05", "--bootstrap=20"});
  ASSERT_EQ(both.code, 0) << both.err;
  EXPECT_THAT(both.out, HasSubstr("puzzle sets: identical (3 puzzles)"));
  EXPECT_THAT(both.out, ::testing::ContainsRegex("quantity +\\| trm +\\| hrm\n"));
  for (const char* row : {"  accuracy ", "  failures_settled ", "  auc_lambda_1 ", "  halting ", "    paper ",
                          "  failure unsettled ", "  lambda_1 ", "  R = 1 first run "}) {
    EXPECT_THAT(both.out, HasSubstr(row)) << row;
  }
  // Two jobs of one model: the job id tells the columns apart.
  Result same = Rrmctl({target, "report", ids[0], ids[2], "--tau=0.05", "--bootstrap=20"});
  ASSERT_EQ(same.code, 0) << same.err;
  EXPECT_THAT(same.out, HasSubstr("trm (" + ids[0] + ")"));
  EXPECT_THAT(same.out, HasSubstr("trm (" + ids[2] + ")"));
  // --json: each job's report, the one `report JOB --json` prints.
  Result json = Rrmctl({target, "report", ids[0], ids[1], "--tau=0.05", "--bootstrap=20", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const std::string single =
      std::string(absl::StripTrailingAsciiWhitespace(Rrmctl({target, "report", ids[1], "--tau=0.05", "--bootstrap=20",
                                                             "--json"}).out));
  EXPECT_THAT(json.out, ::testing::StartsWith("{\"jobs\":[\"" + ids[0] + "\",\"" + ids[1] + "\"],\"reports\":{"));
  EXPECT_THAT(json.out, HasSubstr("\"" + ids[1] + "\":" + single));
  // One job keeps the single report.
  Result one = Rrmctl({target, "report", ids[0], "--tau=0.05"});
  EXPECT_EQ(one.code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("Settling and decomposition"));
  Result missing = Rrmctl({target, "report", ids[0], "j-no-such-job"});
  EXPECT_EQ(missing.code, 4) << missing.err;
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
}

TEST(Rrmctl, WrongTokenIsExitCode5WithTheServersMessage) {
  const std::string dir = TempFolder("rrmctl_auth");
  {
    std::ofstream(dir + "/tokens") << "alice:right-token\n";
    std::ofstream(dir + "/right") << "right-token\n";
    std::ofstream(dir + "/wrong") << "wrong-token\n";
  }
  RrmdProcess rrmd(dir + "/data", {kModelFlag, "--auth_tokens=" + dir + "/tokens"});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  const std::string target = "--target=" + rrmd.address();
  Result wrong = Rrmctl({target, "--token_file=" + dir + "/wrong", "jobs"});
  EXPECT_EQ(wrong.code, 5);
  EXPECT_THAT(wrong.err, HasSubstr("rrmctl: UNAUTHENTICATED"));
  Result none = Rrmctl({target, "models"});
  EXPECT_EQ(none.code, 5);
  Result right = Rrmctl({target, "--token_file=" + dir + "/right", "models"});
  EXPECT_EQ(right.code, 0) << right.err;
  // The server's own `name:token` file works as the client's token file too.
  Result same_file = Rrmctl({target, "--token_file=" + dir + "/tokens", "jobs"});
  EXPECT_EQ(same_file.code, 0) << same_file.err;
  Result missing = Rrmctl({target, "--token_file=" + dir + "/absent", "jobs"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
}

TEST(Rrmctl, BadInputAndUsageHaveTheirExitCodes) {
  const std::string dir = TempFolder("rrmctl_bad");
  const std::string bad = dir + "/bad.txt";
  std::ofstream(bad) << kSudoku << "\n" << kSudoku.substr(0, 80) << "\n";
  // Read locally before anything is sent: no server needed for the verdict.
  Result bad_line = Rrmctl({"--target=127.0.0.1:1", "submit", "--model=trm", "--sudoku=" + bad});
  EXPECT_EQ(bad_line.code, 5);
  EXPECT_THAT(bad_line.err, HasSubstr("line 2"));
  EXPECT_THAT(bad_line.err, ::testing::StartsWith("rrmctl: INVALID_ARGUMENT"));
  Result missing = Rrmctl({"submit", "--model=trm", "--sudoku=" + dir + "/absent.txt"});
  EXPECT_EQ(missing.code, 4) << missing.err;

  EXPECT_EQ(Rrmctl({"frobnicate"}).code, 2);
  EXPECT_EQ(Rrmctl({}).code, 2);
  Result flag = Rrmctl({"--no_such_flag", "jobs"});
  EXPECT_EQ(flag.code, 2);
  EXPECT_THAT(flag.err, HasSubstr("unknown flag --no_such_flag"));
  EXPECT_EQ(Rrmctl({"records", "j-1", "--from=abc"}).code, 2);
  EXPECT_EQ(Rrmctl({"records", "j-1", "--format=xml"}).code, 2);
  EXPECT_EQ(Rrmctl({"status"}).code, 2);
  EXPECT_EQ(Rrmctl({"submit", "--model=trm"}).code, 2);
  Result help = Rrmctl({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("exit codes"));

  Result down = Rrmctl({"--target=127.0.0.1:" + std::to_string(FreePort()), "--deadline_seconds=2", "jobs"});
  EXPECT_EQ(down.code, 3) << down.err;
  EXPECT_THAT(down.err, HasSubstr("unavailable"));

  Result offline_missing = Rrmctl({"report", "--records=" + dir + "/absent.jsonl"});
  EXPECT_EQ(offline_missing.code, 4);
}

}  // namespace
}  // namespace rrm::testing
