package io.flinc.bench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.cep.CEP;
import org.apache.flink.cep.EventComparator;
import org.apache.flink.cep.functions.PatternProcessFunction;
import org.apache.flink.cep.nfa.aftermatch.AfterMatchSkipStrategy;
import org.apache.flink.cep.pattern.Pattern;
import org.apache.flink.cep.pattern.conditions.IterativeCondition;
import org.apache.flink.cep.pattern.conditions.SimpleCondition;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.util.Collector;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * flinc's fraud job (jobs/fraud/fraud.c, docs/fraud.md) written for Flink CEP (flink-cep): the
 * same five rules as five CEP patterns over the transactions keyed by userId, in event time, on
 * the same input file ({@code flinc-gen transactions}, JSON lines), writing the same alert
 * records, byte for byte.
 *
 * <ul>
 *   <li>Parse: timestamp, transactionId, userId, amount, status, country and riskScore are
 *       required, location.lat/lon optional (0 when absent), as flinc's parser; a line without
 *       them is dropped and counted (metric {@code badLines}; flinc sends it to its dead
 *       letters).
 *   <li>Event time: the timestamp; watermarks trail the newest transaction by 10 s
 *       ({@code forBoundedOutOfOrderness}: watermark = newest - 10000 - 1, as in flinc). With
 *       {@code --watermark-every-record true} a watermark follows every record (flinc's
 *       {@code pipeline.auto-watermark-interval=0}, used by the hand-written edge cases).
 *   <li>Each pattern is one CEP operator ({@code CEP.pattern(keyed, pattern, comparator)}); events
 *       with equal timestamps are ordered by transaction id (the EventComparator), as flinc's
 *       {@code compare}. Late transactions (at or behind the watermark) are dropped by CEP, as
 *       flinc drops them (its side output "late" is not consumed by fraud.so).
 *   <li>Alerts: the JSON fields of fraud.c in its order; alertId = 16 hex digits of FNV-1a 64
 *       over the alert type and each matched transaction id followed by a NUL byte; the
 *       descriptions with C's {@code %.0f}/{@code %.2f} (round half even on the exact binary
 *       value, as glibc's printf).
 * </ul>
 */
public final class FraudCep {

    private FraudCep() {}

    static final long OUT_OF_ORDER_MS = 10_000;
    static final long MIN = 60_000;

    /** A transaction (a Flink POJO). */
    public static class Tx {
        public long timestamp;
        public String id, user, status, country;
        public double amount, risk, lat, lon;

        public Tx() {}
    }

    // ---- parse ----------------------------------------------------------------------------

    /** JSON line → Tx; lines without a required field, or not JSON, are counted and dropped. */
    public static final class Parse extends RichFlatMapFunction<String, Tx> {
        private static final long serialVersionUID = 1L;
        private transient JsonFactory json;
        private transient Counter bad;

        @Override
        public void open(OpenContext ctx) {
            json = new JsonFactory();
            bad = getRuntimeContext().getMetricGroup().counter("badLines");
        }

        @Override
        public void flatMap(String line, Collector<Tx> out) {
            Tx t = parse(json, line);
            if (t != null) {
                out.collect(t);
            } else if (bad != null) {
                bad.inc();
            }
        }
    }

    private static final int HAVE_ALL = 0x7f;

