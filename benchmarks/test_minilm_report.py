#!/usr/bin/env python3
"""CPU check of benchmarks/minilm/report.py on a synthetic run.sh work folder: the lr a method's first seed picked on
dev (ties broken by the lower final dev loss), the mean ± std of the seeds at that lr, the test number of the best
step's test evaluation (the best-on-dev weights, not the final weights' test line after it), the zero-shot runs' initial dev, and the runs without a summary: a failed
one (its log's last line is a zotune error) named with that line and marked in the grid, one cut off marked unfinished.
Usage: python3 benchmarks/test_minilm_report.py   (also run by benchmarks/' Maven tests: ReportScriptsPyTest)
"""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = HERE / "minilm" / "report.py"


def run(work, name, best_dev, tests, final_loss=0.5, initial_dev=0.5, final_test=None):
    """A finished run of 1,000 steps as the trainer writes it: summary.json, and metrics.jsonl with a dev line, one
    test line per entry of tests (at steps 100, 200, ...: each dev improvement's; the last is the best step's) and,
    when final_test is given, the final weights' test line at step 1,000 (the best step being earlier)."""
    d = work / "runs" / name
    d.mkdir(parents=True)
    best_step = 100 * len(tests) if final_test is not None else 1000
    (d / "summary.json").write_text(json.dumps({"best_dev_accuracy": best_dev, "initial_dev": {"accuracy": initial_dev},
                                                "final_dev": {"loss": final_loss, "accuracy": best_dev},
                                                "steps": 1000, "best_step": best_step}))
    lines = [{"type": "eval", "split": "dev", "t": 0, "accuracy": initial_dev}]
    lines += [{"type": "eval", "split": "test", "t": 100 * (i + 1) if final_test is not None or i < len(tests) - 1
               else 1000, "accuracy": a} for i, a in enumerate(tests)]
    if final_test is not None:
        lines.append({"type": "eval", "split": "test", "t": 1000, "accuracy": final_test})
    (d / "metrics.jsonl").write_text("".join(json.dumps(m, separators=(",", ":")) + "\n" for m in lines))
    (work / "runs" / f"{name}.log").write_text("done\n")


def no_summary(work, name, last_line):
    (work / "runs" / name).mkdir(parents=True)
    (work / "runs" / f"{name}.log").write_text(f"dev at step 100: accuracy 0.5\n{last_line}\n")


def report(work, *args):
    r = subprocess.run([sys.executable, str(REPORT), str(work), *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"report.py exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


class MiniLmReportTest(unittest.TestCase):
    def folder(self, tmp):
        work = Path(tmp)
        (work / "runs").mkdir()
        (work / "plan.json").write_text(json.dumps({"seeds": "13 21 42"}))
        (work / "walls.tsv").write_text("k512-sim-lr1e-5-s13\t100.0\nk512-sim-lr1e-5-s21\t80.0\n")
        for seed in (13, 21, 42):
            run(work, f"k512-zeroshot-s{seed}", 0.0, [0.712], initial_dev=0.72 + seed / 10000)
        run(work, "k512-sim-lr1e-6-s13", 0.74, [0.73])
        run(work, "k512-sim-lr1e-5-s13", 0.79, [0.70, 0.77], final_loss=0.40)  # ties 1e-4 on dev, lower loss
        run(work, "k512-sim-lr1e-4-s13", 0.79, [0.80], final_loss=0.45)
        run(work, "k512-sim-lr1e-5-s21", 0.77, [0.75, 0.78], final_test=0.60)  # best step 200, not the last
        run(work, "k512-sim-lr1e-5-s42", 0.75, [0.79])
        no_summary(work, "k512-sim-lr1e-3-s13", "zotune: zo step 3231: the loss was NaN or infinite in 5 steps")
        no_summary(work, "k512-head-lr1e-4-s13", "dev at step 200: accuracy 0.6")
        return work

    def test_pick_and_means(self):
        with tempfile.TemporaryDirectory() as tmp:
            work = self.folder(tmp)
            self.assertEqual(report(work, "--choose", "k512-sim").strip(), "1e-5")
            out = report(work)
            # seeds 13/21/42 at 1e-5: dev 79, 77, 75 -> 77.0 ± 2.0; test at best 77, 78, 79 -> 78.0 ± 1.0; walls 100, 80
            self.assertIn("| SST-2 | 512 | sim | 1e-5 | 3 | 77.0 ± 2.0 | 78.0 ± 1.0 | 90 ± 14 |", out)
            # zero-shot: initial dev 72.13, 72.21, 72.42 -> 72.3 ± 0.1; test 71.2 on every seed
            self.assertIn("| SST-2 | 512 | zeroshot | - | 3 | 72.3 ± 0.1 | 71.2 ± 0.0 |", out)

    def test_best_is_chosen_on_dev(self):
        with tempfile.TemporaryDirectory() as tmp:
            work = self.folder(tmp)
            # a second similarity method: lower dev (74, 74, 74) but higher test (90, 90, 90) than sim's 1e-5 seeds
            for seed in (13, 21, 42):
                run(work, f"k512-similarity-x-lr1e-5-s{seed}", 0.74, [0.90])
            self.assertEqual(report(work, "--best", "512", "sim").strip(), "sim 1e-5")

    def test_runs_without_summary(self):
        with tempfile.TemporaryDirectory() as tmp:
            work = self.folder(tmp)
            out = report(work)
            self.assertIn("- k = 512, sim: 1e-6: 74.0, 1e-5: 79.0, 1e-4: 79.0, 1e-3: failed", out)
            self.assertIn("- k = 512, head: 1e-4: unfinished", out)
            self.assertIn("- SST-2 k = 512, sim, lr 1e-3, seed 13: zotune: zo step 3231: the loss was NaN", out)
            self.assertIn("- SST-2 k = 512, head, lr 1e-4, seed 13: unfinished", out)
            self.assertNotIn("| SST-2 | 512 | head |", out)  # nothing finished: no row
            with self.assertRaises(AssertionError):  # and nothing to pick
                report(work, "--choose", "k512-head")


if __name__ == "__main__":
    unittest.main()
