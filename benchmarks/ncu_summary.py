#!/usr/bin/env python3
"""Sums ncu's per-kernel durations by kernel name: which kernels a profiled run spends its time in.

Usage: ncu --clock-control none --metrics gpu__time_duration.sum --csv [...] PROGRAM > ncu.csv
       python3 ncu_summary.py ncu.csv [top]
"""
import collections
import csv
import sys


def main():
    rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
    head, body = rows[0], rows[1:]
    name, metric, unit, value = (head.index(k) for k in ("Kernel Name", "Metric Name", "Metric Unit", "Metric Value"))
    scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}
    total = collections.Counter()
    count = collections.Counter()
    for r in body:
        if r[metric] != "gpu__time_duration.sum":
            continue
        k = r[name].split("(")[0][:90]
        total[k] += float(r[value].replace(",", "")) * scale[r[unit]]
        count[k] += 1
    all_us = sum(total.values())
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    print(f"{sum(count.values())} kernels, {all_us / 1e3:.3f} ms of kernel time")
    print("| kernel | calls | total µs | µs/call | share |")
    print("|---|---|---|---|---|")
    for k, us in total.most_common(top):
        print(f"| {k} | {count[k]} | {us:.0f} | {us / count[k]:.1f} | {100 * us / all_us:.1f}% |")


if __name__ == "__main__":
    main()