    /** The transaction of one JSON line, or null. */
    static Tx parse(JsonFactory json, String line) {
        Tx t = new Tx();
        int have = 0;
        try (JsonParser p = json.createParser(line)) {
            if (p.nextToken() != JsonToken.START_OBJECT) return null;
            JsonToken tok;
            while ((tok = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                switch (name) {
                    case "timestamp":
                        if (v == JsonToken.VALUE_STRING) {
                            long ms = isoMs(p.getText());
                            if (ms == Long.MIN_VALUE) return null;
                            t.timestamp = ms;
                        } else if (v == JsonToken.VALUE_NUMBER_INT) {
                            t.timestamp = p.getLongValue();
                        } else {
                            return null;
                        }
                        have |= 1;
                        break;
                    case "transactionId":
                        if (v != JsonToken.VALUE_STRING) return null;
                        t.id = p.getText();
                        have |= 2;
                        break;
                    case "userId":
                        if (v != JsonToken.VALUE_STRING) return null;
                        t.user = p.getText();
                        have |= 4;
                        break;
                    case "status":
                        if (v != JsonToken.VALUE_STRING) return null;
                        t.status = p.getText();
                        have |= 8;
                        break;
                    case "country":
                        if (v != JsonToken.VALUE_STRING) return null;
                        t.country = p.getText();
                        have |= 16;
                        break;
                    case "amount":
                        if (!v.isNumeric()) return null;
                        t.amount = p.getDoubleValue();
                        have |= 32;
                        break;
                    case "riskScore":
                        if (!v.isNumeric()) return null;
                        t.risk = p.getDoubleValue();
                        have |= 64;
                        break;
                    case "location":
                        if (v == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                String k = p.currentName();
                                JsonToken lv = p.nextToken();
                                if ((k.equals("lat") || k.equals("lon")) && lv != JsonToken.VALUE_NULL) {
                                    if (!lv.isNumeric()) return null;
                                    if (k.equals("lat")) t.lat = p.getDoubleValue();
                                    else t.lon = p.getDoubleValue();
                                } else {
                                    p.skipChildren();
                                }
                            }
                        } else {
                            p.skipChildren();
                        }
                        break;
                    default:
                        p.skipChildren();
                }
            }
            if (tok != JsonToken.END_OBJECT || p.nextToken() != null) return null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return have == HAVE_ALL ? t : null;
    }

    private static final int[] MDAYS = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    private static int digits(String s, int at, int n) {
        int v = 0;
        for (int i = at; i < at + n; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') return -1;
            v = v * 10 + (c - '0');
        }
        return v;
    }

    /** flinc's iso8601_ms (runtime/src/json.c): ms since the epoch, or Long.MIN_VALUE. */
    static long isoMs(String s) {
        int n = s.length();
        if (n < 10 || s.charAt(4) != '-' || s.charAt(7) != '-') return Long.MIN_VALUE;
        int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
        if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > MDAYS[mo - 1]) return Long.MIN_VALUE;
        if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return Long.MIN_VALUE;
        int h = 0, mi = 0, sec = 0, ms = 0;
        long offMin = 0;
        if (n > 10) {
            char sep = s.charAt(10);
            if (sep != 'T' && sep != 't' && sep != ' ') return Long.MIN_VALUE;
            if (n < 19 || s.charAt(13) != ':' || s.charAt(16) != ':') return Long.MIN_VALUE;
            h = digits(s, 11, 2);
            mi = digits(s, 14, 2);
            sec = digits(s, 17, 2);
            if (h < 0 || mi < 0 || sec < 0 || h > 23 || mi > 59 || sec > 60) return Long.MIN_VALUE;
            int i = 19;
            if (i < n && s.charAt(i) == '.') {
                i++;
                int nd = 0;
                while (i < n && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
                    if (nd < 3) ms = ms * 10 + (s.charAt(i) - '0');
                    nd++;
                    i++;
                }
                if (nd == 0) return Long.MIN_VALUE;
                for (; nd < 3; nd++) ms *= 10;
            }
            if (i >= n) return Long.MIN_VALUE;
            char z = s.charAt(i);
            if (z == 'Z' || z == 'z') {
                i++;
            } else if (z == '+' || z == '-') {
                int sign = z == '-' ? -1 : 1, oh, om;
                i++;
                if (n - i == 5 && s.charAt(i + 2) == ':') {
                    oh = digits(s, i, 2);
                    om = digits(s, i + 3, 2);
                    i += 5;
                } else if (n - i == 4) {
                    oh = digits(s, i, 2);
                    om = digits(s, i + 2, 2);
                    i += 4;
                } else {
                    return Long.MIN_VALUE;
                }
                if (oh < 0 || om < 0 || oh > 23 || om > 59) return Long.MIN_VALUE;
                offMin = sign * (long) (oh * 60 + om);
            } else {
                return Long.MIN_VALUE;
            }
            if (i != n) return Long.MIN_VALUE;
        }
        long days = daysFromCivil(y, mo, d);
        return ((days * 86400 + h * 3600L + mi * 60L + sec) - offMin * 60) * 1000 + ms;
    }

    static long daysFromCivil(long y, int m, int d) {
        y -= m <= 2 ? 1 : 0;
        long era = (y >= 0 ? y : y - 399) / 400;
        long yoe = y - era * 400;
        long doy = (153L * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }

    /** flinc's put_iso8601 (runtime/src/fields.c): "YYYY-MM-DDThh:mm:ss.sssZ". */
    static void appendIso(StringBuilder sb, long ms) {
        long sec = Math.floorDiv(ms, 1000);
        int msec = (int) (ms - sec * 1000);
        long days = Math.floorDiv(sec, 86400);
        int sod = (int) (sec - days * 86400);
        long z = days + 719468;
        long era = (z >= 0 ? z : z - 146096) / 146097;
        long doe = z - era * 146097;
        long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long y = yoe + era * 400;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        long d = doy - (153 * mp + 2) / 5 + 1;
        long m = mp < 10 ? mp + 3 : mp - 9;
        y += m <= 2 ? 1 : 0;
        sb.append(String.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, sod / 3600, sod / 60 % 60,
                sod % 60, msec));
    }

