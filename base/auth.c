/*
 * auth.c - random bytes, constant-time comparison, the cluster secret, the
 * handshake proofs and the loopback check (fl_auth.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/error.h>

#include "fl_alloc.h"
#include "fl_auth.h"

int fl_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return FLINC_EIO;
		p += r;
		n -= (size_t)r;
	}
	return FLINC_OK;
}

bool fl_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
	return d == 0;
}

void fl_secret_wipe(void *key, size_t n)
{
	if (!key) return;
	volatile uint8_t *p = key;
	for (size_t i = 0; i < n; i++) p[i] = 0;
}

/* The bytes of the secret file, checked. FLINC_OK with *out malloc'ed. */
static int read_secret_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errcap)
{
	/* O_NONBLOCK: a FIFO named here must not hang the start. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errcap, FL_SECRET_KEY ": cannot open the secret file %s: %s", path,
			 strerror(errno));
		return FLINC_ECONFIG;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errcap, FL_SECRET_KEY ": the secret file %s is not a regular file", path);
		close(fd);
		return FLINC_ECONFIG;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errcap,
			 FL_SECRET_KEY
			 ": the secret file %s may be read or written by group or others (mode %04o); "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return FLINC_ECONFIG;
	}
	/* Two bytes more than the limit: a trailing "\r\n" is not counted. */
	size_t cap = FL_SECRET_MAX + 3, n = 0;
	uint8_t *buf = fl_malloc(cap);
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) {
			snprintf(err, errcap, FL_SECRET_KEY ": cannot read the secret file %s: %s", path,
				 strerror(errno));
			close(fd);
			fl_secret_wipe(buf, cap);
			free(buf);
			return FLINC_ECONFIG;
		}
		if (r == 0 || (n += (size_t)r) == cap) break;
	}
	close(fd);
	if (n && buf[n - 1] == '\n') n--;
	if (n && buf[n - 1] == '\r') n--;
	*out = buf;
	*len = n;
	return FLINC_OK;
}

int fl_secret_load(const char *value, uint8_t **key, size_t *len, char *err, size_t errcap)
{
	*key = NULL;
	*len = 0;
	if (!value || !value[0]) return FLINC_OK;
	uint8_t *k;
	size_t n;
	bool from_file = strncmp(value, "file:", 5) == 0;
	if (from_file) {
		const char *path = value + 5;
		if (!path[0]) {
			snprintf(err, errcap, FL_SECRET_KEY ": 'file:' needs the path of the secret file");
			return FLINC_ECONFIG;
		}
		int rc = read_secret_file(path, &k, &n, err, errcap);
		if (rc != FLINC_OK) return rc;
	} else {
		n = strlen(value);
		k = (uint8_t *)fl_strdup(value);
	}
	if (n < FL_SECRET_MIN || n > FL_SECRET_MAX) {
		if (from_file)
			snprintf(err, errcap,
				 FL_SECRET_KEY
				 ": the secret file %s holds %zu bytes; a secret has %d to %d (make "
				 "one with: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE)",
				 value + 5, n, FL_SECRET_MIN, FL_SECRET_MAX);
		else
			snprintf(err, errcap,
				 FL_SECRET_KEY ": the value holds %zu bytes; a secret has %d to %d (or give "
					       "file:PATH, a file that only its owner may read)",
				 n, FL_SECRET_MIN, FL_SECRET_MAX);
		fl_secret_wipe(k, n);
		free(k);
		return FLINC_ECONFIG;
	}
	*key = k;
	*len = n;
	return FLINC_OK;
}

void fl_auth_proof(const void *key, size_t keylen, const char *role, const char *purpose,
		   const uint8_t nc[FL_AUTH_NONCE], const uint8_t ns[FL_AUTH_NONCE],
		   uint8_t out[FL_AUTH_PROOF])
{
	static const char label[] = "flinc-auth-v1"; /* with its NUL */
	static const uint8_t zero = 0;
	fl_hmac_ctx h;
	fl_hmac_init(&h, key, keylen);
	fl_hmac_update(&h, label, sizeof label);
	fl_hmac_update(&h, role, strlen(role));
	fl_hmac_update(&h, &zero, 1);
	fl_hmac_update(&h, purpose, strlen(purpose));
	fl_hmac_update(&h, &zero, 1);
	fl_hmac_update(&h, nc, FL_AUTH_NONCE);
	fl_hmac_update(&h, ns, FL_AUTH_NONCE);
	fl_hmac_final(&h, out);
	fl_secret_wipe(&h, sizeof h);
}

/* Is sa a loopback address? */
static bool sockaddr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a)) return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

bool fl_host_is_loopback(const char *host)
{
	if (!host || !host[0] || strcmp(host, "*") == 0) return false;
	char h[256];
	size_t n = strlen(host);
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n >= sizeof h) return false;
	memcpy(h, host, n);
	h[n] = 0;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	if (getaddrinfo(h, NULL, &hints, &res) != 0 || !res) return false;
	bool all = true;
	for (struct addrinfo *a = res; a; a = a->ai_next)
		if (!sockaddr_loopback(a->ai_addr)) all = false;
	freeaddrinfo(res);
	return all;
}
