// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: cowfiles and rdofiles as the tools see them.
 * Format rules live in src/common/cowfmt.c; this file does the I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include "cowlib.h"

static int cow_fail_reason(const char *label, int reason)
{
	cow_err(label, "%s", cow_strerror(reason));
	return -1;
}

/* Is @st a file of the kind @type refuses: COW_E_COWTYPE or COW_E_RDOTYPE? */
static bool cow_wrong_type(const struct stat *st, int type)
{
	if (S_ISREG(st->st_mode))
		return false;
	return type == COW_E_COWTYPE || !S_ISBLK(st->st_mode);
}

/*
 * Open @path, the file @label names ("cowfile <path>"), as every tool
 * must: without ever waiting (the open of a FIFO, or of a device, can
 * block), refusing with reason @type what is not a regular file or, for
 * COW_E_RDOTYPE, a block device: before opening it when stat says so,
 * and, race-free, by fstat of what was opened.  @flags is O_RDONLY or
 * O_RDWR; for writing, a block device is opened O_EXCL as mkfs and fsck
 * do, so that the kernel refuses it while it is mounted or held by
 * another program (Linux ignores O_EXCL without O_CREAT for any other
 * file), and a read-only one is refused.  Returns the descriptor, with
 * *@st filled in, or -1 (said).
 */
int cow_open_file(const char *label, const char *path, int flags, int type,
		  struct stat *st)
{
	bool write = (flags & O_ACCMODE) == O_RDWR;
	int fd, e;

