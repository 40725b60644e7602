// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: the cowfile's metadata I/O, below everything else.
 *
 * Reads and writes of whole ranges of a backing file, the header stores,
 * and cow_refuse(), by which every layer of an activation says why it
 * refuses.  dev.c and bitmap.c call into this file; it calls neither.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/error-injection.h>
#include <linux/fs.h>
#include "cow.h"

static int cow_reason_errno(int reason)
{
	switch (reason) {
	case COW_E_INUSE:
	case COW_E_RDOBUSY:
	case COW_E_COWBUSY:
	case COW_E_DEVBUSY:
		return -EBUSY;
	case COW_E_DEVRANGE:
		return -ENXIO;
	case COW_E_NOFREE:
		return -ENOSPC;
	case COW_E_IO:
		return -EIO;
	case COW_E_NOCOWFILE:
		return -ENOENT;
	default:
		return -EINVAL;
	}
}

/*
 * Refuse the activation for @reason: it is kept for the caller
 * (cow_ioc_dev.reason), the return value is the matching -errno.  So
 * every function of the activation returns 0 or a negative errno only.
 */
int cow_refuse(struct cow_dev *cd, enum cow_reason reason)
{
	cd->reason = reason;
	return cow_reason_errno(reason);
}

/* Read or write exactly @len bytes at @pos: a short transfer is -EIO. */
noinline int cow_file_rw(struct cow_dev *cd, enum cow_file_id id,
			 bool write, void *buf, size_t len, loff_t pos)
{
	struct file *file = cd->file[id];
	ssize_t n;

	while (len) {
		if (write)
			n = kernel_write(file, buf, len, &pos);
		else
			n = kernel_read(file, buf, len, &pos);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}
ALLOW_ERROR_INJECTION(cow_file_rw, ERRNO);

/* Write the header with @flags and @used, and make it durable. */
int cow_hdr_store(struct cow_dev *cd, u16 flags, u64 used)
{
	int ret;

	cd->hdr.flags = flags;
	cd->hdr.cowused = used;
	cow_hdr_encode(cd->hdr_buf, &cd->hdr);
	ret = cow_file_rw(cd, COW_COW, true, cd->hdr_buf, COW_HDRSIZE, 0);
	if (!ret)
		ret = vfs_fsync(cd->file[COW_COW], 1);
	if (!ret)
		cd->disk_dirty = flags & COW_F_DIRTY;
	return ret;
}

/* Mark the cowfile in use (DIRTY) on disk; called with meta_mutex. */
noinline int cow_hdr_mark_dirty(struct cow_dev *cd)
{
	if (cd->disk_dirty)
		return 0;
	return cow_hdr_store(cd, cd->hdr.flags | COW_F_DIRTY,
			     atomic64_read(&cd->cowused));
}
ALLOW_ERROR_INJECTION(cow_hdr_mark_dirty, ERRNO);
