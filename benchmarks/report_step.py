#!/usr/bin/env python3
"""Merges the step benchmark's JSON lines (benchmarks/step.sh: OUT/peer.jsonl from peer/mezo_peer.py, OUT/zotune.jsonl
from StepBench) into the markdown tables of RESULTS.md, checks the issue's targets, and plots ms/step against model
size (OUT/step.png, when matplotlib is there).

Physical floor of one ZO step (ZO-SGD, one SPSA sample), from the same run's measurements:
    floor_ms = 1e3 * ( 2 * F / R  +  6 * b * N / W )
  F = GEMM FLOPs of one forward = tokens * (L * (8*C^2 + 4*C*F_ffn + 4*T*C) + 2*C*V)
      (per token per layer: q, k, v, o projections 8C^2 and the two FFN matrices 4*C*F_ffn; the two attention
      products 4*T*C as full T x T squares, as cuBLAS would compute them; the LM head 2*C*V)
  R = the cuBLAS 8192^3 rate measured in this run (bf16 rate for bf16/fp16 rows, fp32 rate for fp32 rows)
  6*b*N = bytes of the three passes over the N parameters of b bytes each (perturb +eps, perturb -2eps, the fused
      restore + update), each reading and writing theta once, the noise regenerated in registers
  W = device copy bandwidth measured in this run (bytes read + written per second)
ZO-AdaMU moves 16*N more bytes (its float32 m: read by both perturbations, read and written by the update);
its floor is given as well.

Second floor (issue 14.4), the same formula with cuBLAS's own time at the forward's real GEMM shapes in place of 2*F/R:
    floor2_ms = 2 * G  +  1e3 * 6 * b * N / W
  G = the same GEMMs as F (q|k|v, o, the two FFN matrices per layer, the two attention products as full T x T
      squares, the LM head), each at its real shape in the row's dtype, timed alone through cuBLAS and summed (ms);
      mezo_peer.py --rates / --gemms measures it (hf_forward.py's gemms_at_shape_ms) into "gemms_at_shape_ms"
      {"MODEL SHAPE DTYPE": ms}. Rows without it (older results) show "—".

LoRA rows (step.sh --lora: rows with a "peft" other than "full") go to their own tables: zotune's merge and skinny
paths against the MeZO-LoRA peer (eager, tuned), and memory against inference + adapters + optimiser state.

Encoder rows (step.sh --encoder: the masked-LM prompt step, objective "mlm", on bert-*/roberta-* shapes) go to their
own tables: zotune's -mlm variants against the MeZO-style peer on RobertaForMaskedLM, and the target zotune ZO-SGD
>= 2x the tuned peer. Their floor counts the body's GEMMs on every token and the MLM head (transform + tied decoder
over the vocabulary) at the mask rows only, one per example: F = tokens * L * (8*C^2 + 4*C*F_ffn + 4*T*C) +
examples * (2*C^2 + 2*C*V).

Usage: python3 report_step.py OUT_DIR
"""
import json
import os
import sys

ARCH = {  # name -> (layers, hidden, ffn, vocab)
    "gpt2-124M": (12, 768, 3072, 50257), "gpt2-355M": (24, 1024, 4096, 50257),
    "gpt2-774M": (36, 1280, 5120, 50257), "gpt2-1558M": (48, 1600, 6400, 50257),
    "opt-1.3b": (24, 2048, 8192, 50272), "opt-2.7b": (32, 2560, 10240, 50272),
    "opt-6.7b": (32, 4096, 16384, 50272), "opt-30b": (48, 7168, 28672, 50272),
    "opt-40b": (48, 8192, 32768, 50272),
}
# encoders: name -> (layers, hidden, ffn, vocab); mezo_peer.py's MODELS and StepBench's EncoderShapes
ENCODER_ARCH = {
    "bert-base": (12, 768, 3072, 30522), "bert-large": (24, 1024, 4096, 30522),
    "roberta-base": (12, 768, 3072, 50265), "roberta-large": (24, 1024, 4096, 50265),
}
BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
GIB = 1 << 30


