"""RD curves: results files (ours and CompressAI's), BD figures and their overlap, plots."""

import json
import math

import numpy as np
import pytest

from tfquant import compare, data, evaluate, rd_curves


def test_bd_rate_of_identical_and_cheaper_curves():
  anchor = [(0.2, 28.0, 10.0), (0.4, 31.0, 13.0), (0.8, 34.0, 16.0), (1.6, 37.0, 19.0)]
  assert rd_curves.bd_rate(anchor, anchor) == pytest.approx(0.0, abs=1e-9)
  cheaper = [(0.9 * r, p, m) for r, p, m in anchor]
  assert rd_curves.bd_rate(anchor, cheaper) == pytest.approx(-10.0, abs=1e-6)
  assert rd_curves.bd_rate(anchor, cheaper, "ms_ssim_db") == pytest.approx(-10.0, abs=1e-6)
  assert rd_curves.bd_psnr(anchor, anchor) == pytest.approx(0.0, abs=1e-9)
  assert np.isnan(rd_curves.bd_rate(anchor, anchor[:1]))
  zigzag = [(0.2, 28.0, 10.0), (0.4, 27.0, 9.0), (0.8, 34.0, 16.0)]
  assert np.isnan(rd_curves.bd_rate(anchor, zigzag))  # undefined, not an exception
  assert rd_curves.bd_rate(zigzag, zigzag) == 0.0
  # Seen in a real short run: the bjontegaard package raises AssertionError here.
  short_anchor = [(0.332, 22.088, 8.166), (0.556, 21.009, 8.527), (0.583, 22.243, 8.609)]
  short_test = [(0.364, 22.912, 8.285), (0.584, 17.466, 7.297), (0.609, 19.449, 8.023)]
  assert np.isnan(rd_curves.bd_rate(short_anchor, short_test, "ms_ssim_db"))


def test_linear_bd_rate_never_charges_a_curve_for_points_that_beat_the_anchor():
  anchor = [(0.2, 28.0, 10.0), (0.4, 31.0, 13.0), (0.8, 34.0, 16.0), (1.6, 37.0, 19.0)]
  cheaper = [(0.9 * r, p, m) for r, p, m in anchor]
  assert rd_curves.bd_rate(anchor, cheaper, method="linear") == pytest.approx(-10.0)
  assert rd_curves.bd_rate(anchor, anchor, method="linear") == 0.0
  # Log rate linear in PSNR: the mean of the gaps over the shared range [29, 34] dB.
  shifted = [(0.3, 29.0, 10.0), (0.8, 34.0, 16.0)]
  log_anchor = np.interp([29.0, 31.0, 34.0], [28.0, 31.0, 34.0], np.log([0.2, 0.4, 0.8]))
  log_test = np.interp([29.0, 31.0, 34.0], [29.0, 34.0], np.log([0.3, 0.8]))
  gap = np.trapz(log_test - log_anchor, [29.0, 31.0, 34.0]) / 5.0
  assert rd_curves.bd_rate(anchor, shifted, method="linear") == pytest.approx(
      100 * np.expm1(gap))
  rng = np.random.RandomState(0)
  for _ in range(50):  # each point moved to fewer bits or more PSNR: never a positive BD-rate
    better = [(r * rng.uniform(0.8, 1.0), p + rng.uniform(0.0, 0.5), m) for r, p, m in anchor]
    assert rd_curves.bd_rate(anchor, better, method="linear") <= 1e-9
  assert np.isnan(rd_curves.bd_rate(anchor, [(0.2, 28.0, 10.0), (0.4, 27.0, 9.0)],
                                    method="linear"))
  assert np.isnan(rd_curves.bd_rate(anchor, [(2.0, 38.0, 20.0), (3.0, 40.0, 22.0)],
                                    method="linear"))


def test_pareto_front_keeps_the_points_nothing_beats():
  curve = [(0.5, 30.0, 15.5), (0.2, 28.0, 11.7), (0.43, 30.1, 15.1), (0.3, 27.0, 11.0)]
  assert rd_curves.pareto_front(curve) == [(0.2, 28.0, 11.7), (0.43, 30.1, 15.1)]
  assert rd_curves.pareto_front(curve, "ms_ssim_db") == [(0.2, 28.0, 11.7),
                                                         (0.43, 30.1, 15.1), (0.5, 30.0, 15.5)]


def test_bd_rate_of_a_flattening_three_point_curve_stays_plausible():
  # grid_mini's AUN-Q/AUN-Q and AUN-Q/STE-Q: the test curve needs 32% fewer bits at the low end of
  # the overlap and 6% more at the top; Akima overshot to -94%, a cubic spline to -99%.
  anchor = [(0.243, 25.24, 9.8), (0.563, 26.65, 11.1), (0.800, 27.49, 11.8)]
  flattening = [(0.264, 26.22, 10.3), (0.563, 27.16, 11.4), (0.830, 27.17, 11.5)]
  assert -50.0 < rd_curves.bd_rate(anchor, flattening) < 0.0


