/* conf_keys.c - the table of configuration keys (fl_conf_keys.h) and the
 * checks made with it. */
#include "fl_conf_keys.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <flinc/error.h>

#include "fl_base.h"

#define MS 1
#define SEC (1000 * MS)
#define MIN (60 * SEC)
#define DAY ((int64_t)24 * 60 * MIN)
#define KB ((int64_t)1024)
#define MB (1024 * KB)
#define GB (1024 * MB)
#define TB (1024 * GB)
#define I32 ((int64_t)INT32_MAX)

/* Shorthands for the table: a key of each type with its scope and range. */
#define INT(k, s, lo, hi, d)                           \
	{                                              \
		k, FL_CK_INT, s, lo, hi, NULL, d, NULL \
	}
#define INTN(k, s, lo, hi, note)                          \
	{                                                 \
		k, FL_CK_INT, s, lo, hi, NULL, NULL, note \
	}
#define NUM(k, s, lo, hi, d)                              \
	{                                                 \
		k, FL_CK_NUMBER, s, lo, hi, NULL, d, NULL \
	}
#define BOOL(k, s, d)                                 \
	{                                             \
		k, FL_CK_BOOL, s, 0, 0, NULL, d, NULL \
	}
#define DUR(k, s, lo, hi, d)                                \
	{                                                   \
		k, FL_CK_DURATION, s, lo, hi, NULL, d, NULL \
	}
#define SIZE(k, s, lo, hi, d)                           \
	{                                               \
		k, FL_CK_SIZE, s, lo, hi, NULL, d, NULL \
	}
#define ENUM(k, s, vals, d, note)                     \
	{                                             \
		k, FL_CK_ENUM, s, 0, 0, vals, d, note \
	}
#define STR(k, s, note)                                    \
	{                                                  \
		k, FL_CK_STRING, s, 0, 0, NULL, NULL, note \
	}
#define PATH(k, s, d, note)                           \
	{                                             \
		k, FL_CK_PATH, s, 0, 0, NULL, d, note \
	}
#define ADDR(k, s, d)                                    \
	{                                                \
		k, FL_CK_ADDRESS, s, 0, 0, NULL, d, NULL \
	}

#define C FL_CK_CLUSTER
#define J FL_CK_JOB

/* Every key flinc reads, with the default docs/config.md, docs/checkpoints.md,
 * docs/state.md and docs/taskmanager.md give it. Enum values are matched
 * as the readers match them: exactly, except restart strategies (Flink
 * accepts any case there). */
