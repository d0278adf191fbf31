package io.flinc.bench;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * kafka:// addresses for the benchmark jobs, read and written with Flink's own Kafka connector
 * (flink-connector-kafka: KafkaSource and KafkaSink), as flinc reads and writes them
 * (docs/kafka.md):
 *
 * <pre>
 *   kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...][?OPTION=VALUE&amp;...]
 *   source options: start=earliest|latest (default earliest), bounded=true|false (default false)
 *   sink options:   delivery=none|at-least-once|exactly-once (default at-least-once),
 *                   transactional-id-prefix=P (default flink-bench-TOPIC)
 * </pre>
 *
 * <p>A record value is one line: the source hands each value on as a String (UTF-8, as flinc's
 * lines; a record without a value is skipped), the sink writes each output line as one value
 * (UTF-8, no key). {@code bounded=true} stops every partition at the end offset seen when the
 * job starts (OffsetsInitializer.latest()), so the job finishes, like flinc's. The source reads
 * with {@code isolation.level=read_committed}, as flinc's does, and commits no offsets. The
 * exactly-once sink uses Kafka transactions, one per checkpoint (Flink's two-phase commit); its
 * transaction timeout is 10 minutes, under the broker's default maximum of 15.
 */
public final class KafkaIo {

    private KafkaIo() {}

    static final String SCHEME = "kafka://";

    static boolean isKafka(String address) {
        return address != null && address.startsWith(SCHEME);
    }

    /** An address split into its brokers, topics and options. */
    static final class Address {
        final String brokers;
        final String[] topics;
        final Map<String, String> options = new LinkedHashMap<>();

        Address(String address) {
            String rest = address.substring(SCHEME.length());
            int q = rest.indexOf('?');
            String query = q < 0 ? "" : rest.substring(q + 1);
            if (q >= 0) rest = rest.substring(0, q);
            int slash = rest.indexOf('/');
            if (slash <= 0 || slash == rest.length() - 1) {
                throw new IllegalArgumentException("kafka address needs brokers and a topic: " + address);
            }
            brokers = rest.substring(0, slash);
            topics = rest.substring(slash + 1).split(",");
            for (String kv : query.isEmpty() ? new String[0] : query.split("&")) {
                int eq = kv.indexOf('=');
                if (eq <= 0) throw new IllegalArgumentException("malformed option '" + kv + "' in " + address);
                options.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }

        String option(String name, String def, String... allowed) {
            String v = options.getOrDefault(name, def);
            if (allowed.length > 0 && !Arrays.asList(allowed).contains(v)) {
                throw new IllegalArgumentException(name + "=" + v + ": expected one of " + Arrays.toString(allowed));
            }
            return v;
        }

        void onlyOptions(String... known) {
            for (String k : options.keySet()) {
                if (!Arrays.asList(known).contains(k)) throw new IllegalArgumentException("unknown kafka option " + k);
            }
        }
    }

    /** Record values as Strings (UTF-8); records without a value are skipped. */
    static final class Values implements KafkaRecordDeserializationSchema<String> {
        private static final long serialVersionUID = 1L;

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<String> out) {
            byte[] v = record.value();
            if (v != null) out.collect(new String(v, StandardCharsets.UTF_8));
        }

        @Override
        public TypeInformation<String> getProducedType() {
            return Types.STRING;
        }
    }

    public static KafkaSource<String> source(String address) {
        Address a = new Address(address);
        a.onlyOptions("start", "bounded");
        String start = a.option("start", "earliest", "earliest", "latest");
        boolean bounded = a.option("bounded", "false", "true", "false").equals("true");
        var b = KafkaSource.<String>builder()
                .setBootstrapServers(a.brokers)
                .setTopics(a.topics)
                .setStartingOffsets(start.equals("earliest") ? OffsetsInitializer.earliest() : OffsetsInitializer.latest())
                .setDeserializer(new Values())
                .setProperty("isolation.level", "read_committed")
                .setProperty("commit.offsets.on.checkpoint", "false")
                .setProperty("client.id.prefix", "flink-bench-source");
        if (bounded) b.setBounded(OffsetsInitializer.latest());
        return b.build();
    }

    /** Writes each record as one value, formatted by {@code format} and encoded as UTF-8. */
    public static <T> KafkaSink<T> sink(String address, LineSink.Format<T> format) {
        Address a = new Address(address);
        a.onlyOptions("delivery", "transactional-id-prefix");
        if (a.topics.length != 1) throw new IllegalArgumentException("a kafka sink writes one topic: " + address);
        String topic = a.topics[0];
        String delivery = a.option("delivery", "at-least-once", "none", "at-least-once", "exactly-once");
        DeliveryGuarantee g = delivery.equals("none") ? DeliveryGuarantee.NONE
                : delivery.equals("exactly-once") ? DeliveryGuarantee.EXACTLY_ONCE
                : DeliveryGuarantee.AT_LEAST_ONCE;
        return KafkaSink.<T>builder()
                .setBootstrapServers(a.brokers)
                .setRecordSerializer(new Lines<>(topic, format))
                .setDeliveryGuarantee(g)
                .setTransactionalIdPrefix(a.option("transactional-id-prefix", "flink-bench-" + topic))
                .setProperty("transaction.timeout.ms", "600000")
                // librdkafka's batch size (flinc's producer), instead of the Java client's 16 KiB
                .setProperty("batch.size", "1000000")
                .setProperty("linger.ms", "5")
                .build();
    }

    static final class Lines<T> implements KafkaRecordSerializationSchema<T> {
        private static final long serialVersionUID = 1L;
        private final String topic;
        private final LineSink.Format<T> format;
        private transient StringBuilder sb;

        Lines(String topic, LineSink.Format<T> format) {
            this.topic = topic;
            this.format = format;
        }

        @Override
        public void open(SerializationSchema.InitializationContext ctx, KafkaSinkContext sinkCtx) {
            sb = new StringBuilder(256);
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(T element, KafkaSinkContext ctx, Long timestamp) {
            if (sb == null) sb = new StringBuilder(256);
            sb.setLength(0);
            format.append(element, sb);
            return new ProducerRecord<>(topic, null, null, null, sb.toString().getBytes(StandardCharsets.UTF_8));
        }
    }
}
