// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: the cowfile's bitmap, in memory and on disk.
 *
 * In memory the bitmap is sparse: an xarray indexed by bitmap page (one
 * per PAGE_SIZE bytes of the on-disk bitmap, 32 MiB of device with 4 KiB
 * pages), whose entry is the page, or COW_BM_ZERO for a page known to
 * be all zero on disk, or nothing: not known, the cowfile is asked
 * (cow_bm_fetch).  The thread fetches the pages a bio needs before it
 * serves the bio, and, between bios, gives back the pages and markers
 * beyond what a device may keep (cow_bm_trim): those that are clean,
 * after a flush if need be, so that kernel memory stays bounded whatever
 * the device's size and whatever was written.  A shrinker asks the
 * thread for the same under memory pressure.  Only the thread frees
 * pages, and only once no request is in flight: the lockless readers
 * (the thread, and completions setting bits in pages their write
 * prepared) never see a page go.
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
#include <linux/falloc.h>
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
/* The entry of a page known to be all zero on disk, not in memory. */
#define COW_BM_ZERO	xa_mk_value(0)
/*
 * Bitmap pages a device keeps in reserve for writes under memory
 * pressure: a request needs at most 3 new ones at a time (a write 2, a
 * discard or write-zeroes, which works in parts of COW_ZERO_CHUNK, 3).
 */
#define COW_BM_POOL_MIN	4
/*
 * Per device, at most: pages in memory (16 MiB with 4 KiB pages, the
 * bitmap of 128 GiB of device), dirty pages before the thread flushes,
 * and zero markers (about 9 bytes each); the thread trims to half.
 * Pages a request in flight needs come on top (at most 2 per write, 32
 * for a discard of 1 GiB); past twice the limit, writes needing more
 * fail.
 */
#define COW_BM_MAX_PAGES	4096
#define COW_BM_MAX_DIRTY	2048
#define COW_BM_MAX_ZERO		65536

/*
 * Bitmap pages, in a cache of their own: /proc/slabinfo shows what they
 * take (6.1 merges it with others unless booted with slab_nomerge).
 * Each device has a reserve of them (as dm-snapshot's pending
 * exceptions do): a write to a new part of the device always makes
 * progress, and what one device uses is given back to it, not lost to
 * the others.
 */
static struct kmem_cache *cow_bm_cache;

int cow_bm_init(void)
{
	cow_bm_cache = kmem_cache_create("cow_bitmap", PAGE_SIZE, PAGE_SIZE,
					 SLAB_NO_MERGE, NULL);
	return cow_bm_cache ? 0 : -ENOMEM;
}

void cow_bm_exit(void)
{
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

/* The page of entry @e, NULL for a zero page (known or not). */
static void *cow_bm_page(void *e)
{
	return xa_is_value(e) ? NULL : e;
}

/* Bitmap pages holding the bits of @count units from @unit. */
static u64 cow_bm_first(u64 unit)
{
	return (unit + COW_BM_SKEW) / COW_BM_UNITS;
}

static u64 cow_bm_last(u64 unit, u64 count)
{
	return (unit + count - 1 + COW_BM_SKEW) / COW_BM_UNITS;
}

/* Is @unit in the cowfile?  Its page was fetched (cow_bm_fetch). */
bool cow_bm_test(struct cow_dev *cd, u64 unit)
{
	u64 b = unit + COW_BM_SKEW;
	void *pg = cow_bm_page(xa_load(&cd->bitmap, b / COW_BM_UNITS));

	return pg && test_bit_le(b % COW_BM_UNITS, pg);
}

/*
 * The units from @unit (below @end) that are all in the cowfile, or all
 * not: *in_cow says which, the return value is the first unit past them.
 * Their pages were fetched (cow_bm_fetch).
 */
u64 cow_bm_run(struct cow_dev *cd, u64 unit, u64 end, bool *in_cow)
{
	u64 b = unit + COW_BM_SKEW, e = end + COW_BM_SKEW;
	u64 p = b / COW_BM_UNITS, base, lim, next;
	void *pg = cow_bm_page(xa_load(&cd->bitmap, p));
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
		pg = cow_bm_page(xa_load(&cd->bitmap, ++p));
	}
	return end;
}

