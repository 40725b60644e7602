// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: the I/O path.
 *
 * submit_bio() queues each bio for the device's thread.  The thread cuts a
 * read into runs of units that live in the same file (rdofile or cowfile)
 * and a write into one write to the cowfile, and issues each as an
 * asynchronous kiocb on the backing file, straight from the bio's pages,
 * as loop does.  Many requests are in flight at once; the bio completes
 * when its last piece does.  A write's units become visible in the bitmap
 * only when the write has completed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/falloc.h>		/* after a header with the types */
#include <linux/mempool.h>
#include <linux/refcount.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include "compat.h"
#include "cow.h"

/*
 * Requests and pieces kept in reserve per cowdevice: one bio at a time
 * always makes progress.  Per device, not module-wide: a cowdevice
 * whose cowfile lives on another cowdevice would otherwise wait, under
 * memory pressure, for elements the lower one needs to complete it.
 */
#define COW_POOL_MIN	16
/*
 * Discards and write-zeroes go in parts this large (aligned): a part's
 * bits are in 3 bitmap pages at most, which the device's reserve holds.
 */
#define COW_ZERO_CHUNK		SZ_64M
/* Writes from this size on bypass the page cache when they can. */
#define COW_DIO_WRITE_MIN	SZ_64K

/* One bio in progress. */
struct cow_io {
	struct cow_dev		*cd;
	struct bio		*bio;
	struct iov_iter		iter;		/* the bio's data */
	atomic_t		pending;	/* pieces + submitter */
	blk_status_t		status;
	u64			unit;		/* units a write covers */
	u64			count;
	unsigned long		start;		/* of its I/O accounting */
	/* cowfile range written direct, while on cd->dio_writes */
	loff_t			dio_start;
	loff_t			dio_end;
	struct list_head	dio_node;
};

/*
 * One piece of a bio: a kiocb on one backing file.  Two references, as
 * loop's: the issuer's, dropped once ->read_iter/->write_iter has
 * returned (the file system may still use the kiocb until then), and
 * the completion's.
 */
struct cow_rq {
	struct kiocb		iocb;
	struct cow_io		*io;
	size_t			len;
	long			ret;
	refcount_t		ref;
	enum cow_file_id	id;
	bool			write;
};

static struct kmem_cache *cow_io_cache, *cow_rq_cache;

const char *const cow_file_names[COW_NR_FILES] = {
	[COW_RDO] = "rdofile",
	[COW_COW] = "cowfile",
};

/*
 * One line per cause, not per request: the first error on a file is
 * logged; the next is, after the file has worked for COW_ERR_QUIET.
 */
void cow_log_error(struct cow_dev *cd, enum cow_file_id id, long err)
{
	WRITE_ONCE(cd->err_time[id], jiffies);
	atomic_inc(&cd->err_count[id]);
	if (test_and_set_bit(id, &cd->err_logged))
		return;
	pr_err("cow%d: %s %s: I/O error %ld%s\n", cd->devno,
	       cow_file_names[id], cd->path[id], err,
	       err == -ENOSPC ? " (no space left on its file system)" : "");
}

static void cow_log_recovered(struct cow_dev *cd, enum cow_file_id id)
{
	if (likely(!test_bit(id, &cd->err_logged)) ||
	    time_before(jiffies, READ_ONCE(cd->err_time[id]) + COW_ERR_QUIET))
		return;
	if (test_and_clear_bit(id, &cd->err_logged))
		pr_info("cow%d: %s %s: works again (%d failed requests)\n",
			cd->devno, cow_file_names[id], cd->path[id],
			atomic_xchg(&cd->err_count[id], 0));
}

/*
 * End @bio with @status.  A cowdevice is bio-based: it accounts for its
 * I/O itself (/proc/diskstats, iostat), from @start, what
 * bio_start_io_acct() returned when the thread took the bio.
 */
static void cow_bio_done(struct bio *bio, blk_status_t status,
			 unsigned long start)
{
	bio->bi_status = status;
	bio_end_io_acct(bio, start);
	bio_endio(bio);
}

