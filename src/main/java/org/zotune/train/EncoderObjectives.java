package org.zotune.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.model.SequenceClassifier;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Data;
import org.zotune.train.config.Peft;
import org.zotune.train.objective.HeadClassification;
import org.zotune.train.objective.HeadOptions;
import org.zotune.train.objective.LabelDescriptions;
import org.zotune.train.objective.LabelSimilarity;
import org.zotune.train.objective.Objective;
import org.zotune.train.objective.SimilarityOptions;

/**
 * The run-config side of the encoder objectives that embed examples (ALGORITHMS.md §6): objective similarity (label
 * descriptions from key similarity.labels or the task's built-in ones) and objective head (a {@link
 * SequenceClassifier} whose zero-initialised head joins the trainable set: with every encoder weight, or alone as a
 * linear probe).
 */
final class EncoderObjectives {
    private EncoderObjectives() {
    }

    /**
     * Objective head trains the head with the body, alone (a linear probe), or beside LoRA adapters or a prefix
     * (trained in full, as PEFT's SEQ_CLS saves its classifier: modules_to_save).
     */
    static void requireTrainable(TrainConfig c) {
        if (c.objectiveKind() == TrainConfig.ObjectiveKind.HEAD && c.head().linearProbe()
                && c.peft().methodKind() != Peft.Method.FULL) {
            throw new ZotuneException("head.linear_probe trains the head alone, and peft.method " + c.peft().method()
                    + " trains the head beside " + (c.peft().methodKind() == Peft.Method.LORA ? "LoRA adapters"
                    : "a prefix") + ": use one of them");
        }
    }

    /** What the objective needs of the model, checked before anything is written (the pooler for pooling pooler). */
    static void requireModel(TrainConfig c, org.zotune.model.EncoderModel model, String source) {
        if (c.objectiveKind() == TrainConfig.ObjectiveKind.SIMILARITY
                && c.similarity().poolingKind() == LabelSimilarity.Pooling.POOLER && !model.hasPooler()) {
            throw new ZotuneException(source + ": key 'similarity.pooling' is pooler, and this " + model.config()
                    .family() + " checkpoint has no pooler (pooler.dense weights); use mean or cls");
        }
        if (c.objectiveKind() == TrainConfig.ObjectiveKind.HEAD
                && c.head().poolingKind() == HeadClassification.Pooling.POOLER && !model.hasPooler()) {
            throw new ZotuneException(source + ": key 'head.pooling' is pooler, and this " + model.config()
                    .family() + " checkpoint has no pooler (pooler.dense weights); use mean or cls");
        }
    }

    /** The run's objective over the training set's {@code labels} (gold order). */
    static Objective objective(TrainConfig c, TextRowEncoder encoder, List<String> labels, int padId) {
        return objective(RunInputs.Keys.of(c), encoder, labels, padId);
    }

    /** As above, from the keys alone (a run's, or zotune eval's options). */
    static Objective objective(RunInputs.Keys c, TextRowEncoder encoder, List<String> labels, int padId) {
        if (c.objective() == TrainConfig.ObjectiveKind.HEAD) {
            return new HeadClassification(c.head().poolingKind());
        }
        SimilarityOptions o = c.similarity();
        Map<String, String> descriptions = descriptions(c);
        String where = o.labels() != null ? "key 'similarity.labels'" : "the built-in label descriptions of '"
                + builtinName(c.data()) + "'";
        for (String k : descriptions.keySet()) {
            if (!labels.contains(k)) {
                throw new ZotuneException(where + ": label '" + k + "' is not one of the data set's labels " + labels);
            }
        }
        int[][] rows = new int[labels.size()][];
        for (int l = 0; l < rows.length; l++) {
            String d = descriptions.get(labels.get(l));
            if (d == null) {
                throw new ZotuneException(where + ": no description for label '" + labels.get(l) + "' (labels: "
                        + labels + ")");
            }
            rows[l] = encoder.description(labels.get(l), d);
        }
        return new LabelSimilarity(rows, o.poolingKind(), o.temperature(), padId);
    }

