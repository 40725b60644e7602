// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev: activate, deactivate and list cowdevices.
 *
 * Activation and deactivation go through the driver's control device
 * /dev/cow/ctl; the list is read from sysfs, where the driver shows each
 * active cowdevice's files in /sys/block/cowN/cowloop/{rdofile,cowfile}.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowdev",
	.synopsis = "-l\n-a rdofile cowfile [cowdevice]\n-d cowdevice...\n-D",
	.summary = "Activate, deactivate or list cowdevices (/dev/cow/N).",
	.options = "  -a, --activate    activate a cowdevice for rdofile and cowfile\n"
		   "                    (a new cowfile is created when it does not\n"
		   "                    exist); prints the name of the cowdevice\n"
		   "  -d, --deactivate  deactivate cowdevices (/dev/cow/N or N)\n"
		   "  -D, --deactivate-all  deactivate every active cowdevice\n"
		   "  -l, --list        list the active cowdevices\n",
};

static const struct option longopts[] = {
	{ "activate", no_argument, NULL, 'a' },
	{ "deactivate", no_argument, NULL, 'd' },
	{ "deactivate-all", no_argument, NULL, 'D' },
	{ "list", no_argument, NULL, 'l' },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

#define DEV_PREFIX	"/dev/cow/"

/* "/dev/cow/N" or "N" -> N; usage error otherwise. */
static __u32 parse_devno(const char *s)
{
	const char *p = s;
	unsigned long n;
	char *end;

	if (!strncmp(p, DEV_PREFIX, strlen(DEV_PREFIX)))
		p += strlen(DEV_PREFIX);
	errno = 0;
	n = strtoul(p, &end, 10);
	if (*p < '0' || *p > '9' || *end || errno || n >= COW_MAXCOWS_LIMIT)
		cow_usage_error("invalid cowdevice '%s' (expected /dev/cow/N)",
				s);
	return (__u32)n;
}

/*
 * Absolute path of @path (the @what: rdofile or cowfile) into @out; the
 * last component may not exist when @may_be_new.
 */
static int abs_path(const char *what, const char *path, char *out,
		    bool may_be_new)
{
	char buf[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	int e;

	if (realpath(path, buf)) {
		if (strlen(buf) >= COW_PATH_MAX)
			goto toolong;
		strcpy(out, buf);
		return 0;
	}
	if (errno != ENOENT || !may_be_new || strlen(path) >= PATH_MAX)
		goto fail;
	strcpy(dir, path);
	strcpy(base, path);
	if (!realpath(dirname(dir), buf))
		goto fail;
	if (snprintf(out, COW_PATH_MAX, "%s/%s", strcmp(buf, "/") ? buf : "",
		     basename(base)) >= COW_PATH_MAX)
		goto toolong;
	return 0;
toolong:
	errno = ENAMETOOLONG;
fail:
	e = errno;
	snprintf(buf, sizeof(buf), "%s %s", what, path);
	errno = e;
	cow_err_errno(buf, NULL);
	return -1;
}

static void activate_failed(const struct cow_ioc_dev *d, const char *why)
{
	cow_err(NULL, "cannot activate rdofile %s with cowfile %s: %s",
		d->rdofile, d->cowfile, why);
}

static int activate(char **args, int nargs)
{
	static struct cow_ioc_dev d;

	if (nargs < 2 || nargs > 3)
		cow_usage_error("-a needs rdofile cowfile [cowdevice]");
	d.devno = nargs == 3 ? parse_devno(args[2]) : COW_DEV_ANY;
	if (abs_path("rdofile", args[0], d.rdofile, false) < 0 ||
	    abs_path("cowfile", args[1], d.cowfile, true) < 0)
		return COW_EXIT_FAIL;
	switch (cow_ctl_ioctl(COW_IOC_ACTIVATE, &d)) {
	case 0:
		printf(DEV_PREFIX "%u\n", d.devno);
		return COW_EXIT_OK;
	case -1:
		activate_failed(&d, cow_ctl_strerror(&d, errno));
	}
	return COW_EXIT_FAIL;
}

static int deactivate_one(__u32 devno)
{
	struct cow_ioc_dev d = { .devno = devno };
	char name[32];

	snprintf(name, sizeof(name), DEV_PREFIX "%u", d.devno);
	switch (cow_ctl_ioctl(COW_IOC_DEACTIVATE, &d)) {
	case 0:
		return COW_EXIT_OK;
	case -1:
		if (errno == EBUSY && !d.reason)
			cow_err(name, "cannot deactivate: device is in use "
				"(mounted or open)");
		else
			cow_err(name, "cannot deactivate: %s",
				cow_ctl_strerror(&d, errno));
	}
	return COW_EXIT_FAIL;
}

/* -d: each cowdevice named; goes on after a failure, fails at the end. */
static int deactivate(char **args, int nargs)
{
	int i, ret = COW_EXIT_OK;

	if (nargs < 1)
		cow_usage_error("-d needs a cowdevice");
	for (i = 0; i < nargs; i++)
		parse_devno(args[i]);		/* usage errors first */
	for (i = 0; i < nargs; i++)
		if (deactivate_one(parse_devno(args[i])) != COW_EXIT_OK)
			ret = COW_EXIT_FAIL;
	return ret;
}

/* Is the driver there?  Says so when not. */
static bool module_loaded(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/module/cowloop", cow_sysfs());
	if (!access(path, F_OK))
		return true;
	cow_err(NULL, "the cowloop module is not loaded (no %s): no "
		"cowdevices (try: modprobe cowloop)", path);
	return false;
}

/* -D: every active cowdevice. */
static int deactivate_all(int nargs)
{
	struct cow_active *v;
	int ret = COW_EXIT_OK;
	size_t n, i;

	if (nargs)
		cow_usage_error("-D takes no arguments");
	if (!module_loaded() || cow_active_list(&v, &n) < 0)
		return COW_EXIT_FAIL;
	for (i = 0; i < n; i++)
		if (deactivate_one(v[i].devno) != COW_EXIT_OK)
			ret = COW_EXIT_FAIL;
	free(v);
	return ret;
}

/* The active cowdevices from sysfs (COWLOOP_SYSFS replaces /sys). */
static int list(int nargs)
{
	struct cow_active *v;
	char name[32];
	size_t n, i;

	if (nargs)
		cow_usage_error("-l takes no arguments");
	if (!module_loaded() || cow_active_list(&v, &n) < 0)
		return COW_EXIT_FAIL;
	printf("%-12s %-16s %-32s\n", "cowdevice", "read-only file",
	       "copy-on-write file");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), DEV_PREFIX "%u", v[i].devno);
		printf("%-12s %-16s %-32s\n", name, v[i].rdofile,
		       v[i].cowfile);
	}
	free(v);
	return COW_EXIT_OK;
}

int main(int argc, char **argv)
{
	int c, mode = 0;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "adDl" COW_SHORTOPTS_STD, longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'd':
		case 'D':
		case 'l':
			if (mode && mode != c)
				cow_usage_error("only one of -a, -d, -D, -l");
			mode = c;
			break;
		default:
			cow_std_option(c);
		}
	}
	switch (mode) {
	case 'a':
		return activate(argv + optind, argc - optind);
	case 'd':
		return deactivate(argv + optind, argc - optind);
	case 'D':
		return deactivate_all(argc - optind);
	case 'l':
		return list(argc - optind);
	}
	cow_usage_error("one of -a, -d, -D or -l is required");
}
