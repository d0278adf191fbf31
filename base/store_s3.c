/* store_s3.c - the S3 implementation of fl_store (fl_store.h): libcurl
 * with AWS Signature V4, path-style or virtual-hosted URLs. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <flinc/error.h>

#include "fl_alloc.h"
#include "fl_auth.h"
#include "fl_base.h"
#include "fl_store.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERRBODY_MAX 4096         /* bytes of an error answer kept for its message */
#define LIST_MAX (64u << 20)     /* a list answer larger than this is refused */
#define CONNECT_TIMEOUT_MS 5000L /* a TCP connection */
#define LOW_SPEED_TIME_S 30L     /* a transfer under 1 byte/s this long fails */
#define TRIES 3                  /* transient failures: 3 tries, 100 ms and 400 ms apart */

typedef struct s3 {
	char bucket[64];
	char path[1024];    /* the root's key prefix, no leading/trailing '/' */
	char scheme[8];     /* "http" / "https" */
	char hostport[256]; /* of the endpoint */
	char epath[256];    /* the endpoint's own path prefix ("" normally) */
	char region[64];
	char sigv4[96]; /* "aws:amz:<region>:s3" */
	char *access, *secret;
	bool path_style;
} s3;

/* One curl handle per thread, kept between requests so that its
 * connection to the endpoint is reused (a checkpoint puts several files
 * in a row); freed when the thread ends. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;
static void curl_handle_free(void *h) { curl_easy_cleanup(h); }
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_key_create(&curl_key, curl_handle_free);
}

static CURL *thread_handle(void)
{
	pthread_once(&curl_once, curl_init_once);
	CURL *h = pthread_getspecific(curl_key);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	h = curl_easy_init();
	if (h && pthread_setspecific(curl_key, h) != 0) {
		curl_easy_cleanup(h);
		h = NULL;
	}
	return h;
}

/* ---- pieces (exposed for tests) ---------------------------------------- */

static bool bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63) return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.'))
			return false;
	}
	return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

int fl_s3_parse_url(const char *url, char *bucket, size_t bcap, char *path, size_t pcap, char *err,
		    size_t errcap)
{
	if (!fl_store_is_s3(url))
		return fl_errf(err, errcap, FLINC_EINVAL, "'%.200s' is not an s3:// URL", url);
	const char *b = url + 5, *sl = strchr(b, '/');
	size_t bn = sl ? (size_t)(sl - b) : strlen(b);
	if (!bucket_ok(b, bn) || bn >= bcap)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "'%.200s': the bucket name must be 3 to 63 of a-z, 0-9, '-' and '.'", url);
	memcpy(bucket, b, bn);
	bucket[bn] = 0;
	const char *p = sl ? sl : "";
	while (*p == '/') p++;
	size_t pn = strlen(p);
	while (pn && p[pn - 1] == '/') pn--;
	if (pn >= pcap) return fl_errf(err, errcap, FLINC_EINVAL, "'%.200s': the path is too long", url);
	memcpy(path, p, pn);
	path[pn] = 0;
	if (pn && !fl_store_key_ok(path))
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "'%.200s': the path has an empty, '.' or '..' part or a control character",
			       url);
	return FLINC_OK;
}

void fl_s3_encode(const char *s, bool keep_slash, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (cap) out[o < cap ? o : cap - 1] = 0;
}

/* The text of the first <tag>...</tag> at or after p (before end), raw. */
static const char *xml_find(const char *p, const char *end, const char *tag, const char **vend)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	size_t ol = strlen(open);
	const char *a = memmem(p, (size_t)(end - p), open, ol);
	if (!a) return NULL;
	a += ol;
	const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b) return NULL;
	*vend = b;
	return a;
}

/* Decode XML entities of [a, b) into out. */
static void xml_text(const char *a, const char *b, char *out, size_t cap)
{
	static const struct {
		const char *e;
		char c;
	} ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' }
	};
	size_t o = 0;
	while (a < b && o + 1 < cap) {
		if (*a == '&') {
			bool done = false;
			for (size_t i = 0; i < FL_ARRAY_LEN(ents) && !done; i++) {
				size_t n = strlen(ents[i].e);
				if ((size_t)(b - a) >= n && !memcmp(a, ents[i].e, n)) {
					out[o++] = ents[i].c;
					a += n;
					done = true;
				}
			}
			if (done) continue;
		}
		out[o++] = *a++;
	}
	if (cap) out[o] = 0;
}

