#include "core/analysis/comparison.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace rrm::analysis {
namespace {

std::string Num(double v, int digits = 3) {
  if (!std::isfinite(v)) return "n/a";
  return absl::StrFormat("%.*f", digits, v);
}

std::string Pct(double v) { return std::isfinite(v) ? absl::StrFormat("%.1f%%", 100.0 * v) : "n/a"; }

// "share% [low%, high%]" (Wilson 95%), "n/a" without a denominator.
std::string PctCi(const Proportion& p) {
  if (p.n == 0 || !std::isfinite(p.share)) return "n/a";
  return absl::StrCat(Pct(p.share), " [", Pct(p.ci_low), ", ", Pct(p.ci_high), "]");
}

// "k/n share% [low%, high%]".
std::string CountPctCi(const Proportion& p) {
  if (p.n == 0) return "n/a";
  return absl::StrCat(p.k, "/", p.n, " ", PctCi(p));
}

// "auc_raw [low, high]" in the stated direction; "n/a" when absent.
std::string AucText(const AucStat& a) {
  if (!a.absent_reason.empty() || !std::isfinite(a.auc_raw)) return "n/a";
  const std::string ci =
      std::isfinite(a.ci_low) ? absl::StrCat(" [", Num(a.ci_low), ", ", Num(a.ci_high), "]") : " [no CI]";
  return absl::StrCat(Num(a.auc_raw), ci);
}

// A table of text cells; the first column is the quantity.
class Table {
 public:
  explicit Table(size_t columns) : columns_(columns) {}

  void Section(const std::string& title) { rows_.push_back({title, {}, true}); }

  // `cell(i)` is column i's text.
  template <typename Cell>
  void Row(const std::string& label, Cell cell) {
    std::vector<std::string> cells;
    for (size_t i = 0; i < columns_; ++i) cells.push_back(cell(i));
    rows_.push_back({label, std::move(cells), false});
  }

  std::string Render(const std::vector<std::string>& header) const {
    size_t label_width = std::string("quantity").size();
    std::vector<size_t> widths(columns_, 0);
    for (size_t i = 0; i < columns_; ++i) widths[i] = header[i].size();
    for (const RowData& r : rows_) {
      if (r.section) continue;
      label_width = std::max(label_width, r.label.size() + 2);
      for (size_t i = 0; i < columns_; ++i) widths[i] = std::max(widths[i], r.cells[i].size());
    }
    auto line = [&](const std::string& label, const std::vector<std::string>& cells) {
      std::string out = absl::StrFormat("%-*s", static_cast<int>(label_width), label);
      for (size_t i = 0; i < columns_; ++i) {
        absl::StrAppend(&out, " | ", i + 1 == columns_ ? cells[i] : absl::StrFormat("%-*s", widths[i], cells[i]));
      }
      while (!out.empty() && out.back() == ' ') out.pop_back();
      return out + "\n";
    };
    std::string out = line("quantity", header);
    size_t total = label_width;
    for (size_t w : widths) total += 3 + w;
    absl::StrAppend(&out, std::string(total, '-'), "\n");
    for (const RowData& r : rows_) {
      if (r.section) {
        absl::StrAppend(&out, r.label, "\n");
      } else {
        absl::StrAppend(&out, line("  " + r.label, r.cells));
      }
    }
    return out;
  }

