// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: the image a cowdevice shows, its rdofile with its
 * cowfile's modified units laid over it, written to a file (cowmerge
 * -o).
 *
 * Chunk by chunk: the rdofile's data extents (its holes are zeroes,
 * skipped) with the cowfile's runs of set bits laid over them, written
 * where not zero, so that the file written is sparse wherever the image
 * is zero, whoever's zero it is.  Time follows the rdofile's data and
 * the modified units; memory is one chunk and the bitmap reader's
 * buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cowlib.h"

#define CHUNK_UNITS	(COW_SCAN_CHUNK / COW_MAPUNIT)

struct image {
	struct cowfile *cf;
	const struct rdofile *r;
	int fd;			/* the file written */
	const char *label;	/* names it */
	struct cow_map_iter it;
	uint64_t run, nrun;	/* the next run of set bits; nrun 0: none */
	uint64_t dstart, dend;	/* the rdofile's data extent, in units */
	uint64_t written;	/* units from the cowfile */
	uint8_t *buf;		/* CHUNK_UNITS units */
};

static int image_next_run(struct image *im)
{
	int k = cow_map_iter_run(&im->it, &im->run, &im->nrun, UINT64_MAX);

	if (k <= 0)
		im->nrun = 0;
	return k < 0 ? -1 : 0;
}

/* The rdofile's data extent at or after unit @u (holes: zeroes). */
static int image_next_data(struct image *im, uint64_t u)
{
	uint64_t start = u * COW_MAPUNIT, end, limit = im->r->rdoblocks *
						       COW_MAPUNIT;
	int k = cow_next_data(im->r->fd, &start, &end, limit);

	if (k < 0) {
		cow_err_errno(im->r->label, "cannot read");
		return -1;
	}
	im->dstart = k ? start / COW_MAPUNIT : UINT64_MAX;
	im->dend = k ? (end + COW_MAPUNIT - 1) / COW_MAPUNIT : UINT64_MAX;
	return 0;
}

/* Read @len bytes at @off of the file @label names, all of them. */
static int read_all(int fd, const char *label, void *buf, size_t len,
		    uint64_t off)
{
	ssize_t n = cow_pread_full(fd, buf, len, off);

	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		cow_err(label, "cannot read: shorter than before (changed "
			"meanwhile?)");
	else
		cow_err_errno(label, "cannot read");
	return -1;
}

/* Write the units of buf that are not zero, [u, u + n) of the image. */
static int image_write(struct image *im, uint64_t u, uint64_t n)
{
	uint64_t i = 0, j;

	while (i < n) {
		for (; i < n && cow_unit_zero(im->buf + i * COW_MAPUNIT); i++)
			;
		for (j = i; j < n && !cow_unit_zero(im->buf + j * COW_MAPUNIT);
		     j++)
			;
		if (j > i && cow_pwrite_full(im->fd, im->buf + i *
					     COW_MAPUNIT, (j - i) * COW_MAPUNIT,
					     (u + i) * COW_MAPUNIT) < 0) {
			cow_err_errno(im->label, "cannot write");
			return -1;
		}
		i = j;
	}
	return 0;
}

/* The cowfile's units of [u, end) laid over the chunk in buf. */
static int image_overlay(struct image *im, uint64_t u, uint64_t end)
{
	const struct cowfile *cf = im->cf;
	uint64_t b;

	while (im->nrun && im->run < end) {
		b = im->run + im->nrun < end ? im->run + im->nrun : end;
		if (read_all(cf->fd, cf->label, im->buf + (im->run - u) *
			     COW_MAPUNIT, (b - im->run) * COW_MAPUNIT,
			     cf->hdr.doffset + im->run * COW_MAPUNIT) < 0)
			return -1;
		im->written += b - im->run;
		if (b < im->run + im->nrun) {	/* the rest: next chunk */
			im->nrun -= b - im->run;
			im->run = b;
			break;
		}
		if (image_next_run(im) < 0)
			return -1;
	}
	return 0;
}