int fl_s3_parse_list(const char *xml, size_t len, fl_store_obj **objs, size_t *n, size_t *cap,
		     bool *truncated, char *token, size_t tcap)
{
	const char *end = xml + len, *ve;
	if (!memmem(xml, len, "<ListBucketResult", 17)) return FLINC_ECODEC;
	const char *t = xml_find(xml, end, "IsTruncated", &ve);
	*truncated = t && ve - t == 4 && !memcmp(t, "true", 4);
	token[0] = 0;
	t = xml_find(xml, end, "NextContinuationToken", &ve);
	if (t) xml_text(t, ve, token, tcap);
	if (*truncated && !token[0]) return FLINC_ECODEC;
	const char *p = xml;
	for (;;) {
		const char *ce;
		const char *c = xml_find(p, end, "Contents", &ce);
		if (!c) break;
		const char *ke, *se;
		const char *k = xml_find(c, ce, "Key", &ke), *sz = xml_find(c, ce, "Size", &se);
		if (!k || !sz) return FLINC_ECODEC;
		char key[2048], num[32];
		xml_text(k, ke, key, sizeof key);
		p = ce;
		size_t kl = strlen(key);
		if (kl && key[kl - 1] == '/') continue; /* a folder marker, not an object */
		xml_text(sz, se, num, sizeof num);
		char *e2;
		errno = 0;
		unsigned long long size = strtoull(num, &e2, 10);
		if (errno || e2 == num || *e2) return FLINC_ECODEC;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			fl_store_obj *nv = fl_try_realloc(*objs, nc * sizeof *nv);
			if (!nv) return FLINC_ENOMEM;
			*objs = nv;
			*cap = nc;
		}
		char *kd = fl_try_strdup(key);
		if (!kd) return FLINC_ENOMEM;
		(*objs)[(*n)++] = (fl_store_obj){ kd, size };
	}
	return FLINC_OK;
}

int fl_s3_error(long status, const char *body, size_t len, const char *what, char *err, size_t errcap)
{
	char code[128] = "", msg[512] = "";
	const char *ve, *end = body ? body + len : NULL;
	const char *c = body ? xml_find(body, end, "Code", &ve) : NULL;
	if (c) xml_text(c, ve, code, sizeof code);
	const char *m = body ? xml_find(body, end, "Message", &ve) : NULL;
	if (m) xml_text(m, ve, msg, sizeof msg);
	for (char *q = msg; *q; q++)
		if ((unsigned char)*q < 0x20) *q = ' '; /* one line */
	int rc = FLINC_EIO;
	if (status == 404 && strcmp(code, "NoSuchBucket")) rc = FLINC_ENOENT;
	const char *hint = "";
	if (!strcmp(code, "NoSuchBucket"))
		hint = " (create the bucket first)";
	else if (status == 403)
		hint = " (check s3.access-key and s3.secret-key)";
	else if (status == 301 || status == 307 || !strcmp(code, "PermanentRedirect"))
		hint = " (the bucket is elsewhere: check s3.endpoint, s3.region and s3.path-style-access)";
	return fl_errf(err, errcap, rc, "%s: HTTP %ld%s%s%s%s%s", what, status, code[0] ? " " : "", code,
		       msg[0] ? ": " : "", msg, hint);
}

/* ---- configuration ----------------------------------------------------- */

