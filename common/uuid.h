/* uuid.h: UUID v4 strings from the kernel's random source. */
#ifndef TS_UUID_H
#define TS_UUID_H

/*
 * Write a fresh UUID v4 ("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx") and a
 * NUL into out (37 bytes). Bytes come from getrandom(2), taken in blocks and
 * kept per thread, so any thread may call it. Never fails: if the kernel
 * cannot give randomness the process aborts (a duplicate id would be worse).
 * The arg is ignored; the signature matches event_uuid_fn.
 */
void uuid_v4(char *out, void *arg);

#endif
