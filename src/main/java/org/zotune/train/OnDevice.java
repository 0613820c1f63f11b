package org.zotune.train;

import java.util.List;
import java.util.function.Function;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.PromptBatch;
import org.zotune.tensor.HostTensor;

/**
 * A CUDA engine used from any thread: every call first makes the engine's device the calling thread's
 * ({@link Cuda#useDevice}), since a data-parallel engine runs its replicas on pool threads and each replica's
 * streams, buffers and cuBLAS handle belong to one device.
 */
final class OnDevice implements ZoEngine {
    private final int device;
    private final ZoEngine engine;

    OnDevice(int device, ZoEngine engine) {
        this.device = device;
        this.engine = engine;
    }

    @Override
    public StepResult step(List<PromptBatch> microBatches) {
        Cuda.useDevice(device);
        return engine.step(microBatches);
    }

    @Override
    public long stepsDone() {
        return engine.stepsDone();
    }

    @Override
    public <R> R evaluate(Evaluation<R> evaluation) {
        Cuda.useDevice(device);
        return engine.evaluate(evaluation);
    }

    @Override
    public List<HostTensor> exportParameters() {
        Cuda.useDevice(device);
        return engine.exportParameters();
    }

    @Override
    public <R> R withParameters(Function<List<HostTensor>, R> use) {
        Cuda.useDevice(device);
        return engine.withParameters(use);
    }

    @Override
    public Lease<State> lendState() {
        Cuda.useDevice(device);
        return engine.lendState();
    }

    @Override
    public long parameterChecksum() {
        Cuda.useDevice(device);
        return engine.parameterChecksum();
    }

    @Override
    public long skippedSteps() {
        return engine.skippedSteps();
    }

    @Override
    public State state() {
        Cuda.useDevice(device);
        return engine.state();
    }

    @Override
    public void restore(State state) {
        Cuda.useDevice(device);
        engine.restore(state);
    }

    @Override
    public void verifyReplicas() {
        Cuda.useDevice(device);
        engine.verifyReplicas();
    }

    @Override
    public long graphCaptures() {
        return engine.graphCaptures();
    }

    @Override
    public String device() {
        return engine.device();
    }

    @Override
    public void close() {
        Cuda.useDevice(device);
        engine.close();
    }
}
