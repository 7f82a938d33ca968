/* deadjson.c: a dead letter as the JSON object that GET /dlq and `tracespool
 * dlq --json` show. */
#include "spool/deadjson.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "common/kind.h"

int
spool_kind_binary(unsigned kind)
{
	return kind == KIND_SPANS_PB;
}

/*
 * Whether data (NUL-terminated) is one JSON value and nothing else:
 * cJSON stops after the first value unless told to require the end, which
 * it finds as a NUL, hence len + 1 and no NUL before it; the record is
 * embedded raw, so trailing bytes would break the object around it.
 */
static int
is_one_json_value(const char *data, size_t len)
{
	cJSON *v = memchr(data, '\0', len) == NULL
	    ? cJSON_ParseWithLengthOpts(data, len + 1, NULL, 1)
	    : NULL;
	int ok = v != NULL;

	cJSON_Delete(v);
	return ok;
}

int
spool_dead_json(struct buf *b, const struct spool_dead *d)
{
	const struct kind *k = kind_get(d->kind);
	int rc = 0;

	rc |= buf_printf(b,
	    "{\"id\":%llu,\"seq\":%llu,\"kind\":\"%s\",\"time_ms\":%llu,"
	    "\"dead_ms\":%llu,\"status\":%d,\"attempts\":%u,\"reason\":",
	    (unsigned long long)d->id, (unsigned long long)d->seq,
	    k != NULL ? k->name : "unknown", (unsigned long long)d->time_ms,
	    (unsigned long long)d->dead_ms, d->status, (unsigned)d->attempts);
	rc |= buf_add_json_string(b, d->reason);
	rc |= buf_printf(b, ",\"count\":%u,\"event\":", (unsigned)d->count);
	if (spool_kind_binary(d->kind))
		rc |= buf_printf(b, "{\"protobuf_bytes\":%zu}", d->len);
	else if (is_one_json_value(d->data, d->len))
		rc |= buf_add(b, d->data, d->len);
	else
		rc |= buf_add_json_string(b, d->data);
	rc |= buf_addch(b, '}');
	return rc == 0 ? 0 : -1;
}
