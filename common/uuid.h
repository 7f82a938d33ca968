/* uuid.h: UUID v4 strings from the kernel's random source. */
#ifndef TS_UUID_H
#define TS_UUID_H

/* A UUID's text, 8-4-4-4-12 hex digits, without the NUL. */
#define UUID_LEN 36

/*
 * Write a fresh UUID v4 ("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx") and a
 * NUL into out (37 bytes). Bytes come from getrandom(2), taken in blocks and
 * kept per thread, so any thread may call it. Never fails: if the kernel
 * cannot give randomness the process aborts (a duplicate id would be worse).
 * The arg is ignored: the signature is the one event_normalize takes for
 * its id source.
 */
void uuid_v4(char *out, void *arg);

/*
 * Format 16 bytes as a UUID v4 string and a NUL into out (UUID_LEN + 1
 * bytes): the version and variant bits are set in the text, bytes is left
 * unchanged. Pure; any thread.
 */
void uuid_format(const unsigned char bytes[16], char *out);

#endif
