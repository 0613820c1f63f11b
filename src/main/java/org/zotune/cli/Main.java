package org.zotune.cli;

import java.io.PrintWriter;
import org.zotune.ZotuneException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IModelTransformer;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code zotune} command line. Errors in the user's input (a {@link ZotuneException} or a bad flag) print
 * one line {@code zotune: <message>} on stderr and exit with 2; anything unexpected exits with 1, again as one
 * line; {@code --verbose} adds the stack trace.
 */
@Command(name = "zotune",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        modelTransformer = Main.ErrorHandling.class,
        description = "Zeroth-order fine-tuning and inference of transformer language models, from Java.",
        subcommands = {PerplexityCommand.class, GenerateCommand.class, FunctionsCommand.class, TrainCommand.class,
                EvalCommand.class, ReplayCommand.class, DemoCommand.class, PlotCommand.class,
                FillMaskCommand.class, EmbedCommand.class, ClassifyCommand.class, MergeCommand.class,
                CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:internal error (a bug: please report it with --verbose output)",
                "2:bad input: a flag, a file or a model that cannot be used (the message says which)"})
public final class Main implements Runnable {
    /** Exit code for problems with the user's input. */
    public static final int EXIT_USAGE = 2;
    /** Exit code for internal errors. */
    public static final int EXIT_INTERNAL = 1;

    @Spec
    CommandSpec spec;

    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "Print stack traces with error messages, and the libraries' log lines.")
    boolean verbose;

    public static void main(String[] args) {
        int code;
        try {
            code = new CommandLine(new Main()).execute(args);
        } catch (Throwable t) { // errors (OutOfMemoryError, ...) escape picocli's handlers: still one line
            System.err.println("zotune: internal error: " + describe(t));
            if (verboseIn(args)) {
                t.printStackTrace();
            }
            code = EXIT_INTERNAL;
        }
        System.exit(code);
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(),
                "missing command: choose one of " + String.join(", ", commandNames()));
    }

    private String[] commandNames() {
        return spec.subcommands().keySet().stream().filter(n -> !n.equals("help")).toArray(String[]::new);
    }

    static String describe(Throwable t) {
        String msg = t.getMessage();
        return t.getClass().getSimpleName() + (msg == null ? "" : ": " + firstLine(msg));
    }

    static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    static boolean verboseIn(String[] args) {
        for (String a : args) {
            if (a.equals("--")) {
                return false;
            }
            if (a.equals("--verbose")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Installs the one-line error handlers on the command line being built, so that every
     * {@code new CommandLine(new Main())} (the launcher and the tests alike) reports errors the same way.
     */
    public static final class ErrorHandling implements IModelTransformer, IParameterExceptionHandler,
            IExecutionExceptionHandler {

        @Override
        public CommandSpec transform(CommandSpec spec) {
            CommandLine cl = spec.commandLine();
            if (cl != null) {
                cl.setParameterExceptionHandler(this);
                cl.setExecutionExceptionHandler(this);
                cl.setExecutionStrategy(parseResult -> {
                    boolean verbose = false;
                    for (ParseResult pr = parseResult; pr != null; pr = pr.subcommand()) {
                        verbose |= pr.hasMatchedOption("--verbose");
                    }
                    Logging.install(verbose);
                    return new CommandLine.RunLast().execute(parseResult);
                });
            }
            return spec;
        }

        @Override
        public int handleParseException(ParameterException ex, String[] args) {
            CommandLine cl = ex.getCommandLine();
            PrintWriter err = cl.getErr();
            String msg = firstLine(String.valueOf(ex.getMessage()));
            if (msg.startsWith("Error: ")) {
                msg = msg.substring("Error: ".length());
            }
            err.println("zotune: " + msg + " (see '" + cl.getCommandSpec().qualifiedName() + " --help')");
            if (verboseIn(args)) {
                ex.printStackTrace(err);
            }
            err.flush();
            return EXIT_USAGE;
        }

        @Override
        public int handleExecutionException(Exception ex, CommandLine cl, ParseResult parseResult) {
            PrintWriter err = cl.getErr();
            boolean verbose = false;
            for (ParseResult pr = parseResult; pr != null; pr = pr.subcommand()) {
                verbose |= pr.hasMatchedOption("--verbose");
            }
            int code;
            if (ex instanceof ZotuneException) {
                err.println("zotune: " + firstLine(String.valueOf(ex.getMessage())));
                code = EXIT_USAGE;
            } else {
                err.println("zotune: internal error: " + describe(ex)
                        + (verbose ? "" : " (run with --verbose for the stack trace)"));
                code = EXIT_INTERNAL;
            }
            if (verbose) {
                ex.printStackTrace(err);
            }
            err.flush();
            return code;
        }
    }
}
