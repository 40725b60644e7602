// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: the cowfile's bitmap, in memory and on disk.
 *
 * In memory the bitmap is sparse: an xarray of pages, one page per
 * PAGE_SIZE bytes of the on-disk bitmap, allocated when a unit it covers
 * is first written.  Untouched parts of the rdofile cost no memory.
 *
 * A bit is set when the write of its unit has completed.  A flush makes
 * the completed writes durable (fsync of the cowfile), and only then
 * writes the bitmap pages changed since the last flush, and fsyncs again:
 * a bit on disk never points at data that is not durable.  The xarray's
 * lock orders bit setting against the snapshot taken for a flush.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/error-injection.h>
#include <linux/gfp.h>
#include <linux/mempool.h>
#include <linux/minmax.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "compat.h"
#include "cow.h"

/* Changed since it was last written; written, not yet known durable. */
#define COW_BM_DIRTY	XA_MARK_0
#define COW_BM_WRITING	XA_MARK_1
/* Bitmap pages kept in reserve for writes under memory pressure. */
#define COW_BM_POOL_MIN	16

/*
 * Bitmap pages, in a cache of their own: /proc/slabinfo shows what they
 * take (6.1 merges it with others unless booted with slab_nomerge).
 */
static struct kmem_cache *cow_bm_cache;
/*
 * The write path's pages come from a reserve when memory is short (as
 * dm-snapshot's pending exceptions do): a write to a new part of the
 * device always makes progress.  Deactivation refills it.
 */
static mempool_t *cow_bm_pool;

int cow_bm_init(void)
{
	cow_bm_cache = kmem_cache_create("cow_bitmap", PAGE_SIZE, PAGE_SIZE,
					 SLAB_NO_MERGE, NULL);
	if (!cow_bm_cache)
		return -ENOMEM;
	cow_bm_pool = mempool_create_slab_pool(COW_BM_POOL_MIN, cow_bm_cache);
	if (!cow_bm_pool) {
		kmem_cache_destroy(cow_bm_cache);
		return -ENOMEM;
	}
	return 0;
}

void cow_bm_exit(void)
{
	mempool_destroy(cow_bm_pool);
	kmem_cache_destroy(cow_bm_cache);
}

/*
 * The pages in memory follow the cowfile's pages, not the start of the
 * bitmap (COW_HDRSIZE): bit b of the page sequence is at file offset
 * b / 8, so a page is written as one file-system block, not parts of
 * two.  Unit u is bit u + COW_BM_SKEW; page 0 begins with the header's
 * bytes, which are never set, written or read as bitmap.
 */
#define COW_BM_SKEW	((u64)COW_HDRSIZE * BITS_PER_BYTE)

/* File offset of the bitmap bytes of page @p. */
static loff_t cow_bm_page_pos(u64 p)
{
	return max_t(u64, p * PAGE_SIZE, COW_HDRSIZE);
}

/* Their offset in the page. */
static size_t cow_bm_page_off(u64 p)
{
	return cow_bm_page_pos(p) - p * PAGE_SIZE;
}

/* Their length: up to the page's end or the bitmap's. */
static size_t cow_bm_page_len(const struct cow_dev *cd, u64 p)
{
	return min_t(u64, (p + 1) * PAGE_SIZE,
		     COW_HDRSIZE + cd->hdr.mapsize) - cow_bm_page_pos(p);
}

/* The first unit whose bit is in page @p. */
static u64 cow_bm_page_unit(u64 p)
{
	return (cow_bm_page_pos(p) - COW_HDRSIZE) * BITS_PER_BYTE;
}

bool cow_bm_test(struct cow_dev *cd, u64 unit)
{
	u64 b = unit + COW_BM_SKEW;
	void *pg = xa_load(&cd->bitmap, b / COW_BM_UNITS);

	return pg && test_bit_le(b % COW_BM_UNITS, pg);
}

