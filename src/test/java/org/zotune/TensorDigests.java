package org.zotune;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import org.zotune.tensor.HostTensor;

/** SHA-256 of tensors for regression records: per tensor its name, dtype, shape and bytes, in the order given. */
public final class TensorDigests {
    private TensorDigests() {
    }

    public static String sha256(Iterable<HostTensor> tensors) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (HostTensor x : tensors) {
                md.update((x.name() + " " + x.dtype() + " " + Arrays.toString(x.shape()) + "\n")
                        .getBytes(StandardCharsets.UTF_8));
                md.update(x.bytes().duplicate());
            }
            StringBuilder s = new StringBuilder();
            for (byte v : md.digest()) {
                s.append(String.format("%02x", v));
            }
            return s.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
