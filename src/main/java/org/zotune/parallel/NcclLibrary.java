package org.zotune.parallel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.zotune.ZotuneException;

/**
 * Finds and loads NCCL's library (libnccl.so.2) before the JavaCPP bindings need it: the CUDA presets carry NCCL's
 * Java side and its JNI library but not NCCL itself, which on the GPU hosts comes with the Python package
 * {@code nvidia-nccl-cu13}. Looked for, in this order: {@code $ZOTUNE_NCCL_LIB} (the library file or its folder; when
 * set it must hold it), the folders of {@code $LD_LIBRARY_PATH} (where the launchers put what they found), the
 * {@code lib/} folder of python3's {@code nvidia.nccl} package, then the usual system folders. The library is loaded
 * by its absolute path, so the JNI library's dependency on {@code libnccl.so.2} resolves to it. The dist launchers
 * {@code bin/zotune} and {@code run-gpu-tests} search the same places in the same order.
 */
public final class NcclLibrary {
    /** The environment variable naming the library file or the folder that holds it. */
    public static final String ENV = "ZOTUNE_NCCL_LIB";
    public static final String FILE = "libnccl.so.2";
    /** Folders searched last (the system's; NCCL from a distribution package or the CUDA toolkit). */
    public static final List<Path> SYSTEM = List.of(Path.of("/usr/lib/x86_64-linux-gnu"), Path.of("/usr/lib64"),
            Path.of("/usr/local/cuda/lib64"), Path.of("/usr/local/lib"), Path.of("/usr/lib"));
    private static final String PYTHON_QUERY = "import os, nvidia.nccl as n\n"
            + "for p in n.__path__: print(os.path.join(p, 'lib'))";

    private static Path loaded;

    private NcclLibrary() {
    }

    /**
     * Where the library was found, or null, and every place looked at (for the message when it was not found).
     */
    public record Located(Path library, List<String> looked) {
    }

    /**
     * Searches the places in order.
     *
     * @param env    the environment ({@code ZOTUNE_NCCL_LIB}, {@code LD_LIBRARY_PATH})
     * @param python the lib/ folders of python3's nvidia.nccl package (asked only when the earlier places fail)
     * @param system the system folders, searched last
     * @throws ZotuneException when {@code ZOTUNE_NCCL_LIB} is set and does not hold the library
     */
    public static Located locate(Map<String, String> env, Supplier<List<Path>> python, List<Path> system) {
        List<String> looked = new ArrayList<>();
        String given = env.get(ENV);
        if (given != null && !given.isBlank()) {
            Path p = Path.of(given.trim());
            Path file = Files.isDirectory(p) ? p.resolve(FILE) : p;
            if (!Files.isRegularFile(file)) {
                throw new ZotuneException(ENV + "=" + given + ": no " + FILE + " there (name the library file or the "
                        + "folder that holds it)");
            }
            return new Located(file.toAbsolutePath(), List.of(ENV + "=" + given));
        }
        looked.add(ENV + " (unset)");
        String ld = env.getOrDefault("LD_LIBRARY_PATH", "");
        for (String d : ld.split(":")) {
            if (!d.isBlank()) {
                Path f = Path.of(d).resolve(FILE);
                if (Files.isRegularFile(f)) {
                    return new Located(f.toAbsolutePath(), looked);
                }
            }
        }
        looked.add(ld.isBlank() ? "LD_LIBRARY_PATH (unset)" : "LD_LIBRARY_PATH " + ld);
        List<Path> py = python.get();
        for (Path d : py) {
            Path f = d.resolve(FILE);
            if (Files.isRegularFile(f)) {
                return new Located(f.toAbsolutePath(), looked);
            }
        }
        looked.add(py.isEmpty() ? "python3's nvidia.nccl (not installed)" : "python3's nvidia.nccl " + py);
        for (Path d : system) {
            Path f = d.resolve(FILE);
            if (Files.isRegularFile(f)) {
                return new Located(f.toAbsolutePath(), looked);
            }
        }
        looked.add(system.toString());
        return new Located(null, looked);
    }

    /** The one line for a library that was not found. */
    public static String notFound(List<String> looked) {
        return "NCCL (" + FILE + ") not found; looked in: " + String.join("; ", looked) + ". Install it (pip install "
                + "nvidia-nccl-cu13) or set " + ENV + " to the library or its folder";
    }

    /** The lib/ folders of python3's nvidia.nccl package, or none (no python3, no package, or no answer in 20 s). */
    public static List<Path> pythonFolders() {
        List<Path> out = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("python3", "-c", PYTHON_QUERY).redirectErrorStream(false)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            p.getOutputStream().close();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return out;
            }
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.exitValue() == 0) {
                for (String line : text.split("\n")) {
                    if (!line.isBlank()) {
                        out.add(Path.of(line.trim()));
                    }
                }
            }
        } catch (IOException e) {
            return out; // no python3
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return out;
    }

    /**
     * Finds and loads libnccl.so.2 once, then NCCL's JavaCPP bindings; returns the library's path. Fails in one line
     * saying where it looked and how to point zotune at the library.
     */
    public static synchronized Path load() {
        if (loaded != null) {
            return loaded;
        }
        Located l = locate(System.getenv(), NcclLibrary::pythonFolders, SYSTEM);
        if (l.library() == null) {
            throw new ZotuneException(notFound(l.looked()));
        }
        try {
            System.load(l.library().toString());
        } catch (UnsatisfiedLinkError e) {
            throw new ZotuneException("NCCL " + l.library() + " could not be loaded: " + e.getMessage());
        }
        try {
            Class.forName("org.bytedeco.cuda.global.nccl", true, NcclLibrary.class.getClassLoader());
        } catch (Throwable t) { // UnsatisfiedLinkError, ExceptionInInitializerError
            Throwable root = t;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            throw new ZotuneException("NCCL's Java bindings (jninccl) could not be loaded with " + l.library() + ": "
                    + root);
        }
        loaded = l.library();
        return loaded;
    }
}