	/* never open what cannot be the file (a disk, exclusively...) */
	if (!stat(path, st) && cow_wrong_type(st, type))
		return cow_fail_reason(label, type);
	fd = open(path, flags | (write ? O_EXCL : 0) | O_NONBLOCK | O_NOCTTY |
		  O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (!stat(path, st) && cow_wrong_type(st, type))
			return cow_fail_reason(label, type);
		errno = e;
		if (e == EBUSY && write)
			cow_err(label, "block device in use (mounted, or held "
				"open by another program): not opened for "
				"writing");
		else if (write && (e == EACCES || e == EROFS || e == EPERM ||
				   e == ETXTBSY))
			cow_err_errno(label, "cannot open for writing");
		else
			cow_err_errno(label, NULL);
		return -1;
	}
	if (fstat(fd, st) < 0) {
		cow_err_errno(label, NULL);
		goto fail;
	}
	if (cow_wrong_type(st, type)) {
		cow_fail_reason(label, type);
		goto fail;
	}
	/* the open of a read-only block device for writing succeeds */
	if (write && S_ISBLK(st->st_mode) && !ioctl(fd, BLKROGET, &e) && e) {
		cow_err(label, "cannot open for writing: read-only block "
			"device");
		goto fail;
	}
	/* a regular file or a block device: blocking I/O from now on */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		cow_err_errno(label, NULL);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * Open @path as a cowfile and decode its header.  Refuses (with a
 * message) anything that cow_hdr_decode() refuses, a file that is not
 * regular and a file too short for its header and bitmap.
 */
int cow_open(struct cowfile *cf, const char *path, bool writable)
{
	static uint8_t blk[COW_HDRSIZE] __attribute__((aligned(8)));
	struct stat st;
	ssize_t n;
	int r;

	memset(cf, 0, sizeof(*cf));
	cf->path = path;
	cf->writable = writable;
	snprintf(cf->label, sizeof(cf->label), "cowfile %s", path);
	cf->fd = cow_open_file(cf->label, path, writable ? O_RDWR : O_RDONLY,
			       COW_E_COWTYPE, &st);
	if (cf->fd < 0)
		return -1;
	cf->fsize = (uint64_t)st.st_size;
	memset(blk, 0, sizeof(blk));
	n = cow_pread_full(cf->fd, blk, sizeof(blk), 0);
	if (n < 0) {
		cow_err_errno(cf->label, "cannot read header");
		goto fail;
	}
	r = cow_hdr_decode(&cf->hdr, blk);
	/* A truncated header that starts like one is "short", not corrupt. */
	if (n < (ssize_t)sizeof(blk) && r != COW_E_MAGIC && r != COW_E_ENDIAN)
		r = COW_E_SHORT;
	if (r == COW_OK && cf->fsize < COW_HDRSIZE + cf->hdr.mapsize)
		r = COW_E_SHORT;
	if (r == COW_E_VERSION && cf->hdr.version)
		cow_err(cf->label, "unsupported header version %u (newer than "
			"this cowloop, which knows version %u)",
			cf->hdr.version, COW_VERSION);
	else if (r == COW_E_VERSION)
		cow_err(cf->label, "unsupported header version 0 (only "
			"version %u is known)", COW_VERSION);
	else if (r != COW_OK)
		cow_fail_reason(cf->label, r);
	if (r != COW_OK)
		goto fail;
	return 0;
fail:
	close(cf->fd);
	cf->fd = -1;
	return -1;
}

/*
 * The bitmap is never held whole: an 8 TiB rdofile has a 1 GiB bitmap,
 * mostly holes.  Reading goes through an iterator over the set bits that
 * reads only the bitmap's data extents, 1 MiB at a time; changes go to a
 * cache of the 1 KiB bitmap blocks touched, written back by
 * cow_map_write().  Memory follows what changed, not the rdofile's size.
 */

/* Start iterating over the set bits of @cf's bitmap (tail included). */
int cow_map_iter_init(struct cow_map_iter *it, struct cowfile *cf)
{
	memset(it, 0, sizeof(*it));
	it->cf = cf;
	it->base = COW_HDRSIZE;
	it->buf = cow_alloc_aligned(COW_SCAN_CHUNK);
	if (!it->buf) {
		cow_err_errno(cf->label, "cannot read bitmap");
		return -1;
	}
	return 0;
}

/*
 * Start iterating over the modified units of @cf: with COW_EXT_MODMAP,
 * the bits set both in the modified map and in the bitmap (copied units
 * are in the bitmap only; doc/cowfile-format.md), else the bitmap's.
 */
int cow_map_iter_modified(struct cow_map_iter *it, struct cowfile *cf)
{
	struct cow_map_iter *bm;

	if (!(cf->hdr.ext_flags & COW_EXT_MODMAP))
		return cow_map_iter_init(it, cf);
	bm = malloc(sizeof(*bm));
	if (!bm) {
		cow_err_errno(cf->label, "cannot read bitmap");
		return -1;
	}
	if (cow_map_iter_init(bm, cf) < 0 || cow_map_iter_init(it, cf) < 0) {
		cow_map_iter_free(bm);
		free(bm);
		return -1;
	}
	it->base = cf->hdr.modmap;
	it->bitmap = bm;
	return 0;
}

/* Load the next bitmap extent at or after unit it->next; 0 at the end. */
static int cow_map_iter_load(struct cow_map_iter *it)
{
	const struct cowfile *cf = it->cf;
	uint64_t limit = it->base + cf->hdr.mapsize, end, len, first;
	uint64_t start = it->base + (it->next >> 3);
	ssize_t n;
	int r;

	r = cow_next_data(cf->fd, &start, &end, limit);
	if (r <= 0)
		return r;
	len = end - start < COW_SCAN_CHUNK ? end - start : COW_SCAN_CHUNK;
	n = cow_pread_full(cf->fd, it->buf, len, start);
	if (n < 0)
		return -1;
	memset(it->buf + n, 0, len - (uint64_t)n);
	first = (start - it->base) << 3;
	it->first = first;
	it->units = len << 3;
	if (it->next < first)
		it->next = first;
	return 1;
}

/* The next set bit of the map itself: as cow_map_iter_next(). */
static int cow_map_iter_bit(struct cow_map_iter *it, uint64_t *unit)
{
	for (;;) {
		uint64_t i, end = it->first + it->units;
		int r;

		if (it->next >= end) {
			r = cow_map_iter_load(it);
			if (r < 0)
				cow_err_errno(it->cf->label, "cannot read bitmap");
			if (r <= 0)
				return r;
			continue;
		}
		for (i = it->next - it->first; i < it->units; ) {
			uint64_t w;

			if (!(i & 63) && i + 64 <= it->units) {
				memcpy(&w, it->buf + (i >> 3), sizeof(w));
				w = le64toh(w);
				if (!w) {
					i += 64;
					continue;
				}
				i += (uint64_t)__builtin_ctzll(w);
			} else if (!cow_bit_test(it->buf, i)) {
				i++;
				continue;
			}
			*unit = it->first + i;
			it->next = *unit + 1;
			return 1;
		}
		it->next = end;
	}
}

/*
 * The next set bit: 1 with *@unit, 0 when there is none, -1 on error.
 * Of a modified map, the next bit set in the bitmap too: the two
 * iterators leapfrog, each skipping to where the other is.
 */
int cow_map_iter_next(struct cow_map_iter *it, uint64_t *unit)
{
	uint64_t u, b;
	int r;

	if (it->again) {
		*unit = it->again - 1;
		it->again = 0;
		return 1;
	}
	for (;;) {
		r = cow_map_iter_bit(it, &u);
		if (r <= 0 || !it->bitmap)
			break;
		if (it->bitmap->next < u)
			it->bitmap->next = u;
		r = cow_map_iter_bit(it->bitmap, &b);
		if (r <= 0)
			break;
		if (b == u)
			break;
		it->next = b;	/* the next unit the bitmap has */
	}
	if (r > 0)
		*unit = u;
	return r;
}

/*
 * The next run of consecutive set bits, at most @max long: 1 with
 * [*@start, *@start + *@n), 0 when there is none, -1 on error (said).
 * The bit that ends a run is handed out again by the next call.
 */
int cow_map_iter_run(struct cow_map_iter *it, uint64_t *start, uint64_t *n,
		     uint64_t max)
{
	uint64_t u;
	int r = cow_map_iter_next(it, start);

	if (r <= 0)
		return r;
	for (*n = 1; *n < max; (*n)++) {
		r = cow_map_iter_next(it, &u);
		if (r < 0)
			return r;
		if (!r)
			break;
		if (u != *start + *n) {
			it->again = u + 1;
			break;
		}
	}
	return 1;
}

void cow_map_iter_free(struct cow_map_iter *it)
{
	free(it->buf);
	it->buf = NULL;
	if (it->bitmap) {
		cow_map_iter_free(it->bitmap);
		free(it->bitmap);
		it->bitmap = NULL;
	}
}

/* The modified units of @cf (cow_map_iter_modified): 0, or -1 (said). */
int cow_modified_count(struct cowfile *cf, uint64_t *units)
{
	struct cow_map_iter it;
	uint64_t u;
	int r;

	*units = 0;
	if (cow_map_iter_modified(&it, cf) < 0)
		return -1;
	while ((r = cow_map_iter_next(&it, &u)) > 0)
		if (u < cf->hdr.rdoblocks)
			(*units)++;
	cow_map_iter_free(&it);
	return r;
}

/* Units of the data area the file holds whole (a set bit beyond: lost). */
uint64_t cow_units_present(const struct cowfile *cf)
{
	if (cf->fsize <= cf->hdr.doffset)
		return 0;
	return (cf->fsize - cf->hdr.doffset) >> COW_MAPUNIT_SHIFT;
}

/* Count the bitmap's bits: in use, beyond the last unit, beyond EOF. */
int cow_map_stat(struct cowfile *cf, struct cow_map_stat *st)
{
	uint64_t present = cow_units_present(cf), u;
	struct cow_map_iter it;
	int r;

	memset(st, 0, sizeof(*st));
	if (cow_map_iter_init(&it, cf) < 0)
		return -1;
	while ((r = cow_map_iter_next(&it, &u)) > 0) {
		st->weight++;
		if (u >= cf->hdr.rdoblocks) {
			st->tail++;
		} else if (u >= present) {
			if (!st->missing++)
				st->first_missing = u;
		}
	}
	cow_map_iter_free(&it);
	return r;
}

/*
 * Is the bitmap consistent with the header and the file's size?  Returns
 * COW_OK or the reason (COW_E_TRUNCATED, COW_E_BITMAP_TAIL,
 * COW_E_BITMAP), with @st filled in; -1 on an I/O error (said).
 */
int cow_map_check(struct cowfile *cf, struct cow_map_stat *st)
{
	if (cow_map_stat(cf, st) < 0)
		return -1;
	if (st->missing)
		return COW_E_TRUNCATED;
	if (st->tail)
		return COW_E_BITMAP_TAIL;
	if (st->weight != cf->hdr.cowused)
		return COW_E_BITMAP;
	return COW_OK;
}

/* Say why cowfile @cf's bitmap is refused, with the figures. */
void cow_map_refuse(const struct cowfile *cf, int reason,
		    const struct cow_map_stat *st)
{
	if (reason == COW_E_TRUNCATED)
		cow_err_reason(cf->label, reason, "%llu %s missing from block "
			       "%llu on; the file is %llu bytes, needs %llu",
			       (unsigned long long)st->missing,
			       cow_plural(st->missing, "block", "blocks"),
			       (unsigned long long)st->first_missing,
			       (unsigned long long)cf->fsize,
			       (unsigned long long)(cf->hdr.doffset +
			       (st->first_missing + 1) * COW_MAPUNIT));
	else if (reason == COW_E_BITMAP)
		cow_err_reason(cf->label, reason, "header says %llu, bitmap "
			       "has %llu", (unsigned long long)cf->hdr.cowused,
			       (unsigned long long)st->weight);
	else
		cow_err(cf->label, "%s", cow_strerror(reason));
}

/* The cached bitmap block @b, read on first use; NULL on error. */
static struct cow_mapblk *cow_map_block(struct cowfile *cf, uint64_t b)
{
	struct cow_mapblk *mb, **v;
	size_t lo = 0, hi = cf->nblk;
	ssize_t n;