/*
 * @io is done with: off the direct-write list, its FUA bio (if any)
 * queued for the thread, freed to the device's pool, the in-flight count
 * dropped, all under cd->lock, where the thread decides to stop
 * (cow_thread): once the lock is released, teardown may free cd and its
 * pools, so this is the completion's last access to either.
 */
static void cow_io_release(struct cow_io *io, struct bio *fua)
{
	struct cow_dev *cd = io->cd;
	bool dio = io->dio_end;
	unsigned long flags;
	bool idle;

	spin_lock_irqsave(&cd->lock, flags);
	if (dio)
		list_del(&io->dio_node);
	if (fua)
		bio_list_add(&cd->fua_bios, fua);
	mempool_free(io, cd->io_pool);
	idle = atomic_dec_and_test(&cd->inflight);
	if (idle || dio)
		wake_up(&cd->drain_wq);
	if (idle || fua)
		wake_up(&cd->wq);
	spin_unlock_irqrestore(&cd->lock, flags);
}

/*
 * The last piece of @io is done.  A write's units become visible; the
 * bio ends, except a FUA write, which the thread ends after a flush.
 *
 * io->status is read only by the last put, after its decrement: a piece
 * stores its error before its own (fully ordered) decrement, so the put
 * that brings pending to zero sees every error.  Read before, a failing
 * piece could store and decrement in between, and the bio end as if it
 * had succeeded.
 */
static void cow_io_put(struct cow_io *io)
{
	struct bio *bio = io->bio;
	bool write = bio_op(bio) == REQ_OP_WRITE;
	blk_status_t status;

	if (!atomic_dec_and_test(&io->pending))
		return;
	status = READ_ONCE(io->status);
	if (write && !status) {
		cow_bm_set(io->cd, io->unit, io->count);
		if (bio->bi_opf & REQ_FUA) {
			/* accounted as written; the flush is the thread's */
			bio_end_io_acct(bio, io->start);
			cow_io_release(io, bio);
			return;
		}
	}
	cow_bio_done(bio, status, io->start);
	cow_io_release(io, NULL);
}

static struct cow_io *cow_io_start(struct cow_dev *cd, struct bio *bio,
				   unsigned long start)
{
	struct cow_io *io = mempool_alloc(cd->io_pool, GFP_NOIO);
	const struct bio_vec *bvec;
	struct bio_vec tmp;
	struct bvec_iter it;
	unsigned int nr = 0;

	io->cd = cd;
	io->bio = bio;
	io->start = start;
	io->status = BLK_STS_OK;
	io->dio_start = 0;
	io->dio_end = 0;
	atomic_set(&io->pending, 1);
	atomic_inc(&cd->inflight);

	/* The bio's own bvec table, from its current position (as loop). */
	bio_for_each_bvec(tmp, bio, it)
		nr++;
	bvec = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);
	iov_iter_bvec(&io->iter, op_is_write(bio_op(bio)) ? ITER_SOURCE :
		      ITER_DEST, bvec, nr, bio->bi_iter.bi_size);
	io->iter.iov_offset = cow_bvec_iter_offset(&bio->bi_iter);
	return io;
}

static void cow_rq_put(struct cow_rq *rq)
{
	struct cow_io *io = rq->io;
	long ret;

	if (!refcount_dec_and_test(&rq->ref))
		return;
	ret = rq->ret;		/* set by the completion, before its put */
	if (rq->write)
		kiocb_end_write(&rq->iocb);
	if (unlikely(ret != rq->len)) {
		/* a short transfer is an error too: nothing half-done is ok */
		cow_log_error(io->cd, rq->id, ret < 0 ? ret : -EIO);
		WRITE_ONCE(io->status, ret == -ENOSPC ? BLK_STS_NOSPC :
			   BLK_STS_IOERR);
	} else {
		cow_log_recovered(io->cd, rq->id);
	}
	mempool_free(rq, io->cd->rq_pool);
	cow_io_put(io);
}

static void cow_rq_done(struct kiocb *iocb, long ret)
{
	struct cow_rq *rq = container_of(iocb, struct cow_rq, iocb);

	rq->ret = ret;
	cow_rq_put(rq);
}