/*
 * The units from @unit (below @end) that are all in the cowfile, or all
 * not: *in_cow says which, the return value is the first unit past them.
 */
u64 cow_bm_run(struct cow_dev *cd, u64 unit, u64 end, bool *in_cow)
{
	u64 b = unit + COW_BM_SKEW, e = end + COW_BM_SKEW;
	u64 p = b / COW_BM_UNITS, base, lim, next;
	void *pg = xa_load(&cd->bitmap, p);
	bool set = pg && test_bit_le(b % COW_BM_UNITS, pg);

	*in_cow = set;
	while (b < e) {
		base = p * COW_BM_UNITS;
		lim = min_t(u64, e - base, COW_BM_UNITS);
		if (!pg)
			next = set ? b - base : lim;
		else if (set)
			next = find_next_zero_bit_le(pg, lim, b - base);
		else
			next = find_next_bit_le(pg, lim, b - base);
		if (next < lim)
			return base + next - COW_BM_SKEW;
		b = base + lim;
		pg = xa_load(&cd->bitmap, ++p);
	}
	return end;
}

/*
 * Give bitmap page @p its blocks in the cowfile now (it is zero on disk,
 * so zeroes are written): a flush must never need space the file system
 * may no longer have.  A write that cannot get them fails, with ENOSPC.
 */
static int cow_bm_reserve(struct cow_dev *cd, u64 p)
{
	return cow_file_rw(cd, COW_COW, true, page_address(ZERO_PAGE(0)),
			   cow_bm_page_len(cd, p), cow_bm_page_pos(p));
}

/*
 * Put page @p in the bitmap: a copy of @src (loading, GFP_KERNEL), or
 * zeroed from the pool (the write path, which must not fail).
 */
static int cow_bm_insert(struct cow_dev *cd, u64 p, const void *src, gfp_t gfp)
{
	void *pg, *old;

	if (src) {
		pg = kmem_cache_alloc(cow_bm_cache, gfp);
		if (!pg)
			return -ENOMEM;
		memcpy(pg, src, PAGE_SIZE);
	} else {
		pg = mempool_alloc(cow_bm_pool, gfp);
		clear_page(pg);
	}
	old = xa_cmpxchg_irq(&cd->bitmap, p, NULL, pg, gfp);
	if (old) {
		mempool_free(pg, cow_bm_pool);
		return xa_err(old);
	}
	atomic_long_inc(&cd->bm_pages);
	return 0;
}

/* Make sure the pages holding the bits of @count units from @unit exist. */
noinline int cow_bm_prepare(struct cow_dev *cd, u64 unit, u64 count)
{
	u64 p, last = (unit + count - 1 + COW_BM_SKEW) / COW_BM_UNITS;
	int ret;

	for (p = (unit + COW_BM_SKEW) / COW_BM_UNITS; p <= last; p++) {
		if (xa_load(&cd->bitmap, p))
			continue;
		ret = cow_bm_reserve(cd, p);
		if (!ret)
			ret = cow_bm_insert(cd, p, NULL, GFP_NOIO);
		if (ret)
			return ret;
	}
	return 0;
}
ALLOW_ERROR_INJECTION(cow_bm_prepare, ERRNO);

/*
 * The writes of @count units from @unit have completed: make them
 * visible.  Any context; the pages were prepared by cow_bm_prepare().
 * Bits are only set here, under the xarray lock: plain bit operations
 * suffice, lockless readers see each word before or after.
 */