static int s3_open(void *priv, const char *root, const fl_conf *conf, char *err, size_t errcap)
{
	s3 *s = priv;
	pthread_once(&curl_once, curl_init_once);
	int rc = fl_s3_parse_url(root, s->bucket, sizeof s->bucket, s->path, sizeof s->path, err, errcap);
	if (rc) return rc;
	const char *region = conf ? fl_conf_get(conf, "s3.region") : NULL;
	if (!region || !*region) region = getenv("AWS_REGION");
	if (!region || !*region) region = "us-east-1";
	snprintf(s->region, sizeof s->region, "%s", region);
	snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
	const char *ep = conf ? fl_conf_get(conf, "s3.endpoint") : NULL;
	char defep[128];
	if (!ep || !*ep) {
		snprintf(defep, sizeof defep, "https://s3.%s.amazonaws.com", s->region);
		ep = defep;
	}
	const char *hp;
	if (!strncmp(ep, "http://", 7)) {
		strcpy(s->scheme, "http");
		hp = ep + 7;
	} else if (!strncmp(ep, "https://", 8)) {
		strcpy(s->scheme, "https");
		hp = ep + 8;
	} else {
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "s3.endpoint: '%.200s' is not an http:// or https:// URL", ep);
	}
	const char *sl = strchr(hp, '/');
	size_t hn = sl ? (size_t)(sl - hp) : strlen(hp);
	if (!hn || hn >= sizeof s->hostport)
		return fl_errf(err, errcap, FLINC_ECONFIG, "s3.endpoint: '%.200s' has no host", ep);
	memcpy(s->hostport, hp, hn);
	s->hostport[hn] = 0;
	snprintf(s->epath, sizeof s->epath, "%s", sl ? sl : "");
	size_t en = strlen(s->epath);
	while (en && s->epath[en - 1] == '/') s->epath[--en] = 0;
	const char *ps = conf ? fl_conf_get(conf, "s3.path-style-access") : NULL;
	if (ps && *ps && strcasecmp(ps, "true") && strcasecmp(ps, "false"))
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "s3.path-style-access: '%.100s' is not true or false", ps);
	s->path_style = ps && !strcasecmp(ps, "true");
	const char *ak = conf ? fl_conf_get(conf, "s3.access-key") : NULL;
	const char *sk = conf ? fl_conf_get(conf, "s3.secret-key") : NULL;
	if (!ak || !*ak) ak = getenv("AWS_ACCESS_KEY_ID");
	if (!sk || !*sk) sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (!ak || !*ak || !sk || !*sk)
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%.200s: no credentials: set s3.access-key and s3.secret-key (or "
			       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
			       root);
	s->access = fl_try_strdup(ak);
	s->secret = fl_try_strdup(sk);
	if (!s->access || !s->secret) {
		free(s->access);
		free(s->secret);
		return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", root);
	}
	return FLINC_OK;
}

static void s3_close(void *priv)
{
	s3 *s = priv;
	if (s->secret) explicit_bzero(s->secret, strlen(s->secret));
	free(s->access);
	free(s->secret);
}

/* The full key of key under the root (buf). */
static void full_key(const s3 *s, const char *key, char *buf, size_t cap)
{
	if (!*s->path)
		snprintf(buf, cap, "%s", key);
	else if (!*key)
		snprintf(buf, cap, "%s", s->path);
	else
		snprintf(buf, cap, "%s/%s", s->path, key);
}

/* The request URL of full key fk (NULL: the bucket) with query (sorted and
 * encoded already, or NULL). */
static char *req_url(const s3 *s, const char *fk, const char *query)
{
	char enc[3 * 2048];
	fl_s3_encode(fk ? fk : "", true, enc, sizeof enc);
	if (s->path_style)
		return fl_asprintf("%s://%s%s/%s%s%s%s%s", s->scheme, s->hostport, s->epath, s->bucket,
				   fk ? "/" : "", enc, query ? "?" : "", query ? query : "");
	return fl_asprintf("%s://%s.%s%s/%s%s%s", s->scheme, s->bucket, s->hostport, s->epath, enc,
			   query ? "?" : "", query ? query : "");
}

/* ---- requests ---------------------------------------------------------- */

typedef struct membuf {
	char *p;
	size_t n, cap, max;
	bool over;
} membuf;

static size_t mem_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	membuf *m = ud;
	size_t len = size * nmemb;
	if (m->n + len > m->max) {
		m->over = true;
		return 0;
	}
	if (m->n + len + 1 > m->cap) {
		size_t nc = m->cap ? m->cap : 4096;
		while (nc < m->n + len + 1) nc *= 2;
		char *np = fl_try_realloc(m->p, nc);
		if (!np) return 0;
		m->p = np;
		m->cap = nc;
	}
	memcpy(m->p + m->n, ptr, len);
	m->n += len;
	m->p[m->n] = 0;
	return len;
}

