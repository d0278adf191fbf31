package io.flinc.bench;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingProcessingTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The Nexmark queries q0-q9, q11, q12, q14, q21 and q22 with Flink's DataStream API, computing
 * what flinc's nexmark.so computes (docs/nexmark.md: definitions, line format, output fields), over
 * the same event file or the same generated events (NexmarkGen).
 *
 * <p>Every job: lines of the file → a parser chained to the source (POJOs; lines that do not
 * parse are dropped, as flinc rejects them) → the query → a FileSink of JSON lines. The windowed
 * queries (q5, q7, q8) take event time from {@code dateTime} with bounded-out-of-orderness
 * watermarks of {@code --watermark-delay} ms (default 0: the file is ordered), so watermark =
 * highest dateTime − delay − 1, as in flinc; the end of the file sends the final watermark, which
 * fires every remaining window and timer.
 */
public final class Nexmark {

    private Nexmark() {}

    static final long WINDOW_MS = 10_000; // q5 window, q7 and q8 tumbling windows
    static final long Q5_SLIDE_MS = 2_000;
    static final int Q7_PARTITIONS = 256;

    // ---- events (POJOs) -----------------------------------------------------------------

    public static class Person {
        public long id;
        public String name, emailAddress, creditCard, city, state;
        public long dateTime;
        public String extra;

        public Person() {}
    }

    public static class Auction {
        public long id;
        public String itemName, description;
        public long initialBid, reserve, dateTime, expires, seller, category;
        public String extra;

        public Auction() {}
    }

    /** A bid; as a q0 row: {"auction","bidder","price","dateTime","extra"}. */
    public static class Bid implements Json.Row {
        public long auction, bidder, price;
        public String channel, url;
        public long dateTime;
        public String extra;

