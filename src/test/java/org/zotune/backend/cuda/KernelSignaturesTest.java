package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.zotune.zo.cuda.ZoKernels;

/**
 * Every launch signature the Java side types a kernel with ({@link CudaOps#kernelSignatures()},
 * {@link ZoKernels#signatures()}) against the kernel's {@code extern "C"} declaration in native/kernels/*.cu: same
 * name, same number of parameters, same kind each (p pointer, i 32-bit integer, l 64-bit integer, f float,
 * d double); and no declared kernel without a launcher. A wrong letter would pass a wrong-sized value to
 * cuLaunchKernel, which nothing checks at run time. The declarations are read after expanding the files'
 * function-like macros (ZT_FLASH, ZO_UPDATE, ...), as the preprocessor would.
 */
class KernelSignaturesTest {
    private static final Path KERNELS = Path.of("native", "kernels");

    @Test
    void everyLaunchSignatureMatchesItsDeclaration() throws IOException {
        Map<String, String> declared = declarations();
        Map<String, String> java = new TreeMap<>(CudaOps.kernelSignatures());
        Map<String, String> zo = ZoKernels.signatures();
        for (String name : zo.keySet()) {
            assertTrue(!java.containsKey(name), name + " is launched by both CudaOps and ZoKernels");
        }
        java.putAll(zo);
        List<String> wrong = new ArrayList<>();
        java.forEach((name, sig) -> {
            String d = declared.get(name);
            if (d == null) {
                wrong.add(name + ": no extern \"C\" declaration");
            } else if (!d.equals(sig)) {
                wrong.add(name + ": Java '" + sig + "', declared '" + d + "'");
            }
        });
        assertEquals(List.of(), wrong, "launch signatures that do not match native/kernels");
        List<String> unlaunched = declared.keySet().stream().filter(n -> !java.containsKey(n)).sorted().toList();
        assertEquals(List.of(), unlaunched, "declared kernels no Java launcher registers");
        assertTrue(declared.size() > 100, "found the kernels (" + declared.size() + ")");
    }

    @Test
    void theParserExpandsMacrosAndReadsParameterKinds() {
        String cu = """
                // a comment with __global__ void not_a_kernel(int x)
                #define PAIR(NAME, T, S)                                        \\
                    __global__ void k_##NAME##_##S(const T* a, T* b, int64_t n,  \\
                                                 uint32_t s, double d) {}       \\
                    /* second */ __global__ void __launch_bounds__(128) k2_##NAME##S(float f, int64_t m) {}
                #define BOTH(NAME) PAIR(NAME, float, f32) PAIR(NAME, __half, f16)
                namespace { __global__ void hidden(int x) {} }
                extern "C" {
                BOTH(x)
                __global__ void plain(const int* ids, uint64_t seed, unsigned int k) {}
                }
                """;
        Map<String, String> d = declarationsIn(cu, "test.cu");
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("k_x_f32", "pplid");
        expected.put("k2_xf32", "fl");
        expected.put("k_x_f16", "pplid");
        expected.put("k2_xf16", "fl");
        expected.put("plain", "pli");
        assertEquals(new TreeMap<>(expected), new TreeMap<>(d));
    }

