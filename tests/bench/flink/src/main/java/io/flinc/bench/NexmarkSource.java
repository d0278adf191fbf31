package io.flinc.bench;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;

/**
 * The built-in Nexmark generator as a Flink source ({@code --input datagen}): events [0, N) of
 * NexmarkGen, spread over the source subtasks as flinc's datagen source spreads them: subtask i of p
 * makes the events k ≡ i (mod p), in order, so each subtask's stream is ordered by event time and
 * the watermarks advance together.
 *
 * <p>DataGeneratorSource numbers its records 0..N-1 and splits them into p contiguous ranges (split
 * i: N/p numbers, one more for i < N mod p; one split per subtask); the function maps number j of
 * split i to event (j − start_i)·p + i, which has exactly the same count per split.
 */
public final class NexmarkSource {

    private NexmarkSource() {}

    public static DataGeneratorSource<Nexmark.Event> of(long events, int parallelism, long seed, long rate) {
        return new DataGeneratorSource<>(new Fn(events, parallelism, seed, rate), events,
                TypeInformation.of(Nexmark.Event.class));
    }

    static final class Fn implements GeneratorFunction<Long, Nexmark.Event> {
        private static final long serialVersionUID = 1L;
        private final long n;
        private final int p;
        private final NexmarkGen gen;

        Fn(long n, int p, long seed, long rate) {
            this.n = n;
            this.p = p;
            this.gen = new NexmarkGen(seed, rate);
        }

        @Override
        public void open(SourceReaderContext ctx) {}

        @Override
        public Nexmark.Event map(Long j) {
            long q = n / p, r = n % p;
            long i, start;
            if (j < r * (q + 1)) {
                i = j / (q + 1);
                start = i * (q + 1);
            } else {
                i = r + (j - r * (q + 1)) / q;
                start = r * (q + 1) + (i - r) * q;
            }
            return gen.event((j - start) * p + i);
        }
    }
}