	/* the scans go forward: the last block is the likely one */
	if (hi && cf->blk[hi - 1]->idx <= b)
		lo = hi - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cf->blk[mid]->idx == b)
			return cf->blk[mid];
		if (cf->blk[mid]->idx < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (cf->nblk == cf->cap) {
		size_t cap = cf->cap ? cf->cap * 2 : 64;

		v = realloc(cf->blk, cap * sizeof(*v));
		if (!v)
			goto fail;
		cf->blk = v;
		cf->cap = cap;
	}
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		goto fail;
	mb->idx = b;
	n = cow_pread_full(cf->fd, mb->data, COW_MAPUNIT,
			   COW_HDRSIZE + b * COW_MAPUNIT);
	if (n < 0) {
		free(mb);
		goto fail;
	}
	memmove(cf->blk + lo + 1, cf->blk + lo,
		(cf->nblk - lo) * sizeof(*cf->blk));
	cf->blk[lo] = mb;
	cf->nblk++;
	return mb;
fail:
	cow_err_errno(cf->label, "cannot read bitmap");
	return NULL;
}

#define COW_BLK_UNITS	(COW_MAPUNIT * 8)	/* units per bitmap block */

/* Is @unit's bit set?  1, 0, or -1 on error (said). */
int cow_map_test(struct cowfile *cf, uint64_t unit)
{
	struct cow_mapblk *mb = cow_map_block(cf, unit / COW_BLK_UNITS);

	if (!mb)
		return -1;
	return cow_bit_test(mb->data, unit % COW_BLK_UNITS);
}

/* Set @unit's bit: 1 when it was clear, 0 when set already, -1. */
int cow_map_set(struct cowfile *cf, uint64_t unit)
{
	struct cow_mapblk *mb = cow_map_block(cf, unit / COW_BLK_UNITS);
	uint64_t i = unit % COW_BLK_UNITS;

	if (!mb)
		return -1;
	if (cow_bit_test(mb->data, i))
		return 0;
	cow_bit_set(mb->data, i);
	mb->dirty = true;
	return 1;
}

/* Clear @unit's bit: 1 when it was set, 0 when clear already, -1. */
int cow_map_clear(struct cowfile *cf, uint64_t unit)
{
	struct cow_mapblk *mb = cow_map_block(cf, unit / COW_BLK_UNITS);
	uint64_t i = unit % COW_BLK_UNITS;

	if (!mb)
		return -1;
	if (!cow_bit_test(mb->data, i))
		return 0;
	mb->data[i >> 3] &= (uint8_t)~(1U << (i & 7));
	mb->dirty = true;
	return 1;
}

static int cow_fsync(const char *label, int fd)
{
	if (fsync(fd) < 0) {
		cow_err_errno(label, "fsync");
		return -1;
	}
	return 0;
}

/* Write the changed bitmap blocks, then fsync. */
int cow_map_write(struct cowfile *cf)
{
	size_t i;

	for (i = 0; i < cf->nblk; i++) {
		struct cow_mapblk *mb = cf->blk[i];

		if (!mb->dirty)
			continue;
		if (cow_pwrite_full(cf->fd, mb->data, COW_MAPUNIT,
				    COW_HDRSIZE + mb->idx * COW_MAPUNIT) < 0) {
			cow_err_errno(cf->label, "cannot write bitmap");
			return -1;
		}
		mb->dirty = false;
	}
	return cow_fsync(cf->label, cf->fd);
}

/*
 * Make the modified map of @cf (COW_EXT_MODMAP) say that every unit of
 * the bitmap on disk was modified, as a repair must (a crash may have
 * left modified bits behind; doc/cowfile-format.md): the bitmap's data
 * extents copied over it, then fsync.  Bits left where the bitmap has
 * holes mean nothing.  0, or -1 (said).
 */
int cow_modmap_rebuild(struct cowfile *cf)
{
	uint64_t pos = COW_HDRSIZE, end, limit = COW_HDRSIZE + cf->hdr.mapsize;
	uint64_t delta = cf->hdr.modmap - COW_HDRSIZE, len;
	uint8_t *buf;
	int r;

	if (!(cf->hdr.ext_flags & COW_EXT_MODMAP))
		return 0;
	buf = cow_alloc_aligned(COW_SCAN_CHUNK);
	if (!buf) {
		cow_err_errno(cf->label, "cannot write the modified map");
		return -1;
	}
	while ((r = cow_next_data(cf->fd, &pos, &end, limit)) > 0) {
		for (; pos < end; pos += len) {
			len = end - pos < COW_SCAN_CHUNK ? end - pos
							 : COW_SCAN_CHUNK;
			if (cow_pread_full(cf->fd, buf, len, pos) !=
			    (ssize_t)len ||
			    cow_pwrite_full(cf->fd, buf, len, pos + delta) < 0) {
				r = -1;
				break;
			}
		}
		if (r < 0)
			break;
	}
	free(buf);
	if (r < 0) {
		cow_err_errno(cf->label, "cannot write the modified map");
		return -1;
	}
	return cow_fsync(cf->label, cf->fd);
}

/* Write cf->hdr (in its own layout) as the header block, then fsync. */
int cow_hdr_write(struct cowfile *cf)
{
	static uint8_t blk[COW_HDRSIZE] __attribute__((aligned(8)));

	cow_hdr_encode(blk, &cf->hdr);
	if (cow_pwrite_full(cf->fd, blk, sizeof(blk), 0) < 0) {
		cow_err_errno(cf->label, "cannot write header");
		return -1;
	}
	return cow_fsync(cf->label, cf->fd);
}

void cow_close(struct cowfile *cf)
{
	if (cf->fd >= 0)
		close(cf->fd);
	cf->fd = -1;
	while (cf->nblk)
		free(cf->blk[--cf->nblk]);
	free(cf->blk);
	cf->blk = NULL;
	cf->cap = 0;
}

/*
 * Open @path as an rdofile: a regular file or a block device of at least
 * one unit (for writing, a block device exclusively: see
 * cow_open_file()).  A trailing partial unit is not part of the cowdevice.
 */
int rdo_open(struct rdofile *r, const char *path, bool writable)
{
	struct stat st;
	int e;

	memset(r, 0, sizeof(*r));
	r->path = path;
	snprintf(r->label, sizeof(r->label), "rdofile %s", path);
	r->fd = cow_open_file(r->label, path, writable ? O_RDWR : O_RDONLY,
			      COW_E_RDOTYPE, &st);
	if (r->fd < 0)
		return -1;
	e = cow_fd_size(r->fd, &r->size, &r->blockdev);
	if (e < 0)
		cow_err_errno(r->label, "cannot get size");
	else if (e > 0)
		cow_fail_reason(r->label, e);
	else if (r->size < COW_MAPUNIT)
		e = cow_fail_reason(r->label, COW_E_RDOSMALL);
	if (e) {
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	r->rdoblocks = cow_rdoblocks(r->size);
	return 0;
}

static int rdo_fp_unit(void *ctx, uint64_t unit, const uint8_t *data)
{
	(void)unit;
	return cow_fp_add(ctx, data);
}

/*
 * The rdofile's fingerprint: byte sums of its first four units whose sum
 * is not zero.  Holes are zero units, so only data extents are read.
 */
int rdo_fingerprint(const struct rdofile *r, uint32_t *fp)
{
	struct cow_fp f;

	cow_fp_init(&f);
	errno = 0;
	if (cow_scan_units(r->fd, 0, r->rdoblocks, rdo_fp_unit, &f) < 0) {
		cow_err_errno(r->label, "cannot read");
		return -1;
	}
	*fp = f.value;
	return 0;
}

/* State of the merged fingerprint: the rdofile's units, the cowfile's. */
struct merged_fp {
	struct cowfile *cf;
	struct cow_map_iter it;
	uint64_t set;		/* next set bit, UINT64_MAX after the last */
	struct cow_fp f;
	uint8_t unit[COW_MAPUNIT];
	int err;
};

static int merged_next(struct merged_fp *m)
{
	int r = cow_map_iter_next(&m->it, &m->set);

	if (r <= 0)
		m->set = UINT64_MAX;
	if (r < 0)
		m->err = -1;
	return r;
}

/* Feed the cowfile's unit m->set and move on to the next set bit. */
static int merged_cow_unit(struct merged_fp *m)
{
	struct cowfile *cf = m->cf;
	ssize_t n = cow_pread_full(cf->fd, m->unit, COW_MAPUNIT,
				   cf->hdr.doffset + m->set * COW_MAPUNIT);

	if (n != COW_MAPUNIT) {
		if (n >= 0)
			cow_fail_reason(cf->label, COW_E_TRUNCATED);
		else
			cow_err_errno(cf->label, "cannot read");
		m->err = -1;
		return -1;
	}
	if (cow_fp_add(&m->f, m->unit))
		return 1;
	return merged_next(m) < 0 ? -1 : 0;
}

static int merged_rdo_unit(void *ctx, uint64_t unit, const uint8_t *data)
{
	struct merged_fp *m = ctx;
	int r;

	while (m->set < unit)
		if ((r = merged_cow_unit(m)))
			return r;
	if (m->set == unit)
		return merged_cow_unit(m);
	return cow_fp_add(&m->f, data);
}

/*
 * The fingerprint rdofile @r has once cowfile @cf (bitmap checked) is
 * merged into it: unit by unit, the cowfile's where it was modified, the
 * rdofile's elsewhere.  A merge changes only modified units, so this
 * value holds before, during and after a merge.
 */
int cow_merged_fingerprint(struct cowfile *cf, const struct rdofile *r,
			   uint32_t *fp)
{
	struct merged_fp m = { .cf = cf };
	int ret = 0;

	cow_fp_init(&m.f);
	if (cow_map_iter_modified(&m.it, cf) < 0)
		return -1;
	if (merged_next(&m) >= 0) {
		errno = 0;
		if (cow_scan_units(r->fd, 0, r->rdoblocks, merged_rdo_unit,
				   &m) < 0 && !m.err) {
			cow_err_errno(r->label, "cannot read");
			ret = -1;
		}
		while (!ret && !m.err && !cow_fp_done(&m.f) &&
		       m.set < cf->hdr.rdoblocks)
			merged_cow_unit(&m);
	}
	cow_map_iter_free(&m.it);
	*fp = m.f.value;
	return ret || m.err ? -1 : 0;
}

/*
 * The rdofile's identity as a merge of cowfile @cf cannot change it: a
 * hash of units whose bit is clear, which no merge writes.  Those of the
 * first COW_RDOID_HEAD units, and of COW_RDOID_SPREAD units spread over
 * the rest (unit k * rdoblocks / COW_RDOID_SPREAD): a bounded read (at
 * most 64 MiB and 256 units) however large the rdofile.  The hash is
 * FNV-1a over 64-bit little-endian words: for each unit in increasing
 * order, its number, then its 1024 bytes.  0 is "not recorded", so a
 * hash of 0 is taken as 1.  See doc/cowfile-format.md.
 */
#define COW_RDOID_HEAD		65536
#define COW_RDOID_SPREAD	256
#define COW_FNV_BASIS		0xcbf29ce484222325ULL
#define COW_FNV_PRIME		0x100000001b3ULL

static uint64_t cow_fnv(uint64_t h, const uint8_t *p, size_t len)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < len; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		h = (h ^ le64toh(w)) * COW_FNV_PRIME;
	}
	return h;
}

