// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: checkpoints of an active cowdevice (cowdev -c).
 *
 * A checkpoint is a copy of the device's cowfile, as a clean cowfile for
 * the same rdofile: activating it (a rollback, or a second session from
 * that point) gives exactly the device's content at the checkpoint.  The
 * device's I/O is held as short a time as can be: the thread stops
 * between two batches of requests (cd->hold), the requests in flight
 * complete, a flush makes every completed write durable with its bits,
 * and the cowfile is copied, by a reflink of the whole file where its
 * file system shares blocks (xfs, btrfs), else extent by extent (holes
 * stay holes).  Then the device goes on, and the copy gets its clean
 * header.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include "cow.h"

/* Copy the first @size bytes of @src to @dst: shared blocks, or data. */
static int cow_ckpt_copy(struct file *src, struct file *dst, loff_t size)
{
	loff_t pos, data, hole, ret;
	ssize_t n;

	ret = vfs_clone_file_range(src, 0, dst, 0, size, 0);
	if (ret == size)
		return 0;
	if (ret < 0 && ret != -EOPNOTSUPP && ret != -EXDEV && ret != -EINVAL)
		return ret;
	for (pos = max_t(loff_t, ret, 0); pos < size; pos = hole) {
		data = vfs_llseek(src, pos, SEEK_DATA);
		if (data == -ENXIO || data >= size)
			break;
		if (data < 0)
			return data;
		hole = vfs_llseek(src, data, SEEK_HOLE);
		if (hole < 0)
			return hole;
		hole = min(hole, size);
		for (pos = data; pos < hole; pos += n) {
			n = vfs_copy_file_range(src, pos, dst, pos, hole - pos,
						COPY_FILE_SPLICE);
			if (n <= 0)
				return n ?: -EIO;
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
	}
	return vfs_truncate(&dst->f_path, size);
}

/* Is @file on cowdevice @cd itself?  Writing it would wait for @cd. */
static bool cow_ckpt_on(struct cow_dev *cd, struct file *file)
{
	struct block_device *bdev = file_inode(file)->i_sb->s_bdev;

	return bdev && bdev->bd_disk == cd->disk;
}

/*
 * Hold the device's I/O, flush it, copy its cowfile to @dst; *hdr and
 * *used: its header and units in use then.  Returns 0 or an errno; *us:
 * how long the I/O was held.
 */
static int cow_ckpt_hold(struct cow_dev *cd, struct file *dst,
			 struct cow_hdr *hdr, u64 *used, s64 *us)
{
	struct file *cow = cd->file[COW_COW];
	ktime_t t0;
	int ret;

	down_write(&cd->hold);
	t0 = ktime_get();
	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	ret = cow_bm_flush(cd);
	*hdr = cd->hdr;
	*used = atomic64_read(&cd->cowused);
	if (!ret)
		ret = cow_ckpt_copy(cow, dst, i_size_read(file_inode(cow)));
	*us = ktime_us_delta(ktime_get(), t0);
	up_write(&cd->hold);
	return ret;
}

/* The copy's header: clean, with the units in use at the checkpoint. */
static int cow_ckpt_header(struct file *dst, struct cow_hdr *hdr, u64 used)
{
	void *buf = kzalloc(COW_HDRSIZE, GFP_KERNEL);
	loff_t pos = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	hdr->flags &= ~COW_F_DIRTY;
	hdr->cowused = used;
	cow_hdr_encode(buf, hdr);
	n = kernel_write(dst, buf, COW_HDRSIZE, &pos);
	kfree(buf);
	if (n != COW_HDRSIZE)
		return n < 0 ? n : -EIO;
	return vfs_fsync(dst, 0);
}

/*
 * COW_IOC_CHECKPOINT: the path in req->cowfile must not exist; it is
 * created (0600, as the caller) and, on failure, left for the caller to
 * remove.  req->detail: the microseconds the device's I/O was held.
 */
int cow_checkpoint(struct cow_ioc_dev *req)
{
	struct cow_dev *cd;
	struct cow_hdr hdr;
	struct file *dst;
	u64 used = 0;
	s64 us = 0;
	int ret;

	if (req->cowfile[0] != '/' || !memchr(req->cowfile, 0, COW_PATH_MAX)) {
		req->reason = COW_E_PATH;
		return -EINVAL;
	}
	cd = cow_dev_get(req->devno);
	if (!cd)
		return -ENXIO;
	dst = filp_open(req->cowfile, O_RDWR | O_CREAT | O_EXCL | O_LARGEFILE,
			0600);
	ret = PTR_ERR_OR_ZERO(dst);
	if (ret)
		goto out_put;
	if (cow_ckpt_on(cd, dst)) {
		req->reason = COW_E_CKPTSELF;
		ret = -EINVAL;
		goto out_close;
	}
	ret = cow_ckpt_hold(cd, dst, &hdr, &used, &us);
	if (!ret)
		ret = cow_ckpt_header(dst, &hdr, used);
	req->detail = us;
	if (ret)
		pr_err("cow%d: checkpoint %s failed: %pe\n", cd->devno,
		       req->cowfile, ERR_PTR(ret));
	else
		pr_info("cow%d: checkpoint %s: %llu blocks in use, I/O held %lld us\n",
			cd->devno, req->cowfile, used, us);
out_close:
	filp_close(dst, NULL);
out_put:
	cow_dev_put(cd);
	return ret;
}