static const fl_conf_key keys[] = {
	/* job manager, REST, heartbeats (flinc-jobmanager --help) */
	ADDR("jobmanager.rpc.address", C, "127.0.0.1"),
	INT("jobmanager.rpc.port", C, 1, 65535, "6123"),
	{ "jobmanager.bind-host", FL_CK_ADDRESS, C, 0, 0, NULL, NULL, "jobmanager.rpc.address" },
	DUR("jobmanager.rpc.timeout", C, 1 * MS, DAY, "10s"),
	ADDR("rest.bind-address", C, "127.0.0.1"),
	INT("rest.port", C, 1, 65535, "8081"),
	STR("rest.auth.token", C, "every REST call is open"),
	STR("security.cluster.secret", C, "no secret: the daemons listen on loopback only"),
	/* TLS (docs/security.md, "TLS"): internal = RPC, control and data */
	BOOL("security.ssl.enabled", C, "false"),
	BOOL("security.ssl.rest.enabled", C, "false"),
	PATH("security.ssl.certificate", C, NULL, "none: needed when TLS is on (PEM)"),
	PATH("security.ssl.key", C, NULL, "none: needed when TLS is on (PEM)"),
	STR("security.ssl.key-password", C, "the key is not encrypted"),
	PATH("security.ssl.truststore", C, NULL, "none: needed when TLS is on (PEM CA certificates)"),
	PATH("security.ssl.rest.certificate", C, NULL, "security.ssl.certificate"),
	PATH("security.ssl.rest.key", C, NULL, "security.ssl.key"),
	PATH("security.ssl.rest.truststore", C, NULL, "security.ssl.truststore"),
	BOOL("security.ssl.rest.authentication-enabled", C, "false"),
	BOOL("security.ssl.verify-hostname", C, "true"),
	SIZE("rest.max-upload-size", C, 1, 4 * GB, "256mb"),
	{ "rest.upload.max-size", FL_CK_SIZE, C, 1, 4 * GB, NULL, NULL,
	  "a deprecated name of rest.max-upload-size" },
	INT("rest.max-connections", C, 1, 65536, "256"),
	DUR("rest.request-timeout", C, 1 * MS, DAY, "10s"),
	DUR("rest.idle-timeout", C, 1 * MS, DAY, "30s"),
	INT("rest.server.numThreads", C, 1, 256, "4"),
	PATH("web.dir", C, NULL,
	     "the web UI of this build (build/web), else the installed one (share/flinc/web)"),
	SIZE("jobmanager.blob.max-size", C, 1, 1024 * TB, "2gb"),
	PATH("jobmanager.blob.dir", C, NULL, "a private folder /tmp/flinc-jm-XXXXXX, removed at exit"),
	BOOL("jobmanager.slot-sharing", C, "true"),
	BOOL("slot.request.wait", J, "false"),
	DUR("slot.request.timeout", J, 1 * MS, DAY, "10s"),
	INT("jobstore.max-capacity", C, 1, 1000000, "1000"),
	/* plugin inspection in a helper process (the job manager's, flinc info's) */
	DUR("jobmanager.plugin-inspection.timeout", C, 100 * MS, 60 * MIN, "10s"),
	SIZE("jobmanager.plugin-inspection.memory", C, 64 * MB, 1 * TB, "1gb"),
	/* The job manager's; a task manager not yet registered waits 50s. */
	DUR("heartbeat.interval", C, 10 * MS, DAY, "1s"),
	DUR("heartbeat.timeout", C, 100 * MS, DAY, "5s"),
	/* task managers (and deploy/start-cluster.sh's taskmanager.count) */
	INT("taskmanager.numberOfTaskSlots", C, 1, 4096, "1"),
	{ "taskmanager.memory.managed.size", FL_CK_SIZE, C, 0, 1024 * TB, NULL, "0",
	  "0: 40% of the machine's memory (or its cgroup limit)" },
	INT("taskmanager.count", C, 1, 1024, "1"),
	ADDR("taskmanager.host", C, "127.0.0.1"),
	{ "taskmanager.bind-host", FL_CK_ADDRESS, C, 0, 0, NULL, NULL, "taskmanager.host" },
	INT("taskmanager.rpc.port", C, 0, 65535, "0"),
	INT("taskmanager.data.port", C, 0, 65535, "0"),
	PATH("taskmanager.tmp.dir", C, "/tmp", NULL),
	/* jobs, exchange, state, sinks */
	INT("parallelism.default", J, 1, 32768, "1"),
	INT("pipeline.max-parallelism", J, 1, 32768, "128"),
	ENUM("pipeline.key-hash", J, "xxh3|murmur64a", "xxh3", NULL),
	DUR("pipeline.auto-watermark-interval", J, 0, DAY, "200ms"),
	DUR("execution.buffer-timeout", J, 0, DAY, "100ms"),
	/* latency markers (docs/metrics.md); 0 turns them off */
	DUR("metrics.latency.interval", J, 0, DAY, "1s"),
	SIZE("execution.buffer-size", J, 1 * KB, 64 * MB, "32kb"),
	INT("execution.buffers-per-channel", J, 2, 1024, "8"),
	/* buffer debloating (docs/config.md, docs/architecture.md), Flink's names */
	BOOL("taskmanager.network.memory.buffer-debloat.enabled", J, "true"),
	DUR("taskmanager.network.memory.buffer-debloat.target", J, 1 * MS, DAY, "1s"),
	DUR("taskmanager.network.memory.buffer-debloat.period", J, 1 * MS, DAY, "200ms"),
	INT("taskmanager.network.memory.buffer-debloat.samples", J, 1, 1000000, "20"),
	INT("taskmanager.network.memory.buffer-debloat.threshold-percentages", J, 0, 100, "25"),
	SIZE("taskmanager.network.memory.min-segment-size", J, 16, 64 * MB, "256b"),
	ENUM("state.backend", J, "hashmap|memory|rocksdb", "hashmap", NULL),
	BOOL("state.backend.incremental", J, "true"),
	PATH("state.backend.rocksdb.localdir", J, NULL, "$TMPDIR of the process, else /tmp"),
	SIZE("state.backend.rocksdb.block-cache-size", J, 0, 1 * TB, "64mb"),
	SIZE("state.backend.rocksdb.write-buffer-size", J, 64 * KB, 4 * GB, "64mb"),
	BOOL("state.backend.rocksdb.memory.managed", C, "true"),
	NUM("state.backend.rocksdb.memory.write-buffer-ratio", C, 0, 1, "0.5"),
	INT("state.backend.rocksdb.inplace-cache-slots", J, 1, 1 << 22, "65536"),
	/* the file sink's rolling policy (docs/file-sink.md), Flink's names */
	SIZE("sink.rolling-policy.file-size", J, 1, 1 * TB, "128mb"),
	DUR("sink.rolling-policy.rollover-interval", J, 0, 365 * DAY, "30min"),
	DUR("sink.rolling-policy.inactivity-interval", J, 0, 365 * DAY, "30min"),
	{ "sink.file.rolling-size", FL_CK_SIZE, J, 1, 1 * TB, NULL, NULL,
	  "a deprecated name of sink.rolling-policy.file-size" },
	/* checkpoints, restarts, savepoints, job store (docs/checkpoints.md) */
	PATH("state.checkpoints.dir", J, NULL, "no checkpoints"),
	PATH("state.savepoints.dir", J, NULL, "savepoints need a target folder"),
	BOOL("state.savepoints.allow-any-dir", C, "false"),
	INT("state.checkpoints.num-retained", J, 1, 1000, "1"),
	DUR("execution.checkpointing.interval", J, 0, 365 * DAY, "0"),
	ENUM("execution.checkpointing.mode", J, "EXACTLY_ONCE|AT_LEAST_ONCE", "EXACTLY_ONCE", NULL),
	BOOL("execution.checkpointing.unaligned", J, "false"),
	DUR("execution.checkpointing.timeout", J, 1 * MS, 365 * DAY, "10min"),
	DUR("execution.checkpointing.min-pause", J, 0, 365 * DAY, "0"),
	INT("execution.checkpointing.tolerable-failed-checkpoints", J, -1, I32, "0"),
	DUR("execution.checkpointing.backoff.initial", J, 10 * MS, DAY, "1s"),
	DUR("execution.checkpointing.backoff.max", J, 10 * MS, DAY, "1min"),
	ENUM("restart-strategy", J,
	     "fixed-delay|fixeddelay|exponential-delay|exponentialdelay|none|off|disable", NULL,
	     "fixed-delay when the job checkpoints, else none"),
	ENUM("restart-strategy.type", J,
	     "fixed-delay|fixeddelay|exponential-delay|exponentialdelay|none|off|disable", NULL,
	     "fixed-delay when the job checkpoints, else none"),
	INTN("restart-strategy.fixed-delay.attempts", J, 0, I32, "unlimited"),
	DUR("restart-strategy.fixed-delay.delay", J, 0, DAY, "200ms"),
	DUR("restart-strategy.exponential-delay.initial-backoff", J, 0, DAY, "200ms"),
	DUR("restart-strategy.exponential-delay.max-backoff", J, 0, DAY, "60s"),
	NUM("restart-strategy.exponential-delay.backoff-multiplier", J, 1, 1000, "2.0"),
	INTN("restart-strategy.exponential-delay.attempts-before-reset-backoff", J, 0, I32, "unlimited"),
	PATH("high-availability.storageDir", C, NULL, "no job store: a restarted job manager has no jobs"),
	/* S3 for the three folders above as s3://BUCKET/PATH (docs/checkpoints.md) */
	STR("s3.endpoint", C, "https://s3.<s3.region>.amazonaws.com"),
	STR("s3.region", C, "us-east-1 ($AWS_REGION when set)"),
	STR("s3.access-key", C, "$AWS_ACCESS_KEY_ID"),
	STR("s3.secret-key", C, "$AWS_SECRET_ACCESS_KEY"),
	BOOL("s3.path-style-access", C, "false"),
};