/* Hash units [u, u + n) of @r held in @buf, those whose bit is clear. */
static int cow_rdoid_units(struct cowfile *cf, const uint8_t *buf,
			   uint64_t u, uint64_t n, uint64_t *h)
{
	uint64_t i, le;
	int bit;

	for (i = 0; i < n; i++) {
		bit = cow_map_test(cf, u + i);
		if (bit < 0)
			return -1;
		if (bit)
			continue;
		le = htole64(u + i);
		*h = cow_fnv(*h, (const uint8_t *)&le, sizeof(le));
		*h = cow_fnv(*h, buf + i * COW_MAPUNIT, COW_MAPUNIT);
	}
	return 0;
}

/* Read units [u, u + n) of @r into @buf and hash them. */
static int cow_rdoid_read(struct cowfile *cf, const struct rdofile *r,
			  uint8_t *buf, uint64_t u, uint64_t n, uint64_t *h)
{
	size_t len = n * COW_MAPUNIT;

	if (cow_pread_full(r->fd, buf, len, u * COW_MAPUNIT) != (ssize_t)len) {
		if (errno == 0)
			errno = EIO;	/* shorter than its size said */
		cow_err_errno(r->label, "cannot read");
		return -1;
	}
	return cow_rdoid_units(cf, buf, u, n, h);
}

