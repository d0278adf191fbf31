/*
 * flinc-gen - writes the seed streams of the shipped jobs.
 *
 *   flinc-gen MODE [options]        MODE: transactions | user-events | iot | nexmark
 *   flinc-gen MODE --help
 *
 * Each mode is one entry of MODES below: a name, a one-line summary and a
 * `run(argc, argv)` function that gets the arguments after flinc-gen itself
 * (argv[0] is the mode name) and returns the exit status: 0 done, 1 failed
 * (I/O), 2 usage error, with one line on stderr naming the problem.
 *
 * Adding a mode: write gen/gen-<mode>.c defining
 *     int fg_<mode>_main(int argc, char **argv);
 * and add that file to flinc_gen_modes in gen/CMakeLists.txt. The
 * declarations below are weak, so a mode whose file is not linked in yet is
 * listed but refused with a clear message, and nothing here needs to change.
 *
 * The nexmark mode lives here: it writes the Nexmark line format of
 * docs/nexmark.md with the generator of jobs/common/nexmark_gen.c, the same
 * events `nexmark.so` generates with the same --seed and --rate.
 *
 * flinc-gen does not link the flinc runtime. What the modes share (options,
 * output to files and Kafka) is in flinc-gen.h / gen-common.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flinc-gen.h"
#include "nexmark_gen.h"

typedef struct fg_mode {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
} fg_mode;

/* Modes implemented in other files (weak: NULL until linked in). */
int fg_transactions_main(int argc, char **argv) __attribute__((weak));
int fg_user_events_main(int argc, char **argv) __attribute__((weak));
int fg_iot_main(int argc, char **argv) __attribute__((weak));

static int nexmark_main(int argc, char **argv);

