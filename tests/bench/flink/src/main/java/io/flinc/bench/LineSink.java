package io.flinc.bench;

import org.apache.flink.api.common.serialization.BulkWriter;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.BasePathBucketAssigner;

import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;

/**
 * A FileSink of text lines (exactly-once: part files are committed at checkpoints, or at the end
 * of the input when checkpointing is off; files in progress have names that start with '.').
 *
 * <p>It is a bulk format with a buffered writer rather than the row format with an Encoder: on the
 * local file system the row format's stream is an unbuffered FileOutputStream, so an Encoder costs
 * one write(2) per record (two with SimpleStringEncoder). The bulk writer fills a 64 KiB buffer
 * and is flushed before every checkpoint and at the end, which is when FileSink rolls bulk parts.
 */
public final class LineSink {

    private LineSink() {}

    /** Writes one record as one line (without its LF). */
    @FunctionalInterface
    public interface Format<T> extends Serializable {
        void append(T record, StringBuilder sb);
    }

    public static <T> FileSink<T> to(String dir, Format<T> format) {
        return FileSink.forBulkFormat(new Path(new File(dir).getAbsolutePath()), new Factory<>(format))
                .withBucketAssigner(new BasePathBucketAssigner<>())
                .build();
    }

    static final class Factory<T> implements BulkWriter.Factory<T> {
        private static final long serialVersionUID = 1L;
        private final Format<T> format;

        Factory(Format<T> format) {
            this.format = format;
        }

        @Override
        public BulkWriter<T> create(FSDataOutputStream out) {
            return new Writer<>(out, format);
        }
    }

    static final class Writer<T> implements BulkWriter<T> {
        private final FSDataOutputStream out;
        private final Format<T> format;
        private final StringBuilder sb = new StringBuilder(256);
        private final byte[] buf = new byte[1 << 16];
        private int n;

        Writer(FSDataOutputStream out, Format<T> format) {
            this.out = out;
            this.format = format;
        }

        @Override
        public void addElement(T record) throws IOException {
            sb.setLength(0);
            format.append(record, sb);
            sb.append('\n');
            int len = sb.length();
            if (n + len > buf.length) drain();
            if (len > buf.length) { // a huge line: let the JDK encode it
                out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                return;
            }
            int start = n;
            for (int i = 0; i < len; i++) {
                char c = sb.charAt(i);
                if (c >= 0x80) { // not ASCII: encode this line with the JDK
                    n = start;
                    drain();
                    out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                    return;
                }
                buf[n++] = (byte) c;
            }
        }

        private void drain() throws IOException {
            if (n > 0) {
                out.write(buf, 0, n);
                n = 0;
            }
        }

        @Override
        public void flush() throws IOException {
            drain();
            out.flush();
        }

        @Override
        public void finish() throws IOException {
            flush(); // FileSink closes the stream itself
        }
    }
}
