/* SPDX-License-Identifier: MIT */
/*
 * sbumld: the sbuml host daemon.  Parse options, settle the configuration
 * (absolute paths, directories), then hand over to daemon_run().  See
 * sbumld(8).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "jail.h"
#include "log.h"
#include "machine-image.h"
#include "snapshot.h"
#include "util.h"

/* Long options without a short one. */
enum {
	OPT_NO_USERFAULTFD = 256,
};

static void	usage(FILE *, int) __attribute__((noreturn));

/* Print the synopsis and exit. */
static void
usage(FILE *f, int status)
{
	fprintf(f,
	    "usage: sbumld [-dhVv] [--socket path] [--state-dir dir] "
	    "[--kernel path]\n"
	    "              [--image path] [--log-level level]\n"
	    "              [--default-network name] [--network name[=subnet]]...\n"
	    "              [--no-userfaultfd]\n"
	    "  -s, --socket PATH     RPC socket (default %s)\n"
	    "  -S, --state-dir DIR   machines and state (default %s)\n"
	    "  -k, --kernel PATH     default UML kernel (default %s)\n"
	    "  -i, --image PATH      default root image (default %s)\n"
	    "  -N, --default-network NAME  network of new machines, or none "
	    "(default %s)\n"
	    "  -n, --network NAME[=A.B.C.D/N]  declare a network (repeatable; "
	    "\"default\"\n"
	    "                        always exists, its subnet chosen clear of "
	    "the routes)\n"
	    "      --no-userfaultfd  do not give UML kernels /dev/userfaultfd\n"
	    "  -d, --foreground      log to stderr instead of syslog\n"
	    "  -v, --verbose         log debug messages\n"
	    "  -l, --log-level LVL   error, warning, info (default) or debug\n"
	    "  -h, --help            show this help\n"
	    "  -V, --version         show the version\n",
	    DAEMON_DEFAULT_SOCKET, DAEMON_DEFAULT_STATE_DIR,
	    DAEMON_DEFAULT_KERNEL, DAEMON_DEFAULT_IMAGE, DAEMON_DEFAULT_NETWORK);
	exit(status);
}

/* An absolute version of path (malloc'd): machine dirs and sockets must not depend on our cwd. */
static char *
absolute(const char *path)
{
	char	*cwd, *p;

	if (path[0] == '/')
		return (xstrdup(path));
	if ((cwd = getcwd(NULL, 0)) == NULL)
		fatal("getcwd");
	p = xasprintf("%s/%s", cwd, path);
	free(cwd);
	return (p);
}

/* Create the parent directory of the socket (0755) unless it exists. */
static void
make_socket_dir(const char *path)
{
	char	*dir, *slash;
	int	 r;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((r = mkdir_p(dir, 0755)) < 0)
			fatalx("%s: cannot create: %s", dir, strerror(-r));
	}
	free(dir);
}

/*
 * The jailed UML must reach its machine directory, a named image, a
 * save's capture, a restore's materialised capture and a kernel from the
 * store by path:
 * every directory on the way may be traversed (not listed) by the jail
 * group.  Created here so they exist with that mode from the start.
 */
static void
share_state_dirs(void)
{
	char	*store = snapshot_store_root();
	char	*dirs[] = {
		xstrdup(daemon_config.state_dir),
		xasprintf("%s/machines", daemon_config.state_dir),
		machine_image_dir(),
		snapshot_named_root(),
		xstrdup(store),
		xasprintf("%s/tmp", store),
		xasprintf("%s/kernels", store),
	};
	int	 r;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (((r = mkdir_p(dirs[i], 0700)) < 0 && r != -EEXIST) ||
		    (r = jail_share_dir(dirs[i])) < 0)
			fatalx("%s: cannot share with user %s: %s", dirs[i],
			    JAIL_USER, strerror(-r));
		free(dirs[i]);
	}
	free(store);
	/* A parent we do not own (mktemp's 0700): say so now, not at a boot. */
	if ((r = jail_probe_reach(daemon_config.state_dir)) < 0)
		log_warnx("%s: user %s cannot reach it (%s): machines will not "
		    "start; make every parent directory searchable (o+x)",
		    daemon_config.state_dir, JAIL_USER, strerror(-r));
}

