/*
 * kafka_tsan.c - compiled only into a ThreadSanitizer build (-DFLINC_SANITIZER=
 * thread), into every binary that links librdkafka (CMakeLists.txt).
 *
 * Debian's librdkafka (2.0.2) starts its threads with C11 thrd_create, which
 * glibc (2.34+) implements by calling its internal pthread_create directly,
 * past the pthread_create interceptor of GCC 12's libtsan (which has no
 * thrd_create interceptor). TSan then knows nothing of librdkafka's threads
 * and the first intercepted call on one of them (a calloc in "rdk:mock",
 * "rdk:main", ...) dereferences a null thread state: the SEGV that
 * flinc-kafka-mock and every Kafka client of ours died with under TSan.
 *
 * This thrd_create, defined in the executable, comes before glibc's in the
 * dynamic linker's lookup order, and starts the thread with pthread_create,
 * through the interceptor. Default visibility (the tree builds hidden), weak
 * because a host that links the runtime
 * whole gets it twice. thrd_join and thrd_detach likewise go through
 * pthread_join and pthread_detach, else TSan reports every librdkafka thread
 * as leaked (glibc's call the internal ones too).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

typedef struct c11_start {
	thrd_start_t fn;
	void *arg;
} c11_start;

static void *c11_trampoline(void *p)
{
	c11_start s = *(c11_start *)p;
	free(p);
	return (void *)(intptr_t)s.fn(s.arg);
}

__attribute__((weak, visibility("default"))) int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	c11_start *s = malloc(sizeof *s);
	if (!s) return thrd_nomem;
	s->fn = fn;
	s->arg = arg;
	pthread_t t;
	int rc = pthread_create(&t, NULL, c11_trampoline, s);
	if (rc) {
		free(s);
		return rc == 11 /* EAGAIN */ ? thrd_nomem : thrd_error;
	}
	*thr = (thrd_t)t;
	return thrd_success;
}

__attribute__((weak, visibility("default"))) int thrd_join(thrd_t thr, int *res)
{
	void *v = NULL;
	if (pthread_join((pthread_t)thr, &v)) return thrd_error;
	if (res) *res = (int)(intptr_t)v;
	return thrd_success;
}

__attribute__((weak, visibility("default"))) int thrd_detach(thrd_t thr)
{
	return pthread_detach((pthread_t)thr) ? thrd_error : thrd_success;
}