void cow_bm_set(struct cow_dev *cd, u64 unit, u64 count)
{
	u64 b = unit + COW_BM_SKEW, e = b + count, added = 0;
	unsigned long flags;
	bool in_cow;

	/* a rewrite: nothing to set */
	if (cow_bm_run(cd, unit, unit + count, &in_cow) == unit + count &&
	    in_cow)
		return;
	xa_lock_irqsave(&cd->bitmap, flags);
	while (b < e) {
		u64 p = b / COW_BM_UNITS, was = added;
		u64 lim = min_t(u64, e, (p + 1) * COW_BM_UNITS);
		void *pg = xa_load(&cd->bitmap, p);

		if (WARN_ON_ONCE(!pg))
			break;
		for (; b < lim; b++)
			added += !__test_and_set_bit_le(b % COW_BM_UNITS, pg);
		if (added != was)
			__xa_set_mark(&cd->bitmap, p, COW_BM_DIRTY);
	}
	if (added) {
		atomic64_add(added, &cd->cowused);
		cd->mem_dirty = true;
	}
	xa_unlock_irqrestore(&cd->bitmap, flags);
}

/* Copy up to COW_FLUSH_BATCH dirty pages into flush_buf, clearing marks. */
static unsigned int cow_bm_snapshot(struct cow_dev *cd, unsigned long *idx)
{
	unsigned long index = 0;
	unsigned int n = 0;
	void *pg;

	xa_lock_irq(&cd->bitmap);
	xa_for_each_marked(&cd->bitmap, index, pg, COW_BM_DIRTY) {
		__xa_clear_mark(&cd->bitmap, index, COW_BM_DIRTY);
		__xa_set_mark(&cd->bitmap, index, COW_BM_WRITING);
		memcpy(cd->flush_buf + n * PAGE_SIZE, pg, PAGE_SIZE);
		idx[n] = index;
		if (++n == COW_FLUSH_BATCH)
			break;
	}
	xa_unlock_irq(&cd->bitmap);
	return n;
}

/*
 * The end of a flush: the pages it wrote are durable (@ok), or not known
 * to be and dirty again, so that the next flush writes them again.
 */
static void cow_bm_settle(struct cow_dev *cd, bool ok)
{
	unsigned long index = 0;
	void *pg;

	xa_lock_irq(&cd->bitmap);
	xa_for_each_marked(&cd->bitmap, index, pg, COW_BM_WRITING) {
		__xa_clear_mark(&cd->bitmap, index, COW_BM_WRITING);
		if (!ok)
			__xa_set_mark(&cd->bitmap, index, COW_BM_DIRTY);
	}
	xa_unlock_irq(&cd->bitmap);
}

static int cow_bm_write_batch(struct cow_dev *cd, unsigned long *idx,
			      unsigned int n)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = cow_file_rw(cd, COW_COW, true,
				  cd->flush_buf + i * PAGE_SIZE +
				  cow_bm_page_off(idx[i]),
				  cow_bm_page_len(cd, idx[i]),
				  cow_bm_page_pos(idx[i]));
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Make every write completed so far durable together with the bits that
 * make it visible: data, fsync, bitmap, fsync.  Called with meta_mutex.
 * A page written by a batch is durable only once a later fsync has
 * succeeded; after any failure, every page this flush wrote is dirty
 * again (a failed writeback is reported once: the next fsync would not
 * say that those pages never reached the disk).
 */
static int __cow_bm_flush(struct cow_dev *cd)
{
	unsigned long idx[COW_FLUSH_BATCH];
	struct file *cow = cd->file[COW_COW];
	bool wrote = false;
	unsigned int n;
	int ret;

	do {
		n = cow_bm_snapshot(cd, idx);
		ret = vfs_fsync(cow, 1);
		if (!ret && n)
			ret = cow_hdr_mark_dirty(cd);
		if (!ret)
			ret = cow_bm_write_batch(cd, idx, n);
		if (ret)
			goto out;
		wrote |= n > 0;
	} while (n == COW_FLUSH_BATCH);
	if (wrote)
		ret = vfs_fsync(cow, 1);
out:
	cow_bm_settle(cd, !ret);
	return ret;
}

