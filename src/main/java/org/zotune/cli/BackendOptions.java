package org.zotune.cli;

import java.util.Locale;
import org.zotune.tensor.DType;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** Where and in which precision a command runs: {@code --device}, {@code --dtype}. */
public final class BackendOptions {

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            converter = DeviceConverter.class,
            description = "Backend: cpu (pure-Java reference), cuda (first GPU), or auto (CUDA when a device is "
                    + "usable, else the CPU with a message). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--dtype", paramLabel = "f32|bf16|f16", defaultValue = "f32", converter = DTypeConverter.class,
            description = "Parameter and activation dtype; bf16 and f16 accumulate in float32. Default: "
                    + "${DEFAULT-VALUE}.")
    DType dtype;

    /** Accepts cpu, cuda, auto (any case). */
    static final class DeviceConverter implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            String v = value.toLowerCase(Locale.ROOT);
            if (!v.equals("cpu") && !v.equals("cuda") && !v.equals("auto")) {
                throw new TypeConversionException("unknown device '" + value + "' (expected cpu, cuda or auto)");
            }
            return v;
        }
    }

    /** Accepts f32 (float32, fp32), bf16 (bfloat16) and f16 (float16, fp16, half): what the backends compute in. */
    static final class DTypeConverter implements ITypeConverter<DType> {
        @Override
        public DType convert(String value) {
            try {
                return DType.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException("unsupported dtype '" + value + "' (expected f32, bf16 or f16)");
            }
        }
    }
}
