#!/usr/bin/env python3
"""CPU check of benchmarks/e2e/report.py on synthetic run.sh folders: a zotune train that failed gets no ratio and no
target line (the first H100 run printed "6.21x" against a crashed zotune phase's 13.9 s), one that ran gets
wall and step ratios computed from the folder's numbers, and zotune train's own time line is passed on.
Usage: python3 benchmarks/test_e2e_report.py   (also run by benchmarks/' Maven tests: ReportScriptsPyTest)
"""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = HERE / "e2e" / "report.py"


def peer(variant, wall, train_s, ms):
    return {"kind": "peer-train", "system": "peer-" + variant, "variant": variant, "gpu": "GPU", "torch": "t",
            "transformers": "x", "model": "gpt2-1558M-seed1", "steps": 1000, "load_s": 10.0, "train_s": train_s,
            "eval_s": 7.0, "save_s": 17.0, "saves": True, "ms_per_step": ms, "wall_s": wall,
            "evals": [{"step": 0, "accuracy": 0.5, "loss": 0.99}, {"step": 1000, "accuracy": 0.51, "loss": 0.76}],
            "row_length_mean": 35.7, "row_length_max": 62, "graph": variant == "tuned", "graph_shapes": [32],
            "peak_alloc_bytes": 2 ** 30}


def write(folder, phases, peers, zotune_train=None):
    folder.mkdir(parents=True)
    (folder / "phases.jsonl").write_text("".join(json.dumps(p) + "\n" for p in phases))
    (folder / "peer.jsonl").write_text("".join(json.dumps(p) + "\n" for p in peers))
    if zotune_train is not None:
        run = folder / "zotune-run"
        run.mkdir()
        (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in zotune_train))
        (run / "summary.json").write_text(json.dumps({"steps": len(zotune_train), "graph_captures": 3}))


def report(*folders):
    r = subprocess.run([sys.executable, str(REPORT), *map(str, folders)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"report.py exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


class E2eReportTest(unittest.TestCase):
    def test_failed_zotune_gets_no_ratio(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "e2e"
            write(d, [{"kind": "phase", "phase": "zotune", "exit": 1, "wall_s": 13.9},
                      {"kind": "phase", "phase": "peer-tuned", "exit": 0, "wall_s": 86.3}],
                  [peer("tuned", 85.4, 50.4, 50.4)])
            out = report(d)
            self.assertIn("- phase zotune exited with 1", out)
            row = next(ln for ln in out.splitlines() if ln.startswith("| peer tuned |"))
            self.assertTrue(row.rstrip().endswith("| - |"), row)
            self.assertNotIn("6.21", out)
            self.assertNotIn("target ≥ 3×", out)

    def test_zotune_that_ran_is_compared(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "e2e"
            # 10 steps of 40 ms each (elapsed_s from the loop's start), an evaluation at t = 0
            train = [{"type": "train", "t": t, "elapsed_s": 0.04 * t} for t in range(1, 11)]
            evals = [{"type": "eval", "split": "dev", "t": 0, "loss": 0.99, "accuracy": 0.5}]
            write(d, [{"kind": "phase", "phase": "zotune", "exit": 0, "wall_s": 20.0},
                      {"kind": "phase", "phase": "peer-tuned", "exit": 0, "wall_s": 86.0}],
                  [peer("tuned", 85.0, 50.0, 50.0)], train + evals)
            out = report(d)
            row = next(ln for ln in out.splitlines() if ln.startswith("| peer tuned |"))
            self.assertTrue(row.rstrip().endswith("| 4.30× |"), row)  # 86.0 / 20.0
            # wall 86.0 / 20.0 = 4.30; steps 50.0 ms / 40.0 ms = 1.25
            self.assertIn("- zotune train vs the tuned peer: wall 4.30×, steps 1.25× target ≥ 3×: met", out)
            self.assertNotIn("as it tells it", out)  # no train log in this folder

    def test_zotune_time_line_is_reported(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "e2e"
            train = [{"type": "train", "t": t, "elapsed_s": 0.04 * t} for t in range(1, 11)]
            write(d, [{"kind": "phase", "phase": "zotune", "exit": 0, "wall_s": 20.0}], [], train)
            told = ("time: 19.1 s: setup 4.0 (model, data, engine), 10 steps 0.4 (40.0 ms each), evaluations 2.0, "
                    "checkpoints 9.0, exports 3.5, other 0.2 (logs, summary, plots)")
            (d / "zotune-train.log").write_text("data: sst2\n" + told + "\nearlier: time: not this\n")
            out = report(d)
            self.assertIn("zotune train, as it tells it (its last log line", out)
            self.assertIn(told, out)


if __name__ == "__main__":
    unittest.main()
