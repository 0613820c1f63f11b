#!/usr/bin/env python3
"""SASS of the fused attention kernels (native/kernels/flash_attention.cu), a git revision against the working tree
(no GPU).

Compiles both versions of the file (each with its own native/include) to cubins for sm_80 and sm_90 with nvcc
(-Xptxas -v), disassembles them with cuobjdump, and prints
  1. per architecture, how many of the revision's kernels have identical SASS in the working tree (and which do not):
     a change that generalises shared code must leave the old kernels as they were;
  2. per kernel of interest (the 64-row and wide kernels at D = 64 and 128, bf16): registers, spill bytes, and the
     main loop (the backward branch enclosing the most HMMA) by instruction class: instructions, HMMA, LDSM, LDS,
     MUFU, and instructions per HMMA. Static counts of one loop trip (one 64-key tile of one warp), both sides of a
     branch counted.
cuobjdump from a toolkit older than the nvcc reads the cubin after its ELF header is rewritten to the old ABI, as
benchmarks/zo_sass/count.py does.

Usage: compare.py [--base REV] [--cuobjdump PATH] [--nvcc PATH]  (REV defaults to main)
"""
import argparse
import collections
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = {"sm_80": 0x00500550, "sm_90": 0x005A055A}  # e_flags in the old ABI's form
KERNELS = ["flash_attention_p_d64_bf16", "flash_attention_bidir_p_d64_bf16", "flash_attention_w_d64_bf16",
           "flash_attention_bidir_w_d64_bf16", "flash_attention_d128_bf16", "flash_attention_w_d128_bf16"]


def compile_cubin(nvcc, src_root, arch, out):
    log = subprocess.run([nvcc, "-cubin", "-arch=" + arch, "-O3", "-std=c++17", "-lineinfo", "-Xptxas", "-v",
                          "-I", os.path.join(src_root, "native", "include"), "-o", out,
                          os.path.join(src_root, "native", "kernels", "flash_attention.cu")],
                         capture_output=True, text=True, check=True)
    return log.stderr + log.stdout


def disassemble(cuobjdump, cubin, arch):
    out = subprocess.run([cuobjdump, "-sass", cubin], capture_output=True, text=True)
    if out.returncode != 0 or "Function" not in out.stdout:
        data = bytearray(open(cubin, "rb").read())
        data[8] = 7  # ELF ABI version 8 (CUDA 13) -> 7
        struct.pack_into("<I", data, 48, FLAGS[arch])
        old = cubin + ".7"
        open(old, "wb").write(data)
        out = subprocess.run([cuobjdump, "-sass", old], capture_output=True, text=True, check=True)
    fns, fn = {}, None
    for line in out.stdout.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            fn = m.group(1)
            fns[fn] = []
        elif fn:
            fns[fn].append(line)
    return fns


def resources(log):
    res = {}
    for m in re.finditer(r"Compiling entry function '(\w+)'.*?(\d+) bytes spill stores, (\d+) bytes spill loads"
                         r"\n.*?Used (\d+) registers", log, re.S):
        res[m.group(1)] = (int(m.group(4)), int(m.group(2)), int(m.group(3)))
    return res


def main_loop(lines):
    ins = []
    for line in lines:
        m = re.match(r"\s*/\*([0-9a-f]+)\*/\s+(@!?U?P\w+\s+)?([A-Z0-9_.]+)(.*?);", line)
        if m:
            ins.append((int(m.group(1), 16), m.group(3), m.group(4)))
    best = None
    for addr, op, rest in ins:
        t = re.search(r"0x([0-9a-f]+)", rest) if op.startswith("BRA") else None
        if t and int(t.group(1), 16) < addr:
            body = [x for x in ins if int(t.group(1), 16) <= x[0] <= addr]
            h = sum(1 for x in body if x[1].startswith("HMMA"))
            if best is None or (h, len(body)) > (best[0], len(best[1])):
                best = (h, body)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="main")
    ap.add_argument("--cuobjdump", default=os.environ.get("CUOBJDUMP", "cuobjdump"))
    ap.add_argument("--nvcc", default=os.environ.get("NVCC", "nvcc"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        os.makedirs(base)
        arch = subprocess.run(["git", "-C", ROOT, "archive", a.base, "native"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", base], input=arch.stdout, check=True)
        for sm in ("sm_80", "sm_90"):
            compile_cubin(a.nvcc, base, sm, os.path.join(tmp, "base.cubin"))
            log = compile_cubin(a.nvcc, ROOT, sm, os.path.join(tmp, "work.cubin"))
            old = disassemble(a.cuobjdump, os.path.join(tmp, "base.cubin"), sm)
            new = disassemble(a.cuobjdump, os.path.join(tmp, "work.cubin"), sm)
            changed = sorted(f for f in old if old[f] != new.get(f))
            print(f"{sm}: {len(old) - len(changed)} of {len(old)} kernels of {a.base} have identical SASS; "
                  f"{len(set(new) - set(old))} new kernels" + (f"; CHANGED: {' '.join(changed)}" if changed else ""))
            res = resources(log)
            print(f"  {'kernel':36} {'regs':>4} {'spill':>7} {'loop':>5} {'HMMA':>4} {'LDSM':>4} {'LDS':>4} "
                  f"{'MUFU':>4} {'instr/HMMA':>10}")
            for k in KERNELS:
                if k not in new:
                    continue
                h, body = main_loop(new[k])
                c = collections.Counter(x[1].split(".")[0] for x in body)
                r = res.get(k, (0, 0, 0))
                print(f"  {k:36} {r[0]:4d} {r[1]:3d}/{r[2]:<3d} {len(body):5d} {h:4d} {c['LDSM']:4d} {c['LDS']:4d} "
                      f"{c['MUFU']:4d} {len(body) / h:10.1f}")


if __name__ == "__main__":
    sys.exit(main())
