package io.flinc.bench;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one flinc benchmark job on Flink's local MiniCluster (StreamExecutionEnvironment in this
 * JVM) and prints the time of execute() on stdout:
 *
 * <pre>
 *   java -cp CLASSPATH io.flinc.bench.Main --job wordcount|q0..q9|q11|q12|q14|q21|q22|fraud
 *        --input FILE|kafka://B/T?bounded=true|datagen
 *        --output DIR|kafka://B/T?delivery=exactly-once|checksum
 *        [-p N] [--backend hashmap|rocksdb] [--checkpoints off|10s]
 *        [--checkpoint-dir DIR] [--watermark-delay MS] [--watermark-every-record true|false]
 *        [--events N] [--seed S] [--event-rate R]
 *        [--rate R] [--buffer-timeout MS] [--latency-interval MS] [--taskmanagers N]
 *
 *   FLINK-BENCH job=q5 p=2 backend=hashmap checkpoints=off seconds=12.345 net_seconds=11.802
 * </pre>
 *
 * seconds: wall time around execute() (MiniCluster start, job run, shutdown; JVM start excluded);
 * net_seconds: the job's own run time as Flink reports it (JobExecutionResult#getNetRuntime).
 * Output: a FileSink folder; committed part files have names that do not start with '.', as
 * flinc's. A kafka:// input or output is read or written with Flink's Kafka connector
 * (KafkaIo.java): one line per record value, as flinc's jobs do. The fraud job (FraudCep.java, Flink
 * CEP) takes its watermarks from its own rule (10 s out of orderness; --watermark-every-record true
 * puts one after every record) and ignores --watermark-delay. The Nexmark-harness mode:
 * {@code --input datagen} generates --events events inside the job (NexmarkSource, the same events
 * as flinc's datagen source), {@code --output checksum} discards the output after folding each line
 * into a checksum (Checksum.java). The latency benchmark (tests/bench/latency_bench.py --flink):
 * {@code --rate} holds the sources to R records/s in all (Throttle.java, chained after the
 * source), {@code --buffer-timeout} is setBufferTimeout, {@code --latency-interval} turns on
 * Flink's latency markers and prints their histograms at the end (LatencyReporter.java), and
 * {@code --taskmanagers} runs the MiniCluster with that many task managers (p / N slots each), so
 * records cross task managers through Flink's network stack as on a cluster. Exit 0 on success, 1
 * when the job failed, 2 on a usage error.
 */
public final class Main {

    private Main() {}

    private static void usage(String why) {
        System.err.println("io.flinc.bench.Main: " + why);
        System.err.println("usage: --job wordcount|q0..q9|q11|q12|q14|q21|q22|fraud --input FILE|kafka://...|datagen "
                + "--output DIR|kafka://...|checksum [-p N] [--events N] [--seed S] [--event-rate R] "
                + "[--backend hashmap|rocksdb] [--checkpoints off|DURATION] [--checkpoint-dir DIR] "
                + "[--watermark-delay MS] [--watermark-every-record true|false] [--rate R] "
                + "[--buffer-timeout MS] [--latency-interval MS] [--taskmanagers N]");
        System.exit(2);
    }

    public static void main(String[] args) throws Exception {
        String job = null, input = null, output = null, backend = "hashmap", checkpoints = "off";
        String checkpointDir = null;
        int p = 1;
        long wmDelay = 0, events = 10_000_000L, seed = 0, eventRate = NexmarkGen.DEFAULT_RATE;
        boolean wmEveryRecord = false;
        double rate = 0;
        long bufferTimeout = -2, latencyInterval = 0;
        int taskmanagers = 1;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) usage("missing value after " + a);
            String v = args[++i];
            switch (a) {
                case "--job": job = v; break;
                case "--input": input = v; break;
                case "--output": output = v; break;
                case "-p": case "--parallelism": p = Integer.parseInt(v); break;
                case "--backend": backend = v.equals("memory") ? "hashmap" : v; break;
                case "--checkpoints": checkpoints = v; break;
                case "--checkpoint-dir": checkpointDir = v; break;
                case "--watermark-delay": wmDelay = Long.parseLong(v); break;
                case "--watermark-every-record": wmEveryRecord = Boolean.parseBoolean(v); break;
                case "--events": events = Long.parseLong(v); break;
                case "--seed": seed = Long.parseLong(v); break;
                case "--event-rate": eventRate = Long.parseLong(v); break;
                case "--rate": rate = Double.parseDouble(v); break;
                case "--buffer-timeout": bufferTimeout = Long.parseLong(v); break;
                case "--latency-interval": latencyInterval = Long.parseLong(v); break;
                case "--taskmanagers": taskmanagers = Integer.parseInt(v); break;
                default: usage("unknown option " + a);
            }
        }
        if (job == null || input == null || output == null) usage("--job, --input and --output are required");
        if (p < 1) usage("-p must be >= 1");
        if (!backend.equals("hashmap") && !backend.equals("rocksdb")) usage("--backend is hashmap or rocksdb");
        if (rate < 0 || bufferTimeout < -2 || latencyInterval < 0 || taskmanagers < 1 || taskmanagers > p) {
            usage("--rate, --buffer-timeout (-1: when full) and --latency-interval are >= 0; "
                    + "--taskmanagers is 1..p");
        }

        Map<String, String> conf = new HashMap<>();
        conf.put("parallelism.default", String.valueOf(p));
        conf.put("taskmanager.numberOfTaskSlots", String.valueOf((p + taskmanagers - 1) / taskmanagers));
        conf.put("minicluster.number-of-taskmanagers", String.valueOf(taskmanagers));
        if (latencyInterval > 0) {
            conf.put("metrics.latency.interval", String.valueOf(latencyInterval));
            conf.put("metrics.latency.history-size", "1000000"); // every marker of a run, not the last 128
            conf.put("metrics.reporter.flinc.factory.class", LatencyReporter.Factory.class.getName());
        }
        conf.put("pipeline.object-reuse", "true");  // chained operators pass records without copies
        conf.put("pipeline.generic-types", "false"); // every type has a Flink serializer, no Kryo
        conf.put("state.backend.type", backend);
        if (!checkpoints.equals("off")) {
            if (checkpointDir == null) checkpointDir = new File(output).getAbsoluteFile().getParent() + "/flink-checkpoints";
            conf.put("execution.checkpointing.interval", checkpoints);
            conf.put("execution.checkpointing.mode", "EXACTLY_ONCE");
            conf.put("execution.checkpointing.dir", new File(checkpointDir).toURI().toString());
            conf.put("execution.checkpointing.incremental", "true");
        }
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.getExecutionEnvironment(Configuration.fromMap(conf));
        if (bufferTimeout != -2) env.setBufferTimeout(bufferTimeout);

        if (KafkaIo.isKafka(output) && output.contains("delivery=exactly-once") && checkpoints.equals("off")) {
            usage("an exactly-once Kafka output needs --checkpoints");
        }
        DataStream<String> lines = null;
        Nexmark.In nexmarkIn = null;
        try {
            if (input.equals("datagen")) {
                if (!job.startsWith("q")) usage("--input datagen is for the Nexmark queries");
                if (events < 1 || eventRate < 1) usage("--events and --event-rate must be >= 1");
                DataStream<Nexmark.Event> gen = env.fromSource(NexmarkSource.of(events, p, seed, eventRate),
                        WatermarkStrategy.noWatermarks(), "source").uid("source");
                // the source's own RateLimiterStrategy acquires a permit per record through a future,
                // which held q5 to a third of the rate asked: the same Throttle as the file sources
                if (rate > 0) {
                    gen = gen.map(new Throttle<Nexmark.Event>(rate)).returns(Nexmark.Event.class).name("throttle");
                }
                nexmarkIn = Nexmark.In.generated(gen);
            } else lines = KafkaIo.isKafka(input)
                    ? env.fromSource(KafkaIo.source(input), WatermarkStrategy.noWatermarks(), "source").uid("source")
                    : env.fromSource(LineSource.of(input), WatermarkStrategy.noWatermarks(), "source").uid("source");
            if (lines != null && rate > 0) lines = lines.map(new Throttle<String>(rate)).name("throttle");
        } catch (IllegalArgumentException e) {
            usage("--input: " + e.getMessage());
            return;
        }
        switch (job) {
            case "wordcount":
                lineSink(WordCount.build(lines), output, (String w, StringBuilder sb) -> sb.append(w));
                break;
            case "fraud":
                lineSink(FraudCep.build(lines, wmEveryRecord), output, (String a, StringBuilder sb) -> sb.append(a));
                break;
            default: {
                DataStream<? extends Json.Row> rows =
                        Nexmark.query(job, nexmarkIn != null ? nexmarkIn : Nexmark.In.lines(lines), wmDelay);
                if (rows == null) usage("unknown job " + job);
                jsonSink(rows, output);
            }
        }

        long t0 = System.nanoTime();
        JobExecutionResult r;
        try {
            r = env.execute("flinc-bench " + job);
        } catch (Exception e) {
            System.err.println("io.flinc.bench.Main: job " + job + " failed: " + e);
            e.printStackTrace();
            System.exit(1);
            return;
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("FLINK-BENCH job=%s p=%d backend=%s checkpoints=%s seconds=%.3f net_seconds=%.3f%n",
                job, p, backend, checkpoints, seconds, r.getNetRuntime(TimeUnit.MILLISECONDS) / 1e3);
        System.out.flush();
        System.exit(0);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static void jsonSink(DataStream<? extends Json.Row> rows, String output) {
        DataStream<Json.Row> r = (DataStream) rows;
        lineSink(r, output, Json.Row::appendJson);
    }

    /** A FileSink folder, or a Kafka topic for a kafka:// output. */
    static <T> void lineSink(DataStream<T> rows, String output, LineSink.Format<T> format) {
        if (output.equals("checksum")) {
            rows.sinkTo(new Checksum<>(format)).name("sink").uid("sink");
            return;
        }
        if (!KafkaIo.isKafka(output)) {
            rows.sinkTo(LineSink.to(output, format)).name("sink");
            return;
        }
        try {
            rows.sinkTo(KafkaIo.sink(output, format)).name("sink").uid("sink");
        } catch (IllegalArgumentException e) {
            usage("--output: " + e.getMessage());
        }
    }
}
