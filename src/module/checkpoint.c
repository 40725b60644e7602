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
 * and the cowfile is copied.  Then the device goes on, and the copy gets
 * its clean header.
 *
 * A copy takes as long as the data is large (minutes for tens of GiB),
 * and so does a reflink where the file system shares blocks (xfs,
 * btrfs: a minute for 10 GiB written at random, each extent remapped),
 * so it is made while the device goes on, as a live migration is: the
 * thread notes the 1 MiB chunks of the cowfile every write, discard and
 * fill step is about to change (cow_ckpt_note(), from before the first
 * copy), the whole cowfile is copied (reflinked, 16 MiB at a time, where
 * the file system shares blocks), then the chunks noted meanwhile, again
 * while they shrink.  Held, only the header, the bitmap and the modified
 * map are copied: the chunks noted last become pending, and once the
 * device goes on each is copied before the thread changes it (as
 * dm-snapshot copies a chunk before its first write), or by the
 * checkpoint itself, whichever comes first (cow_ckpt_take()).  The hold
 * is so a flush and the metadata, however fast the device is written.
 * A note that cannot be made (no memory) fails the checkpoint.
 *
 * A chunk is noted before its write is sent, so a copy of it must wait
 * for the writes noted before: each round takes the set noted so far and
 * lets the thread note in the other one, in a moment's hold while the
 * requests in flight complete (cow_ckpt_switch()); a write noted after
 * that is in the next round's set.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/ktime.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include "cow.h"

/* The chunks noted: 1 MiB of the cowfile each. */
#define COW_CKPT_CHUNK_SHIFT	20
/* Copies of the chunks noted while the device goes on, at most, */
#define COW_CKPT_ROUNDS		4
/* unless fewer are left: then they are pending. */
#define COW_CKPT_FEW		64
/* A reflink locks both files: 16 MiB at a time, writes go on between. */
#define COW_CKPT_PIECE		SZ_16M

/* A checkpoint being made, and what it took. */
struct cow_ckpt {
	struct file	*dst;
	bool		shared;		/* copied by reflinks */
	struct cow_hdr	hdr;		/* the cowfile's, at the checkpoint */
	u64		used;		/* its units in use then */
	loff_t		size;		/* its size then */
	s64		held_us;	/* the I/O held, in all */
	s64		flush_us;	/* of which the flush */
	/* once held: chunks still to copy, before the thread changes them */
	struct xarray	*pending;
	struct mutex	take;		/* one copies a chunk at a time */
	u64		taken;		/* chunks copied so, */
	int		err;		/* the first error then */
};

static int cow_ckpt_range(struct file *src, struct file *dst, loff_t pos,
			  loff_t end, bool shared);

/*
 * Copy pending chunk @c, unless done already (by the thread, or the
 * checkpoint); taken off the set only once copied, so that whoever sees
 * it gone knows it copied.  Only its data: the header, the bitmap and
 * the modified map are the ones copied held.  NOIO: the thread may wait
 * for this.
 */
static void cow_ckpt_take(struct cow_dev *cd, struct cow_ckpt *ck,
			  unsigned long c)
{
	loff_t data = ck->hdr.doffset, end = data +
		      (ck->hdr.rdoblocks << COW_MAPUNIT_SHIFT);
	loff_t pos = (loff_t)c << COW_CKPT_CHUNK_SHIFT;
	unsigned int noio = memalloc_noio_save();
	int ret;

	mutex_lock(&ck->take);
	if (xa_load(ck->pending, c)) {
		ret = cow_ckpt_range(cd->file[COW_COW], ck->dst,
				     max(pos, data),
				     min3(ck->size, end,
					  pos + (1LL << COW_CKPT_CHUNK_SHIFT)),
				     ck->shared);
		if (ret && !ck->err)
			ck->err = ret;
		xa_erase(ck->pending, c);
		ck->taken++;
	}
	mutex_unlock(&ck->take);
	memalloc_noio_restore(noio);
}

