package org.zotune.data.io;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.tokenizer.Tokenizer;

/**
 * A plain-text corpus (e.g. {@code janeausten/*.txt}) cut into fixed-length token chunks for causal-LM training
 * and held-out perplexity.
 *
 * <p>Algorithm: the file is read as UTF-8; paragraphs are separated by blank lines; inside a paragraph the line
 * breaks become single spaces and the paragraph is stripped. Each paragraph is encoded with
 * {@link Tokenizer#encode} (the tokenizer's default special tokens: Llama's BOS starts every paragraph) and the ids
 * are concatenated across paragraphs and files, in order. The stream is cut into consecutive chunks of exactly
 * {@code length} tokens; a final partial chunk is dropped. Reading stops once {@code maxChunks} chunks are made
 * ({@code maxChunks <= 0}: no limit), which also bounds the tokenisation work.
 *
 * @param sources the files read, in order
 * @param length  tokens per chunk
 * @param chunks  the chunks, each {@code length} ids
 */
public record TextCorpus(List<Path> sources, int length, List<int[]> chunks) {

    public TextCorpus {
        sources = List.copyOf(sources);
        chunks = List.copyOf(chunks);
    }

    public static TextCorpus read(List<Path> files, Tokenizer tokenizer, int length, int maxChunks) {
        if (length < 2) {
            throw new ZotuneException("chunk length must be at least 2 tokens (one next-token prediction), got "
                    + length);
        }
        if (files.isEmpty()) {
            throw new ZotuneException("no text files given");
        }
        List<int[]> chunks = new ArrayList<>();
        int[] buf = new int[length];
        int fill = 0;
        long total = 0;
        outer:
        for (Path file : files) {
            StringBuilder para = new StringBuilder();
            List<String> lines = new ArrayList<>(Rows.lines(file));
            lines.add("");
            for (String line : lines) {
                if (!line.isBlank()) {
                    if (para.length() > 0) {
                        para.append(' ');
                    }
                    para.append(line.strip());
                    continue;
                }
                if (para.length() == 0) {
                    continue;
                }
                int[] ids = tokenizer.encode(para.toString());
                para.setLength(0);
                total += ids.length;
                for (int id : ids) {
                    buf[fill++] = id;
                    if (fill == length) {
                        chunks.add(buf);
                        buf = new int[length];
                        fill = 0;
                        if (maxChunks > 0 && chunks.size() == maxChunks) {
                            break outer;
                        }
                    }
                }
            }
        }
        if (chunks.isEmpty()) {
            throw new ZotuneException(files + ": " + total + " tokens, fewer than one chunk of " + length);
        }
        return new TextCorpus(files, length, chunks);
    }
}