 private:
  struct RowData {
    std::string label;
    std::vector<std::string> cells;
    bool section = false;
  };
  size_t columns_;
  std::vector<RowData> rows_;
};

// Keys in order of first appearance over every report.
template <typename Item, typename KeyOf>
std::vector<std::string> UnionKeys(const std::vector<std::pair<std::string, Report>>& reports,
                                   const std::vector<Item> Report::*items, KeyOf key_of) {
  std::vector<std::string> keys;
  for (const auto& [name, report] : reports) {
    for (const Item& item : report.*items) {
      const std::string key = key_of(item);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  return keys;
}

template <typename Item, typename KeyOf>
const Item* Find(const std::vector<Item>& items, const std::string& key, KeyOf key_of) {
  for (const Item& item : items) {
    if (key_of(item) == key) return &item;
  }
  return nullptr;
}

const RestartRow* FindRestart(const Restarts& t, int runs) {
  if (!t.absent_reason.empty()) return nullptr;
  for (const RestartRow& row : t.rows) {
    if (row.runs == runs) return &row;
  }
  return nullptr;
}

// "d_T quantile bins (10, unsettled)" -> "d_T quantile bins".
std::string BinningShort(const std::string& binning) {
  const size_t paren = binning.find(" (");
  return paren == std::string::npos ? binning : binning.substr(0, paren);
}

std::string PuzzleKey(const measure::ExampleRecord& r) {
  return r.puzzle_id.empty() ? absl::StrCat("#", r.example_index) : r.puzzle_id;
}

}  // namespace

std::string FormatComparisonTable(const std::vector<std::pair<std::string, Report>>& named_reports,
                                  const std::string& puzzle_set_note) {
  const std::vector<std::pair<std::string, Report>>& reports = named_reports;
  const size_t n = reports.size();
  std::vector<std::string> header;
  for (const auto& [name, report] : reports) header.push_back(name);
  auto R = [&](size_t i) -> const Report& { return reports[i].second; };

  Table table(n);
  table.Section("Population");
  table.Row("records", [&](size_t i) { return absl::StrCat(R(i).counts.records); });
  table.Row("population (restart 0)", [&](size_t i) {
    const Counts& c = R(i).counts;
    return absl::StrCat(c.population, ": ", c.successes, " successes, ", c.failures, " failures");
  });
  table.Row("accuracy [Wilson 95%]", [&](size_t i) { return PctCi(R(i).counts.accuracy); });
  table.Row("model, family, T", [&](size_t i) {
    const PopulationInfo& p = R(i).population;
    return absl::StrCat(p.models.empty() ? "n/a" : absl::StrJoin(p.models, "+"), ", ",
                        p.model_family.empty() ? "mixed" : p.model_family, ", T = ",
                        p.segment_counts.empty() ? "n/a" : absl::StrJoin(p.segment_counts, "+"));
  });
  table.Row("lyapunov", [&](size_t i) {
    const LyapunovInfo& l = R(i).lyapunov;
    if (!l.absent_reason.empty()) return std::string("n/a");
    return absl::StrCat(l.method, ", k = ", l.k);
  });

  table.Section("Reference paper's claims (SPEC 6): measured [95% interval] (verdict); paper value");
  auto claim_key = [](const Claim& c) { return c.id; };
  for (const std::string& id : UnionKeys(reports, &Report::claims, claim_key)) {
    table.Row(id, [&](size_t i) {
      const Claim* c = Find(R(i).claims, id, claim_key);
      if (c == nullptr) return std::string("n/a");
      return absl::StrCat(c->measured_text.empty() ? "n/a" : c->measured_text, " (",
                          c->verdict.empty() ? "not measurable" : c->verdict, ")");
    });
    table.Row("  paper", [&](size_t i) {
      const Claim* c = Find(R(i).claims, id, claim_key);
      return c == nullptr || c->paper.empty() ? std::string("n/a") : c->paper;
    });
  }

  table.Section("Decomposition (shares of the classified population, Wilson 95%)");
  table.Row("tau", [&](size_t i) {
    const Settling& s = R(i).settling;
    if (!std::isfinite(s.tau)) return std::string("n/a");
    return absl::StrCat(absl::StrFormat("%.6g", s.tau), s.tau_source == "given" ? " (given)" : " (p95 successes)");
  });
  const std::pair<const char*, Proportion Settling::*> cells[] = {
      {"success settled", &Settling::share_success_settled},
      {"success unsettled", &Settling::share_success_unsettled},
      {"failure settled", &Settling::share_failure_settled},
      {"failure unsettled", &Settling::share_failure_unsettled},
      {"settled share of successes", &Settling::settled_share_of_successes},
      {"settled share of failures", &Settling::settled_share_of_failures},
  };
  for (const auto& [label, member] : cells) {
    table.Row(label, [&, member = member](size_t i) {
      const Settling& s = R(i).settling;
      return std::isfinite(s.tau) ? CountPctCi(s.*member) : std::string("n/a");
    });
  }

  table.Section("AUC in its stated direction: auc_raw [95% bootstrap CI]");
  auto auc_key = [](const AucStat& a) { return a.score; };
  for (const std::string& score : UnionKeys(reports, &Report::aucs, auc_key)) {
    table.Row(score, [&](size_t i) {
      const AucStat* a = Find(R(i).aucs, score, auc_key);
      return a == nullptr ? std::string("n/a") : AucText(*a);
    });
  }

  table.Section("Matched AUC, pairs within bin (pooled)");
  auto matched_key = [](const MatchedAuc& m) { return absl::StrCat(m.pooled.score, " in ", BinningShort(m.binning)); };
  for (const std::string& key : UnionKeys(reports, &Report::matched, matched_key)) {
    table.Row(key, [&](size_t i) {
      const MatchedAuc* m = Find(R(i).matched, key, matched_key);
      return m == nullptr ? std::string("n/a") : AucText(m->pooled);
    });
  }

  table.Section("Early window (positive class: eventual success)");
  table.Row("w, at risk", [&](size_t i) {
    const EarlyWindow& e = R(i).early;
    return absl::StrCat("w = ", e.w, ", ", e.n_at_risk, " at risk");
  });
  const std::pair<const char*, AucStat EarlyWindow::*> early[] = {
      {"lambda_1[1..w]", &EarlyWindow::lambda_1}, {"d_w", &EarlyWindow::d_w}, {"h_w", &EarlyWindow::h_w}};
  for (const auto& [label, member] : early) {
    table.Row(label, [&, member = member](size_t i) { return AucText(R(i).early.*member); });
  }

  table.Section("Halting");
  table.Row("AUC of h_T (success)", [&](size_t i) { return AucText(R(i).halting.auc); });
  table.Row("failures with h_T > 0.5", [&](size_t i) { return CountPctCi(R(i).halting.failures_confident); });
  table.Row("failures settled, h_T > 0.5",
            [&](size_t i) { return CountPctCi(R(i).halting.failures_settled_confident); });
  table.Row("failures halted by own rule", [&](size_t i) {
    const Halting& h = R(i).halting;
    return h.rule_absent_reason.empty() ? CountPctCi(h.failures_halted_by_rule) : std::string("n/a");
  });

  table.Section("Restarts: accuracy by runs R [Wilson 95%]");
  int max_runs = 0;
  for (const auto& [name, report] : reports) {
    if (report.restarts.absent_reason.empty()) max_runs = std::max(max_runs, report.restarts.max_runs);
  }
  if (max_runs == 0) {
    table.Row("restarts", [&](size_t) { return std::string("n/a"); });
  }
  for (int runs = 1; runs <= max_runs; ++runs) {
    table.Row(absl::StrCat("R = ", runs, " first run"), [&](size_t i) {
      const RestartRow* row = FindRestart(R(i).restarts, runs);
      return row == nullptr ? std::string("n/a") : PctCi(row->first_run);
    });
    table.Row(absl::StrCat("R = ", runs, " best h_T"), [&](size_t i) {
      const RestartRow* row = FindRestart(R(i).restarts, runs);
      return row == nullptr ? std::string("n/a") : PctCi(row->best_of_h);
    });
  }

  std::string out = absl::StrCat("Comparison of ", n, " analyses (SPEC 5, 6; one column each)\n");
  if (!puzzle_set_note.empty()) absl::StrAppend(&out, puzzle_set_note, "\n");
  absl::StrAppend(&out, table.Render(header));
  return out;
}

std::string PuzzleSetNote(
    const std::vector<std::pair<std::string, std::vector<measure::ExampleRecord>>>& named_records) {
  std::vector<std::vector<std::string>> sets;
  for (const auto& [name, records] : named_records) {
    std::vector<std::string> keys;
    for (const measure::ExampleRecord& r : records) {
      if (r.restart == 0) keys.push_back(PuzzleKey(r));
    }
    std::sort(keys.begin(), keys.end());
    sets.push_back(std::move(keys));
  }
  if (sets.empty()) return "puzzle sets: n/a (no jobs)";
  bool identical = true;
  for (const auto& s : sets) identical = identical && s == sets.front();
  if (identical) return absl::StrCat("puzzle sets: identical (", sets.front().size(), " puzzles)");
  std::vector<std::string> shared = sets.front();
  for (size_t i = 1; i < sets.size(); ++i) {
    std::vector<std::string> both;
    std::set_intersection(shared.begin(), shared.end(), sets[i].begin(), sets[i].end(), std::back_inserter(both));
    shared = std::move(both);
  }
  std::vector<std::string> parts;
  for (size_t i = 0; i < sets.size(); ++i) {
    absl::StrAppend(&parts.emplace_back(), named_records[i].first, " ", sets[i].size(), " puzzles");
  }
  return absl::StrCat("puzzle sets differ: ", absl::StrJoin(parts, ", "), "; ", shared.size(),
                      " shared (by puzzle_id); compare with care");
}

}  // namespace rrm::analysis