/*
 * Read what the page cache has of the cowfile without blocking: data
 * written recently is there.  Returns the bytes read, 0 when none.  Only
 * a shortcut: the direct read that follows writes back dirty pages of
 * its range first.
 */
static size_t cow_read_cached(struct file *file, loff_t pos,
			      struct iov_iter *iter)
{
	struct kiocb kiocb;
	ssize_t ret;

	if (!READ_ONCE(file->f_mapping->nrpages))
		return 0;
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = pos;
	/* NOIO too: no readahead of what the direct read will fetch */
	kiocb.ki_flags |= IOCB_NOWAIT | IOCB_NOIO;
	ret = file->f_op->read_iter(&kiocb, iter);
	return max_t(ssize_t, ret, 0);
}

static struct cow_rq *cow_rq_alloc(struct cow_io *io, struct file *file,
				   enum cow_file_id id, loff_t pos, size_t len)
{
	struct cow_rq *rq = mempool_alloc(io->cd->rq_pool, GFP_NOIO);

	rq->io = io;
	rq->len = len;
	rq->id = id;
	rq->write = bio_op(io->bio) == REQ_OP_WRITE;
	memset(&rq->iocb, 0, sizeof(rq->iocb));
	rq->iocb.ki_filp = file;
	rq->iocb.ki_pos = pos;
	rq->iocb.ki_complete = cow_rq_done;
	rq->iocb.ki_flags = (file->f_flags & O_DIRECT) ? IOCB_DIRECT : 0;
	rq->iocb.ki_ioprio = io->bio->bi_ioprio;
	refcount_set(&rq->ref, 2);
	atomic_inc(&io->pending);
	return rq;
}

/*
 * Issue @rq.  A write holds the cowfile's file system unfrozen until it
 * completes (kiocb_start_write waits while it is frozen), as loop's.  A
 * short buffered transfer is continued: the rest tells why (ENOSPC...).
 */
static void cow_rq_issue(struct cow_rq *rq, struct iov_iter *iter)
{
	struct file *file = rq->iocb.ki_filp;
	bool direct = rq->iocb.ki_flags & IOCB_DIRECT;
	ssize_t ret, more;

	if (rq->write) {
		kiocb_start_write(&rq->iocb);
		ret = file->f_op->write_iter(&rq->iocb, iter);
		while (ret > 0 && ret < rq->len && !direct) {
			more = file->f_op->write_iter(&rq->iocb, iter);
			if (more <= 0) {
				ret = more ?: ret;
				break;
			}
			ret += more;
		}
	} else {
		ret = file->f_op->read_iter(&rq->iocb, iter);
	}
	if (ret != -EIOCBQUEUED)
		cow_rq_done(&rq->iocb, ret);
	cow_rq_put(rq);
}

/* @iter: @len bytes of @io's data from byte @skip. */
static void cow_io_piece(struct cow_io *io, size_t skip, size_t len,
			 struct iov_iter *iter)
{
	*iter = io->iter;
	iov_iter_advance(iter, skip);
	iov_iter_truncate(iter, len);
}

/* Issue @len bytes of @io's data, from byte @skip, at @pos of @file. */
static void cow_rq_submit(struct cow_io *io, struct file *file,
			  enum cow_file_id id, loff_t pos, size_t skip,
			  size_t len)
{
	struct iov_iter iter;

	cow_io_piece(io, skip, len, &iter);
	cow_rq_issue(cow_rq_alloc(io, file, id, pos, len), &iter);
}

/*
 * A read of the cowfile: what the page cache has first, the rest direct
 * when possible.
 */
static void cow_read_cow(struct cow_io *io, loff_t pos, size_t skip,
			 size_t len)
{
	struct cow_dev *cd = io->cd;
	struct file *dio = cd->dio[COW_COW];
	struct iov_iter iter;
	size_t n;

	atomic64_inc(&cd->cowreads);
	if (!dio) {
		cow_rq_submit(io, cd->file[COW_COW], COW_COW, pos, skip, len);
		return;
	}
	cow_io_piece(io, skip, len, &iter);
	n = cow_read_cached(cd->file[COW_COW], pos, &iter);
	if (n == len) {
		cow_log_recovered(cd, COW_COW);
		return;
	}
	cow_rq_issue(cow_rq_alloc(io, dio, COW_COW, pos + n, len - n), &iter);
}