int cow_bm_flush(struct cow_dev *cd)
{
	int ret;

	if (cd->readonly)
		return 0;	/* nothing was written, nothing is */
	mutex_lock(&cd->meta_mutex);
	ret = __cow_bm_flush(cd);
	mutex_unlock(&cd->meta_mutex);
	return ret;
}

/*
 * Flush, then, with @clean and no bit set meanwhile, write the header
 * clean with the recounted cowused (cowsync, deactivation).
 */
noinline int cow_bm_sync(struct cow_dev *cd, bool clean)
{
	u64 used;
	int ret;

	if (cd->readonly)
		return 0;
	mutex_lock(&cd->meta_mutex);
	xa_lock_irq(&cd->bitmap);
	cd->mem_dirty = false;
	used = atomic64_read(&cd->cowused);
	xa_unlock_irq(&cd->bitmap);

	ret = __cow_bm_flush(cd);
	if (ret || !clean)
		goto out;
	xa_lock_irq(&cd->bitmap);
	clean = !cd->mem_dirty;
	xa_unlock_irq(&cd->bitmap);
	if (!clean)
		goto out;		/* written to meanwhile: stays dirty */

	ret = cow_hdr_store(cd, cd->hdr.flags & ~COW_F_DIRTY, used);
out:
	mutex_unlock(&cd->meta_mutex);
	return ret;
}
ALLOW_ERROR_INJECTION(cow_bm_sync, ERRNO);

/*
 * Store page @p read from disk when not all zero: @buf is the page, its
 * bitmap bytes read, the rest zero.  Units from @present on are beyond
 * the end of the cowfile: a bit for one means the file was truncated,
 * and its data is gone (never served as zeroes, never "repaired").
 */
static int cow_bm_adopt(struct cow_dev *cd, u64 p, void *buf, bool repair,
			u64 present, u64 *count)
{
	void *map = buf + cow_bm_page_off(p);
	size_t len = cow_bm_page_len(cd, p);
	u64 first = cow_bm_page_unit(p);
	int ret;

	if (!memchr_inv(map, 0, len))
		return 0;
	if (cow_bitmap_check_tail(map, first, len, cd->hdr.rdoblocks)) {
		u64 u;

		if (!repair)
			return cow_refuse(cd, COW_E_BITMAP_TAIL);
		for (u = cd->hdr.rdoblocks - first; u < len * BITS_PER_BYTE;
		     u++)
			__clear_bit_le(u, map);
	}
	if (cow_bitmap_check_tail(map, first, len, present))
		return cow_refuse(cd, COW_E_TRUNCATED);
	ret = cow_bm_insert(cd, p, buf, GFP_KERNEL);
	if (ret)
		return ret;
	*count += cow_bitmap_weight(map, len);
	return 0;
}

/*
 * Next allocated range of @file at or after @pos, below @end: the hole
 * skipping that keeps loading and repair proportional to what is written.
 */
static bool cow_next_data(struct file *file, loff_t *pos, loff_t *len,
			  loff_t end)
{
	loff_t data, hole;

	data = vfs_llseek(file, *pos, SEEK_DATA);
	if (data < 0)
		data = data == -ENXIO ? end : *pos;
	if (data >= end)
		return false;
	hole = vfs_llseek(file, data, SEEK_HOLE);
	if (hole < 0 || hole > end)
		hole = end;
	*pos = data;
	*len = hole - data;
	return true;
}