typedef struct sink {
	int fd;      /* >= 0: a GET into this file (2xx only) */
	membuf *mem; /* else into memory */
	membuf errb; /* the body of a non-2xx answer */
	long status;
	curl_off_t clen; /* Content-Length of the answer (HEAD) */
	CURL *h;
	int werr; /* errno of a failed write into fd */
} sink;

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	sink *k = ud;
	if (!k->status) curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &k->status);
	if (k->status < 200 || k->status > 299) {
		mem_write(ptr, size, nmemb, &k->errb); /* what does not fit is dropped */
		return size * nmemb;
	}
	if (k->fd >= 0) {
		size_t len = size * nmemb;
		size_t off = 0;
		while (off < len) {
			ssize_t w = write(k->fd, ptr + off, len - off);
			if (w < 0 && errno == EINTR) continue;
			if (w <= 0) {
				k->werr = w < 0 ? errno : EIO;
				return 0;
			}
			off += (size_t)w;
		}
		return len;
	}
	if (k->mem) return mem_write(ptr, size, nmemb, k->mem);
	return size * nmemb;
}

typedef struct source {
	int fd; /* >= 0: upload from this file */
	const char *buf;
	size_t len, off;
} source;

static size_t source_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
	source *s = ud;
	size_t want = size * nmemb;
	if (s->fd >= 0) {
		for (;;) {
			ssize_t r = read(s->fd, ptr, want);
			if (r < 0 && errno == EINTR) continue;
			return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
		}
	}
	size_t n = FL_MIN(want, s->len - s->off);
	memcpy(ptr, s->buf + s->off, n);
	s->off += n;
	return n;
}

static void hex32(const uint8_t d[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = 0;
}

static int file_sha256(int fd, char out[65])
{
	fl_sha256_ctx c;
	fl_sha256_init(&c);
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) return -errno;
		if (r == 0) break;
		fl_sha256_update(&c, buf, (size_t)r);
	}
	uint8_t d[32];
	fl_sha256_final(&c, d);
	hex32(d, out);
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
}

typedef struct req {
	const char *method; /* GET PUT HEAD DELETE */
	const char *fk;     /* full key; NULL: the bucket */
	const char *query;
	source *src; /* PUT */
	sink *dst;
	const char *sha;  /* payload hash (hex) */
	const char *what; /* "s3://b/k: PUT" for messages */
} req;

static bool transient(CURLcode cc, long status)
{
	if (cc == CURLE_OK) return status == 500 || status == 502 || status == 503 || status == 504;
	return cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING ||
		cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_PARTIAL_FILE;
}

/* One request with retries. FLINC_OK for a 2xx answer; otherwise the
 * mapped code with a line in err. */
