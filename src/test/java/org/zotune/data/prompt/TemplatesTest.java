package org.zotune.data.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.ReadOptions;
import org.zotune.data.io.LabelSentenceReader;
import org.zotune.data.io.SuperGlueReader;
import org.zotune.data.io.SuperGlueReader.Task;
import org.zotune.data.io.TableReader;

/** Built-in templates rendered on the first example of the real files; template/verbalizer validation. */
class TemplatesTest {

    private static Prompted first(String template, Dataset d) {
        PromptTemplate t = Templates.builtin(template);
        t.check(d);
        return t.render(d.get(0));
    }

    private static Dataset sg(String task) {
        Path p = TestData.file("datasets/superglue/" + task + "/fewglue-val.jsonl");
        return SuperGlueReader.read(p, SuperGlueReader.task(task), ReadOptions.STRICT);
    }

    @Test
    void sst2() {
        Dataset dev = TableReader.sst2(TestData.file("datasets/sst2-glue/dev.tsv"), ReadOptions.STRICT);
        Prompted p = first("sst2", dev);
        String s = "it 's a charming and often affecting journey .";
        assertEquals(s + " It was", p.prompt());
        assertEquals(List.of(s + " It was terrible", s + " It was great"), p.candidates());
        assertEquals(1, p.gold());
    }

    @Test
    void sst5AndTrec() {
        Dataset sst5 = LabelSentenceReader.read(TestData.file("datasets/sst5/stsa.fine.dev"), 5, ReadOptions.STRICT);
        Prompted p = first("sst-5", sst5);
        String s = "in his first stab at the form , jacquot takes a slightly anarchic approach that works only "
                + "sporadically .";
        assertEquals(s + " It was okay", p.candidates().get(2));
        assertEquals(5, p.candidates().size());
        assertEquals(2, p.gold());
        Dataset trec = LabelSentenceReader.read(TestData.file("datasets/trec/TREC.test.all"), 6, ReadOptions.STRICT);
        Prompted q = first("trec", trec);
        assertEquals("How far is it from Denver to Aspen ? Answer type:", q.prompt());
        assertEquals("How far is it from Denver to Aspen ? Answer type: Number", q.candidates().get(q.gold()));
    }

    @Test
    void rteCbBoolqWicCopa() {
        Prompted rte = first("rte", sg("RTE"));
        String prem = "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, "
                + "according to the Christopher Reeve Foundation.";
        assertEquals(prem + "\nDoes this mean that \"Christopher Reeve had an accident.\" is true? Yes or No?\n",
                rte.prompt());
        assertEquals(rte.prompt() + "No", rte.candidates().get(rte.gold())); // not_entailment
        assertEquals(rte.prompt() + "Yes", rte.candidates().get(0));

        Prompted cb = first("cb", sg("CB"));
        assertEquals("Suppose Valence the void-brain, Valence the virtuous valet. Why couldn't the figger choose his own "
                + "portion of titanic anatomy to shaft? Did he think he was helping? Can we infer that \"Valence was "
                + "helping\"? Yes, No, or Maybe?\n", cb.prompt());
        assertEquals(List.of(cb.prompt() + "Yes", cb.prompt() + "No", cb.prompt() + "Maybe"), cb.candidates());
        assertEquals(1, cb.gold()); // contradiction -> No

        Prompted boolq = first("boolq", sg("BoolQ"));
        assertTrue(boolq.prompt().startsWith("Ethanol fuel -- All biomass goes through"), boolq.prompt());
        assertTrue(boolq.prompt().endsWith(" Does ethanol take more energy make that produces?\n"), boolq.prompt());
        assertEquals(boolq.prompt() + "No", boolq.candidates().get(0));

        Prompted wic = first("wic", sg("WiC"));
        assertEquals("Does the word \"class\" have the same meaning in these two sentences? Yes, No?\n"
                + "An emerging professional class.\nApologizing for losing your temper, even though you were badly "
                + "provoked, showed real class.\n", wic.prompt());
        assertEquals(wic.prompt() + "No", wic.candidates().get(wic.gold()));

        Prompted copa = first("copa", sg("COPA"));
        assertEquals("The man turned on the faucet so", copa.prompt());
        assertEquals(List.of("The man turned on the faucet so the toilet filled with water.",
                "The man turned on the faucet so water flowed from the spout."), copa.candidates());
        assertEquals(1, copa.gold());
        assertEquals("I went home.", CopaTemplate.lowerFirstWord("I went home."));
    }