/* Parse options, prepare the directories, run the daemon. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL,	's' },
		{ "state-dir",	required_argument,	NULL,	'S' },
		{ "kernel",	required_argument,	NULL,	'k' },
		{ "image",	required_argument,	NULL,	'i' },
		{ "default-network", required_argument,	NULL,	'N' },
		{ "network",	required_argument,	NULL,	'n' },
		{ "foreground",	no_argument,		NULL,	'd' },
		{ "verbose",	no_argument,		NULL,	'v' },
		{ "log-level",	required_argument,	NULL,	'l' },
		{ "help",	no_argument,		NULL,	'h' },
		{ "version",	no_argument,		NULL,	'V' },
		{ "no-userfaultfd", no_argument,	NULL,	OPT_NO_USERFAULTFD },
		{ NULL,		0,			NULL,	0 }
	};
	const char	*socket_path = DAEMON_DEFAULT_SOCKET;
	const char	*state_dir = DAEMON_DEFAULT_STATE_DIR;
	const char	*kernel = DAEMON_DEFAULT_KERNEL;
	const char	*image = DAEMON_DEFAULT_IMAGE;
	const char	*default_network = DAEMON_DEFAULT_NETWORK;
	enum log_level	 level = LOG_LEVEL_INFO;
	int		 ch, foreground = 0, r, ret;

	/* Log to stderr until the options say otherwise (vmd). */
	log_init(1, level);

	while ((ch = getopt_long(argc, argv, "s:S:k:i:N:n:dvl:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_path = optarg;
			break;
		case 'S':
			state_dir = optarg;
			break;
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			image = optarg;
			break;
		case 'N':
			default_network = optarg;
			break;
		case 'n':
			daemon_config.networks = xrealloc(daemon_config.networks,
			    (daemon_config.nnetworks + 1) * sizeof(char *));
			daemon_config.networks[daemon_config.nnetworks++] =
			    xstrdup(optarg);
			break;
		case 'd':
			foreground = 1;
			break;
		case 'v':
			level = LOG_LEVEL_DEBUG;
			break;
		case 'l':
			if (log_level_from_string(optarg, &level) < 0)
				fatalx("--log-level: \"%s\" is not one of "
				    "error, warning, info, debug", optarg);
			break;
		case OPT_NO_USERFAULTFD:
			daemon_config.no_userfaultfd = true;
			break;
		case 'h':
			usage(stdout, 0);
		case 'V':
			printf("sbumld %s\n", SBUML_VERSION);
			return (0);
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	if (*socket_path == '\0' || *state_dir == '\0' || *kernel == '\0' ||
	    *image == '\0')
		fatalx("paths must not be empty");

	log_init(foreground, level);

	daemon_config.socket_path = absolute(socket_path);
	daemon_config.state_dir = absolute(state_dir);
	daemon_config.kernel = absolute(kernel);
	daemon_config.image = absolute(image);
	daemon_config.default_network = xstrdup(default_network);

	/* The state dir holds machine disks and consoles (shared below). */
	if ((r = mkdir_p(daemon_config.state_dir, 0700)) < 0)
		fatalx("%s: cannot create: %s", daemon_config.state_dir,
		    strerror(-r));
	make_socket_dir(daemon_config.socket_path);
	{
		char	jerr[512];

		if ((r = jail_init(jerr, sizeof(jerr))) < 0)
			fatalx("%s", jerr);
	}
	share_state_dirs();
	/* Not fatal: machine.boot may name its own kernel and image. */
	if (access(daemon_config.kernel, X_OK) == -1)
		log_warn("default kernel %s", daemon_config.kernel);
	if (access(daemon_config.image, R_OK) == -1)
		log_warn("default image %s", daemon_config.image);

	ret = daemon_run();

	free(daemon_config.socket_path);
	free(daemon_config.state_dir);
	free(daemon_config.kernel);
	free(daemon_config.image);
	free(daemon_config.default_network);
	for (size_t i = 0; i < daemon_config.nnetworks; i++)
		free(daemon_config.networks[i]);
	free(daemon_config.networks);
	return (ret);
}
