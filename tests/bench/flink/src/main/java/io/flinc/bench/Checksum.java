package io.flinc.bench;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/**
 * The sink of the Nexmark-harness mode ({@code --output checksum}): it formats every record as the
 * file sink would write it (one line, without the LF), folds the line into an order-independent
 * checksum (the number of lines, and the sum mod 2^64 of a 64-bit hash of each line's UTF-8 bytes)
 * and discards it. At the end of the input each subtask prints
 *
 * <pre>
 *   NEXMARK-CHECKSUM subtask=I rows=N sum=HEX
 * </pre>
 *
 * The hash is line_hash of jobs/nexmark/nexmark.c, so both engines' sums are equal exactly when
 * they wrote the same multiset of lines (but with a chance of 2^-64).
 */
public final class Checksum<T> implements Sink<T> {
    private static final long serialVersionUID = 1L;
    private final LineSink.Format<T> format;

    public Checksum(LineSink.Format<T> format) {
        this.format = format;
    }

    @Override
    public SinkWriter<T> createWriter(WriterInitContext context) {
        return new Writer<>(format, context.getTaskInfo().getIndexOfThisSubtask());
    }

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** line_hash over the UTF-8 bytes of cs, encoded on the fly (no copy). */
    static long hash(CharSequence cs) {
        int n = cs.length();
        long bytes = 0;
        for (int i = 0; i < n; i++) bytes += utf8(cs, i) >>> 56;
        long h = 0x9e3779b97f4a7c15L ^ (bytes * 0xc2b2ae3d27d4eb4fL);
        long w = 0;
        int nw = 0;
        for (int i = 0; i < n; i++) {
            long e = utf8(cs, i);
            int len = (int) (e >>> 56);
            if (len == 4) i++; // a surrogate pair
            for (int k = 0; k < len; k++) {
                w |= ((e >>> (8 * k)) & 0xff) << (8 * nw);
                if (++nw == 8) {
                    h = (h ^ w) * 0xff51afd7ed558ccdL;
                    h ^= h >>> 32;
                    w = 0;
                    nw = 0;
                }
            }
        }
        if (nw > 0) {
            h = (h ^ w) * 0xff51afd7ed558ccdL;
            h ^= h >>> 32;
        }
        return mix64(h);
    }

    /** The UTF-8 bytes of the character at i (little-endian in the low bytes), their count in the top byte. */
    static long utf8(CharSequence cs, int i) {
        int c = cs.charAt(i);
        if (c < 0x80) return c | (1L << 56);
        if (c < 0x800) return (0xc0 | (c >> 6)) | ((long) (0x80 | (c & 0x3f)) << 8) | (2L << 56);
        if (Character.isHighSurrogate((char) c) && i + 1 < cs.length() && Character.isLowSurrogate(cs.charAt(i + 1))) {
            int cp = Character.toCodePoint((char) c, cs.charAt(i + 1));
            return (0xf0 | (cp >> 18)) | ((long) (0x80 | ((cp >> 12) & 0x3f)) << 8)
                    | ((long) (0x80 | ((cp >> 6) & 0x3f)) << 16) | ((long) (0x80 | (cp & 0x3f)) << 24) | (4L << 56);
        }
        if (Character.isSurrogate((char) c)) c = 0xfffd; // a lone surrogate: U+FFFD, as flinc's JSON writes bytes it cannot read
        return (0xe0 | (c >> 12)) | ((long) (0x80 | ((c >> 6) & 0x3f)) << 8) | ((long) (0x80 | (c & 0x3f)) << 16)
                | (3L << 56);
    }

    static final class Writer<T> implements SinkWriter<T> {
        private final LineSink.Format<T> format;
        private final int subtask;
        private final StringBuilder sb = new StringBuilder(256);
        private long rows, sum;
        private boolean printed;

        Writer(LineSink.Format<T> format, int subtask) {
            this.format = format;
            this.subtask = subtask;
        }

        @Override
        public void write(T record, Context context) {
            sb.setLength(0);
            format.append(record, sb);
            rows++;
            sum += hash(sb);
        }

        @Override
        public void flush(boolean endOfInput) {
            if (endOfInput && !printed) {
                printed = true;
                System.out.printf("NEXMARK-CHECKSUM subtask=%d rows=%d sum=%016x%n", subtask, rows, sum);
                System.out.flush();
            }
        }

        @Override
        public void close() {}
    }
}
