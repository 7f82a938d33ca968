/* uuid.c: UUID v4 ids from getrandom(2), buffered per thread. */
#include "common/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"

/* One getrandom(2) call yields 256 ids. */
#define UUID_POOL_SIZE 4096

static __thread unsigned char uuid_pool[UUID_POOL_SIZE];
static __thread size_t uuid_pool_off = UUID_POOL_SIZE;
static pthread_once_t uuid_once = PTHREAD_ONCE_INIT;

/*
 * A forked child inherits the pool of the thread that forked, the only
 * thread it has: without this it would hand out the same ids as its parent.
 */
static void
uuid_atfork_child(void)
{
	explicit_bzero(uuid_pool, sizeof(uuid_pool));
	uuid_pool_off = UUID_POOL_SIZE;
}

static void
uuid_init(void)
{
	int rc = pthread_atfork(NULL, NULL, uuid_atfork_child);

	if (rc != 0) {
		errno = rc;
		log_error("uuid: pthread_atfork");
		abort();
	}
}

/*
 * Flags 0: block until the kernel's pool is seeded at boot rather than
 * hand out guessable ids. Reads this large may return short when a signal
 * arrives, so the loop goes on until the pool is full.
 */
static void
uuid_refill(void)
{
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(uuid_pool)) {
		n = getrandom(uuid_pool + got, sizeof(uuid_pool) - got, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_error("uuid: getrandom");
			abort();
		}
		got += (size_t)n;
	}
	uuid_pool_off = 0;
}

void
uuid_v4(char *out, void *arg)
{
	(void)arg;
	pthread_once(&uuid_once, uuid_init);
	if (uuid_pool_off + 16 > sizeof(uuid_pool))
		uuid_refill();
	uuid_format(uuid_pool + uuid_pool_off, out);
	uuid_pool_off += 16;
}

void
uuid_format(const unsigned char bytes[16], char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	int i, o = 0;

	memcpy(b, bytes, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 10xx */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0F];
	}
	out[o] = '\0';
}
