package io.flinc.bench;

import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.HistogramStatistics;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * Prints Flink's latency-marker histograms ({@code metrics.latency.interval}) when they go away
 * (the job ends) or the MiniCluster shuts down, one line each on stdout:
 *
 * <pre>
 *   FLINK-LATENCY operator=sink: Writer subtask=0 count=1000 p50=1.000 p99=4.000 max=7
 * </pre>
 *
 * Milliseconds, as Flink measures them (System.currentTimeMillis at the source and at the
 * operator). count is the number of markers the histogram holds: Flink keeps the last
 * {@code metrics.latency.history-size} of them, so Main sets that larger than a run's markers.
 * Operator names come from the operator metric groups, which carry both the id and the name.
 * Main enables it with --latency-interval (metrics.reporter.flinc.factory.class).
 */
public final class LatencyReporter implements MetricReporter {

    private final Map<String, String> names = new HashMap<>();
    private final Map<Histogram, String[]> latencies = new HashMap<>();

    /** The factory Flink finds through META-INF/services. */
    public static final class Factory implements MetricReporterFactory {
        @Override
        public MetricReporter createMetricReporter(Properties properties) {
            return new LatencyReporter();
        }
    }

    @Override
    public void open(MetricConfig config) {}

    @Override
    public synchronized void close() {
        for (Map.Entry<Histogram, String[]> e : latencies.entrySet()) print(e.getKey(), e.getValue());
        latencies.clear();
    }

    @Override
    public synchronized void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
        Map<String, String> v = group.getAllVariables();
        String id = v.get("<operator_id>");
        if (id == null) return;
        String opName = v.get("<operator_name>");
        if (opName != null) names.putIfAbsent(id, opName);
        if (name.equals("latency") && metric instanceof Histogram) {
            latencies.put((Histogram) metric, new String[] {id, v.getOrDefault("<operator_subtask_index>", "?")});
        }
    }

    @Override
    public synchronized void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {
        String[] where = metric instanceof Histogram ? latencies.remove(metric) : null;
        if (where != null) print((Histogram) metric, where);
    }

    private void print(Histogram h, String[] where) {
        HistogramStatistics s = h.getStatistics();
        if (s.size() == 0) return;
        System.out.printf("FLINK-LATENCY operator=%s subtask=%s count=%d p50=%.3f p99=%.3f max=%d%n",
                names.getOrDefault(where[0], where[0]), where[1], s.size(), s.getQuantile(0.5),
                s.getQuantile(0.99), s.getMax());
        System.out.flush();
    }
}
