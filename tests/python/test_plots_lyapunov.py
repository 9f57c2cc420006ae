"""The Lyapunov outputs users ask for: convergence of the exponents, the
summed spectrum and the Kaplan–Yorke dimension, ROC curves with AUC and CI
(rrmdyn.spectrum data, rrmdyn.plots figures), on real records."""

import math
import re

import numpy as np
import pytest

import matplotlib
matplotlib.use("Agg")

import rrmdyn  # noqa: E402
from rrmdyn import analysis, plots, spectrum  # noqa: E402


def test_kaplan_yorke_of_the_henon_map_is_1_26():
    # SPEC §3's check system: Hénon a=1.4 b=0.3, λ = 0.419, −1.623 (unsorted on purpose).
    dimension, bound = spectrum.kaplan_yorke([-1.623, 0.419])
    assert dimension == pytest.approx(1 + 0.419 / 1.623)
    assert not bound
    assert spectrum.ky_text(dimension, bound) == "1.26"


def test_kaplan_yorke_is_only_a_lower_bound_while_the_partial_sums_stay_positive():
    assert spectrum.kaplan_yorke([0.3, 0.1, -0.2]) == (3.0, True)
    assert spectrum.ky_text(*spectrum.kaplan_yorke([0.3, 0.1, -0.2])) == "≥ 3"
    assert spectrum.kaplan_yorke([-0.1, -0.5]) == (0.0, False)
    assert spectrum.kaplan_yorke([0.2, -0.1, -0.4]) == (pytest.approx(2.25), False)
    assert math.isnan(spectrum.kaplan_yorke([])[0])
    assert math.isnan(spectrum.kaplan_yorke([0.1, float("nan")])[0])


def test_running_mean_of_the_increments_ends_at_each_records_exponent(mixed_job):
    frame = analysis.population(mixed_job.to_pandas())
    for inc, lam in zip(frame["seg_lyapunov_increments"], frame["lyapunov"]):
        means = spectrum.running_means(inc)
        assert means.shape == inc.shape
        assert means[0] == pytest.approx(inc[0])
        assert means[-1] == pytest.approx(lam, rel=1e-9, abs=1e-12)  # SPEC §3: λ_i = (1/T) Σ ℓ_{t,i}


def test_convergence_frame_gives_median_and_iqr_per_segment_and_outcome(mixed_job):
    frame = mixed_job.to_pandas()
    data = spectrum.convergence_frame(frame)
    T = int(frame["T"].max())
    assert list(data.columns) == spectrum.CONVERGENCE_COLUMNS
    assert set(data["outcome"]) == {"success", "failure"}
    assert sorted(set(data["segment"])) == list(range(1, T + 1))
    assert (data["q1"] <= data["median"]).all() and (data["median"] <= data["q3"]).all()
    pop = analysis.population(frame)
    last = data[data["segment"] == T].set_index("outcome")
    for ok, name in ((True, "success"), (False, "failure")):
        lam = pop.loc[pop["correct"] == ok, "lambda_1"].to_numpy()
        assert last.loc[name, "n"] == lam.size
        assert last.loc[name, "median"] == pytest.approx(float(np.median(lam)))


def test_convergence_plot_draws_median_lines_and_iqr_bands_by_outcome(mixed_job):
    fig = plots.exponent_convergence(mixed_job.to_pandas())
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("success median, IQR") for label in labels)
    assert any(label.startswith("failure median, IQR") for label in labels)
    assert len(ax.collections) == 2  # one IQR band per outcome


def test_convergence_says_when_there_are_no_increments(client):
    from conftest import SUDOKU, SOLUTION
    job = client.submit("trm", [SUDOKU] * 2, solutions=[SOLUTION] * 2, segments=2)
    job.wait(progress=False, timeout=120)
    assert spectrum.convergence_frame(job.to_pandas()).empty
    fig = plots.exponent_convergence(job.to_pandas())
    assert "no per-segment increments" in " ".join(t.get_text() for t in fig.axes[0].texts)


def test_spectrum_frame_sums_the_exponents_and_bounds_the_dimension(mixed_job):
    frame = mixed_job.to_pandas()
    spec = spectrum.spectrum_frame(frame)
    assert len(spec) == len(analysis.valid(frame))
    assert (spec["k"] == 1).all()
    for row, lam, updates in zip(spec.itertuples(), frame["lyapunov"], frame["updates_per_segment"]):
        assert row.lambda_sum == pytest.approx(float(np.sum(lam)))
        assert row.lambda_sum_per_update == pytest.approx(float(np.sum(lam)) / updates)
        # k = 1: a contracting direction has dimension 0, an expanding one at least 1.
        if lam[0] < 0:
            assert (row.ky_dimension, row.ky_lower_bound, row.ky_text) == (0.0, False, "0.00")
        else:
            assert (row.ky_dimension, row.ky_lower_bound, row.ky_text) == (1.0, True, "≥ 1")
    fig = plots.spectrum_and_dimension(frame)
    assert len(fig.axes) == 2 and "Kaplan–Yorke" in fig.axes[1].get_title()


def test_roc_legend_gives_the_auc_in_its_stated_direction_with_the_reports_ci(mixed_job):
    frame = mixed_job.to_pandas()
    try:
        report = mixed_job.report(bootstrap=50)
    except rrmdyn.Unimplemented as error:
        pytest.skip("this rrmd does not serve Analyze yet: %s" % error)
    labels = {line.get_label().split(":")[0]: line.get_label()
              for line in plots.roc_curves(frame, report=report).axes[0].get_lines() if ":" in line.get_label()}
    assert set(labels) == {"lambda_1", "d_T", "h_T"}
    assert "higher λ_1 → failure" in labels["lambda_1"] and "lower h_T → failure" in labels["h_T"]
    pop = analysis.population(frame)
    fail, succ = pop[~pop["correct"]], pop[pop["correct"]]
    stated = analysis.auc_raw(fail["lambda_1"], succ["lambda_1"])  # higher λ_1 → failure, never folded
    given = next(a for a in report["aucs"] if a["score"] == "lambda_1")
    low, high = plots.stated_auc_ci(given, stated)
    assert re.search(r"AUC %.3f \[%.3f, %.3f\]" % (stated, low, high), labels["lambda_1"]), labels["lambda_1"]
    assert low <= stated <= high


def test_stated_auc_ci_converts_a_folded_ci_exactly():
    # Reports before SPEC §5 fixed directions give the folded AUC's CI.
    old = {"auc_raw": 0.3, "auc": 0.7, "ci_low": 0.55, "ci_high": 0.85}
    assert plots.stated_auc_ci(old, 0.3) == (pytest.approx(0.15), pytest.approx(0.45))
    assert plots.stated_auc_ci(old, 0.7) == (0.55, 0.85)
    # Current reports: the CI belongs to auc_raw, the stated direction.
    new = {"auc_raw": 0.3, "auc_folded": 0.7, "ci_low": 0.12, "ci_high": 0.5}
    assert plots.stated_auc_ci(new, 0.3) == (0.12, 0.5)
    assert plots.stated_auc_ci(new, 0.31) is None
    assert plots.stated_auc_ci({"auc_raw": 0.3, "auc_folded": 0.7, "ci_low": float("nan"), "ci_high": 1}, 0.3) is None
