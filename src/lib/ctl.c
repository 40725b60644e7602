// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: talking to the driver through /dev/cow/ctl.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include "cowlib.h"

const char cow_ctl_path[] = "/dev/" COW_CTL_NODE;

/* Open the control device, explaining the usual reason it is missing. */
int cow_ctl_open(void)
{
	int fd = open(cow_ctl_path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
		cow_err(cow_ctl_path, "%s (is the cowloop module loaded? "
			"try: modprobe cowloop)", strerror(errno));
	else
		cow_err_errno(cow_ctl_path, NULL);
	return -1;
}

/*
 * Issue control ioctl @cmd with @d (devno, flags and paths filled in).
 * Returns 0, or -1 with errno set and d->reason filled by the driver
 * when it had a more precise reason.
 */
int cow_ctl_ioctl(unsigned long cmd, struct cow_ioc_dev *d)
{
	int fd = cow_ctl_open(), r, e;

	if (fd < 0)
		return -2;		/* already said why */
	d->reason = 0;
	r = ioctl(fd, cmd, d);
	e = errno;
	close(fd);
	errno = e;
	return r < 0 ? -1 : 0;
}

/*
 * Which cowdevices there are, for messages: "maxcows is 16: /dev/cow/0 to
 * /dev/cow/15" as the module shows it, or "maxcows is 16 by default, at
 * most 1024" when it is not loaded.
 */
void cow_devno_limit(char *buf, size_t len)
{
	char path[PATH_MAX], line[32], *end;
	unsigned long m = 0;

	snprintf(path, sizeof(path), "%s/module/cowloop/parameters/maxcows",
		 cow_sysfs());
	if (!cow_read_line(path, line, sizeof(line)))
		m = strtoul(line, &end, 10);
	if (m && m <= COW_MAXCOWS_LIMIT && !*end)
		snprintf(buf, len, "maxcows is %lu: /dev/cow/0 to /dev/cow/%lu",
			 m, m - 1);
	else
		snprintf(buf, len, "maxcows is %u by default, at most %u",
			 COW_MAXCOWS_DEFAULT, COW_MAXCOWS_LIMIT);
}

/* The reason of a failed control ioctl, as text. */
/*
 * COW_E_FSLIMIT: the largest file of the cowfile's file system (detail)
 * and how large the cowfile of @d's rdofile grows.
 */
static void cow_fslimit(const struct cow_ioc_dev *d, char *out, size_t len)
{
	char max[32], need[32];
	uint64_t size = 0;
	bool blockdev;
	int fd;

	cow_human(d->detail, max, sizeof(max));
	fd = open(d->rdofile, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && !cow_fd_size(fd, &size, &blockdev) && size) {
		cow_human(cow_cowsize(cow_rdoblocks(size)), need, sizeof(need));
		snprintf(out, len, "it holds files of %s at most; this rdofile's cowfile grows to %s",
			 max, need);
	} else {
		snprintf(out, len, "it holds files of %s at most", max);
	}
	if (fd >= 0)
		close(fd);
}

const char *cow_ctl_strerror(const struct cow_ioc_dev *d, int err)
{
	static char buf[256];
	char more[128];

	switch (d->reason) {
	case COW_OK:
		return strerror(err);
	case COW_E_DEVRANGE:
		cow_devno_limit(more, sizeof(more));
		break;
	case COW_E_FSLIMIT:
		if (!d->detail)
			return cow_strerror(COW_E_FSLIMIT);
		cow_fslimit(d, more, sizeof(more));
		break;
	default:
		return cow_strerror((int)d->reason);
	}
	cow_reason_with(buf, sizeof(buf), cow_strerror((int)d->reason), more);
	return buf;
}

/* Where sysfs is: COWLOOP_SYSFS replaces /sys (for tests). */
const char *cow_sysfs(void)
{
	const char *sys = getenv("COWLOOP_SYSFS");

	return sys && *sys ? sys : "/sys";
}

/* The first line of the file @path, without its newline, or -1. */
int cow_read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return -1;
	ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* @attr is "cowloop/rdofile", "size"... below /sys/block/@dev. */
static int read_attr(const char *dev, const char *attr, char *out,
		     size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/block/%s/%s", cow_sysfs(), dev,
		 attr);
	return cow_read_line(path, out, len);
}

static int by_devno(const void *a, const void *b)
{
	const struct cow_active *x = a, *y = b;

	return (x->devno > y->devno) - (x->devno < y->devno);
}

/*
 * The active cowdevices, as the driver shows them in
 * /sys/block/cowN/cowloop/{rdofile,cowfile,rdofile_id,cowfile_id}, by
 * device number.  *@v is
 * to be freed.  Returns 0 (no /sys/block: none), or -1 (said).
 */
int cow_active_list(struct cow_active **v, size_t *n)
{
	struct cow_active *a = NULL, *na;
	char path[PATH_MAX], *end;
	struct dirent *de;
	DIR *dir;

	*v = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/block", cow_sysfs());
	dir = opendir(path);
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		cow_err_errno(path, NULL);
		return -1;
	}
	while ((de = readdir(dir))) {
		unsigned long devno;

		if (strncmp(de->d_name, "cow", 3) || de->d_name[3] < '0' ||
		    de->d_name[3] > '9')
			continue;
		devno = strtoul(de->d_name + 3, &end, 10);
		if (*end)
			continue;
		na = realloc(a, (*n + 1) * sizeof(*a));
		if (!na) {
			cow_err_errno(path, NULL);
			free(a);
			closedir(dir);
			return -1;
		}
		a = na;
		memset(&a[*n], 0, sizeof(a[*n]));
		a[*n].devno = (unsigned int)devno;
		if (read_attr(de->d_name, "cowloop/rdofile", a[*n].rdofile,
			      sizeof(a[*n].rdofile)) ||
		    read_attr(de->d_name, "cowloop/cowfile", a[*n].cowfile,
			      sizeof(a[*n].cowfile)))
			continue;	/* deactivated meanwhile */
		/* optional: older drivers, tests */
		if (!read_attr(de->d_name, "cowloop/rdofile_id", path,
			       sizeof(path)))
			cow_file_id_parse(path, &a[*n].rdo_id);
		if (!read_attr(de->d_name, "cowloop/cowfile_id", path,
			       sizeof(path)))
			cow_file_id_parse(path, &a[*n].cow_id);
		read_attr(de->d_name, "cowloop/state", a[*n].state,
			  sizeof(a[*n].state));
		read_attr(de->d_name, "cowloop/fill", a[*n].fill,
			  sizeof(a[*n].fill));
		if (!read_attr(de->d_name, "size", path, sizeof(path)))
			a[*n].size = strtoull(path, NULL, 10) * 512;
		(*n)++;
	}
	closedir(dir);
	if (*n)
		qsort(a, *n, sizeof(*a), by_devno);
	*v = a;
	return 0;
}
