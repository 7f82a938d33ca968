/* jsonmem.c: a per-request arena for cJSON's allocations on the event loop. */
#include "daemon/jsonmem.h"

#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#if defined(__SANITIZE_ADDRESS__)
#define JSONMEM_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSONMEM_OFF 1
#endif
#endif

/* The block starts at this size and doubles up to the cap when outgrown. */
#define JSONMEM_FIRST (256 * 1024)
#define JSONMEM_MAX (4 * 1024 * 1024)

struct jsonmem {
	char *base;
	size_t cap;
	size_t used;
	size_t spilled; /* bytes that did not fit, this request */
	int on;
};

static __thread struct jsonmem jm;

#ifndef JSONMEM_OFF
static void *
jsonmem_malloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (jm.on && need >= n && jm.cap - jm.used >= need) {
		p = jm.base + jm.used;
		jm.used += need;
		return p;
	}
	if (jm.on)
		jm.spilled += need;
	return malloc(n);
}

static void
jsonmem_free(void *p)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)jm.base;

	if (jm.base != NULL && a >= b && a < b + jm.cap)
		return;
	free(p);
}
#endif

void
jsonmem_install(void)
{
#ifndef JSONMEM_OFF
	cJSON_Hooks hooks = {jsonmem_malloc, jsonmem_free};

	cJSON_InitHooks(&hooks);
#endif
}

void
jsonmem_begin(void)
{
#ifndef JSONMEM_OFF
	size_t want = jm.cap != 0 ? jm.cap : JSONMEM_FIRST;
	char *nb;

	while (
	    jm.spilled != 0 && want < jm.cap + jm.spilled && want < JSONMEM_MAX)
		want *= 2;
	if (want > JSONMEM_MAX)
		want = JSONMEM_MAX;
	/* Running out of memory here only means plain malloc for a while. */
	if (want != jm.cap && (nb = malloc(want)) != NULL) {
		free(jm.base);
		jm.base = nb;
		jm.cap = want;
	}
	jm.used = 0;
	jm.spilled = 0;
	jm.on = 1;
#endif
}

void
jsonmem_end(void)
{
	jm.on = 0;
	jm.used = 0;
}