const fl_conf_key *fl_conf_keys(size_t *n)
{
	*n = FL_ARRAY_LEN(keys);
	return keys;
}

const fl_conf_key *fl_conf_key_find(const char *key)
{
	if (!key) return NULL;
	for (size_t i = 0; i < FL_ARRAY_LEN(keys); i++)
		if (!strcmp(keys[i].key, key)) return &keys[i];
	return NULL;
}

/* Levenshtein distance of a and b (case-insensitive), up to 127 bytes
 * each; longer strings count as far apart. */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 127 || lb > 127) return 1000;
	int row[128];
	for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			int best = diag + cost;
			if (up + 1 < best) best = up + 1;
			if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *fl_conf_key_closest(const char *key)
{
	if (!key || !*key) return NULL;
	const char *best = NULL;
	int bestd = 1000;
	size_t len = strlen(key);
	for (size_t i = 0; i < FL_ARRAY_LEN(keys); i++) {
		int d = distance(key, keys[i].key);
		if (d < bestd) {
			bestd = d;
			best = keys[i].key;
		}
	}
	/* A likely typo: two edits, or one in five characters. */
	if (best && (bestd <= 2 || (size_t)bestd * 5 <= len)) return best;
	/* A known key that this one is the tail of ("checkpoints.dir"). */
	for (size_t i = 0; i < FL_ARRAY_LEN(keys); i++) {
		size_t kl = strlen(keys[i].key);
		if (kl > len && keys[i].key[kl - len - 1] == '.' && !strcasecmp(keys[i].key + kl - len, key))
			return keys[i].key;
	}
	return NULL;
}

