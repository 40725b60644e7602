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

#include <linux/kthread.h>
#include <linux/mempool.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include "cow.h"

#define COW_POOL_MIN	64
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
	struct list_head	fua;		/* on cd->fua_done */
};

/* One piece of a bio: a kiocb on one backing file. */
struct cow_rq {
	struct kiocb		iocb;
	struct cow_io		*io;
	size_t			len;
	enum cow_file_id	id;
};

static struct kmem_cache *cow_io_cache, *cow_rq_cache;
static mempool_t *cow_io_pool, *cow_rq_pool;

static const char *const cow_file_names[COW_NR_FILES] = {
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

/* The write of @io is complete; it no longer holds back cow_copy_up(). */
static void cow_inflight_dec(struct cow_dev *cd)
{
	if (atomic_dec_and_test(&cd->inflight)) {
		wake_up(&cd->drain_wq);
		wake_up(&cd->wq);
	}
}

static void cow_io_end(struct cow_io *io, blk_status_t status)
{
	struct bio *bio = io->bio;

	mempool_free(io, cow_io_pool);
	/* Once the bio ends, the device may go away: cd is not touched. */
	bio->bi_status = status;
	bio_endio(bio);
}

static void cow_io_put(struct cow_io *io)
{
	struct cow_dev *cd = io->cd;
	unsigned long flags;

	if (!atomic_dec_and_test(&io->pending))
		return;
	if (!io->status && bio_op(io->bio) == REQ_OP_WRITE)
		cow_bm_set(cd, io->unit, io->count);
	if (io->status || !(io->bio->bi_opf & REQ_FUA) ||
	    bio_op(io->bio) != REQ_OP_WRITE) {
		cow_inflight_dec(cd);
		cow_io_end(io, io->status);
		return;
	}
	/*
	 * FUA: durable with its bits before it completes, so the thread
	 * flushes first.  The wakeup is under the lock the thread takes to
	 * find the bio: after the unlock, cd may be gone.
	 */
	cow_inflight_dec(cd);
	spin_lock_irqsave(&cd->lock, flags);
	list_add_tail(&io->fua, &cd->fua_done);
	wake_up(&cd->wq);
	spin_unlock_irqrestore(&cd->lock, flags);
}

static struct cow_io *cow_io_start(struct cow_dev *cd, struct bio *bio)
{
	struct cow_io *io = mempool_alloc(cow_io_pool, GFP_NOIO);
	struct bio_vec *bvec, tmp;
	struct bvec_iter it;
	unsigned int nr = 0;

	io->cd = cd;
	io->bio = bio;
	io->status = BLK_STS_OK;
	atomic_set(&io->pending, 1);
	atomic_inc(&cd->inflight);

	/* The bio's own bvec table, from its current position (as loop). */
	bio_for_each_bvec(tmp, bio, it)
		nr++;
	bvec = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);
	iov_iter_bvec(&io->iter, op_is_write(bio_op(bio)) ? ITER_SOURCE :
		      ITER_DEST, bvec, nr, bio->bi_iter.bi_size);
	io->iter.iov_offset = bio->bi_iter.bi_bvec_done;
	return io;
}

static void cow_rq_done(struct kiocb *iocb, long ret)
{
	struct cow_rq *rq = container_of(iocb, struct cow_rq, iocb);
	struct cow_io *io = rq->io;

	if (unlikely(ret != rq->len)) {
		/* a short transfer is an error too: nothing half-done is ok */
		cow_log_error(io->cd, rq->id, ret < 0 ? ret : -EIO);
		WRITE_ONCE(io->status, ret == -ENOSPC ? BLK_STS_NOSPC :
			   BLK_STS_IOERR);
	} else {
		cow_log_recovered(io->cd, rq->id);
	}
	mempool_free(rq, cow_rq_pool);
	cow_io_put(io);
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
	return ret > 0 ? ret : 0;
}

static ssize_t cow_rq_call(struct cow_rq *rq, struct iov_iter *iter,
			   bool write)
{
	struct file *file = rq->iocb.ki_filp;

	if (write)
		return file->f_op->write_iter(&rq->iocb, iter);
	return file->f_op->read_iter(&rq->iocb, iter);
}

/*
 * Issue @len bytes of @io's data, from byte @skip, at @pos of file @id.
 * Writes go through the cowfile's page cache (flushes make them
 * durable); reads go direct when possible, after the page cache was
 * asked for cowfile data.
 */
static void cow_rq_submit(struct cow_io *io, enum cow_file_id id,
			  loff_t pos, size_t skip, size_t len)
{
	struct cow_dev *cd = io->cd;
	struct iov_iter iter = io->iter;
	bool write = iov_iter_rw(&iter) == WRITE;
	bool direct = cd->dio[id] && (!write || len >= COW_DIO_WRITE_MIN);
	struct file *file = direct ? cd->dio[id] : cd->file[id];
	struct cow_rq *rq;
	ssize_t ret;

	iov_iter_advance(&iter, skip);
	iov_iter_truncate(&iter, len);
	if (!write) {
		atomic64_inc(id == COW_RDO ? &cd->rdoreads : &cd->cowreads);
		if (id == COW_COW && cd->dio[id]) {
			size_t n = cow_read_cached(cd->file[id], pos, &iter);

			if (n == len) {
				cow_log_recovered(cd, id);
				return;
			}
			pos += n;
			len -= n;
		}
	} else {
		atomic64_inc(&cd->cowwrites);
	}

	rq = mempool_alloc(cow_rq_pool, GFP_NOIO);
	rq->io = io;
	rq->len = len;
	rq->id = id;
	memset(&rq->iocb, 0, sizeof(rq->iocb));
	rq->iocb.ki_filp = file;
	rq->iocb.ki_pos = pos;
	rq->iocb.ki_complete = cow_rq_done;
	rq->iocb.ki_flags = (file->f_flags & O_DIRECT) ? IOCB_DIRECT : 0;
	rq->iocb.ki_ioprio = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_NONE, 0);

	atomic_inc(&io->pending);
	ret = cow_rq_call(rq, &iter, write);
	/* a short buffered transfer: the rest tells why (ENOSPC...) */
	while (ret > 0 && ret < len && !direct) {
		ssize_t more = cow_rq_call(rq, &iter, write);

		if (more <= 0) {
			ret = more ?: ret;
			break;
		}
		ret += more;
	}
	if (ret != -EIOCBQUEUED)
		cow_rq_done(&rq->iocb, ret);
}

