// rrm-measure as a user runs it: the real binary on a fixture checkpoint, its
// output read back by Python's json and numpy.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using ::testing::HasSubstr;

const std::string kTool = std::string(RRM_BINARY_DIR) + "/bin/rrm-measure";
const std::string kFixtures = std::string(RRM_SOURCE_DIR) + "/tests/fixtures";

struct Result {
  int exit_code;
  std::string output;  // stdout + stderr
};

Result RunShell(const std::string& command) {
  // One log per process: ctest runs these tests in parallel processes.
  const std::string log = ::testing::TempDir() + "/rrm_measure_test." + std::to_string(::getpid()) + ".log";
  const int status = std::system((command + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

std::string TempFolder(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name + "." + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(RrmMeasure, WritesRecordsAndDumpsStates) {
  const std::string dir = TempFolder("rrm_measure_dump");
  const Result run = RunShell(kTool + " --checkpoint " + kFixtures + "/hrm/step_0 --data " + kFixtures +
                         "/hrm/data --out " + dir + "/records.jsonl --dump_states " + dir + "/states");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("2 puzzles x 1 runs"));
  // Python reads what we wrote: JSON lines with SPEC §4 field names, and npy arrays.
  const Result check = RunShell(
      "/usr/bin/python3 -c \"\n"
      "import json, numpy as np\n"
      "recs = [json.loads(l) for l in open('" + dir + "/records.jsonl')]\n"
      "assert len(recs) == 2, len(recs)\n"
      "need = {'job_id','example_index','puzzle_id','restart','restart_kind','seed','givens',\n"
      "        'updates_per_segment','segments','lyapunov','lyapunov_sd','lyapunov_method','correct',\n"
      "        'first_correct_segment','prediction','device','compute_seconds','error'}\n"
      "assert need <= set(recs[0]), need - set(recs[0])\n"
      "assert len(recs[0]['segments']) == 16 and len(recs[0]['prediction']) == 81\n"
      "zh = np.load('" + dir + "/states/z_H.npy'); assert zh.shape == (16, 2, 82, 64) and zh.dtype == np.float32, zh.shape\n"
      "assert np.load('" + dir + "/states/logits.npy').shape == (16, 2, 81, 11)\n"
      "p = np.load('" + dir + "/states/preds.npy'); assert p.shape == (16, 2, 81) and p.dtype == np.int64\n"
      "assert np.load('" + dir + "/states/q_halt_logits.npy').shape == (16, 2)\n"
      "assert np.load('" + dir + "/states/correct.npy').dtype == np.bool_\n"
      "assert (p[-1] == np.array([r['prediction'] for r in recs])).all()\n"
      "ref = np.load('" + kFixtures + "/hrm/expected/z_H.npy')\n"
      "print('max deviation from reference at segment 1:', abs(zh[0] - ref[0]).max())\n"
      "assert abs(zh[0] - ref[0]).max() < 1e-5\n"
      "\"");
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(RrmMeasure, TeacherStatesGiveOneStepOutputs) {
  const std::string dir = TempFolder("rrm_measure_teacher");
  const std::string fixture = kFixtures + "/trm_mlpt";
  const Result run = RunShell(kTool + " --checkpoint " + fixture + "/step_0 --data " + fixture + "/data --out " + dir +
                         "/records.jsonl --teacher_states " + fixture + "/expected --dump_states " + dir +
                         "/states --limit 2 --batch 1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const Result check = RunShell(
      "/usr/bin/python3 -c \"\n"
      "import numpy as np\n"
      "ours = np.load('" + dir + "/states/z_L.npy'); ref = np.load('" + fixture + "/expected/z_L.npy')[:, :2]\n"
      "d = abs(ours - ref).max(); print('one-step max deviation', d); assert d < 1e-5\n"
      "\"");
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(RrmMeasure, MalformedPuzzleFileIsAClearError) {
  const std::string dir = TempFolder("rrm_measure_bad");
  std::ofstream(dir + "/bad.txt") << "12345\n";
  const Result run = RunShell(kTool + " --checkpoint " + kFixtures + "/trm_attn/step_0 --sudoku " + dir +
                         "/bad.txt --out " + dir + "/out.jsonl");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("bad.txt"));
  EXPECT_THAT(run.output, HasSubstr("line 1"));
}

TEST(RrmMeasure, CorruptCheckpointIsAClearError) {
  const std::string dir = TempFolder("rrm_measure_corrupt");
  std::filesystem::copy_file(kFixtures + "/trm_attn/all_config.yaml", dir + "/all_config.yaml");
  std::ofstream(dir + "/step_9") << "this is not a checkpoint";
  const Result run = RunShell(kTool + " --checkpoint " + dir + "/step_9 --data " + kFixtures + "/trm_attn/data --out " +
                         dir + "/out.jsonl");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("step_9"));
}

TEST(RrmMeasure, HelpListsTheFlags) {
  const Result run = RunShell(kTool + " --helpfull");
  EXPECT_THAT(run.output, HasSubstr("--checkpoint"));
  EXPECT_THAT(run.output, HasSubstr("--dump_states"));
  EXPECT_THAT(run.output, HasSubstr("--teacher_states"));
}

}  // namespace
