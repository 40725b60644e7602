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
#include <sys/stat.h>
#include "cowlib.h"

/* Name @path "<what> <path>" in @label and open it, or say why not. */
static int open_labeled(char *label, size_t len, const char *what,
			const char *path, bool writable)
{
	int fd;

	snprintf(label, len, "%s %s", what, path);
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		cow_err_errno(label, NULL);
	return fd;
}

static int cow_fail_reason(const char *label, int reason)
{
	cow_err(label, "%s", cow_strerror(reason));
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
	cf->fd = open_labeled(cf->label, sizeof(cf->label), "cowfile", path,
			      writable);
	if (cf->fd < 0)
		return -1;
	if (fstat(cf->fd, &st) < 0) {
		cow_err_errno(cf->label, NULL);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		cow_fail_reason(cf->label, COW_E_COWTYPE);
		goto fail;
	}
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
	if (r != COW_OK) {
		cow_fail_reason(cf->label, r);
		goto fail;
	}
	return 0;
fail:
	close(cf->fd);
	cf->fd = -1;
	return -1;
}

/* Read the bitmap into memory, skipping its holes (they read as zero). */
int cow_map_load(struct cowfile *cf)
{
	uint64_t limit = COW_HDRSIZE + cf->hdr.mapsize;
	uint64_t start = COW_HDRSIZE, end;
	int r;

	cf->map = calloc(1, cf->hdr.mapsize);
	cf->mapdirty = calloc(1, cf->hdr.mapsize / COW_MAPUNIT / 8 + 1);
	if (!cf->map || !cf->mapdirty) {
		cow_err_errno(cf->label, "cannot load bitmap");
		return -1;
	}
	while ((r = cow_next_data(cf->fd, &start, &end, limit)) > 0) {
		ssize_t n = cow_pread_full(cf->fd, cf->map + start - COW_HDRSIZE,
					   end - start, start);

		if (n < 0) {
			cow_err_errno(cf->label, "cannot read bitmap");
			return -1;
		}
		if ((uint64_t)n != end - start)
			return cow_fail_reason(cf->label, COW_E_SHORT);
		start = end;
	}
	if (r < 0) {
		cow_err_errno(cf->label, "cannot read bitmap");
		return -1;
	}
	return 0;
}

/*
 * Is the loaded bitmap consistent with the header?  Returns COW_OK,
 * COW_E_BITMAP_TAIL or COW_E_BITMAP; *@weight gets the bits set.
 */
int cow_map_check(const struct cowfile *cf, uint64_t *weight)
{
	*weight = cow_bitmap_weight(cf->map, cf->hdr.mapsize);
	if (cow_bitmap_check_tail(cf->map, 0, cf->hdr.mapsize,
				  cf->hdr.rdoblocks))
		return COW_E_BITMAP_TAIL;
	if (*weight != cf->hdr.cowused)
		return COW_E_BITMAP;
	return COW_OK;
}

static void cow_map_touch(struct cowfile *cf, uint64_t unit)
{
	cow_bit_set(cf->mapdirty, unit / 8 / COW_MAPUNIT);
}

/* Set @unit's bit; true when it was clear. */
bool cow_map_set(struct cowfile *cf, uint64_t unit)
{
	if (cow_bit_test(cf->map, unit))
		return false;
	cow_bit_set(cf->map, unit);
	cow_map_touch(cf, unit);
	return true;
}

/* Clear @unit's bit; true when it was set. */
bool cow_map_clear(struct cowfile *cf, uint64_t unit)
{
	if (!cow_bit_test(cf->map, unit))
		return false;
	cf->map[unit >> 3] &= (uint8_t)~(1U << (unit & 7));
	cow_map_touch(cf, unit);
	return true;
}

static int cow_fsync(const char *label, int fd)
{
	if (fsync(fd) < 0) {
		cow_err_errno(label, "fsync");
		return -1;
	}
	return 0;
}

/* Write the changed bitmap blocks, in contiguous runs, then fsync. */
int cow_map_write(struct cowfile *cf)
{
	uint64_t nblk = cf->hdr.mapsize / COW_MAPUNIT, b = 0, e;

	while (b < nblk) {
		if (!cow_bit_test(cf->mapdirty, b)) {
			b++;
			continue;
		}
		for (e = b + 1; e < nblk && cow_bit_test(cf->mapdirty, e); e++)
			;
		if (cow_pwrite_full(cf->fd, cf->map + b * COW_MAPUNIT,
				    (e - b) * COW_MAPUNIT,
				    COW_HDRSIZE + b * COW_MAPUNIT) < 0) {
			cow_err_errno(cf->label, "cannot write bitmap");
			return -1;
		}
		b = e;
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
	free(cf->map);
	free(cf->mapdirty);
	cf->map = cf->mapdirty = NULL;
}

/*
 * Open @path as an rdofile: a regular file or a block device of at least
 * one unit.  A trailing partial unit is not part of the cowdevice.
 */
int rdo_open(struct rdofile *r, const char *path, bool writable)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->fd = open_labeled(r->label, sizeof(r->label), "rdofile", path,
			     writable);
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

void rdo_close(struct rdofile *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/*
 * May cowfile @cf (bitmap loaded) be used with rdofile @r?  Checks the
 * state (packed, dirty), the size, the fingerprint and the bitmap, and
 * says why not.
 */
int cow_check_pair(const struct cowfile *cf, const struct rdofile *r)
{
	uint64_t weight;
	uint32_t fp;
	int e;

	e = cow_hdr_check_state(&cf->hdr);
	if (e)
		return cow_fail_reason(cf->label, e);
	e = cow_map_check(cf, &weight);
	if (e)
		return cow_fail_reason(cf->label, e);
	if (rdo_fingerprint(r, &fp) < 0)
		return -1;
	e = cow_hdr_check_rdo(&cf->hdr, r->size, fp);
	if (e) {
		cow_err(cf->label, "%s (%s)", cow_strerror(e), r->label);
		return -1;
	}
	return 0;
}