static void cow_read(struct cow_dev *cd, struct bio *bio)
{
	loff_t pos = bio->bi_iter.bi_sector << SECTOR_SHIFT;
	loff_t end = pos + bio->bi_iter.bi_size;
	struct cow_io *io = cow_io_start(cd, bio);
	size_t done = 0;
	bool in_cow;

	while (pos < end) {
		u64 next = cow_bm_run(cd, pos >> COW_MAPUNIT_SHIFT,
				      DIV_ROUND_UP(end, COW_MAPUNIT), &in_cow);
		loff_t run = min_t(loff_t, next << COW_MAPUNIT_SHIFT, end);

		if (in_cow)
			cow_rq_submit(io, COW_COW, cd->hdr.doffset + pos, done,
				      run - pos);
		else
			cow_rq_submit(io, COW_RDO, pos, done, run - pos);
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

static void cow_write(struct cow_dev *cd, struct bio *bio)
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
	if (!ret && (pos & (COW_MAPUNIT - 1)) && !cow_bm_test(cd, first))
		ret = cow_copy_up(cd, first);
	if (!ret && (end & (COW_MAPUNIT - 1)) && !cow_bm_test(cd, last))
		ret = cow_copy_up(cd, last);
	if (ret) {
		bio->bi_status = errno_to_blk_status(ret);
		bio_endio(bio);
		return;
	}
	cow_space_watch(cd, end - pos);
	io = cow_io_start(cd, bio);
	io->unit = first;
	io->count = last - first + 1;
	cow_rq_submit(io, COW_COW, cd->hdr.doffset + pos, 0, end - pos);
	cow_io_put(io);
}

static void cow_handle_bio(struct cow_dev *cd, struct bio *bio)
{
	sector_t capacity = get_capacity(cd->disk);
	int ret;

	if (bio_end_sector(bio) > capacity) {
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
		cow_read(cd, bio);
		break;
	case REQ_OP_WRITE:
		cow_write(cd, bio);
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
	work = !bio_list_empty(&cd->bios) || !list_empty(&cd->fua_done);
	spin_unlock_irq(&cd->lock);
	return work;
}

/* FUA writes have completed: flush, then complete them. */
static void cow_finish_fua(struct cow_dev *cd, struct list_head *fua)
{
	struct cow_io *io, *next;
	blk_status_t status;
	int ret;

	if (list_empty(fua))
		return;
	ret = cow_bm_flush(cd);
	if (ret)
		cow_log_error(cd, COW_COW, ret);
	status = errno_to_blk_status(ret);
	list_for_each_entry_safe(io, next, fua, fua) {
		list_del(&io->fua);
		cow_io_end(io, status);
	}
}

int cow_thread(void *data)
{
	struct cow_dev *cd = data;
	unsigned int noio = memalloc_noio_save();
	struct bio_list bios;
	struct bio *bio;
	LIST_HEAD(fua);

	for (;;) {
		wait_event_idle(cd->wq, cow_has_work(cd) ||
				(kthread_should_stop() &&
				 !atomic_read(&cd->inflight)));
		spin_lock_irq(&cd->lock);
		bios = cd->bios;
		bio_list_init(&cd->bios);
		list_splice_init(&cd->fua_done, &fua);
		spin_unlock_irq(&cd->lock);

		/* Asked to stop: only once nothing is queued or in flight. */
		if (bio_list_empty(&bios) && list_empty(&fua) &&
		    kthread_should_stop() && !atomic_read(&cd->inflight))
			break;
		cow_finish_fua(cd, &fua);
		while ((bio = bio_list_pop(&bios)))
			cow_handle_bio(cd, bio);
	}
	memalloc_noio_restore(noio);
	return 0;
}

int cow_io_init(void)
{
	cow_io_cache = KMEM_CACHE(cow_io, 0);
	cow_rq_cache = KMEM_CACHE(cow_rq, 0);
	if (!cow_io_cache || !cow_rq_cache)
		goto fail;
	cow_io_pool = mempool_create_slab_pool(COW_POOL_MIN, cow_io_cache);
	cow_rq_pool = mempool_create_slab_pool(COW_POOL_MIN, cow_rq_cache);
	if (!cow_io_pool || !cow_rq_pool)
		goto fail;
	return 0;
fail:
	cow_io_exit();
	return -ENOMEM;
}

void cow_io_exit(void)
{
	mempool_destroy(cow_rq_pool);
	mempool_destroy(cow_io_pool);
	kmem_cache_destroy(cow_rq_cache);
	kmem_cache_destroy(cow_io_cache);
}