        public Bid() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"bidder\":").append(bidder)
                    .append(",\"price\":").append(price).append(",\"dateTime\":").append(dateTime)
                    .append(",\"extra\":");
            Json.str(sb, extra);
            sb.append('}');
        }
    }

    /** One parsed line: kind 'P', 'A' or 'B' and the matching field set. */
    public static class Event {
        public char kind;
        public Person person;
        public Auction auction;
        public Bid bid;

        public Event() {}

        public long dateTime() {
            return kind == 'P' ? person.dateTime : kind == 'A' ? auction.dateTime : bid.dateTime;
        }
    }

    // ---- the line format (docs/nexmark.md) -------------------------------------------------

    /** Splits a line at TABs into exactly n fields (offsets into the line); false otherwise. */
    static boolean fields(String s, int len, int[] at, int n) {
        int from = 2;
        for (int i = 0; i < n - 1; i++) {
            int t = s.indexOf('\t', from);
            if (t < 0 || t >= len) return false;
            at[2 * i] = from;
            at[2 * i + 1] = t;
            from = t + 1;
        }
        if (s.indexOf('\t', from) >= 0 && s.indexOf('\t', from) < len) return false; // too many
        at[2 * (n - 1)] = from;
        at[2 * (n - 1) + 1] = len;
        return true;
    }

    /** A signed decimal int64 without '+', spaces or other text (as nexmark_parse_line). */
    static long num(String s, int from, int to) {
        boolean neg = from < to && s.charAt(from) == '-';
        if (neg) from++;
        if (from == to || to - from > 19) throw BAD;
        long v = 0;
        for (int i = from; i < to; i++) {
            int d = s.charAt(i) - '0';
            if (d < 0 || d > 9) throw BAD;
            v = v * 10 + d; // 19 digits fit an unsigned 64-bit value
        }
        if (Long.compareUnsigned(v, neg ? Long.MIN_VALUE : Long.MAX_VALUE) > 0) throw BAD;
        return neg ? -v : v;
    }

    static final class BadLine extends RuntimeException {
        BadLine() {
            super("malformed Nexmark line", null, false, false);
        }
    }

    static final BadLine BAD = new BadLine();

    /** Parses the kinds in {@code kinds} ("PAB" or a part); other lines and bad lines: null. */
    static Event parse(String s, String kinds, int[] at) {
        int len = s.length();
        if (len > 0 && s.charAt(len - 1) == '\r') len--;
        if (len < 2 || s.charAt(1) != '\t') return null;
        char kind = s.charAt(0);
        if (kinds.indexOf(kind) < 0) return null;
        try {
            Event e = new Event();
            e.kind = kind;
            switch (kind) {
                case 'P': {
                    if (!fields(s, len, at, 8)) return null;
                    Person p = new Person();
                    p.id = num(s, at[0], at[1]);
                    p.name = s.substring(at[2], at[3]);
                    p.emailAddress = s.substring(at[4], at[5]);
                    p.creditCard = s.substring(at[6], at[7]);
                    p.city = s.substring(at[8], at[9]);
                    p.state = s.substring(at[10], at[11]);
                    p.dateTime = num(s, at[12], at[13]);
                    p.extra = s.substring(at[14], at[15]);
                    e.person = p;
                    return e;
                }
                case 'A': {
                    if (!fields(s, len, at, 10)) return null;
                    Auction a = new Auction();
                    a.id = num(s, at[0], at[1]);
                    a.itemName = s.substring(at[2], at[3]);
                    a.description = s.substring(at[4], at[5]);
                    a.initialBid = num(s, at[6], at[7]);
                    a.reserve = num(s, at[8], at[9]);
                    a.dateTime = num(s, at[10], at[11]);
                    a.expires = num(s, at[12], at[13]);
                    a.seller = num(s, at[14], at[15]);
                    a.category = num(s, at[16], at[17]);
                    a.extra = s.substring(at[18], at[19]);
                    e.auction = a;
                    return e;
                }
                case 'B': {
                    if (!fields(s, len, at, 7)) return null;
                    Bid b = new Bid();
                    b.auction = num(s, at[0], at[1]);
                    b.bidder = num(s, at[2], at[3]);
                    b.price = num(s, at[4], at[5]);
                    b.channel = s.substring(at[6], at[7]);
                    b.url = s.substring(at[8], at[9]);
                    b.dateTime = num(s, at[10], at[11]);
                    b.extra = s.substring(at[12], at[13]);
                    e.bid = b;
                    return e;
                }
                default:
                    return null;
            }
        } catch (BadLine bad) {
            return null;
        }
    }

    /** Lines → events of the given kinds (chained to the source). */
    public static final class ParseEvents implements FlatMapFunction<String, Event> {
        private final String kinds;
        private transient int[] at;

        ParseEvents(String kinds) {
            this.kinds = kinds;
        }

        @Override
        public void flatMap(String line, Collector<Event> out) {
            if (at == null) at = new int[20];
            Event e = parse(line, kinds, at);
            if (e != null) out.collect(e);
        }
    }

    /** Lines → bids. */
    public static final class ParseBids implements FlatMapFunction<String, Bid> {
        private transient int[] at;

        @Override
        public void flatMap(String line, Collector<Bid> out) {
            if (at == null) at = new int[20];
            Event e = parse(line, "B", at);
            if (e != null) out.collect(e.bid);
        }
    }

    static <T> WatermarkStrategy<T> watermarks(long delayMs, TimestampOf<T> ts) {
        return WatermarkStrategy.<T>forBoundedOutOfOrderness(Duration.ofMillis(delayMs))
                .withTimestampAssigner((e, previous) -> ts.of(e));
    }

    @FunctionalInterface
    interface TimestampOf<T> extends java.io.Serializable {
        long of(T e);
    }

    static DataStream<Bid> bids(DataStream<String> lines) {
        return lines.flatMap(new ParseBids()).name("parse-bids");
    }

    /**
     * A query's input: lines of the event file (parsed by a flatMap chained to the source), or the
     * events of the built-in generator (NexmarkGen, the Nexmark-harness mode).
     */
    public static final class In {
        final DataStream<String> lines;
        final DataStream<Event> generated;

        private In(DataStream<String> lines, DataStream<Event> generated) {
            this.lines = lines;
            this.generated = generated;
        }

        public static In lines(DataStream<String> lines) {
            return new In(lines, null);
        }

        public static In generated(DataStream<Event> events) {
            return new In(null, events);
        }

        DataStream<Bid> bids() {
            if (lines != null) return Nexmark.bids(lines);
            return generated.flatMap((Event e, Collector<Bid> out) -> {
                if (e.kind == 'B') out.collect(e.bid);
            }).returns(Bid.class).name("bids");
        }

        /** Events of the given kinds ("PA", "PAB"); the generated stream has them all. */
        DataStream<Event> events(String kinds) {
            return lines != null ? lines.flatMap(new ParseEvents(kinds)).name("parse") : generated;
        }
    }

    /** The query named job (q0 ... q22) over in, or null when there is no such query. */
    public static DataStream<? extends Json.Row> query(String job, In in, long wmDelay) {
        switch (job) {
            case "q0": return q0(in, wmDelay);
            case "q1": return q1(in, wmDelay);
            case "q2": return q2(in, wmDelay);
            case "q3": return q3(in, wmDelay);
            case "q4": return q4(in, wmDelay);
            case "q5": return q5(in, wmDelay);
            case "q6": return q6(in, wmDelay);
            case "q7": return q7(in, wmDelay);
            case "q8": return q8(in, wmDelay);
            case "q9": return q9(in, wmDelay);
            case "q11": return q11(in, wmDelay);
            case "q12": return q12(in, wmDelay);
            case "q14": return q14(in, wmDelay);
            case "q21": return q21(in, wmDelay);
            case "q22": return q22(in, wmDelay);
            default: return null;
        }
    }

    static long windowStart(long ts, long size) {
        return ts - Math.floorMod(ts, size);
    }

    // ---- q0: pass-through --------------------------------------------------------------

    public static DataStream<? extends Json.Row> q0(In in, long wmDelay) {
        return in.bids();
    }

    // ---- q1: currency conversion ----------------------------------------------------------

    public static class Q1Row implements Json.Row {
        public long auction, bidder;
        public long priceMilli; // 0.908 * price as DECIMAL(23,3): a count of thousandths
        public long dateTime;
        public String extra;

        public Q1Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"bidder\":").append(bidder)
                    .append(",\"price\":");
            long m = Math.abs(priceMilli);
            if (priceMilli < 0) sb.append('-');
            sb.append(m / 1000).append('.').append((char) ('0' + m / 100 % 10))
                    .append((char) ('0' + m / 10 % 10)).append((char) ('0' + m % 10));
            sb.append(",\"dateTime\":").append(dateTime).append(",\"extra\":");
            Json.str(sb, extra);
            sb.append('}');
        }
    }

    static final long Q1_PRICE_MAX = Long.MAX_VALUE / 908; // |price| above overflows price * 908

    public static DataStream<? extends Json.Row> q1(In in, long wmDelay) {
        return in.bids().flatMap((Bid b, Collector<Q1Row> out) -> {
            if (b.price > Q1_PRICE_MAX || b.price < -Q1_PRICE_MAX) return; // rejected, as in flinc
            Q1Row r = new Q1Row();
            r.auction = b.auction;
            r.bidder = b.bidder;
            r.priceMilli = b.price * 908;
            r.dateTime = b.dateTime;
            r.extra = b.extra;
            out.collect(r);
        }).returns(Q1Row.class).name("to-euro");
    }

    // ---- q2: selection -------------------------------------------------------------------

    public static class Q2Row implements Json.Row {
        public long auction, price;

        public Q2Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"price\":").append(price).append('}');
        }
    }

    public static DataStream<? extends Json.Row> q2(In in, long wmDelay) {
        return in.bids().flatMap((Bid b, Collector<Q2Row> out) -> {
            if (b.auction % 123 != 0) return;
            Q2Row r = new Q2Row();
            r.auction = b.auction;
            r.price = b.price;
            out.collect(r);
        }).returns(Q2Row.class).name("auction-mod-123");
    }

    // ---- q3: local item suggestion (incremental join) ----------------------------------

    /** A person as the join keeps it; match = lives in OR, ID or CA (else no strings kept). */
    public static class Q3Person {
        public long id;
        public boolean match;
        public String name, city, state;

        public Q3Person() {}
    }

    public static class Q3Auction {
        public long id, seller;

        public Q3Auction() {}
    }

    public static class Q3Row implements Json.Row {
        public String name, city, state;
        public long id;

        public Q3Row() {}

        Q3Row(Q3Person p, long id) {
            this.name = p.name;
            this.city = p.city;
            this.state = p.state;
            this.id = id;
        }

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"name\":");
            Json.str(sb, name);
            sb.append(",\"city\":");
            Json.str(sb, city);
            sb.append(",\"state\":");
            Json.str(sb, state);
            sb.append(",\"id\":").append(id).append('}');
        }
    }

    /**
     * Persons keyed by id and category-10 auctions keyed by seller: a person stores itself and
     * joins the auctions that came before it (sellers may run ahead of the persons); an auction
     * joins the stored person or waits. Every matching pair over the whole stream, once.
     */
    public static final class Q3Join extends KeyedCoProcessFunction<Long, Q3Person, Q3Auction, Q3Row> {
        private transient ValueState<Q3Person> person;
        private transient ListState<Long> pending;

        @Override
        public void open(OpenContext ctx) {
            person = getRuntimeContext().getState(new ValueStateDescriptor<>("person", Q3Person.class));
            pending = getRuntimeContext().getListState(new ListStateDescriptor<>("pending", Types.LONG));
        }

        @Override
        public void processElement1(Q3Person p, Context ctx, Collector<Q3Row> out) throws Exception {
            person.update(p);
            if (p.match) {
                Iterable<Long> waiting = pending.get();
                if (waiting != null) {
                    for (Long id : waiting) out.collect(new Q3Row(p, id));
                }
            }
            pending.clear();
        }

        @Override
        public void processElement2(Q3Auction a, Context ctx, Collector<Q3Row> out) throws Exception {
            Q3Person p = person.value();
            if (p == null) {
                pending.add(a.id);
            } else if (p.match) {
                out.collect(new Q3Row(p, a.id));
            }
        }
    }

    public static DataStream<? extends Json.Row> q3(In in, long wmDelay) {
        DataStream<Event> events = in.events("PA");
        DataStream<Q3Person> persons = events.flatMap((Event e, Collector<Q3Person> out) -> {
            if (e.kind != 'P') return;
            Q3Person p = new Q3Person();
            p.id = e.person.id;
            String st = e.person.state;
            if (st.equals("OR") || st.equals("ID") || st.equals("CA")) {
                p.match = true;
                p.name = e.person.name;
                p.city = e.person.city;
                p.state = st;
            }
            out.collect(p);
        }).returns(Q3Person.class).name("persons");
        DataStream<Q3Auction> auctions = events.flatMap((Event e, Collector<Q3Auction> out) -> {
            if (e.kind != 'A' || e.auction.category != 10) return;
            Q3Auction a = new Q3Auction();
            a.id = e.auction.id;
            a.seller = e.auction.seller;
            out.collect(a);
        }).returns(Q3Auction.class).name("auctions-cat-10");
        return persons.connect(auctions)
                .keyBy(p -> p.id, a -> a.seller, Types.LONG)
                .process(new Q3Join()).uid("q3-join").name("q3-join");
    }

    // ---- q5: hot items ---------------------------------------------------------------------

    /** Bids of one auction in one window; the output row. */
    public static class Q5Count implements Json.Row {
        public long auction, num, starttime, endtime;

        public Q5Count() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"num\":").append(num)
                    .append(",\"starttime\":").append(starttime).append(",\"endtime\":").append(endtime)
                    .append('}');
        }
    }

    /** count(*), incrementally. */
    public static final class CountBids implements AggregateFunction<Bid, Long, Long> {
        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(Bid b, Long n) {
            return n + 1;
        }

        @Override
        public Long getResult(Long n) {
            return n;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }
    }

    public static final class Q5WithWindow extends ProcessWindowFunction<Long, Q5Count, Long, TimeWindow> {
        @Override
        public void process(Long auction, Context ctx, Iterable<Long> counts, Collector<Q5Count> out) {
            Q5Count c = new Q5Count();
            c.auction = auction;
            c.num = counts.iterator().next();
            c.starttime = ctx.window().getStart();
            c.endtime = ctx.window().getEnd();
            out.collect(c);
        }
    }

    /**
     * Keyed by window end: the counts of the auctions with the highest count (all of them on a
     * tie), emitted when the watermark passes the window (its counts carry timestamp end − 1).
     */
    public static final class Q5Max extends KeyedProcessFunction<Long, Q5Count, Q5Count> {
        private transient ValueState<Long> max;
        private transient ListState<Q5Count> top;

        @Override
        public void open(OpenContext ctx) {
            max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
            top = getRuntimeContext().getListState(new ListStateDescriptor<>("top", Q5Count.class));
        }

        @Override
        public void processElement(Q5Count c, Context ctx, Collector<Q5Count> out) throws Exception {
            Long m = max.value();
            if (m == null) {
                max.update(c.num);
                top.add(c);
                ctx.timerService().registerEventTimeTimer(c.endtime - 1);
            } else if (c.num > m) {
                max.update(c.num);
                top.update(List.of(c));
            } else if (c.num == m) {
                top.add(c);
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Q5Count> out) throws Exception {
            Iterable<Q5Count> all = top.get();
            if (all != null) {
                for (Q5Count c : all) out.collect(c);
            }
            top.clear();
            max.clear();
        }
    }

    public static DataStream<? extends Json.Row> q5(In in, long wmDelay) {
        return in.bids()
                .assignTimestampsAndWatermarks(watermarks(wmDelay, (Bid b) -> b.dateTime))
                .keyBy(b -> b.auction, Types.LONG)
                .window(SlidingEventTimeWindows.of(Duration.ofMillis(WINDOW_MS), Duration.ofMillis(Q5_SLIDE_MS)))
                .aggregate(new CountBids(), new Q5WithWindow()).uid("q5-count").name("q5-count")
                .keyBy(c -> c.endtime, Types.LONG)
                .process(new Q5Max()).uid("q5-max").name("q5-max");
    }

    // ---- q7: highest bid -------------------------------------------------------------------

    /** The q7 row: {"auction","price","bidder","dateTime","extra"}. */
    public static class Q7Row implements Json.Row {
        public long auction, price, bidder, dateTime;
        public String extra;

        public Q7Row() {}

        Q7Row(Bid b) {
            auction = b.auction;
            price = b.price;
            bidder = b.bidder;
            dateTime = b.dateTime;
            extra = b.extra;
        }

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"price\":").append(price)
                    .append(",\"bidder\":").append(bidder).append(",\"dateTime\":").append(dateTime)
                    .append(",\"extra\":");
            Json.str(sb, extra);
            sb.append('}');
        }
    }

    /**
     * A candidate for the window ending at wend: one of a partition's highest bids (edge = false),
     * or a bid made exactly at wend (edge = true: BETWEEN includes the window end).
     */
    public static class Q7Cand {
        public boolean edge;
        public long wend;
        public Q7Row bid;

        public Q7Cand() {}

        Q7Cand(boolean edge, long wend, Q7Row bid) {
            this.edge = edge;
            this.wend = wend;
            this.bid = bid;
        }
    }

    /** Per window and partition: the highest price and the bids that have it. */
    public static class MaxBids {
        public long price = Long.MIN_VALUE;
        public List<Q7Row> bids = new ArrayList<>(1);

        public MaxBids() {}
    }

    public static final class TopBids implements AggregateFunction<Bid, MaxBids, MaxBids> {
        @Override
        public MaxBids createAccumulator() {
            return new MaxBids();
        }

        @Override
        public MaxBids add(Bid b, MaxBids acc) {
            if (b.price > acc.price) {
                acc.price = b.price;
                acc.bids.clear();
                acc.bids.add(new Q7Row(b));
            } else if (b.price == acc.price) {
                acc.bids.add(new Q7Row(b));
            }
            return acc;
        }

        @Override
        public MaxBids getResult(MaxBids acc) {
            return acc;
        }

        @Override
        public MaxBids merge(MaxBids a, MaxBids b) {
            if (b.price > a.price) return b;
            if (b.price == a.price) a.bids.addAll(b.bids);
            return a;
        }
    }

    public static final class Q7Candidates extends ProcessWindowFunction<MaxBids, Q7Cand, Integer, TimeWindow> {
        @Override
        public void process(Integer part, Context ctx, Iterable<MaxBids> accs, Collector<Q7Cand> out) {
            long wend = ctx.window().getEnd();
            for (MaxBids acc : accs) {
                for (Q7Row b : acc.bids) out.collect(new Q7Cand(false, wend, b));
            }
        }
    }

    /** Spreads bids evenly over Q7_PARTITIONS keys (the hot auction would make one key hot). */
    static int partition(Bid b) {
        long h = b.auction * 0x9e3779b97f4a7c15L ^ b.bidder * 0xc2b2ae3d27d4eb4fL
                ^ b.price * 0x165667b19e3779f9L ^ b.dateTime;
        h ^= h >>> 29;
        h *= 0xbf58476d1ce4e5b9L;
        return (int) Long.remainderUnsigned(h >>> 32, Q7_PARTITIONS);
    }

    /**
     * Keyed by window end: the global max over the partitions' candidates; at the window end
     * (edge bids carry that timestamp) the bids at the max and the edge bids with that price.
     */
    public static final class Q7Max extends KeyedProcessFunction<Long, Q7Cand, Q7Row> {
        private transient ValueState<Long> max;
        private transient ListState<Q7Row> top, edges;

        @Override
        public void open(OpenContext ctx) {
            max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
            top = getRuntimeContext().getListState(new ListStateDescriptor<>("top", Q7Row.class));
            edges = getRuntimeContext().getListState(new ListStateDescriptor<>("edges", Q7Row.class));
        }

        @Override
        public void processElement(Q7Cand c, Context ctx, Collector<Q7Row> out) throws Exception {
            ctx.timerService().registerEventTimeTimer(c.wend);
            if (c.edge) {
                edges.add(c.bid);
                return;
            }
            Long m = max.value();
            if (m == null || c.bid.price > m) {
                max.update(c.bid.price);
                top.update(List.of(c.bid));
            } else if (c.bid.price == m) {
                top.add(c.bid);
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Q7Row> out) throws Exception {
            Long m = max.value();
            if (m != null) {
                Iterable<Q7Row> t = top.get();
                if (t != null) for (Q7Row b : t) out.collect(b);
                Iterable<Q7Row> e = edges.get();
                if (e != null) for (Q7Row b : e) if (b.price == m) out.collect(b);
            }
            top.clear();
            edges.clear();
            max.clear();
        }
    }

    public static DataStream<? extends Json.Row> q7(In in, long wmDelay) {
        DataStream<Bid> bids = in.bids()
                .assignTimestampsAndWatermarks(watermarks(wmDelay, (Bid b) -> b.dateTime));
        DataStream<Q7Cand> tops = bids
                .keyBy(Nexmark::partition, Types.INT)
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(WINDOW_MS)))
                .aggregate(new TopBids(), new Q7Candidates()).uid("q7-partial-max").name("q7-partial-max");
        DataStream<Q7Cand> edges = bids
                .flatMap((Bid b, Collector<Q7Cand> out) -> {
                    if (windowStart(b.dateTime, WINDOW_MS) == b.dateTime) {
                        out.collect(new Q7Cand(true, b.dateTime, new Q7Row(b)));
                    }
                }).returns(Q7Cand.class).name("q7-edges");
        return tops.union(edges)
                .keyBy(c -> c.wend, Types.LONG)
                .process(new Q7Max()).uid("q7-max").name("q7-max");
    }

    // ---- q8: monitor new users -------------------------------------------------------------

    public static class Q8Person {
        public long id;
        public String name;

        public Q8Person() {}
    }

    /** Per (person id, window): seen as a person (with the name) / as a seller. */
    public static class Q8Slot {
        public boolean person, auction;
        public String name;

        public Q8Slot() {}
    }

    public static class Q8Row implements Json.Row {
        public long id;
        public String name;
        public long stime;

        public Q8Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"id\":").append(id).append(",\"name\":");
            Json.str(sb, name);
            sb.append(",\"stime\":").append(stime).append('}');
        }
    }

    /**
     * Persons keyed by id, sellers keyed by seller: per 10 s tumbling window, a row when the
     * person was created and auctioned something in it; the entry goes at window end − 1.
     */
    public static final class Q8Join extends KeyedCoProcessFunction<Long, Q8Person, Long, Q8Row> {
        private transient MapState<Long, Q8Slot> win;

        @Override
        public void open(OpenContext ctx) {
            win = getRuntimeContext().getMapState(
                    new MapStateDescriptor<>("win", Types.LONG, Types.POJO(Q8Slot.class)));
        }

        private Q8Slot slot(long ws, Context ctx) throws Exception {
            Q8Slot s = win.get(ws);
            if (s == null) {
                s = new Q8Slot();
                ctx.timerService().registerEventTimeTimer(ws + WINDOW_MS - 1);
            }
            return s;
        }

        @Override
        public void processElement1(Q8Person p, Context ctx, Collector<Q8Row> out) throws Exception {
            long ws = windowStart(ctx.timestamp(), WINDOW_MS);
            Q8Slot s = slot(ws, ctx);
            s.person = true;
            s.name = p.name;
            win.put(ws, s);
        }

        @Override
        public void processElement2(Long seller, Context ctx, Collector<Q8Row> out) throws Exception {
            long ws = windowStart(ctx.timestamp(), WINDOW_MS);
            Q8Slot s = slot(ws, ctx);
            if (s.auction) return;
            s.auction = true;
            win.put(ws, s);
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Q8Row> out) throws Exception {
            long ws = ts - (WINDOW_MS - 1);
            Q8Slot s = win.get(ws);
            if (s != null && s.person && s.auction) {
                Q8Row r = new Q8Row();
                r.id = ctx.getCurrentKey();
                r.name = s.name;
                r.stime = ws;
                out.collect(r);
            }
            win.remove(ws);
        }
    }

    public static DataStream<? extends Json.Row> q8(In in, long wmDelay) {
        DataStream<Event> events = in.events("PA")
                .assignTimestampsAndWatermarks(watermarks(wmDelay, Event::dateTime));
        DataStream<Q8Person> persons = events.flatMap((Event e, Collector<Q8Person> out) -> {
            if (e.kind != 'P') return;
            Q8Person p = new Q8Person();
            p.id = e.person.id;
            p.name = e.person.name;
            out.collect(p);
        }).returns(Q8Person.class).name("persons");
        DataStream<Long> sellers = events.flatMap((Event e, Collector<Long> out) -> {
            if (e.kind == 'A') out.collect(e.auction.seller);
        }).returns(Types.LONG).name("sellers");
        return persons.connect(sellers)
                .keyBy(p -> p.id, s -> s, Types.LONG)
                .process(new Q8Join()).uid("q8-join").name("q8-join");
    }

    // ---- closed auctions: the join of q4, q6 and q9 -------------------------------------------

    /** An auction with its winning bid (the highest; ties: earliest, lowest bidder, extra). */
    public static class Winner {
        public Auction auction;
        public Bid bid;

        public Winner() {}

        Winner(Auction a, Bid b) {
            auction = a;
            bid = b;
        }
    }

    static boolean beats(Bid x, Bid y) {
        if (x.price != y.price) return x.price > y.price;
        if (x.dateTime != y.dateTime) return x.dateTime < y.dateTime;
        if (x.bidder != y.bidder) return x.bidder < y.bidder;
        if (x.extra == null || y.extra == null) return false;
        return x.extra.compareTo(y.extra) < 0;
    }

    /**
     * Keyed by auction id: bids made between the auction's dateTime and its expiry (both included,
     * the SQL's BETWEEN) join it; an event-time timer at the expiry emits the winner. A bid that
     * comes before its auction waits in `early` unless the watermark is already at its dateTime.
     * The same plan as flinc's auction-close and q9-winning operators.
     */
    public static final class AuctionClose extends KeyedCoProcessFunction<Long, Bid, Auction, Winner> {
        private transient ValueState<Auction> auction;
        private transient ValueState<Bid> best;
        private transient ListState<Bid> early;

        @Override
        public void open(OpenContext ctx) {
            auction = getRuntimeContext().getState(new ValueStateDescriptor<>("auction", Auction.class));
            best = getRuntimeContext().getState(new ValueStateDescriptor<>("best", Bid.class));
            early = getRuntimeContext().getListState(new ListStateDescriptor<>("early", Bid.class));
        }

        // pipeline.object-reuse is on, under which a function must not keep an input object past
        // the call (Flink's contract), so the heap state keeps copies (one per auction, and per
        // early or winning bid)
        static Bid copy(Bid b) {
            Bid c = new Bid();
            c.auction = b.auction;
            c.bidder = b.bidder;
            c.price = b.price;
            c.channel = b.channel;
            c.url = b.url;
            c.dateTime = b.dateTime;
            c.extra = b.extra;
            return c;
        }

        static Auction copy(Auction a) {
            Auction c = new Auction();
            c.id = a.id;
            c.itemName = a.itemName;
            c.description = a.description;
            c.initialBid = a.initialBid;
            c.reserve = a.reserve;
            c.dateTime = a.dateTime;
            c.expires = a.expires;
            c.seller = a.seller;
            c.category = a.category;
            c.extra = a.extra;
            return c;
        }

        private void fold(Bid b) throws Exception {
            Bid cur = best.value();
            if (cur == null || beats(b, cur)) best.update(copy(b));
        }

        @Override
        public void processElement1(Bid b, Context ctx, Collector<Winner> out) throws Exception {
            Auction a = auction.value();
            if (a != null) {
                if (b.dateTime >= a.dateTime && b.dateTime <= a.expires) fold(b);
                return;
            }
            if (b.dateTime <= ctx.timerService().currentWatermark()) return;
            early.add(copy(b));
            ctx.timerService().registerEventTimeTimer(b.dateTime);
        }

        @Override
        public void processElement2(Auction a, Context ctx, Collector<Winner> out) throws Exception {
            auction.update(copy(a));
            ctx.timerService().registerEventTimeTimer(a.expires);
            Iterable<Bid> waiting = early.get();
            if (waiting != null) {
                for (Bid b : waiting) {
                    if (b.dateTime >= a.dateTime && b.dateTime <= a.expires) fold(b);
                }
            }
            early.clear();
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Winner> out) throws Exception {
            Auction a = auction.value();
            if (a == null) {
                // an early bid's timer, its auction not here: the bids made at or before ts can no
                // longer join one (an auction yet to come has a dateTime after the watermark)
                Iterable<Bid> waiting = early.get();
                List<Bid> keep = new ArrayList<>();
                if (waiting != null) for (Bid b : waiting) if (b.dateTime > ts) keep.add(b);
                early.update(keep);
                return;
            }
            if (ts != a.expires) return;
            Bid b = best.value();
            if (b != null) out.collect(new Winner(a, b));
            auction.clear();
            best.clear();
        }
    }

    /** Auctions and bids into AuctionClose; `full`: with every field (q9), else only the numbers. */
    static DataStream<Winner> closedAuctions(In in, long wmDelay, boolean full) {
        DataStream<Event> events = in.events("AB")
                .assignTimestampsAndWatermarks(watermarks(wmDelay, Event::dateTime));
        DataStream<Bid> bids = events.flatMap((Event e, Collector<Bid> out) -> {
            if (e.kind != 'B') return;
            if (full) {
                out.collect(e.bid);
                return;
            }
            Bid b = new Bid();
            b.auction = e.bid.auction;
            b.price = e.bid.price;
            b.dateTime = e.bid.dateTime;
            out.collect(b);
        }).returns(Bid.class).name("bids");
        DataStream<Auction> auctions = events.flatMap((Event e, Collector<Auction> out) -> {
            if (e.kind != 'A') return;
            if (full) {
                out.collect(e.auction);
                return;
            }
            Auction a = new Auction();
            a.id = e.auction.id;
            a.seller = e.auction.seller;
            a.category = e.auction.category;
            a.dateTime = e.auction.dateTime;
            a.expires = e.auction.expires;
            out.collect(a);
        }).returns(Auction.class).name("auctions");
        String uid = full ? "q9-winning" : "auction-close";
        return bids.connect(auctions)
                .keyBy(b -> b.auction, a -> a.id, Types.LONG)
                .process(new AuctionClose()).uid(uid).name(uid);
    }

    // ---- q4: average price for a category ------------------------------------------------------

    public static class Q4Row implements Json.Row {
        public long category, avg, dateTime;

        public Q4Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"category\":").append(category).append(",\"avg\":").append(avg)
                    .append(",\"dateTime\":").append(dateTime).append('}');
        }
    }

    public static class SumN {
        public long sum, n;

        public SumN() {}
    }

    /**
     * Keyed by category: closing prices wait by closing time until the watermark passes it, then
     * the running average (AVG of a BIGINT: rounded toward zero) as of that time is emitted.
     */
    public static final class Q4Avg extends KeyedProcessFunction<Long, Winner, Q4Row> {
        private transient ValueState<SumN> total;
        private transient MapState<Long, SumN> pending;

        @Override
        public void open(OpenContext ctx) {
            total = getRuntimeContext().getState(new ValueStateDescriptor<>("sum", SumN.class));
            pending = getRuntimeContext().getMapState(
                    new MapStateDescriptor<>("pending", Types.LONG, Types.POJO(SumN.class)));
        }

        @Override
        public void processElement(Winner w, Context ctx, Collector<Q4Row> out) throws Exception {
            long t = w.auction.expires;
            SumN s = pending.get(t);
            if (s == null) {
                s = new SumN();
                ctx.timerService().registerEventTimeTimer(t);
            }
            s.sum += w.bid.price;
            s.n++;
            pending.put(t, s);
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Q4Row> out) throws Exception {
            SumN add = pending.get(ts);
            if (add == null) return;
            pending.remove(ts);
            SumN s = total.value();
            if (s == null) s = new SumN();
            s.sum += add.sum;
            s.n += add.n;
            total.update(s);
            Q4Row r = new Q4Row();
            r.category = ctx.getCurrentKey();
            r.avg = s.sum / s.n;
            r.dateTime = ts;
            out.collect(r);
        }
    }

    public static DataStream<? extends Json.Row> q4(In in, long wmDelay) {
        return closedAuctions(in, wmDelay, false)
                .keyBy(w -> w.auction.category, Types.LONG)
                .process(new Q4Avg()).uid("q4-avg").name("q4-avg");
    }

    // ---- q6: average selling price by seller -------------------------------------------------

    static final int Q6_ROWS = 11; // ROWS BETWEEN 10 PRECEDING AND CURRENT ROW

    public static class Q6Row implements Json.Row {
        public long seller, avg, dateTime;

        public Q6Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"seller\":").append(seller).append(",\"avg\":").append(avg)
                    .append(",\"dateTime\":").append(dateTime).append('}');
        }
    }

    /**
     * Keyed by seller: closed auctions wait by closing time; when the watermark passes it they are
     * taken in auction id order, each giving the average of its price and the 10 before it.
     */
    public static final class Q6Avg extends KeyedProcessFunction<Long, Winner, Q6Row> {
        private transient ValueState<long[]> hist; // n, pos, then Q6_ROWS prices (a ring)
        private transient MapState<Long, List<Long>> pending; // closing time -> id, price, id, price...

        @Override
        public void open(OpenContext ctx) {
            hist = getRuntimeContext().getState(
                    new ValueStateDescriptor<long[]>("history",
                            org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
            pending = getRuntimeContext().getMapState(
                    new MapStateDescriptor<>("pending", Types.LONG, Types.LIST(Types.LONG)));
        }

        @Override
        public void processElement(Winner w, Context ctx, Collector<Q6Row> out) throws Exception {
            long t = w.auction.expires;
            List<Long> l = pending.get(t);
            if (l == null) {
                l = new ArrayList<>(2);
                ctx.timerService().registerEventTimeTimer(t);
            }
            l.add(w.auction.id);
            l.add(w.bid.price);
            pending.put(t, l);
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Q6Row> out) throws Exception {
            List<Long> l = pending.get(ts);
            if (l == null) return;
            pending.remove(ts);
            int n = l.size() / 2;
            long[][] due = new long[n][];
            for (int i = 0; i < n; i++) due[i] = new long[] {l.get(2 * i), l.get(2 * i + 1)};
            java.util.Arrays.sort(due, (x, y) -> Long.compare(x[0], y[0]));
            long[] h = hist.value();
            if (h == null) h = new long[2 + Q6_ROWS];
            for (long[] d : due) {
                h[2 + (int) h[1]] = d[1];
                h[1] = (h[1] + 1) % Q6_ROWS;
                if (h[0] < Q6_ROWS) h[0]++;
                long sum = 0;
                for (int k = 0; k < h[0]; k++) sum += h[2 + k];
                Q6Row r = new Q6Row();
                r.seller = ctx.getCurrentKey();
                r.avg = sum / h[0];
                r.dateTime = ts;
                out.collect(r);
            }
            hist.update(h);
        }
    }

    public static DataStream<? extends Json.Row> q6(In in, long wmDelay) {
        return closedAuctions(in, wmDelay, false)
                .keyBy(w -> w.auction.seller, Types.LONG)
                .process(new Q6Avg()).uid("q6-avg").name("q6-avg");
    }

    // ---- q9: winning bids ----------------------------------------------------------------------

    public static class Q9Row implements Json.Row {
        public Auction a;
        public Bid b;

        public Q9Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"id\":").append(a.id).append(",\"itemName\":");
            Json.str(sb, a.itemName);
            sb.append(",\"description\":");
            Json.str(sb, a.description);
            sb.append(",\"initialBid\":").append(a.initialBid).append(",\"reserve\":").append(a.reserve)
                    .append(",\"dateTime\":").append(a.dateTime).append(",\"expires\":").append(a.expires)
                    .append(",\"seller\":").append(a.seller).append(",\"category\":").append(a.category)
                    .append(",\"extra\":");
            Json.str(sb, a.extra);
            sb.append(",\"auction\":").append(b.auction).append(",\"bidder\":").append(b.bidder)
                    .append(",\"price\":").append(b.price).append(",\"bid_dateTime\":").append(b.dateTime)
                    .append(",\"bid_extra\":");
            Json.str(sb, b.extra);
            sb.append('}');
        }
    }

    public static DataStream<? extends Json.Row> q9(In in, long wmDelay) {
        return closedAuctions(in, wmDelay, true).map(w -> {
            Q9Row r = new Q9Row();
            r.a = w.auction;
            r.b = w.bid;
            return r;
        }).returns(Q9Row.class).name("q9-row");
    }

    // ---- q11 and q12: bids per bidder in session and processing-time windows ---------------

    public static class Q11Row implements Json.Row {
        public long bidder, bidCount, starttime, endtime;

        public Q11Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"bidder\":").append(bidder).append(",\"bid_count\":").append(bidCount)
                    .append(",\"starttime\":").append(starttime).append(",\"endtime\":").append(endtime)
                    .append('}');
        }
    }

    public static final class Q11WithWindow extends ProcessWindowFunction<Long, Q11Row, Long, TimeWindow> {
        @Override
        public void process(Long bidder, Context ctx, Iterable<Long> counts, Collector<Q11Row> out) {
            Q11Row r = new Q11Row();
            r.bidder = bidder;
            r.bidCount = counts.iterator().next();
            r.starttime = ctx.window().getStart();
            r.endtime = ctx.window().getEnd();
            out.collect(r);
        }
    }

    public static DataStream<? extends Json.Row> q11(In in, long wmDelay) {
        return in.bids()
                .assignTimestampsAndWatermarks(watermarks(wmDelay, (Bid b) -> b.dateTime))
                .keyBy(b -> b.bidder, Types.LONG)
                .window(EventTimeSessionWindows.withGap(Duration.ofMillis(WINDOW_MS)))
                .aggregate(new CountBids(), new Q11WithWindow()).uid("q11-sessions").name("q11-sessions");
    }

    public static DataStream<? extends Json.Row> q12(In in, long wmDelay) {
        return in.bids()
                .keyBy(b -> b.bidder, Types.LONG)
                .window(TumblingProcessingTimeWindows.of(Duration.ofMillis(WINDOW_MS)))
                .aggregate(new CountBids(), new Q11WithWindow()).uid("q12-proctime").name("q12-proctime");
    }

    // ---- q14: calculation -----------------------------------------------------------------------

    public static class Q14Row implements Json.Row {
        public long auction, bidder, priceMilli;
        public String bidTimeType;
        public long dateTime;
        public String extra;
        public long cCounts;

        public Q14Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"bidder\":").append(bidder)
                    .append(",\"price\":");
            long m = Math.abs(priceMilli);
            if (priceMilli < 0) sb.append('-');
            sb.append(m / 1000).append('.').append((char) ('0' + m / 100 % 10))
                    .append((char) ('0' + m / 10 % 10)).append((char) ('0' + m % 10));
            sb.append(",\"bidTimeType\":");
            Json.str(sb, bidTimeType);
            sb.append(",\"dateTime\":").append(dateTime).append(",\"extra\":");
            Json.str(sb, extra);
            sb.append(",\"c_counts\":").append(cCounts).append('}');
        }
    }

    public static DataStream<? extends Json.Row> q14(In in, long wmDelay) {
        return in.bids().flatMap((Bid b, Collector<Q14Row> out) -> {
            if (b.price > Q1_PRICE_MAX || b.price < -Q1_PRICE_MAX) return;
            long milli = b.price * 908;
            if (milli <= 1_000_000_000L || milli >= 50_000_000_000L) return;
            int hour = (int) (Math.floorMod(b.dateTime, 86_400_000L) / 3_600_000L); // HOUR() in UTC
            Q14Row r = new Q14Row();
            r.auction = b.auction;
            r.bidder = b.bidder;
            r.priceMilli = milli;
            r.bidTimeType = hour >= 8 && hour <= 18 ? "dayTime" : hour <= 6 || hour >= 20 ? "nightTime" : "otherTime";
            r.dateTime = b.dateTime;
            r.extra = b.extra;
            long c = 0;
            for (int i = 0; i < b.extra.length(); i++) if (b.extra.charAt(i) == 'c') c++;
            r.cCounts = c;
            out.collect(r);
        }).returns(Q14Row.class).name("calculation");
    }

    // ---- q21: add channel id ----------------------------------------------------------------------

    public static class Q21Row implements Json.Row {
        public long auction, bidder, price;
        public String channel, channelId;

        public Q21Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"bidder\":").append(bidder)
                    .append(",\"price\":").append(price).append(",\"channel\":");
            Json.str(sb, channel);
            sb.append(",\"channel_id\":");
            Json.str(sb, channelId);
            sb.append('}');
        }
    }

    static final java.util.regex.Pattern CHANNEL_ID = java.util.regex.Pattern.compile("(&|^)channel_id=([^&]*)");

    public static DataStream<? extends Json.Row> q21(In in, long wmDelay) {
        return in.bids().flatMap((Bid b, Collector<Q21Row> out) -> {
            String id;
            switch (b.channel.toLowerCase(java.util.Locale.ROOT)) {
                case "apple": id = "0"; break;
                case "google": id = "1"; break;
                case "facebook": id = "2"; break;
                case "baidu": id = "3"; break;
                default: {
                    java.util.regex.Matcher m = CHANNEL_ID.matcher(b.url); // REGEXP_EXTRACT(url, ..., 2)
                    id = m.find() ? m.group(2) : null;
                }
            }
            if (id == null) return;
            Q21Row r = new Q21Row();
            r.auction = b.auction;
            r.bidder = b.bidder;
            r.price = b.price;
            r.channel = b.channel;
            r.channelId = id;
            out.collect(r);
        }).returns(Q21Row.class).name("channel-id");
    }

    // ---- q22: get URL directories -------------------------------------------------------------

    public static class Q22Row implements Json.Row {
        public long auction, bidder, price;
        public String channel, dir1, dir2, dir3;

        public Q22Row() {}

        @Override
        public void appendJson(StringBuilder sb) {
            sb.append("{\"auction\":").append(auction).append(",\"bidder\":").append(bidder)
                    .append(",\"price\":").append(price).append(",\"channel\":");
            Json.str(sb, channel);
            sb.append(",\"dir1\":");
            Json.str(sb, dir1);
            sb.append(",\"dir2\":");
            Json.str(sb, dir2);
            sb.append(",\"dir3\":");
            Json.str(sb, dir3);
            sb.append('}');
        }
    }

    public static DataStream<? extends Json.Row> q22(In in, long wmDelay) {
        return in.bids().flatMap((Bid b, Collector<Q22Row> out) -> {
            String[] parts = b.url.split("/", -1); // SPLIT_INDEX(url, '/', 3..5)
            if (parts.length < 6) return;
            Q22Row r = new Q22Row();
            r.auction = b.auction;
            r.bidder = b.bidder;
            r.price = b.price;
            r.channel = b.channel;
            r.dir1 = parts[3];
            r.dir2 = parts[4];
            r.dir3 = parts[5];
            out.collect(r);
        }).returns(Q22Row.class).name("url-dirs");
    }
}
