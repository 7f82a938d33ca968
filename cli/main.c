/* main.c: tracespool: options, defaults, dispatch, exit codes. */
#include <err.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli/cli.h"

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

/* Options that only some commands take; the rest apply to all. */
#define OPT_JSON 0x1
#define OPT_ALL 0x2
#define OPT_BATCH 0x4
#define OPT_HASH_KEY 0x8
#define OPT_WATCH 0x10

enum {
	LOPT_SOCKET = 256,
	LOPT_URL,
	LOPT_SPOOL_DIR,
	LOPT_JSON,
	LOPT_ALL,
	LOPT_BATCH,
	LOPT_HASH_KEY,
	LOPT_WATCH,
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: tracespool [options] COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n"
	    "  status [--json] [--watch[=N]]\n"
	    "                              the daemon's state, counters, rates "
	    "and runway;\n"
	    "                              --watch redraws it every N s "
	    "(default %d)\n"
	    "  send [--batch N] [FILE]     send newline-delimited events "
	    "(FILE or stdin)\n"
	    "  spool [--json]              a summary of the spool files\n"
	    "  dlq list [--json]           the dead letters\n"
	    "  dlq show [--json] ID        one dead letter and its event\n"
	    "  dlq replay ID | --all       move dead letters back to the "
	    "spool\n"
	    "  dlq purge ID | --all        delete dead letters\n"
	    "  redact-test [--hash-key-file F] RULES [FILE]\n"
	    "                              a JSON record or body (FILE or "
	    "stdin) after\n"
	    "                              the rules file RULES\n"
	    "\n"
	    "options:\n"
	    "  --socket PATH     the daemon's socket (default "
	    "$TRACESPOOL_SOCKET or\n"
	    "                    %s)\n"
	    "  --url URL         reach the daemon over TCP instead "
	    "(http://HOST:PORT)\n"
	    "  --spool-dir DIR   the spool files, for spool (default\n"
	    "                    $TRACESPOOL_SPOOL_DIR or %s); dlq uses\n"
	    "                    the daemon's socket unless a spool is named\n"
	    "                    here or in $TRACESPOOL_SPOOL_DIR (a stopped\n"
	    "                    daemon's spool)\n"
	    "  --json            print JSON (status, spool, dlq list, dlq "
	    "show)\n"
	    "  --batch N         lines per request for send (default %d)\n"
	    "  --all             every dead letter (dlq replay, dlq purge)\n"
	    "  --hash-key-file F the secret of hash rules (redact-test)\n"
	    "  --watch[=N]       status: refresh every N seconds until "
	    "interrupted\n"
	    "  -V, --version     print the version\n"
	    "  -h, --help        this text\n"
	    "\n"
	    "exit: 0 success, 1 failure (or rejected lines), 2 usage, "
	    "69 daemon not\nreachable, 78 configuration error\n",
	    CLI_WATCH_DEFAULT_S, TS_DEFAULT_SOCKET, TS_DEFAULT_SPOOL_DIR,
	    CLI_DEFAULT_BATCH);
}

int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	fprintf(stderr, "try 'tracespool --help'\n");
	return TS_EXIT_USAGE;
}

