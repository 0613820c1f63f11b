package org.zotune.model.bert;

import org.zotune.model.Architecture;

/** The encoder architectures for {@link org.zotune.model.ModelFamily}'s registration. */
public final class Encoders {
    private Encoders() {
    }

    public static Architecture bert() {
        return new EncoderArchitecture.BertArchitecture();
    }

    public static Architecture roberta() {
        return new EncoderArchitecture.RobertaArchitecture();
    }
}