/*
 * Give bitmap pages @p to @last their blocks in the cowfile now (they
 * are zero on disk):
 * a flush must never need space the file system may no longer have.  A
 * write that cannot get them fails, with ENOSPC.  Allocated (the range
 * is inside the file: a KEEP_SIZE for safety), or, where the file system
 * cannot, written with zeroes.
 */
static int cow_bm_reserve(struct cow_dev *cd, u64 p, u64 last)
{
	loff_t pos = cow_bm_page_pos(p);
	int ret;

	ret = vfs_fallocate(cd->file[COW_COW], FALLOC_FL_KEEP_SIZE, pos,
			    cow_bm_page_pos(last) + cow_bm_page_len(cd, last) -
			    pos);
	for (; ret == -EOPNOTSUPP && p <= last; p++)
		ret = cow_file_rw(cd, COW_COW, true,
				  page_address(ZERO_PAGE(0)),
				  cow_bm_page_len(cd, p), cow_bm_page_pos(p));
	return ret == -EOPNOTSUPP ? 0 : ret;
}

/*
 * A page for the bitmap without waiting: from the allocator (reclaiming
 * a little), else from the device's reserve.  An error injection point
 * (doc/design.md): NULL makes the caller go the way of memory short.
 */
static noinline void *cow_bm_alloc_nowait(struct cow_dev *cd)
{
	void *pg;

	pg = kmem_cache_alloc(cow_bm_cache,
			      GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN);
	return pg ?: mempool_alloc(cd->bm_pool, GFP_NOWAIT | __GFP_NOWARN);
}
ALLOW_ERROR_INJECTION(cow_bm_alloc_nowait, NULL);

/*
 * A page for the bitmap: from the allocator (reclaiming a little), else
 * from the device's reserve, else, with memory short and the reserve
 * spent, once the device has given back what it can (its clean pages
 * but those of the fetch in progress, after a flush: cow_bm_trim, which
 * the thread or an activation may call here), waiting for the reserve.
 */
static void *cow_bm_alloc(struct cow_dev *cd)
{
	void *pg = cow_bm_alloc_nowait(cd);

	if (pg)
		return pg;
	WRITE_ONCE(cd->bm_trim, true);
	cow_bm_trim(cd);
	return mempool_alloc(cd->bm_pool, GFP_NOIO);
}

/*
 * Entry @p becomes page @pg (from @old: nothing, or the zero marker).
 * Only the thread (or an activation) changes an entry from these two,
 * so the exchange does not fail but for memory (of the xarray's nodes).
 */
static int cow_bm_install(struct cow_dev *cd, u64 p, void *old, void *pg)
{
	void *cur;

	cur = xa_cmpxchg_irq(&cd->bitmap, p, old, pg, GFP_NOIO);
	if (cur != old) {
		mempool_free(pg, cd->bm_pool);
		return xa_is_err(cur) ? xa_err(cur) : -EBUSY;
	}
	if (xa_is_value(old))
		atomic_long_dec(&cd->bm_zero);
	atomic_long_inc(&cd->bm_pages);
	return 0;
}

/* Mark page @p known to be all zero on disk (not in memory). */
static int cow_bm_zero(struct cow_dev *cd, u64 p)
{
	void *cur = xa_cmpxchg_irq(&cd->bitmap, p, NULL, COW_BM_ZERO, GFP_NOIO);

	if (xa_is_err(cur))
		return xa_err(cur);
	if (!cur)
		atomic_long_inc(&cd->bm_zero);
	return 0;
}

/*
 * Read bitmap page @p from the cowfile into memory: the page, or the
 * zero marker when it is all zero there.  The cowfile is right about a
 * page not in memory: only pages in memory are ever written to it.
 */
