package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.cuda.Cuda;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.cuda.NoiseVariant;

/**
 * Key noise (auto | exact | fast) as a recorded run setting: parsing and refusals, the variant a run resolves for the
 * engine it trains on, run.json and the trajectory header recording it (a recorded config without the key meaning
 * exact), --resume under another variant refused, and replay taking the trajectory's variant (a fast-noise trajectory
 * needs CUDA). CPU runs of the bundled stories260K; the CUDA side is NoiseRecordGpuTest.
 */
class NoiseSettingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static TrainConfig parse(String... overrides) {
        return TrainConfig.parse("run.yaml", "model: x\ndata: {format: text, train: a}\nout: o\n", List.of(overrides));
    }

    @Test
    void keyNoiseParsesAndRefusesBadValuesInOneLine() {
        assertEquals("auto", parse().noise());
        assertEquals(TrainConfig.NoiseSetting.AUTO, parse().noiseSetting());
        assertEquals(TrainConfig.NoiseSetting.EXACT, parse("noise=exact").noiseSetting());
        assertEquals(TrainConfig.NoiseSetting.FAST, parse("noise=fast", "device=cuda").noiseSetting());
        assertEquals(TrainConfig.NoiseSetting.EXACT, parse("noise=exact", "device=cpu").noiseSetting());
        String bad = assertThrows(ZotuneException.class, () -> parse("noise=approx")).getMessage();
        assertTrue(bad.contains("noise") && bad.contains("approx") && bad.contains("auto, exact, fast"), bad);
        assertFalse(bad.contains("\n"), bad);
        ZotuneException cpu = assertThrows(ZotuneException.class, () -> parse("noise=fast", "device=cpu"));
        assertEquals("run.yaml: key 'noise': fast is the CUDA engine's noise; device cpu has the exact noise only "
                + "(use noise exact or auto)", cpu.getMessage());
    }

    @Test
    void autoIsFastOnTheCudaEngineAndExactOnTheCpuEngine() {
        assertEquals(NoiseVariant.FAST, parse().noiseVariant(true));
        assertEquals(NoiseVariant.EXACT, parse().noiseVariant(false));
        assertEquals(NoiseVariant.EXACT, parse("noise=exact").noiseVariant(true));
        assertEquals(NoiseVariant.EXACT, parse("noise=exact").noiseVariant(false));
        assertEquals(NoiseVariant.FAST, parse("noise=fast").noiseVariant(true));
        ZotuneException x = assertThrows(ZotuneException.class, () -> parse("noise=fast").noiseVariant(false));
        assertEquals("key 'noise': fast is the CUDA engine's noise, and this run trains on the CPU engine (device "
                + "auto), which has the exact noise only; use noise exact or auto", x.getMessage());
    }

    @Test
    void aRunResolvesNoiseForTheEngineItTrainsOn() {
        // device cuda and GPU replicas train on CUDA, device cpu and CPU workers on the CPU: no device is probed
        assertEquals("fast", ZoEngines.resolveNoise(parse("device=cuda")).noise());
        assertEquals("fast", ZoEngines.resolveNoise(parse("parallel.gpus=2")).noise());
        assertEquals("exact", ZoEngines.resolveNoise(parse("device=cuda", "noise=exact")).noise());
        assertEquals("exact", ZoEngines.resolveNoise(parse("device=cpu")).noise());
        assertEquals("exact", ZoEngines.resolveNoise(parse("parallel.workers=2")).noise());
        // device cpu never trains on CUDA (GPU replicas there are refused later, naming parallel.gpus)
        assertEquals("exact", ZoEngines.resolveNoise(parse("device=cpu", "parallel.gpus=2")).noise());
        ZotuneException x = assertThrows(ZotuneException.class,
                () -> ZoEngines.resolveNoise(parse("noise=fast", "parallel.workers=2")));
        assertTrue(x.getMessage().startsWith("key 'noise': fast is the CUDA engine's noise, and this run trains on "
                + "the CPU engine"), x.getMessage());
        // device auto: CUDA where a device is usable
        String expected = Cuda.availability().usable() ? "fast" : "exact";
        assertEquals(expected, ZoEngines.resolveNoise(parse()).noise());
        // only the key changes
        TrainConfig c = parse("device=cuda", "optimizer.lr=3e-4", "steps=7");
        ObjectNode want = (ObjectNode) c.toJson();
        want.put("noise", "fast");
        assertEquals(want, ZoEngines.resolveNoise(c).toJson());
    }

    @Test
    void recordedConfigsKeepTheVariantAndMeanExactWithoutIt() {
        TrainConfig fast = parse("device=cuda").withNoise(NoiseVariant.FAST);
        assertEquals("fast", fast.noise());
        assertEquals(fast, TrainConfig.fromJson("run.json", fast.toJsonString()));
        ObjectNode old = (ObjectNode) parse("device=cuda").toJson();
        old.remove("noise"); // recorded before the key: the exact noise, the only variant then
        assertEquals("exact", TrainConfig.fromJson("run.json", old.toString()).noise());
    }

    private String yaml(Path out, String... extra) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        List<String> lines = new ArrayList<>(List.of("optimizer: {name: zo-sgd, lr: 1e-4}", "steps: 4",
                "eval_every: 2"));
        lines.addAll(List.of(extra));
        return TrainRuns.yaml(train, dev, out, lines.toArray(String[]::new));
    }

    private TrainConfig cpuRun(Path out, String... extra) throws IOException {
        return TrainRuns.config(yaml(out, extra));
    }

    private static JsonNode read(Path f) throws IOException {
        return JSON.readTree(Files.readString(f));
    }

    private static JsonNode header(Path run) throws IOException {
        return JSON.readTree(Files.readAllLines(run.resolve("trajectory.jsonl")).get(0));
    }

    /**
     * Rewrites run.json's and the trajectory header's key noise: {@code value} null removes it (an older run); fast
     * comes with device cuda, as a run records it (device cpu with fast is refused), the others with device cpu.
     */
    private static void setRecordedNoise(Path run, String value) throws IOException {
        ObjectNode runJson = (ObjectNode) read(run.resolve("run.json"));
        List<String> lines = new ArrayList<>(Files.readAllLines(run.resolve("trajectory.jsonl")));
        ObjectNode h = (ObjectNode) JSON.readTree(lines.get(0));
        for (ObjectNode o : new ObjectNode[] {runJson, (ObjectNode) h.get("config")}) {
            if (value == null) {
                o.remove("noise");
            } else {
                o.put("noise", value);
            }
            o.put("device", "fast".equals(value) ? "cuda" : "cpu");
        }
        Files.writeString(run.resolve("run.json"), runJson.toPrettyString() + "\n");
        lines.set(0, h.toString());
        Files.write(run.resolve("trajectory.jsonl"), lines);
    }

    @Test
    void aRunRecordsTheResolvedNoiseInRunJsonAndTheTrajectoryHeader() throws IOException {
        Path a = dir.resolve("a");
        TrainRuns.train(cpuRun(a), TrainRuns.quiet()); // key absent: auto, on the CPU engine exact
        assertEquals("exact", read(a.resolve("run.json")).path("noise").asText());
        assertEquals("exact", header(a).path("config").path("noise").asText());
        assertEquals(TrainConfig.NoiseSetting.EXACT,
                Trajectory.read(a.resolve("trajectory.jsonl")).config().noiseSetting());
        Path b = dir.resolve("b");
        TrainRuns.train(cpuRun(b, "noise: exact"), TrainRuns.quiet());
        assertEquals("exact", read(b.resolve("run.json")).path("noise").asText());
        // auto and exact are the same run on the CPU: the same steps
        assertEquals(ResumeAndReplayTest.stepRecords(a), ResumeAndReplayTest.stepRecords(b));
    }

    @Test
    void resumeUnderAnotherVariantIsRefusedNamingRunJsonsNoiseAndBothValues() throws IOException {
        Path b = dir.resolve("b");
        TrainConfig c = cpuRun(b);
        assertEquals(2, TrainRuns.train(c, new Trainer.Options(false, false, 2, false)).steps());
        setRecordedNoise(b, "fast"); // what a CUDA run with noise auto records
        String before = Files.readString(b.resolve("metrics.jsonl"));
        ZotuneException x = assertThrows(ZotuneException.class,
                () -> TrainRuns.train(c, new Trainer.Options(true, false, 0, false)));
        assertEquals("--resume: " + b.resolve("run.json") + " has noise fast (the noise variant the run trained with), "
                + "this start resolves noise to exact; resume with --noise fast on a CUDA device (the CPU engine has "
                + "the exact noise only)", x.getMessage());
        assertEquals(before, Files.readString(b.resolve("metrics.jsonl")), "the refused resume changed the run");
        // under the recorded variant it resumes (exact, as the run trained)
        setRecordedNoise(b, "exact");
        assertEquals(4, TrainRuns.train(c, new Trainer.Options(true, false, 0, false)).steps());
    }

    @Test
    void anOldRunFolderWithoutNoiseResumesAsExactBitwise() throws IOException {
        Path a = dir.resolve("a");
        TrainRuns.train(cpuRun(a), TrainRuns.quiet());
        Path b = dir.resolve("b");
        TrainConfig c = cpuRun(b);
        TrainRuns.train(c, new Trainer.Options(false, false, 2, false));
        setRecordedNoise(b, null); // as zotune wrote run.json and the header before the key
        assertEquals(4, TrainRuns.train(c, new Trainer.Options(true, false, 0, false)).steps());
        assertEquals(ResumeAndReplayTest.stepRecords(a), ResumeAndReplayTest.stepRecords(b));
        ResumeAndReplayTest.assertSameTensors(SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors(),
                SafetensorsFile.open(b.resolve("model/model.safetensors")).tensors());
        assertFalse(header(b).path("config").has("noise"), "the resumed run keeps its header");
        // a start that resolves to fast (device cuda, checked before any device is needed) is refused naming exact,
        // what the old run.json means
        setRecordedNoise(b, null);
        TrainConfig onCuda = ZoEngines.resolveNoise(TrainRuns.config(yaml(b), "device=cuda"));
        ZotuneException x = assertThrows(ZotuneException.class,
                () -> new org.zotune.train.run.RunFolder(onCuda, true, false).check());
        assertEquals("--resume: " + b.resolve("run.json") + " has noise exact (the noise variant the run trained "
                + "with), this start resolves noise to fast; resume with --noise exact", x.getMessage());
    }

    @Test
    void resumeWithNoiseAndPadMultipleLeftAtAutoTakesTheRecordedValues() throws IOException {
        Path b = dir.resolve("b");
        TrainRuns.train(cpuRun(b), new Trainer.Options(false, false, 2, false));
        TrainConfig onCuda = TrainRuns.config(yaml(b), "device=cuda"); // noise and pad_multiple auto
        assertEquals(TrainConfig.NoiseSetting.AUTO, onCuda.noiseSetting());
        // the CPU run recorded exact and 1: a CUDA start resumes it with them, not with fast and buckets
        TrainConfig resumed = Trainer.asRecorded(onCuda);
        assertEquals(NoiseVariant.EXACT, resumed.noiseVariant(true));
        assertEquals(1, resumed.padMultiple(true));
        setRecordedNoise(b, null); // a run.json from before the key: exact
        assertEquals(NoiseVariant.EXACT, Trainer.asRecorded(onCuda).noiseVariant(true));
        assertEquals(1, Trainer.asRecorded(onCuda).padMultiple(true));
        setRecordedNoise(b, "fast"); // what a CUDA run with noise auto records
        assertEquals(NoiseVariant.FAST, Trainer.asRecorded(onCuda).noiseVariant(true));
        // on the CPU engine a recorded fast stays auto, so that RunFolder names the mismatch (test above)
        assertEquals(TrainConfig.NoiseSetting.AUTO, Trainer.asRecorded(cpuRun(b)).noiseSetting());
        // explicit values are kept (and compared with the record by RunFolder)
        TrainConfig explicit = TrainRuns.config(yaml(b), "device=cuda", "noise=exact", "pad_multiple=16");
        assertEquals(NoiseVariant.EXACT, Trainer.asRecorded(explicit).noiseVariant(true));
        assertEquals(16, Trainer.asRecorded(explicit).padMultiple(true));
    }

    @Test
    void replayTakesTheTrajectorysVariantAndAFastOneNeedsCuda() throws IOException {
        Path a = dir.resolve("a");
        TrainRuns.train(cpuRun(a), TrainRuns.quiet());
        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        Map<String, HostTensor> trained = SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors();
        Path traj = a.resolve("trajectory.jsonl");
        assertEquals(NoiseVariant.EXACT, Replay.noise(Trajectory.read(traj), "cpu"));
        assertEquals(NoiseVariant.EXACT, Replay.noise(Trajectory.read(traj), "cuda"));

        setRecordedNoise(a, null); // a trajectory written before the key: exact, and it replays bit for bit
        Trajectory.Read old = Trajectory.read(traj);
        assertEquals(NoiseVariant.EXACT, Replay.noise(old, "cuda"));
        for (HostTensor r : Replay.run(base, old, "cpu")) {
            assertEquals(trained.get(r.name()).bytes(), r.bytes(), "replayed " + r.name());
        }

        setRecordedNoise(a, "fast");
        Trajectory.Read fast = Trajectory.read(traj);
        assertEquals(NoiseVariant.FAST, Replay.noise(fast, "cuda"));
        String expected = "replay: trajectory " + traj + " was recorded with the fast noise (noise fast), which only "
                + "the CUDA engine regenerates: replay of a fast-noise trajectory needs CUDA (--device cuda)";
        assertEquals(expected, assertThrows(ZotuneException.class, () -> Replay.run(base, fast, "cpu")).getMessage());
        // adapters' replays take the same rule, before anything is built
        for (String method : new String[] {"lora", "prefix"}) {
            TrainConfig c = parse("device=cuda", "noise=fast", "peft.method=" + method);
            Trajectory.Read t = new Trajectory.Read(c, List.of(), List.of(), null, null, traj);
            ZotuneException x = assertThrows(ZotuneException.class, () -> {
                if (method.equals("lora")) {
                    Replay.runAdapters(base, t, "cpu");
                } else {
                    Replay.runPrefix(new org.zotune.model.LoadedLanguageModel(base.checkpoint(), base.model(),
                            base.parameters()), t, "cpu");
                }
            });
            assertEquals(expected, x.getMessage(), method);
        }
    }
}
