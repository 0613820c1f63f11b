#!/usr/bin/env python3
"""CPU check of benchmarks/dfo/speed_report.py (no GPU, no torch): synthetic speed.sh folders (zotune's fp32 and
bf16-base rows, the peer in float32 and in bf16, a folder from before the bf16 peer, a bf16 peer that failed on one
shape) are reported, and the printed cells, ratios and target lines are compared with values computed by hand below.

Usage: python3 benchmarks/test_dfo_speed_report.py   (also run by benchmarks/' Maven tests: ReportScriptsPyTest)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "dfo", "speed_report.py")
SHAPES = {"roberta-large": ("mlm", 32, 24, 12), "gpt2-large": ("classification", 64, 36, 18)}
# generations/s of each synthetic row (round numbers, so the ratios below are exact)
GPS = {"roberta-large": {"zotune-batched": 2.0, "zotune-sequential": 1.0, "zotune-batched-bf16": 12.0,
                         "zotune-sequential-bf16": 2.4, "peer fp32": 0.8, "peer bf16": 1.6},
       "gpt2-large": {"zotune-batched": 0.5, "zotune-sequential": 0.25, "zotune-batched-bf16": 4.0,
                      "zotune-sequential-bf16": 1.0, "peer fp32": 0.1, "peer bf16": 0.25}}


def row(shape, system, dtype, gps):
    objective, rows_per_member, layers, layer = SHAPES[shape]
    zotune = system.startswith("zotune")
    r = {"kind": "row", "system": system, "shape": shape, "dtype": dtype, "device": "test", "population": 20,
         "examples": 32, "seq": 64, "rows_per_member": rows_per_member, "layer": layer, "layers": layers,
         "others": "below", "subspace": 500, "rank": 4, "objective": objective, "generations": 5,
         "seconds": 5 / gps, "generation_ms_median": 1e3 / gps, "generations_per_s": gps, "members_per_s": 20 * gps,
         "forwards_per_generation": 1 if system.startswith("zotune-batched") else 20, "losses": [0.7] * 20}
    if zotune:
        r["device_used_bytes"] = 3 << 30
    else:
        r.update(peak_alloc_bytes=1 << 30, peak_reserved_bytes=2 << 30, memgetinfo_used_bytes=2 << 30)
    if system.startswith("zotune-sequential"):
        r["max_rel_diff_vs_batched"] = 1e-6
    return r


def folder(out, peer_bf16=True, bf16_error_shape=None):
    with open(os.path.join(out, "gpu.txt"), "w") as f:
        f.write("Test GPU, 1.0, 80 GiB\n2026-12-05 22:00 UTC\nabc1234\n")
    with open(os.path.join(out, "zotune.jsonl"), "w") as f:
        for shape in SHAPES:
            for system in ("zotune-batched", "zotune-sequential", "zotune-batched-bf16", "zotune-sequential-bf16"):
                dtype = "bf16" if system.endswith("-bf16") else "fp32"
                f.write(json.dumps(row(shape, system, dtype, GPS[shape][system])) + "\n")
    with open(os.path.join(out, "peer.jsonl"), "w") as f:
        f.write("not json: a log line\n")
        for shape in SHAPES:
            f.write(json.dumps(row(shape, "peer-sequential", "fp32", GPS[shape]["peer fp32"])) + "\n")
    if peer_bf16:
        with open(os.path.join(out, "peer-bf16.jsonl"), "w") as f:
            for shape in SHAPES:
                if shape == bf16_error_shape:
                    f.write(json.dumps({"kind": "error", "system": "peer-sequential", "shape": shape,
                                        "dtype": "bf16", "error": "OutOfMemoryError: test"}) + "\n")
                else:
                    f.write(json.dumps(row(shape, "peer-sequential", "bf16", GPS[shape]["peer bf16"])) + "\n")


def report(**kw):
    with tempfile.TemporaryDirectory() as out:
        folder(out, **kw)
        res = subprocess.run([sys.executable, REPORT, out], capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise AssertionError(f"speed_report.py exited {res.returncode}: {res.stderr}")
        return res.stdout


def table(text):
    """{(shape, system label): {column: cell}} from the printed markdown table."""
    lines = [x for x in text.splitlines() if x.startswith("| ")]
    cols = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    cells = {}
    for line in lines[1:]:
        c = dict(zip(cols, [x.strip() for x in line.strip().strip("|").split("|")]))
        cells[(c["shape"], c["system"])] = c
    return cols, cells


class DfoSpeedReportTest(unittest.TestCase):

    def test_both_peers(self):
        text = report()
        cols, t = table(text)
        self.assertEqual(cols[-3:], ["vs peer", "vs sequential", "vs peer bf16"], text)
        self.assertEqual(len(t), 12, text)  # 2 shapes x (4 zotune rows + 2 peer rows)
        # the bf16 peer: its own row, labelled by its dtype, no ratios of its own
        p = t[("roberta-large", "peer-sequential (bf16)")]
        self.assertEqual((p["generations/s"], p["ms/generation (median)"], p["members/s"]),
                         ("1.600", "625.0", "32.0"), text)
        self.assertEqual((p["vs peer"], p["vs sequential"], p["vs peer bf16"]), ("-", "-", "-"), text)
        self.assertEqual(p["device memory GiB"], "2.0 (torch peak reserved 2.0)", text)
        self.assertEqual(t[("roberta-large", "peer-sequential")]["generations/s"], "0.800", text)
        # roberta-large: batched bf16 12 gen/s: / peer fp32 0.8 = 15.00x, / peer bf16 1.6 = 7.50x, / seq bf16 2.4 = 5x
        b = t[("roberta-large", "zotune-batched-bf16")]
        self.assertEqual((b["vs peer"], b["vs peer bf16"], b["vs sequential"]), ("15.00x", "7.50x", "5.00x"), text)
        s = t[("roberta-large", "zotune-sequential-bf16")]  # 2.4 / 1.6 = 1.50x, 2.4 / 0.8 = 3.00x
        self.assertEqual((s["vs peer"], s["vs peer bf16"]), ("3.00x", "1.50x"), text)
        f = t[("roberta-large", "zotune-batched")]  # fp32 rows: no bf16-peer ratio; 2.0 / 0.8 = 2.50x
        self.assertEqual((f["vs peer"], f["vs peer bf16"], f["vs sequential"]), ("2.50x", "-", "2.00x"), text)
        # gpt2-large: 4.0 / 0.25 = 16.00x (met), 4.0 / 0.1 = 40.00x, 0.5 / 0.1 = 5.00x, 0.25 / 0.1 = 2.50x
        self.assertEqual(t[("gpt2-large", "zotune-batched-bf16")]["vs peer bf16"], "16.00x", text)
        for line in ("- roberta-large: batched (fp32)/peer (fp32) 2.50x — target >= 10x NOT met",
                     "- roberta-large: batched (bf16 base)/peer (fp32) 15.00x — target >= 10x met",
                     "- roberta-large: batched (bf16 base)/peer (bf16) 7.50x — target >= 10x NOT met",
                     "- roberta-large: peer bf16/peer fp32 2.00x",
                     "- roberta-large: sequential vs batched losses (fp32), max relative difference 1.00e-06",
                     "- roberta-large: sequential vs batched losses (bf16), max relative difference 1.00e-06",
                     "- gpt2-large: batched (fp32)/peer (fp32) 5.00x — target >= 10x NOT met",
                     "- gpt2-large: batched (bf16 base)/peer (fp32) 40.00x — target >= 10x met",
                     "- gpt2-large: batched (bf16 base)/peer (bf16) 16.00x — target >= 10x met",
                     "- gpt2-large: peer bf16/peer fp32 2.50x"):
            self.assertIn(line + "\n", text)
        # the bf16 line follows the float32 peer's for the same shape
        self.assertLess(text.index("roberta-large: batched (bf16 base)/peer (fp32)"),
                        text.index("roberta-large: batched (bf16 base)/peer (bf16)"))
        self.assertNotIn("not run", text)
        self.assertIn("D 500, r 4, peer float32 and bf16, searched layer 12 of 24 (first shape)", text)
        self.assertIn("GPU, date, build: Test GPU, 1.0, 80 GiB; 2026-12-05 22:00 UTC; abc1234", text)

    def test_folder_from_before_the_bf16_peer(self):
        text = report(peer_bf16=False)
        _, t = table(text)
        self.assertEqual(len(t), 10, text)
        self.assertNotIn(("roberta-large", "peer-sequential (bf16)"), t)
        self.assertEqual(t[("roberta-large", "zotune-batched-bf16")]["vs peer bf16"], "-", text)
        self.assertEqual(t[("roberta-large", "zotune-batched-bf16")]["vs peer"], "15.00x", text)
        self.assertIn("- roberta-large: batched (bf16 base)/peer (fp32) 15.00x — target >= 10x met\n", text)
        self.assertNotIn("peer (bf16)", text)
        self.assertNotIn("peer bf16/peer fp32", text)
        self.assertIn("- not run: peer-bf16.jsonl: missing\n", text)
        self.assertIn("D 500, r 4, peer float32, searched layer 12 of 24", text)

    def test_bf16_peer_failed_on_one_shape(self):
        text = report(bf16_error_shape="gpt2-large")
        _, t = table(text)
        self.assertIn(("roberta-large", "peer-sequential (bf16)"), t)
        self.assertNotIn(("gpt2-large", "peer-sequential (bf16)"), t)
        self.assertEqual(t[("gpt2-large", "zotune-batched-bf16")]["vs peer bf16"], "-", text)
        self.assertIn("- roberta-large: batched (bf16 base)/peer (bf16) 7.50x — target >= 10x NOT met\n", text)
        self.assertNotIn("gpt2-large: batched (bf16 base)/peer (bf16)", text)
        self.assertIn("- gpt2-large: batched (bf16 base)/peer (fp32) 40.00x — target >= 10x met\n", text)
        self.assertIn("- not run: peer-sequential (bf16) gpt2-large: error OutOfMemoryError: test\n", text)


if __name__ == "__main__":
    unittest.main()
