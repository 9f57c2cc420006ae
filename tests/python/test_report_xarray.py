"""Records as an xarray Dataset (record × segment × exponent) carrying the
job's provenance, and its netCDF round trip, on real records."""

import json

import numpy as np
import pytest

xr = pytest.importorskip("xarray", reason="python3-xarray is not installed")

from rrmdyn.xarray_export import provenance_attributes, to_xarray  # noqa: E402


def test_dataset_is_record_by_segment_by_exponent_with_provenance(mixed_job):
    records = mixed_job.all_records()
    frame = mixed_job.to_pandas()
    provenance = mixed_job.provenance
    ds = to_xarray(records, provenance)
    assert dict(ds.sizes)["record"] == len(records)
    assert dict(ds.sizes)["segment"] == int(frame["T"].max())
    assert dict(ds.sizes)["exponent"] == 1
    assert ds["lyapunov_increments"].dims == ("record", "segment", "exponent")
    assert ds["segment_displacement_joint"].dims == ("record", "segment")
    for r in range(len(records)):
        assert ds["example_index"].values[r] == frame["example_index"][r]
        assert bool(ds["correct"].values[r]) == bool(frame["correct"][r])
        np.testing.assert_array_equal(ds["segment_displacement_joint"].values[r], frame["seg_displacement_joint"][r])
        np.testing.assert_array_equal(ds["lyapunov"].values[r], frame["lyapunov"][r])
        # SPEC §3: λ is the mean of the stored increments.
        assert ds["lyapunov_increments"].values[r].mean(axis=0) == pytest.approx(frame["lyapunov"][r])
    assert ds.attrs["provenance.model"] == "trm"
    assert ds.attrs["provenance.checkpoint_sha256"] == provenance.checkpoint_sha256
    assert len(provenance.checkpoint_sha256) == 64
    assert ds.attrs["provenance.options.lyapunov_k"] == 1
    assert ds.attrs["provenance.options.restarts.kind"] == "init_noise"
    assert ds.attrs["provenance.overrides"] == "[]"
    assert json.loads(ds.attrs["provenance_json"]) == provenance.to_dict()


def test_provenance_attributes_are_netcdf_safe():
    attrs = provenance_attributes({"a": True, "b": ["x", 1], "c": {"d": None, "e": 2.5}})
    assert attrs == {"provenance.a": "true", "provenance.b": '["x", 1]', "provenance.c.e": 2.5,
                     "provenance_json": '{"a": true, "b": ["x", 1], "c": {"d": null, "e": 2.5}}'}


def test_to_netcdf_round_trips(mixed_job, tmp_path):
    pytest.importorskip("netCDF4", reason="python3-netcdf4 is not installed")
    ds = to_xarray(mixed_job.all_records(), mixed_job.provenance)
    path = tmp_path / "records.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back.load()
        xr.testing.assert_identical(ds, back)
        assert back["correct"].dtype == bool
        assert back.attrs["provenance_json"] == ds.attrs["provenance_json"]


def test_records_of_different_lengths_are_padded_with_nan(client):
    from conftest import SUDOKU, SOLUTION
    short = client.submit("trm", [SUDOKU], solutions=[SOLUTION], segments=2, lyapunov_k=1)
    long = client.submit("trm", [SUDOKU], solutions=[SOLUTION], segments=3, lyapunov_k=2)
    for job in (short, long):
        job.wait(progress=False, timeout=120)
    ds = to_xarray(short.all_records() + long.all_records())
    assert dict(ds.sizes)["segment"] == 3 and dict(ds.sizes)["exponent"] == 2
    assert np.isnan(ds["segment_halt_confidence"].values[0, 2])
    assert np.isnan(ds["lyapunov"].values[0, 1]) and np.isfinite(ds["lyapunov"].values[1]).all()
    assert list(ds["T"].values) == [2, 3]
    assert "provenance_json" not in ds.attrs
