// SPDX-License-Identifier: GPL-2.0
/*
 * cowtab-generator: a systemd generator (systemd.generator(7)) that turns
 * each line of /etc/cowtab into the dependencies of cowdev@N.service, as
 * systemd-cryptsetup-generator does for crypttab:
 *
 *   cowdev@N.service.d/cowtab.conf   after the mounts of its rdofile and
 *                                    cowfile (RequiresMountsFor), or after
 *                                    the device the rdofile is
 *   dev-cow-N.device.requires/       a mount of /dev/cow/N (fstab) starts
 *                                    the activation and waits for it
 *   cowdev.target.wants/             activated at boot (not noauto lines)
 *
 * cowdev@.service is ordered before blockdev@dev-cow-N.target, which every
 * mount of /dev/cow/N is after: at shutdown those are unmounted first, and
 * the cowdevice is deactivated before its files' file systems unmount.
 * Bad lines are reported to the kernel log (journal), one line each, and
 * left out; the generator never fails the boot for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cowlib.h"

#ifndef COW_UNITDIR
#define COW_UNITDIR	"/lib/systemd/system"
#endif

static const struct cow_tool tool = {
	.name = "cowtab-generator",
	.synopsis = "normal-dir [early-dir late-dir]",
	.summary = "Make systemd units activate the cowdevices of /etc/cowtab "
		   "(run by systemd at boot and on daemon-reload).",
	.options = "",
};

static const struct option longopts[] = {
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

static int kmsg = -1;

/*
 * A message to the kernel log at @prio ("<3>cowtab-generator[pid]: ...",
 * which the journal files under the generator's name), else to stderr.
 */
static void __attribute__((format(printf, 2, 3)))
say(int prio, const char *fmt, ...)
{
	char msg[3 * COW_PATH_MAX], line[3 * COW_PATH_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "<%d>%s[%d]: %s\n", prio, cow_progname,
		 (int)getpid(), msg);
	if (kmsg < 0 || write(kmsg, line, strlen(line)) < 0)
		fprintf(stderr, "%s: %s\n", cow_progname, msg);
}

static void bad_line(void *ctx, const char *path, unsigned int line,
		     const char *why)
{
	(void)ctx;
	say(3, "%s:%u: %s: line ignored, its cowdevice is not activated",
	    path, line, why);
}

/*
 * The unit name systemd gives path @path, as systemd-escape --path and
 * unit_name_path_escape() make it: the path made normal ("//", "."
 * and ".." components; systemd refuses "..", here taken away with the
 * component before it), without its leading "/", "/" as "-"; every byte
 * but letters, digits, ':', '_' and '.' as \xNN, and a '.' too at the
 * very start.  "/" is "-".
 */
static void unit_escape(const char *path, char *out, size_t len)
{
	char norm[COW_PATH_MAX];
	const char *p;
	size_t k = 0;

	cow_path_normalize(path, norm, sizeof(norm));
	if (!norm[1]) {
		snprintf(out, len, "-");	/* the root */
		return;
	}
	for (p = norm + 1; *p && k + 5 < len; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '/')
			out[k++] = '-';
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == ':' || c == '_' ||
			 (c == '.' && p != norm + 1))
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, len - k, "\\x%02x", c);
	}
	out[k] = '\0';
}

/* A path as one word of a unit file: quoted, with % \ " escaped. */
static void unit_word(FILE *f, const char *path)
{
	fputc('"', f);
	for (; *path; path++) {
		if (*path == '%')
			fputs("%%", f);
		else if (*path == '\\' || *path == '"')
			fprintf(f, "\\%c", *path);
		else
			fputc(*path, f);
	}
	fputc('"', f);
}

/*
 * Is the rdofile @path a block device, whose device unit to wait for?
 * What is there says so: a block device, or a file (a regular file
 * below /dev too: /dev/shm).  What is not there yet is a device when its
 * nearest directory that is lies on /dev's own file system (udev will
 * make the node: /dev/disk/by-label/...), a file elsewhere (a file
 * system mounted below /dev, such as /dev/shm, or outside /dev).
 */
static bool is_device(const char *path)
{
	char dir[COW_PATH_MAX], *slash;
	struct stat st, dev;

	if (strncmp(path, "/dev/", 5))
		return false;
	if (!stat(path, &st))
		return S_ISBLK(st.st_mode);
	if (stat("/dev", &dev) < 0)
		return true;
	cow_path_normalize(path, dir, sizeof(dir));
	while ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (!stat(dir, &st))
			return S_ISDIR(st.st_mode) && st.st_dev == dev.st_dev;
	}
	return false;
}

/* The dependencies on the file or device @path. */
static void depend_on(FILE *f, const char *path, bool device)
{
	char name[4 * COW_PATH_MAX];

	if (device) {
		unit_escape(path, name, sizeof(name));
		fprintf(f, "BindsTo=%s.device\nAfter=%s.device\n", name, name);
	} else {
		fputs("RequiresMountsFor=", f);
		unit_word(f, path);
		fputc('\n', f);
	}
}

static int mkdir_p(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		say(3, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* @dir/@unit.@kind/cowdev@N.service -> the template. */
static int link_in(const char *dir, const char *unit, const char *kind,
		   unsigned int n)
{
	char path[COW_PATH_MAX], target[COW_PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.%s", dir, unit, kind);
	if (mkdir_p(path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.%s/cowdev@%u.service", dir, unit,
		 kind, n);
	snprintf(target, sizeof(target), "%s/cowdev@.service", COW_UNITDIR);
	if (symlink(target, path) < 0 && errno != EEXIST) {
		say(3, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int generate(const char *dir, const struct cowtab *t,
		    const struct cowtab_entry *e)
{
	char path[COW_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cowdev@%u.service.d", dir, e->devno);
	if (mkdir_p(path) < 0)
		return -1;
	strcat(path, "/cowtab.conf");
	f = fopen(path, "we");
	if (!f) {
		say(3, "%s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# Made by %s from %s line %u\n[Unit]\nSourcePath=%s\n",
		cow_progname, t->path, e->line, t->path);
	depend_on(f, e->rdofile, is_device(e->rdofile));
	depend_on(f, e->cowfile, false);	/* a regular file, always */
	if (fclose(f)) {
		say(3, "%s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "dev-cow-%u", e->devno);
	if (link_in(dir, path, "device.requires", e->devno) < 0)
		return -1;
	return e->noauto ? 0 : link_in(dir, "cowdev.target", "wants", e->devno);
}

int main(int argc, char **argv)
{
	struct cowtab t;
	int c, ret = 0;
	size_t i;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, COW_SHORTOPTS_STD, longopts,
				NULL)) != -1)
		cow_std_option(c);
	if (argc - optind != 1 && argc - optind != 3)
		cow_usage_error("expected the generator directories "
				"(normal-dir [early-dir late-dir])");
	/* Only below systemd: a test run keeps its messages on stderr. */
	if (getenv("SYSTEMD_SCOPE") || getenv("SYSTEMD_IN_INITRD"))
		kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (cowtab_read(&t, cowtab_path(), bad_line, NULL) < 0)
		return 0;	/* said; no cowdevice activated at boot */
	for (i = 0; i < t.n; i++)
		if (generate(argv[optind], &t, &t.e[i]) < 0)
			ret = 1;
	cowtab_free(&t);
	return ret;
}