static void cow_read(struct cow_dev *cd, struct bio *bio, unsigned long start)
{
	loff_t pos = bio->bi_iter.bi_sector << SECTOR_SHIFT;
	loff_t end = pos + bio->bi_iter.bi_size;
	struct cow_io *io = cow_io_start(cd, bio, start);
	size_t done = 0;
	bool in_cow;

	while (pos < end) {
		u64 next = cow_bm_run(cd, pos >> COW_MAPUNIT_SHIFT,
				      DIV_ROUND_UP(end, COW_MAPUNIT), &in_cow);
		loff_t run = min_t(loff_t, next << COW_MAPUNIT_SHIFT, end);

		if (in_cow) {
			cow_read_cow(io, cd->hdr.doffset + pos, done,
				     run - pos);
		} else if (unlikely(!cd->file[COW_RDO])) {
			/* standalone, and a unit not in the cowfile: none */
			WRITE_ONCE(io->status, BLK_STS_IOERR);
		} else {
			atomic64_inc(&cd->rdoreads);
			cow_rq_submit(io, cd->dio[COW_RDO] ?: cd->file[COW_RDO],
				      COW_RDO, pos, done, run - pos);
			cow_cor_note(cd, pos >> COW_MAPUNIT_SHIFT,
				     (run - pos) >> COW_MAPUNIT_SHIFT);
		}
		done += run - pos;
		pos = run;
	}
	cow_io_put(io);
}

/*
 * A write covering only part of a unit not yet in the cowfile: put the
 * whole unit there first, from the rdofile.  Rare (1 KiB units, 4 KiB
 * filesystems), so it waits for the writes in flight, which may touch
 * the same unit, and copies synchronously.
 */
static int cow_copy_up(struct cow_dev *cd, u64 unit)
{
	loff_t pos = unit << COW_MAPUNIT_SHIFT;
	int ret;

	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	if (cow_bm_test(cd, unit))
		return 0;
	if (unlikely(!cd->file[COW_RDO]))
		return -EIO;		/* standalone: cannot be, every unit is in */
	atomic64_inc(&cd->rdoreads);
	ret = cow_file_rw(cd, COW_RDO, false, cd->unit_buf, COW_MAPUNIT, pos);
	if (ret) {
		cow_log_error(cd, COW_RDO, ret);
		return ret;
	}
	atomic64_inc(&cd->cowwrites);
	ret = cow_file_rw(cd, COW_COW, true, cd->unit_buf, COW_MAPUNIT,
			  cd->hdr.doffset + pos);
	if (ret) {
		cow_log_error(cd, COW_COW, ret);
		return ret;
	}
	cow_bm_set(cd, unit, 1);
	return 0;
}

/*
 * The space watch: while writing, look at the free space of the cowfile's
 * file system once a second, or sooner once a quarter of what was free
 * has been written; say once when it runs low (and once when it is back),
 * before writes start failing.
 */
static void cow_space_watch(struct cow_dev *cd, size_t len)
{
	struct kstatfs st;
	u64 pct;

	cd->space_left -= len;
	if (time_before(jiffies, cd->space_check) && cd->space_left > 0)
		return;
	cd->space_check = jiffies + HZ;
	if (vfs_statfs(&cd->file[COW_COW]->f_path, &st) || !st.f_blocks)
		return;
	cd->space_left = st.f_bavail * st.f_bsize / 4;
	pct = div64_u64(st.f_bavail * 100, st.f_blocks);
	if (!cd->space_low && pct < COW_SPACE_LOW_PCT) {
		cd->space_low = true;
		pr_warn("cow%d: cowfile %s: its file system is almost full (%llu%% free, %llu KiB)\n",
			cd->devno, cd->path[COW_COW], pct,
			st.f_bavail * st.f_bsize >> 10);
	} else if (cd->space_low && pct >= COW_SPACE_LOW_PCT + 1) {
		cd->space_low = false;
		pr_info("cow%d: cowfile %s: its file system has %llu%% free again\n",
			cd->devno, cd->path[COW_COW], pct);
	}
}