static int cow_bm_read_page(struct cow_dev *cd, u64 p)
{
	void *pg = cow_bm_alloc(cd);
	size_t off = cow_bm_page_off(p), len = cow_bm_page_len(cd, p);
	int ret;

	memset(pg, 0, PAGE_SIZE);
	ret = cow_file_rw(cd, COW_COW, false, pg + off, len,
			  cow_bm_page_pos(p));
	if (ret) {
		mempool_free(pg, cd->bm_pool);
		return ret;
	}
	if (memchr_inv(pg + off, 0, len))
		return cow_bm_install(cd, p, NULL, pg);
	mempool_free(pg, cd->bm_pool);
	return cow_bm_zero(cd, p);
}

/*
 * Is the cowfile a hole where bitmap pages @p to @last are?  Then they
 * are zero, without reading them (a discard of 1 GiB covers 32).
 */
static bool cow_bm_hole(struct cow_dev *cd, u64 p, u64 last)
{
	loff_t end = cow_bm_page_pos(last) + cow_bm_page_len(cd, last);
	loff_t data = vfs_llseek(cd->file[COW_COW], cow_bm_page_pos(p),
				 SEEK_DATA);

	return data == -ENXIO || (data >= 0 && data >= end);
}

/*
 * Keep the pages holding the bits of @count units from @unit while they
 * are fetched: a page allocation that finds memory short gives back the
 * device's clean pages (cow_bm_alloc), but never one that the same
 * fetch brought in or relies on (cow_bm_evict).  The thread, or an
 * activation.
 */
static void cow_bm_pin(struct cow_dev *cd, u64 unit, u64 count)
{
	cd->bm_pin_first = cow_bm_first(unit);
	cd->bm_pin_last = cow_bm_last(unit, count);
	cd->bm_pinned = true;
}

static void cow_bm_unpin(struct cow_dev *cd)
{
	cd->bm_pinned = false;
}

static bool cow_bm_pinned(struct cow_dev *cd, u64 p)
{
	return cd->bm_pinned && p >= cd->bm_pin_first && p <= cd->bm_pin_last;
}