void fl_conf_unknown_msg(char *buf, size_t cap, const char *key)
{
	const char *near = fl_conf_key_closest(key);
	if (near)
		snprintf(buf, cap, "unknown configuration key '%.100s' (did you mean '%s'?)", key, near);
	else
		snprintf(buf, cap,
			 "unknown configuration key '%.100s' (see docs/config.md; a job's own keys go under "
			 "'" FL_CONF_USER_PREFIX "')",
			 key);
}

int fl_conf_parse_bool(const char *v)
{
	if (!v) return -1;
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) return 1;
	if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) return 0;
	return -1;
}

/* n bytes as the shortest exact size word ("64kb", "1gb", "1000"). */
static void size_word(char *buf, size_t cap, int64_t n)
{
	static const char *const units[] = { "tb", "gb", "mb", "kb" };
	static const int64_t mult[] = { TB, GB, MB, KB };
	for (size_t i = 0; i < FL_ARRAY_LEN(units); i++) {
		if (n >= mult[i] && n % mult[i] == 0) {
			snprintf(buf, cap, "%" PRId64 "%s", n / mult[i], units[i]);
			return;
		}
	}
	snprintf(buf, cap, "%" PRId64 " bytes", n);
}

/* ms as the shortest exact duration word ("10ms", "1min", "1d"). */
static void dur_word(char *buf, size_t cap, int64_t ms)
{
	static const char *const units[] = { "d", "h", "min", "s" };
	static const int64_t mult[] = { DAY, 60 * MIN, MIN, SEC };
	for (size_t i = 0; i < FL_ARRAY_LEN(units); i++) {
		if (ms >= mult[i] && ms % mult[i] == 0) {
			snprintf(buf, cap, "%" PRId64 "%s", ms / mult[i], units[i]);
			return;
		}
	}
	snprintf(buf, cap, "%" PRId64 "ms", ms);
}

/* The enum value v is one of k->values. */
static bool enum_ok(const fl_conf_key *k, const char *v)
{
	bool nocase = !strncmp(k->key, "restart-strategy", 16);
	size_t vl = strlen(v);
	for (const char *p = k->values; *p;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vl && (nocase ? !strncasecmp(p, v, n) : !strncmp(p, v, n))) return true;
		if (!bar) break;
		p = bar + 1;
	}
	return false;
}

/* Text without control characters (and not empty when `nonempty`). */
static bool clean_text(const char *v, bool nonempty)
{
	if (nonempty && !*v) return false;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f) return false;
	return true;
}

