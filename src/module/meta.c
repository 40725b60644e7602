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
#include <linux/pagemap.h>
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

/*
 * Write the header with @flags and @used, and make it durable.  On
 * failure the header in memory stays as it was, and what is on disk is
 * unknown: the next cow_hdr_mark_dirty() writes it again.  A clean
 * header that could not be made durable may still be in the page cache,
 * where a later write of the bitmap's first bytes (they share its page)
 * would carry it to disk while the device is in use: the dirty one is
 * put back there at once.
 */
int cow_hdr_store(struct cow_dev *cd, u16 flags, u64 used)
{
	u16 old_flags = cd->hdr.flags;
	u64 old_used = cd->hdr.cowused;
	int ret;

	cd->hdr.flags = flags;
	cd->hdr.cowused = used;
	cow_hdr_encode(cd->hdr_buf, &cd->hdr);
	ret = cow_file_rw(cd, COW_COW, true, cd->hdr_buf, COW_HDRSIZE, 0);
	if (!ret)
		ret = vfs_fsync(cd->file[COW_COW], 1);
	if (!ret) {
		WRITE_ONCE(cd->disk_dirty, flags & COW_F_DIRTY);
		return 0;
	}
	cd->hdr.flags = old_flags;
	cd->hdr.cowused = old_used;
	WRITE_ONCE(cd->disk_dirty, false);
	if (!(flags & COW_F_DIRTY) && (old_flags & COW_F_DIRTY)) {
		cow_hdr_encode(cd->hdr_buf, &cd->hdr);
		cow_file_rw(cd, COW_COW, true, cd->hdr_buf, COW_HDRSIZE, 0);
	}
	return ret;
}

/*
 * Has data written to the cowfile been lost in writeback since the
 * activation?  Its errseq is sampled at activation and never advanced
 * here, so that whoever's fsync saw the error first (cowsync's, a
 * flush's), every later flush fails too, as loop's would: nothing may
 * be taken for durable any more.  The cowfile is marked dirty, once the
 * disk takes it: what was lost needs cowrepair.  Called with meta_mutex.
 */
int cow_wb_check(struct cow_dev *cd)
{
	int err;

	err = filemap_check_wb_err(cd->file[COW_COW]->f_mapping,
				   cd->wb_since);
	if (!err)
		return 0;
	if (!cd->wb_lost) {
		cd->wb_lost = true;
		pr_err("cow%d: cowfile %s: data written to it was lost in writeback (%pe): every flush fails from now on; deactivate the cowdevice and run cowrepair\n",
		       cd->devno, cd->path[COW_COW], ERR_PTR(err));
	}
	cow_hdr_mark_dirty(cd);
	return err;
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
