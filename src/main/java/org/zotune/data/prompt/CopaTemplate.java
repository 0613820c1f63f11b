package org.zotune.data.prompt;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;

/**
 * COPA as MeZO prompts decoder LMs: the premise without its final period, then " so " (question = effect) or
 * " because " (cause), then the choice with its first word lower-cased unless that word is "I". Example: premise
 * "The item was packaged in bubble wrap.", cause, choice "It was fragile." gives the candidate
 * "The item was packaged in bubble wrap because it was fragile." and the prompt
 * "The item was packaged in bubble wrap because".
 */
public final class CopaTemplate implements PromptTemplate {

    @Override
    public String name() {
        return "copa";
    }

    @Override
    public void check(Dataset data) {
        if (data.kind() != Dataset.Kind.MULTIPLE_CHOICE) {
            throw new ZotuneException("template 'copa' on data set " + data.name() + ": needs multiple-choice data "
                    + "(premise, question, two choices), the data set is " + data.kind());
        }
        Example e = data.get(0);
        for (String f : List.of("premise", "question")) {
            if (!e.fields().containsKey(f)) {
                throw new ZotuneException("template 'copa' on data set " + data.name() + ": the data set has no field '"
                        + f + "' (fields: " + data.inputFields() + ")");
            }
        }
    }

    @Override
    public Prompted render(Example example) {
        String premise = example.field("premise").stripTrailing();
        if (premise.endsWith(".")) {
            premise = premise.substring(0, premise.length() - 1);
        }
        String question = example.field("question");
        String conj = switch (question) {
            case "effect" -> " so ";
            case "cause" -> " because ";
            default -> throw new ZotuneException(example.source() + ": COPA question must be cause or effect, not '"
                    + question + "'");
        };
        String context = premise + conj;
        List<String> candidates = new ArrayList<>();
        for (String option : example.options()) {
            candidates.add(context + lowerFirstWord(option));
        }
        return new Prompted(example.source(), PatternTemplate.stripTrailingSpaces(context), candidates,
                example.label());
    }

    static String lowerFirstWord(String s) {
        int sp = s.indexOf(' ');
        String first = sp < 0 ? s : s.substring(0, sp);
        if (first.equals("I")) {
            return s;
        }
        return first.toLowerCase(java.util.Locale.ROOT) + (sp < 0 ? "" : s.substring(sp));
    }
}
