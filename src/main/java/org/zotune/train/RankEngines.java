package org.zotune.train;

import java.io.PrintWriter;
import java.util.List;
import java.util.function.IntFunction;
import org.zotune.ZotuneException;
import org.zotune.cuda.Cuda;
import org.zotune.model.LanguageModel;
import org.zotune.parallel.NcclGroup;
import org.zotune.parallel.NcclLibrary;
import org.zotune.parallel.ProcessGroup;
import org.zotune.parallel.ProcessLaunch;
import org.zotune.peft.Adapter;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Parallel;
import org.zotune.train.objective.Objective;
import org.zotune.zo.cuda.DeviceCollective;

/**
 * The engine of one process of a run over several processes or hosts ({@code parallel.world_size} > 1): this rank's
 * CUDA engine on its GPU ({@link ProcessLaunch#localDevice}), joined to the other ranks through
 * {@link ProcessGroup#join}, inside a {@link DataParallelEngine} of one local replica: every process runs the same
 * steps and seeds, evaluates its rank's examples of each micro-batch ({@code Shards}) or its SPSA samples, the loss
 * sums are added over the ranks (inside the captured step where the objective's device loss is a sum, as with
 * {@code parallel.gpus}, so that W processes give the bits of {@code gpus} W), the update is the same everywhere, and
 * the parameter checksums are compared across the processes.
 */
final class RankEngines {
    /**
     * Test only: makes rank R's group without NCCL (an in-process stand-in shared by trainers on threads), so that
     * the CPU tests run the multi-process path on CPU engines; null in every real run.
     */
    static volatile IntFunction<ProcessGroup> standIn;

    private RankEngines() {
    }

    /** Fails with one line when this process's part of the run cannot run (before anything is written). */
    static void require(TrainConfig c) {
        Parallel p = c.parallel();
        int w = p.worldSize();
        if (w <= 1 && p.init() == null) {
            return;
        }
        String key = "parallel.world_size " + w;
        if (standIn == null) {
            ProcessGroup.requireDevice(w, c.device()); // one rank with an init joins through NCCL too
        }
        if (p.splitKind() == DataParallelEngine.Split.SAMPLES) {
            if (c.q() < w) {
                throw new ZotuneException(key + ": parallel.split samples: q " + c.q() + " gives some rank no SPSA "
                        + "sample; use q >= world_size or split batch");
            }
            requireUsableDevice(c, key);
            return; // every rank evaluates whole batches: any objective, any batch size
        }
        if (c.objective().equals("f1")) {
            throw new ZotuneException(key + ": objective f1 cannot be split over processes (F1 is not a sum over "
                    + "examples); use objective accuracy");
        }
        if (c.batchSize() < w) {
            throw new ZotuneException(key + ": batch_size " + c.batchSize() + " gives some rank no example; use "
                    + "batch_size >= world_size");
        }
        requireUsableDevice(c, key);
    }

    private static void requireUsableDevice(TrainConfig c, String key) {
        if (standIn == null && c.device().equals("auto") && !Cuda.availability().usable()) {
            throw new ZotuneException(key + ": no usable CUDA device (" + Cuda.availability().reason() + "); several "
                    + "processes need one GPU each");
        }
    }

    static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            boolean[] trainable, Objective objective, PrintWriter log) {
        require(c);
        Parallel par = c.parallel();
        int rank = par.rank();
        int w = par.worldSize();
        IntFunction<ProcessGroup> test = standIn;
        if (test != null) {
            log.println("parallel: rank " + rank + " of " + w + " (in-process stand-in, CPU engine)");
            return ZoEngines.adaptersCompared(new DataParallelEngine(test.apply(rank), par.workerTimeout(),
                    par.splitKind(), objective, par.checksumEvery(), (r, o, x) -> {
                        CpuZoEngine e = ZoEngines.cpu(c, model, initial, adapter, trainable, o);
                        if (x != null) {
                            e.spreadSamples(x);
                        }
                        return e;
                    }), adapter);
        }
        ZoEngines.requireDevice("cuda");
        NcclLibrary.load(); // one line saying where it looked when NCCL is missing
        int device = ProcessLaunch.localDevice(rank, par.localRank(), Cuda.deviceCount());
        ProcessLaunch.Init init = ProcessLaunch.parseInit(par.init());
        // as parallel.gpus does: NCCL's all-gather inside the captured step where the objective allows (NCCL 2.9 on)
        boolean ncclInGraph = NcclGroup.version() >= ZoEngines.GRAPH_NCCL;
        log.println("parallel: rank " + rank + " of " + w + " on GPU " + device + ", rendezvous " + init + ", NCCL "
                + NcclGroup.version() + (ncclInGraph && !"false".equals(System.getProperty(ZoEngines.GRAPH_PROPERTY))
                ? " inside the captured step where the objective's device loss allows" : " (eager steps)")
                + " (checksums every " + par.checksumEvery() + " steps)");
        log.flush();
        Cuda.useDevice(device);
        ProcessGroup group = ProcessGroup.join(init, rank, w, device, par.workerTimeout());
        DeviceCollective inStep = ncclInGraph ? group.deviceCollective() : null;
        return ZoEngines.adaptersCompared(new DataParallelEngine(group, par.workerTimeout(), par.splitKind(), objective,
                par.checksumEvery(), (r, o, x) -> {
                    Cuda.useDevice(device);
                    CudaZoEngine e = ZoEngines.cuda(c, model, initial, adapter, trainable, o);
                    try {
                        if (x != null) {
                            e.spreadSamples(inStep, x); // null: the ℓ± exchanged through the host, the eager step
                        } else if (inStep != null) {
                            e.spreadBatch(inStep, objective);
                        }
                    } catch (RuntimeException ex) {
                        e.close();
                        throw ex;
                    }
                    return new OnDevice(device, e);
                }), adapter);
    }
}