/* Does a direct write in flight touch a cowfile page of [@start, @end)? */
static bool cow_dio_overlap(struct cow_dev *cd, loff_t start, loff_t end)
{
	struct cow_io *io;
	bool hit = false;

	start = round_down(start, cd->dio_align);
	end = round_up(end, cd->dio_align);
	spin_lock_irq(&cd->lock);
	list_for_each_entry(io, &cd->dio_writes, dio_node) {
		if (io->dio_start < end && start < io->dio_end) {
			hit = true;
			break;
		}
	}
	spin_unlock_irq(&cd->lock);
	return hit;
}

/*
 * A buffered write to the cowfile.  It must not share a page with a
 * direct write in flight: the file system could read the page for its
 * read-modify-write before the direct write lands, and write it back
 * stale over it later (see "Buffered and direct writes" in design.md).
 */
static void cow_write_buffered(struct cow_io *io, loff_t pos, size_t skip,
			       size_t len)
{
	struct cow_dev *cd = io->cd;

	if (cd->dio[COW_COW])
		wait_event(cd->drain_wq, !cow_dio_overlap(cd, pos, pos + len));
	cow_rq_submit(io, cd->file[COW_COW], COW_COW, pos, skip, len);
}

/*
 * One write to the cowfile at @pos for the whole bio.  Its whole pages
 * go direct when they are at least COW_DIO_WRITE_MIN; a head and a tail
 * that are parts of pages go through the page cache.  Direct writes thus
 * cover whole pages only, and two writes share a page only where they
 * overlap.
 */
static void cow_write_data(struct cow_io *io, loff_t pos, size_t len)
{
	struct cow_dev *cd = io->cd;
	loff_t end = pos + len, dstart = 0, dend = 0;

	if (cd->dio[COW_COW]) {
		dstart = round_up(pos, cd->dio_align);
		dend = round_down(end, cd->dio_align);
	}
	if (dend - dstart < COW_DIO_WRITE_MIN) {
		cow_write_buffered(io, pos, 0, len);
		return;
	}
	if (dstart > pos)
		cow_write_buffered(io, pos, 0, dstart - pos);
	if (end > dend)
		cow_write_buffered(io, dend, dend - pos, end - dend);

	io->dio_start = dstart;
	io->dio_end = dend;
	spin_lock_irq(&cd->lock);
	list_add_tail(&io->dio_node, &cd->dio_writes);
	spin_unlock_irq(&cd->lock);
	cow_rq_submit(io, cd->dio[COW_COW], COW_COW, dstart, dstart - pos,
		      dend - dstart);
}

static void cow_write(struct cow_dev *cd, struct bio *bio,
		      unsigned long start)
{
	loff_t pos = bio->bi_iter.bi_sector << SECTOR_SHIFT;
	loff_t end = pos + bio->bi_iter.bi_size;
	u64 first = pos >> COW_MAPUNIT_SHIFT;
	u64 last = (end - 1) >> COW_MAPUNIT_SHIFT;
	struct cow_io *io;
	int ret;

	ret = cow_bm_prepare(cd, first, last - first + 1);
	if (ret)
		cow_log_error(cd, COW_COW, ret);
	else
		cow_ckpt_note(cd, first, last - first + 1);
	if (!ret && (pos & (COW_MAPUNIT - 1)) && !cow_bm_test(cd, first))
		ret = cow_copy_up(cd, first);
	if (!ret && (end & (COW_MAPUNIT - 1)) && !cow_bm_test(cd, last))
		ret = cow_copy_up(cd, last);
	if (!ret)
		ret = cow_mm_set(cd, first, last - first + 1);
	if (ret) {
		cow_bio_done(bio, errno_to_blk_status(ret), start);
		return;
	}
	cow_space_watch(cd, end - pos);
	atomic64_inc(&cd->cowwrites);
	io = cow_io_start(cd, bio, start);
	io->unit = first;
	io->count = last - first + 1;
	cow_write_data(io, cd->hdr.doffset + pos, end - pos);
	cow_io_put(io);
}