int cow_rdoid(struct cowfile *cf, const struct rdofile *r, uint64_t *id)
{
	uint64_t head = r->rdoblocks < COW_RDOID_HEAD ? r->rdoblocks
						     : COW_RDOID_HEAD;
	uint64_t h = COW_FNV_BASIS, u, n, k;
	uint8_t *buf = cow_alloc_aligned(COW_SCAN_CHUNK);
	int ret = 0;

	if (!buf) {
		cow_err_errno(r->label, "cannot read");
		return -1;
	}
	for (u = 0; !ret && u < head; u += n) {
		n = head - u < COW_SCAN_CHUNK / COW_MAPUNIT ?
		    head - u : COW_SCAN_CHUNK / COW_MAPUNIT;
		errno = 0;
		ret = cow_rdoid_read(cf, r, buf, u, n, &h);
	}
	for (k = 0; !ret && k < COW_RDOID_SPREAD; k++) {
		u = k * r->rdoblocks / COW_RDOID_SPREAD;
		errno = 0;
		if (u >= head)
			ret = cow_rdoid_read(cf, r, buf, u, 1, &h);
	}
	free(buf);
	*id = h ? h : 1;
	return ret;
}

void rdo_close(struct rdofile *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* Say why cowfile @cf does not match rdofile @r (reason @e), with sizes. */
int cow_refuse_rdo(const struct cowfile *cf, const struct rdofile *r, int e)
{
	if (e == COW_E_RDOBLOCKS)
		cow_err_reason(cf->label, e, "cowfile: %llu %s, %s: %llu %s",
			       (unsigned long long)cf->hdr.rdoblocks,
			       cow_plural(cf->hdr.rdoblocks, "block", "blocks"),
			       r->label, (unsigned long long)r->rdoblocks,
			       cow_plural(r->rdoblocks, "block", "blocks"));
	else if (e == COW_E_RDOSIZE)
		cow_err_reason(cf->label, e, "cowfile: %llu bytes, %s: %llu "
			       "bytes", (unsigned long long)cf->hdr.rdosize,
			       r->label, (unsigned long long)r->size);
	else
		cow_err_reason(cf->label, e, "%s", r->label);
	return -1;
}

/*
 * May cowfile @cf be used with rdofile @r?  Checks the state (packed,
 * dirty, merge), the bitmap (and that the file holds every unit it
 * lists), the size and the fingerprint, and says why not.
 */
int cow_check_pair(struct cowfile *cf, const struct rdofile *r)
{
	struct cow_map_stat st;
	uint32_t fp;
	int e;

	e = cow_hdr_check_state(&cf->hdr);
	if (e)
		return cow_fail_reason(cf->label, e);
	e = cow_map_check(cf, &st);
	if (e < 0)
		return -1;
	if (e) {
		cow_map_refuse(cf, e, &st);
		return -1;
	}
	if (rdo_fingerprint(r, &fp) < 0)
		return -1;
	e = cow_hdr_check_rdo(&cf->hdr, r->size, fp);
	if (e)
		return cow_refuse_rdo(cf, r, e);
	return 0;
}