int fl_conf_key_check(const fl_conf_key *k, const char *v, char *err, size_t errcap)
{
	char lo[32], hi[32];
	int64_t x;
	switch (k->type) {
	case FL_CK_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		while (isspace((unsigned char)*end)) end++;
		if (!errno && end != v && !*end && n >= k->min && n <= k->max) return FLINC_OK;
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%s: '%.100s' is not a whole number from %" PRId64 " to %" PRId64, k->key, v,
			       k->min, k->max);
	}
	case FL_CK_NUMBER: {
		char *end;
		errno = 0;
		double d = strtod(v, &end);
		while (isspace((unsigned char)*end)) end++;
		if (!errno && end != v && !*end && isfinite(d) && d >= (double)k->min && d <= (double)k->max)
			return FLINC_OK;
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%s: '%.100s' is not a number from %" PRId64 " to %" PRId64, k->key, v, k->min,
			       k->max);
	}
	case FL_CK_BOOL:
		if (fl_conf_parse_bool(v) >= 0) return FLINC_OK;
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: '%.100s' is not true or false", k->key, v);
	case FL_CK_DURATION:
		if (fl_parse_duration_ms(v, &x) == FLINC_OK && x >= k->min && x <= k->max) return FLINC_OK;
		dur_word(lo, sizeof lo, k->min);
		dur_word(hi, sizeof hi, k->max);
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%s: '%.100s' is not a duration from %s to %s (like 500ms, 10s, 2min)", k->key,
			       v, k->min ? lo : "0", hi);
	case FL_CK_SIZE:
		if (fl_parse_size(v, &x) == FLINC_OK && x >= k->min && x <= k->max) return FLINC_OK;
		size_word(lo, sizeof lo, k->min);
		size_word(hi, sizeof hi, k->max);
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%s: '%.100s' is not a size from %s to %s (like 64kb, 32mb)", k->key, v,
			       k->min ? lo : "0", hi);
	case FL_CK_ENUM: {
		if (enum_ok(k, v)) return FLINC_OK;
		char list[256];
		size_t n = 0;
		for (const char *p = k->values; *p && n + 3 < sizeof list; p++) {
			if (*p == '|') {
				list[n++] = ',';
				list[n++] = ' ';
			} else {
				list[n++] = *p;
			}
		}
		list[n] = 0;
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: '%.100s' is not one of %s", k->key, v, list);
	}
	case FL_CK_STRING:
		if (strlen(v) <= 4096) return FLINC_OK;
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: the value is longer than 4096 bytes", k->key);
	case FL_CK_PATH: /* empty: unset (state.checkpoints.dir= turns checkpoints off) */
		if (clean_text(v, false) && strlen(v) <= 3000) return FLINC_OK;
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%s: '%.100s' is not a path (at most 3000 bytes, no control characters)",
			       k->key, v);
	case FL_CK_ADDRESS: {
		bool ok = clean_text(v, true) && strlen(v) <= 255 && !strchr(v, '/');
		for (const char *p = v; ok && *p; p++) ok = !isspace((unsigned char)*p);
		if (ok) return FLINC_OK;
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: '%.100s' is not a host name or address",
			       k->key, v);
	}
	}
	return fl_errf(err, errcap, FLINC_ECONFIG, "%s: unknown type", k->key);
}

int fl_conf_check(const fl_conf *c, unsigned flags, fl_conf_warn_fn warn, void *ud, char *err, size_t errcap)
{
	char msg[512], where[32];
	for (size_t i = 0; i < fl_conf_count(c); i++) {
		const char *key, *val;
		fl_conf_at(c, i, &key, &val);
		int line = fl_conf_line(c, i);
		where[0] = 0;
		if (line > 0) snprintf(where, sizeof where, "line %d: ", line);
		if (fl_conf_key_delegated(key)) continue;
		const fl_conf_key *k = fl_conf_key_find(key);
		if (!k) {
			fl_conf_unknown_msg(msg, sizeof msg, key);
			if (!(flags & FL_CONF_CHECK_LENIENT))
				return fl_errf(err, errcap, FLINC_ECONFIG, "%s%s", where, msg);
			if (warn) {
				char w[600];
				snprintf(w, sizeof w, "%s%s", where, msg);
				warn(ud, w);
			}
			continue;
		}
		if ((flags & FL_CONF_CHECK_JOB) && k->scope == FL_CK_CLUSTER)
			return fl_errf(err, errcap, FLINC_ECONFIG,
				       "%s%s is a cluster setting (the job manager's or a task manager's "
				       "configuration); a job cannot set it",
				       where, key);
		if (fl_conf_key_check(k, val, msg, sizeof msg) != FLINC_OK)
			return fl_errf(err, errcap, FLINC_ECONFIG, "%s%s", where, msg);
	}
	return FLINC_OK;
}

bool fl_conf_key_delegated(const char *key)
{
	return !strncmp(key, FL_CONF_USER_PREFIX, strlen(FL_CONF_USER_PREFIX)) ||
		!strncmp(key, FL_CONF_KAFKA_PREFIX, strlen(FL_CONF_KAFKA_PREFIX));
}