/* Zero [@from, @to) of the device, inside one unit: a copy-up, then zeroes. */
static int cow_zero_part(struct cow_dev *cd, loff_t from, loff_t to)
{
	u64 unit = from >> COW_MAPUNIT_SHIFT;
	int ret = 0;

	if (!cow_bm_test(cd, unit))
		ret = cow_copy_up(cd, unit);
	if (!ret)
		ret = cow_file_rw(cd, COW_COW, true, page_address(ZERO_PAGE(0)),
				  to - from, cd->hdr.doffset + from);
	return ret;
}

/* Zeroes written, where the file system cannot zero or punch a range. */
static int cow_write_zeroes(struct cow_dev *cd, loff_t pos, loff_t len)
{
	size_t n;
	int ret;

	for (; len; pos += n, len -= n) {
		n = min_t(loff_t, len, PAGE_SIZE);
		ret = cow_file_rw(cd, COW_COW, true,
				  page_address(ZERO_PAGE(0)), n, pos);
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}

/*
 * Make @cow @size bytes long, as the one who opened it: the thread's own
 * credentials (root) are not those the cowfile's file system let open
 * it (NFS with root_squash maps the opener's to nobody).
 */
static int cow_extend(struct file *cow, loff_t size)
{
	const struct cred *old = override_creds(cow->f_cred);
	int ret;

	ret = vfs_truncate(&cow->f_path, size);
	revert_creds(old);
	return ret;
}

/*
 * Zero the whole units of [@from, @to) of the device: holes in the
 * cowfile, or zeroed blocks for a write-zeroes that must not unmap (or
 * where holes cannot be punched).  The cowfile is made to reach past
 * them, so that their bits never point beyond its end.
 */
static int cow_zero_units(struct cow_dev *cd, struct bio *bio, loff_t from,
			  loff_t to)
{
	struct file *cow = cd->file[COW_COW];
	loff_t pos = cd->hdr.doffset + from, len = to - from;
	bool zeroes = bio_op(bio) == REQ_OP_WRITE_ZEROES;
	int mode = FALLOC_FL_ZERO_RANGE;
	int ret;

	if (cd->can_punch && !(zeroes && (bio->bi_opf & REQ_NOUNMAP)))
		mode = FALLOC_FL_PUNCH_HOLE;
	ret = vfs_fallocate(cow, mode | FALLOC_FL_KEEP_SIZE, pos, len);
	if (ret == -EOPNOTSUPP && zeroes)
		ret = cow_write_zeroes(cd, pos, len);
	if (!ret && i_size_read(file_inode(cow)) < pos + len)
		ret = cow_extend(cow, pos + len);
	return ret;
}

/*
 * Zero [@pos, @end) of the device: parts of units written with zeroes
 * (after a copy-up), whole units zeroed in the cowfile by the file
 * system; then the bits are set, as after a write.
 */
static int cow_zero_range(struct cow_dev *cd, struct bio *bio, loff_t pos,
			  loff_t end)
{
	loff_t head = min_t(loff_t, round_up(pos, COW_MAPUNIT), end);
	loff_t tail = max_t(loff_t, round_down(end, COW_MAPUNIT), head);
	u64 first = pos >> COW_MAPUNIT_SHIFT;
	u64 last = (end - 1) >> COW_MAPUNIT_SHIFT;
	int ret;

	ret = cow_bm_prepare(cd, first, last - first + 1);
	if (!ret)
		ret = cow_mm_set(cd, first, last - first + 1);
	if (!ret)
		cow_ckpt_note(cd, first, last - first + 1);
	if (!ret && pos < head)
		ret = cow_zero_part(cd, pos, head);
	if (!ret && head < tail)
		ret = cow_zero_units(cd, bio, head, tail);
	if (!ret && tail < end)
		ret = cow_zero_part(cd, tail, end);
	if (!ret)
		cow_bm_set(cd, first, last - first + 1);
	return ret;
}

/*
 * Discard and write-zeroes: the range reads as zeroes from then on (a
 * discard too, every time, as on loop); a crash before the next flush
 * shows the old data or zeroes, nothing else (see crash-consistency.md).
 * Synchronous, like a copy-up, after the I/O in flight, so that no other
 * write of the cowfile runs beside it; in parts of COW_ZERO_CHUNK, whose
 * bitmap pages the device's reserve can always provide.
 */
static void cow_zero(struct cow_dev *cd, struct bio *bio, unsigned long start)
{
	loff_t pos = bio->bi_iter.bi_sector << SECTOR_SHIFT;
	loff_t end = pos + bio->bi_iter.bi_size, next;
	int ret = 0;

	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	atomic64_inc(&cd->cowwrites);
	for (; !ret && pos < end; pos = next) {
		next = min_t(loff_t, end,
			     round_down(pos, COW_ZERO_CHUNK) + COW_ZERO_CHUNK);
		ret = cow_zero_range(cd, bio, pos, next);
	}
	if (!ret && (bio->bi_opf & REQ_FUA))
		ret = cow_bm_flush(cd);
	if (ret)
		cow_log_error(cd, COW_COW, ret);
	cow_bio_done(bio, errno_to_blk_status(ret), start);
}

static void cow_handle_bio(struct cow_dev *cd, struct bio *bio)
{
	sector_t capacity = get_capacity(cd->disk);
	int ret;

	if (bio_end_sector(bio) > capacity) {
		bio_io_error(bio);
		return;
	}
	/* read-only (cowdev -a -r, blockdev --setro): the block layer warns */
	if (op_is_write(bio_op(bio)) && bio_sectors(bio) &&
	    bdev_read_only(bio->bi_bdev)) {
		bio_io_error(bio);
		return;
	}
	if (bio->bi_opf & REQ_PREFLUSH) {
		ret = cow_bm_flush(cd);
		if (ret) {
			cow_log_error(cd, COW_COW, ret);
			bio->bi_status = errno_to_blk_status(ret);
			bio_endio(bio);
			return;
		}
	}
	if (!bio->bi_iter.bi_size) {
		bio_endio(bio);
		return;
	}
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		ret = cow_bm_fetch(cd, bio->bi_iter.bi_sector / COW_SECTORS_PER_UNIT,
				   DIV_ROUND_UP(bio_end_sector(bio),
						COW_SECTORS_PER_UNIT) -
				   bio->bi_iter.bi_sector / COW_SECTORS_PER_UNIT);
		if (ret) {
			cow_log_error(cd, COW_COW, ret);
			bio->bi_status = errno_to_blk_status(ret);
			bio_endio(bio);
			break;
		}
		cow_read(cd, bio, bio_start_io_acct(bio));
		break;
	case REQ_OP_WRITE:
		cow_write(cd, bio, bio_start_io_acct(bio));
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		cow_zero(cd, bio, bio_start_io_acct(bio));
		break;
	default:
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		break;
	}
}

