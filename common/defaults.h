/* defaults.h: the default paths and the exit codes that tracespoold and
 * tracespool share, as the contract fixes them. */
#ifndef TS_DEFAULTS_H
#define TS_DEFAULTS_H

/* tracespoold's configuration file when -c names none. */
#define TS_DEFAULT_CONF "/etc/tracespool/tracespoold.conf"
/* The defaults of the keys socket and spool_dir (conf/conf.c's table), and
 * where the command-line tool looks when it is told nothing. */
#define TS_DEFAULT_SOCKET "/run/tracespool/tracespool.sock"
#define TS_DEFAULT_SPOOL_DIR "/var/lib/tracespool"

/* Exit codes of both programs (sysexits.h's values where it has one). */
#define TS_EXIT_OK 0
#define TS_EXIT_FAIL 1         /* a runtime failure */
#define TS_EXIT_USAGE 2        /* a bad flag or argument */
#define TS_EXIT_UNAVAILABLE 69 /* the daemon is not reachable */
#define TS_EXIT_CONFIG 78      /* a configuration error */

#endif
