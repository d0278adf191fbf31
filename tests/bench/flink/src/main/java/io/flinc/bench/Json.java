package io.flinc.bench;

/**
 * JSON lines exactly as flinc's jobs print them (jobs/nexmark/nexmark.c): fields in a fixed order,
 * no spaces, integers in decimal; in strings the double quote, the backslash and the control
 * characters are escaped (backslash and n, r or t, else backslash, u and four lowercase hex digits)
 * and every other character is written as it is, in UTF-8.
 */
public final class Json {

    private Json() {}

    /** An output row that writes itself as one JSON object. */
    public interface Row {
        void appendJson(StringBuilder sb);
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    public static void str(StringBuilder sb, String s) {
        sb.append('"');
        int run = 0, n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            sb.append(s, run, i);
            run = i + 1;
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default: sb.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 15]);
            }
        }
        sb.append(s, run, n).append('"');
    }
}
