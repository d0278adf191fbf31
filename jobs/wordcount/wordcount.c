/*
 * wordcount.c - count words of text lines, exactly-once.
 *
 *   wordcount.so --input PATH|kafka://B/T [--output DIR|-|kafka://B/T] [--rate LINES_PER_S]
 *
 * Input lines and output `word<TAB>count` lines are record values when the
 * address is a Kafka topic (docs/kafka.md).
 *
 * source (lines of a file or folder, bounded)
 *   -> tokenizer (flat_map: words, lowercased)
 *   -> key_by word
 *   -> counter (keyed process: the count in value state)
 *   -> sink ("word<TAB>count" lines)
 *
 * A word is a maximal run of ASCII letters and digits; every other byte
 * (punctuation, spaces, control and non-ASCII bytes) separates words. Words
 * are lowercased (ASCII only). The counter emits "word<TAB>count" every time
 * a word's count grows, so for every word the output holds exactly the
 * counts 1..n once each; with a folder output that holds across failures and
 * restarts (committed part files only).
 *
 * Words longer than FLINC_KEY_MAX (256) bytes cannot be keys: the tokenizer
 * rejects them (counted as rejected records in the tokenizer's metrics, the
 * first few logged) and they never reach the output.
 *
 * Without --output the counts are printed to stdout.
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- records ---------------------------------------------------------- */

/* A word: points into the tokenizer's lowercased copy of the line (arena),
 * or into the exchange buffer after decoding. Not NUL-terminated. The
 * built-in line type (a msgpack string) is exactly that. */
typedef flinc_line word;
#define word_type flinc_type_line

/* The count kept per word in value state. */
typedef struct count_rec {
	uint64_t n;
} count_rec;
FLINC_STRUCT_TYPE(count_type, count_rec, "count", FLINC_TYPE_POD, FLINC_FIELD(count_rec, n, FLINC_FIELD_U64));

/* Output: a word and its new count. */
typedef struct word_count {
	flinc_str w;
	uint64_t count;
} word_count;
FLINC_STRUCT_TYPE(word_count_type, word_count, "word_count", 0, FLINC_FIELD(word_count, w, FLINC_FIELD_STR),
		  FLINC_FIELD(word_count, count, FLINC_FIELD_U64));

/* ---- tokenizer ------------------------------------------------------------ */

/* An ASCII letter or digit, lowercased; 0 for a separator. */
static inline unsigned char word_char(unsigned char ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')) return ch;
	if (ch >= 'A' && ch <= 'Z') return (unsigned char)(ch - 'A' + 'a');
	return 0;
}

/* Lowercase the line once into the record arena and emit each word as a
 * pointer into that copy: no allocation per word. flinc_emit is synchronous
 * (the word is consumed before it returns). */
static void tokenize(flinc_ctx *c, const void *in)
{
	const flinc_line *line = in;
	const unsigned char *s = (const unsigned char *)line->s;
	uint32_t n = line->len;
	char *low = NULL;
	uint32_t i = 0;

	while (i < n) {
		while (i < n && !word_char(s[i])) i++;
		if (i == n) break;
		uint32_t b = i;
		while (i < n && word_char(s[i])) i++;
		if (i - b > FLINC_KEY_MAX) {
			flinc_ctx_reject(c, "word longer than 256 bytes");
			continue;
		}
		if (!low) { /* first word of this line */
			low = flinc_arena_alloc(flinc_ctx_arena(c), n);
			if (!low) {
				flinc_ctx_fail(c, "tokenizer: out of memory for a %u-byte line", n);
				return;
			}
		}
		for (uint32_t k = b; k < i; k++) low[k] = (char)word_char(s[k]);
		word out = { low + b, i - b };
		flinc_emit(c, &out);
	}
}

static size_t word_key(const void *rec, uint8_t *buf, size_t cap)
{
	const word *x = rec;
	if (x->len > cap) return cap + 1; /* rejected (the tokenizer already drops these) */
	memcpy(buf, x->s, x->len);
	return x->len;
}

/* ---- counter ------------------------------------------------------------- */

typedef struct counter_local {
	flinc_state *count;
} counter_local;

static int counter_open(flinc_ctx *c, void *local)
{
	counter_local *l = local;
	l->count = flinc_state_value(c, "count", &count_type);
	return l->count ? FLINC_OK : FLINC_ESTATE;
}

static void counter_process(flinc_ctx *c, void *local, const void *in)
{
	counter_local *l = local;
	const word *x = in;
	uint64_t *count = flinc_value_mut(l->count, NULL);
	if (!count) return; /* the task failed with the reason */
	word_count out = { { x->s, x->len }, ++*count };
	flinc_emit(c, &out);
}

static const flinc_process_fn counter_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(counter_local),
	.open = counter_open,
	.process = counter_process,
};

/* ---- output ------------------------------------------------------------ */

/* "word<TAB>count" by hand: snprintf's format parsing was a fifth of the
 * job's CPU time (perf, wordcount from Kafka). snprintf's contract: the
 * length the line needs, written only when it fits with its NUL. */
static size_t format_word_count(const void *rec, char *buf, size_t cap)
{
	const word_count *x = rec;
	char digits[20];
	size_t nd = 0;
	uint64_t v = x->count;
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	size_t n = x->w.len + 1 + nd;
	if (n >= cap) return n;
	memcpy(buf, x->w.s, x->w.len);
	char *p = buf + x->w.len;
	*p++ = '\t';
	while (nd) *p++ = digits[--nd];
	*p = 0;
	return n;
}

/* ---- the job ------------------------------------------------------------- */

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "-");
	double rate = flinc_arg_f64(e, "rate", 0);
	if (!input) return flinc_env_fail(e, "wordcount: --input PATH or kafka://BROKERS/TOPIC is required");
	if (rate < 0) return flinc_env_fail(e, "wordcount: --rate must be >= 0 lines per second");

	flinc_stream *lines = flinc_set_uid(flinc_lines_from(e, "source", input, rate), "source");
	flinc_stream *words =
		flinc_set_uid(flinc_flat_map(lines, "tokenizer", tokenize, NULL, &word_type), "tokenizer");
	flinc_stream *counts = flinc_set_uid(
		flinc_process(flinc_key_by(words, word_key), "counter", &counter_fn, NULL, &word_count_type),
		"counter");
	/* flinc_sink_to gives no stream back, so the sink keeps its derived uid */
	return flinc_sink_to(counts, "sink", output, format_word_count);
}

FLINC_PLUGIN("wordcount", "Counts words of text lines, exactly-once (word<TAB>count on every change)",
	     "--input PATH|kafka://B/T [--output DIR|-|kafka://B/T] [--rate LINES_PER_S]", build);
