package io.flinc.bench;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.assigners.FileSplitAssigner;
import org.apache.flink.connector.file.src.enumerate.FileEnumerator;
import org.apache.flink.connector.file.src.reader.StreamFormat;
import org.apache.flink.connector.file.src.util.CheckpointedPosition;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A FileSource of text lines that reads one file with all source subtasks, like flinc's file
 * source: each file is cut into as many byte ranges as the source has subtasks, and a line belongs
 * to the range its first byte lies in.
 *
 * <p>Flink's own {@code TextLineInputFormat} is not splittable, so with it one subtask would read
 * the whole file while the others idle; this format is the same thing made splittable (the Hadoop
 * rule: a reader whose range does not start at 0 skips the line it lands in). Splits are handed
 * out in file order, so a subtask that reads more than one range still sees the lines of a file in
 * order (event time then never goes backwards inside a subtask). Lines are decoded as UTF-8 and
 * returned without their LF; a CR before the LF is kept (the parsers handle it).
 */
public final class LineSource {

    private LineSource() {}

    public static FileSource<String> of(String path) {
        return FileSource.forRecordStreamFormat(new SplittableLines(), new Path(path))
                .setFileEnumerator(RangeEnumerator::new)
                .setSplitAssigner(InOrderAssigner::new)
                .build();
    }

    /** Cuts each file into {@code minDesiredSplits} byte ranges of (nearly) equal size. */
    static final class RangeEnumerator implements FileEnumerator {
        @Override
        public Collection<FileSourceSplit> enumerateSplits(Path[] paths, int minDesiredSplits)
                throws IOException {
            int n = Math.max(1, minDesiredSplits);
            List<FileSourceSplit> out = new ArrayList<>();
            for (Path p : paths) {
                FileSystem fs = p.getFileSystem();
                FileStatus st = fs.getFileStatus(p);
                List<FileStatus> files = new ArrayList<>();
                if (st.isDir()) {
                    for (FileStatus f : fs.listStatus(p)) {
                        String name = f.getPath().getName();
                        if (!f.isDir() && !name.startsWith(".") && !name.startsWith("_")) files.add(f);
                    }
                    files.sort(Comparator.comparing(f -> f.getPath().getName()));
                } else {
                    files.add(st);
                }
                for (FileStatus f : files) {
                    long len = f.getLen();
                    for (int i = 0; i < n; i++) {
                        long from = len * i / n, to = len * (i + 1) / n;
                        if (to > from) {
                            out.add(new FileSourceSplit(String.valueOf(out.size()), f.getPath(), from,
                                    to - from, f.getModificationTime(), len));
                        }
                    }
                }
            }
            return out;
        }
    }

    /** Hands out splits in the order the enumerator made them (file order, then offset). */
    static final class InOrderAssigner implements FileSplitAssigner {
        private final ArrayDeque<FileSourceSplit> splits;

        InOrderAssigner(Collection<FileSourceSplit> initial) {
            FileSourceSplit[] a = initial.toArray(new FileSourceSplit[0]);
            Arrays.sort(a, Comparator.comparing((FileSourceSplit s) -> s.path().getPath())
                    .thenComparingLong(FileSourceSplit::offset));
            splits = new ArrayDeque<>(Arrays.asList(a));
        }

        @Override
        public Optional<FileSourceSplit> getNext(String hostname) {
            return Optional.ofNullable(splits.pollFirst());
        }

        @Override
        public void addSplits(Collection<FileSourceSplit> more) {
            splits.addAll(more); // splits given back after a failure
        }

        @Override
        public Collection<FileSourceSplit> remainingSplits() {
            return new ArrayList<>(splits);
        }
    }

    /** TextLineInputFormat, splittable, with its own buffer. */
    static final class SplittableLines implements StreamFormat<String> {
        private static final long serialVersionUID = 1L;

        @Override
        public Reader<String> createReader(Configuration config, FSDataInputStream stream, long fileLen,
                long splitEnd) throws IOException {
            long start = stream.getPos();
            LineReader r = new LineReader(stream, start, splitEnd);
            if (start > 0) {
                // Skip the line that started before this range: it belongs to the previous one.
                stream.seek(start - 1);
                r.pos = start - 1;
                r.skipThroughNewline();
            }
            return r;
        }

        @Override
        public Reader<String> restoreReader(Configuration config, FSDataInputStream stream,
                long restoredOffset, long fileLen, long splitEnd) throws IOException {
            stream.seek(restoredOffset); // a line start (see getCheckpointedPosition)
            return new LineReader(stream, restoredOffset, splitEnd);
        }

        @Override
        public boolean isSplittable() {
            return true;
        }

        @Override
        public TypeInformation<String> getProducedType() {
            return Types.STRING;
        }
    }

    static final class LineReader implements StreamFormat.Reader<String> {
        private final FSDataInputStream in;
        private final long splitEnd;
        private byte[] buf = new byte[1 << 16];
        private int head, tail; // unread bytes are buf[head, tail)
        long pos;               // file offset of buf[0]
        private boolean eof;

        LineReader(FSDataInputStream in, long pos, long splitEnd) {
            this.in = in;
            this.pos = pos;
            this.splitEnd = splitEnd;
        }

        /** Reads more bytes after the unread ones; false at end of file. */
        private boolean fill() throws IOException {
            if (eof) return false;
            if (head > 0) {
                System.arraycopy(buf, head, buf, 0, tail - head);
                pos += head;
                tail -= head;
                head = 0;
            }
            if (tail == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
            int n = in.read(buf, tail, buf.length - tail);
            if (n <= 0) {
                eof = true;
                return false;
            }
            tail += n;
            return true;
        }

        void skipThroughNewline() throws IOException {
            while (true) {
                for (int i = head; i < tail; i++) {
                    if (buf[i] == '\n') {
                        head = i + 1;
                        return;
                    }
                }
                head = tail;
                if (!fill()) return;
            }
        }

        @Override
        public String read() throws IOException {
            if (pos + head >= splitEnd) return null; // the next line starts in the next range
            int scan = head;
            while (true) {
                for (int i = scan; i < tail; i++) {
                    if (buf[i] == '\n') {
                        String line = new String(buf, head, i - head, StandardCharsets.UTF_8);
                        head = i + 1;
                        return line;
                    }
                }
                scan = tail - head; // offsets shift by head in fill()
                if (!fill()) {
                    if (head == tail) return null;
                    String line = new String(buf, head, tail - head, StandardCharsets.UTF_8);
                    head = tail;
                    return line; // last line without LF
                }
            }
        }

        @Override
        public CheckpointedPosition getCheckpointedPosition() {
            return new CheckpointedPosition(pos + head, 0);
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