    /**
     * Objective similarity: {@code labels} then every label with a description that they lack, in the descriptions'
     * order (gold indices into {@code labels} stay valid); other objectives: {@code labels}.
     */
    static List<String> describedLabels(RunInputs.Keys c, List<String> labels) {
        if (c.objective() != TrainConfig.ObjectiveKind.SIMILARITY) {
            return labels;
        }
        List<String> out = new ArrayList<>(labels);
        for (String k : descriptions(c).keySet()) {
            if (!out.contains(k)) {
                out.add(k);
            }
        }
        return out;
    }

    /** Objective similarity's label descriptions: key similarity.labels, else the built-in task's. */
    private static Map<String, String> descriptions(RunInputs.Keys c) {
        return c.similarity().labels() != null ? c.similarity().labels() : builtin(c.data());
    }

    private static String builtinName(Data d) {
        String t = d.template();
        return t != null && !t.contains("{") ? t : d.task();
    }

    private static Map<String, String> builtin(Data d) {
        String name = builtinName(d);
        if (name == null) {
            throw new ZotuneException("objective similarity needs label descriptions: key similarity.labels (label -> "
                    + "description), or a built-in task named by data.template or data.task");
        }
        return new LinkedHashMap<>(LabelDescriptions.builtin(name));
    }

    /**
     * Objective head's classifier.
     *
     * @param model   the encoder with its head
     * @param labels  the label names in gold order (config.json's id2label)
     * @param options key head
     * @param body    the encoder's initial tensors
     * @param start   the head's initial tensors (weight, bias)
     */
    record Head(SequenceClassifier model, List<String> labels, HeadOptions options, List<HostTensor> body,
            List<HostTensor> start) {

        /**
         * The head over {@code body}: zero-initialised, or, when the checkpoint carries a classifier (a folder this
         * objective exported), that one, its rows matched to {@code labels} by name through config.json's id2label
         * ({@link HeadFolder#classifier}: reordered when it lists the same labels in another order, refused when it
         * lists others).
         */
        static Head of(SequenceClassifier model, List<String> labels, HeadOptions options, List<HostTensor> body,
                org.zotune.model.Checkpoint checkpoint) {
            if (!HeadFolder.hasClassifier(checkpoint)) {
                return new Head(model, labels, options, body, model.zeroHead());
            }
            // the classifier was fitted to one pooling's vectors: starting it on another's would be a new head
            String trained = HeadFolder.pooling(checkpoint);
            String asked = options.poolingKind().name().toLowerCase(java.util.Locale.ROOT);
            if (!asked.equals(trained == null ? "mean" : trained)) {
                throw new ZotuneException(checkpoint.source() + ": its classifier pools by " + (trained == null
                        ? "mean (the default: config.json says nothing)" : trained + " (" + HeadFolder.poolingSource(
                        checkpoint) + ")") + ", and key 'head.pooling' is " + asked + ": set head.pooling: "
                        + (trained == null ? "mean" : trained) + " to train on from this classifier");
            }
            return new Head(model, labels, options, body, HeadFolder.classifier(checkpoint, labels,
                    model.config().hiddenSize()));
        }

        /** What the trajectory records of the head: its labels and its start's digest. */
        Trajectory.Head recorded() {
            return new Trajectory.Head(labels, org.zotune.train.run.Fingerprints.weights(start));
        }

        /** The body's tensors, then the head's. */
        List<HostTensor> initial() {
            List<HostTensor> out = new ArrayList<>(body);
            out.addAll(start);
            return out;
        }

        /** Which of the model's parameters train: null (all) or, for a linear probe, the head's two. */
        boolean[] trainable() {
            if (!options.linearProbe()) {
                return null;
            }
            boolean[] t = new boolean[model.params().size()];
            t[model.headWeight()] = true;
            t[model.headBias()] = true;
            return t;
        }

        /**
         * Every tensor of the model for the export: the engine's trained set is all of them, or for a linear probe the
         * head alone over the frozen body (then rounded to the run's dtype, as the engine holds it).
         */
        List<HostTensor> exported(List<HostTensor> trained, DType dtype) {
            if (!options.linearProbe()) {
                return trained;
            }
            List<HostTensor> out = new ArrayList<>(body.size() + trained.size());
            for (HostTensor t : body) {
                out.add(HostTensors.of(t.name(), t.toFloats(), t.shape(), dtype));
            }
            out.addAll(trained);
            return out;
        }
    }
}
