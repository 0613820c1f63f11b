package org.zotune.zo.cuda;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaParameters;
import org.zotune.bench.EncoderShapes;
import org.zotune.bench.StepShapes;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaEvent;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CandidateChoices;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.MaskedChoices;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoStep;

/**
 * zotune's zeroth-order step ({@link DeviceZoStep}) on random-weight GPT-2 and OPT shapes, for benchmarks/step.sh
 * (the same rows as benchmarks/peer/mezo_peer.py). Per model × dtype × batch shape × variant it prints one JSON
 * line: median ms per step over {@code --steps} synchronous steps (submit + drain, wall clock) after
 * {@code --warmup} steps, tokens/s = batch·seq / step, device
 * memory the process holds while the engine is alive
 * (cudaMemGetInfo: free at start minus free after the steps; parameters, activation arena, optimiser state,
 * shadow scratch, cuBLAS), and the split: the forward (forward + cross-entropy captured as one CUDA graph, timed
 * alone, ×2), the perturbation (two in-place perturb launches timed alone; for the shadow strategy what the step
 * spends beyond the two forwards and the update, i.e. materialising θ ± εu), the update (the fused restore +
 * update launch timed alone), and "other" (what remains: host work, launch gaps, the gradient kernel).
 *
 * <p>Variants: {@code sgd|adamu|adamu_bf16}-{@code inplace|shadow}-{@code graph|eager} (adamu_bf16: m in bf16).
 * Weights: one shared host slice of zeros (ones for norm weights) uploaded into the flat parameter buffer, then
 * ε = 0.02 of Gaussian noise added on the device by the perturb kernel, so no model goes through host arrays of
 * its own size.
 *
 * <p>{@code --lora R} (default 0: full fine-tuning) times the LoRA step instead: rank R, α = 2R, on
 * {@code --lora-targets} (default q,v), the frozen base in the row's dtype and A, B in float32, applied inside the
 * captured step by {@code --lora-path}: {@code merge} (default; each adapted weight formed once per forward pass by
 * Ops.loraWeight into one reused slot) or {@code skinny} (the frozen product, then y += (α/r)·(x·Aᵀ)·Bᵀ by
 * Ops.loraDelta on q, k, v; other targets merge); rows carry {@code peft}, {@code lora_path},
 * {@code lora_slot_elements} and {@code adapter_elements}, and no split (the split's parts are timed on the
 * full-parameter step).
 *
 * <p>Encoders ({@link EncoderShapes}: bert-base, bert-large, roberta-base, roberta-large; issue 12.8) time the step of the
 * masked-LM prompt objective (ALGORITHMS.md §6) with the variant suffix {@code -mlm} (e.g. {@code sgd-inplace-graph-mlm}),
 * the only objective their rows take: MeZO's SST-2 prompt shape ({@link EncoderShapes#promptBatch}: full-length rows,
 * one mask token per row three from the end, two label words, gold alternating), the loss the cross-entropy of the two
 * label words' MLM logits at the mask ({@link DeviceLoss.MaskedChoices}: the body on every row, the MLM head at the
 * mask rows only), as CudaZoEngine runs objective mlm. Their split's forward is that forward (body + head at the
 * masks) without the loss kernel, ×2.
 *
 * <p>{@code --profile VARIANT} runs {@code --steps} steps of that variant on the first model and shape without
 * JSON, for a kernel profiler (ncu).
 *
 * <pre>StepBench --out zotune.jsonl --models gpt2-124M,opt-1.3b --shapes 16x128 --dtypes bf16
 *     [--variants sgd-inplace-graph,...] [--warmup 5] [--steps 20] [--reps 10] [--deadline SECONDS]
 * StepBench --out zotune.jsonl --rows gpt2-1558M:bf16:16x128+16x512:sgd-inplace-graph+adamu-inplace-graph,...</pre>
 * The steps run with the fast noise, {@code zotune train}'s default on CUDA, unless {@code -Dzotune.noise=exact}; the
 * start line and every row record it ({@code "noise"}). The start line also says how float32 products ran
 * ({@code "gemm_f32"}: 3xtf32, or sgemm with -Dzotune.cuda.gemmF32=false).
 * Package org.zotune.zo.cuda for the engine's package-private direction codes and scalar layout.
 */
