#!/usr/bin/env python3
"""One Hugging Face encoder forward (random weights, benchmarks/hf_forward.py's shapes and ids) between
cudaProfilerStart/Stop, for ncu --profile-from-start off to list its kernels (benchmarks/profile/encoder_forward.sh).

Usage: hf_encoder_forward.py MODEL BxT [bf16|fp16|fp32] [hidden|mlm] [sdpa|eager]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import hf_forward  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    name, shape = sys.argv[1], sys.argv[2]
    dt = sys.argv[3] if len(sys.argv) > 3 else "bf16"
    output = sys.argv[4] if len(sys.argv) > 4 else "hidden"
    attn = sys.argv[5] if len(sys.argv) > 5 else "sdpa"
    cfg, cls = hf_forward.encoder_config(name)
    with torch.device("cuda"):
        model = cls._from_config(cfg, attn_implementation=attn, dtype=getattr(torch, hf_forward.DTYPES[dt])).eval()
    body = getattr(model, model.base_model_prefix)
    b, t = (int(x) for x in shape.split("x"))
    ids = hf_forward.encoder_ids(hf_forward.ENCODERS[name][0], cfg.vocab_size, b, t)
    fn = (lambda: body(input_ids=ids).last_hidden_state) if output == "hidden" else (lambda: model(input_ids=ids).logits)
    with torch.no_grad():
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        torch.cuda.profiler.start()
        fn()
        torch.cuda.synchronize()
        torch.cuda.profiler.stop()
    print(f"{name} {shape} {dt} {output} {attn}: profiled one forward")


if __name__ == "__main__":
    main()