static int __cow_bm_fetch(struct cow_dev *cd, u64 unit, u64 count)
{
	u64 p, last = cow_bm_last(unit, count);
	bool hole;
	int ret;

	p = cow_bm_first(unit);
	hole = p < last && cow_bm_hole(cd, p, last);
	for (; p <= last; p++) {
		if (xa_load(&cd->bitmap, p))
			continue;
		ret = hole ? cow_bm_zero(cd, p) : cow_bm_read_page(cd, p);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Make the pages holding the bits of @count units from @unit known:
 * each in memory, or known to be zero.  The thread, before it serves a
 * request; an activation.  They stay until the thread next trims the
 * bitmap (cow_bm_trim), between requests.
 */
int cow_bm_fetch(struct cow_dev *cd, u64 unit, u64 count)
{
	int ret;

	cow_bm_pin(cd, unit, count);
	ret = __cow_bm_fetch(cd, unit, count);
	cow_bm_unpin(cd);
	return ret;
}

/*
 * Make the pages holding the bits of @count units from @unit exist in
 * memory, for a write that will set them (cow_bm_set, in any context).
 * A zero page gets its blocks in the cowfile first (cow_bm_reserve).
 */
noinline int cow_bm_prepare(struct cow_dev *cd, u64 unit, u64 count)
{
	u64 p, q, last = cow_bm_last(unit, count);
	void *pg;
	int ret;

	cow_bm_pin(cd, unit, count);
	ret = __cow_bm_fetch(cd, unit, count);
	for (p = cow_bm_first(unit); !ret && p <= last; p = q + 1) {
		/* zero pages from p to q, reserved at once */
		for (q = p; q <= last &&
		     xa_is_value(xa_load(&cd->bitmap, q)); q++)
			;
		if (q == p)
			continue;
		if (atomic_long_read(&cd->bm_pages) + (q - p) >
		    2 * COW_BM_MAX_PAGES) {
			/* the bitmap cannot be written out: do not grow it */
			cow_log_error(cd, COW_COW, -ENOMEM);
			ret = -EIO;
			break;
		}
		ret = cow_bm_reserve(cd, p, q - 1);
		for (; !ret && p < q; p++) {
			pg = cow_bm_alloc(cd);
			clear_page(pg);
			ret = cow_bm_install(cd, p, COW_BM_ZERO, pg);
		}
	}
	cow_bm_unpin(cd);
	return ret;
}
ALLOW_ERROR_INJECTION(cow_bm_prepare, ERRNO);

/*
 * Set bits [@b, @e) of page @pg (both within it); returns how many were
 * not set.  Whole words at once: the bits of a word are the same set of
 * a little-endian bitmap on any machine, only partial words need the
 * _le bit operations.
 */
static u64 cow_bm_set_bits(unsigned long *pg, u64 b, u64 e)
{
	u64 added = 0;

	for (; b < e && b % BITS_PER_LONG; b++)
		added += !__test_and_set_bit_le(b, pg);
	for (; b + BITS_PER_LONG <= e; b += BITS_PER_LONG) {
		added += BITS_PER_LONG - hweight_long(pg[b / BITS_PER_LONG]);
		pg[b / BITS_PER_LONG] = ~0UL;
	}
	for (; b < e; b++)
		added += !__test_and_set_bit_le(b, pg);
	return added;
}

/*
 * The writes of @count units from @unit have completed: make them
 * visible.  Any context; the pages were prepared by cow_bm_prepare()
 * and stay until the request is no longer in flight.  Bits are only set
 * here, under the xarray lock, a page at a time (a discard of 1 GiB sets
 * 2^20 bits): plain bit operations suffice, lockless readers see each
 * word before or after.
 */
void cow_bm_set(struct cow_dev *cd, u64 unit, u64 count)
{
	u64 b = unit + COW_BM_SKEW, e = b + count, added, p, lim;
	unsigned long flags;
	bool in_cow;
	void *pg;

	/* a rewrite: nothing to set */
	if (cow_bm_run(cd, unit, unit + count, &in_cow) == unit + count &&
	    in_cow)
		return;
	for (; b < e; b = lim) {
		p = b / COW_BM_UNITS;
		lim = min_t(u64, e, (p + 1) * COW_BM_UNITS);
		xa_lock_irqsave(&cd->bitmap, flags);
		pg = cow_bm_page(xa_load(&cd->bitmap, p));
		if (WARN_ON_ONCE(!pg)) {
			xa_unlock_irqrestore(&cd->bitmap, flags);
			break;
		}
		added = cow_bm_set_bits(pg, b % COW_BM_UNITS,
					(lim - 1) % COW_BM_UNITS + 1);
		if (added) {
			if (!xa_get_mark(&cd->bitmap, p, COW_BM_DIRTY)) {
				__xa_set_mark(&cd->bitmap, p, COW_BM_DIRTY);
				WRITE_ONCE(cd->bm_ndirty, cd->bm_ndirty + 1);
			}
			atomic64_add(added, &cd->cowused);
			WRITE_ONCE(cd->mem_dirty, true);
			cd->bm_setgen++;
		}
		xa_unlock_irqrestore(&cd->bitmap, flags);
	}
}

/*
 * Copy up to COW_FLUSH_BATCH dirty pages into flush_buf, clearing marks;
 * *gen: how many times bits were set until then.
 */
static unsigned int cow_bm_snapshot(struct cow_dev *cd, unsigned long *idx,
				    u64 *gen)
{
	unsigned long index = 0;
	unsigned int n = 0;
	void *pg;

	xa_lock_irq(&cd->bitmap);
	xa_for_each_marked(&cd->bitmap, index, pg, COW_BM_DIRTY) {
		__xa_clear_mark(&cd->bitmap, index, COW_BM_DIRTY);
		__xa_set_mark(&cd->bitmap, index, COW_BM_WRITING);
		WRITE_ONCE(cd->bm_ndirty, cd->bm_ndirty - 1);
		memcpy(cd->flush_buf + n * PAGE_SIZE, pg, PAGE_SIZE);
		idx[n] = index;
		if (++n == COW_FLUSH_BATCH)
			break;
	}
	*gen = cd->bm_setgen;
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
		if (!ok && !xa_get_mark(&cd->bitmap, index, COW_BM_DIRTY)) {
			__xa_set_mark(&cd->bitmap, index, COW_BM_DIRTY);
			WRITE_ONCE(cd->bm_ndirty, cd->bm_ndirty + 1);
		}
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

/* fsync of the cowfile, failing after any writeback error (cow_wb_check) */
static int cow_bm_fsync(struct cow_dev *cd)
{
	int ret, err;

	ret = vfs_fsync(cd->file[COW_COW], 1);
	err = cow_wb_check(cd);
	return ret ?: err;
}

/*
 * Make every write completed so far durable together with the bits that
 * make it visible: data, fsync, bitmap, fsync.  Called with meta_mutex.
 * The bits of a batch are written only once the writes that set them
 * are durable: an fsync began after they were set (bm_setgen says).  A
 * page written by a batch is durable only once a later fsync has
 * succeeded; after any failure, every page this flush wrote is dirty
 * again (a failed writeback is reported once: the next fsync would not
 * say that those pages never reached the disk).  @mark: the header is
 * marked in use first (a repair's scan, whose cowfile is dirty on disk,
 * does without).
 */
static int __cow_bm_flush(struct cow_dev *cd, bool mark)
{
	unsigned long idx[COW_FLUSH_BATCH];
	u64 gen, synced = 0;
	bool wrote = false, any = false;
	unsigned int n;
	int ret = 0;

	do {
		n = cow_bm_snapshot(cd, idx, &gen);
		if (!any || gen != synced) {
			xa_lock_irq(&cd->bitmap);
			synced = cd->bm_setgen;
			xa_unlock_irq(&cd->bitmap);
			ret = cow_bm_fsync(cd);
			any = true;
		}
		if (!ret && n && mark)
			ret = cow_hdr_mark_dirty(cd);
		if (!ret)
			ret = cow_bm_write_batch(cd, idx, n);
		if (ret)
			goto out;
		wrote |= n > 0;
	} while (n == COW_FLUSH_BATCH);
	if (wrote)
		ret = cow_bm_fsync(cd);
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
	ret = __cow_bm_flush(cd, true);
	mutex_unlock(&cd->meta_mutex);
	return ret;
}

/* Does the device hold more of the bitmap than it may keep? */
static bool cow_bm_over(struct cow_dev *cd)
{
	return atomic_long_read(&cd->bm_pages) > COW_BM_MAX_PAGES ||
	       atomic_long_read(&cd->bm_zero) > COW_BM_MAX_ZERO ||
	       READ_ONCE(cd->bm_ndirty) > COW_BM_MAX_DIRTY;
}

/* Entries looked at per hold of the xarray's lock (interrupts are off). */
#define COW_EVICT_BATCH	64

/*
 * Give back clean pages until at most @max_pages are in memory, and zero
 * markers until at most @max_zero, going round the xarray from where
 * the last call stopped, except those a fetch in progress keeps
 * (cow_bm_pin).  Nothing may look at the pages locklessly meanwhile: the
 * thread with no request in flight, or an activation.
 */
static void cow_bm_evict(struct cow_dev *cd, long max_pages, long max_zero)
{
	void *batch[COW_EVICT_BATCH], *e;
	unsigned long index = cd->bm_cursor;
	unsigned int i, n, seen;
	bool wrapped = false;

	while (atomic_long_read(&cd->bm_pages) > max_pages ||
	       atomic_long_read(&cd->bm_zero) > max_zero) {
		n = 0;
		seen = 0;
		xa_lock_irq(&cd->bitmap);
		for (e = xa_find(&cd->bitmap, &index, ULONG_MAX, XA_PRESENT);
		     e && seen++ < COW_EVICT_BATCH;
		     e = xa_find_after(&cd->bitmap, &index, ULONG_MAX,
				       XA_PRESENT)) {
			if (cow_bm_pinned(cd, index))
				continue;
			if (xa_is_value(e)) {
				if (atomic_long_read(&cd->bm_zero) <= max_zero)
					continue;
				__xa_erase(&cd->bitmap, index);
				atomic_long_dec(&cd->bm_zero);
			} else if (atomic_long_read(&cd->bm_pages) > max_pages &&
				   !xa_get_mark(&cd->bitmap, index, COW_BM_DIRTY) &&
				   !xa_get_mark(&cd->bitmap, index, COW_BM_WRITING)) {
				__xa_erase(&cd->bitmap, index);
				atomic_long_dec(&cd->bm_pages);
				batch[n++] = e;
			}
		}
		xa_unlock_irq(&cd->bitmap);
		for (i = 0; i < n; i++)
			mempool_free(batch[i], cd->bm_pool);
		if (!e) {
			if (wrapped)
				break;		/* what is left is dirty */
			wrapped = true;
			index = 0;
		}
		cond_resched();
	}
	cd->bm_cursor = index;
}

/*
 * Bring the bitmap in memory back within what the device may keep (to
 * half of it), or, @hard (memory pressure), to its dirty pages only:
 * dirty pages are written first (a flush, @mark: marking the header in
 * use) when there are too many of them or too many pages.  Returns 0 or
 * the flush's error; clean pages go either way.
 */
static int cow_bm_shrink(struct cow_dev *cd, bool hard, bool mark)
{
	long ndirty = READ_ONCE(cd->bm_ndirty);
	int ret = 0;

	if (!hard && !cow_bm_over(cd))
		return 0;
	if (ndirty && (hard || ndirty > COW_BM_MAX_DIRTY ||
		       atomic_long_read(&cd->bm_pages) > COW_BM_MAX_PAGES)) {
		mutex_lock(&cd->meta_mutex);
		ret = __cow_bm_flush(cd, mark);
		mutex_unlock(&cd->meta_mutex);
	}
	cow_bm_evict(cd, hard ? 0 : COW_BM_MAX_PAGES / 2,
		     hard ? 0 : COW_BM_MAX_ZERO / 2);
	return ret;
}

/*
 * The thread, between requests: keep the bitmap in memory bounded, or
 * give back what it can when the shrinker asked.  It waits until no
 * request is in flight: then no completion looks at a page any more.
 */
void cow_bm_trim(struct cow_dev *cd)
{
	bool hard = READ_ONCE(cd->bm_trim);
	int ret;

	if (!hard && !cow_bm_over(cd))
		return;
	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	ret = cow_bm_shrink(cd, hard, true);
	if (ret)
		cow_log_error(cd, COW_COW, ret);
	WRITE_ONCE(cd->bm_trim, false);
}

/*
 * Under memory pressure: the pages that could go (clean ones, zero
 * markers) are counted, and the thread is asked to give them back (only
 * it may: see cow_bm_trim), which it does at once when idle, else after
 * the request it is serving.
 */
static unsigned long cow_bm_count(struct shrinker *s,
				  struct shrink_control *sc)
{
	struct cow_dev *cd = cow_shrinker_priv(s);
	long n = atomic_long_read(&cd->bm_pages) - READ_ONCE(cd->bm_ndirty);

	return max(n, 0L) + atomic_long_read(&cd->bm_zero);
}

static unsigned long cow_bm_scan_objects(struct shrinker *s,
					 struct shrink_control *sc)
{
	struct cow_dev *cd = cow_shrinker_priv(s);

	WRITE_ONCE(cd->bm_trim, true);
	wake_up(&cd->wq);
	return SHRINK_STOP;
}

/* The device's shrinker: from when its thread runs to when it stops. */
int cow_bm_shrinker_add(struct cow_dev *cd)
{
	cd->shrinker = cow_shrinker_new(cd, cd->devno, cow_bm_count,
					cow_bm_scan_objects);
	return cd->shrinker ? 0 : -ENOMEM;
}

void cow_bm_shrinker_del(struct cow_dev *cd)
{
	cow_shrinker_free(cd->shrinker);
	cd->shrinker = NULL;
}

/* Bytes the bitmap takes in memory: pages, markers, the reserve. */
unsigned long cow_bm_memory(struct cow_dev *cd)
{
	return (atomic_long_read(&cd->bm_pages) + COW_BM_POOL_MIN) *
		PAGE_SIZE + atomic_long_read(&cd->bm_zero) * sizeof(void *);
}

/* The device's reserve of bitmap pages. */
int cow_bm_dev_init(struct cow_dev *cd)
{
	cd->bm_pool = mempool_create_slab_pool(COW_BM_POOL_MIN, cow_bm_cache);
	return cd->bm_pool ? 0 : -ENOMEM;
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

	ret = __cow_bm_flush(cd, true);
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
 * The cowfile changes in a way its bitmap does not show (a copied unit
 * becomes modified, in the modified map's page cache): it must not be
 * clean on disk until the next flush has made that durable, since only
 * a dirty cowfile gets the repair that makes up for a crash.  Marked in
 * use at once, and a sync running meanwhile keeps it so (mem_dirty: see
 * cow_bm_sync).  The thread, before it issues the write.
 */
int cow_bm_keep_dirty(struct cow_dev *cd)
{
	int ret;

	xa_lock_irq(&cd->bitmap);
	WRITE_ONCE(cd->mem_dirty, true);
	xa_unlock_irq(&cd->bitmap);
	mutex_lock(&cd->meta_mutex);
	ret = cow_hdr_mark_dirty(cd);
	mutex_unlock(&cd->meta_mutex);
	return ret;
}

/*
 * Check page @p read from disk when not all zero, and keep it while the
 * device may keep pages (the others are read again when needed): @buf
 * is the page, its bitmap bytes read, the rest zero.  Units from
 * @present on are beyond the end of the cowfile: a bit for one means
 * the file was truncated, and its data is gone (never served as zeroes,
 * never "repaired").  Bits beyond the last unit, which a repair clears,
 * are cleared on disk too by the next flush: such a page is kept, dirty.
 */
static int cow_bm_adopt(struct cow_dev *cd, u64 p, void *buf, bool repair,
			u64 present, u64 *count)
{
	void *map = buf + cow_bm_page_off(p);
	size_t len = cow_bm_page_len(cd, p);
	u64 first = cow_bm_page_unit(p);
	bool changed = false;
	void *pg;
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
		changed = true;
	}
	if (cow_bitmap_check_tail(map, first, len, present))
		return cow_refuse(cd, COW_E_TRUNCATED);
	*count += cow_bitmap_weight(map, len);
	if (!changed &&
	    atomic_long_read(&cd->bm_pages) >= COW_BM_MAX_PAGES / 2)
		return 0;
	pg = cow_bm_alloc(cd);
	memcpy(pg, buf, PAGE_SIZE);
	ret = cow_bm_install(cd, p, NULL, pg);
	if (!ret && changed) {
		xa_set_mark(&cd->bitmap, p, COW_BM_DIRTY);
		WRITE_ONCE(cd->bm_ndirty, cd->bm_ndirty + 1);
	}
	return ret;
}

/*
 * Next allocated range of @file at or after @pos, below @end: the hole
 * skipping that keeps loading and repair proportional to what is written.
 */
bool cow_next_data(struct file *file, loff_t *pos, loff_t *len, loff_t end)
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
			ret = cow_bm_shrink(cd, false, false);
			if (ret)
				return ret;
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
		if (!xa_is_value(pg))
			mempool_free(pg, cd->bm_pool);
	xa_destroy(&cd->bitmap);
	mempool_destroy(cd->bm_pool);
}
