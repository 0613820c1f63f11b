#!/usr/bin/env python3
"""SASS instruction counts of the ZO kernels' unit loop, exact vs fast noise, and a bandwidth estimate (no GPU).

Compiles probe.cu (the kernels' own unit code, zo_sweep.cuh, on the common path) for sm_90 with nvcc, disassembles
it with cuobjdump, takes each probe's grid-stride loop (the backward branch), and counts its instructions per
element by class. The estimate (benchmarks/NOTES.md, clearly an estimate) is an issue/pipe model of one H200 SM:

  issue: 4 warp instructions a clock = 128 thread instructions
  FP32 (FADD/FMUL/FFMA/FSEL/FSETP/FMNMX): 128 a clock (the two FMA pipes)
  IMAD (IMAD, IMAD.HI, IMAD.SHL, ...): 64 a clock (FMA-heavy pipe); IMAD.WIDE counted twice (a 64-bit result)
  integer/logic ALU (LOP3, IADD3, SHF, PRMT, ISETP, SEL, ...): 64 a clock
  MUFU (LG2, SIN, COS, SQRT, RSQ, RCP, EX2): 16 a clock
  conversions (I2F, F2I, F2F, F2FP, I2FP): 16 a clock (CUDA C Programming Guide, cc 9.0, "all other type
  conversions"; the conservative reading)
  memory: 4.2 TB/s / (132 SMs x 1.98 GHz) = 16.1 bytes a clock an SM

The time of an element is the largest of these (cycles per element); the bandwidth fraction is the memory time over
it, divided by an issue efficiency calibrated on the exact kernels' measured H200 fractions (RESULTS.md 2026-12-04).

Usage: count.py [--cuobjdump PATH] [--nvcc PATH] [--out table.md] [--dump DIR] [--include DIR]
cuobjdump from a toolkit older than the nvcc reads the cubin after its ELF header is rewritten to the old ABI (done
here: the instruction encoding of sm_90 is the same).
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CLASSES = [
    ("mufu", re.compile(r"^MUFU\b")),
    ("conv", re.compile(r"^(I2F|F2I|F2F|F2FP|I2FP|FRND)\b")),
    ("imad_wide", re.compile(r"^IMAD\.WIDE")),
    ("imad", re.compile(r"^(IMAD|IMUL)\b")),
    ("fp32", re.compile(r"^(FADD|FMUL|FFMA|FSEL|FSETP|FMNMX|FCHK|FSET)\b")),
    ("mem", re.compile(r"^(LDG|STG|LD|ST|LDS|STS|LDC|ULDC)\b")),
    ("branch", re.compile(r"^(BRA|BSSY|BSYNC|CALL|RET|EXIT|WARPSYNC|NOP)\b")),
]
RATES = {"fp32": 128, "alu": 64, "imad": 64, "mufu": 16, "conv": 16}
BYTES_PER_CLOCK = 4.2e12 / (132 * 1.98e9)

# bytes read + written per element (parameters b, f32 state): ZoKernelBenchmark's rows
def bytes_per_element(kernel, b):
    return {"perturb": 2 * b, "perturb_rad": 2 * b, "sgd": 2 * b, "sgd_rad": 2 * b, "perturb_adamu": 2 * b + 4,
            "mmt": 2 * b + 8, "adamu": 2 * b + 8, "adam": 2 * b + 16}[kernel]

# measured fraction of the copy, H200, exact noise (RESULTS.md, 2026-12-04): calibrates the issue efficiency
MEASURED = {("perturb", "bf16"): 0.52, ("sgd", "bf16"): 0.34, ("perturb", "f16"): 0.52, ("sgd", "f16"): 0.33,
            ("adamu", "bf16"): 0.57, ("adamu", "f16"): 0.56, ("perturb", "f32"): 0.84, ("sgd", "f32"): 0.79,
            ("adamu", "f32"): 0.82, ("adam", "f16"): 0.77, ("perturb_rad", "bf16"): 0.84, ("sgd_rad", "bf16"): 0.46,
            ("perturb_rad", "f16"): 0.84, ("sgd_rad", "f16"): 0.42, ("perturb_rad", "f32"): 0.95,
            ("sgd_rad", "f32"): 0.92}


def classify(op):
    for name, rx in CLASSES:
        if rx.match(op):
            return name
    return "alu"


def disassemble(cuobjdump, nvcc, include):
    with tempfile.TemporaryDirectory() as tmp:
        cubin = os.path.join(tmp, "probe.cubin")
        subprocess.run([nvcc, "-cubin", "-arch=sm_90", "-O3", "-std=c++17", "-I", include,
                        "-o", cubin, os.path.join(HERE, "probe.cu")], check=True)
        data = bytearray(open(cubin, "rb").read())
        out = subprocess.run([cuobjdump, "-sass", cubin], capture_output=True, text=True)
        if out.returncode != 0 or "Function" not in out.stdout:
            data[8] = 7  # ELF ABI version 8 (CUDA 13) -> 7, e_flags in the old form: sm_90, virtual arch sm_90
            struct.pack_into("<I", data, 48, 0x005A055A)
            old = os.path.join(tmp, "probe7.cubin")
            open(old, "wb").write(data)
            out = subprocess.run([cuobjdump, "-sass", old], capture_output=True, text=True, check=True)
        return out.stdout


def functions(sass):
    fn, body = None, []
    for line in sass.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            if fn:
                yield fn, body
            fn, body = m.group(1), []
            continue
        m = re.match(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
        if m and fn:
            body.append((int(m.group(1), 16), m.group(2)))
    if fn:
        yield fn, body


def loop(body):
    """The instructions of the grid-stride loop: from a backward branch's target to the branch."""
    for addr, ins in reversed(body):
        m = re.match(r"(@!?U?P\w+\s+)?BRA\s+(0x[0-9a-f]+)", ins)
        if m and int(m.group(2), 16) < addr:
            start = int(m.group(2), 16)
            return [i for a, i in body if start <= a <= addr]
    raise SystemExit("no loop found")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuobjdump", default=os.environ.get("CUOBJDUMP", "cuobjdump"))
    ap.add_argument("--nvcc", default=os.environ.get("NVCC", "nvcc"))
    ap.add_argument("--out")
    ap.add_argument("--include", default=os.path.join(ROOT, "native", "include"),
                    help="the kernels' headers to compile the probes against (default: this checkout's)")
    ap.add_argument("--dump", help="also write each probe's loop (SASS, one instruction a line) into this folder")
    a = ap.parse_args()
    rows = {}
    for fn, body in functions(disassemble(a.cuobjdump, a.nvcc, a.include)):
        m = re.match(r"probe_(\w+)_(f32|bf16|f16)_(exact|fast)$", fn)
        if not m:
            continue
        kernel, dtype, variant = m.groups()
        ins = loop(body)
        if a.dump:
            os.makedirs(a.dump, exist_ok=True)
            with open(os.path.join(a.dump, fn + ".sass"), "w") as f:
                f.write("\n".join(ins) + "\n")
        ops = [re.sub(r"^@!?U?P\w+\s+", "", i).split()[0] for i in ins]
        c = Counter(classify(o) for o in ops)
        e = 4 if dtype == "f32" else 8
        rows[(kernel, dtype, variant)] = (len(ins) / e, {k: v / e for k, v in c.items()})
    lines = ["| kernel | dtype | B/elem | exact instr/elem | fast instr/elem | fast: MUFU, conv, IMAD.WIDE, IMAD, "
             "ALU, FP32 /elem | limiter (fast) | est. of copy, exact (measured) | est. of copy, fast |",
             "|---|---|---|---|---|---|---|---|---|"]
    order = ["perturb", "sgd", "mmt", "adam", "perturb_adamu", "adamu", "perturb_rad", "sgd_rad"]

    def cycles(n, cls):
        pipes = {
            "issue": n / 128,
            "fp32": cls.get("fp32", 0) / RATES["fp32"],
            "imad": (cls.get("imad", 0) + 2 * cls.get("imad_wide", 0)) / RATES["imad"],
            "alu": cls.get("alu", 0) / RATES["alu"],
            "mufu": cls.get("mufu", 0) / RATES["mufu"],
            "conv": cls.get("conv", 0) / RATES["conv"],
        }
        k = max(pipes, key=pipes.get)
        return pipes[k], k

    for dtype in ["f32", "bf16", "f16"]:
        for kernel in order:
            if (kernel, dtype, "exact") not in rows:
                continue
            ne, ce = rows[(kernel, dtype, "exact")]
            nf, cf = rows[(kernel, dtype, "fast")]
            b = bytes_per_element(kernel, 4 if dtype == "f32" else 2)
            mem = b / BYTES_PER_CLOCK
            te, _ = cycles(ne, ce)
            tf, kf = cycles(nf, cf)
            ideal_e = min(1.0, mem / te)
            ideal_f = min(1.0, mem / tf)
            meas = MEASURED.get((kernel, dtype))
            if meas is not None and ideal_e < 1.0:
                eff = min(1.0, meas / ideal_e)  # issue efficiency seen on the exact kernel
                est_e = "%.0f %% (%.0f %%)" % (100 * ideal_e * eff, 100 * meas)
            else:
                eff = 0.75  # the exact kernels' typical issue efficiency (NOTES.md: 69-77 %)
                est_e = "%.0f %%%s" % (100 * min(1.0, ideal_e), " (%.0f %%)" % (100 * meas) if meas else "")
            est_f = min(1.0, mem / (tf / eff))
            mix = ", ".join("%.1f" % cf.get(k, 0) for k in ["mufu", "conv", "imad_wide", "imad", "alu", "fp32"])
            lines.append("| %s | %s | %d | %.1f | %.1f | %s | %s | %s | %.0f %% |" % (
                kernel, dtype, b, ne, nf, mix, kf, est_e, 100 * est_f))
    text = "\n".join(lines)
    print(text)
    if a.out:
        open(a.out, "w").write(text + "\n")


if __name__ == "__main__":
    main()