/*
 * The thread is about to change units [@unit, @unit + @count) of the
 * cowfile: while a checkpoint copies, note their chunks; once it held
 * the device, copy those still pending first.  Under cd->hold (read),
 * under which (write) the checkpoint changes cd->ckpt_note and
 * cd->ckpt_pending.  A note that cannot be made (no memory) fails the
 * checkpoint.
 */
void cow_ckpt_note(struct cow_dev *cd, u64 unit, u64 count)
{
	loff_t pos = cd->hdr.doffset + (unit << COW_MAPUNIT_SHIFT);
	unsigned long c = pos >> COW_CKPT_CHUNK_SHIFT;
	unsigned long last = (pos + (count << COW_MAPUNIT_SHIFT) - 1) >>
			     COW_CKPT_CHUNK_SHIFT;
	struct cow_ckpt *ck = cd->ckpt_pending;
	void *entry;

	if (ck) {
		xa_for_each_range(ck->pending, c, entry, c, last)
			cow_ckpt_take(cd, ck, c);
		return;
	}
	if (!cd->ckpt_note)
		return;
	for (; c <= last; c++) {
		if (xa_is_err(xa_store(cd->ckpt_note, c, xa_mk_value(0),
				       GFP_NOIO | __GFP_NOWARN))) {
			WRITE_ONCE(cd->ckpt_lost, true);
			return;
		}
	}
}

/*
 * Copy [@pos, @end) of @src over the same range of @dst: a reflink when
 * @shared, else (or where the range is not aligned for one) the data
 * extents, @dst's range first made a hole, so that what @src has as a
 * hole (never written, or discarded) reads as zeroes there too.
 */
