package org.zotune.data.prompt;

import org.zotune.data.Dataset;
import org.zotune.data.Example;

/** Turns examples of a data set into prompts and candidate texts. */
public interface PromptTemplate {
    String name();

    /**
     * Checks that the template fits the data set (its kind, fields and labels); throws a one-line
     * {@link org.zotune.ZotuneException} naming the template, the data set and what does not match.
     */
    void check(Dataset data);

    Prompted render(Example example);
}
