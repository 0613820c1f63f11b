package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;

/**
 * Where zotune looks for libnccl.so.2 (NcclLibrary.locate), on folders made here: ZOTUNE_NCCL_LIB (file or folder;
 * set and wrong is an error, not a fallback), then LD_LIBRARY_PATH, then python3's nvidia.nccl lib/ folders (asked
 * only when the earlier places fail), then the system folders; not found is one line listing every place.
 */
class NcclLibraryTest {
    @TempDir
    Path dir;

    private Path folderWithLib(String name) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.writeString(d.resolve(NcclLibrary.FILE), "not a real library: only found, never loaded here");
        return d;
    }

    @Test
    void theEnvironmentVariableWinsAndNamesAFileOrAFolder() throws IOException {
        Path env = folderWithLib("env");
        Path ld = folderWithLib("ld");
        AtomicInteger asked = new AtomicInteger();
        NcclLibrary.Located byFolder = NcclLibrary.locate(Map.of(NcclLibrary.ENV, env.toString(), "LD_LIBRARY_PATH",
                ld.toString()), () -> {
                    asked.incrementAndGet();
                    return List.of();
                }, List.of());
        assertEquals(env.resolve(NcclLibrary.FILE).toAbsolutePath(), byFolder.library());
        NcclLibrary.Located byFile = NcclLibrary.locate(Map.of(NcclLibrary.ENV,
                env.resolve(NcclLibrary.FILE).toString()), List::of, List.of());
        assertEquals(env.resolve(NcclLibrary.FILE).toAbsolutePath(), byFile.library());
        assertEquals(0, asked.get(), "python is not asked when the variable names the library");
    }

    @Test
    void aSetVariableWithoutTheLibraryIsAnErrorNotAFallback() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Path ld = folderWithLib("ld");
        ZotuneException e = assertThrows(ZotuneException.class, () -> NcclLibrary.locate(Map.of(NcclLibrary.ENV,
                empty.toString(), "LD_LIBRARY_PATH", ld.toString()), List::of, List.of()));
        assertEquals(NcclLibrary.ENV + "=" + empty + ": no libnccl.so.2 there (name the library file or the folder "
                + "that holds it)", e.getMessage());
    }

    @Test
    void libraryPathThenPythonThenSystemInThatOrder() throws IOException {
        Path ld = folderWithLib("ld");
        Path py = folderWithLib("py");
        Path sys = folderWithLib("sys");
        Path none = Files.createDirectories(dir.resolve("none"));
        AtomicInteger asked = new AtomicInteger();
        assertEquals(ld.resolve(NcclLibrary.FILE).toAbsolutePath(), NcclLibrary.locate(
                Map.of("LD_LIBRARY_PATH", none + "::" + ld), () -> {
                    asked.incrementAndGet();
                    return List.of(py);
                }, List.of(sys)).library());
        assertEquals(0, asked.get(), "python is asked only when LD_LIBRARY_PATH has no NCCL");
        assertEquals(py.resolve(NcclLibrary.FILE).toAbsolutePath(), NcclLibrary.locate(
                Map.of("LD_LIBRARY_PATH", none.toString()), () -> List.of(none, py), List.of(sys)).library());
        assertEquals(sys.resolve(NcclLibrary.FILE).toAbsolutePath(), NcclLibrary.locate(
                Map.of(), () -> List.of(none), List.of(none, sys)).library());
    }

    @Test
    void notFoundSaysWhereItLookedAndHowToPointThere() throws IOException {
        Path none = Files.createDirectories(dir.resolve("none"));
        NcclLibrary.Located l = NcclLibrary.locate(Map.of("LD_LIBRARY_PATH", none.toString()), List::of,
                List.of(none));
        assertNull(l.library());
        String msg = NcclLibrary.notFound(l.looked());
        assertEquals("NCCL (libnccl.so.2) not found; looked in: ZOTUNE_NCCL_LIB (unset); LD_LIBRARY_PATH " + none
                + "; python3's nvidia.nccl (not installed); [" + none + "]. Install it (pip install nvidia-nccl-cu13) "
                + "or set ZOTUNE_NCCL_LIB to the library or its folder", msg);
        assertTrue(!msg.contains("\n"), "one line");
        NcclLibrary.Located withPython = NcclLibrary.locate(Map.of(), () -> List.of(none), List.of());
        assertTrue(NcclLibrary.notFound(withPython.looked()).contains("LD_LIBRARY_PATH (unset); python3's "
                + "nvidia.nccl [" + none + "]"), NcclLibrary.notFound(withPython.looked()));
    }
}
