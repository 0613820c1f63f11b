#!/usr/bin/env python3
"""CPU check of report_step.py (no GPU, no torch): a synthetic step-benchmark folder, with and without the second
floor's measurements (mezo_peer.py's "gemms_at_shape_ms"), is reported, and the printed floors, ratios and target
lines are compared with values computed by hand below.

Usage: python3 benchmarks/test_report_step.py   (also run by benchmarks/' Maven tests: ReportScriptsPyTest)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RATES = {"kind": "rates", "gpu": "test", "torch": "0", "transformers": "0", "cublas_bf16_tflops": 800.0,
         "cublas_fp32_tflops": 50.0, "copy_gbps": 4000.0}
N = 1_500_000_000  # parameters of the synthetic gpt2-1558M rows (a round number, so the bytes term is exact)


def rows(model, n, eager, tuned, sgd, adamu):
    common = {"kind": "row", "model": model, "shape": "16x128", "dtype": "bf16", "params": n, "tokens_per_s": 1.0}
    return ([dict(common, system="peer-eager", variant="eager", ms=eager),
             dict(common, system="peer-tuned", variant="tuned", ms=tuned)],
            [dict(common, system="zotune", variant="sgd-inplace-graph", ms=sgd),
             dict(common, system="zotune", variant="adamu-inplace-graph", ms=adamu)])


def report(rates, extra=(), start=None):
    with tempfile.TemporaryDirectory() as out:
        p1, z1 = rows("gpt2-1558M", N, 150.0, 62.0, 30.0, 33.0)
        p2, z2 = rows("gpt2-124M", 124_000_000, 20.0, 10.0, 4.0, 4.4)
        with open(os.path.join(out, "peer.jsonl"), "w") as f:
            for r in [rates] + list(extra) + p1 + p2:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(out, "zotune.jsonl"), "w") as f:
            for r in ([start] if start else []) + z1 + z2:
                f.write(json.dumps(r) + "\n")
        res = subprocess.run([sys.executable, os.path.join(HERE, "report_step.py"), out], capture_output=True,
                             text=True, timeout=120)
        if res.returncode != 0:
            raise AssertionError(f"report_step.py exited {res.returncode}: {res.stderr}")
        return res.stdout


def summary_cells(text, model):
    line = next(x for x in text.splitlines() if x.startswith(f"| {model} | ") and "B | bf16 |" in x)
    return [c.strip() for c in line.strip().strip("|").split("|")]


HEADER = "| model | params | dtype | batch×seq | peer eager | peer tuned | zotune ZO-SGD | zotune ZO-AdaMU "


class ReportStepTest(unittest.TestCase):
    # gpt2-1558M (48 layers, C 1600, FFN 6400, V 50257) at 16x128: per layer and token 8C² + 4C·FFN + 4TC =
    # 20,480,000 + 40,960,000 + 819,200 = 62,259,200; x 48 = 2,988,441,600; + 2CV = 160,822,400 -> 3,149,264,000
    # FLOPs per token; x 2048 tokens = 6.449692672e12 per forward. Two forwards at 800 TFLOP/s: 16.12423168 ms.
    # Bytes: 6 x 2 B x 1.5e9 = 18 GB at 4000 GB/s = 4.5 ms. floor = 20.62423168 ms; SGD 30 ms / floor = 1.4546.
    # floor2 = 2 x 10 ms (GEMMs at shape) + 4.5 ms = 24.5 ms; 30 / 24.5 = 1.2245.

    def test_second_floor_printed_and_checked(self):
        text = report(dict(RATES, gemms_at_shape_ms={"gpt2-1558M 16x128 bf16": 10.0}))
        header = next(x for x in text.splitlines() if x.startswith(HEADER))
        cols = [c.strip() for c in header.strip().strip("|").split("|")]
        c = dict(zip(cols, summary_cells(text, "gpt2-1558M")))
        self.assertEqual(c["floor (SGD)"], "20.62", text)
        self.assertEqual(c["SGD / floor"], "1.45", text)
        self.assertEqual(c["floor (cuBLAS at shape)"], "24.50", text)
        self.assertEqual(c["SGD / floor2"], "1.22", text)
        self.assertEqual(c["vs tuned"], "2.07×", text)
        # a row whose shapes this run did not time: floor2 "—", floor 1 still there
        small = dict(zip(cols, summary_cells(text, "gpt2-124M")))
        self.assertEqual(small["floor (cuBLAS at shape)"], "—", text)
        self.assertEqual(small["SGD / floor2"], "—", text)
        self.assertNotEqual(small["floor (SGD)"], "—", text)
        self.assertIn("- zotune ZO-SGD ≤ 1.5× the floor at the 8192³ rate: 1.45 → met", text)
        self.assertIn("- zotune ZO-SGD ≤ 1.15× the floor at the real shapes (cuBLAS at shape): 1.22 → NOT met", text)
        self.assertIn("- ZO-AdaMU ≤ 1.15× ZO-SGD: 1.10 → met", text)
        self.assertIn("- zotune ZO-SGD ≥ 2× faster than the tuned peer: 2.07 → met", text)
        self.assertNotIn("1.3× the floor", text)

    def test_gemms_line_of_a_later_phase(self):
        # step.sh --full: the largest rows' phase (mezo_peer.py --gemms, no --rates) writes a line of kind "gemms"
        text = report(dict(RATES), [{"kind": "gemms", "gemms_at_shape_ms": {"gpt2-1558M 16x128 bf16": 10.0}}])
        header = next(x for x in text.splitlines() if x.startswith(HEADER))
        cols = [c.strip() for c in header.strip().strip("|").split("|")]
        c = dict(zip(cols, summary_cells(text, "gpt2-1558M")))
        self.assertEqual(c["floor (cuBLAS at shape)"], "24.50", text)
        self.assertEqual(c["SGD / floor2"], "1.22", text)

    def test_the_noise_variant_is_printed(self):
        # StepBench's start line records its noise variant; a start line without it predates the field (then the
        # property's default was exact); no start line at all prints nothing about it
        text = report(dict(RATES), start={"kind": "zotune-start", "gpu": "test", "noise": "fast"})
        self.assertIn("zotune noise: fast\n", text)
        text = report(dict(RATES), start={"kind": "zotune-start", "gpu": "test"})
        self.assertIn("zotune noise: not recorded (exact unless -Dzotune.noise=fast was given)", text)
        self.assertNotIn("zotune noise", report(dict(RATES)))

    def test_old_results_without_the_new_fields(self):
        text = report(dict(RATES))  # results written before the second floor existed
        header = next(x for x in text.splitlines() if x.startswith(HEADER))
        cols = [c.strip() for c in header.strip().strip("|").split("|")]
        c = dict(zip(cols, summary_cells(text, "gpt2-1558M")))
        self.assertEqual(c["floor (SGD)"], "20.62", text)
        self.assertEqual(c["floor (cuBLAS at shape)"], "—", text)
        self.assertEqual(c["SGD / floor2"], "—", text)
        self.assertIn("- zotune ZO-SGD ≤ 1.15× the floor at the real shapes (cuBLAS at shape): not measured", text)
        self.assertIn("- zotune ZO-SGD ≤ 1.5× the floor at the 8192³ rate: 1.45 → met", text)

    def test_the_encoder_target_takes_the_faster_strategy(self):
        # roberta-large fp32 at 32x64: tuned peer 65 ms; ZO-SGD in place 34 ms (1.91x), shadow 32 ms (2.03x) -> the
        # shadow step is the one a run would choose; at 32x128 only the in-place step ran (62 / 30 = 2.07x)
        common = {"kind": "row", "model": "roberta-large", "dtype": "fp32", "params": 355_000_000,
                  "tokens_per_s": 1.0, "objective": "mlm"}
        extra = [dict(common, shape="32x64", system="peer-tuned", variant="tuned", ms=65.0),
                 dict(common, shape="32x128", system="peer-tuned", variant="tuned", ms=62.0)]
        zot = [dict(common, shape="32x64", system="zotune", variant="sgd-inplace-graph-mlm", ms=34.0),
               dict(common, shape="32x64", system="zotune", variant="sgd-shadow-graph-mlm", ms=32.0),
               dict(common, shape="32x128", system="zotune", variant="sgd-inplace-graph-mlm", ms=30.0)]
        with tempfile.TemporaryDirectory() as out:
            with open(os.path.join(out, "peer.jsonl"), "w") as f:
                for r in [dict(RATES)] + extra:
                    f.write(json.dumps(r) + "\n")
            with open(os.path.join(out, "zotune.jsonl"), "w") as f:
                for r in zot:
                    f.write(json.dumps(r) + "\n")
            res = subprocess.run([sys.executable, os.path.join(HERE, "report_step.py"), out], capture_output=True,
                                 text=True, timeout=120)
        self.assertEqual(0, res.returncode, res.stderr)
        text = res.stdout
        self.assertIn("- roberta-large fp32 32x64: tuned peer / zotune ZO-SGD shadow = 2.03 → met", text)
        self.assertIn("- roberta-large fp32 32x128: tuned peer / zotune ZO-SGD in place = 2.07 → met", text)
        self.assertIn("- roberta-large bf16 32x64: tuned peer / zotune ZO-SGD = not measured", text)


if __name__ == "__main__":
    unittest.main()
