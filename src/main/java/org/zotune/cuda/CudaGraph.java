package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;

/**
 * Work captured from a stream ({@code cudaStreamCaptureModeThreadLocal}) and instantiated once; each
 * {@link #replay} launches the whole sequence with one call. Kernel arguments are frozen at capture:
 * values that change between replays must live in device memory the captured kernels read.
 */
public final class CudaGraph implements AutoCloseable {
    private CUgraph_st graph;
    private CUgraphExec_st exec;

    private CudaGraph(CUgraph_st graph, CUgraphExec_st exec) {
        this.graph = graph;
        this.exec = exec;
    }

    /** Runs {@code body} (which enqueues work on {@code stream}) under capture. */
    public static CudaGraph capture(CudaStream stream, Runnable body) {
        Cuda.check(cudaStreamBeginCapture(stream.handle(), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        CUgraph_st g = new CUgraph_st();
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            int rc = cudaStreamEndCapture(stream.handle(), g);
            if (rc == cudaSuccess && !g.isNull()) {
                cudaGraphDestroy(g);
            }
            cudaGetLastError();
            throw e;
        }
        Cuda.check(cudaStreamEndCapture(stream.handle(), g), "cudaStreamEndCapture");
        CUgraphExec_st x = new CUgraphExec_st();
        int rc = cudaGraphInstantiate(x, g, 0L);
        if (rc != cudaSuccess) {
            cudaGraphDestroy(g);
            Cuda.check(rc, "cudaGraphInstantiate");
        }
        return new CudaGraph(g, x);
    }

    /** Enqueues one replay on {@code stream} (asynchronous). */
    public void replay(CudaStream stream) {
        if (exec == null) {
            throw new IllegalStateException("graph is closed");
        }
        Cuda.check(cudaGraphLaunch(exec, stream.handle()), "cudaGraphLaunch");
    }

    @Override
    public void close() {
        if (exec != null) {
            Cuda.check(cudaGraphExecDestroy(exec), "cudaGraphExecDestroy");
            exec = null;
        }
        if (graph != null) {
            Cuda.check(cudaGraphDestroy(graph), "cudaGraphDestroy");
            graph = null;
        }
    }
}
