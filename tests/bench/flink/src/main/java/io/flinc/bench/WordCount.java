package io.flinc.bench;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * flinc's wordcount (jobs/wordcount/wordcount.c, DESIGN.md): a word is a maximal run of ASCII
 * letters and digits, everything else separates, words are lowercased (ASCII only), words longer
 * than 256 bytes are dropped; the count of each word is kept in keyed value state and
 * {@code word<TAB>count} is emitted every time it grows, so the output holds the counts 1..n of
 * every word once each.
 *
 * <p>Lines are decoded as UTF-8; a non-ASCII byte is never part of a word in flinc, and in Java a
 * non-ASCII character (or the replacement of a malformed sequence) is a separator too, so both cut
 * the same words.
 */
public final class WordCount {

    private WordCount() {}

    static final int KEY_MAX = 256;

    public static final class Tokenizer implements FlatMapFunction<String, String> {
        private transient char[] low;

        @Override
        public void flatMap(String line, Collector<String> out) {
            int n = line.length();
            if (low == null || low.length < n) low = new char[Math.max(n, 256)];
            int i = 0;
            while (i < n) {
                while (i < n && wordChar(line.charAt(i)) == 0) i++;
                if (i == n) break;
                int b = i;
                while (i < n && (low[i] = wordChar(line.charAt(i))) != 0) i++;
                if (i - b <= KEY_MAX) out.collect(new String(low, b, i - b));
            }
        }

        /** An ASCII letter or digit, lowercased; 0 for a separator. */
        static char wordChar(char c) {
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) return c;
            if (c >= 'A' && c <= 'Z') return (char) (c - 'A' + 'a');
            return 0;
        }
    }

    public static final class Counter extends KeyedProcessFunction<String, String, String> {
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(String word, Context ctx, Collector<String> out) throws Exception {
            Long c = count.value();
            long n = c == null ? 1 : c + 1;
            count.update(n);
            out.collect(word + '\t' + n);
        }
    }

    public static DataStream<String> build(DataStream<String> lines) {
        return lines.flatMap(new Tokenizer()).name("tokenizer")
                .keyBy(w -> w, Types.STRING)
                .process(new Counter()).uid("counter").name("counter");
    }
}
