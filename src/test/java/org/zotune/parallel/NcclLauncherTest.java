package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launchers' NCCL discovery (src/dist/nccl-path.sh, sourced by zotune and run-gpu-tests) run in bash with
 * folders and a stand-in python3 made here: ZOTUNE_NCCL_LIB (a folder or the library file) first, then python's
 * nvidia.nccl lib/ folder, else LD_LIBRARY_PATH as it was; NCCL_NVLS_ENABLE is 0 unless the caller set it.
 */
class NcclLauncherTest {
    private static final Path SCRIPT = Path.of("src/dist/nccl-path.sh");

    @TempDir
    Path dir;

    /** [LD_LIBRARY_PATH, NCCL_NVLS_ENABLE] after sourcing the script with {@code env}. */
    private List<String> source(Map<String, String> env) throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.isRegularFile(SCRIPT), "run from the source tree");
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", ". " + SCRIPT.toAbsolutePath()
                + "; printf '%s\\n%s\\n' \"$LD_LIBRARY_PATH\" \"$NCCL_NVLS_ENABLE\"");
        pb.environment().remove("ZOTUNE_NCCL_LIB");
        pb.environment().remove("NCCL_NVLS_ENABLE");
        pb.environment().remove("ZOTUNE_PYTHON");
        pb.environment().put("LD_LIBRARY_PATH", "/before");
        pb.environment().putAll(env);
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return List.of(out.split("\n", -1)).subList(0, 2);
    }

    private Path lib(String name) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.writeString(d.resolve("libnccl.so.2"), "stand-in");
        return d;
    }

    private Path python(String body) throws IOException {
        Path py = dir.resolve("python-" + Math.abs(body.hashCode()));
        Files.writeString(py, "#!/usr/bin/env bash\n" + body + "\n");
        Files.setPosixFilePermissions(py, PosixFilePermissions.fromString("rwx------"));
        return py;
    }

    @Test
    void theVariableFirstAsFolderOrFile() throws Exception {
        Path env = lib("env");
        Path py = python("echo " + lib("py"));
        assertEquals(List.of(env + ":/before", "0"), source(Map.of("ZOTUNE_NCCL_LIB", env.toString(),
                "ZOTUNE_PYTHON", py.toString())));
        assertEquals(List.of(env + ":/before", "0"), source(Map.of("ZOTUNE_NCCL_LIB",
                env.resolve("libnccl.so.2").toString(), "ZOTUNE_PYTHON", py.toString())));
    }

    @Test
    void thenPythonsPackageElseTheSystem() throws Exception {
        Path pyLib = lib("py");
        assertEquals(List.of(pyLib + ":/before", "0"), source(Map.of("ZOTUNE_PYTHON",
                python("echo " + pyLib).toString())));
        // no package (python fails), or a folder without the library: LD_LIBRARY_PATH as it was
        assertEquals(List.of("/before", "0"), source(Map.of("ZOTUNE_PYTHON", python("exit 1").toString())));
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertEquals(List.of("/before", "0"), source(Map.of("ZOTUNE_PYTHON", python("echo " + empty).toString())));
        assertEquals(List.of("/before", "0"), source(Map.of("ZOTUNE_PYTHON", dir.resolve("no-python").toString())));
    }

    @Test
    void nvlinkMulticastStaysAsTheCallerSetIt() throws Exception {
        assertEquals("1", source(Map.of("NCCL_NVLS_ENABLE", "1", "ZOTUNE_PYTHON", python("exit 1").toString()))
                .get(1));
    }
}
