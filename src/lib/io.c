// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: I/O helpers.  Short reads and writes are continued,
 * never taken for success (a defect of the original tools).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include "cowlib.h"

/*
 * Read @len bytes at @off.  Returns the number of bytes read, less than
 * @len only at end of file, or -1 with errno set.
 */
ssize_t cow_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Write all @len bytes at @off.  Returns 0, or -1 with errno set. */
int cow_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * Size in bytes of a regular file (st_size) or a block device
 * (BLKGETSIZE64).  Returns 0, -1 with errno set, or COW_E_RDOTYPE for
 * any other kind of file.
 */
int cow_fd_size(int fd, uint64_t *size, bool *blockdev)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*blockdev = S_ISBLK(st.st_mode);
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -1 : 0;
	return COW_E_RDOTYPE;
}

/*
 * Find the next extent holding data in [*start, limit): on return 1 it
 * is [*start, *end).  Returns 0 when only holes remain, -1 on error.
 * Where SEEK_DATA is not supported, everything counts as data.
 */
int cow_next_data(int fd, uint64_t *start, uint64_t *end, uint64_t limit)
{
	off_t d, h;

	if (*start >= limit)
		return 0;
	d = lseek(fd, (off_t)*start, SEEK_DATA);
	if (d < 0 && errno == ENXIO)
		return 0;
	if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
		*end = limit;
		return 1;
	}
	if (d < 0)
		return -1;
	if ((uint64_t)d >= limit)
		return 0;
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0)
		return -1;
	*start = (uint64_t)d;
	*end = (uint64_t)h < limit ? (uint64_t)h : limit;
	return 1;
}

/* A buffer aligned for word access (and for O_DIRECT, should it come). */
void *cow_alloc_aligned(size_t len)
{
	void *p;
	int err = posix_memalign(&p, 4096, len);

	if (err) {
		errno = err;
		return NULL;
	}
	return p;
}

/*
 * Call @fn for every 1 KiB unit of [@base, @base + @nunits * 1024) in
 * @fd that lies in a data extent, in order, reading 1 MiB at a time.
 * Units in holes are zero and skipped; units beyond end of file read as
 * zero.  @fn returns 0 to go on, 1 to stop, -1 to fail.  Returns 0, or
 * -1 with errno set.
 */
int cow_scan_units(int fd, uint64_t base, uint64_t nunits,
		   int (*fn)(void *ctx, uint64_t unit, const uint8_t *data),
		   void *ctx)
{
	uint64_t limit = base + nunits * COW_MAPUNIT, next = base;
	uint64_t start = base, end;
	uint8_t *buf = cow_alloc_aligned(COW_SCAN_CHUNK);
	int r = 0, stop = 0;

	if (!buf)
		return -1;
	while (!stop && (r = cow_next_data(fd, &start, &end, limit)) > 0) {
		/* extents need not be unit-aligned: round, never revisit */
		start = base + ((start - base) & ~(uint64_t)(COW_MAPUNIT - 1));
		if (start < next)
			start = next;
		while (!stop && start < end) {
			uint64_t len = end - start, i;
			ssize_t n;

			if (len > COW_SCAN_CHUNK)
				len = COW_SCAN_CHUNK;
			len = (len + COW_MAPUNIT - 1) & ~(uint64_t)(COW_MAPUNIT - 1);
			if (len > limit - start)
				len = limit - start;
			n = cow_pread_full(fd, buf, len, start);
			if (n < 0) {
				stop = -1;
				break;
			}
			memset(buf + n, 0, len - (uint64_t)n);
			for (i = 0; !stop && i < len; i += COW_MAPUNIT)
				stop = fn(ctx, (start + i - base) >> COW_MAPUNIT_SHIFT,
					  buf + i);
			start += len;
		}
		next = start;
	}
	free(buf);
	if (r < 0)
		stop = -1;
	return stop < 0 ? -1 : 0;
}
