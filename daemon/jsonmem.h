/* jsonmem.h: a per-request arena for cJSON's allocations on the event loop. */
#ifndef TS_JSONMEM_H
#define TS_JSONMEM_H

/*
 * Parsing a request builds a cJSON tree of a hundred or so small blocks
 * per event, all freed together when the request is answered or handed to
 * the commit thread: with malloc and free that is most of the cost of
 * ingest. Between jsonmem_begin and jsonmem_end, cJSON's allocations on
 * the calling thread come from one reused block instead, and its frees of
 * them do nothing; outside, and on other threads, they are malloc and free.
 * Nothing cJSON allocated inside may be used after jsonmem_end. Under
 * AddressSanitizer the arena is off, so that it cannot hide a bug.
 */

/* Make cJSON use these hooks; once, before any cJSON call. */
void jsonmem_install(void);

void jsonmem_begin(void);
void jsonmem_end(void);

#endif