    /** name → signature letters of every kernel declared in native/kernels/*.cu. */
    static Map<String, String> declarations() throws IOException {
        assertTrue(Files.isDirectory(KERNELS), "run from the project root: " + KERNELS.toAbsolutePath());
        Map<String, String> all = new TreeMap<>();
        try (Stream<Path> files = Files.list(KERNELS)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cu")).sorted().toList()) {
                Map<String, String> d = declarationsIn(Files.readString(f), f.getFileName().toString());
                for (Map.Entry<String, String> e : d.entrySet()) {
                    String prev = all.put(e.getKey(), e.getValue());
                    assertTrue(prev == null, e.getKey() + " is declared twice");
                }
            }
        }
        return all;
    }

    private static final Pattern DEFINE = Pattern.compile("^\\s*#\\s*define\\s+(\\w+)\\(([^)]*)\\)(.*)$");
    private static final Pattern KERNEL = Pattern.compile(
            "__global__\\s+void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s*)?(\\w+)\\s*\\(([^)]*)\\)");

    /** The kernels inside the {@code extern "C"} blocks of one .cu file's text. */
    static Map<String, String> declarationsIn(String text, String file) {
        // the preprocessor's order: splice continued lines, drop comments, then directives
        String s = text.replace("\\\r\n", " ").replace("\\\n", " ");
        s = s.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", "");
        Map<String, Macro> macros = new LinkedHashMap<>();
        StringBuilder code = new StringBuilder();
        for (String line : s.split("\n")) {
            Matcher m = DEFINE.matcher(line);
            if (m.matches()) {
                List<String> params = new ArrayList<>();
                for (String p : m.group(2).split(",")) {
                    params.add(p.trim());
                }
                macros.put(m.group(1), new Macro(params, m.group(3)));
            } else if (!line.trim().startsWith("#")) {
                code.append(line).append('\n');
            }
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String block : externCBlocks(code.toString())) {
            String expanded = expand(block, macros);
            Matcher k = KERNEL.matcher(expanded);
            while (k.find()) {
                String prev = out.put(k.group(1), kinds(k.group(2), k.group(1) + " in " + file));
                assertTrue(prev == null, k.group(1) + " is declared twice in " + file);
            }
        }
        return out;
    }

    private record Macro(List<String> params, String body) {
    }

    /** The bodies of every {@code extern "C" { ... }} block. */
    private static List<String> externCBlocks(String code) {
        List<String> blocks = new ArrayList<>();
        Matcher m = Pattern.compile("extern\\s+\"C\"\\s*\\{").matcher(code);
        while (m.find()) {
            int depth = 1;
            int i = m.end();
            for (; i < code.length() && depth > 0; i++) {
                char c = code.charAt(i);
                depth += c == '{' ? 1 : c == '}' ? -1 : 0;
            }
            blocks.add(code.substring(m.end(), i - 1));
        }
        return blocks;
    }

    /** Expands function-like macro invocations until none is left (pasting with ##, empty arguments allowed). */
    private static String expand(String code, Map<String, Macro> macros) {
        if (macros.isEmpty()) {
            return code;
        }
        Pattern call = Pattern.compile("\\b(" + String.join("|", macros.keySet()) + ")\\s*\\(");
        for (int round = 0; round < 16; round++) {
            Matcher m = call.matcher(code);
            if (!m.find()) {
                return code;
            }
            StringBuilder sb = new StringBuilder();
            int last = 0;
            do {
                if (m.start() < last) {
                    continue; // inside the arguments of a call just expanded: the next round rescans it
                }
                int depth = 1;
                int i = m.end();
                List<String> args = new ArrayList<>();
                int argStart = i;
                for (; depth > 0; i++) {
                    char c = code.charAt(i);
                    if (c == '(') {
                        depth++;
                    } else if (c == ')') {
                        depth--;
                    }
                    if ((c == ',' && depth == 1) || depth == 0) {
                        args.add(code.substring(argStart, i).trim());
                        argStart = i + 1;
                    }
                }
                Macro macro = macros.get(m.group(1));
                assertEquals(macro.params().size(), args.size(), "arguments of " + m.group(1) + args);
                sb.append(code, last, m.start()).append(' ').append(substitute(macro, args)).append(' ');
                last = i;
            } while (m.find());
            sb.append(code.substring(last));
            code = sb.toString();
        }
        throw new AssertionError("macros nest more than 16 deep");
    }

    private static String substitute(Macro macro, List<String> args) {
        Pattern param = Pattern.compile("\\b(" + String.join("|", macro.params()) + ")\\b");
        Matcher m = param.matcher(macro.body());
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, Matcher.quoteReplacement(args.get(macro.params().indexOf(m.group(1)))));
        }
        m.appendTail(sb);
        return sb.toString().replaceAll("\\s*##\\s*", "");
    }

    /** The KernelArgs letter of each parameter of a declaration's parameter list. */
    private static String kinds(String params, String where) {
        StringBuilder sig = new StringBuilder();
        if (params.isBlank()) {
            return "";
        }
        for (String p : params.split(",")) {
            String decl = p.trim().replaceAll("\\s+", " ");
            if (decl.contains("*")) {
                sig.append('p');
                continue;
            }
            String type = decl.replaceAll("\\s*\\w+$", "").replace("const ", "").trim(); // drop the name
            switch (type) {
                case "int", "int32_t", "uint32_t", "unsigned", "unsigned int" -> sig.append('i');
                case "int64_t", "uint64_t", "long long", "unsigned long long", "size_t" -> sig.append('l');
                case "float" -> sig.append('f');
                case "double" -> sig.append('d');
                default -> throw new AssertionError(where + ": parameter '" + decl + "' has no KernelArgs kind");
            }
        }
        return sig.toString();
    }
}
