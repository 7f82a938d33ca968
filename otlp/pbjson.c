/* pbjson.c: protobuf attribute values in the OTLP JSON mapping. */
#include "otlp/pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "otlp/trace.pb-c.h"

int
otlp_pb_double_json(struct buf *b, double d)
{
	char text[64];

	if (isnan(d))
		return buf_addstr(b, "\"NaN\"");
	if (isinf(d))
		return buf_addstr(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	snprintf(text, sizeof(text), "%.15g", d);
	if (strtod(text, NULL) != d)
		snprintf(text, sizeof(text), "%.17g", d);
	return buf_addstr(b, text);
}

static int
add_base64(struct buf *b, const uint8_t *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	size_t i;

	buf_addch(b, '"');
	for (i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		buf_add(b, q, 4);
	}
	return buf_addch(b, '"');
}

int
otlp_pb_attrs_json(struct buf *b, struct Otlp__KeyValue *const *kvs, size_t n)
{
	buf_addch(b, '[');
	for (size_t i = 0; i < n; i++) {
		buf_addstr(b, i > 0 ? ",{\"key\":" : "{\"key\":");
		buf_add_json_string(b, kvs[i]->key);
		buf_addstr(b, ",\"value\":");
		otlp_pb_value_json(b, kvs[i]->value);
		buf_addch(b, '}');
	}
	return buf_addch(b, ']');
}

int
otlp_pb_value_json(struct buf *b, const struct Otlp__AnyValue *v)
{
	if (v == NULL)
		return buf_addstr(b, "{}");
	switch (v->value_case) {
	case OTLP__ANY_VALUE__VALUE_STRING_VALUE:
		buf_addstr(b, "{\"stringValue\":");
		buf_add_json_string(b, v->string_value);
		return buf_addch(b, '}');
	case OTLP__ANY_VALUE__VALUE_BOOL_VALUE:
		return buf_addstr(b,
		    v->bool_value ? "{\"boolValue\":true}"
		                  : "{\"boolValue\":false}");
	case OTLP__ANY_VALUE__VALUE_INT_VALUE:
		return buf_printf(
		    b, "{\"intValue\":\"%" PRId64 "\"}", v->int_value);
	case OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
		buf_addstr(b, "{\"doubleValue\":");
		otlp_pb_double_json(b, v->double_value);
		return buf_addch(b, '}');
	case OTLP__ANY_VALUE__VALUE_BYTES_VALUE:
		buf_addstr(b, "{\"bytesValue\":");
		add_base64(b, v->bytes_value.data, v->bytes_value.len);
		return buf_addch(b, '}');
	case OTLP__ANY_VALUE__VALUE_ARRAY_VALUE:
		buf_addstr(b, "{\"arrayValue\":{\"values\":[");
		for (size_t i = 0;
		     v->array_value != NULL && i < v->array_value->n_values;
		     i++) {
			if (i > 0)
				buf_addch(b, ',');
			otlp_pb_value_json(b, v->array_value->values[i]);
		}
		return buf_addstr(b, "]}}");
	case OTLP__ANY_VALUE__VALUE_KVLIST_VALUE:
		buf_addstr(b, "{\"kvlistValue\":{\"values\":");
		if (v->kvlist_value != NULL)
			otlp_pb_attrs_json(b, v->kvlist_value->values,
			    v->kvlist_value->n_values);
		else
			buf_addstr(b, "[]");
		return buf_addstr(b, "}}");
	default:
		return buf_addstr(b, "{}");
	}
}