public final class StepBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long START = System.nanoTime();
    static final String ALL_VARIANTS = "sgd-inplace-graph,sgd-inplace-eager,sgd-shadow-graph,sgd-shadow-eager,"
            + "adamu-inplace-graph,adamu-inplace-eager,adamu-shadow-graph,adamu-shadow-eager";

    /** LoRA rank of the timed step (0: full fine-tuning) and its targets: --lora, --lora-targets. */
    static int loraRank;
    static List<String> loraTargets = List.of("q", "v");
    /** How the LoRA step applies its adapters: --lora-path merge|skinny (default merge). */
    static Lora.Path loraPath = Lora.Path.MERGE;
    /** The noise variant the steps run with (main sets it from -Dzotune.noise, default fast). */
    static String noise = "fast";

    private StepBench() {
    }

    /** The LoRA set the rows time on {@code lm}, or null (full fine-tuning). */
    static Lora lora(LanguageModel lm) {
        if (loraRank <= 0) {
            return null;
        }
        ModelFamily f = lm.config().family();
        return Lora.of(f.architecture(), f.hfModelType(), lm.params(), loraRank, 2.0 * loraRank, loraTargets);
    }

    /**
     * One way to run the step: optimiser {@code sgd}, {@code adamu} (float32 m) or {@code adamu_bf16} (m stored in
     * bf16, {@code optimizer.state_dtype: bf16}), strategy, graph or eager launches, and the objective: the suffix
     * {@code -cls} (SST-2 prompt classification on a decoder) or {@code -mlm} (the masked-LM prompt on an encoder),
     * none for {@code lm}.
     */
    record Variant(String name, String opt, PerturbationStrategy strategy, boolean graph, String objective) {
        static Variant parse(String s) {
            String[] p = s.split("-");
            if (p.length < 3 || p.length > 4 || !(p[0].equals("sgd") || p[0].equals("adamu")
                    || p[0].equals("adamu_bf16")) || !(p[1].equals("inplace") || p[1].equals("shadow"))
                    || !(p[2].equals("graph") || p[2].equals("eager"))
                    || p.length == 4 && !(p[3].equals("cls") || p[3].equals("mlm"))) {
                throw new IllegalArgumentException("variant " + s
                        + ": expected sgd|adamu|adamu_bf16-inplace|shadow-graph|eager[-cls|-mlm]");
            }
            return new Variant(s, p[0], p[1].equals("inplace") ? PerturbationStrategy.IN_PLACE
                    : PerturbationStrategy.SHADOW, p[2].equals("graph"), p.length == 4 ? p[3] : "lm");
        }

        boolean cls() {
            return objective.equals("cls");
        }

        boolean mlm() {
            return objective.equals("mlm");
        }

        boolean adamu() {
            return opt.startsWith("adamu");
        }

        ZoOptimizerConfig optimizer() {
            LrSchedule lr = LrSchedule.constant(1e-6);
            if (!adamu()) {
                return new ZoSgd.Config(lr);
            }
            return new ZoAdaMu.Config(lr, AdaMuSchedule.defaults(10000), 1e-8, 0.0,
                    opt.equals("adamu_bf16") ? DType.BF16 : DType.F32);
        }
    }

    public static void main(String[] args) {
        // the noise variant of the timed steps: the CUDA engine's default (fast) unless -Dzotune.noise says otherwise,
        // written on every JSON line (a run without the property measured the exact noise before 2026-12-06)
        if (System.getProperty(NoiseVariant.PROPERTY) == null) {
            System.setProperty(NoiseVariant.PROPERTY, "fast");
        }
        noise = NoiseVariant.configured() == NoiseVariant.FAST ? "fast" : "exact";
        System.out.println("zotune noise: " + noise);
        Map<String, String> o = options(args);
        Path out = o.containsKey("out") ? Path.of(o.get("out")) : null;
        List<String> models = List.of(o.getOrDefault("models", "gpt2-124M").split(","));
        List<String> shapes = List.of(o.getOrDefault("shapes", "16x128").split(","));
        List<String> dtypes = List.of(o.getOrDefault("dtypes", "bf16").split(","));
        int warmup = Integer.parseInt(o.getOrDefault("warmup", "5"));
        int steps = Integer.parseInt(o.getOrDefault("steps", "20"));
        int reps = Integer.parseInt(o.getOrDefault("reps", "10"));
        double deadline = Double.parseDouble(o.getOrDefault("deadline", "1e9"));
        loraRank = Integer.parseInt(o.getOrDefault("lora", "0"));
        loraTargets = List.of(o.getOrDefault("lora-targets", "q,v").split(","));
        String path = o.getOrDefault("lora-path", "merge");
        if (!path.equals("merge") && !path.equals("skinny")) {
            throw new IllegalArgumentException("--lora-path " + path + ": expected merge or skinny");
        }
        loraPath = Lora.Path.parse(path);
        Cuda.Availability a = Cuda.require();
        if (o.containsKey("profile")) {
            profile(models.get(0), dtype(dtypes.get(0)), shapes.get(0), Variant.parse(o.get("profile")), steps);
            return;
        }
        List<Variant> variants = new ArrayList<>();
        for (String v : o.getOrDefault("variants", ALL_VARIANTS).split(",")) {
            variants.add(Variant.parse(v));
        }
        long free0 = Cuda.memInfo()[0];
        Map<String, Object> head = new LinkedHashMap<>();
        head.put("kind", "zotune-start");
        head.put("gpu", a.deviceName());
        head.put("noise", noise);
        // float32 products: 3xTF32 (the default since 2026-12-07) or SGEMM (-Dzotune.cuda.gemmF32=false)
        head.put("gemm_f32", org.zotune.backend.cuda.CudaOptions.fromSystemProperties().gemmF32() ? "3xtf32"
                : "sgemm");
        head.put("free_bytes", free0);
        head.put("total_bytes", Cuda.memInfo()[1]);
        emit(out, head);
        for (RowGroup g : plan(o, models, dtypes, shapes, variants)) {
            String model = g.model();
            String dt = g.dtype();
            if (elapsed() > deadline) {
                emit(out, row("skipped", model, null, dt, null, "deadline"));
                continue;
            }
            DType dtype = dtype(dt);
            LanguageModel lm = Architectures.createModel(StepShapes.config(model));
            long n = 0;
            for (ParamSpec p : lm.params()) {
                n += p.numel();
            }
            Parameters params = null;
            try {
                long t0 = System.nanoTime();
                params = randomParameters(lm, dtype, 42);
                double uploadS = (System.nanoTime() - t0) / 1e9;
                System.err.printf("%s %s: %,d parameters on the device in %.1f s%n", model, dt, n, uploadS);
                for (String shape : g.shapes()) {
                    Batch batch = lm instanceof EncoderModel ? EncoderShapes.promptBatch(lm.config(), shape, 7).batch()
                            : batch(shape, lm.config().vocabSize());
                    Map<String, Double> parts = null;
                    for (Variant v : g.variants()) {
                        if (elapsed() > deadline) {
                            emit(out, row("skipped", model, shape, dt, v.name(), "deadline"));
                            continue;
                        }
                        if (parts == null) {
                            parts = split(lm, params, dtype, batch, reps, g.variants());
                        }
                        Map<String, Object> r = row("row", model, shape, dt, v.name(), null);
                        r.put("params", n);
                        r.put("upload_s", uploadS);
                        r.put("split_parts_ms", parts);
                        try {
                            step(r, v, lm, params, dtype, batch, warmup, steps, free0, parts);
                        } catch (RuntimeException e) {
                            r.put("kind", "error");
                            r.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
                        }
                        emit(out, r);
                    }
                }
            } catch (RuntimeException e) {
                Map<String, Object> r = row("error", model, null, dt, null, null);
                r.put("params", n);
                r.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
                emit(out, r);
            } finally {
                if (params != null) {
                    params.close();
                }
            }
        }
        // the 3xTF32 products' algorithm per shape (the tuned choice, or the default), for the record
        System.out.print(org.zotune.cuda.Tf32Tuner.report());
    }

    /** One model in one dtype, its batch shapes and variants. */
    record RowGroup(String model, String dtype, List<String> shapes, List<Variant> variants) {
    }

    /**
     * --rows MODEL:DTYPE[:SHAPE+SHAPE[:VARIANT+VARIANT]],... or every model × dtype with all shapes and variants.
     */
    static List<RowGroup> plan(Map<String, String> o, List<String> models, List<String> dtypes, List<String> shapes,
                               List<Variant> variants) {
        List<RowGroup> out = new ArrayList<>();
        if (o.containsKey("rows")) {
            for (String item : o.get("rows").split(",")) {
                String[] p = item.split(":");
                List<String> sh = p.length > 2 && !p[2].isEmpty() ? List.of(p[2].split("\\+")) : shapes;
                List<Variant> vs = variants;
                if (p.length > 3 && !p[3].isEmpty()) {
                    vs = new ArrayList<>();
                    for (String v : p[3].split("\\+")) {
                        vs.add(Variant.parse(v));
                    }
                }
                out.add(new RowGroup(p[0], p[1], sh, vs));
            }
            return out;
        }
        for (String m : models) {
            for (String d : dtypes) {
                out.add(new RowGroup(m, d, shapes, variants));
            }
        }
        return out;
    }

    /** Runs the variant's steps and fills the row. */
    static void step(Map<String, Object> r, Variant v, LanguageModel lm, Parameters params, DType dtype, Batch batch,
                     int warmup, int steps, long free0, Map<String, Double> parts) {
        requireObjective(lm, v);
        Lora lora = lora(lm);
        // adapters train in float32 over the base's dtype (as CudaZoEngine runs them)
        ZoStep.Config zc = new ZoStep.Config(1e-3, 1, v.strategy(), 1, 5, lora == null ? dtype : DType.F32, 1);
        // -cls: SST-2-shaped prompt classification on the same rows (classificationBatch); the graph variant takes
        // the captured step with its device loss, the eager one the objective's own loss on the GPU with g formed
        // on the host (stepEager: what the engine ran for it before)
        PromptBatch pb = v.cls() ? classificationBatch(batch) : null;
        ClassificationLoss cls = new ClassificationLoss();
        DeviceLoss loss = v.cls() ? choices(cls.candidateChoices(lm, pb).orElseThrow())
                : v.mlm() ? maskedLoss(lm, batch) : new DeviceLoss.TokenCrossEntropy(NextTokenTargets.of(batch));
        try (CudaOps ops = CudaOps.create(dtype);
             Lora.Applied applied = lora == null ? null : lora.apply(ops, loraPath);
             Parameters own = lora == null ? null : ops.createParameters(lora.initial(1), DType.F32);
             DeviceZoStep e = (lora == null ? new DeviceZoStep(ops, lm, params, v.optimizer(), zc)
                     : new DeviceZoStep(ops, lm, params, TrainableStorage.own(applied.set(), own), v.optimizer(), zc))
                     .useGraph(v.graph())) {
            double[] ms = new double[steps];
            ZoStep.Result last = null;
            for (int i = -Math.max(1, warmup); i < steps; i++) {
                long t0 = System.nanoTime();
                if (v.cls() && !v.graph()) {
                    last = e.stepEager(w -> cls.loss(ops, lm, w, pb));
                } else {
                    e.submit(List.of(new DeviceZoStep.MicroBatch(v.cls() ? pb.batch() : batch, loss)));
                    List<ZoStep.Result> done = e.drain();
                    last = done.get(done.size() - 1);
                }
                double dt = (System.nanoTime() - t0) / 1e6;
                if (i >= 0) {
                    ms[i] = dt;
                }
            }
            long used = free0 - Cuda.memInfo()[0];
            double[] sorted = ms.clone();
            Arrays.sort(sorted);
            double median = steps % 2 == 1 ? sorted[steps / 2] : (sorted[steps / 2 - 1] + sorted[steps / 2]) / 2;
            r.put("system", "zotune");
            r.put("noise", noise);
            r.put("optimizer", v.adamu() ? "zo-adamu" : "zo-sgd");
            r.put("state_dtype", GpuOptimizer.of(v.optimizer()).stateDType().toString());
            r.put("strategy", v.strategy() == PerturbationStrategy.IN_PLACE ? "in-place" : "shadow");
            r.put("graph", v.graph());
            r.put("objective", v.cls() ? "classification" : v.mlm() ? "mlm" : "lm");
            r.put("ms", median);
            r.put("ms_min", sorted[0]);
            r.put("steps", steps);
            r.put("tokens_per_s", batch.tokens() / (median / 1e3));
            r.put("memgetinfo_used_bytes", used);
            r.put("params_bytes", ((CudaParameters) params).totalElements() * dtype.bytes());
            r.put("loss_plus", last.lossPlus()[0]);
            r.put("loss_minus", last.lossMinus()[0]);
            r.put("skipped_steps", e.skippedSteps());
            r.put("peft", lora == null ? "full" : "lora r=" + loraRank + " " + String.join(",", loraTargets));
            if (lora != null) {
                r.put("lora_path", loraPath == Lora.Path.MERGE ? "merge" : "skinny");
                r.put("lora_slot_elements", applied.slotElements());
                r.put("adapter_elements", lora.tensors().stream().mapToLong(ParamSpec::numel).sum());
                r.put("split", Map.of());
                return;
            }
            String opt = v.opt();
            Map<String, Object> s = new LinkedHashMap<>();
            Double fwd = parts.get("forward");
            Double pert = parts.get("perturb_" + opt);
            Double upd = parts.get("update_" + opt);
            if (fwd != null && upd != null) {
                s.put("forward", 2 * fwd);
                s.put("update", upd);
                double p = v.strategy() == PerturbationStrategy.IN_PLACE && pert != null ? 2 * pert
                        : Math.max(0, median - 2 * fwd - upd);
                s.put("perturb", p);
                s.put("other", median - 2 * fwd - upd - p);
            }
            r.put("split", s);
        }
    }

    /**
     * Device times (ms, median of {@code reps}, CUDA events) of the step's parts on these weights: one forward +
     * cross-entropy replayed as a CUDA graph; one perturb launch and one fused restore + update launch per optimiser
     * (ZO-AdaMU's only when its float32 m fits). Weights are left as they were up to the kernels' rounding.
     */
    static Map<String, Double> split(LanguageModel lm, Parameters params, DType dtype, Batch batch, int reps,
                                     List<Variant> variants) {
        Map<String, Double> out = new LinkedHashMap<>();
        CudaParameters cp = (CudaParameters) params;
        // a decoder's forward + token cross-entropy; an encoder's masked-LM prompt forward (body, head at the masks)
        DeviceLoss.Forward masked = lm instanceof EncoderModel ? maskedLoss(lm, batch).forward() : null;
        java.util.function.Function<CudaOps, org.zotune.backend.Tensor> pass = masked != null
                ? ops -> masked.run(ops, lm, params, batch)
                : ops -> ops.crossEntropy(lm.forward(ops, params, batch), ops.ints(NextTokenTargets.of(batch)));
        try (CudaOps ops = CudaOps.create(dtype); ZoKernels k = new ZoKernels(ops.device().multiprocessors() * 8);
             CudaEvent a = CudaEvent.create(true); CudaEvent b = CudaEvent.create(true)) {
            CudaStream s = ops.stream();
            try (Ops.Scope warm = ops.scope()) {
                pass.apply(ops);
                s.synchronize();
            }
            Ops.Scope scope = ops.scope();
            try {
                CudaOps.Graph g = ops.captureGraph(() -> pass.apply(ops));
                try {
                    out.put("forward", time(reps, a, b, s, g::replay, null));
                } finally {
                    g.close();
                }
            } finally {
                scope.close();
            }
            long[] offsets = new long[cp.count()];
            for (int i = 0; i < offsets.length; i++) {
                offsets[i] = cp.offset(i);
            }
            ChunkTable table = ChunkTable.build(lm.params(), offsets, null);
            java.util.Set<String> opts = new java.util.LinkedHashSet<>(List.of("sgd"));
            variants.forEach(v -> opts.add(v.opt()));
            try (DeviceBuffer chunks = upload(table.toBytes(), s); DeviceBuffer sc = DeviceBuffer.allocate(ZoScalars.SIZE)) {
                for (String opt : opts) {
                    Variant v = Variant.parse(opt + "-inplace-graph");
                    GpuOptimizer go = GpuOptimizer.of(v.optimizer());
                    k.stateDType(go.stateDType());
                    DeviceBuffer m = null;
                    try {
                        if (go.stateVectors() > 0) {
                            long bytes = go.stateBytes(table.stateElements());
                            m = DeviceBuffer.allocate(bytes);
                            m.fill(0, bytes, 0, s);
                        }
                    } catch (RuntimeException e) {
                        System.err.println("split: no room for the " + opt + " state (" + e.getMessage() + ")");
                        continue;
                    }
                    try {
                        writeScalars(sc, go, s);
                        k.grad(sc.address(), s);
                        long mAddr = m == null ? 0 : m.address();
                        int dir = go.direction().code;
                        int nc = table.size();
                        long theta = cp.address();
                        float[] sign = {1f};
                        out.put("perturb_" + opt, time(reps, a, b, s, () -> {
                            k.perturb(dtype, theta, chunks.address(), nc, sc.address(), mAddr, dir, sign[0], s);
                            sign[0] = -sign[0];
                        }, null));
                        if (sign[0] < 0) {
                            k.perturb(dtype, theta, chunks.address(), nc, sc.address(), mAddr, dir, -1f, s);
                        }
                        // the in-place update restores +εu first: take it back after each timed launch
                        out.put("update_" + opt, time(reps, a, b, s,
                                () -> k.update(go, dtype, theta, chunks.address(), nc, sc.address(), mAddr, 0L,
                                        dir, true, s),
                                () -> k.perturb(dtype, theta, chunks.address(), nc, sc.address(), mAddr, dir, -1f, s)));
                    } finally {
                        if (m != null) {
                            m.close();
                        }
                    }
                }
            }
        } catch (RuntimeException e) {
            System.err.println("split: " + e);
        }
        return out;
    }

    private static double time(int reps, CudaEvent a, CudaEvent b, CudaStream s, Runnable body, Runnable after) {
        double[] t = new double[Math.max(1, reps)];
        for (int i = -1; i < t.length; i++) {
            a.record(s);
            body.run();
            b.record(s);
            b.synchronize();
            if (i >= 0) {
                t[i] = b.elapsedMillis(a);
            }
            if (after != null) {
                after.run();
            }
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }

    /** Scalars of step 1 (ε = 1e-3) and two cross-entropy pairs as the forwards would leave them (g = 5). */
    private static void writeScalars(DeviceBuffer sc, GpuOptimizer go, CudaStream s) {
        try (PinnedBuffer p = PinnedBuffer.allocate(ZoScalars.SIZE)) {
            ByteBuffer b = p.slice(0, ZoScalars.SIZE).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < ZoScalars.SIZE; i += 4) {
                b.putInt(i, 0);
            }
            go.writeInputs(b, 1, 0x9E3779B97F4A7C15L, 1e-3f);
            b.putFloat(ZoScalars.CE_PLUS, 2.31f).putFloat(ZoScalars.CE_PLUS + 4, 1f);
            b.putFloat(ZoScalars.CE_MINUS, 2.30f).putFloat(ZoScalars.CE_MINUS + 4, 1f);
            sc.copyFromHost(p.pointer(), 0, ZoScalars.SIZE, s);
            s.synchronize();
        }
    }

    private static DeviceBuffer upload(ByteBuffer bytes, CudaStream s) {
        int n = bytes.remaining();
        DeviceBuffer d = DeviceBuffer.allocate(Math.max(1, n));
        try (PinnedBuffer p = PinnedBuffer.allocate(Math.max(1, n))) {
            p.slice(0, n).put(bytes.duplicate());
            d.copyFromHost(p.pointer(), 0, n, s);
            s.synchronize();
        }
        return d;
    }

    /**
     * Random weights in the model's parameter order without host arrays of the model's size: every tensor is a
     * slice of one host buffer of zeros (ones for norm weights), uploaded into the flat parameter buffer, then the
     * perturb kernel adds 0.02·N(0, 1) noise to every element on the device (GPT-2's init scale).
     */
    public static Parameters randomParameters(LanguageModel lm, DType dtype, long seed) {
        List<ParamSpec> specs = lm.params();
        long largest = 0;
        long largestNorm = 1;
        for (ParamSpec p : specs) {
            if (p.role() == ParamSpec.Role.NORM_WEIGHT) {
                largestNorm = Math.max(largestNorm, p.numel());
            } else {
                largest = Math.max(largest, p.numel());
            }
        }
        ByteBuffer zeros = ByteBuffer.allocateDirect(Math.toIntExact(largest * dtype.bytes()));
        ByteBuffer ones = ByteBuffer.allocateDirect(Math.toIntExact(largestNorm * dtype.bytes()))
                .order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < largestNorm; i++) {
            if (dtype == DType.F32) {
                ones.putFloat(1f);
            } else {
                ones.putShort(DType.floatToBf16(1f));
            }
        }
        List<HostTensor> host = new ArrayList<>();
        for (ParamSpec p : specs) {
            ByteBuffer src = p.role() == ParamSpec.Role.NORM_WEIGHT ? ones : zeros;
            host.add(new HostTensor(p.name(), dtype, p.shape(), src.slice(0, Math.toIntExact(p.numel() * dtype.bytes()))));
        }
        try (CudaOps loader = CudaOps.create(dtype); ZoKernels k = new ZoKernels(loader.device().multiprocessors() * 8)) {
            CudaParameters params = (CudaParameters) loader.createParameters(host, dtype);
            try {
                CudaStream s = loader.stream();
                long[] offsets = new long[params.count()];
                for (int i = 0; i < offsets.length; i++) {
                    offsets[i] = params.offset(i);
                }
                ChunkTable table = ChunkTable.build(specs, offsets, null);
                GpuOptimizer go = GpuOptimizer.of(new ZoSgd.Config(LrSchedule.constant(0)));
                try (DeviceBuffer chunks = upload(table.toBytes(), s); DeviceBuffer sc = DeviceBuffer.allocate(ZoScalars.SIZE);
                     PinnedBuffer p = PinnedBuffer.allocate(ZoScalars.SIZE)) {
                    ByteBuffer b = p.slice(0, ZoScalars.SIZE).order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < ZoScalars.SIZE; i += 4) {
                        b.putInt(i, 0);
                    }
                    go.writeInputs(b, 1, seed, 0.02f);
                    sc.copyFromHost(p.pointer(), 0, ZoScalars.SIZE, s);
                    k.perturb(dtype, params.address(), chunks.address(), table.size(), sc.address(), 0L, go.direction().code,
                            1f, s);
                    s.synchronize();
                }
                return params;
            } catch (RuntimeException e) {
                params.close();
                throw e;
            }
        }
    }

    /**
     * SST-2 prompt classification on {@code batch}'s shape: rows 2x and 2x + 1 are example x's two candidates, the
     * same prompt (row 2x's first seq − 1 tokens) with two different one-token label words at the end; gold
     * alternates. One forward of B rows, B / 2 examples, one answer token a row: MeZO's SST-2 setting.
     */
    static PromptBatch classificationBatch(Batch batch) {
        int b = batch.batch();
        int t = batch.seq();
        if (b % 2 != 0 || t < 2) {
            throw new IllegalArgumentException("classification rows need an even batch and seq >= 2: " + b + "x" + t);
        }
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < b / 2; x++) {
            int[] yes = Arrays.copyOfRange(batch.ids(), 2 * x * t, (2 * x + 1) * t);
            int[] no = yes.clone();
            no[t - 1] = yes[t - 1] == 1 ? 2 : 1;
            ex.add(new EncodedExample("bench" + x, new int[][] {no, yes}, new int[] {t - 1, t - 1}, x % 2));
        }
        return PromptBatch.of(ex, 0);
    }

    /** The mlm rows' loss on an encoder: the masked-LM prompt's mask rows, label words and gold of this batch. */
    static DeviceLoss.MaskedChoices maskedLoss(LanguageModel lm, Batch batch) {
        PromptBatch pb = EncoderShapes.promptBatch(lm.config(), batch.batch() + "x" + batch.seq(), 7);
        if (!java.util.Arrays.equals(pb.batch().ids(), batch.ids())) {
            throw new IllegalArgumentException("the mlm rows need EncoderShapes.promptBatch's batch");
        }
        MaskedChoices c = EncoderShapes.maskedChoices(lm, pb);
        return new DeviceLoss.MaskedChoices(c.rows(), c.tokens(), c.gold());
    }

    /** An encoder's rows time the masked-LM prompt (-mlm), a decoder's lm or -cls: refused in one line otherwise. */
    static void requireObjective(LanguageModel lm, Variant v) {
        boolean encoder = lm instanceof EncoderModel;
        if (encoder != v.mlm()) {
            throw new IllegalArgumentException(encoder
                    ? lm.config().family() + " rows time the masked-LM prompt: variant " + v.name() + "-mlm, not "
                            + v.name()
                    : "variant " + v.name() + ": -mlm needs an encoder (bert-*, roberta-*), not "
                            + lm.config().family());
        }
    }

    static DeviceLoss choices(CandidateChoices c) {
        return new DeviceLoss.Choices(c.targets(), c.seq(), c.firstRow(), c.candidates(), c.gold(),
                c.metric().ordinal(), c.classes());
    }

    public static Batch batch(String shape, int vocab) {
        String[] bt = shape.split("x");
        int b = Integer.parseInt(bt[0]);
        int t = Integer.parseInt(bt[1]);
        SplittableRandom rnd = new SplittableRandom(7);
        int[][] seqs = new int[b][t];
        for (int[] s : seqs) {
            for (int i = 0; i < t; i++) {
                s[i] = rnd.nextInt(vocab);
            }
        }
        return Batch.rightPadded(seqs, 0);
    }

    /**
     * Runs {@code steps} synchronous steps of one variant (for ncu: one warm-up step first); an encoder's -mlm variant
     * steps on the masked-LM prompt batch of its rows.
     */
    static void profile(String model, DType dtype, String shape, Variant v, int steps) {
        LanguageModel lm = Architectures.createModel(StepShapes.config(model));
        requireObjective(lm, v);
        Batch batch = lm instanceof EncoderModel ? EncoderShapes.promptBatch(lm.config(), shape, 7).batch()
                : batch(shape, lm.config().vocabSize());
        DeviceLoss loss = v.mlm() ? maskedLoss(lm, batch) : new DeviceLoss.TokenCrossEntropy(NextTokenTargets.of(batch));
        try (Parameters params = randomParameters(lm, dtype, 42); CudaOps ops = CudaOps.create(dtype);
             DeviceZoStep e = new DeviceZoStep(ops, lm, params, v.optimizer(),
                     new ZoStep.Config(1e-3, 1, v.strategy(), 1, 5, dtype, 1)).useGraph(v.graph())) {
            for (int i = 0; i <= steps; i++) {
                long t0 = System.nanoTime();
                e.submit(List.of(new DeviceZoStep.MicroBatch(batch, loss)));
                List<ZoStep.Result> done = e.drain();
                System.out.printf("%s %s %s step %d: %.3f ms, loss %.4f%n", model, shape, v.name(), i,
                        (System.nanoTime() - t0) / 1e6, done.get(done.size() - 1).loss());
            }
        }
    }

    static DType dtype(String s) {
        switch (s) {
            case "bf16": return DType.BF16;
            case "fp16": case "f16": return DType.F16;
            case "fp32": case "f32": return DType.F32;
            default: throw new IllegalArgumentException("zotune's CUDA step runs in bf16, fp16 or fp32, not " + s);
        }
    }

    private static Map<String, Object> row(String kind, String model, String shape, String dt, String variant,
                                           String reason) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("kind", kind);
        r.put("system", "zotune");
        r.put("model", model);
        r.put("shape", shape);
        r.put("dtype", dt);
        r.put("variant", variant);
        if (reason != null) {
            r.put("reason", reason);
        }
        return r;
    }

    private static double elapsed() {
        return (System.nanoTime() - START) / 1e9;
    }

    private static void emit(Path out, Map<String, Object> r) {
        try {
            String line = JSON.writeValueAsString(r);
            System.out.println(line);
            if (out != null) {
                Files.writeString(out, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + Arrays.toString(args));
            }
            o.put(args[i].substring(2), args[++i]);
        }
        return o;
    }
}
