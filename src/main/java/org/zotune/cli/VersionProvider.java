package org.zotune.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** {@code --version}: the Maven version recorded in the jar (pom.properties), and the Java runtime. */
public final class VersionProvider implements IVersionProvider {
    private static final String POM_PROPERTIES = "/META-INF/maven/org.zotune/zotune/pom.properties";

    @Override
    public String[] getVersion() {
        return new String[] {"zotune " + version(),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vendor", "unknown vendor") + ")"};
    }

    /** The project version, or "development build" when running from target/classes. */
    static String version() {
        try (InputStream in = VersionProvider.class.getResourceAsStream(POM_PROPERTIES)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version");
                if (v != null) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall through: the version is informative only
        }
        String impl = VersionProvider.class.getPackage().getImplementationVersion();
        return impl != null ? impl : "(development build)";
    }
}