void cow_submit_bio(struct bio *bio)
{
	struct cow_dev *cd = bio->bi_bdev->bd_disk->private_data;
	unsigned long flags;

	spin_lock_irqsave(&cd->lock, flags);
	bio_list_add(&cd->bios, bio);
	wake_up(&cd->wq);
	spin_unlock_irqrestore(&cd->lock, flags);
}

static bool cow_has_work(struct cow_dev *cd)
{
	bool work;

	spin_lock_irq(&cd->lock);
	work = !bio_list_empty(&cd->bios) || !bio_list_empty(&cd->fua_bios);
	spin_unlock_irq(&cd->lock);
	return work || READ_ONCE(cd->bm_trim);
}

/* While copying: a request came, or the device goes. */
static bool cow_idle_over(struct cow_dev *cd)
{
	return cow_has_work(cd) || kthread_should_stop();
}

/* FUA writes have completed: flush, then end them. */
static void cow_finish_fua(struct cow_dev *cd, struct bio_list *fua)
{
	blk_status_t status;
	struct bio *bio;
	int ret;

	if (bio_list_empty(fua))
		return;
	ret = cow_bm_flush(cd);
	if (ret)
		cow_log_error(cd, COW_COW, ret);
	status = errno_to_blk_status(ret);
	while ((bio = bio_list_pop(fua))) {
		bio->bi_status = status;
		bio_endio(bio);
	}
}