static int perform(const s3 *s, req *r, char *err, size_t errcap)
{
	char *url = req_url(s, r->fk, r->query);
	char hdr[128];
	snprintf(hdr, sizeof hdr, "x-amz-content-sha256: %s", r->sha ? r->sha : EMPTY_SHA256);
	int rc = FLINC_EIO;
	for (int attempt = 0; attempt < TRIES; attempt++) {
		if (attempt) {
			struct timespec ts = { 0, attempt == 1 ? 100000000L : 400000000L };
			nanosleep(&ts, NULL);
			if (r->src) {
				r->src->off = 0;
				if (r->src->fd >= 0 && lseek(r->src->fd, 0, SEEK_SET) < 0) break;
			}
			if (r->dst->fd >= 0 &&
			    (ftruncate(r->dst->fd, 0) != 0 || lseek(r->dst->fd, 0, SEEK_SET) < 0))
				break;
			if (r->dst->mem) r->dst->mem->n = 0;
		}
		CURL *h = thread_handle();
		if (!h) {
			rc = fl_errf(err, errcap, FLINC_ENOMEM, "%s: cannot make a curl handle", r->what);
			break;
		}
		struct curl_slist *hl = curl_slist_append(NULL, hdr);
		hl = curl_slist_append(hl, "Expect:");
		char cerr[CURL_ERROR_SIZE] = "";
		r->dst->status = 0;
		r->dst->h = h;
		r->dst->errb.n = 0;
		r->dst->errb.over = false;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
		curl_easy_setopt(h, CURLOPT_USERNAME, s->access);
		curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, r->dst);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		if (!strcmp(r->method, "PUT")) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, source_read);
			curl_easy_setopt(h, CURLOPT_READDATA, r->src);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->src->len);
		} else if (!strcmp(r->method, "HEAD")) {
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (!strcmp(r->method, "DELETE")) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
		}
		CURLcode cc = curl_easy_perform(h);
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		r->dst->status = status;
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->dst->clen);
		curl_slist_free_all(hl);
		if (cc == CURLE_OK && status >= 200 && status <= 299) {
			rc = FLINC_OK;
			break;
		}
		if (cc == CURLE_WRITE_ERROR && r->dst->werr) {
			rc = fl_errf(err, errcap, FLINC_EIO, "%s: writing the download: %s", r->what,
				     strerror(r->dst->werr));
			break;
		}
		if (cc == CURLE_WRITE_ERROR && r->dst->mem && r->dst->mem->over) {
			rc = fl_errf(err, errcap, FLINC_ERANGE, "%s: the object is larger than %zu bytes",
				     r->what, r->dst->mem->max);
			break;
		}
		if (cc != CURLE_OK)
			rc = fl_errf(err, errcap, FLINC_EIO, "%s: cannot reach %s://%s: %s", r->what,
				     s->scheme, s->hostport, cerr[0] ? cerr : curl_easy_strerror(cc));
		else
			rc = fl_s3_error(status, r->dst->errb.p, r->dst->errb.n, r->what, err, errcap);
		if (!transient(cc, status)) break;
	}
	free(url);
	return rc;
}

static void what_of(const s3 *s, const char *method, const char *fk, char *buf, size_t cap)
{
	snprintf(buf, cap, "s3://%s/%.900s: %s", s->bucket, fk ? fk : "", method);
}

static int s3_put(const s3 *s, const char *key, source *src, const char *sha, char *err, size_t errcap)
{
	char fk[2048], what[1024];
	full_key(s, key, fk, sizeof fk);
	what_of(s, "PUT", fk, what, sizeof what);
	sink dst = { .fd = -1, .errb = { .max = ERRBODY_MAX } };
	req r = { "PUT", fk, NULL, src, &dst, sha, what };
	int rc = perform(s, &r, err, errcap);
	free(dst.errb.p);
	return rc;
}

static int s3_put_file(void *priv, const char *key, const char *local, char *err, size_t errcap)
{
	const s3 *s = priv;
	int fd = open(local, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fl_errf(err, errcap, errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: %s", local,
			       strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fl_errf(err, errcap, FLINC_EINVAL, "%s: not a regular file", local);
	}
	if ((uint64_t)st.st_size > FL_STORE_MAX_OBJECT) {
		close(fd);
		return fl_errf(err, errcap, FLINC_ERANGE, "%s: %lld bytes, more than one PUT takes (5 GiB)",
			       local, (long long)st.st_size);
	}
	char sha[65];
	int e = file_sha256(fd, sha);
	if (e) {
		close(fd);
		return fl_errf(err, errcap, FLINC_EIO, "%s: %s", local, strerror(-e));
	}
	source src = { .fd = fd, .len = (size_t)st.st_size };
	int rc = s3_put(s, key, &src, sha, err, errcap);
	close(fd);
	return rc;
}

static int s3_put_buf(void *priv, const char *key, const void *buf, size_t len, char *err, size_t errcap)
{
	uint8_t d[32];
	char sha[65];
	fl_sha256(buf, len, d);
	hex32(d, sha);
	source src = { .fd = -1, .buf = buf, .len = len };
	return s3_put(priv, key, &src, sha, err, errcap);
}

static int s3_get(const s3 *s, const char *key, sink *dst, char *err, size_t errcap)
{
	char fk[2048], what[1024];
	full_key(s, key, fk, sizeof fk);
	what_of(s, "GET", fk, what, sizeof what);
	dst->errb.max = ERRBODY_MAX;
	req r = { "GET", fk, NULL, NULL, dst, NULL, what };
	int rc = perform(s, &r, err, errcap);
	free(dst->errb.p);
	dst->errb.p = NULL;
	return rc;
}

static int s3_get_file(void *priv, const char *key, const char *local, char *err, size_t errcap)
{
	char tmp[PATH_MAX + 32];
	uint8_t rb[6] = { 0 };
	fl_random_bytes(rb, sizeof rb);
	snprintf(tmp, sizeof tmp, "%s.tmp-%02x%02x%02x%02x%02x%02x", local, rb[0], rb[1], rb[2], rb[3], rb[4],
		 rb[5]);
	int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) return fl_errf(err, errcap, FLINC_EIO, "%s: %s", tmp, strerror(errno));
	sink dst = { .fd = fd };
	int rc = s3_get(priv, key, &dst, err, errcap);
	if (close(fd) != 0 && !rc) rc = fl_errf(err, errcap, FLINC_EIO, "%s: %s", tmp, strerror(errno));
	if (!rc && rename(tmp, local) != 0)
		rc = fl_errf(err, errcap, FLINC_EIO, "%s: cannot rename into place: %s", local,
			     strerror(errno));
	if (rc) unlink(tmp);
	return rc;
}