def test_results_files_and_plot(tmp_path):
  paths = data.image_paths(data.sample_dir())[:2]
  points = [evaluate.evaluate(evaluate.PillowCodec("jpeg", q), paths) for q in (20, 60, 90)]
  points += [evaluate.evaluate(evaluate.PillowCodec("webp", q), paths) for q in (20, 60, 90)]
  csv_path = rd_curves.save_points(points, str(tmp_path / "r.json"))
  assert len(open(csv_path).read().strip().splitlines()) == 1 + 6 * 2
  curves = rd_curves.curves(rd_curves.load_points(str(tmp_path / "r.json")))
  assert set(curves) == {"JPEG", "WebP"} and len(curves["JPEG"]) == 3
  path = rd_curves.rd_plot(curves, str(tmp_path / "rd.png"))
  assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  # CompressAI's results format, written beside ours, reads back as the same means.
  jpeg = rd_curves.save_points(points[:3], str(tmp_path / "jpeg.json"))
  compressai = json.load(open(tmp_path / "jpeg.compressai.json"))
  assert compressai["name"] == "JPEG" and len(compressai["results"]["psnr-rgb"]) == 3
  # the keys CompressAI 1.2.8's eval_model writes and `compressai.utils.plot` reads
  assert {"bpp", "psnr-rgb", "ms-ssim-rgb"} <= set(compressai["results"])
  again = rd_curves.curves(rd_curves.load_points(str(tmp_path / "jpeg.compressai.json")))
  np.testing.assert_allclose(np.array(again["JPEG"])[:, :2], np.array(curves["JPEG"])[:, :2],
                             rtol=1e-12)  # MS-SSIM in dB: of the mean there, mean of dB here
  assert np.all(np.isfinite(np.array(again["JPEG"])[:, 2]))
  assert jpeg.endswith("jpeg.csv")


def test_rd_plot_tells_a_dozen_curves_apart_and_fits_the_learned_ones(tmp_path, monkeypatch):
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  learned = {f"pair {i}": [(0.25, 25.0 + i / 10, 10.0), (0.8, 27.0 + i / 10, 12.0)]
             for i in range(11)}
  references = {"JPEG": [(0.3, 26.0, 9.0), (2.3, 38.0, 22.0)],
                "WebP": [(0.3, 29.0, 12.0), (2.0, 39.5, 22.0)]}
  shown = []
  monkeypatch.setattr(plt, "close", shown.append)  # keep the figure to inspect it
  rd_curves.rd_plot(learned, str(tmp_path / "rd.svg"), references=references)
  psnr_axis = shown[0].axes[0]
  lines = psnr_axis.get_lines()
  assert len({line.get_color() for line in lines}) == 13
  assert [line.get_linestyle() for line in lines[-2:]] == ["--", "--"]
  assert psnr_axis.get_xlim() == pytest.approx((0, 1.3 * 0.8))
  low, high = psnr_axis.get_ylim()
  assert 24.0 < low < 25.0 and 33.0 < high < 35.0  # WebP at 1.04 bpp: 33.8 dB, not its 39.5
  assert open(tmp_path / "rd.svg").read().lstrip().startswith("<?xml")


def test_bd_overlap_is_reported_and_little_overlap_is_marked():
  anchor = [(0.2, 28.0, 10.0), (0.4, 31.0, 13.0), (0.8, 34.0, 16.0)]
  assert rd_curves.bd_overlap(anchor, anchor) == 1.0
  high = [(0.6, 33.0, 15.0), (1.0, 35.0, 17.0), (1.6, 37.0, 19.0)]  # PSNR 33–34 shared
  assert rd_curves.bd_overlap(anchor, high) == pytest.approx(1 / 9)
  assert rd_curves.bd_overlap(anchor, high, kind="quality") == pytest.approx(
      math.log10(0.8 / 0.6) / math.log10(1.6 / 0.2))
  assert compare._signed(-43.02, 2, overlap=0.42) == "-43.02 †"
  assert compare._signed(-8.0, 2, overlap=0.9) == "-8.00"
  row = compare.bd_row(anchor, high)
  assert row["overlap"]["bd_rate_psnr"] < rd_curves.BD_MIN_OVERLAP


def test_results_json_damaged_or_foreign_is_one_value_error(tmp_path):
  """Truncated, byte-substituted and wrongly typed results files: parsed, or ValueError."""
  good = json.dumps({"name": "BPG", "results": {"bpp": [0.2, 0.5], "psnr-rgb": [28, 31]}})
  cases = [good[:n].encode() for n in range(0, len(good), 5)]
  cases += [b'{"results": 5}', b'{"results": {"bpp": 5, "psnr": 3}}', b'[1, 2]',
            b'{"points": 3}', b'{"points": [{"mean": 1}]}',
            b'{"results": {"bpp": [0.1, null], "psnr-rgb": [1, 2]}}']
  rng = np.random.RandomState(0)
  for _ in range(200):
    damaged = bytearray(good.encode())
    damaged[rng.randint(len(damaged))] = rng.randint(256)
    cases.append(bytes(damaged))
  path = tmp_path / "r.json"
  for case in cases:
    path.write_bytes(case)
    try:
      rd_curves.curves(rd_curves.load_points(str(path)))
    except ValueError:
      pass