    @Test
    void zotuneJsonlWithBuiltinAndUserTemplates(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path mcFile = dir.resolve("mc.jsonl");
        java.nio.file.Files.writeString(mcFile, "{\"context\": \"The sky is\", \"options\": [\"green\", \"blue\"], "
                + "\"answer\": 1}\n");
        Dataset mc = org.zotune.data.io.ZotuneJsonlReader.read(mcFile, ReadOptions.STRICT);
        Prompted p = first("mc", mc);
        assertEquals("The sky is", p.prompt());
        assertEquals(List.of("The sky is green", "The sky is blue"), p.candidates());
        assertEquals(1, p.gold());
        Path clsFile = dir.resolve("cls.jsonl");
        java.nio.file.Files.writeString(clsFile, "{\"text\": \"I loved it\", \"label\": \"pos\"}\n"
                + "{\"text\": \"Dull.\", \"label\": \"neg\"}\n");
        Dataset cls = org.zotune.data.io.ZotuneJsonlReader.read(clsFile, ReadOptions.STRICT);
        PatternTemplate t = new PatternTemplate("review", "Review: {text}\nSentiment: {label}",
                Map.of("pos", "positive", "neg", "negative"));
        t.check(cls);
        Prompted q = t.render(cls.get(1));
        assertEquals("Review: Dull.\nSentiment:", q.prompt());
        assertEquals(List.of("Review: Dull.\nSentiment: negative", "Review: Dull.\nSentiment: positive"),
                q.candidates()); // label order: neg, pos
        assertEquals(0, q.gold());
    }

    private static Dataset rte() {
        return sg("RTE");
    }

    @Test
    void userTemplatesAreValidated() {
        // read the data first: a skip (shared data absent) must not happen inside assertThrows
        var rte = rte();
        var copa = sg("COPA");
        Map<String, String> yesNo = new LinkedHashMap<>();
        yesNo.put("entailment", "Yes");
        yesNo.put("not_entailment", "No");
        // missing placeholder for a field of the data set
        PatternTemplate noHyp = new PatternTemplate("mine", "{premise} Right? {label}", yesNo);
        ZotuneException e = assertThrows(ZotuneException.class, () -> noHyp.check(rte));
        assertTrue(e.getMessage().endsWith("the template lacks the placeholder {hypothesis} for the data set's field "
                + "'hypothesis'"), e.getMessage());
        // a placeholder the data set has no field for
        PatternTemplate typo = new PatternTemplate("mine", "{premise} {hypotesis} {label}", yesNo);
        e = assertThrows(ZotuneException.class, () -> typo.check(rte));
        assertTrue(e.getMessage().contains("placeholder {hypotesis} is not a field of the data set"), e.getMessage());
        // a label without a verbalizer word, and a verbalizer label the data set lacks
        PatternTemplate partial = new PatternTemplate("mine", "{premise} {hypothesis} {label}", Map.of("entailment",
                "Yes"));
        e = assertThrows(ZotuneException.class, () -> partial.check(rte));
        assertTrue(e.getMessage().endsWith("label 'not_entailment' has no verbalizer word (verbalizer labels: "
                + "[entailment])"), e.getMessage());
        Map<String, String> extra = new LinkedHashMap<>(yesNo);
        extra.put("neutral", "Maybe");
        PatternTemplate tooMany = new PatternTemplate("mine", "{premise} {hypothesis} {label}", extra);
        e = assertThrows(ZotuneException.class, () -> tooMany.check(rte));
        assertTrue(e.getMessage().endsWith("verbalizer label 'neutral' is not a label of the data set (labels: "
                + "[entailment, not_entailment])"), e.getMessage());
        // pattern syntax
        assertMessage("must end with {label} (classification) or {option}",
                () -> new PatternTemplate("x", "{premise} {label} now", yesNo));
        assertMessage("unclosed '{' at character 1", () -> new PatternTemplate("x", "{premise {label}", yesNo));
        assertMessage("no {field} placeholder", () -> new PatternTemplate("x", "It was {label}", yesNo));
        assertMessage("{label} needs a verbalizer", () -> new PatternTemplate("x", "{premise} {label}", Map.of()));
        assertMessage("have the same verbalizer word 'Yes'",
                () -> new PatternTemplate("x", "{premise} {label}", Map.of("a", "Yes", "b", "Yes")));
        // a classification template on multiple-choice data
        e = assertThrows(ZotuneException.class, () -> Templates.builtin("rte").check(copa));
        assertTrue(e.getMessage().contains("slot is for CLASSIFICATION data, the data set is MULTIPLE_CHOICE"));
        assertMessage("unknown built-in template 'sst3'", () -> Templates.builtin("sst3"));
        // a working user template with literal braces
        PatternTemplate ok = new PatternTemplate("mine", "{{P}} {premise} => {hypothesis}? {label}", yesNo);
        ok.check(rte);
        assertTrue(ok.render(rte.get(0)).prompt().startsWith("{P} Dana Reeve"));
        assertTrue(ok.render(rte.get(0)).prompt().endsWith("=> Christopher Reeve had an accident.?"));
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable ex) {
        ZotuneException e = assertThrows(ZotuneException.class, ex);
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertFalse(e.getMessage().contains("\n") && !e.getMessage().contains("\\n"), e.getMessage());
    }
}