static int s3_get_buf(void *priv, const char *key, size_t max, void **buf, size_t *len, char *err,
		      size_t errcap)
{
	membuf m = { .max = max };
	sink dst = { .fd = -1, .mem = &m };
	int rc = s3_get(priv, key, &dst, err, errcap);
	if (rc) {
		free(m.p);
		return rc;
	}
	if (!m.p) {
		m.p = fl_try_malloc(1);
		if (!m.p) return fl_errf(err, errcap, FLINC_ENOMEM, "out of memory");
		m.p[0] = 0;
	}
	*buf = m.p;
	*len = m.n;
	return FLINC_OK;
}

/* ListObjectsV2 of full prefix fp (already with its trailing '/' or not),
 * appending to the vector. */
static int list_raw(const s3 *s, const char *fp, fl_store_obj **objs, size_t *n, size_t *cap, char *err,
		    size_t errcap)
{
	char token[2048] = "", what[1024];
	what_of(s, "LIST", fp, what, sizeof what);
	for (int page = 0;; page++) {
		/* SigV4 wants the query sorted by name and encoded; curl 7.88
		 * signs it as given */
		char ep[3 * 2048], et[3 * 2048], q[6 * 2048 + 64];
		fl_s3_encode(fp, false, ep, sizeof ep);
		fl_s3_encode(token, false, et, sizeof et);
		if (token[0])
			snprintf(q, sizeof q, "continuation-token=%s&list-type=2&prefix=%s", et, ep);
		else
			snprintf(q, sizeof q, "list-type=2&prefix=%s", ep);
		membuf m = { .max = LIST_MAX };
		sink dst = { .fd = -1, .mem = &m, .errb = { .max = ERRBODY_MAX } };
		req r = { "GET", NULL, q, NULL, &dst, NULL, what };
		int rc = perform(s, &r, err, errcap);
		free(dst.errb.p);
		bool trunc = false;
		if (!rc) {
			rc = fl_s3_parse_list(m.p ? m.p : "", m.n, objs, n, cap, &trunc, token, sizeof token);
			if (rc == FLINC_ECODEC)
				fl_errf(err, errcap, rc, "%s: the answer is not a ListObjectsV2 result",
					what);
			else if (rc)
				fl_errf(err, errcap, rc, "%s: out of memory", what);
		}
		free(m.p);
		if (rc) return rc;
		if (!trunc) return FLINC_OK;
		if (page > 1000000)
			return fl_errf(err, errcap, FLINC_EIO, "%s: more than a million pages", what);
	}
}

static int s3_exists(void *priv, const char *key, uint64_t *size, char *err, size_t errcap);

