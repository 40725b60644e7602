// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: copied units: copy-on-read, the background fill, and the
 * modified map that tells them from the units the user modified.
 *
 * With COW_ACT_COPYREAD, the units a read takes from the rdofile are
 * noted, and the thread copies them into the cowfile when it is idle;
 * with COW_ACT_FILL it then copies every unit not yet there, in order,
 * at most fill_rate KiB/s (sysfs), until the cowfile holds all: from
 * then on the device never reads the rdofile.  A copy is made by the
 * thread alone, with no request in flight: a user's write to the same
 * unit is either done before it (the unit is then in the cowfile and is
 * not copied) or issued after.  Its bit is set as a write's; copied
 * units stay out of the modified map.
 *
 * The modified map (COW_EXT_MODMAP, doc/cowfile-format.md) lives in the
 * cowfile after the data area.  The driver never reads it for I/O: the
 * thread sets the bits of the units a write or a discard covers in the
 * cowfile's page cache before it issues the write, so that the next
 * flush makes them durable with the data, before the bitmap's (a unit
 * of the bitmap on disk is never taken for copied when it was written).
 * A rewrite of a copied unit can reach the disk before its modified bit
 * (direct I/O): the cowfile is marked in use first (cow_bm_keep_dirty),
 * so that after a crash the map, which may lack the bit, is rebuilt by a
 * repair, which marks every unit of the bitmap modified (cow_mm_build).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/falloc.h>		/* after a header with the types */
#include <linux/jiffies.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "cow.h"

/* Units a fill step copies at most: one read and one write. */
#define COW_FILL_UNITS		1024
/*
 * Bitmap pages a fill step looks through at most for units to copy: the
 * thread trims the bitmap and serves requests in between, however much
 * of a large device is already in the cowfile.
 */
#define COW_FILL_SCAN		16

/* Does the device keep a modified map? */
bool cow_mm_on(struct cow_dev *cd)
{
	return cd->hdr.ext_flags & COW_EXT_MODMAP;
}

/*
 * Make the modified map say that every unit of the bitmap on disk was
 * modified: a copy of its bytes, durable before the header says MODMAP
 * (a new map, or one a crash may have left behind).  At activation.
 */
