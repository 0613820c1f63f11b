#!/usr/bin/env python3
"""Compares the PTX of every kernel in native/kernels/*.cu between a git revision and the working tree.

    python3 native/dev/ptx_compare.py [REV]        (from the project root; REV defaults to HEAD)

Each .cu file is compiled on its own with nvcc -ptx for compute_90 and the fatbin's flags (-O3 -std=c++17
-lineinfo, cmake/ZotuneFatbin.cmake), once from REV's native/ (git archive) and once from the working tree. Every
.entry is normalised: line info and comments dropped, branch labels and mangled names (shared variables,
device functions) renamed in order of first appearance. A kernel is "identical" when the normalised text is
equal, "identical but for the numbering of virtual registers" when it is equal once the registers are renamed in
order of first appearance too (PTX registers are virtual: ptxas allocates the real ones); otherwise the script prints whether its float instruction sequence (every add/sub/mul/fma/div/sqrt/
rsqrt/ex2/lg2/sin/cos/min/max/cvt/neg/abs/setp on a floating-point type, operands renamed) is still equal and the
first differing lines. Exit status 0 when every kernel of REV exists in the tree with an equal float sequence.
Needs nvcc on the PATH; no GPU.
"""
import os
import re
import subprocess
import sys
import tempfile

FLAGS = ["-ptx", "-arch=compute_90", "-O3", "-std=c++17", "-lineinfo"]
ENTRY = re.compile(r"^\.(?:visible|weak)?\s*\.entry\s+(\w+)\(", re.M)
FLOAT_OP = re.compile(
    r"^\s*(?:@!?%p\w+\s+)?((?:add|sub|mul|fma|div|sqrt|rsqrt|rcp|ex2|lg2|sin|cos|tanh|min|max|neg|abs|cvt|setp|"
    r"testp|copysign|mma)\.[\w.]*(?:f16|bf16|f32|f64)[\w.]*)")


def compile_tree(native, out):
    ptx = {}
    for name in sorted(os.listdir(os.path.join(native, "kernels"))):
        if not name.endswith(".cu"):
            continue
        dst = os.path.join(out, name[:-3] + ".ptx")
        subprocess.run(["nvcc", *FLAGS, "-I" + os.path.join(native, "include"), "-I" + os.path.join(native, "kernels"),
                        "-o", dst, os.path.join(native, "kernels", name)], check=True)
        with open(dst) as f:
            ptx[name] = f.read()
    return ptx


def entries(text):
    """kernel name -> its PTX text (from .entry to the closing brace at column 0)."""
    out = {}
    for m in ENTRY.finditer(text):
        end = text.index("\n}\n", m.start())
        out[m.group(1)] = text[m.start():end + 2]
    return out


def normalise(body, registers=False):
    """The entry's lines without line info; labels and mangled names (and with `registers`, virtual registers)
    renamed in order of first appearance."""
    lines = []
    names = {}

    def rename(m):
        return names.setdefault(m.group(0), "$N%d" % len(names))

    regs = {}

    def rename_reg(m):
        return regs.setdefault(m.group(0), "%%%s_%d" % (m.group(1), len(regs)))

    for line in body.split("\n"):
        line = re.sub(r"//.*", "", line).rstrip()
        if not line.strip() or line.strip().startswith((".loc", ".file")):
            continue
        line = re.sub(r"\$L__\w+|_Z\w+", rename, line)
        if registers and not line.strip().startswith(".reg"):
            line = re.sub(r"%([a-z]+)\d+\b", rename_reg, line)
        if not (registers and line.strip().startswith(".reg")):
            lines.append(line)
    return lines


def float_ops(lines):
    ops = []
    for line in lines:
        m = FLOAT_OP.match(line)
        if m:
            # the instruction with its operands' registers renamed: the sequence, not the allocation
            ops.append(m.group(1) + " " + re.sub(r"%\w+", "%r", line[m.end():]).strip())
    return ops


def main():
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True,
                          text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        before_src = os.path.join(tmp, "before")
        os.makedirs(before_src)
        archive = subprocess.run(["git", "-C", root, "archive", rev, "native"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", before_src], input=archive, check=True)
        os.makedirs(os.path.join(tmp, "b"))
        os.makedirs(os.path.join(tmp, "a"))
        before = compile_tree(os.path.join(before_src, "native"), os.path.join(tmp, "b"))
        after = compile_tree(os.path.join(root, "native"), os.path.join(tmp, "a"))
    kb, ka = {}, {}
    for text in before.values():
        kb.update(entries(text))
    for text in after.values():
        ka.update(entries(text))
    identical, renamed, same_float, differ, missing = 0, [], [], [], []
    for name in sorted(kb):
        if name not in ka:
            missing.append(name)
            continue
        nb, na = normalise(kb[name]), normalise(ka[name])
        if nb == na:
            identical += 1
        elif normalise(kb[name], True) == normalise(ka[name], True):
            renamed.append(name)
        elif float_ops(nb) == float_ops(na):
            same_float.append(name)
        else:
            differ.append(name)
            fb, fa = float_ops(nb), float_ops(na)
            i = next((i for i in range(min(len(fb), len(fa))) if fb[i] != fa[i]), min(len(fb), len(fa)))
            print("%s: float ops differ at #%d: %s | %s" % (name, i, fb[i:i + 1], fa[i:i + 1]))
    added = sorted(set(ka) - set(kb))
    print("kernels in %s: %d; identical PTX (labels and mangled names aside): %d; identical but for the numbering of "
          "virtual registers: %d; same float instruction sequence, other differences: %d; float instructions differ: "
          "%d; missing: %d; new: %d" % (rev, len(kb), identical, len(renamed), len(same_float), len(differ),
                                        len(missing), len(added)))
    for name in renamed:
        print("  registers numbered differently:", name)
    for name in same_float:
        print("  same float ops, other PTX differs:", name)
    for name in missing:
        print("  missing:", name)
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
