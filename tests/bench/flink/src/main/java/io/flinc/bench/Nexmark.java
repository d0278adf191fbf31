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
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The Nexmark queries q0, q1, q2, q3, q5, q7 and q8 with Flink's DataStream API, computing what
 * flinc's nexmark.so computes (docs/nexmark.md: definitions, line format, output fields), over the
 * same event file.
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

    static long windowStart(long ts, long size) {
        return ts - Math.floorMod(ts, size);
    }

    // ---- q0: pass-through --------------------------------------------------------------

    public static DataStream<? extends Json.Row> q0(DataStream<String> lines, long wmDelay) {
        return bids(lines);
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

    public static DataStream<? extends Json.Row> q1(DataStream<String> lines, long wmDelay) {
        return bids(lines).flatMap((Bid b, Collector<Q1Row> out) -> {
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

    public static DataStream<? extends Json.Row> q2(DataStream<String> lines, long wmDelay) {
        return bids(lines).flatMap((Bid b, Collector<Q2Row> out) -> {
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

    public static DataStream<? extends Json.Row> q3(DataStream<String> lines, long wmDelay) {
        DataStream<Event> events = lines.flatMap(new ParseEvents("PA")).name("parse");
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

    public static DataStream<? extends Json.Row> q5(DataStream<String> lines, long wmDelay) {
        return bids(lines)
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

    public static DataStream<? extends Json.Row> q7(DataStream<String> lines, long wmDelay) {
        DataStream<Bid> bids = bids(lines)
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

    public static DataStream<? extends Json.Row> q8(DataStream<String> lines, long wmDelay) {
        DataStream<Event> events = lines.flatMap(new ParseEvents("PA")).name("parse")
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
}