/*
 * The device's thread.  Like loop's workers, it never recurses into the
 * device for memory (NOIO) and its buffered writes are throttled only
 * against the cowfile's own backing device (LOCAL_THROTTLE): the dirty
 * pages of a file system on top of the cowdevice, which only this thread
 * can clean, must not hold it back.
 */
int cow_thread(void *data)
{
	struct cow_dev *cd = data;
	struct bio_list bios, fua;
	struct blk_plug plug;
	struct bio *bio;
	bool stop;
	long t;

	current->flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
	set_freezable();
	for (;;) {
		/* idle: copy (fill.c), as fast as fill_rate lets */
		if (cow_fill_pending(cd) && !cow_idle_over(cd)) {
			t = cow_fill_wait(cd);
			if (t) {
				wait_event_freezable_timeout(cd->wq,
							     cow_idle_over(cd),
							     t);
				continue;
			}
			down_read(&cd->hold);
			cow_fill_step(cd);
			cow_bm_trim(cd);
			up_read(&cd->hold);
			try_to_freeze();
			cond_resched();
			continue;
		}
		wait_event_freezable(cd->wq, cow_has_work(cd) ||
				     (kthread_should_stop() &&
				      !atomic_read(&cd->inflight)));
		spin_lock_irq(&cd->lock);
		bios = cd->bios;
		bio_list_init(&cd->bios);
		fua = cd->fua_bios;
		bio_list_init(&cd->fua_bios);
		/*
		 * Asked to stop: only once nothing is queued or in flight.
		 * Decided under the lock that completions drop inflight
		 * under, so that none still touches cd (cow_io_release).
		 */
		stop = bio_list_empty(&bios) && bio_list_empty(&fua) &&
		       kthread_should_stop() && !atomic_read(&cd->inflight);
		spin_unlock_irq(&cd->lock);
		if (stop)
			break;
		/*
		 * A checkpoint holds the device between two batches.  The
		 * batch's I/O to the backing files goes out plugged, as
		 * dm-crypt's writes: one notice to their disk for the batch,
		 * not one per request.  The thread never sleeps on a plugged
		 * request: schedule() sends them first.
		 */
		down_read(&cd->hold);
		cow_finish_fua(cd, &fua);
		blk_start_plug(&plug);
		while ((bio = bio_list_pop(&bios))) {
			cow_handle_bio(cd, bio);
			cow_bm_trim(cd);
		}
		blk_finish_plug(&plug);
		cow_bm_trim(cd);
		up_read(&cd->hold);
	}
	return 0;
}

/* Bytes of those reserves. */
unsigned long cow_io_memory(void)
{
	return COW_POOL_MIN * (sizeof(struct cow_io) + sizeof(struct cow_rq));
}

/* The device's reserves of requests and pieces. */
int cow_io_dev_init(struct cow_dev *cd)
{
	cd->io_pool = mempool_create_slab_pool(COW_POOL_MIN, cow_io_cache);
	cd->rq_pool = mempool_create_slab_pool(COW_POOL_MIN, cow_rq_cache);
	return cd->io_pool && cd->rq_pool ? 0 : -ENOMEM;
}

void cow_io_dev_exit(struct cow_dev *cd)
{
	mempool_destroy(cd->rq_pool);
	mempool_destroy(cd->io_pool);
}

int cow_io_init(void)
{
	cow_io_cache = KMEM_CACHE(cow_io, 0);
	cow_rq_cache = KMEM_CACHE(cow_rq, 0);
	if (cow_io_cache && cow_rq_cache)
		return 0;
	cow_io_exit();
	return -ENOMEM;
}

void cow_io_exit(void)
{
	kmem_cache_destroy(cow_rq_cache);
	kmem_cache_destroy(cow_io_cache);
}