static int s3_list(void *priv, const char *prefix, fl_store_obj **objs, size_t *n, char *err, size_t errcap)
{
	const s3 *s = priv;
	char fk[2048], fp[2050];
	full_key(s, prefix, fk, sizeof fk);
	snprintf(fp, sizeof fp, "%s%s", fk, *fk ? "/" : "");
	fl_store_obj *v = NULL;
	size_t cnt = 0, cap = 0;
	/* what is under "<key>/" (a folder), else the key itself (a file):
	 * one request for a folder, two for a file */
	int rc = list_raw(s, fp, &v, &cnt, &cap, err, errcap);
	if (rc) {
		fl_store_objs_free(v, cnt);
		return rc;
	}
	bool self = false;
	if (*prefix && !cnt) {
		uint64_t size;
		rc = s3_exists(priv, prefix, &size, err, errcap);
		if (rc == FLINC_OK) {
			v = fl_try_malloc(sizeof *v);
			char *k = fl_try_strdup(prefix);
			if (!v || !k) {
				free(v);
				free(k);
				return fl_errf(err, errcap, FLINC_ENOMEM, "out of memory");
			}
			v[0] = (fl_store_obj){ k, size };
			cnt = 1;
			self = true;
		} else if (rc != FLINC_ENOENT) {
			return rc;
		}
		rc = FLINC_OK;
	}
	/* keys back to relative to the root */
	size_t plen = *s->path ? strlen(s->path) + 1 : 0;
	for (size_t i = 0; i < cnt; i++) {
		if (i == 0 && self) continue; /* the key itself: relative already */
		memmove(v[i].key, v[i].key + plen, strlen(v[i].key + plen) + 1);
	}
	*objs = v;
	*n = cnt;
	return FLINC_OK;
}

static int s3_delete_key(const s3 *s, const char *key, char *err, size_t errcap)
{
	char fk[2048], what[1024];
	full_key(s, key, fk, sizeof fk);
	what_of(s, "DELETE", fk, what, sizeof what);
	sink dst = { .fd = -1, .errb = { .max = ERRBODY_MAX } };
	req r = { "DELETE", fk, NULL, NULL, &dst, NULL, what };
	int rc = perform(s, &r, err, errcap);
	free(dst.errb.p);
	return rc == FLINC_ENOENT ? FLINC_OK : rc;
}

static bool is_metadata(const char *key)
{
	const char *b = strrchr(key, '/');
	return !strcmp(b ? b + 1 : key, "_metadata");
}

static int s3_delete_prefix(void *priv, const char *prefix, size_t *n, char *err, size_t errcap)
{
	fl_store_obj *v;
	size_t cnt;
	int rc = s3_list(priv, prefix, &v, &cnt, err, errcap);
	if (rc) return rc;
	size_t done = 0;
	for (int pass = 0; pass < 2 && !rc; pass++)
		for (size_t i = 0; i < cnt && !rc; i++)
			if (is_metadata(v[i].key) == (pass == 0)) {
				rc = s3_delete_key(priv, v[i].key, err, errcap);
				if (!rc) done++;
			}
	fl_store_objs_free(v, cnt);
	if (n) *n = done;
	return rc;
}

static int s3_exists(void *priv, const char *key, uint64_t *size, char *err, size_t errcap)
{
	const s3 *s = priv;
	char fk[2048], what[1024];
	full_key(s, key, fk, sizeof fk);
	what_of(s, "HEAD", fk, what, sizeof what);
	sink dst = { .fd = -1, .errb = { .max = ERRBODY_MAX } };
	req r = { "HEAD", fk, NULL, NULL, &dst, NULL, what };
	/* a HEAD answer has no body: 404 is the only "absent" */
	int rc = perform(s, &r, err, errcap);
	free(dst.errb.p);
	if (rc && dst.status == 404) return FLINC_ENOENT;
	if (rc) return rc;
	*size = dst.clen > 0 ? (uint64_t)dst.clen : 0;
	return FLINC_OK;
}

const fl_store_ops fl_store_s3_ops = {
	.version = FL_STORE_OPS_VERSION,
	.scheme = "s3",
	.priv_size = sizeof(s3),
	.open = s3_open,
	.close = s3_close,
	.put_file = s3_put_file,
	.put_buf = s3_put_buf,
	.get_file = s3_get_file,
	.get_buf = s3_get_buf,
	.list = s3_list,
	.delete_prefix = s3_delete_prefix,
	.exists = s3_exists,
};