    // ---- conditions -------------------------------------------------------------------------

    static boolean completed(Tx t) {
        return t.status.equals("completed");
    }

    static boolean succeeded(Tx t) {
        return t.status.equals("completed") || t.status.equals("approved");
    }

    static boolean failed(Tx t) {
        return t.status.equals("failed") || t.status.equals("declined");
    }

    static boolean offHoursRisky(Tx t) {
        long h = (t.timestamp / 3600000) % 24;
        if (h < 0) h += 24;
        return (h >= 22 || h < 6) && t.risk >= 0.7 - 1e-9;
    }

    /** fraud.c's km_between: haversine, the same operations in the same order. */
    static double kmBetween(Tx a, Tx b) {
        final double r = 6371.0, d2r = 3.14159265358979323846 / 180.0;
        double dlat = (b.lat - a.lat) * d2r, dlon = (b.lon - a.lon) * d2r;
        double h = Math.sin(dlat / 2) * Math.sin(dlat / 2)
                + Math.cos(a.lat * d2r) * Math.cos(b.lat * d2r) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
        return 2 * r * Math.asin(Math.sqrt(h < 1 ? h : 1));
    }

    /** Another country less than 5 minutes later, or faster than 900 km/h. */
    static boolean farApart(Tx a, Tx b) {
        long dt = b.timestamp - a.timestamp;
        if (!a.country.equals(b.country) && dt < 5 * MIN) return true;
        double km = kmBetween(a, b);
        if (dt <= 0) return km > 0;
        return km / ((double) dt / 3600000.0) > 900;
    }

