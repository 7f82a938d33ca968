/* cli.h: what the tracespool command's files share: options, commands. */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stddef.h>

#include "common/defaults.h"

/* Exit codes and default paths: common/defaults.h, shared with tracespoold. */
#define CLI_DEFAULT_BATCH 100
#define CLI_MAX_BATCH 10000

/* Options after parsing; strings point into argv or the environment. */
struct cli {
	const char *socket;        /* the daemon's Unix socket */
	const char *url;           /* NULL, or the daemon's http(s) base URL */
	const char *spool_dir;     /* for dlq and spool */
	int spool_dir_flag;        /* --spool-dir was given */
	int spool_dir_env;         /* spool_dir is TRACESPOOL_SPOOL_DIR */
	int daemon_flag;           /* --socket or --url was given */
	int json;                  /* --json: machine-readable output */
	int all;                   /* --all: every dead letter */
	size_t batch;              /* --batch: lines per request for send */
	const char *hash_key_file; /* --hash-key-file: for redact-test */
	unsigned watch_s;          /* --watch[=N]: status every N s; 0: once */
};

/* --watch's interval when none is given, and its bounds. */
#define CLI_WATCH_DEFAULT_S 2
#define CLI_WATCH_MAX_S 3600

/*
 * The commands. argv holds the command's operands only (the options are
 * parsed into cli already). Each returns the process's exit code and has
 * said why on stderr when it is not TS_EXIT_OK.
 */
int cmd_status(const struct cli *cli, int argc, char **argv);
int cmd_send(const struct cli *cli, int argc, char **argv);
int cmd_dlq(const struct cli *cli, int argc, char **argv);
int cmd_spool(const struct cli *cli, int argc, char **argv);
int cmd_redact_test(const struct cli *cli, int argc, char **argv);

struct spool;

/*
 * Open the spool in cli->spool_dir: readonly for inspection, otherwise to
 * change dead letters beside a running daemon (LMDB lets a second process
 * write; the map size is the one the files have). Says why on failure.
 * Returns 0 or -1.
 */
int cli_spool_open(const struct cli *cli, int readonly, struct spool **spp);

/* Print "tracespool: <msg>" and a hint to --help; returns TS_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