/* Decimal digits only, 1..max: "10x", "-1" and "" are usage errors. */
static int
parse_count(const char *s, size_t max, size_t *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > max)
			return -1;
	}
	if (v == 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* A path that cannot fit in sockaddr_un would fail later, less clearly. */
static int
socket_path_ok(const char *path)
{
	struct sockaddr_un sun;

	return path[0] != '\0' && strlen(path) < sizeof(sun.sun_path);
}

/*
 * Defaults for what the command line left out, from the environment: the
 * same TRACESPOOL_SOCKET and TRACESPOOL_SPOOL_DIR that configure the
 * daemon, so one environment serves both. A variable that is set must be
 * usable.
 */
static int
env_defaults(struct cli *cli)
{
	const char *v;

	if (cli->socket == NULL && (v = getenv("TRACESPOOL_SOCKET")) != NULL) {
		if (!socket_path_ok(v)) {
			warnx("TRACESPOOL_SOCKET: %s",
			    v[0] == '\0' ? "empty" : "path too long");
			return -1;
		}
		cli->socket = v;
	}
	if (cli->spool_dir == NULL &&
	    (v = getenv("TRACESPOOL_SPOOL_DIR")) != NULL) {
		if (v[0] == '\0') {
			warnx("TRACESPOOL_SPOOL_DIR: empty");
			return -1;
		}
		cli->spool_dir = v;
		cli->spool_dir_env = 1;
	}
	if (cli->socket == NULL)
		cli->socket = TS_DEFAULT_SOCKET;
	if (cli->spool_dir == NULL)
		cli->spool_dir = TS_DEFAULT_SPOOL_DIR;
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(const struct cli *, int, char **);
} commands[] = {
    {"status", cmd_status},
    {"send", cmd_send},
    {"dlq", cmd_dlq},
    {"spool", cmd_spool},
    {"redact-test", cmd_redact_test},
};

/*
 * Refuse a command-specific option given to a command that ignores it:
 * "tracespool dlq list --all" is more likely a mistake than a wish. An
 * unknown dlq subcommand is left for cmd_dlq to name.
 */
static int
check_opts(const char *cmd, const char *sub, int given)
{
	static const char *const names[] = {
	    "--json", "--all", "--batch", "--hash-key-file", "--watch"};
	int allowed = 0, extra, i;

	if (strcmp(cmd, "status") == 0)
		allowed = OPT_JSON | OPT_WATCH;
	else if (strcmp(cmd, "spool") == 0)
		allowed = OPT_JSON;
	else if (strcmp(cmd, "send") == 0)
		allowed = OPT_BATCH;
	else if (strcmp(cmd, "redact-test") == 0)
		allowed = OPT_HASH_KEY;
	else if (sub == NULL)
		return 0;
	else if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0)
		allowed = OPT_JSON;
	else if (strcmp(sub, "replay") == 0 || strcmp(sub, "purge") == 0)
		allowed = OPT_ALL;
	else
		return 0;
	if ((extra = given & ~allowed) == 0)
		return 0;
	for (i = 0; (extra & (1 << i)) == 0; i++)
		;
	cli_usage_error("%s: not an option of '%s%s%s'", names[i], cmd,
	    sub != NULL && strcmp(cmd, "dlq") == 0 ? " " : "",
	    sub != NULL && strcmp(cmd, "dlq") == 0 ? sub : "");
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, LOPT_SOCKET},
	    {"url", required_argument, NULL, LOPT_URL},
	    {"spool-dir", required_argument, NULL, LOPT_SPOOL_DIR},
	    {"json", no_argument, NULL, LOPT_JSON},
	    {"all", no_argument, NULL, LOPT_ALL},
	    {"batch", required_argument, NULL, LOPT_BATCH},
	    {"hash-key-file", required_argument, NULL, LOPT_HASH_KEY},
	    {"watch", optional_argument, NULL, LOPT_WATCH},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = {.batch = CLI_DEFAULT_BATCH};
	const char *cmd, *sub;
	int ch, given = 0;

	/*
	 * GNU getopt permutes: options may come before or after the
	 * command ("tracespool dlq purge --all"); "--" ends them.
	 */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (ch) {
		case LOPT_SOCKET:
			if (!socket_path_ok(optarg))
				return cli_usage_error("--socket %s: %s",
				    optarg,
				    optarg[0] == '\0' ? "empty"
				                      : "path too long");
			cli.socket = optarg;
			cli.daemon_flag = 1;
			break;
		case LOPT_URL:
			if (strncmp(optarg, "http://", 7) != 0 &&
			    strncmp(optarg, "https://", 8) != 0)
				return cli_usage_error(
				    "--url %s: expected http://HOST:PORT",
				    optarg);
			cli.url = optarg;
			cli.daemon_flag = 1;
			break;
		case LOPT_SPOOL_DIR:
			if (optarg[0] == '\0')
				return cli_usage_error("--spool-dir: empty");
			cli.spool_dir = optarg;
			cli.spool_dir_flag = 1;
			break;
		case LOPT_JSON:
			cli.json = 1;
			given |= OPT_JSON;
			break;
		case LOPT_ALL:
			cli.all = 1;
			given |= OPT_ALL;
			break;
		case LOPT_BATCH:
			if (parse_count(optarg, CLI_MAX_BATCH, &cli.batch) ==
			    -1)
				return cli_usage_error(
				    "--batch %s: expected 1 to %d", optarg,
				    CLI_MAX_BATCH);
			given |= OPT_BATCH;
			break;
		case LOPT_HASH_KEY:
			cli.hash_key_file = optarg;
			given |= OPT_HASH_KEY;
			break;
		case LOPT_WATCH: {
			size_t secs = CLI_WATCH_DEFAULT_S;

			if (optarg != NULL &&
			    parse_count(optarg, CLI_WATCH_MAX_S, &secs) == -1)
				return cli_usage_error(
				    "--watch=%s: expected 1 to %d seconds",
				    optarg, CLI_WATCH_MAX_S);
			cli.watch_s = (unsigned)secs;
			given |= OPT_WATCH;
			break;
		}
		case 'V':
			printf("tracespool %s\n", TS_VERSION);
			return TS_EXIT_OK;
		case 'h':
			usage(stdout);
			return TS_EXIT_OK;
		case ':':
			return cli_usage_error(
			    "%s: needs an argument", argv[optind - 1]);
		default:
			if (optopt >= LOPT_SOCKET)
				return cli_usage_error(
				    "%s: takes no argument", argv[optind - 1]);
			if (optopt > 0)
				return cli_usage_error(
				    "-%c: unknown option", optopt);
			return cli_usage_error(
			    "%s: unknown option", argv[optind - 1]);
		}
	}
	if (env_defaults(&cli) == -1)
		return TS_EXIT_CONFIG;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return cli_usage_error("no command given");
	cmd = argv[0];
	sub = argc > 1 ? argv[1] : NULL;
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return TS_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) != 0)
			continue;
		if (check_opts(cmd, sub, given) == -1)
			return TS_EXIT_USAGE;
		return commands[i].run(&cli, argc - 1, argv + 1);
	}
	return cli_usage_error("%s: unknown command", cmd);
}
