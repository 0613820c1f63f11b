#!/usr/bin/env python3
"""CPU check of benchmarks/generate/report.py on synthetic JSON lines: zotune's cached rows carry the median run's
phases (setup, first step, later steps' mean) in their columns, older lines without them leave the columns empty, and
the ratios against HF's dynamic and static caches are computed from the lines' tokens/s.
Usage: python3 benchmarks/test_generate_report.py   (also run by benchmarks/' Maven tests: ReportScriptsPyTest)
"""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = HERE / "generate" / "report.py"


def hf(cache, batch, tps):
    return {"impl": "hf", "cache": cache, "batch": batch, "prompt": 32, "new_tokens": 128,
            "seconds": batch * 128 / tps, "tokens_per_s": tps, "device": "GPU"}


def zotune(decode, batch, tps, phases=None):
    r = {"impl": "zotune", "cache": decode != "uncached", "decode": decode, "size": "1558M", "batch": batch,
         "prompt": 32, "new_tokens": 128, "seconds": batch * 128 / tps, "tokens_per_s": tps, "device": "GPU (sm_90)"}
    if phases is not None:
        r["setup_ms"], r["first_step_ms"], r["decode_step_ms"] = phases
    return r


def run(hf_rows, zt_rows):
    with tempfile.TemporaryDirectory() as d:
        h, z = Path(d) / "hf.jsonl", Path(d) / "zotune.jsonl"
        h.write_text("".join(json.dumps(r) + "\n" for r in hf_rows))
        z.write_text("".join(json.dumps(r) + "\n" for r in zt_rows))
        p = subprocess.run([sys.executable, str(REPORT), str(h), str(z)], capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError(p.stderr)
        return p.stdout


class GenerateReport(unittest.TestCase):
    def test_phases_and_ratios(self):
        out = run([hf("dynamic", 1, 50.0), hf("static", 1, 200.0), hf("static", 16, 3200.0)],
                  [zotune("graph", 1, 300.0, (7.5, 15.25, 3.0)), zotune("eager", 1, 250.0, (5.0, 3.5, None)),
                   zotune("uncached", 1, 240.0), zotune("graph", 16, 4800.0)])
        self.assertIn("| zotune | kv cache, captured decode (CUDA graph) | 1 | 32 | 128 | 0.427 | 300.0 | 7.50 | 15.25 "
                      "| 3.00 |", out)
        # a phase that is null, and lines from before the phases existed, leave their cells empty
        self.assertIn("| 250.0 | 5.00 | 3.50 |  |", out)
        self.assertIn("| zotune | kv cache, captured decode (CUDA graph) | 16 | 32 | 128 | 0.427 | 4800.0 |  |  |  |",
                      out)
        self.assertIn("zotune (graph decode) / HF (dynamic cache), batch 1: 6.00x", out)
        self.assertIn("zotune (graph decode) / HF (static cache), batch 1: 1.50x", out)
        self.assertIn("zotune (eager decode) / HF (static cache), batch 1: 1.25x", out)
        self.assertIn("zotune (graph decode) / HF (static cache), batch 16: 1.50x", out)
        self.assertNotIn("HF (dynamic cache), batch 16", out)  # no dynamic HF row at batch 16: no ratio


if __name__ == "__main__":
    unittest.main()