static int cow_ckpt_range(struct file *src, struct file *dst, loff_t pos,
			  loff_t end, bool shared)
{
	loff_t data, hole, ret;
	ssize_t n;

	end = min(end, i_size_read(file_inode(src)));
	if (pos >= end)
		return 0;
	if (shared) {
		ret = vfs_clone_file_range(src, pos, dst, pos, end - pos, 0);
		if (ret == end - pos)
			return 0;
		if (ret < 0 && ret != -EINVAL)
			return ret;
	}
	ret = vfs_fallocate(dst, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    pos, end - pos);
	if (ret == -EOPNOTSUPP)		/* then its zeroes are copied too */
		data = pos, hole = end;
	else if (ret)
		return ret;
	for (; pos < end; pos = hole) {
		if (!ret) {
			data = vfs_llseek(src, pos, SEEK_DATA);
			if (data == -ENXIO || data >= end)
				break;
			if (data < 0)
				return data;
			hole = vfs_llseek(src, data, SEEK_HOLE);
			if (hole < 0)
				return hole;
			hole = min(hole, end);
		}
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
	return 0;
}

/*
 * Do the file systems of @src and @dst share blocks?  A reflink of the
 * first 64 KiB tells: 1, 0 where they do not, or an errno.
 */
static int cow_ckpt_shared(struct file *src, struct file *dst)
{
	loff_t len = min_t(loff_t, SZ_64K, i_size_read(file_inode(src)));
	loff_t ret = vfs_clone_file_range(src, 0, dst, 0, len, 0);

	if (ret == len)
		return 1;
	if (ret < 0 && ret != -EOPNOTSUPP && ret != -EXDEV && ret != -EINVAL)
		return ret;
	return 0;
}

/* Copy all of @src to the empty @dst, a piece at a time. */
static int cow_ckpt_data(struct file *src, struct file *dst, bool shared)
{
	loff_t size = i_size_read(file_inode(src)), pos;
	int ret;

	for (pos = 0; pos < size; pos += COW_CKPT_PIECE) {
		ret = cow_ckpt_range(src, dst, pos, pos + COW_CKPT_PIECE,
				     shared);
		if (ret)
			return ret;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return vfs_truncate(&dst->f_path, size);
}

/*
 * Hold the I/O a moment while the requests in flight complete: the
 * writes noted so far are in the cowfile.  The thread notes in the other
 * set from now on, or, @on false, no more.  Returns the set noted till
 * now (NULL: none) and adds the time held to *@us.
 */
static struct xarray *cow_ckpt_switch(struct cow_dev *cd, bool on, s64 *us)
{
	struct xarray *noted;
	ktime_t t0;

	down_write(&cd->hold);
	t0 = ktime_get();
	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	noted = cd->ckpt_note;
	cd->ckpt_note = !on ? NULL : noted == &cd->ckpt_sets[0] ?
			&cd->ckpt_sets[1] : &cd->ckpt_sets[0];
	up_write(&cd->hold);
	*us += ktime_us_delta(ktime_get(), t0);
	return noted;
}

/* Empty both sets, the thread noting in neither. */
static void cow_ckpt_forget(struct cow_dev *cd)
{
	xa_destroy(&cd->ckpt_sets[0]);
	xa_destroy(&cd->ckpt_sets[1]);
}

/*
 * Copy the chunks of set @noted, whose writes are all in the cowfile,
 * and empty it; *@n: how many.
 */
static int cow_ckpt_noted(struct cow_dev *cd, struct file *dst,
			  struct xarray *noted, bool shared, u64 *n)
{
	struct file *src = cd->file[COW_COW];
	unsigned long c;
	void *entry;
	int ret = 0;

	*n = 0;
	xa_for_each(noted, c, entry) {
		ret = cow_ckpt_range(src, dst, (loff_t)c << COW_CKPT_CHUNK_SHIFT,
				     (loff_t)(c + 1) << COW_CKPT_CHUNK_SHIFT,
				     shared);
		if (ret)
			break;
		(*n)++;
	}
	xa_destroy(noted);
	return ret;
}

/*
 * Held: the device's I/O stopped, flushed; copy the header, the bitmap,
 * the modified map and the size, and make the chunks noted last pending.
 * Notes lost (no memory): -ENOMEM.
 */
static int cow_ckpt_held(struct cow_dev *cd, struct cow_ckpt *ck)
{
	struct file *cow = cd->file[COW_COW];
	ktime_t t0;
	int ret;

	down_write(&cd->hold);
	t0 = ktime_get();
	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	ret = cow_bm_flush(cd);
	ck->flush_us = ktime_us_delta(ktime_get(), t0);
	ck->hdr = cd->hdr;
	ck->used = atomic64_read(&cd->cowused);
	ck->size = i_size_read(file_inode(cow));
	if (!ret && READ_ONCE(cd->ckpt_lost))
		ret = -ENOMEM;
	if (!ret)
		ret = cow_ckpt_range(cow, ck->dst, 0, ck->hdr.doffset,
				     ck->shared);
	if (!ret && (ck->hdr.ext_flags & COW_EXT_MODMAP))
		ret = cow_ckpt_range(cow, ck->dst, ck->hdr.modmap,
				     ck->hdr.modmap + ck->hdr.mapsize,
				     ck->shared);
	if (!ret)
		ret = vfs_truncate(&ck->dst->f_path, ck->size);
	if (!ret) {
		ck->pending = cd->ckpt_note;
		cd->ckpt_pending = ck;
	}
	cd->ckpt_note = NULL;
	ck->held_us += ktime_us_delta(ktime_get(), t0);
	up_write(&cd->hold);
	return ret;
}

/*
 * Copy the chunks still pending, the thread copying those it is about
 * to change meanwhile; then the thread stops looking.
 */
static int cow_ckpt_pending(struct cow_dev *cd, struct cow_ckpt *ck)
{
	unsigned long c;
	void *entry;
	int ret = 0;

	xa_for_each(ck->pending, c, entry) {
		cow_ckpt_take(cd, ck, c);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	down_write(&cd->hold);
	cd->ckpt_pending = NULL;
	up_write(&cd->hold);
	return ret ?: ck->err;
}

/*
 * Copy the cowfile to ck->dst while the device goes on, then what
 * changed meanwhile; held, the metadata; then what changed last, each
 * chunk before the device changes it.  One checkpoint of a device at a
 * time (ckpt_mutex).
 */
static int cow_ckpt_copy(struct cow_dev *cd, struct cow_ckpt *ck)
{
	struct file *cow = cd->file[COW_COW];
	u64 n = ULLONG_MAX;
	int ret, round;

	/* what is dirty now is not flushed while held */
	ret = vfs_fsync(cow, 1);
	if (ret)
		return ret;
	ret = cow_ckpt_shared(cow, ck->dst);
	if (ret < 0)
		return ret;
	ck->shared = ret;
	WRITE_ONCE(cd->ckpt_lost, false);
	cow_ckpt_switch(cd, true, &ck->held_us);
	ret = cow_ckpt_data(cow, ck->dst, ck->shared);
	for (round = 0; !ret && round < COW_CKPT_ROUNDS &&
	     n > COW_CKPT_FEW && !READ_ONCE(cd->ckpt_lost); round++)
		ret = cow_ckpt_noted(cd, ck->dst,
				     cow_ckpt_switch(cd, true, &ck->held_us),
				     ck->shared, &n);
	if (!ret)
		ret = vfs_fsync(cow, 1);
	if (!ret)
		ret = cow_ckpt_held(cd, ck);
	if (!ret)
		ret = cow_ckpt_pending(cd, ck);
	else
		cow_ckpt_switch(cd, false, &ck->held_us);
	cow_ckpt_forget(cd);
	return ret;
}

/* Is @file on cowdevice @cd itself?  Writing it would wait for @cd. */
static bool cow_ckpt_on(struct cow_dev *cd, struct file *file)
{
	struct block_device *bdev = file_inode(file)->i_sb->s_bdev;

	return bdev && bdev->bd_disk == cd->disk;
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
	struct cow_ckpt ck = { };
	struct cow_dev *cd;
	int ret;

	if (req->cowfile[0] != '/' || !memchr(req->cowfile, 0, COW_PATH_MAX)) {
		req->reason = COW_E_PATH;
		return -EINVAL;
	}
	cd = cow_dev_get(req->devno);
	if (!cd)
		return -ENXIO;
	ck.dst = filp_open(req->cowfile,
			   O_RDWR | O_CREAT | O_EXCL | O_LARGEFILE, 0600);
	ret = PTR_ERR_OR_ZERO(ck.dst);
	if (ret)
		goto out_put;
	if (cow_ckpt_on(cd, ck.dst)) {
		req->reason = COW_E_CKPTSELF;
		ret = -EINVAL;
		goto out_close;
	}
	mutex_init(&ck.take);
	ret = mutex_lock_killable(&cd->ckpt_mutex);
	if (ret)
		goto out_close;
	ret = cow_ckpt_copy(cd, &ck);
	mutex_unlock(&cd->ckpt_mutex);
	if (!ret)
		ret = cow_ckpt_header(ck.dst, &ck.hdr, ck.used);
	req->detail = ck.held_us;
	if (ret)
		pr_err("cow%d: checkpoint %s failed: %pe\n", cd->devno,
		       req->cowfile, ERR_PTR(ret));
	else
		pr_info("cow%d: checkpoint %s: %llu blocks in use, I/O held %lld us: a flush (%lld us) and the bitmap; then %s %llu MiB changed meanwhile\n",
			cd->devno, req->cowfile, ck.used, ck.held_us,
			ck.flush_us, ck.shared ? "reflinking" : "copying",
			ck.taken);
out_close:
	filp_close(ck.dst, NULL);
out_put:
	cow_dev_put(cd);
	return ret;
}
