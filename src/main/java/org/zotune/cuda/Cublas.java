package org.zotune.cuda;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.zotune.tensor.DType;

/**
 * A cuBLAS handle bound to one stream, with an explicit workspace (so that graph capture and eager
 * calls behave the same) and the default math mode (no TF32: float32 products stay float32).
 * Matrices are column-major as cuBLAS sees them; device operands are raw addresses. Not thread-safe.
 */
public final class Cublas implements AutoCloseable {
    /** 32 MiB, what cuBLAS recommends on Hopper. */
    public static final long DEFAULT_WORKSPACE = 32L << 20;

    private cublasContext handle;
    private final DeviceBuffer workspace;
    private final CublasLt lt;
    private final FloatPointer alpha = new FloatPointer(1);
    private final FloatPointer beta = new FloatPointer(1);
    private final DevicePointer a = new DevicePointer();
    private final DevicePointer b = new DevicePointer();
    private final DevicePointer c = new DevicePointer();

    private Cublas(cublasContext handle, DeviceBuffer workspace, CublasLt lt) {
        this.handle = handle;
        this.workspace = workspace;
        this.lt = lt;
    }

    public static Cublas create(CudaStream stream, long workspaceBytes) {
        Cuda.require();
        cublasContext h = new cublasContext();
        check(cublasCreate_v2(h), "cublasCreate");
        DeviceBuffer ws = DeviceBuffer.allocate(workspaceBytes);
        CublasLt lt = null;
        try {
            check(cublasSetStream_v2(h, stream.handle()), "cublasSetStream");
            check(cublasSetWorkspace_v2(h, new DevicePointer(ws.address()), workspaceBytes), "cublasSetWorkspace");
            check(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            lt = CublasLt.create(stream, ws.address(), workspaceBytes);
        } catch (RuntimeException e) {
            cublasDestroy_v2(h);
            ws.close();
            throw e;
        }
        return new Cublas(h, ws, lt);
    }

    /** The workspace's size in bytes. */
    public long workspaceBytes() {
        return workspace.bytes();
    }

    /** cuBLASLt on the same stream and workspace, for products with a fused epilogue. */
    public CublasLt lt() {
        handle();
        return lt;
    }

    /** The cudaDataType of a dtype. */
    public static int dataType(DType t) {
        switch (t) {
            case F32: return CUDA_R_32F;
            case BF16: return CUDA_R_16BF;
            case F16: return CUDA_R_16F;
            default: throw new AssertionError(t);
        }
    }

    /**
     * C = alpha·op(A)·op(B) + beta·C (column-major, m×n result, inner dimension k) with fp32
     * accumulation. A and B share a type (f32, bf16 or f16); C may be that type or f32.
     */
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alphaValue,
                     long aAddr, DType aType, int lda, long bAddr, DType bType, int ldb,
                     float betaValue, long cAddr, DType cType, int ldc) {
        gemmEx(transA, transB, m, n, k, alphaValue, aAddr, dataType(aType), lda, bAddr, dataType(bType), ldb,
                betaValue, cAddr, dataType(cType), ldc, CUBLAS_COMPUTE_32F, "cublasGemmEx");
    }

    /**
     * {@link #gemm} of float32 matrices on the TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32: each input keeps 10
     * mantissa bits, products accumulate in float32). Alone it is not a float32 product; MatrixProducts gives it
     * operands split into TF32 parts (3xTF32).
     */
    public void gemmTf32(boolean transA, boolean transB, int m, int n, int k, float alphaValue, long aAddr, int lda,
                         long bAddr, int ldb, float betaValue, long cAddr, int ldc) {
        gemmEx(transA, transB, m, n, k, alphaValue, aAddr, CUDA_R_32F, lda, bAddr, CUDA_R_32F, ldb, betaValue, cAddr,
                CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_TF32, "cublasGemmEx(TF32)");
    }

    private void gemmEx(boolean transA, boolean transB, int m, int n, int k, float alphaValue, long aAddr, int aType,
                        int lda, long bAddr, int bType, int ldb, float betaValue, long cAddr, int cType, int ldc,
                        int compute, String call) {
        alpha.put(0, alphaValue);
        beta.put(0, betaValue);
        check(cublasGemmEx(handle(), transA ? CUBLAS_OP_T : CUBLAS_OP_N, transB ? CUBLAS_OP_T : CUBLAS_OP_N,
                m, n, k, alpha, a.set(aAddr), aType, lda, b.set(bAddr), bType, ldb,
                beta, c.set(cAddr), cType, ldc, compute, CUBLAS_GEMM_DEFAULT), call);
    }

    /** {@link #gemm} over {@code batch} matrices spaced by the given element strides. */
    public void gemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alphaValue,
                                   long aAddr, DType aType, int lda, long strideA,
                                   long bAddr, DType bType, int ldb, long strideB,
                                   float betaValue, long cAddr, DType cType, int ldc, long strideC, int batch) {
        alpha.put(0, alphaValue);
        beta.put(0, betaValue);
        check(cublasGemmStridedBatchedEx(handle(), transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                transB ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, alpha,
                a.set(aAddr), dataType(aType), lda, strideA, b.set(bAddr), dataType(bType), ldb, strideB,
                beta, c.set(cAddr), dataType(cType), ldc, strideC, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "cublasGemmStridedBatchedEx");
    }

    private cublasContext handle() {
        if (handle == null) {
            throw new IllegalStateException("cuBLAS handle is closed");
        }
        return handle;
    }

    static void check(int status, String call) {
        if (status != CUBLAS_STATUS_SUCCESS) {
            BytePointer s = cublasGetStatusString(status);
            throw new CudaException(call, status, s == null || s.isNull() ? "" : s.getString());
        }
    }

    @Override
    public void close() {
        if (handle != null) {
            lt.close();
            check(cublasDestroy_v2(handle), "cublasDestroy");
            handle = null;
            workspace.close();
            alpha.close();
            beta.close();
        }
    }
}
