// The two renderings of a Report: JSON a program can read (checked with
// Python's json) and a table a researcher can read.
#include "core/analysis/report_format.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/analysis/synthetic_records.h"

namespace rrm::analysis {
namespace {

using ::rrm::analysis::testing::MakeRecord;
using ::rrm::analysis::testing::Trajectory;
using ::testing::HasSubstr;

Report SmallReport() {
  std::vector<measure::ExampleRecord> records;
  for (int i = 0; i < 12; ++i) {
    Trajectory t;
    const bool ok = i % 3 != 0;
    t.d = {1.0, ok ? 0.01 * i : 0.5 + 0.1 * i};
    t.h = {0.2, ok ? 0.9 : 0.1 * (i % 7)};
    t.increments = {0.01 * i, -0.01};
    for (int restart = 0; restart < 2; ++restart) {
      records.push_back(MakeRecord(i, restart ? !ok : ok, t, {ok ? 0.01 : 0.1 + 0.001 * i}, restart));
      records.back().givens = 20 + i % 4;
      records.back().prediction = {ok, restart};
    }
  }
  AnalysisParameters p;
  p.early_window = 1;
  p.bootstrap = 50;
  absl::StatusOr<Report> report = Analyze(records, p);
  EXPECT_TRUE(report.ok()) << report.status();
  return *report;
}

int RunPython(const std::string& json, const std::string& script, std::string* output) {
  // One file pair per test: ctest runs the tests of this binary as parallel processes.
  const std::string stem = ::testing::TempDir() + "/report_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  { std::ofstream(stem + ".json") << json; }
  const std::string log = stem + ".log";
  const int status = std::system(("/usr/bin/python3 -c \"import json\nr = json.load(open('" + stem +
                                  ".json'))\n" + script + "\" > " + log + " 2>&1")
                                     .c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  *output = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ReportFormat, JsonIsValidWithStableFieldNames) {
  const Report report = SmallReport();
  const std::string json = ReportToJson(report);
  std::string output;
  ASSERT_EQ(RunPython(json,
                      "assert set(r) == {'claims', 'parameters', 'counts', 'population', 'lyapunov', 'settling',\n"
                      "                  'summaries', 'aucs', 'matched', 'early', 'halting', 'energy', 'restarts'}, set(r)\n"
                      "assert r['parameters']['tau'] is None and r['parameters']['seed'] == '0'\n"
                      "assert r['counts']['population'] == 12 and r['counts']['restart_records'] == 12\n"
                      "assert r['settling']['tau_source'] == 'p95_d_T_successes'\n"
                      "a = {x['score']: x for x in r['aucs']}\n"
                      "assert a['lambda_1']['direction'] == 'higher lambda_1 -> failure', a['lambda_1']\n"
                      "assert a['lambda_1']['auc_raw'] == 1.0\n"
                      "assert len(r['restarts']['rows']) == 2 and r['restarts']['rows'][1]['oracle']['share'] == 1.0\n"
                      "g = [m for m in r['matched'] if m['binning'].startswith('givens')]\n"
                      "assert len(g) == 3 and len(g[0]['bins']) == 4\n"
                      "assert r['early']['w'] == 1\n"
                      "assert r['halting']['auc']['positive_class'] == 'success'\n",
                      &output),
            0)
      << output << "\n" << json;
}

TEST(ReportFormat, AbsentNumbersAreNaNStringsInJson) {
  const absl::StatusOr<Report> report = Analyze({}, AnalysisParameters{});
  ASSERT_TRUE(report.ok());
  std::string output;
  ASSERT_EQ(RunPython(ReportToJson(*report),
                      "assert r['counts']['accuracy']['share'] == 'NaN'\n"
                      "assert r['settling']['absent_reason']\n"
                      "assert all(a['auc_raw'] == 'NaN' and a['absent_reason'] for a in r['aucs'])\n",
                      &output),
            0)
      << output;
}

TEST(ReportFormat, TableShowsTheDecompositionAndAucLines) {
  const std::string table = FormatReportTable(SmallReport());
  EXPECT_THAT(table, HasSubstr("Population (restart 0) 12: 8 successes, 4 failures"));
  EXPECT_THAT(table, HasSubstr("default: 95th percentile of d_T among successes"));
  EXPECT_THAT(table, HasSubstr("settled"));
  EXPECT_THAT(table, HasSubstr("higher lambda_1 -> failure"));
  EXPECT_THAT(table, HasSubstr("givens 21"));
  EXPECT_THAT(table, HasSubstr("Early window w = 1"));
  EXPECT_THAT(table, HasSubstr("failures with h_T > 0.5"));
  EXPECT_THAT(table, HasSubstr("best h_T"));
  EXPECT_THAT(table, HasSubstr("Early pruning at w = 1"));
  EXPECT_EQ(table.back(), '\n');
}

TEST(ReportFormat, TableOfNothingSaysWhy) {
  const absl::StatusOr<Report> report = Analyze({}, AnalysisParameters{});
  ASSERT_TRUE(report.ok());
  const std::string table = FormatReportTable(*report);
  EXPECT_THAT(table, HasSubstr("n/a ("));
  EXPECT_THAT(table, HasSubstr("Records 0"));
}


TEST(ReportFormat, OpensWithTheClaimsTable) {
  const Report report = SmallReport();
  const std::string table = FormatReportTable(report);
  EXPECT_EQ(table.rfind("Reference paper's claims (SPEC 6)", 0), 0u) << table;
  EXPECT_LT(table.find("auc_within_givens"), table.find("Analysis (SPEC 5)"));
  // JSON: "claims" first, each row in the shape the Python/HTML report reads.
  const std::string json = ReportToJson(report);
  EXPECT_EQ(json.rfind("{\"claims\":[", 0), 0u) << json.substr(0, 80);
  std::string output;
  ASSERT_EQ(RunPython(json,
                      "ids = [c['id'] for c in r['claims']]\n"
                      "assert ids == ['accuracy', 'failures_settled', 'least_mobile_failure', 'median_lambda_1',\n"
                      "               'auc_lambda_1', 'matched_auc_deciles', 'auc_within_givens', 'early_window',\n"
                      "               'halting'], ids\n"
                      "keys = {'id', 'claim', 'paper', 'paper_value', 'measured', 'ci_low', 'ci_high',\n"
                      "        'measured_text', 'verdict', 'reason'}\n"
                      "for c in r['claims']:\n"
                      "    assert set(c) == keys, c\n"
                      "    for k in ('paper_value', 'measured', 'ci_low', 'ci_high'):\n"
                      "        assert c[k] is None or isinstance(c[k], (int, float)), (k, c)\n"
                      "    assert c['verdict'] in ('consistent', 'not consistent', 'not measurable'), c\n"
                      "a = r['claims'][0]\n"
                      "assert a['claim'] == 'Sudoku-Extreme accuracy' and a['paper'] == 'TRM 87.6%, HRM 52.6%', a\n"
                      "assert a['measured'] == 8 / 12 and a['paper_value'] is None, a\n",
                      &output),
            0)
      << output << "\n" << json;
}

TEST(ReportFormat, SharesAndAucsPrintTheirIntervals) {
  const std::string table = FormatReportTable(SmallReport());
  // Accuracy 8 of 12 with its Wilson interval [39.1%, 86.2%].
  EXPECT_THAT(table, HasSubstr("accuracy 66.7% [39.1%, 86.2%]"));
  EXPECT_THAT(table, HasSubstr("auc_raw"));
  EXPECT_THAT(table, HasSubstr("folded"));
  EXPECT_THAT(table, HasSubstr("McNemar p"));
  EXPECT_THAT(table, HasSubstr("plain   "));
}

}  // namespace
}  // namespace rrm::analysis
