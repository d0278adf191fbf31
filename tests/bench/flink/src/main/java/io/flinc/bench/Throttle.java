package io.flinc.bench;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

/**
 * Holds a stream to a rate ({@code --rate}, records per second over all subtasks), chained right
 * after the source: each subtask passes rate / parallelism records a second and sleeps when it is
 * ahead of that schedule, as flinc's --rate paces its sources. The latency benchmark runs jobs at
 * half their maximum throughput with it (tests/bench/latency_bench.py --flink).
 */
public final class Throttle<T> extends RichMapFunction<T, T> {
    private static final long serialVersionUID = 1L;
    private final double rate;
    private transient double perNs;
    private transient long start, count;

    public Throttle(double rate) {
        this.rate = rate;
    }

    @Override
    public void open(OpenContext ctx) {
        perNs = rate / getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks() / 1e9;
        start = System.nanoTime();
        count = 0;
    }

    @Override
    public T map(T value) throws InterruptedException {
        if ((++count & 63) == 0) {
            long due = start + (long) (count / perNs);
            long now = System.nanoTime();
            if (due > now) Thread.sleep((due - now) / 1_000_000, (int) ((due - now) % 1_000_000));
        }
        return value;
    }
}