    static final class Completed extends SimpleCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx t) {
            return completed(t);
        }
    }

    static final class Succeeded extends SimpleCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx t) {
            return succeeded(t);
        }
    }

    static final class Failed extends SimpleCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx t) {
            return failed(t);
        }
    }

    static final class Big extends SimpleCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx t) {
            return t.amount >= 1000;
        }
    }

    static final class Small extends SimpleCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx t) {
            return t.amount <= 100;
        }
    }

    static final class OffHoursRisky extends SimpleCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx t) {
            return offHoursRisky(t);
        }
    }

    /** The geo rule's b: far from the user's previous transaction (the match's a). */
    static final class FarFromPrevious extends IterativeCondition<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean filter(Tx b, Context<Tx> ctx) throws Exception {
            for (Tx a : ctx.getEventsForPattern("a")) {
                return farApart(a, b);
            }
            return false;
        }
    }

    /** Equal timestamps: by transaction id (fraud.c's by_id compares the bytes; ids are ASCII). */
    static final class ById implements EventComparator<Tx> {
        private static final long serialVersionUID = 1L;

        @Override
        public int compare(Tx a, Tx b) {
            return a.id.compareTo(b.id);
        }
    }

    // ---- the patterns -------------------------------------------------------------------------

    static Pattern<Tx, Tx> velocity() {
        return Pattern.<Tx>begin("first", AfterMatchSkipStrategy.skipPastLastEvent()).where(new Completed())
                .followedBy("more").where(new Completed()).times(5)
                .within(Duration.ofMillis(2 * MIN));
    }

    static Pattern<Tx, Tx> structuring() {
        return Pattern.<Tx>begin("big", AfterMatchSkipStrategy.skipPastLastEvent()).where(new Big())
                .followedBy("small").where(new Small()).times(3)
                .within(Duration.ofMillis(10 * MIN));
    }

    static Pattern<Tx, Tx> geo() {
        return Pattern.<Tx>begin("a", AfterMatchSkipStrategy.noSkip())
                .next("b").where(new FarFromPrevious());
    }

    static Pattern<Tx, Tx> cardTesting() {
        return Pattern.<Tx>begin("fail", AfterMatchSkipStrategy.skipPastLastEvent()).where(new Failed())
                .timesOrMore(3).greedy()
                .followedBy("ok").where(new Succeeded())
                .within(Duration.ofMillis(10 * MIN));
    }

    static Pattern<Tx, Tx> offHours() {
        return Pattern.<Tx>begin("tx", AfterMatchSkipStrategy.noSkip()).where(new OffHoursRisky());
    }

    // ---- alerts ---------------------------------------------------------------------------------

    /** C's printf("%.Nf", v): round half even on the exact binary value, "inf"/"nan", "-0". */
    static String cfixed(double v, int decimals) {
        if (Double.isNaN(v)) return (Double.doubleToRawLongBits(v) < 0 ? "-" : "") + "nan";
        if (Double.isInfinite(v)) return v < 0 ? "-inf" : "inf";
        String s = new BigDecimal(v).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
        boolean negative = Double.doubleToRawLongBits(v) < 0;
        if (negative && !s.startsWith("-")) s = "-" + s; // -0.0 and small negatives: C keeps the sign
        return s;
    }

    static String two(long v) {
        return v >= 0 && v < 10 ? "0" + v : Long.toString(v);
    }

    static boolean idOk(String id) {
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'
                    || c == '_')) {
                return false;
            }
        }
        return !id.isEmpty();
    }

    static long fnv(long h, byte[] b) {
        for (byte x : b) h = (h ^ (x & 0xff)) * 0x100000001b3L;
        return h;
    }

    /**
     * One pattern's alerts: the events of the match in pattern order (as flinc_cep_nth numbers
     * them), the description made by {@link #describe}, the JSON line as fraud.c writes it.
     */
    abstract static class Alerts extends PatternProcessFunction<Tx, String> {
        private static final long serialVersionUID = 1L;
        final String type, title, severity;
        final String[] stages;
        private transient Counter rejected;

        Alerts(String type, String title, String severity, String... stages) {
            this.type = type;
            this.title = title;
            this.severity = severity;
            this.stages = stages;
        }

        @Override
        public void open(OpenContext ctx) throws Exception {
            super.open(ctx);
            rejected = getRuntimeContext().getMetricGroup().counter("rejectedAlerts");
        }

        abstract String describe(Map<String, List<Tx>> m, List<Tx> all);

        @Override
        public void processMatch(Map<String, List<Tx>> m, Context ctx, Collector<String> out) {
            List<Tx> all = new ArrayList<>();
            for (String s : stages) {
                List<Tx> l = m.get(s);
                if (l != null) all.addAll(l);
            }
            if (all.isEmpty()) return;
            long h = fnv(0xcbf29ce484222325L, type.getBytes(StandardCharsets.UTF_8));
            for (Tx t : all) {
                if (!idOk(t.id)) { // fraud.c rejects the record: no alert
                    if (rejected != null) rejected.inc();
                    return;
                }
                h = fnv(h, t.id.getBytes(StandardCharsets.UTF_8));
                h = (h ^ 0) * 0x100000001b3L;
            }
            Tx first = all.get(0), last = all.get(all.size() - 1);
            StringBuilder sb = new StringBuilder(256 + 40 * all.size());
            String hex = Long.toHexString(h);
            sb.append("{\"alertId\":\"");
            for (int i = hex.length(); i < 16; i++) sb.append('0');
            sb.append(hex).append("\",\"timestamp\":\"");
            appendIso(sb, last.timestamp);
            sb.append("\",\"alertType\":");
            Json.str(sb, type);
            sb.append(",\"userId\":");
            Json.str(sb, first.user);
            sb.append(",\"title\":");
            Json.str(sb, title);
            sb.append(",\"description\":");
            Json.str(sb, describe(m, all));
            sb.append(",\"severity\":").append(severity).append(",\"transactionId\":");
            Json.str(sb, last.id);
            sb.append(",\"status\":\"ACTIVE\",\"transactionIds\":[");
            for (int i = 0; i < all.size(); i++) {
                if (i > 0) sb.append(',');
                sb.append('"').append(all.get(i).id).append('"');
            }
            sb.append("]}");
            out.collect(sb.toString());
        }
    }

    static final class VelocityAlerts extends Alerts {
        private static final long serialVersionUID = 1L;

        VelocityAlerts() {
            super("VELOCITY_FRAUD", "High transaction velocity", "0.8", "first", "more");
        }

        @Override
        String describe(Map<String, List<Tx>> m, List<Tx> all) {
            Tx first = m.get("first").get(0);
            List<Tx> more = m.get("more");
            Tx last = more.get(more.size() - 1);
            return all.size() + " completed transactions within "
                    + cfixed((double) (last.timestamp - first.timestamp) / 1000.0, 0) + " s";
        }
    }

    static final class StructuringAlerts extends Alerts {
        private static final long serialVersionUID = 1L;

        StructuringAlerts() {
            super("STRUCTURING_FRAUD", "Possible structuring", "0.75", "big", "small");
        }

        @Override
        String describe(Map<String, List<Tx>> m, List<Tx> all) {
            return "a transaction of " + cfixed(m.get("big").get(0).amount, 2) + " followed by "
                    + m.get("small").size() + " of at most 100 within 10 minutes";
        }
    }

    static final class GeoAlerts extends Alerts {
        private static final long serialVersionUID = 1L;

        GeoAlerts() {
            super("GEO_ANOMALY", "Impossible travel", "0.9", "a", "b");
        }

        @Override
        String describe(Map<String, List<Tx>> m, List<Tx> all) {
            Tx a = m.get("a").get(0), b = m.get("b").get(0);
            double km = kmBetween(a, b), s = (double) (b.timestamp - a.timestamp) / 1000.0;
            return a.country + " then " + b.country + " " + cfixed(s, 0) + " s later, " + cfixed(km, 0)
                    + " km apart (" + cfixed(s > 0 ? km / (s / 3600.0) : Double.POSITIVE_INFINITY, 0) + " km/h)";
        }
    }

    static final class CardTestingAlerts extends Alerts {
        private static final long serialVersionUID = 1L;

        CardTestingAlerts() {
            super("CARD_TESTING", "Card testing", "0.85", "fail", "ok");
        }

        @Override
        String describe(Map<String, List<Tx>> m, List<Tx> all) {
            return m.get("fail").size() + " failed transactions then a successful one within 10 minutes";
        }
    }

    static final class OffHoursAlerts extends Alerts {
        private static final long serialVersionUID = 1L;

        OffHoursAlerts() {
            super("OFF_HOURS_HIGH_RISK", "High-risk transaction off hours", "0.6", "tx");
        }

        @Override
        String describe(Map<String, List<Tx>> m, List<Tx> all) {
            Tx t = m.get("tx").get(0);
            long s = t.timestamp / 1000;
            return "risk score " + cfixed(t.risk, 2) + " at " + two((s / 3600) % 24) + ":" + two((s / 60) % 60)
                    + " UTC";
        }
    }

    // ---- watermarks -----------------------------------------------------------------------------

    /** Bounded out-of-orderness with a watermark after every record (newest - bound - 1). */
    static final class EveryRecord implements WatermarkGenerator<Tx> {
        private long max = Long.MIN_VALUE + OUT_OF_ORDER_MS + 1;

        @Override
        public void onEvent(Tx t, long ts, WatermarkOutput out) {
            if (ts > max) {
                max = ts;
                out.emitWatermark(new Watermark(max - OUT_OF_ORDER_MS - 1));
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput out) {}
    }

    // ---- the job ----------------------------------------------------------------------------------

    /** Lines of transactions → the alerts of the five patterns as JSON lines. */
    public static DataStream<String> build(DataStream<String> lines, boolean watermarkEveryRecord) {
        WatermarkStrategy<Tx> wm = watermarkEveryRecord
                ? WatermarkStrategy.forGenerator(ctx -> new EveryRecord())
                : WatermarkStrategy.<Tx>forBoundedOutOfOrderness(Duration.ofMillis(OUT_OF_ORDER_MS));
        DataStream<Tx> txs = lines.flatMap(new Parse()).returns(TypeInformation.of(Tx.class)).name("parse")
                .uid("parse")
                .assignTimestampsAndWatermarks(wm.withTimestampAssigner((t, previous) -> t.timestamp))
                .name("timestamps");
        KeyedStream<Tx, String> byUser = txs.keyBy(t -> t.user, Types.STRING);
        ById order = new ById();
        DataStream<String> alerts = CEP.pattern(byUser, velocity(), order).process(new VelocityAlerts(), Types.STRING)
                .name("velocity").uid("velocity");
        alerts = alerts.union(
                CEP.pattern(byUser, structuring(), order).process(new StructuringAlerts(), Types.STRING)
                        .name("structuring").uid("structuring"),
                CEP.pattern(byUser, geo(), order).process(new GeoAlerts(), Types.STRING).name("geo").uid("geo"),
                CEP.pattern(byUser, cardTesting(), order).process(new CardTestingAlerts(), Types.STRING)
                        .name("card-testing").uid("card-testing"),
                CEP.pattern(byUser, offHours(), order).process(new OffHoursAlerts(), Types.STRING)
                        .name("off-hours").uid("off-hours"));
        return alerts;
    }
}
