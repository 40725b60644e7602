// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: talking to the driver through /dev/cow/ctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
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

/* The reason of a failed control ioctl, as text. */
const char *cow_ctl_strerror(const struct cow_ioc_dev *d, int err)
{
	return d->reason ? cow_strerror((int)d->reason) : strerror(err);
}