def load(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    return rows


def gemm_flops(model, shape):
    layers, c, ffn, vocab = ARCH[model]
    b, t = (int(x) for x in shape.split("x"))
    return b * t * (layers * (8 * c * c + 4 * c * ffn + 4 * t * c) + 2 * c * vocab)


def floors(model, shape, dtype, n, rates):
    rate = rates["cublas_fp32_tflops" if dtype == "fp32" else "cublas_bf16_tflops"] * 1e12
    bw = rates["copy_gbps"] * 1e9
    gemm = 2 * gemm_flops(model, shape) / rate
    sgd = gemm + 6 * BYTES[dtype] * n / bw
    adamu = sgd + 16 * n / bw
    return sgd * 1e3, adamu * 1e3, gemm * 1e3


def floor_at_shape(model, shape, dtype, n, rates, gemms):
    """floor2 (ms): two forwards' GEMMs at cuBLAS's own time at their shapes, plus the same three passes over the
    parameters as floors(); None when this run did not measure the row's shapes."""
    g = gemms.get(f"{model} {shape} {dtype}")
    if g is None:
        return None
    return 2 * g + 6 * BYTES[dtype] * n / (rates["copy_gbps"] * 1e9) * 1e3


def gemms_measured(peer):
    """{"MODEL SHAPE DTYPE": ms} from the rates line(s) and the "gemms" lines; the first measurement of a key wins, as
    the first rates line does."""
    out = {}
    for r in peer:
        if r.get("kind") in ("rates", "gemms"):
            for k, v in (r.get("gemms_at_shape_ms") or {}).items():
                out.setdefault(k, v)
    return out


def floor_adamu_bf16(model, shape, dtype, n, rates):
    """ZO-AdaMU with m stored in bf16: 8 bytes per parameter on top of ZO-SGD's floor."""
    sgd = floors(model, shape, dtype, n, rates)[0]
    return sgd + 8 * n / (rates["copy_gbps"] * 1e9) * 1e3


def fmt(x, spec=".1f"):
    return "—" if x is None else format(x, spec)


def gib(x):
    return "—" if x is None else f"{x / GIB:.1f}"


def main():
    out = sys.argv[1]
    peer = load(os.path.join(out, "peer.jsonl"))
    zot = load(os.path.join(out, "zotune.jsonl"))
    rates = next((r for r in peer if r.get("kind") == "rates"), None)
    gemms = gemms_measured(peer)
    gpu = open(os.path.join(out, "gpu.txt")).read().strip().replace("\n", "; ") if os.path.exists(
        os.path.join(out, "gpu.txt")) else "?"
    if rates is None:
        print("no rates line in peer.jsonl: run mezo_peer.py with --rates")
        return
    print(f"GPU (nvidia-smi: name, driver, memory; date): {gpu}")
    start = next((r for r in zot if r.get("kind") == "zotune-start"), None)
    if start is not None:
        # StepBench records its noise variant since 2026-12-06; before, a run without -Dzotune.noise was exact
        print(f"zotune noise: {start.get('noise', 'not recorded (exact unless -Dzotune.noise=fast was given)')}")
    print(f"torch {rates['torch']}, transformers {rates['transformers']}; measured in this run: cuBLAS bf16 "
          f"{rates['cublas_bf16_tflops']:.0f} TFLOP/s, fp32 {rates['cublas_fp32_tflops']:.0f} TFLOP/s (8192^3), "
          f"device copy {rates['copy_gbps']:.0f} GB/s (read + written); the forward's GEMMs at their real shapes "
          f"(cuBLAS, timed alone): {len(gemms)} model × shape × dtype\n")

    # LoRA rows (step.sh --lora: the peer's "peft" rows, StepBench's with peft "lora ...") have their own table
    lora = [r for r in peer + zot if r.get("peft") and r["peft"] != "full"]
    if lora:
        lora_table(lora)
    enc = [r for r in peer + zot if r.get("model") in ENCODER_ARCH]
    if enc:
        encoder_table(enc, rates)
    rows = {}  # (model, shape, dtype) -> {system/variant: row}
    errors = []
    for r in peer + zot:
        if r.get("peft") and r["peft"] != "full" or r.get("model") in ENCODER_ARCH:
            continue
        if r.get("kind") in ("row", "error", "skipped") and r.get("model") and r.get("shape"):
            key = (r["model"], r["shape"], r["dtype"])
            # the peer's skipped rows carry no "system" (mezo_peer.py writes the variant only)
            system = r.get("system") or ("peer-" + r["variant"] if r.get("variant") else "peer")
            name = system if system != "zotune" else "zotune " + r["variant"]
            if r.get("kind") == "row":
                rows.setdefault(key, {})[name] = r
            else:
                errors.append((key, name, r.get("error") or r.get("reason")))
        elif r.get("kind") in ("error", "skipped"):
            errors.append(((r.get("model"), "*", r.get("dtype")), r.get("system"), r.get("error") or r.get("reason")))

    def order(key):
        model, shape, dtype = key
        return (["bf16", "fp16", "fp32"].index(dtype), list(ARCH).index(model), shape)

    if not rows and not errors:
        return

    print("### Summary: one line per model × batch × dtype (ms per step, median)\n")
    print("| model | params | dtype | batch×seq | peer eager | peer tuned | zotune ZO-SGD | zotune ZO-AdaMU "
          "| floor (SGD) | SGD / floor | floor (cuBLAS at shape) | SGD / floor2 | vs eager | vs tuned | AdaMU / SGD "
          "| zotune GiB | eager GiB | tuned GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for key in sorted(rows, key=order):
        model, shape, dtype = key
        r = rows[key]
        n = next((x.get("params") for x in r.values() if x.get("params")), None)
        eager = r.get("peer-eager")
        tuned = r.get("peer-tuned")
        sgd = r.get("zotune sgd-inplace-graph")
        adamu = r.get("zotune adamu-inplace-graph")
        adamu16 = r.get("zotune adamu_bf16-inplace-graph")
        fs, fa, _ = floors(model, shape, dtype, n, rates) if n else (None, None, None)
        f2 = floor_at_shape(model, shape, dtype, n, rates, gemms) if n else None
        ms = lambda x: x["ms"] if x else None  # noqa: E731
        ratio = lambda a, b: a / b if a and b else None  # noqa: E731
        summary[key] = dict(n=n, eager=ms(eager), tuned=ms(tuned), sgd=ms(sgd), adamu=ms(adamu),
                            adamu16=ms(adamu16), floor=fs, floor2=f2, floor_adamu=fa,
                            floor_adamu16=n and floor_adamu_bf16(model, shape, dtype, n, rates), mem_sgd=sgd and sgd.get("memgetinfo_used_bytes"),
                            mem_eager=eager and eager.get("memgetinfo_used_bytes"),
                            mem_tuned=tuned and tuned.get("memgetinfo_used_bytes"))
        s = summary[key]
        print(f"| {model} | {fmt(n and n / 1e9, '.2f')}B | {dtype} | {shape} | {fmt(s['eager'], '.2f')} "
              f"| {fmt(s['tuned'], '.2f')} | {fmt(s['sgd'], '.2f')} | {fmt(s['adamu'], '.2f')} | {fmt(fs, '.2f')} "
              f"| {fmt(ratio(s['sgd'], fs), '.2f')} | {fmt(f2, '.2f')} | {fmt(ratio(s['sgd'], f2), '.2f')} "
              f"| {fmt(ratio(s['eager'], s['sgd']), '.2f')}× "
              f"| {fmt(ratio(s['tuned'], s['sgd']), '.2f')}× | {fmt(ratio(s['adamu'], s['sgd']), '.2f')} "
              f"| {gib(s['mem_sgd'])} | {gib(s['mem_eager'])} | {gib(s['mem_tuned'])} |")
    print("\nzotune ZO-SGD / ZO-AdaMU = the in-place strategy replayed as a CUDA graph; floor (SGD) = two forwards' "
          "GEMM FLOPs at the 8192³ cuBLAS rate + three passes over the parameters at the copy bandwidth; floor (cuBLAS "
          "at shape) = the same with cuBLAS's own time for the forward's GEMMs at their real shapes; speed-ups = peer "
          "ms / zotune ZO-SGD ms; GiB = device memory the process holds (cudaMemGetInfo: free at start − free after the steps).\n")

    print("### Every system and variant (ms per step, median; split from separately timed parts)\n")
    print("| model | dtype | batch×seq | system | ms/step | forward | perturb | update | other "
          "| tokens/s | GiB (cudaMemGetInfo) | GiB (torch max allocated) | graph | measured / floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(rows, key=order):
        model, shape, dtype = key
        s = summary[key]
        for name in sorted(rows[key], key=lambda x: (not x.startswith("peer"), x)):
            r = rows[key][name]
            sp = r.get("split") or {}
            fl = (s["floor_adamu16"] if "adamu_bf16" in name else s["floor_adamu"] if "adamu" in name
                  else s["floor"])
            print(f"| {model} | {dtype} | {shape} | {name} | {r['ms']:.2f} "
                  f"| {fmt(sp.get('forward'), '.2f')} "
                  f"| {fmt(sp.get('perturb'), '.2f')} | {fmt(sp.get('update'), '.2f')} | {fmt(sp.get('other'), '.2f')} "
                  f"| {r['tokens_per_s']:,.0f} | {gib(r.get('memgetinfo_used_bytes'))} "
                  f"| {gib(r.get('peak_alloc_bytes'))} | {r.get('graph')} | {fmt(fl and r['ms'] / fl, '.2f')} |")
    if errors:
        print("\n### Not measured\n")
        for key, name, why in errors:
            print(f"- {key[0]} {key[2]} {key[1]} {name}: {why}")

    large = [k for k in ARCH if k.startswith("opt-") and ARCH[k][1] >= 7168]
    print("\n### Largest models (bf16): what ran, what did not\n")
    print("| model | batch×seq | system | result |")
    print("|---|---|---|---|")
    for (model, shape, dtype), per in sorted(rows.items(), key=lambda kv: order(kv[0])):
        if model in large:
            for name, r in sorted(per.items()):
                print(f"| {model} | {shape} | {name} | {r['ms']:.0f} ms/step, {gib(r.get('memgetinfo_used_bytes'))} GiB |")
    for key, name, why in errors:
        if key[0] in large:
            print(f"| {key[0]} | {key[1]} | {name} | not run: {why} |")

    t = summary.get(("gpt2-1558M", "16x128", "bf16"))
    if t:
        print("\n### Targets (gpt2-xl = GPT-2 1.5B, bf16, 16×128)\n")
        checks = [
            ("zotune ZO-SGD ≥ 4× faster than the eager peer", t["eager"] and t["sgd"] and t["eager"] / t["sgd"], 4,
             True),
            ("zotune ZO-SGD ≥ 2× faster than the tuned peer", t["tuned"] and t["sgd"] and t["tuned"] / t["sgd"], 2,
             True),
            ("zotune ZO-SGD ≤ 1.5× the floor at the 8192³ rate", t["sgd"] and t["floor"] and t["sgd"] / t["floor"],
             1.5, False),
            ("zotune ZO-SGD ≤ 1.15× the floor at the real shapes (cuBLAS at shape)",
             t["sgd"] and t["floor2"] and t["sgd"] / t["floor2"], 1.15, False),
            ("ZO-AdaMU ≤ 1.15× ZO-SGD", t["adamu"] and t["sgd"] and t["adamu"] / t["sgd"], 1.15, False),
            ("ZO-AdaMU with bf16 m (optimizer.state_dtype: bf16) ≤ 1.15× ZO-SGD",
             t["adamu16"] and t["sgd"] and t["adamu16"] / t["sgd"], 1.15, False),
            ("zotune peak memory ≤ eager peer's", t["mem_sgd"] and t["mem_eager"] and t["mem_sgd"] / t["mem_eager"],
             1.0, False),
        ]
        for what, value, bound, at_least in checks:
            if value is None:
                print(f"- {what}: not measured")
            else:
                met = value >= bound if at_least else value <= bound
                print(f"- {what}: {value:.2f} → {'met' if met else 'NOT met'}")
    plot(out, summary)


# ZO optimiser state per trained element, in state vectors: ZO-SGD none, ZO-AdaMU one (m)
STATE_VECTORS = {"zo-sgd": 0, "zo-adamu": 1}


def lora_table(rows):
    """The LoRA step (issue 11.8): zotune (StepBench --lora, merge and skinny) against the MeZO-LoRA peer, and each
    system's memory against inference (the peer's infer row: the bare base's no-grad forward, the same measure)
    + adapters + optimiser state."""
    by = {}  # (model, shape, dtype) -> {name: row}
    errs = []
    for r in rows:
        key = (r.get("model"), r.get("shape"), r.get("dtype"))
        if r.get("system") == "zotune":
            name = f"zotune {r['variant']} {r.get('lora_path', '?')}"
        else:
            name = r.get("system") or "peer-" + r.get("variant", "?")
        if r.get("kind") == "row":
            by.setdefault(key, {})[name] = r
        else:
            errs.append((key, name, r.get("error") or r.get("reason")))
    print("### LoRA step: zotune vs the MeZO-LoRA peer (ms per step, median)\n")
    peft_of = sorted({r["peft"] for r in rows if r.get("peft") and r.get("system") == "zotune"})
    peer_peft = sorted({r["peft"] for r in rows if r.get("peft", "").startswith("lora") and r.get("system") != "zotune"})
    print(f"zotune: {', '.join(peft_of) or '—'}; peer (peft): {', '.join(peer_peft) or '—'}\n")
    print("| model | dtype | batch×seq | adapter elements (zotune / peer) | peer inference fwd | peer eager "
          "| peer tuned | zotune ZO-SGD merge | zotune ZO-SGD skinny | zotune ZO-AdaMU merge | zotune ZO-AdaMU skinny "
          "| tuned / best zotune SGD | eager / best zotune SGD |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ms = lambda x: x["ms"] if x else None  # noqa: E731
    for key in sorted(by, key=lambda k: (k[0] or "", k[2] or "", k[1] or "")):
        model, shape, dtype = key
        r = by[key]
        z = {k: v for k, v in r.items() if k.startswith("zotune")}
        ze = next((v.get("adapter_elements") for v in z.values()), None)
        pe = next((v.get("adapter_elements") for k, v in r.items() if not k.startswith("zotune")
                   and v.get("adapter_elements")), None)
        sgd = [v["ms"] for k, v in z.items() if "sgd-inplace-graph" in k]
        best = min(sgd) if sgd else None
        eager, tuned, infer = ms(r.get("peer-eager")), ms(r.get("peer-tuned")), ms(r.get("peer-infer"))
        print(f"| {model} | {dtype} | {shape} | {fmt(ze, ',')} / {fmt(pe, ',')} | {fmt(infer, '.2f')} "
              f"| {fmt(eager, '.2f')} | {fmt(tuned, '.2f')} "
              f"| {fmt(ms(r.get('zotune sgd-inplace-graph merge')), '.2f')} "
              f"| {fmt(ms(r.get('zotune sgd-inplace-graph skinny')), '.2f')} "
              f"| {fmt(ms(r.get('zotune adamu-inplace-graph merge')), '.2f')} "
              f"| {fmt(ms(r.get('zotune adamu-inplace-graph skinny')), '.2f')} "
              f"| {fmt(tuned and best and tuned / best, '.2f')}× | {fmt(eager and best and eager / best, '.2f')}× |")
    print("\nbest zotune SGD = the faster of the merge and skinny paths of ZO-SGD in place (graph); every row of each "
          "system below.\n")
    print("| model | dtype | batch×seq | system | ms/step | GiB (cudaMemGetInfo) | inference GiB | adapters MiB "
          "| optimiser state MiB | budget GiB (inference + adapters + state, +5 %) | memory / budget | graph |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    checks = []
    for key in sorted(by, key=lambda k: (k[0] or "", k[2] or "", k[1] or "")):
        model, shape, dtype = key
        r = by[key]
        infer = r.get("peer-infer")
        inf_b = infer and infer.get("memgetinfo_used_bytes")
        for name in sorted(r, key=lambda x: (not x.startswith("peer"), x)):
            x = r[name]
            el = x.get("adapter_elements")
            ad_b = el and 4 * el  # adapters train in float32
            opt = x.get("optimizer") or "zo-sgd"  # the peer runs ZO-SGD
            sd = 2 if x.get("state_dtype") in ("BF16", "F16", "bf16", "fp16") else 4
            st_b = el and STATE_VECTORS.get(opt, 0) * sd * el
            budget = inf_b and el and (inf_b + ad_b + st_b) * 1.05
            used = x.get("memgetinfo_used_bytes")
            ratio = used and budget and used / budget
            if name != "peer-infer" and ratio:
                checks.append((key, name, ratio))
            print(f"| {model} | {dtype} | {shape} | {name} | {x['ms']:.2f} | {gib(used)} | {gib(inf_b)} "
                  f"| {fmt(ad_b and ad_b / 2 ** 20, '.1f')} | {fmt(None if st_b is None else st_b / 2 ** 20, '.1f')} "
                  f"| {gib(budget)} | {fmt(ratio, '.3f')} | {x.get('graph')} |")
    print("\ninference = the peer's no-grad forward (logits + loss) on the bare bf16 base at the row's shape, measured as "
          "the rows are (cudaMemGetInfo: free at start − free after); adapters in float32; optimiser state: ZO-SGD none, "
          "ZO-AdaMU m (one value per adapter element, in its state dtype).")
    print("\n### LoRA targets (gpt2-1558M, bf16)\n")
    for shape in ("16x128", "16x512"):
        r = by.get(("gpt2-1558M", shape, "bf16"), {})
        sgd = [v["ms"] for k, v in r.items() if k.startswith("zotune") and "sgd-inplace-graph" in k]
        tuned = ms(r.get("peer-tuned"))
        v = tuned / min(sgd) if tuned and sgd else None
        print(f"- {shape}: zotune ZO-SGD ≥ 2× faster than the tuned peer: "
              + ("not measured" if v is None else f"{v:.2f} → {'met' if v >= 2 else 'NOT met'}"))
    for key, name, ratio in checks:
        if name.startswith("zotune") and key[0] == "gpt2-1558M":
            print(f"- {key[1]} {name}: memory ≤ inference + adapters + state + 5 %: {ratio:.3f} of the budget → "
                  f"{'met' if ratio <= 1 else 'NOT met'}")
    if errs:
        print("\nNot measured (LoRA):\n")
        for key, name, why in errs:
            print(f"- {key[0]} {key[2]} {key[1]} {name}: {why}")
    print()


def encoder_floor(model, shape, dtype, n, rates):
    """The mlm step's floor (ms): two forwards' GEMMs (body on every token, the MLM head at one mask row per example)
    at the measured rate, plus three passes over the parameters at the copy bandwidth."""
    layers, c, ffn, vocab = ENCODER_ARCH[model]
    b, t = (int(x) for x in shape.split("x"))
    flops = b * t * layers * (8 * c * c + 4 * c * ffn + 4 * t * c) + b * (2 * c * c + 2 * c * vocab)
    rate = rates["cublas_fp32_tflops" if dtype == "fp32" else "cublas_bf16_tflops"] * 1e12
    return 1e3 * (2 * flops / rate + 6 * BYTES[dtype] * n / (rates["copy_gbps"] * 1e9))


def encoder_table(rows, rates):
    """The masked-LM prompt step (issue 12.8): zotune's -mlm variants against the MeZO-style peer."""
    by = {}  # (model, shape, dtype) -> {name: row}
    errs = []
    for r in rows:
        key = (r.get("model"), r.get("shape"), r.get("dtype"))
        if r.get("system") == "zotune":
            name = "zotune " + (r.get("variant") or "?")
        else:
            name = r.get("system") or "peer-" + r.get("variant", "?")
        if r.get("kind") == "row":
            by.setdefault(key, {})[name] = r
        elif r.get("kind") in ("error", "skipped"):
            errs.append((key, name, r.get("error") or r.get("reason")))
    ms = lambda x: x["ms"] if x else None  # noqa: E731
    order = lambda k: (["bf16", "fp16", "fp32"].index(k[2]) if k[2] in BYTES else 9,  # noqa: E731
                       list(ENCODER_ARCH).index(k[0]) if k[0] in ENCODER_ARCH else 9, k[1] or "")
    print("### Encoder: the masked-LM prompt step (MeZO's SST-2 prompt, one mask per row, two label words; ms per "
          "step, median)\n")
    print("| model | params (zotune / peer) | dtype | batch×seq | peer eager | peer tuned | zotune ZO-SGD | zotune ZO-SGD "
          "shadow | zotune ZO-AdaMU | zotune ZO-SGD eager | floor (SGD) | SGD / floor | vs eager | vs tuned "
          "| zotune GiB | eager GiB | tuned GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(by, key=order):
        model, shape, dtype = key
        r = by[key]
        zn = next((v.get("params") for k, v in r.items() if k.startswith("zotune") and v.get("params")), None)
        pn = next((v.get("params") for k, v in r.items() if k.startswith("peer") and v.get("params")), None)
        n = zn or pn
        eager, tuned = r.get("peer-eager"), r.get("peer-tuned")
        sgd = r.get("zotune sgd-inplace-graph-mlm")
        fl = encoder_floor(model, shape, dtype, n, rates) if n and model in ENCODER_ARCH and dtype in BYTES else None
        ratio = lambda a, b: a / b if a and b else None  # noqa: E731
        mem = lambda x: gib(x and x.get("memgetinfo_used_bytes"))  # noqa: E731
        print(f"| {model} | {fmt(zn, ',')} / {fmt(pn, ',')} | {dtype} | {shape} | {fmt(ms(eager), '.2f')} "
              f"| {fmt(ms(tuned), '.2f')} | {fmt(ms(sgd), '.2f')} | {fmt(ms(r.get('zotune sgd-shadow-graph-mlm')), '.2f')} "
              f"| {fmt(ms(r.get('zotune adamu-inplace-graph-mlm')), '.2f')} "
              f"| {fmt(ms(r.get('zotune sgd-inplace-eager-mlm')), '.2f')} | {fmt(fl, '.2f')} "
              f"| {fmt(ratio(ms(sgd), fl), '.2f')} | {fmt(ratio(ms(eager), ms(sgd)), '.2f')}× "
              f"| {fmt(ratio(ms(tuned), ms(sgd)), '.2f')}× | {mem(sgd)} | {mem(eager)} | {mem(tuned)} |")
    print("\nzotune ZO-SGD / ZO-AdaMU = the in-place strategy replayed as one CUDA graph per step (the device loss "
          "DeviceLoss.MaskedChoices, as objective mlm runs in training); the peer's eager variant passes attention_mask = "
          "ones as MeZO's trainer does, tuned passes None (no padding); speed-ups = peer ms / zotune ZO-SGD ms.\n")
    print("| model | dtype | batch×seq | system | ms/step | forward | perturb | update | other | tokens/s "
          "| GiB (cudaMemGetInfo) | graph | loss± |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(by, key=order):
        model, shape, dtype = key
        for name in sorted(by[key], key=lambda x: (not x.startswith("peer"), x)):
            x = by[key][name]
            sp = x.get("split") or {}
            print(f"| {model} | {dtype} | {shape} | {name} | {x['ms']:.2f} | {fmt(sp.get('forward'), '.2f')} "
                  f"| {fmt(sp.get('perturb'), '.2f')} | {fmt(sp.get('update'), '.2f')} | {fmt(sp.get('other'), '.2f')} "
                  f"| {x['tokens_per_s']:,.0f} | {gib(x.get('memgetinfo_used_bytes'))} | {x.get('graph')} "
                  f"| {fmt(x.get('loss_plus'), '.4f')} / {fmt(x.get('loss_minus'), '.4f')} |")
    print("\n### Encoder target (issue 12.8: zotune's step >= 2x the tuned peer)\n")
    # zotune's ZO-SGD graph step in its faster strategy (in place or shadow: a run's choice, strategy=)
    for shape in ("32x128", "32x64"):
        for dtype in ("bf16", "fp32"):
            r = by.get(("roberta-large", shape, dtype), {})
            tuned = ms(r.get("peer-tuned"))
            runs = [(ms(r.get(f"zotune sgd-{st}-graph-mlm")), st) for st in ("inplace", "shadow")]
            runs = [x for x in runs if x[0]]
            best = min(runs) if runs else None
            v = tuned / best[0] if tuned and best else None
            strategy = "" if best is None else (" in place" if best[1] == "inplace" else " shadow")
            print(f"- roberta-large {dtype} {shape}: tuned peer / zotune ZO-SGD{strategy} = "
                  + ("not measured" if v is None else f"{v:.2f} → {'met' if v >= 2 else 'NOT met'}"))
    if errs:
        print("\nNot measured (encoder):\n")
        for key, name, why in errs:
            print(f"- {key[0]} {key[2]} {key[1]} {name}: {why}")
    print()


def plot(out, summary):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib missing: no plot)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, shape in zip(axes, ("16x128", "16x512")):
        keys = sorted((k for k in summary if k[1] == shape and k[2] == "bf16" and summary[k]["n"]),
                      key=lambda k: summary[k]["n"])
        for field, label, color, marker in (("eager", "MeZO-style PyTorch, eager", "tab:blue", "o"),
                                            ("tuned", "MeZO-style PyTorch, tuned", "tab:orange", "s"),
                                            ("sgd", "zotune ZO-SGD (in-place, graph)", "tab:green", "^"),
                                            ("adamu", "zotune ZO-AdaMU (in-place, graph)", "tab:red", "v"),
                                            ("floor", "physical floor (ZO-SGD)", "black", "")):
            for family, line in (("gpt2", "-"), ("opt", "--")):  # one line per family: GPT-2 solid, OPT dashed
                pts = [(summary[k]["n"] / 1e9, summary[k][field]) for k in keys
                       if k[0].startswith(family) and summary[k][field]]
                if pts:
                    ax.plot(*zip(*pts), color=color, marker=marker, linestyle=line if field != "floor" else ":",
                            label=label if family == "gpt2" or not any(k[0].startswith("gpt2") for k in keys)
                            else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters (billions): GPT-2 124M–1.5B solid, OPT-style 1.3B–30B dashed")
        ax.set_ylabel("ms per step (median)")
        ax.set_title(f"ZO step, bf16, batch {shape.replace('x', '×')}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "step.png")
    fig.savefig(path, dpi=110)
    print("\nplot: step.png in the output folder")  # no absolute path: tables are committed with the results


if __name__ == "__main__":
    main()