/*
 * The chunk at @u: in a data extent of the rdofile, its data up to the
 * extent's end; in a hole, the run of set bits there (zeroes below).
 */
static int image_chunk(struct image *im, uint64_t u, uint64_t *end)
{
	const struct rdofile *r = im->r;
	bool data = u >= im->dstart;

	*end = u + CHUNK_UNITS;
	if (data && im->dend < *end)
		*end = im->dend;
	if (!data && im->dstart < *end)
		*end = im->dstart;
	if (!data && im->run + im->nrun < *end)
		*end = im->run + im->nrun;
	if (data && read_all(r->fd, r->label, im->buf, (*end - u) *
			     COW_MAPUNIT, u * COW_MAPUNIT) < 0)
		return -1;
	if (!data)
		memset(im->buf, 0, (*end - u) * COW_MAPUNIT);
	if (image_overlay(im, u, *end) < 0)
		return -1;
	return image_write(im, u, *end - u);
}

/* The rdofile's last bytes, less than a unit: not the cowdevice's. */
static int image_tail(struct image *im)
{
	const struct rdofile *r = im->r;
	size_t len = r->size % COW_MAPUNIT;

	if (!len)
		return 0;
	memset(im->buf, 0, COW_MAPUNIT);
	if (read_all(r->fd, r->label, im->buf, len,
		     r->rdoblocks * COW_MAPUNIT) < 0)
		return -1;
	if (cow_unit_zero(im->buf))
		return 0;
	if (cow_pwrite_full(im->fd, im->buf, len,
			    r->rdoblocks * COW_MAPUNIT) < 0) {
		cow_err_errno(im->label, "cannot write");
		return -1;
	}
	return 0;
}

/*
 * Write the whole image.  Returns 0, -1 on an error (said), -2 when
 * interrupted.
 */
static int image_copy(struct image *im, int progress)
{
	const struct rdofile *r = im->r;
	struct cow_progress pg;
	uint64_t u = 0, end;

	if (image_next_run(im) < 0 || image_next_data(im, 0) < 0)
		return -1;
	cow_progress_init(&pg, progress, "writing", r->rdoblocks);
	for (;;) {
		if (im->dend <= u && image_next_data(im, u) < 0)
			return -1;
		u = im->dstart > u ? im->dstart : u;
		if (im->nrun && im->run < u)
			u = im->run;
		if (u >= r->rdoblocks)
			break;
		if (cow_interrupted)
			return -2;
		if (image_chunk(im, u, &end) < 0)
			return -1;
		u = end;
		cow_progress_set(&pg, u);
	}
	if (cow_interrupted)
		return -2;
	if (image_tail(im) < 0)
		return -1;
	cow_progress_set(&pg, r->rdoblocks);
	cow_progress_end(&pg);
	return 0;
}

/*
 * Write the image of rdofile @r and cowfile @cf (checked as a pair) into
 * @fd, a file of @r's size, zero (@label names it): every unit of the
 * image that is not zero, the rdofile's last bytes (less than a unit)
 * too, as a merge in place leaves them.  @progress as
 * cow_progress_init()'s mode ("writing").  Returns 0 with *@written the
 * units taken from the cowfile, -1 on an error (said), -2 when
 * interrupted (cow_interrupted).
 */
int cow_image_write(struct cowfile *cf, const struct rdofile *r, int fd,
		    const char *label, int progress, uint64_t *written)
{
	struct image im = { .cf = cf, .r = r, .fd = fd, .label = label };
	int e = -1;

	im.buf = cow_alloc_aligned(COW_SCAN_CHUNK);
	if (!im.buf) {
		cow_err_errno(label, "cannot write");
		return -1;
	}
	if (!cow_map_iter_init(&im.it, cf)) {
		e = image_copy(&im, progress);
		cow_map_iter_free(&im.it);
	}
	free(im.buf);
	*written = im.written;
	return e;
}