/* Load the on-disk bitmap, skipping its holes and zero pages. */
static int cow_bm_read(struct cow_dev *cd, bool repair, u64 *count)
{
	loff_t end = COW_HDRSIZE + cd->hdr.mapsize, pos = COW_HDRSIZE, len;
	loff_t size = i_size_read(file_inode(cd->file[COW_COW]));
	u64 present = 0;
	void *buf = cd->flush_buf;
	int ret;

	if (size > cd->hdr.doffset)
		present = (size - cd->hdr.doffset) >> COW_MAPUNIT_SHIFT;

	while (cow_next_data(cd->file[COW_COW], &pos, &len, end)) {
		u64 p = pos / PAGE_SIZE, last = (pos + len - 1) / PAGE_SIZE;

		for (; p <= last; p++) {
			memset(buf, 0, PAGE_SIZE);
			ret = cow_file_rw(cd, COW_COW, false,
					  buf + cow_bm_page_off(p),
					  cow_bm_page_len(cd, p),
					  cow_bm_page_pos(p));
			if (!ret)
				ret = cow_bm_adopt(cd, p, buf, repair, present,
						   count);
			if (ret)
				return ret;
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
		pos = (last + 1) * PAGE_SIZE;
	}
	return 0;
}

/*
 * Full repair of a cowfile the original driver left dirty: a bit for every
 * unit of the data area that holds non-zero data.  Reads only the
 * allocated extents.
 */
static int cow_bm_scan(struct cow_dev *cd)
{
	loff_t base = cd->hdr.doffset, pos = base, len;
	loff_t end = base + (cd->hdr.rdoblocks << COW_MAPUNIT_SHIFT);
	size_t chunk = COW_FLUSH_BATCH * PAGE_SIZE;
	void *buf = cd->flush_buf;
	ssize_t n;
	int ret;

	pos = base;
	while (cow_next_data(cd->file[COW_COW], &pos, &len, end)) {
		loff_t stop = pos + len, at;
		size_t i;

		pos = round_down(pos - base, COW_MAPUNIT) + base;
		while (pos < stop) {
			at = pos;
			n = kernel_read(cd->file[COW_COW], buf,
					min_t(loff_t, chunk, end - pos), &at);
			if (n < 0)
				return n;
			if (n == 0)
				break;
			memset(buf + n, 0, round_up(n, COW_MAPUNIT) - n);
			for (i = 0; i < n; i += COW_MAPUNIT) {
				u64 unit = (pos - base + i) >> COW_MAPUNIT_SHIFT;

				if (cow_unit_zero(buf + i))
					continue;
				ret = cow_bm_prepare(cd, unit, 1);
				if (ret)
					return ret;
				cow_bm_set(cd, unit, 1);
			}
			pos += round_up(n, COW_MAPUNIT);
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
	}
	return 0;
}

/*
 * Load the bitmap of the cowfile whose header is in cd->hdr.  Returns 0
 * or a negative errno (with cd->reason, see cow_refuse).  With @repair, a dirty
 * cowfile is made consistent: ORDERED ones by recounting cowused, those of
 * the original driver by a scan of the data area.
 */
noinline int cow_bm_load(struct cow_dev *cd, bool repair)
{
	bool dirty = cd->hdr.flags & COW_F_DIRTY;
	u64 count = 0;
	int ret;

	ret = cow_bm_read(cd, repair, &count);
	if (ret)
		return ret;
	atomic64_set(&cd->cowused, count);
	if (dirty && repair && !(cd->hdr.ext_flags & COW_EXT_ORDERED)) {
		pr_info("cow%d: cowfile %s: written by the original cowloop, scanning its data area\n",
			cd->devno, cd->path[COW_COW]);
		ret = cow_bm_scan(cd);
		if (ret)
			return ret;
	}
	if (count != cd->hdr.cowused && !(dirty && repair))
		return cow_refuse(cd, COW_E_BITMAP);
	if (dirty && repair)
		pr_info("cow%d: cowfile %s: repaired, %llu blocks in use (header said %llu)\n",
			cd->devno, cd->path[COW_COW],
			atomic64_read(&cd->cowused), cd->hdr.cowused);
	return 0;
}
ALLOW_ERROR_INJECTION(cow_bm_load, ERRNO);

void cow_bm_free(struct cow_dev *cd)
{
	unsigned long index;
	void *pg;

	xa_for_each(&cd->bitmap, index, pg)
		mempool_free(pg, cow_bm_pool);
	xa_destroy(&cd->bitmap);
}