static const fg_mode MODES[] = {
	{ "transactions", "payment transactions with isFraud labels (JSON lines)", fg_transactions_main },
	{ "user-events", "web user events (JSON lines)", fg_user_events_main },
	{ "iot", "IoT sensor readings with isAnomaly labels (JSON lines)", fg_iot_main },
	{ "nexmark", "Nexmark persons, auctions and bids (docs/nexmark.md line format)", nexmark_main },
};
#define NMODES (sizeof MODES / sizeof MODES[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: flinc-gen MODE [options]   (flinc-gen MODE --help for its options)\n\nmodes:\n");
	for (size_t i = 0; i < NMODES; i++)
		fprintf(f, "  %-13s %s%s\n", MODES[i].name, MODES[i].summary,
			MODES[i].run ? "" : " [not built in]");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
			"flinc-gen: missing MODE (one of transactions, user-events, iot, nexmark; try --help)\n");
		return 2;
	}
	const char *m = argv[1];
	if (!strcmp(m, "--help") || !strcmp(m, "-h") || !strcmp(m, "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NMODES; i++) {
		if (strcmp(m, MODES[i].name) != 0) continue;
		if (!MODES[i].run) {
			fprintf(stderr, "flinc-gen: mode '%s' is not built into this flinc-gen\n", m);
			return 2;
		}
		return MODES[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "flinc-gen: unknown mode '%s' (one of transactions, user-events, iot, nexmark)\n", m);
	return 2;
}

/* ---- nexmark mode ---------------------------------------------------- */

static void nexmark_usage(FILE *f)
{
	fprintf(f,
		"usage: flinc-gen nexmark [--events N] [--seed S] [--rate R] [--paced] [--output FILE|-]\n"
		"  --events N   number of events (alias --count; default 10000000; 0 = endless)\n"
		"  --seed S     generator seed (default 0)\n"
		"  --rate R     events per second of event time: event k has dateTime\n"
		"               2026-01-01T00:00:00Z + floor(k*1000/R) ms (default 10000)\n"
		"  --paced      also write at R events per second of wall-clock time\n"
		"               (default: as fast as possible)\n"
		"  --output O   file to write, - for stdout (default -), or kafka://HOST:PORT[,...]/TOPIC\n"
		"               (one event per record, no key; producer as in docs/generators.md)\n"
		"  -X K=V       a librdkafka producer property (repeatable)\n"
		"One event per line, tab-separated, format in docs/nexmark.md.\n");
}

/* The nexmark events to a Kafka topic through flinc-gen's producer
 * (gen/gen-common.c): acks=all, idempotent, no key. */
static int nexmark_to_kafka(const nexmark_gen_cfg *cfg, uint64_t events, uint64_t rate, bool paced,
			    const char *output, const char **props, int nprops)
{
	fg_opts o;
	memset(&o, 0, sizeof o);
	o.output = output;
	/* no key: spread the events over the partitions evenly, message by
	 * message, rather than librdkafka's sticky batches */
	o.props[o.nprops++] = "sticky.partitioning.linger.ms=0";
	for (int i = 0; i < nprops && o.nprops < FG_MAX_PROPS; i++) o.props[o.nprops++] = props[i];
	bool usage_error;
	fg_out *out = fg_out_open("nexmark", &o, &usage_error);
	if (!out) return usage_error ? 2 : 1;
	fg_install_signals();
	char scratch[NEXMARK_SCRATCH_MAX];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = 0;
	for (uint64_t k = 0; !fg_stop && (events == 0 || k < events); k++) {
		nexmark_event ev;
		nexmark_gen_event(cfg, k, &ev, scratch, sizeof scratch);
		char *buf = fg_out_reserve(out);
		size_t len = nexmark_format_line(&ev, buf, FG_REC_MAX);
		if (len >= FG_REC_MAX) {
			fprintf(stderr, "flinc-gen nexmark: event %" PRIu64 " too long\n", k);
			rc = 1;
			break;
		}
		if (!fg_out_commit(out, len, NULL, 0)) {
			rc = 1;
			break;
		}
		if (paced && (k & 255) == 255) {
			double due = (double)(k + 1) / (double)rate;
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double elapsed =
				(double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9;
			if (due > elapsed) {
				double d = due - elapsed;
				struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
	}
	if (fg_out_close(out)) rc = 1;
	return rc;
}

static int nexmark_main(int argc, char **argv)
{
	const char *mode = "nexmark";
	uint64_t events = 10000000, seed = 0, rate = NEXMARK_DEFAULT_RATE;
	const char *output = "-";
	bool paced = false;
	const char *props[FG_MAX_PROPS];
	int nprops = 0;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL, *a = argv[i];
		int r;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			nexmark_usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--paced")) {
			paced = true;
			continue;
		}
		uint64_t *num = NULL;
		const char *name = NULL;
		if ((r = fg_opt_value(mode, argc, argv, &i, "--events", &v)) ||
		    (r = fg_opt_value(mode, argc, argv, &i, "--count", &v))) {
			num = &events;
			name = "--events";
		} else if ((r = fg_opt_value(mode, argc, argv, &i, "--seed", &v))) {
			num = &seed;
			name = "--seed";
		} else if ((r = fg_opt_value(mode, argc, argv, &i, "--rate", &v))) {
			num = &rate;
			name = "--rate";
		} else if ((r = fg_opt_value(mode, argc, argv, &i, "--output", &v))) {
			if (r > 0) output = v;
		} else if ((r = fg_opt_value(mode, argc, argv, &i, "-X", &v))) {
			if (r > 0) {
				if (!strchr(v, '=') || *v == '=' || nprops == FG_MAX_PROPS) {
					fprintf(stderr,
						"flinc-gen nexmark: -X needs KEY=VALUE (at most %d), got '%s'\n",
						FG_MAX_PROPS, v);
					return 2;
				}
				props[nprops++] = v;
			}
		} else {
			fprintf(stderr, "flinc-gen nexmark: unknown option '%s' (try --help)\n", a);
			return 2;
		}
		if (r < 0) return 2;
		if (num && !fg_parse_u64(v, num)) {
			fprintf(stderr, "flinc-gen nexmark: %s needs a non-negative integer, got '%s'\n",
				name, v);
			return 2;
		}
	}

	nexmark_gen_cfg cfg;
	nexmark_gen_cfg_default(&cfg);
	cfg.seed = seed;
	cfg.rate = rate;
	const char *bad = nexmark_gen_cfg_check(&cfg);
	if (bad) {
		fprintf(stderr, "flinc-gen nexmark: %s\n", bad);
		return 2;
	}
	if (!strncmp(output, "kafka://", 8))
		return nexmark_to_kafka(&cfg, events, rate, paced, output, props, nprops);

	FILE *out = stdout;
	if (strcmp(output, "-") != 0) {
		out = fopen(output, "w");
		if (!out) {
			fprintf(stderr, "flinc-gen nexmark: cannot open %s: %s\n", output, strerror(errno));
			return 1;
		}
	}

	enum { BUF = 1 << 20 };
	char *buf = malloc(BUF);
	if (!buf) {
		fprintf(stderr, "flinc-gen nexmark: out of memory\n");
		return 1;
	}
	size_t used = 0;
	char scratch[NEXMARK_SCRATCH_MAX];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = 0;

	for (uint64_t k = 0; events == 0 || k < events; k++) {
		nexmark_event ev;
		nexmark_gen_event(&cfg, k, &ev, scratch, sizeof scratch);
		size_t need = nexmark_format_line(&ev, buf + used, BUF - used);
		if (need + 1 > BUF - used) {
			if (used && fwrite(buf, 1, used, out) != used) goto write_error;
			used = 0;
			need = nexmark_format_line(&ev, buf, BUF);
			if (need + 1 > BUF) {
				fprintf(stderr, "flinc-gen nexmark: event %" PRIu64 " too long\n", k);
				rc = 1;
				goto done;
			}
		}
		used += need;
		buf[used++] = '\n';

		if (paced && (k & 255) == 255) {
			/* Event k+1 is due at t0 + (k+1)/rate s. */
			if (used && fwrite(buf, 1, used, out) != used) goto write_error;
			used = 0;
			fflush(out);
			double due = (double)(k + 1) / (double)rate;
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double elapsed =
				(double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9;
			if (due > elapsed) {
				double d = due - elapsed;
				struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
	}
	if (used && fwrite(buf, 1, used, out) != used) goto write_error;
	if (fflush(out) != 0) goto write_error;
	goto done;

write_error:
	fprintf(stderr, "flinc-gen nexmark: writing %s: %s\n", output, strerror(errno));
	rc = 1;
done:
	free(buf);
	if (out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "flinc-gen nexmark: closing %s: %s\n", output, strerror(errno));
		rc = 1;
	}
	return rc;
}
