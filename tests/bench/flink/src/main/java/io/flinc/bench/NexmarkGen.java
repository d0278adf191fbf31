package io.flinc.bench;

import java.nio.charset.StandardCharsets;

/**
 * The Nexmark generator of jobs/common/nexmark_gen.c in Java, event for event: event k is a pure
 * function of (k, seed, rate), built from the same splitmix64 stream and static tables, so that the
 * Flink jobs of the Nexmark-harness mode ({@code --input datagen}) see exactly the events flinc's
 * datagen source makes (docs/nexmark.md, "The generator"). Unsigned 64-bit arithmetic is spelled
 * out where C relies on it; the doubles are the same IEEE operations in the same order.
 */
public final class NexmarkGen implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    public static final long DEFAULT_BASE_TIME_MS = 1767225600000L;
    public static final long DEFAULT_RATE = 10_000;
    static final int PERSON_PROPORTION = 1, AUCTION_PROPORTION = 3, BID_PROPORTION = 46;
    static final int TOTAL_PROPORTION = 50;
    static final int HOT_AUCTION_RATIO = 2, HOT_BIDDER_RATIO = 4, HOT_SELLER_RATIO = 4;
    static final int NUM_ACTIVE_PEOPLE = 1000, NUM_IN_FLIGHT_AUCTIONS = 100;
    static final int AVG_PERSON_BYTES = 200, AVG_AUCTION_BYTES = 500, AVG_BID_BYTES = 100;
    static final int NUM_CATEGORIES = 5, BATCH = 100, ID_LEAD = 10, CHANNELS_NUMBER = 10000;
    static final long FIRST_ID = 1000, FIRST_CATEGORY = 10;

    final long seed, rate, baseTime;

    public NexmarkGen(long seed, long rate) {
        if (rate < 1) throw new IllegalArgumentException("rate must be at least 1");
        this.seed = seed;
        this.rate = rate;
        this.baseTime = DEFAULT_BASE_TIME_MS;
    }

    // ---- randomness ----------------------------------------------------------------------

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** One event's stream (not thread-safe; one per generator call). */
    static final class Rng {
        long s;

        long next() {
            s += 0x9e3779b97f4a7c15L;
            return mix64(s);
        }

        /** Uniform in [0, n), n < 2^32. */
        int below(int n) {
            return (int) (((next() >>> 32) * (long) n) >>> 32);
        }

        /** Uniform in [0, n), n > 0: the high 64 bits of the unsigned 128-bit product. */
        long below64(long n) {
            long x = next();
            long hi = Math.multiplyHigh(x, n) + ((x >> 63) & n) + ((n >> 63) & x);
            return hi;
        }

        double nextDouble() {
            return (double) (next() >>> 11) * 0x1.0p-53;
        }
    }

    // ---- static tables (as nexmark_tables_init) ---------------------------------------------

    static final String[] US_STATES = {"AZ", "CA", "ID", "OR", "WA", "WY"};
    static final String[] US_CITIES = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend",
        "Redmond", "Seattle", "Kent", "Cheyenne"};
    static final String[] FIRST_NAMES = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie",
        "Sarah", "Deiter", "Walter"};
    static final String[] LAST_NAMES = {"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith",
        "Jones", "Noris"};
    static final String[] HOT_CHANNELS = {"Google", "Facebook", "Baidu", "Apple"};

    static final int TEXT_LEN = 8192, TEXT_SLACK = 128, PAD_LEN = 16384, PAD_SLACK = 8192;
    static final byte[] TEXT = new byte[TEXT_LEN + TEXT_SLACK];
    static final byte[] PAD = new byte[PAD_LEN + PAD_SLACK];
    static final double[] POW10_FRAC = new double[256];
    static final double[] POW10_INT = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    static final char[] URL_CHARS = new char[256];
    static final String[] HOT_URLS = new String[HOT_CHANNELS.length];
    /** Strings of TEXT and PAD slices are made on demand; PAD's by (offset, length). */
    static final String PAD_STRING;
    static final String TEXT_STRING;

    static {
        Rng r = new Rng();
        r.s = 0x243f6a8885a308d3L;
        for (int i = 0; i < TEXT.length; i++)
            TEXT[i] = r.below(13) == 0 ? (byte) ' ' : (byte) ('a' + r.below(26));
        for (int i = 0; i < PAD.length; i++) PAD[i] = (byte) ('a' + r.below(26));
        final double step = 0x1.02501ee61ca62p+0;
        POW10_FRAC[0] = 1.0;
        for (int j = 1; j < 256; j++) POW10_FRAC[j] = POW10_FRAC[j - 1] * step;
        for (int b = 0; b < 256; b++) URL_CHARS[b] = b < 20 ? '_' : (char) ('a' + (b - 20) * 26 / 236);
        for (int i = 0; i < HOT_CHANNELS.length; i++) HOT_URLS[i] = makeUrl(0xfeed0000L + i, 0, false);
        PAD_STRING = new String(PAD, StandardCharsets.ISO_8859_1);
        TEXT_STRING = new String(TEXT, StandardCharsets.ISO_8859_1);
    }

    static String makeUrl(long salt, long channelId, boolean withId) {
        long h0 = mix64(salt ^ 0x5851f42d4c957f2dL), h1 = mix64(salt + 0x14057b7ef767814fL);
        byte[] rb = new byte[16];
        for (int i = 0; i < 8; i++) {
            rb[i] = (byte) (h0 >>> (8 * i)); // the C code reads the words' bytes: little-endian
            rb[8 + i] = (byte) (h1 >>> (8 * i));
        }
        StringBuilder sb = new StringBuilder(96).append("https://www.nexmark.com/");
        int ri = 3;
        for (int part = 0; part < 3; part++) {
            int len = 3 + (rb[part] & 1);
            for (int i = 0; i < len; i++) sb.append(URL_CHARS[rb[ri++] & 0xff]);
            sb.append('/');
        }
        sb.append("item.htm?query=1");
        if (withId) sb.append("&channel_id=").append(channelId);
        return sb.toString();
    }

    static String nextString(Rng r, int maxLen) {
        int len = 3 + r.below(maxLen - 3);
        int p = r.below(TEXT_LEN);
        while (len > 0 && TEXT[p] == ' ') {
            p++;
            len--;
        }
        while (len > 0 && TEXT[p + len - 1] == ' ') len--;
        return TEXT_STRING.substring(p, p + len);
    }

    static String nextExtra(Rng r, int current, int avg) {
        if (current > avg) return "";
        int desired = avg - current;
        int delta = (2 * desired + 5) / 10;
        int size = desired - delta + (delta != 0 ? r.below(2 * delta) : 0);
        if (size > PAD_SLACK) size = PAD_SLACK;
        int p = r.below(PAD_LEN);
        return PAD_STRING.substring(p, p + size);
    }

    static long nextPrice(Rng r) {
        double x = r.nextDouble() * 6.0;
        int n = (int) x;
        double f = (x - n) * 256.0;
        int j = (int) f;
        double y = (f - j) * 0.008994473019507991;
        double e = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6 + y * (1.0 / 24 + y * (1.0 / 120)))));
        double v = POW10_INT[n] * POW10_FRAC[j] * e * 100.0;
        return (long) (v + 0.5);
    }

    // ---- ids --------------------------------------------------------------------------------

    static long lastPerson(long k) {
        long epoch = Long.divideUnsigned(k, TOTAL_PROPORTION);
        long offset = Long.remainderUnsigned(k, TOTAL_PROPORTION);
        if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1;
        return epoch * PERSON_PROPORTION + offset;
    }

    static long lastAuction(long k) {
        long epoch = Long.divideUnsigned(k, TOTAL_PROPORTION);
        long offset = Long.remainderUnsigned(k, TOTAL_PROPORTION);
        if (offset < PERSON_PROPORTION) {
            epoch--;
            offset = AUCTION_PROPORTION - 1;
        } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
            offset = AUCTION_PROPORTION - 1;
        } else {
            offset -= PERSON_PROPORTION;
        }
        return epoch * AUCTION_PROPORTION + offset;
    }

    static long nextPerson(Rng r, long k) {
        long numPeople = lastPerson(k) + 1;
        long active = Math.min(numPeople, NUM_ACTIVE_PEOPLE);
        long n = r.below64(active + ID_LEAD);
        return numPeople - active + n;
    }

    static long nextAuction(Rng r, long k) {
        long maxA = lastAuction(k);
        long minA = Math.max(0, maxA - NUM_IN_FLIGHT_AUCTIONS);
        return minA + r.below64(maxA - minA + 1 + ID_LEAD);
    }

    public long time(long k) {
        // k * 1000 / rate for the k of a benchmark (k < 2^53)
        return baseTime + Long.divideUnsigned(k * 1000, rate);
    }

    public static char kind(long k) {
        long rem = Long.remainderUnsigned(k, TOTAL_PROPORTION);
        return rem < PERSON_PROPORTION ? 'P' : rem < PERSON_PROPORTION + AUCTION_PROPORTION ? 'A' : 'B';
    }

    // ---- events -----------------------------------------------------------------------------

    /** Event number k (0-based). */
    public Nexmark.Event event(long k) {
        Rng r = new Rng();
        r.s = mix64(k ^ mix64(seed + 0x6a09e667f3bcc909L));
        long ts = time(k);
        Nexmark.Event e = new Nexmark.Event();
        e.kind = kind(k);
        switch (e.kind) {
            case 'P': e.person = person(r, k, ts); break;
            case 'A': e.auction = auction(r, k, ts); break;
            default: e.bid = bid(r, k, ts);
        }
        return e;
    }

    Nexmark.Person person(Rng r, long k, long ts) {
        Nexmark.Person p = new Nexmark.Person();
        p.id = lastPerson(k) + FIRST_ID;
        p.name = FIRST_NAMES[r.below(FIRST_NAMES.length)] + " " + LAST_NAMES[r.below(LAST_NAMES.length)];
        String user = nextString(r, 7), host = nextString(r, 5);
        p.emailAddress = user + "@" + host + ".com";
        StringBuilder cc = new StringBuilder(19);
        for (int i = 0; i < 4; i++) {
            int v = r.below(10000);
            if (i > 0) cc.append(' ');
            cc.append((char) ('0' + v / 1000)).append((char) ('0' + v / 100 % 10))
                    .append((char) ('0' + v / 10 % 10)).append((char) ('0' + v % 10));
        }
        p.creditCard = cc.toString();
        p.city = US_CITIES[r.below(US_CITIES.length)];
        p.state = US_STATES[r.below(US_STATES.length)];
        p.dateTime = ts;
        int current = 8 + p.name.length() + p.emailAddress.length() + p.creditCard.length() + p.city.length()
                + p.state.length();
        p.extra = nextExtra(r, current, AVG_PERSON_BYTES);
        return p;
    }

    Nexmark.Auction auction(Rng r, long k, long ts) {
        Nexmark.Auction a = new Nexmark.Auction();
        a.id = lastAuction(k) + FIRST_ID;
        long seller;
        if (r.below(HOT_SELLER_RATIO) > 0)
            seller = (lastPerson(k) / BATCH) * BATCH;
        else
            seller = nextPerson(r, k);
        a.seller = seller + FIRST_ID;
        a.category = FIRST_CATEGORY + r.below(NUM_CATEGORIES);
        a.initialBid = nextPrice(r);
        long eventsForAuctions = (long) NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION / AUCTION_PROPORTION;
        long horizon = time(k + eventsForAuctions) - ts;
        long span = horizon * 2 > 1 ? horizon * 2 : 1;
        a.expires = ts + 1 + r.below64(span);
        a.itemName = nextString(r, 20);
        a.description = nextString(r, 100);
        a.reserve = a.initialBid + nextPrice(r);
        a.dateTime = ts;
        int current = 8 + a.itemName.length() + a.description.length() + 8 + 8 + 8 + 8 + 8;
        a.extra = nextExtra(r, current, AVG_AUCTION_BYTES);
        return a;
    }

    Nexmark.Bid bid(Rng r, long k, long ts) {
        Nexmark.Bid b = new Nexmark.Bid();
        long auction, bidder;
        if (r.below(HOT_AUCTION_RATIO) > 0)
            auction = (lastAuction(k) / BATCH) * BATCH;
        else
            auction = nextAuction(r, k);
        b.auction = auction + FIRST_ID;
        if (r.below(HOT_BIDDER_RATIO) > 0)
            bidder = (lastPerson(k) / BATCH) * BATCH + 1;
        else
            bidder = nextPerson(r, k);
        b.bidder = bidder + FIRST_ID;
        b.price = nextPrice(r);
        if (r.below(2) > 0) {
            int i = r.below(HOT_CHANNELS.length);
            b.channel = HOT_CHANNELS[i];
            b.url = HOT_URLS[i];
        } else {
            int n = r.below(CHANNELS_NUMBER);
            b.channel = "channel-" + n;
            int rev = Integer.reverse(n);
            long id = rev < 0 && rev != Integer.MIN_VALUE ? -(long) rev : rev;
            boolean withId = Long.remainderUnsigned(mix64(n + 0x1234567L), 10) > 0;
            b.url = makeUrl(n, id, withId);
        }
        b.dateTime = ts;
        b.extra = nextExtra(r, 8 + 8 + 8 + 8, AVG_BID_BYTES);
        return b;
    }

    /** The event as a line of the Nexmark line format (for checking against flinc-gen). */
    public static String line(Nexmark.Event e) {
        StringBuilder sb = new StringBuilder(256);
        switch (e.kind) {
            case 'P': {
                Nexmark.Person p = e.person;
                sb.append("P\t").append(p.id).append('\t').append(p.name).append('\t').append(p.emailAddress)
                        .append('\t').append(p.creditCard).append('\t').append(p.city).append('\t').append(p.state)
                        .append('\t').append(p.dateTime).append('\t').append(p.extra);
                break;
            }
            case 'A': {
                Nexmark.Auction a = e.auction;
                sb.append("A\t").append(a.id).append('\t').append(a.itemName).append('\t').append(a.description)
                        .append('\t').append(a.initialBid).append('\t').append(a.reserve).append('\t')
                        .append(a.dateTime).append('\t').append(a.expires).append('\t').append(a.seller)
                        .append('\t').append(a.category).append('\t').append(a.extra);
                break;
            }
            default: {
                Nexmark.Bid b = e.bid;
                sb.append("B\t").append(b.auction).append('\t').append(b.bidder).append('\t').append(b.price)
                        .append('\t').append(b.channel).append('\t').append(b.url).append('\t').append(b.dateTime)
                        .append('\t').append(b.extra);
            }
        }
        return sb.toString();
    }

    /** Prints events [0, n) as lines: {@code java ... io.flinc.bench.NexmarkGen N SEED RATE}. */
    public static void main(String[] args) {
        long n = Long.parseLong(args[0]);
        NexmarkGen g = new NexmarkGen(args.length > 1 ? Long.parseLong(args[1]) : 0,
                args.length > 2 ? Long.parseLong(args[2]) : DEFAULT_RATE);
        StringBuilder out = new StringBuilder(1 << 16);
        for (long k = 0; k < n; k++) {
            out.append(line(g.event(k))).append('\n');
            if (out.length() > 60000) {
                System.out.print(out);
                out.setLength(0);
            }
        }
        System.out.print(out);
        System.out.flush();
    }
}
