/* kind.c: the table of record kinds. */
#include "common/kind.h"

#include <stdio.h>
#include <string.h>

/*
 * The one table. A new kind is a row here (with the next id) plus its
 * validator in daemon/body.c. The two OTLP kinds share their routes: the
 * request's Content-Type picks the row, so the routes sit on the protobuf
 * row only.
 */
static const struct kind kinds[] = {
    {
        .id = KIND_EVENT,
        .name = "event",
        .unit = "event",
        .string_form = 1,
        .routes = {{"POST", "/events", "event", KIND_FORM_ONE},
            {"POST", "/events/batch", "events", KIND_FORM_MANY}},
        .up_method = "POST",
        .up_path = "/events/batch",
        .up_content_type = "application/json",
        .batch_open = "{\"events\":[",
        .batch_sep = ",",
        .batch_close = "]}",
    },
    {
        .id = KIND_SESSION,
        .name = "session",
        .unit = "event",
        .store_open = "{\"session\":",
        .routes = {{"POST", "/session/start", "session", KIND_FORM_ONE}},
        .up_method = "POST",
        .up_path = "/session/start",
        .up_content_type = "application/json",
        /* The session's events, spooled after it, must find it there. */
        .order = KIND_ORDER_BEFORE_LATER,
    },
    {
        .id = KIND_UPDATE,
        .name = "update",
        .unit = "event",
        .routes = {{"PUT", "/events", NULL, KIND_FORM_WHOLE}},
        .up_method = "PUT",
        .up_path = "/events",
        .up_content_type = "application/json",
        /* The event it updates was spooled before it. */
        .order = KIND_ORDER_AFTER_EARLIER,
    },
    {
        .id = KIND_MODEL_EVENT,
        .name = "model_event",
        .unit = "event",
        .routes = {{"POST", "/events/model", "model_event", KIND_FORM_ONE},
            {"POST", "/events/model/batch", "model_events", KIND_FORM_MANY}},
        .up_method = "POST",
        .up_path = "/events/model/batch",
        .up_content_type = "application/json",
        .batch_open = "{\"model_events\":[",
        .batch_sep = ",",
        .batch_close = "]}",
    },
    {
        /* Serialized repeated fields concatenate: two exports are one. */
        .id = KIND_SPANS_PB,
        .name = "spans_protobuf",
        .unit = "span",
        .routes = {{"POST", "/opentelemetry/v1/traces", NULL, KIND_FORM_OTLP},
            {"POST", "/v1/traces", NULL, KIND_FORM_OTLP}},
        .up_method = "POST",
        .up_path = "/opentelemetry/v1/traces",
        .up_content_type = "application/x-protobuf",
        .batch_open = "",
        .batch_sep = "",
        .batch_close = "",
    },
    {
        /* Spooled as the elements of resourceSpans, joined again here. */
        .id = KIND_SPANS_JSON,
        .name = "spans_json",
        .unit = "span",
        .up_method = "POST",
        .up_path = "/opentelemetry/v1/traces",
        .up_content_type = "application/json",
        .batch_open = "{\"resourceSpans\":[",
        .batch_sep = ",",
        .batch_close = "]}",
    },
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/*
 * One list serves every kind, since a rule applies to all of them: an
 * event's event_type and inputs, a model event's required members, an
 * update's event_id; then what is optional but typed. A field one kind
 * requires is listed as required.
 */
const char *const kind_redact_required[] = {
    "event_type=chain|model|tool|session",
    "inputs:object",
    "model:string",
    "provider:string",
    "messages:array",
    "response:object",
    "usage:object",
    "duration",
    "event_id",
    "?session_id",
    "?parent_id",
    "?children_ids:array",
    "?config:object",
    "?outputs:object",
    "?metadata:object",
    "?metrics:object",
    "?feedback:object",
    "?user_properties:object",
    "?start_time",
    "?end_time",
    "?cost",
    "?hyperparameters:object",
    "?template:array",
    "?template_inputs:object",
    "?tools:array",
    "?response_format:object",
    NULL,
};

const struct kind *
kind_get(unsigned id)
{
	for (size_t i = 0; i < NKINDS; i++) {
		if (kinds[i].id == id)
			return &kinds[i];
	}
	return NULL;
}

int
kind_batches(const struct kind *k)
{
	return k->batch_open != NULL;
}

const struct kind *
kind_route(const char *method, const char *path,
    const struct kind_route **route, char *allow, size_t allowlen)
{
	size_t i, j, used = 0;

	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < NKINDS; i++) {
		for (j = 0; j < KIND_ROUTES; j++) {
			const struct kind_route *r = &kinds[i].routes[j];

			if (r->path == NULL || strcmp(r->path, path) != 0)
				continue;
			if (strcmp(r->method, method) == 0) {
				*route = r;
				return &kinds[i];
			}
			if (used < allowlen)
				used += (size_t)snprintf(allow + used,
				    allowlen - used, "%s%s",
				    used > 0 ? ", " : "", r->method);
		}
	}
	return NULL;
}