int cow_mm_build(struct cow_dev *cd)
{
	loff_t off = cow_modmap_off(cd->hdr.rdoblocks) - COW_HDRSIZE;
	loff_t end = COW_HDRSIZE + cd->hdr.mapsize, pos = COW_HDRSIZE, len;
	size_t n, chunk = COW_FLUSH_BATCH * PAGE_SIZE;
	int ret;

	while (cow_next_data(cd->file[COW_COW], &pos, &len, end)) {
		for (; len > 0; pos += n, len -= n) {
			n = min_t(loff_t, len, chunk);
			ret = cow_file_rw(cd, COW_COW, false, cd->flush_buf, n,
					  pos);
			if (!ret)
				ret = cow_file_rw(cd, COW_COW, true,
						  cd->flush_buf, n, off + pos);
			if (ret)
				return ret;
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
	}
	ret = vfs_fsync(cd->file[COW_COW], 1);
	if (ret)
		return ret;
	cd->hdr.ext_flags |= COW_EXT_MODMAP;
	cd->hdr.modmap = cow_modmap_off(cd->hdr.rdoblocks);
	return 0;
}

/* @len bytes of the modified map at @pos; past the file's end: zero. */
static int cow_mm_read(struct cow_dev *cd, u8 *buf, size_t len, loff_t pos)
{
	ssize_t got = kernel_read(cd->file[COW_COW], buf, len, &pos);

	if (got < 0)
		return got;
	memset(buf + got, 0, len - got);
	return 0;
}

/*
 * The units [@unit, @unit + @count) are about to be modified: set their
 * bits of the modified map, in the cowfile's page cache (the thread,
 * before it issues the write; their bitmap pages were fetched).  Reads a
 * byte range of the map and writes it back only when a bit changes; a
 * copied unit that becomes modified keeps the cowfile dirty.
 */
int cow_mm_set(struct cow_dev *cd, u64 unit, u64 count)
{
	u64 last = unit + count - 1, first_byte, nbytes, u;
	loff_t base = cd->hdr.modmap;
	u8 *buf = cd->unit_buf;
	bool changed, copied = false;
	int ret;

	if (!cow_mm_on(cd))
		return 0;
	while (unit <= last) {
		first_byte = unit / BITS_PER_BYTE;
		nbytes = min_t(u64, last / BITS_PER_BYTE - first_byte + 1,
			       COW_MAPUNIT);
		ret = cow_mm_read(cd, buf, nbytes, base + first_byte);
		if (ret)
			return ret;
		changed = false;
		for (u = unit; u <= last && u / BITS_PER_BYTE <
		     first_byte + nbytes; u++) {
			if (!cow_bit_test(buf, u - first_byte * BITS_PER_BYTE)) {
				cow_bit_set(buf, u - first_byte * BITS_PER_BYTE);
				changed = true;
				copied |= cow_bm_test(cd, u);
			}
		}
		if (changed) {
			ret = cow_file_rw(cd, COW_COW, true, buf, nbytes,
					  base + first_byte);
			if (ret)
				return ret;
		}
		unit = u;
	}
	return copied ? cow_bm_keep_dirty(cd) : 0;
}

/*
 * Units [@unit, @unit + @count) are being copied: their bytes of the
 * modified map get their blocks in the cowfile now, so that a rewrite
 * of one, which sets its bit there, works on a full file system as any
 * rewrite does (doc/design.md).  Where the file system cannot allocate,
 * the bytes are written back as they are.
 */
static int cow_mm_reserve(struct cow_dev *cd, u64 unit, u64 count)
{
	loff_t pos = cd->hdr.modmap + unit / BITS_PER_BYTE;
	size_t len = (unit + count - 1) / BITS_PER_BYTE -
		     unit / BITS_PER_BYTE + 1;
	int ret;

	if (!cow_mm_on(cd))
		return 0;
	ret = vfs_fallocate(cd->file[COW_COW], FALLOC_FL_KEEP_SIZE, pos, len);
	if (ret != -EOPNOTSUPP)
		return ret;
	ret = cow_mm_read(cd, cd->unit_buf, len, pos);
	return ret ?: cow_file_rw(cd, COW_COW, true, cd->unit_buf, len, pos);
}

/*
 * A read took units [@unit, @unit + @count) from the rdofile: with
 * copy-on-read, note them for the thread to copy.  Ranges that do not
 * fit are dropped: the fill, or the next read, copies them.
 */
void cow_cor_note(struct cow_dev *cd, u64 unit, u64 count)
{
	if (!cd->copyread || cd->cor_n == COW_COR_MAX)
		return;
	cd->cor[cd->cor_n].unit = unit;
	cd->cor[cd->cor_n].count = count;
	cd->cor_n++;
}

/* Is there something to copy (copy-on-read, or the fill)? */
bool cow_fill_pending(struct cow_dev *cd)
{
	return !cd->fill_failed && (cd->cor_n || cd->filling);
}

/*
 * Jiffies until the throttle lets the next step go, 0: now; at most a
 * second, so that a new fill_rate is taken within one.
 */
long cow_fill_wait(struct cow_dev *cd)
{
	unsigned int rate = READ_ONCE(cd->fill_rate);
	unsigned long next;
	long t;

	if (!rate || !cd->fill_len)
		return 0;
	next = cd->fill_last + msecs_to_jiffies(div_u64(cd->fill_len *
						MSEC_PER_SEC, rate * 1024ULL));
	t = (long)(next - jiffies);
	return clamp(t, 0L, (long)HZ);
}

/*
 * The next range to copy, from the notes, then from the fill's place:
 * 1 and the range, 0 for none yet (the fill may go on looking at its
 * next step), or an error reading the bitmap.
 */
static int cow_fill_next(struct cow_dev *cd, u64 *unit, u64 *count)
{
	unsigned int scan = COW_FILL_SCAN;
	u64 end;
	bool in_cow;
	int ret;

	while (cd->cor_n) {
		cd->cor_n--;
		*unit = cd->cor[cd->cor_n].unit;
		*count = min_t(u64, cd->cor[cd->cor_n].count, COW_FILL_UNITS);
		ret = cow_bm_fetch(cd, *unit, *count);
		if (ret)
			return ret;
		end = cow_bm_run(cd, *unit, *unit + *count, &in_cow);
		if (!in_cow) {
			*count = end - *unit;
			return 1;
		}
	}
	while (cd->filling && cd->fill_pos < cd->hdr.rdoblocks) {
		if (!scan--)
			return 0;
		/* up to a bitmap page's worth of units: 1 or 2 pages */
		*unit = cd->fill_pos;
		end = min_t(u64, *unit + COW_BM_UNITS, cd->hdr.rdoblocks);
		ret = cow_bm_fetch(cd, *unit, end - *unit);
		if (ret)
			return ret;
		end = cow_bm_run(cd, *unit, end, &in_cow);
		if (!in_cow)
			end = min_t(u64, end, *unit + COW_FILL_UNITS);
		cd->fill_pos = end;
		if (!in_cow) {
			*count = end - *unit;
			return 1;
		}
	}
	if (cd->filling) {
		WRITE_ONCE(cd->filling, false);
		pr_info("cow%d: filled: the cowfile %s holds every unit; the rdofile is not read any more\n",
			cd->devno, cd->path[COW_COW]);
	}
	return 0;
}

/*
 * One step of copying: a range of up to COW_FILL_UNITS units not in the
 * cowfile, read from the rdofile and written to the cowfile, their bits
 * set (not their modified bits).  The thread, idle, with no request in
 * flight.  An error stops the copying (said once): the rdofile or the
 * cowfile failing, reads and writes go on as without.
 */
void cow_fill_step(struct cow_dev *cd)
{
	u64 unit = cd->fill_pos, count = 0;
	size_t len;
	int ret;

	wait_event(cd->drain_wq, !atomic_read(&cd->inflight));
	ret = cow_fill_next(cd, &unit, &count);
	if (ret < 0) {
		WRITE_ONCE(cd->fill_failed, true);
		pr_err("cow%d: reading the bitmap of units %llu.. of the cowfile failed (%pe): copy-on-read and fill stop\n",
		       cd->devno, unit, ERR_PTR(ret));
		return;
	}
	if (!ret)
		return;
	len = count << COW_MAPUNIT_SHIFT;
	atomic64_inc(&cd->rdoreads);
	ret = cow_file_rw(cd, COW_RDO, false, cd->fill_buf, len,
			  unit << COW_MAPUNIT_SHIFT);
	if (!ret)
		ret = cow_bm_prepare(cd, unit, count);
	if (!ret)
		ret = cow_mm_reserve(cd, unit, count);
	if (!ret) {
		cow_ckpt_note(cd, unit, count);
		atomic64_inc(&cd->cowwrites);
		ret = cow_file_rw(cd, COW_COW, true, cd->fill_buf, len,
				  cd->hdr.doffset + (unit << COW_MAPUNIT_SHIFT));
	}
	if (ret) {
		WRITE_ONCE(cd->fill_failed, true);
		pr_err("cow%d: copying units %llu..%llu into the cowfile failed (%pe): copy-on-read and fill stop\n",
		       cd->devno, unit, unit + count - 1, ERR_PTR(ret));
		return;
	}
	cow_bm_set(cd, unit, count);
	atomic64_add(count, &cd->copied);
	cd->fill_last = jiffies;
	cd->fill_len = len;
}

/* At activation: the buffer the copies go through. */
int cow_fill_init(struct cow_dev *cd)
{
	if (!cd->copyread && !cd->filling)
		return 0;
	cd->fill_buf = kvmalloc(COW_FILL_UNITS << COW_MAPUNIT_SHIFT,
				GFP_KERNEL);
	return cd->fill_buf ? 0 : -ENOMEM;
}
