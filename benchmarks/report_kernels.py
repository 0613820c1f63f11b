#!/usr/bin/env python3
"""Turns JMH's JSON for ZoKernelBenchmark into GB/s and a fraction of the same run's device copy.

Usage: python3 report_kernels.py jmh-kernels.json ELEMENTS_F32 ELEMENTS_BF16
(ELEMENTS_BF16 also serves F16; the element counts of the swept flat buffer, as the benchmark prints them:
"zo kernels: ... flat buffer of N
elements"; bytes per element are 2·b for copy/perturb/sgd, 2·b + 8 for adamu, 2·b + 16 for adam, b = 4 or 2;
with bf16 state (adamu_sbf16, adam_sbf16) 2·b + 4 and 2·b + 8; Rademacher perturb_rad / sgd_rad as perturb / sgd.)
Rows with the noise parameter (exact / fast) are reported per variant, each against the copy of its own variant's row
(the copy does not depend on it); JSON without it counts as exact.
"""
import json
import sys

EXTRA = {"copy": 0, "perturb": 0, "sgd": 0, "adamu": 8, "adam": 16, "adamu_sbf16": 4, "adam_sbf16": 8,
         "perturb_rad": 0, "sgd_rad": 0}
SIZE = {"F32": 4, "BF16": 2, "F16": 2}


def main():
    rows = json.load(open(sys.argv[1]))
    elements = {"F32": int(sys.argv[2]), "BF16": int(sys.argv[3]), "F16": int(sys.argv[3])}
    rates = {}
    for r in rows:
        p = r["params"]
        us = r["primaryMetric"]["score"]
        b = SIZE[p["dtype"]]
        nbytes = elements[p["dtype"]] * (2 * b + EXTRA[p["op"]])
        rates[(p["dtype"], p["op"], p.get("noise", "exact"))] = (us, nbytes / (us * 1e-6) / 1e9)
    print("| dtype | kernel | noise | µs | GB/s (read + written) | of copy |")
    print("|---|---|---|---|---|---|")
    for (dt, op, noise), (us, gbs) in rates.items():
        copy = rates.get((dt, "copy", noise), (0, float("nan")))[1]
        print(f"| {dt} | {op} | {noise} | {us:.0f} | {gbs:,.0f} | {gbs / copy:.0%} |")


if __name__ == "__main__":
    main()
